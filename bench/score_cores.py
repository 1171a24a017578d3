"""`score` across worker processes, up to every core: how batch scoring grows with the machine.

Runs `lstm-sentiment score MODEL --input reviews.jsonl --workers N` (a child process, wall clock
from start to exit, loading included) for N = 1, 2, 4, ... up to the machine's usable cores, on
the official test reviews as JSON Lines, with the bundled model and a seed-preset model (its
real vocabulary, untrained weights: the same cost as a trained one). With N workers each
process runs cores / N threads (`score --workers`). On a 2-core machine this is 1 and 2
workers; a larger machine (a GPU machine's host, when one is lent) adds its points.

Then against cores: for each smaller core count C (1, 2, 4, ...), the child is pinned to the
first C cores (``taskset``) and runs as one process and as C workers; with every core, the runs
above count. `score` sizes its threads by the cores it may use, not the machine's. Writes
bench/results/score_cores.json; a run on another machine is kept beside it.

    python bench/score_cores.py [--rows 100000] [--workers 1 2 4 ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from common import default_source, usable_cores, write
from score_parts import command
from serving import seed_model

TITLE = "Batch scoring across worker processes"
ORDER = 62
DOCS = ("docs/scale-out.md",)


def worker_counts(cores: int) -> list[int]:
    """1, 2, 4, ... below ``cores``, then ``cores`` itself."""
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return [*counts, cores]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--rows", type=int, default=100_000,
                    help="JSON Lines rows to score (the test reviews, repeated)")
    ap.add_argument("--workers", type=int, nargs="+", help="worker counts (default: 1, 2, 4, "
                    "... up to the usable cores)")
    ap.add_argument("--quick", action="store_true", help="2,000 rows")
    args = ap.parse_args()
    cores = usable_cores() or 1
    counts = args.workers or worker_counts(cores)
    rows = 2000 if args.quick else args.rows
    runs: dict[str, dict[str, Any]] = {}
    pinned: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        _, reviews = seed_model(args.source, tmp / "seed")
        table = tmp / "reviews.jsonl"
        with table.open("w") as f:
            for i in range(rows):
                f.write(json.dumps({"id": i, "text": reviews[i % len(reviews)]}) + "\n")
        for name, folder in (("seed", str(tmp / "seed")), ("bundled", "bundled")):
            runs[name] = {}
            for n in counts:
                runs[name][str(n)] = command(folder, table, tmp, n)
                print(f"{name}, {n} workers: "
                      f"{runs[name][str(n)]['reviews_per_second']:,.0f} reviews/s", flush=True)
            pinned[name] = {}
            for c in [c for c in worker_counts(cores) if c < cores]:
                first = sorted(os.sched_getaffinity(0))[:c]
                pinned[name][str(c)] = {str(n): command(folder, table, tmp, n, first)
                                        for n in sorted({1, c})}
                print(f"{name}, {c} cores: " + ", ".join(
                    f"{n} workers {run['reviews_per_second']:,.0f} reviews/s"
                    for n, run in pinned[name][str(c)].items()), flush=True)
    write("score_cores" + ("_quick" if args.quick else ""),
          {"quick": args.quick, "rows": rows, "cores": cores, "runs": runs, "pinned": pinned},
          per_cpu=True)


def against_cores(r: dict[str, Any]) -> dict[str, dict[int, dict[int, float]]]:
    """Per model, per core count, reviews/s as one process and as that many workers: the
    pinned runs, and for every core the unpinned ones."""
    out: dict[str, dict[int, dict[int, float]]] = {}
    for name, by_cores in r.get("pinned", {}).items():
        table = {int(c): {int(n): run["reviews_per_second"] for n, run in runs.items()}
                 for c, runs in by_cores.items()}
        every = r["runs"][name]
        table[r["cores"]] = {n: every[str(n)]["reviews_per_second"]
                             for n in sorted({1, r["cores"]}) if str(n) in every}
        out[name] = dict(sorted(table.items()))
    return out


def render(r: dict[str, Any]) -> str:
    lines = [f"`lstm-sentiment score MODEL --input reviews.jsonl --workers N` on {r['rows']:,} "
             "official test reviews (repeated) as JSON Lines, wall clock from start to exit "
             f"(loading included), on {r['cores']} cores; with N workers each process runs "
             f"{r['cores']} / N threads. "
             "Speed-up: over one process on the same machine.", "",
             "| model | workers | reviews/s | speed-up | seconds | peak RSS MB |",
             "|---|---|---|---|---|---|"]
    for name, runs in r["runs"].items():
        one = runs.get("1", {}).get("reviews_per_second")
        for n, run in runs.items():
            gain = f"{run['reviews_per_second'] / one:.2f}x" if one else "–"
            lines.append(f"| {name} | {n} | {run['reviews_per_second']:,.0f} | {gain} | "
                         f"{run['seconds']:.1f} | {run['peak_rss_mb']:,.0f} |")
    scaling = against_cores(r)
    if scaling:
        lines += ["", "Against cores: `score` pinned to the first C cores (`taskset`), as one "
                  "process with C threads and as C workers of one thread each; reviews/s, and "
                  "the better of the two over one core's.", "",
                  "| model | cores | one process | C workers | speed-up over 1 core |",
                  "|---|---|---|---|---|"]
        for name, table in scaling.items():
            base = max(table[min(table)].values())
            for c, by in table.items():
                many = f"{by[c]:,.0f}" if c > 1 and c in by else "–"
                lines.append(f"| {name} | {c} | {by[1]:,.0f} | {many} | "
                             f"{max(by.values()) / base:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
