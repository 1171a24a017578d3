"""ONNX Runtime against PyTorch for a seed-shaped model: single-review latency and throughput.

The model has the seed preset's shape (vocabulary 15,000, embedding 16, LSTM 32, sequence 228)
and random (Keras-initialised) weights: speed does not depend on what the weights learned. The
inputs are 1,000 official test reviews encoded with a vocabulary built from 5,000 training
reviews when the IMDB archive is at hand (their lengths are what matters), else 1,000 synthetic
rows with IMDB-like lengths. Both padding modes are timed:

* PyTorch: ``SentimentModel.logits`` (what ``predict`` runs: rows sorted by length, each batch
  cut to its longest row when masking) and, for one review, the network on its padded row;
* ONNX Runtime on the exported graph (:func:`lstm_sentiment.export.export_onnx`), fed rows
  padded to 228 columns, and, when masking, rows cut to the longest row of each sorted batch
  of 100 (the graph accepts any length, and masking makes trailing padding irrelevant).

The cases take turns call by call, so a busy spell on the machine slows all of them alike;
ONNX Runtime gets the same number of threads as PyTorch, with its idle threads not spinning.

Writes bench/results/export_speed.json (``export_speed_quick.json`` with ``--quick``).

    python bench/export_speed.py [--threads 2] [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import default_source, write

from lstm_sentiment.config import preset
from lstm_sentiment.export import INPUT, OUTPUT, export_onnx
from lstm_sentiment.model import build
from lstm_sentiment.predict import SentimentModel
from lstm_sentiment.text import TextEncoder

TITLE = "ONNX Runtime against PyTorch"
ORDER = 70
N_REVIEWS = 1000
CHUNK = 100  # rows per ONNX call when feeding length-sorted, cut batches


def reviews(config: Any, n: int) -> tuple[TextEncoder | None, np.ndarray, str]:
    """``n`` encoded reviews: official test reviews if the archive is there, else synthetic."""
    source = default_source()
    if Path(source).exists():
        from lstm_sentiment import data

        root = data.fetch(source)
        train = data.load(root, "train")
        test = data.load(root, "test")
        encoder, _ = TextEncoder.build(train.texts[:5000], config.text)
        rng = np.random.default_rng(0)
        picked = [test.texts[i] for i in rng.choice(len(test), n, replace=False)]
        return encoder, encoder.encode(picked), "IMDB test reviews (vocabulary from 5,000 train)"
    rng = np.random.default_rng(0)
    # IMDB reviews have a median of ~175 words; about a third exceed 228 and are cut
    lengths = np.clip(rng.lognormal(np.log(175), 0.75, n).astype(int), 4, 228)
    ids = np.zeros((n, 228), dtype=np.int64)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(1, 15_000, length)
    return None, ids, "synthetic rows with IMDB-like lengths"


def interleaved(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each case, the cases taking turns (one warm-up call each first), so
    that anything else slowing the machine for a while slows every case alike."""
    for fn in cases.values():
        fn()
    out: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            t = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t)
    return out


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"p50_ms": 1e3 * statistics.median(ordered),
            "p99_ms": 1e3 * ordered[max(int(0.99 * len(ordered)) - 1, 0)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=7, help="timed throughput runs per case")
    ap.add_argument("--latency-runs", type=int, default=300, help="timed single-review runs")
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.latency_runs = 3, 50
    torch.set_num_threads(args.threads)
    import onnxruntime as ort

    config = preset("seed")
    config = config.derived(vocab_size=config.text.max_tokens, num_classes=2)
    _, ids_np, inputs = reviews(config, N_REVIEWS)
    ids = torch.from_numpy(ids_np)
    lengths = (ids_np != 0).sum(axis=1)
    one_row = int(np.argsort(lengths)[len(lengths) // 2])  # a median-length review
    one = ids_np[one_row : one_row + 1]
    one_len = int(lengths[one_row])
    order = np.argsort(-lengths, kind="stable")
    cut_batches = []
    for start in range(0, N_REVIEWS, CHUNK):
        rows = ids_np[order[start : start + CHUNK]]
        cut_batches.append(rows[:, : max(int((rows != 0).sum(axis=1).max()), 1)])

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    # ORT's idle threads otherwise spin after each call, taking the cores from the PyTorch call
    # timed right after it (the cases take turns)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    results: dict[str, Any] = {"reviews": N_REVIEWS, "inputs": inputs, "threads": args.threads,
                               "onnxruntime": ort.__version__, "ort_thread_spinning": False,
                               "single_review_tokens": one_len,
                               "median_tokens": float(np.median(lengths)),
                               "load_average_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("masked", "read"):
            config.model.mask_padding = mode == "masked"
            net = build(config.model, seed=1)
            model = SentimentModel(net, _null_encoder(config), config, ["negative", "positive"])
            path = export_onnx(model, Path(tmp) / f"{mode}.onnx")
            session = ort.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])

            def ort_run(batch: np.ndarray, s: Any = session) -> np.ndarray:
                return s.run([OUTPUT], {INPUT: batch})[0]

            # the two agree before anything is timed
            expected = torch.sigmoid(model.logits(ids)).numpy()
            assert np.abs(ort_run(ids_np) - expected).max() < 1e-5
            one_t = torch.from_numpy(one)

            @torch.inference_mode()
            def torch_one(n: torch.nn.Module = net, x: torch.Tensor = one_t) -> object:
                return n(x)

            single: dict[str, Callable[[], object]] = {
                "torch": torch_one, "onnxruntime_padded": lambda: ort_run(one)}
            batch: dict[str, Callable[[], object]] = {
                "torch": lambda m=model: m.logits(ids),
                "onnxruntime_padded": lambda: ort_run(ids_np)}
            if mode == "masked":
                single["onnxruntime_cut"] = lambda c=one[:, :one_len]: ort_run(c)
                batch["onnxruntime_sorted_cut"] = lambda: [ort_run(b) for b in cut_batches]
            lat = interleaved(single, args.latency_runs)
            thr = interleaved(batch, args.repeats)
            r: dict[str, Any] = {
                "single_review": {k: percentiles(v) for k, v in lat.items()},
                "batch_1000_reviews_per_second": {k: N_REVIEWS / statistics.median(v)
                                                  for k, v in thr.items()},
            }
            results[mode] = r
            print(f"{mode:>6}: single review p50 " + ", ".join(
                f"{k} {v['p50_ms']:.3f} ms" for k, v in r["single_review"].items()))
            print(f"{'':>6}  1,000 reviews: " + ", ".join(
                f"{k} {v:,.0f}/s" for k, v in r["batch_1000_reviews_per_second"].items()))
    results["load_average_after"] = os.getloadavg()[0]
    write("export_speed" + ("_quick" if args.quick else ""), results, per_cpu=True)


