"""Achieved GFLOP/s of seed-preset training against this machine's measured float32 matmul peak.

FLOPs are counted analytically for the batches an epoch actually runs (the same batch plan as
training; with masked padding each batch is cut to its longest review, so its step count is that
review's length, else 228). Per batch of B reviews and T steps, with I = 16 embedding dims,
H = 32 hidden units and P trainable parameters:

- LSTM forward, matmuls: 2·B·T·4H·(I+H) (input and recurrent kernels, all four gates);
- LSTM forward, elementwise: about 21·B·T·H (bias adds, gate activations, cell and hidden update);
- dense head forward: 2·B·H; embedding forward: a gather, no FLOPs;
- backward: 2x the forward (gradients for inputs and for weights); embedding backward: B·T·I adds;
- optimizer (RMSprop): about 8·P per step.

Achieved = FLOPs per epoch / measured seconds per training epoch (``trainer.fit`` with no
validation; the median of ``--epochs`` timed epochs after one untimed one). An epoch's batch plan,
and so its step count, depends on its shuffle; FLOPs per epoch are the mean over ``--epochs``
plans drawn with ``trainer.batches`` as training draws them (plans differ by about 0.03 % in
steps). Peak = the best
of a few big square float32 ``torch.matmul`` (n = 4096) at the same thread count; for scale, also
the matmul throughput at the recurrent step's own small shape ([B, H] x [H, 4H]). Writes
bench/results/flops.json (``flops_quick.json`` with ``--quick``).

    python bench/flops.py [--quick] [--epochs 3] [--threads N] [--size 4096]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import Any

import torch
from common import default_source, seed_split, write

from lstm_sentiment.config import ModelConfig, TrainConfig
from lstm_sentiment.model import build
from lstm_sentiment.split import Split
from lstm_sentiment.trainer import batches, epoch_seed, fit

TITLE = "GFLOP/s against the machine's peak"
ORDER = 45
ELEMENTWISE_PER_STEP = 21  # FLOPs per hidden unit per row per step, forward (see docstring)
OPTIMIZER_PER_PARAM = 8


def epoch_flops(split: Split, model: ModelConfig, train: TrainConfig, params: int,
                masked: bool, plan_seed: int = 0) -> dict[str, float]:
    """FLOPs of one training epoch (its batch plan drawn with ``plan_seed``), split into matmul
    and everything else."""
    B_T = 0  # sum over batches of rows x steps
    n_batches = 0
    lengths = split.lengths
    steps_full = split.ids.shape[1]
    # training buckets lengths only when the model cuts batches (masked padding)
    plan = batches(split, train.batch_size, plan_seed, masked and train.bucket_by_length)
    for idx in plan:
        steps = max(int(lengths[idx].max()), 1) if masked else steps_full
        B_T += len(idx) * steps
        n_batches += 1
    i, h = model.embedding_dim, model.hidden_size
    rows = len(split.labels)
    fwd_matmul = 2 * B_T * 4 * h * (i + h) + 2 * rows * h
    fwd_other = ELEMENTWISE_PER_STEP * B_T * h
    matmul = 3 * fwd_matmul
    other = 3 * fwd_other + B_T * i + OPTIMIZER_PER_PARAM * params * n_batches
    return {"matmul": float(matmul), "other": float(other), "total": float(matmul + other),
            "row_steps": float(B_T), "batches": n_batches}


def matmul_gflops(m: int, k: int, n: int, seconds_budget: float, repeats: int = 7) -> float:
    """Best GFLOP/s of ``a @ b`` with a [m, k], b [k, n] float32: the best of ``repeats`` timed
    windows, each a loop of enough calls to last about ``seconds_budget / repeats`` (the best
    window is the one least disturbed by anything else running on the machine)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    window = seconds_budget / repeats
    calls = 1
    while True:  # calibrate: double the loop until one window lasts long enough
        t = time.perf_counter()
        for _ in range(calls):
            torch.matmul(a, b, out=out)
        if time.perf_counter() - t >= window or calls >= 1 << 20:
            break
        calls *= 2
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            torch.matmul(a, b, out=out)
        best = max(best, 2 * m * k * n * calls / (time.perf_counter() - t) / 1e9)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per padding mode")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--size", type=int, default=4096, help="n of the n x n peak matmul")
    ap.add_argument("--quick", action="store_true",
                    help="5,000 reviews, 1 timed epoch, n = 2048")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.epochs, args.size = 1, 2048

    data = seed_split(args.source, size=5000 if args.quick else None)
    config, split, texts = data.config, data.train, data.texts

    budget = 1.0 if args.quick else 3.0
    peak = matmul_gflops(args.size, args.size, args.size, budget)
    h, i, b = config.model.hidden_size, config.model.embedding_dim, config.train.batch_size
    small = {"recurrent [B,H]x[H,4H]": matmul_gflops(b, h, 4 * h, budget / 3),
             "input [B*T,I]x[I,4H]": matmul_gflops(b * 228, i, 4 * h, budget / 3)}
    print(f"float32 matmul peak ({args.threads} threads, n={args.size}): {peak:.1f} GFLOP/s; "
          + ", ".join(f"{k}: {v:.1f}" for k, v in small.items()))

    results: dict[str, Any] = {"reviews": len(texts), "threads": args.threads,
                               "matmul_size": args.size, "peak_gflops": peak,
                               "small_matmul_gflops": small,
                               "counting": {"elementwise_per_hidden_step": ELEMENTWISE_PER_STEP,
                                            "optimizer_per_parameter": OPTIMIZER_PER_PARAM,
                                            "backward_over_forward": 2}}
    for mode in ("masked", "read"):
        config.model.mask_padding = mode == "masked"
        net = build(config.model, seed=1)
        params = net.trainable_parameters()
        # one untimed epoch first: the first pass over each batch shape is slower
        history = fit(net, split, None, dataclasses.replace(config.train, epochs=args.epochs + 1),
                      log=lambda line, tag=mode: print(f"[{tag}] {line}", flush=True))
        times = [e["seconds"] for e in history.epochs[1:]]
        # the plans of exactly the epochs timed (the first, untimed, is epoch 0)
        flops = [epoch_flops(split, config.model, config.train, params, mode == "masked",
                             epoch_seed(config.train.seed, e)) for e in range(1, args.epochs + 1)]
        per_epoch = statistics.median(times)
        gflop = statistics.fmean(f["total"] for f in flops) / 1e9
        gflop_mm = statistics.fmean(f["matmul"] for f in flops) / 1e9
        achieved = gflop / per_epoch
        results[mode] = {
            "epoch_seconds": per_epoch,
            "epoch_seconds_all": times,
            "gflop_per_epoch": gflop,
            "gflop_per_epoch_matmul": gflop_mm,
            "mean_steps_per_review": statistics.fmean(f["row_steps"] for f in flops) / len(texts),
            "achieved_gflops": achieved,
            "fraction_of_peak": achieved / peak,
        }
        r = results[mode]
        print(f"{mode:>6}: {gflop:.1f} GFLOP/epoch ({gflop_mm:.1f} in matmuls, "
              f"{r['mean_steps_per_review']:.0f} steps/review) in {per_epoch:.2f} s -> "
              f"{achieved:.1f} GFLOP/s = {100 * r['fraction_of_peak']:.1f}% of peak")
    write("flops" + ("_quick" if args.quick else ""), results, per_cpu=True)


