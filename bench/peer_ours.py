"""Worker for bench/peers.py: one of our presets trained and used exactly as a user would.

Trains with ``pipeline.run`` (what ``lstm-sentiment train`` runs: the same split, vocabulary,
per-epoch validation and checkpoints) into a temp folder, then measures the official test
accuracy (as the run reports it), single-review latency (``SentimentModel.predict`` on one text,
median of 20 after a warm-up call) and batch throughput (``predict_proba`` on the 25,000 test
reviews, tokenizing included). Reports the process's peak RSS after the training run
(``training_peak_rss_mb``: training and the run's test evaluation) and at the end (scoring too).

    python bench/peer_ours.py [--preset seed] [--read-padding] [--epochs 10] [--out result.json]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import default_source, dump, median_ms, peak_rss_mb

from lstm_sentiment import config as cfg
from lstm_sentiment import data
from lstm_sentiment.pipeline import run

BENCHMARK = False  # a worker run by peers.py
SENTENCE = "This movie is fantastic! I really like it because it is so good!"
_ENCODED = re.compile(r"encoded in ([0-9.]+)s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="seed")
    ap.add_argument("--read-padding", action="store_true",
                    help="run the LSTM through the padding, as Keras does")
    ap.add_argument("--epochs", type=int, help="default: the preset's")
    ap.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--out", help="write the JSON result here (default: stdout)")
    args = ap.parse_args()

    import torch

    config = cfg.preset(args.preset)
    config.data.source = args.source
    if args.epochs:
        config.train.epochs = args.epochs
    if args.threads:
        config.train.threads = args.threads
    if args.read_padding:
        config.model.mask_padding = False
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        print(f"[{args.preset}] {line}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="lstm-sentiment-peer-") as tmp:
        t = time.perf_counter()
        model = run(config, Path(tmp) / "model", log=log)
        run_seconds = time.perf_counter() - t
    training_peak = peak_rss_mb()  # training and the run's own evaluation, before any scoring
    encoded = [float(m.group(1)) for line in lines if (m := _ENCODED.search(line))]
    vocabulary_seconds = encoded[0] if encoded else None
    fit_seconds = float(model.info["training_seconds"])
    epochs = [float(h["seconds"]) for h in model.history]

    test = data.load(data.fetch(args.source), "test")
    texts, labels = test.texts, test.labels
    model.predict_proba(texts[:1000])  # warm up
    t = time.perf_counter()
    probs = model.predict_proba(texts)
    batch_seconds = time.perf_counter() - t
    single_ms = median_ms(lambda: model.predict([SENTENCE]), repeats=20, warmup=1)

    metrics = model.info["metrics"]
    name = args.preset + ("-read" if args.read_padding else "")
    padding = "masked" if config.model.mask_padding else "read"
    result = {
        "name": name,
        "label": f"ours: {args.preset} preset ({padding} padding)",
        "preset": args.preset,
        "padding": padding,
        "epochs": config.train.epochs,
        "n_train": model.info["training_data"]["n_train"],
        "train_seconds": fit_seconds + (vocabulary_seconds or 0.0),
        "vocabulary_seconds": vocabulary_seconds,
        "fit_seconds": fit_seconds,
        "run_seconds": run_seconds,
        "epoch_seconds": float(np.median(epochs)),
        "epoch_seconds_all": epochs,
        "validation_accuracy": metrics["validation"]["accuracy"],
        "test_accuracy": metrics["test"]["accuracy"],
        "test_accuracy_recomputed": float(np.mean(probs.argmax(axis=1) == labels)),
        "n_test": len(labels),
        "single_review_latency_ms": single_ms,
        "batch_reviews_per_second": len(labels) / batch_seconds,
        "peak_rss_mb_self": peak_rss_mb(),
        "training_peak_rss_mb": training_peak,
        "versions": {"torch": torch.__version__, "python": sys.version.split()[0]},
        "threads": {"torch": torch.get_num_threads()},
        "parameters": model.info.get("parameters"),
    }
    dump(result, args.out)


if __name__ == "__main__":
    main()
