"""Scoring on a Dask cluster: reviews/s of score_dataframe on a LocalCluster against score.

A seed-preset model (real vocabulary, untrained weights: the same cost as trained ones) scores
the official test reviews written as one CSV (``id,text``, line breaks in reviews made spaces so
that Dask may cut the file into blocks). Timed, each from the CSV on disk to a CSV written:

- ``score_file`` in this process (PyTorch on every core), and with ``workers=2``;
- :func:`lstm_sentiment.dask_scoring.score_dataframe` on a local cluster of worker processes
  (``dd.read_csv`` in blocks of about an eighth of the file, ``to_csv`` one file a partition),
  for 1 and 2 workers of one thread, one worker of two threads, and one worker whose PyTorch
  has two threads (``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` 2; Dask sets 1 by default).

The cluster's start and each worker's first model load are timed apart (``start_s``); the
scoring runs after them, fastest of two (one with ``--quick``). Writes
bench/results/dask_scoring.json.

    python bench/dask_scoring.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import distributed
from common import default_source, fastest, write
from serving import seed_model

from lstm_sentiment.dask_scoring import model_for, score_dataframe
from lstm_sentiment.score import score_file

TITLE = "Scoring on a Dask cluster"
ORDER = 67
DOCS = ("docs/scale-out.md",)
# (Dask workers, threads per worker, PyTorch threads per worker)
LAYOUTS = ((1, 1, 1), (2, 1, 1), (1, 2, 1), (1, 1, 2))


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _warm(model: str) -> None:
    """Load the model on a worker (model_for caches it); the model itself stays there, as it
    cannot travel back (it holds locks)."""
    model_for(model)


def on_cluster(src: Path, model: Path, out: Path, layout: tuple[int, int, int],
               repeats: int) -> dict[str, Any]:
    workers, threads, torch_threads = layout
    blocksize = max(src.stat().st_size // 8, 64 * 1024)
    # in this process's environment, which Dask copies into each worker process before it
    # starts (the worker imports this script, and so torch, first); PyTorch takes MKL's count
    # over OpenMP's, and Dask would set both to 1
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(torch_threads)
    t0 = time.perf_counter()
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=threads,
                                  processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        client.run(_warm, str(model))  # torch's import and the load, once per worker
        start = time.perf_counter() - t0
        threads_seen = client.submit(_torch_threads, pure=False).result()

        def run() -> None:
            frame = dd.read_csv(src, blocksize=blocksize, dtype=str, keep_default_na=False)
            score_dataframe(frame, model).to_csv(out / "part-*.csv", index=False)

        seconds = fastest(run, repeats)
        partitions = dd.read_csv(src, blocksize=blocksize).npartitions
    assert threads_seen == torch_threads, (threads_seen, torch_threads)
    return {"workers": workers, "threads": threads, "torch_threads": torch_threads,
            "partitions": partitions, "start_s": start, "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--quick", action="store_true", help="2,000 reviews, one run each")
    args = ap.parse_args()
    repeats = 1 if args.quick else 2
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model, reviews = seed_model(args.source, tmp / "seed")
        reviews = reviews[:2000] if args.quick else reviews
        src = tmp / "reviews.csv"
        with src.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "text"])
            writer.writerows([i, " ".join(text.split())] for i, text in enumerate(reviews))
        n = len(reviews)
        runs: list[dict[str, Any]] = []
        for workers in (1, 2):
            seconds = fastest(lambda w=workers: score_file(model, src, tmp / "scored.csv",
                                                           workers=w), repeats)
            runs.append({"engine": "score", "workers": workers, "seconds": seconds,
                         "reviews_per_second": n / seconds})
            print(f"score, {workers} worker(s): {n / seconds:,.0f} reviews/s")
        before = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        for layout in LAYOUTS:
            out = tmp / f"dask-{'-'.join(map(str, layout))}"
            run = on_cluster(src, tmp / "seed", out, layout, repeats)
            run.update(engine="dask", reviews_per_second=n / run["seconds"])
            runs.append(run)
            print(f"dask {layout}: {run['reviews_per_second']:,.0f} reviews/s "
                  f"(start {run['start_s']:.1f} s, {run['partitions']} partitions)")
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    write("dask_scoring" + ("_quick" if args.quick else ""),
          {"quick": args.quick, "reviews": n, "runs": runs}, per_cpu=True)


def render(r: dict[str, Any]) -> str:
    lines = [f"{r['reviews']:,} official test reviews as one CSV, a seed-preset model, CSV "
             "out; reviews/s from the file read to the file written:", "",
             "| engine | worker processes | threads per worker | PyTorch threads | "
             "reviews/s | start, s |", "|---|---|---|---|---|---|"]
    for run in r["runs"]:
        if run["engine"] == "score":
            torch_threads = "all cores" if run["workers"] == 1 else "cores ÷ processes"
            lines.append(f"| `score` | {run['workers']} | – | {torch_threads} | "
                         f"{run['reviews_per_second']:,.0f} | – |")
        else:
            lines.append(f"| Dask | {run['workers']} | {run['threads']} | "
                         f"{run['torch_threads']} | {run['reviews_per_second']:,.0f} | "
                         f"{run['start_s']:.1f} |")
    lines += ["", "*Start* is the cluster's start plus each worker's import of PyTorch and "
              "first model load, paid once per cluster; the reviews/s exclude it. `score` with "
              "2 processes includes starting its helper, which loads the model too."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