# (row label, single-review case, 1,000-review case)
CASES = [("PyTorch (`SentimentModel.logits`; one review: the network)", "torch", "torch"),
         ("ONNX Runtime, rows padded to 228", "onnxruntime_padded", "onnxruntime_padded"),
         ("ONNX Runtime, rows cut (length-sorted batches of 100)", "onnxruntime_cut",
          "onnxruntime_sorted_cut")]


def render(r: dict[str, Any]) -> str:
    lines = [f"A seed-shaped model (random weights), {r['threads']} threads for both, "
             f"{r['reviews']:,} {r['inputs']}; the cases take turns call by call. Single "
             f"review: a median-length one ({r['single_review_tokens']} tokens).", "",
             "| LSTM padding | case | single review p50 (ms) | p99 (ms) | 1,000 reviews, "
             "reviews/s |", "|---|---|---|---|---|"]
    for mode in ("masked", "read"):
        if mode not in r:
            continue
        single, batch = r[mode]["single_review"], r[mode]["batch_1000_reviews_per_second"]
        for label, one, many in CASES:
            if one not in single and many not in batch:
                continue
            times = single.get(one)
            lines.append(f"| {mode} | {label} | "
                         + (f"{times['p50_ms']:.3f} | {times['p99_ms']:.3f}" if times else "– | –")
                         + (f" | {batch[many]:,.0f} |" if many in batch else " | – |"))
    return "\n".join(lines)


def _null_encoder(config: Any) -> TextEncoder:
    """An encoder is required by SentimentModel but unused here (ids are given directly)."""
    encoder, _ = TextEncoder.build(["a b c"], config.text)
    return encoder


if __name__ == "__main__":
    main()