def render(r: dict[str, Any]) -> str:
    small = ", ".join(f"{k}: {v:.1f}" for k, v in r.get("small_matmul_gflops", {}).items())
    lines = [f"Arithmetic throughput of seed-preset training ({r['threads']} threads, "
             f"{r['reviews']:,} reviews). Measured float32 matmul peak (n = {r['matmul_size']}): "
             f"**{r['peak_gflops']:.1f} GFLOP/s**. FLOPs counted analytically (bench/flops.py; "
             "backward = 2× forward):", "",
             "| LSTM padding | GFLOP / epoch | in matmuls | steps / review | s / epoch | "
             "achieved GFLOP/s | of peak |", "|---|---|---|---|---|---|---|"]
    for mode in ("masked", "read"):
        if mode not in r:
            continue
        m = r[mode]
        lines.append(f"| {mode} | {m['gflop_per_epoch']:.1f} | {m['gflop_per_epoch_matmul']:.1f}"
                     f" | {m['mean_steps_per_review']:.0f} | {m['epoch_seconds']:.2f} | "
                     f"{m['achieved_gflops']:.1f} | {100 * m['fraction_of_peak']:.1f} % |")
    if small:
        lines += ["", f"Float32 matmuls at the LSTM's own shapes, GFLOP/s: {small}. The "
                  "recurrent product of each time step ([100, 32] × [32, 128]) waits for the "
                  "previous step and is far too small to approach the peak."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
