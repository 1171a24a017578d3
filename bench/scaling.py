"""How seed-preset training and inference time scale with training-set size and sequence length.

Two sweeps on the tutorial's training split, each point with a fresh vocabulary and model:

- training-set size (the first N reviews of the 18,750; sequence length 228): seconds per
  training epoch (no validation) and inference throughput;
- sequence length (padding/truncation length of the encoder; all 18,750 reviews): the same.

Each point trains one untimed epoch, then takes the median of ``--epochs`` timed epochs.
Inference throughput is ``SentimentModel.predict_proba`` on the 6,250 validation reviews,
tokenizing included. Both padding modes are measured (masked, the default, and read, as Keras
does). Writes bench/results/scaling.json and a plot, bench/results/scaling-CPU.png (``*_quick``
with ``--quick``).

    python bench/scaling.py [--quick] [--sizes 2500 5000 10000 18750] [--lengths 64 128 228 400]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from common import cpu_model, default_source, machine_plot, seed_split, write

from lstm_sentiment.model import build
from lstm_sentiment.predict import SentimentModel
from lstm_sentiment.trainer import fit

TITLE = "Scaling with data size and sequence length"
ORDER = 50


def measure(source: str, size: int, val_texts: list[str], length: int, masked: bool,
            epochs: int) -> dict[str, float]:
    split = seed_split(source, size=size, sequence_length=length, validation=False)
    config = split.config
    config.model.mask_padding = masked
    net = build(config.model, seed=1)
    # one untimed epoch first: the first pass over each batch shape is slower
    history = fit(net, split.train, None, dataclasses.replace(config.train, epochs=epochs + 1),
                  log=lambda _line: None)
    times = [e["seconds"] for e in history.epochs[1:]]
    model = SentimentModel(net, split.encoder, config, ["negative", "positive"])
    model.predict_proba(val_texts[:500])  # warm up
    t = time.perf_counter()
    model.predict_proba(val_texts)
    infer = time.perf_counter() - t
    per_epoch = statistics.median(times)
    return {"epoch_seconds": per_epoch, "epoch_seconds_all": times,
            "train_reviews_per_second": len(split.texts) / per_epoch,
            "inference_reviews_per_second": len(val_texts) / infer,
            "vocabulary_and_encoding_seconds": split.encode_seconds}


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
    sweeps = (("size", "training reviews", results["sizes"]),
              ("length", "sequence length (tokens)", results["lengths"]))
    for col, (key, xlabel, xs) in enumerate(sweeps):
        for mode in results["modes"]:
            points = results[f"by_{key}"][mode]
            axes[0, col].plot(xs, [p["epoch_seconds"] for p in points], "o-", label=mode)
            axes[1, col].plot(xs, [p["inference_reviews_per_second"] for p in points], "o-",
                              label=mode)
        axes[0, col].set_ylabel("seconds per training epoch")
        axes[1, col].set_ylabel("inference reviews / s")
        for row in (0, 1):
            axes[row, col].set_xlabel(xlabel)
            axes[row, col].set_xticks(xs)
            axes[row, col].grid(alpha=0.3)
            axes[row, col].legend(title="LSTM padding")
            axes[row, col].set_ylim(bottom=0)
    fixed = results["fixed"]
    axes[0, 0].set_title(f"vs training-set size (length {fixed['length']})")
    axes[0, 1].set_title(f"vs sequence length ({fixed['size']:,} reviews)")
    m = results["machine_note"]
    fig.suptitle(f"Seed preset scaling: {m}", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 10000, 18750])
    ap.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 228, 400])
    ap.add_argument("--modes", nargs="+", default=["masked", "read"], choices=["masked", "read"])
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per point (median)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--quick", action="store_true",
                    help="sizes 1000 2500, lengths 64 228 on 2,500 reviews, masked, 1 epoch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.sizes, args.lengths, args.modes, args.epochs = [1000, 2500], [64, 228], ["masked"], 1

    full = seed_split(args.source, validation=False)
    texts, val_texts = full.texts, full.val_texts
    if args.quick:
        val_texts = val_texts[:2000]
    fixed = {"length": 228, "size": min(max(args.sizes), len(texts))}
    sizes = [min(n, len(texts)) for n in args.sizes]
    results: dict[str, Any] = {"sizes": sizes, "lengths": args.lengths, "modes": args.modes,
                               "epochs": args.epochs, "threads": args.threads, "fixed": fixed,
                               "inference_reviews": len(val_texts),
                               "by_size": {}, "by_length": {}}
    for mode in args.modes:
        masked = mode == "masked"
        results["by_size"][mode] = []
        for n in sizes:
            r = measure(args.source, n, val_texts, fixed["length"], masked, args.epochs)
            results["by_size"][mode].append({"size": n, **r})
            print(f"{mode:>6} {n:>6,} reviews, length {fixed['length']}: "
                  f"{r['epoch_seconds']:.2f} s/epoch, "
                  f"inference {r['inference_reviews_per_second']:,.0f} reviews/s", flush=True)
        results["by_length"][mode] = []
        n = fixed["size"]
        for length in args.lengths:
            r = measure(args.source, n, val_texts, length, masked, args.epochs)
            results["by_length"][mode].append({"length": length, **r})
            print(f"{mode:>6} {n:>6,} reviews, length {length}: "
                  f"{r['epoch_seconds']:.2f} s/epoch, "
                  f"inference {r['inference_reviews_per_second']:,.0f} reviews/s", flush=True)
    results["machine_note"] = f"{cpu_model()}, {args.threads} threads"
    name = "scaling" + ("_quick" if args.quick else "")
    png = machine_plot(name)
    png.parent.mkdir(parents=True, exist_ok=True)
    plot(results, png)
    results["plot"] = png.name
    print(f"wrote {png}")
    write(name, results, per_cpu=True)


def render(r: dict[str, Any]) -> str:
    fixed = r["fixed"]
    lines = [f"{r['threads']} threads; s / epoch is the median training epoch (no validation); "
             f"inference = `predict_proba` on {r['inference_reviews']:,} validation reviews:", ""]
    for key, title, col in (("size", f"training reviews (length {fixed['length']})", "size"),
                            ("length", f"sequence length ({fixed['size']:,} reviews)", "length")):
        lines += [f"| {title} | " + " | ".join(f"{m} s / epoch | {m} inference reviews/s"
                                                for m in r["modes"]) + " |",
                  "|---" * (1 + 2 * len(r["modes"])) + "|"]
        for i, x in enumerate(r[col + "s"]):
            cells = []
            for mode in r["modes"]:
                p = r[f"by_{key}"][mode][i]
                cells += [f"{p['epoch_seconds']:.2f}", f"{p['inference_reviews_per_second']:,.0f}"]
            lines.append(f"| {x:,} | " + " | ".join(cells) + " |")
        lines.append("")
    if r.get("plot"):
        lines.append(f"![scaling](results/{r['plot']})")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
