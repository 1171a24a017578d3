"""Seed preset speed on this machine: seconds per training epoch and reviews per second.

Encodes the 18,750-review training split once, then times full training epochs (no validation;
``lstm_sentiment.trainer.fit`` with ``val=None``, after one untimed epoch on 1,000 reviews) for
the LSTM masking trailing padding (default) and reading it (Keras's way), plus inference
throughput and single-review latency through the Python API. Writes
bench/results/seed_speed.json.

    python bench/seed_speed.py [--epochs 3] [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import Any

import torch
from common import default_source, seed_split, write

from lstm_sentiment.model import build
from lstm_sentiment.predict import SentimentModel
from lstm_sentiment.split import Split
from lstm_sentiment.trainer import fit

TITLE = "Seed preset speed"
ORDER = 40


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per mode")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--quick", action="store_true", help="1 timed epoch on 5,000 reviews")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    split = seed_split(args.source, size=5000 if args.quick else None)
    config, texts = split.config, split.texts
    epochs = 1 if args.quick else args.epochs
    results: dict[str, Any] = {"reviews": len(texts), "threads": args.threads,
                               "vocabulary_and_encoding_seconds": split.encode_seconds}
    warm_up = Split(split.train.ids[:1000], split.train.labels[:1000])
    for mode in ("masked", "read"):
        config.model.mask_padding = mode == "masked"
        net = build(config.model, seed=1)

        def log(line: str, tag: str = mode) -> None:
            print(f"[{tag}] {line}", flush=True)

        fit(net, warm_up, None, dataclasses.replace(config.train, epochs=1), log=log)
        history = fit(net, split.train, None, dataclasses.replace(config.train, epochs=epochs),
                      log=log)
        times = [e["seconds"] for e in history.epochs]
        per_epoch = statistics.median(times)
        model = SentimentModel(net, split.encoder, config, ["negative", "positive"])
        model.predict_proba(texts[:2000])  # warm up
        t = time.perf_counter()
        model.predict_proba(texts)
        infer = time.perf_counter() - t
        one = "The movie was great!"
        lat = []
        for _ in range(200):
            t = time.perf_counter()
            model.predict([one])
            lat.append(time.perf_counter() - t)
        results[mode] = {
            "epoch_seconds": per_epoch,
            "epoch_seconds_all": times,
            "train_reviews_per_second": len(texts) / per_epoch,
            "inference_reviews_per_second": len(texts) / infer,
            "single_review_latency_ms_p50": 1e3 * statistics.median(lat),
            "single_review_latency_ms_p99": 1e3 * sorted(lat)[int(0.99 * len(lat)) - 1],
        }
        r = results[mode]
        print(f"{mode:>6}: {per_epoch:.2f} s/epoch ({r['train_reviews_per_second']:.0f} reviews/s"
              f" training), inference {r['inference_reviews_per_second']:.0f} reviews/s, "
              f"single review p50 {r['single_review_latency_ms_p50']:.2f} ms")
    write("seed_speed" + ("_quick" if args.quick else ""), results, per_cpu=True)


def render(r: dict[str, Any]) -> str:
    lines = [f"{r['threads']} threads, {r['reviews']:,} training reviews; s / epoch is the median "
             "training epoch (no validation):", "",
             "| LSTM padding | s / epoch | training reviews/s | inference reviews/s | "
             "single review p50 (ms) |", "|---|---|---|---|---|"]
    for mode in ("masked", "read"):
        if mode not in r:
            continue
        m = r[mode]
        lines.append(f"| {mode} | {m['epoch_seconds']:.2f} | {m['train_reviews_per_second']:,.0f}"
                     f" | {m['inference_reviews_per_second']:,.0f} | "
                     f"{m['single_review_latency_ms_p50']:.2f} |")
    lines += ["", f"Vocabulary + encoding of the training split: "
              f"{r['vocabulary_and_encoding_seconds']:.1f} s."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
