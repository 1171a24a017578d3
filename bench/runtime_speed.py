"""PyTorch against ONNX Runtime as the runtime of a model: batches, single reviews, loading.

Three runtimes: ``torch``, ``onnxruntime`` and ``auto`` (the default: batches of up to 8 rows on
ONNX Runtime, larger ones on PyTorch; :mod:`lstm_sentiment.runtime`). For a seed-preset model
(real vocabulary, untrained weights: the same cost as trained ones) and the bundled model
(accurate preset: BiLSTM + n-gram branch), on the official test reviews (``--quick``: 2,000 of
them, drawn with a fixed seed), each runtime through the public API (the models made by
``SentimentModel.load(..., runtime=...)``):

- batch: :meth:`SentimentModel.read` of all the reviews (windows, sorted batches, lanes),
  reviews/s, the median of the rounds; on 1 and 2 PyTorch threads (ONNX Runtime follows
  PyTorch's count). With 2 threads, also ONNX Runtime's intra-op threads on one batch at a
  time (``read(..., side_by_side=False)``) against the default lanes;
- single review: ``read([text])`` of each of ``--single`` reviews, p50 and p99 (ms), on 1 and 2
  threads (up to 8 rows run on one thread either way);
- score: ``score_file`` on the reviews as a plain-lines file (reading, encoding, writing and
  all), reviews/s, on 2 threads;
- load: ``SentimentModel.load`` with each runtime, ONNX Runtime with an empty cache (the
  export) and again from the cache.

The runtimes take turns round by round (single reviews: call by call), so a busy spell on the
machine slows all alike. Their probabilities are compared on every review first (and auto's on
the single reviews one by one). Writes bench/results/runtime_speed.json
(``runtime_speed_quick.json`` with ``--quick``).

    python bench/runtime_speed.py [--rounds 3] [--single 500] [--quick]
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
from serving import seed_model

from lstm_sentiment import data
from lstm_sentiment.predict import SentimentModel
from lstm_sentiment.score import score_file

TITLE = "PyTorch or ONNX Runtime"
DOCS = ("docs/runtime.md",)
ORDER = 71
RUNTIMES = ("torch", "onnxruntime", "auto")


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"p50_ms": 1e3 * statistics.median(ordered),
            "p99_ms": 1e3 * ordered[min(int(0.99 * len(ordered)), len(ordered) - 1)]}


def rounds(cases: dict[str, Callable[[], object]], count: int) -> dict[str, list[float]]:
    """Seconds per call of each case, taking turns (one untimed call each first)."""
    for fn in cases.values():
        fn()
    out: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(count):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t0)
    return out


def load_seconds(folder: str | Path) -> dict[str, float]:
    """Loading with each runtime; ONNX Runtime with an empty cache, then from it."""
    out = {}
    t0 = time.perf_counter()
    SentimentModel.load(folder, runtime="torch")
    out["torch"] = time.perf_counter() - t0
    before = os.environ.get("LSTM_SENTIMENT_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["LSTM_SENTIMENT_CACHE"] = cache
        try:
            for case in ("onnxruntime_export", "onnxruntime_cached"):
                t0 = time.perf_counter()
                SentimentModel.load(folder, runtime="onnxruntime")
                out[case] = time.perf_counter() - t0
        finally:
            if before is None:
                os.environ.pop("LSTM_SENTIMENT_CACHE", None)
            else:
                os.environ["LSTM_SENTIMENT_CACHE"] = before
    return out


def measure(folder: str | Path, texts: list[str], args: argparse.Namespace,
            tmp: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"load_seconds": load_seconds(folder)}
    models = {name: SentimentModel.load(folder, runtime=name) for name in RUNTIMES}
    got = {name: m.read(texts).probabilities for name, m in models.items()}
    # every review alone too: auto runs those on ONNX Runtime
    alone = np.concatenate([models["auto"].read([t]).probabilities for t in texts[:args.single]])
    result["max_probability_difference"] = max(
        float(np.abs(got["torch"] - got["onnxruntime"]).max()),
        float(np.abs(got["torch"] - got["auto"]).max()),
        float(np.abs(got["torch"][: args.single] - alone).max()))
    result["same_labels"] = float((got["torch"].argmax(1) == got["onnxruntime"].argmax(1)).mean())
    singles = texts[: args.single]
    for threads in (1, 2):
        torch.set_num_threads(threads)
        cases: dict[str, Callable[[], object]] = {
            name: (lambda m=m: m.read(texts)) for name, m in models.items()}
        if threads > 1:
            cases["onnxruntime_intra_op"] = lambda: models["onnxruntime"].read(
                texts, side_by_side=False)
        batch = rounds(cases, args.rounds)
        single: dict[str, list[float]] = {name: [] for name in RUNTIMES}
        for m in models.values():
            m.read(singles[:5])
        for text in singles:
            for name, m in models.items():
                t0 = time.perf_counter()
                m.read([text])
                single[name].append(time.perf_counter() - t0)
        result[f"threads_{threads}"] = {
            "batch_reviews_per_second": {k: len(texts) / statistics.median(v)
                                         for k, v in batch.items()},
            "single_review": {k: percentiles(v) for k, v in single.items()},
        }
        print(f"  {threads} thread(s): " + ", ".join(
            f"{k} {v:,.0f}/s" for k, v in
            result[f"threads_{threads}"]["batch_reviews_per_second"].items()) + "; single p50 "
            + ", ".join(f"{k} {v['p50_ms']:.2f} ms" for k, v in
                        result[f"threads_{threads}"]["single_review"].items()), flush=True)
    lines = tmp / "reviews.txt"
    lines.write_text("".join(t.replace("\n", " ").replace("\r", " ") + "\n" for t in texts))
    scored = rounds({name: (lambda m=m, name=name: score_file(m, lines, tmp / f"{name}.jsonl"))
                     for name, m in models.items()}, max(args.rounds - 1, 1))
    result["score_reviews_per_second_2_threads"] = {
        k: len(texts) / statistics.median(v) for k, v in scored.items()}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--rounds", type=int, default=3, help="timed batch rounds per case")
    ap.add_argument("--single", type=int, default=500, help="single reviews timed")
    ap.add_argument("--quick", action="store_true", help="2,000 test reviews, 200 single")
    args = ap.parse_args()
    if args.quick:
        args.single = min(args.single, 200)
    before = torch.get_num_threads()
    root = data.fetch(args.source)
    test = data.load(root, "test").texts
    n = 2000 if args.quick else len(test)
    picked = np.random.default_rng(0).permutation(len(test))[:n]
    texts = [test[i] for i in sorted(picked)]
    results: dict[str, Any] = {"reviews": n, "single_reviews": args.single,
                               "rounds": args.rounds, "load_average_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        seed_model(args.source, tmp / "seed")
        for name, folder in (("seed", tmp / "seed"), ("bundled", "bundled")):
            print(f"{name}:", flush=True)
            results[name] = measure(folder, texts, args, tmp)
            torch.set_num_threads(before)
    results["load_average_after"] = os.getloadavg()[0]
    write("runtime_speed" + ("_quick" if args.quick else ""), results, per_cpu=True)


MODELS = {"seed": "seed preset (untrained, real vocabulary)",
          "bundled": "bundled (accurate preset: BiLSTM + n-grams)"}
CASES = {"torch": "PyTorch", "onnxruntime": "ONNX Runtime (lanes)",
         "onnxruntime_intra_op": "ONNX Runtime, intra-op threads, one batch at a time",
         "auto": "auto (the default)"}


def render(r: dict[str, Any]) -> str:
    lines = [f"{r['reviews']:,} official test reviews ({r['single_reviews']} timed one by one), "
             f"the runtimes taking turns; load average {r['load_average_before']:.1f} before, "
             f"{r['load_average_after']:.1f} after.", "",
             "| model | threads | runtime | batch reviews/s | single review p50 (ms) | "
             "p99 (ms) |", "|---|---|---|---|---|---|"]
    for model, label in MODELS.items():
        if model not in r:
            continue
        for threads in (1, 2):
            part = r[model][f"threads_{threads}"]
            for case, name in CASES.items():
                if case not in part["batch_reviews_per_second"]:
                    continue
                single = part["single_review"].get(case)
                lines.append(
                    f"| {label} | {threads} | {name} | "
                    f"{part['batch_reviews_per_second'][case]:,.0f} | "
                    + (f"{single['p50_ms']:.2f} | {single['p99_ms']:.2f} |" if single
                       else "– | – |"))
    lines += ["", "| model | `score` reviews/s (2 threads): PyTorch | ONNX Runtime | auto | "
              "load (s): PyTorch | ONNX Runtime, export | from the cache | largest difference "
              "in probability |", "|---|---|---|---|---|---|---|---|"]
    for model, label in MODELS.items():
        if model not in r:
            continue
        m = r[model]
        s, load = m["score_reviews_per_second_2_threads"], m["load_seconds"]
        lines.append(f"| {label} | {s['torch']:,.0f} | {s['onnxruntime']:,.0f} | "
                     f"{s['auto']:,.0f} | "
                     f"{load['torch']:.2f} | {load['onnxruntime_export']:.2f} | "
                     f"{load['onnxruntime_cached']:.2f} | "
                     f"{m['max_probability_difference']:.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
