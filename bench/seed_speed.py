"""Seed preset speed on this machine: seconds per training epoch and reviews per second.

Encodes the 18,750-review training split once, then times full training epochs (no validation)
for the LSTM masking trailing padding (default) and reading it (Keras's way), plus inference
throughput and single-review latency through the Python API. Writes bench/results/seed_speed.json.

    python bench/seed_speed.py [--epochs 3] [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import default_source, write

from lstm_sentiment import data
from lstm_sentiment.config import preset
from lstm_sentiment.model import build
from lstm_sentiment.predict import SentimentModel
from lstm_sentiment.text import TextEncoder
from lstm_sentiment.trainer import KerasRMSprop, Split, _train_epoch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per mode")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--quick", action="store_true", help="1 timed epoch on 5,000 reviews")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    config = preset("seed")
    root = data.fetch(args.source)
    train = data.load(root, "train")
    texts = train.texts[:5000] if args.quick else train.texts
    labels = train.labels[: len(texts)]
    t0 = time.perf_counter()
    encoder, ids = TextEncoder.build(texts, config.text)
    prep = time.perf_counter() - t0
    split = Split(torch.from_numpy(ids), torch.from_numpy(labels))
    epochs = 1 if args.quick else args.epochs
    results: dict[str, object] = {"reviews": len(texts), "threads": args.threads,
                                  "vocabulary_and_encoding_seconds": prep}
    for mode in ("masked", "read"):
        config.model.mask_padding = mode == "masked"
        config.train.epochs = epochs
        net = build(config.model, seed=1)
        opt = KerasRMSprop([p for p in net.parameters() if p.requires_grad])
        _train_epoch(net, opt, Split(split.ids[:1000], split.labels[:1000]), config.train, 0)
        times = []
        for epoch in range(epochs):
            t = time.perf_counter()
            _train_epoch(net, opt, split, config.train, epoch)
            times.append(time.perf_counter() - t)
        per_epoch = statistics.median(times)
        model = SentimentModel(net, encoder, config, ["negative", "positive"])
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
    write("seed_speed" + ("_quick" if args.quick else ""), results)


if __name__ == "__main__":
    main()
