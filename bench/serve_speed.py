"""Serving speed: single-review latency (Python API and HTTP on loopback) and batch scoring.

Uses a seed-preset model with the real vocabulary (untrained weights cost the same as trained
ones) and the official test reviews. Writes bench/results/serve_speed.json. Targets (issue 6):
Python API p50 <= 1 ms; HTTP p50 <= 5 ms and p99 <= 15 ms; and `score --workers 2` no slower
than one process (within ``NOISE``: on a file too small for helpers to pay off, none start, and
the two runs do the same work). The `score` rates here are :func:`score_file` in this process on
plain lines; issue 21's target for `score` is judged by bench/score_parts.py, which runs the
command on 200,000 JSON Lines rows.

    python bench/serve_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import SCORE_TARGETS, default_source, target, write
from serving import Server, percentiles, seed_model

from lstm_sentiment.score import score_file

TITLE = "Serving"
ORDER = 60
SUMMARY = True
API_P50_MS = 1.0  # targets of issue 6
HTTP_P50_MS = 5.0
HTTP_P99_MS = 15.0
NOISE = 0.05  # run-to-run spread of one score_file call; "no slower" allows this much


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--quick", action="store_true", help="fewer requests and rows")
    args = ap.parse_args()
    n_requests = 300 if args.quick else 3000

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "seed"
        model, reviews = seed_model(args.source, folder)
        if args.quick:
            reviews = reviews[:5000]
        sample = [reviews[i * 7 % len(reviews)] for i in range(n_requests)]

        for text in sample[:50]:
            model.predict([text])  # warm up
        api = []
        for text in sample:
            t = time.perf_counter()
            model.predict([text])
            api.append(1e3 * (time.perf_counter() - t))

        with Server(folder) as server, httpx.Client(base_url=server.url) as client:
            for text in sample[:50]:
                client.post("/v1/predict", json={"texts": [text]})
            http = []
            for text in sample:
                t = time.perf_counter()
                r = client.post("/v1/predict", json={"texts": [text]})
                http.append(1e3 * (time.perf_counter() - t))
                r.raise_for_status()

        lines = Path(tmp) / "reviews.txt"
        lines.write_text("".join(" ".join(r.split()) + "\n" for r in reviews))
        summary = score_file(model, lines, Path(tmp) / "scored.jsonl")
        two = score_file(model, lines, Path(tmp) / "scored2.jsonl", workers=2)
        # a bigger file, where starting the helper process is a smaller share
        big = Path(tmp) / "reviews4.txt"
        big.write_text(lines.read_text() * 4)
        big_one = score_file(model, big, Path(tmp) / "scored4.jsonl")
        big_two = score_file(model, big, Path(tmp) / "scored4.jsonl", workers=2)

    results = {
        "api_single_review": percentiles(api),
        "http_single_review": percentiles(http),
        "score_reviews": summary.rows,
        "score_reviews_per_second": summary.rows_per_second,
        "score_seconds": summary.seconds,
        "score_2_workers_reviews_per_second": two.rows_per_second,
        "score_big_reviews": big_one.rows,
        "score_big_reviews_per_second": big_one.rows_per_second,
        "score_big_2_workers_reviews_per_second": big_two.rows_per_second,
    }
    print(f"Python API single review: p50 {results['api_single_review']['p50_ms']:.2f} ms, "
          f"p99 {results['api_single_review']['p99_ms']:.2f} ms")
    print(f"HTTP single review:       p50 {results['http_single_review']['p50_ms']:.2f} ms, "
          f"p99 {results['http_single_review']['p99_ms']:.2f} ms")
    print(f"score: {summary.rows:,} reviews in {summary.seconds:.2f} s = "
          f"{summary.rows_per_second:,.0f} reviews/s (read, tokenize, predict, write); "
          f"with --workers 2: {two.rows_per_second:,.0f} reviews/s")
    print(f"score: {big_one.rows:,} reviews: {big_one.rows_per_second:,.0f} reviews/s; with "
          f"--workers 2: {big_two.rows_per_second:,.0f} reviews/s")
    write("serve_speed" + ("_quick" if args.quick else ""), results, per_cpu=True)


def _ms(value: float, goal: float) -> str:
    return target(value, goal, higher_is_better=False, unit="ms", fmt="{:.2f}")


def _per_s(value: float, goal: float, goal_text: str | None = None) -> str:
    return target(value, goal, higher_is_better=True, unit="reviews/s", goal_text=goal_text)


def render(r: dict[str, Any]) -> str:
    a, h = r["api_single_review"], r["http_single_review"]
    lines = ["| | p50 ms | p90 ms | p99 ms |", "|---|---|---|---|",
             f"| Python API, one review | {a['p50_ms']:.2f} | {a['p90_ms']:.2f} | "
             f"{a['p99_ms']:.2f} |",
             f"| HTTP on loopback, one review | {h['p50_ms']:.2f} | {h['p90_ms']:.2f} | "
             f"{h['p99_ms']:.2f} |", "",
             f"- Python API, one review: p50 {_ms(a['p50_ms'], API_P50_MS)}.",
             f"- HTTP on loopback, one review: p50 {_ms(h['p50_ms'], HTTP_P50_MS)}; p99 "
             f"{_ms(h['p99_ms'], HTTP_P99_MS)}."]
    runs = [(r["score_reviews"], r["score_reviews_per_second"],
             r.get("score_2_workers_reviews_per_second"))]
    if "score_big_reviews" in r:
        runs.append((r["score_big_reviews"], r["score_big_reviews_per_second"],
                     r["score_big_2_workers_reviews_per_second"]))
    for n, one, two in runs:
        line = f"- `score`, {n:,} reviews (read, tokenize, predict, write): {one:,.0f} reviews/s"
        if two is not None:
            line += ("; with `--workers 2`: "
                     + _per_s(two, (1 - NOISE) * one,
                              goal_text=f"one process's {one:,.0f}, less {NOISE:.0%} of noise"))
        lines.append(line + ".")
    # these runs are score_file in this process on plain lines; the target is set for the
    # command on JSON Lines, which bench/score_parts.py runs as a user would
    lines.append(f"- The `score` target (≥ {SCORE_TARGETS['seed']:,} reviews/s, 200,000 JSON "
                 "Lines rows, the command from start to exit) is judged in \"Batch scoring "
                 "speed\" (bench/score_parts.py), which runs it under those conditions.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
