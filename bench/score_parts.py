"""Where a review's time goes in batch scoring: reading, tokenizing, the network, writing.

For the seed preset (real vocabulary, untrained weights: the same cost as trained ones) and the
bundled accurate model, over the official test reviews as a plain-lines file, each part alone:

- read: the table reader (:mod:`lstm_sentiment.tables`) turning the file into rows;
- encode: the texts to token ids, every token in windows of the model's sequence length, as
  ``score`` reads them (:meth:`TextEncoder.encode_windows`);
- network: those windows to probabilities as ``score`` runs them (lanes over every core), and on
  one thread (:meth:`SentimentModel.probabilities`);
- write: the JSON Lines writer (:class:`lstm_sentiment.tables.Writer`), with the labels and
  scores already made;
- score: the whole ``score_file`` call, end to end.

Then the command itself, as a user runs it: ``lstm-sentiment score MODEL --input FILE.jsonl``
on 200,000 JSON Lines rows (the test reviews, each 8 times, with an id), one process and
``--workers 2``, in a child process whose peak RSS is measured (memory must stay bounded:
chunks, not the file, are held), three times each: the median run counts. Targets (issue 21):
seed >= 20,000 reviews/s, bundled >= 4,000.

Each part is timed three times and the fastest kept. The sum of the parts run on one core is
the work a review costs; two cores can at best share it perfectly, so ``cores / work`` bounds
what any split of it between processes could score per second on this machine. Writes
bench/results/score_parts.json.

    python bench/score_parts.py [--quick]      # --quick: 2,000 reviews, 16,000 rows
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from common import SCORE_TARGETS, default_source, fastest, met, run_child, target, write
from serving import seed_model

from lstm_sentiment import score, streams, tables
from lstm_sentiment.predict import SentimentModel
from lstm_sentiment.text import id_dtype

TITLE = "Batch scoring speed"
ORDER = 65
NAMES = ("label", "score", "error")


def read_rows(path: Path) -> list[list[tables.Row]]:
    with streams.open_input(path) as source:
        rows = list(tables.read(source, "lines", reserved=NAMES).rows())
    return [rows[i : i + 2000] for i in range(0, len(rows), 2000)]


def parts(model: SentimentModel, lines: Path, tmp: Path) -> dict[str, float]:
    chunks = read_rows(lines)
    texts = [row.text or "" for chunk in chunks for row in chunk]
    n = len(texts)
    # what `score` reads: every token, in windows of the model's sequence length
    dtype = id_dtype(model.encoder.vocab_size)
    windows, _ = model.encoder.encode_windows(texts, dtype)
    ids = torch.from_numpy(windows)
    made = [score.predictions(model, [row.text for row in chunk]) for chunk in chunks]

    def write_all() -> None:
        writer = tables.Writer("jsonl", io.BytesIO(), ["text"], NAMES)
        for chunk, (labels, scores, reasons) in zip(chunks, made, strict=True):
            writer.write(chunk, labels, scores, reasons)

    def one_thread() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            model.probabilities(ids)
        finally:
            torch.set_num_threads(before)

    seconds = {
        "read": fastest(lambda: read_rows(lines)),
        "encode": fastest(lambda: model.encoder.encode_windows(texts, dtype)),
        "network": fastest(lambda: model.probabilities(ids)),
        "network_one_thread": fastest(one_thread),
        "write": fastest(write_all),
        "score": fastest(lambda: score.score_file(model, lines, tmp / "scored.jsonl"), 2),
    }
    us = {f"{k}_us": 1e6 * v / n for k, v in seconds.items()}
    work = us["read_us"] + us["encode_us"] + us["network_one_thread_us"] + us["write_us"]
    cores = torch.get_num_threads()
    return {"reviews": n, "windows": len(windows), "sequence_length": windows.shape[1],
            **us, "one_core_work_us": work,
            "score_reviews_per_second": n / seconds["score"],
            "bound_reviews_per_second": cores * 1e6 / work, "cores": cores}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--quick", action="store_true", help="2,000 reviews")
    args = ap.parse_args()
    result: dict[str, Any] = {"quick": args.quick}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        seed, reviews = seed_model(args.source, tmp / "seed")
        reviews = list(reviews[:2000] if args.quick else reviews)
        lines = tmp / "reviews.txt"
        lines.write_text("".join(" ".join(r.split()) + "\n" for r in reviews))
        table = tmp / "reviews.jsonl"
        with table.open("w") as f:
            for i in range(COPIES * len(reviews)):
                f.write(json.dumps({"id": i, "text": reviews[i % len(reviews)]}) + "\n")
        for name, model, folder in (("seed", seed, str(tmp / "seed")),
                                    ("accurate", SentimentModel.load("bundled"), "bundled")):
            result[name] = parts(model, lines, tmp)
            result[name]["command"] = {str(w): repeated(folder, table, tmp, w) for w in (1, 2)}
            r = result[name]
            print(f"{name}: read {r['read_us']:.1f} + encode {r['encode_us']:.1f} + network "
                  f"{r['network_us']:.1f} (one thread {r['network_one_thread_us']:.1f}) + write "
                  f"{r['write_us']:.1f} us/review; score {r['score_reviews_per_second']:,.0f}/s;"
                  f" {r['cores']} cores bound {r['bound_reviews_per_second']:,.0f}/s")
    write("score_parts" + ("_quick" if args.quick else ""), result, per_cpu=True)


COPIES = 8  # 25,000 test reviews x 8 = the 200,000 rows


RUNS = 3  # one wall-clock run on a shared 2-core machine varied by 15 % from the next


def repeated(folder: str, table: Path, tmp: Path, workers: int) -> dict[str, Any]:
    """:func:`command` :data:`RUNS` times in turn: the median run, with every run's figures
    under ``runs``."""
    runs = [command(folder, table, tmp, workers) for _ in range(RUNS)]
    middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {**middle, "runs": runs}


def command(folder: str, table: Path, tmp: Path, workers: int,
            cpus: list[int] | None = None) -> dict[str, Any]:
    """``lstm-sentiment score`` on ``table`` in a child process: reviews/s and peak RSS.
    ``cpus``: the cores the child may run on (``taskset``; None: all)."""
    out = tmp / "scored.jsonl"
    pinned = [] if cpus is None else ["taskset", "-c", ",".join(map(str, cpus))]
    run = run_child([*pinned, sys.executable, "-m", "lstm_sentiment", "-q", "score", folder,
                     "--input", str(table), "--output", str(out), "--workers", str(workers)])
    with out.open("rb") as f:
        rows = sum(1 for _ in f)
    with table.open("rb") as f:
        expected = sum(1 for _ in f)
    if run["returncode"] or rows != expected:
        raise SystemExit(f"score exited {run['returncode']} with {rows} of {expected} rows")
    return {"rows": rows, "seconds": run["seconds"], "peak_rss_mb": run["peak_rss_mb"],
            "reviews_per_second": rows / run["seconds"]}


def render(r: dict[str, Any]) -> str:
    presets = [n for n in ("seed", "accurate") if n in r]
    cores = r[presets[0]]["cores"]
    whole = all("windows" in r[n] for n in presets)
    read = ("every token, in windows of the model's sequence length, as `score` reads a text: "
            + ", ".join(f"{n} {r[n]['windows'] / r[n]['reviews']:.2f} windows of "
                        f"{r[n]['sequence_length']} per review" for n in presets)
            if whole else "the first window of each review only (this run predates timing the "
            "windows `score` reads: its bound is too high)")
    lines = ["One review's share of each part (official test reviews as plain lines, JSON Lines "
             "out; microseconds per review, fastest of three). Encode and network cover "
             f"{read}.", "",
             "| preset | read | encode | network | network, one thread | write | "
             f"one core's work | `score` reviews/s | bound on {cores} cores |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in presets:
        p = r[name]
        lines.append(f"| {name} | {p['read_us']:.1f} | {p['encode_us']:.1f} | "
                     f"{p['network_us']:.1f} | {p['network_one_thread_us']:.1f} | "
                     f"{p['write_us']:.1f} | {p['one_core_work_us']:.1f} | "
                     f"{p['score_reviews_per_second']:,.0f} | "
                     f"{p['bound_reviews_per_second']:,.0f} |")
    lines += ["", "*One core's work* is read + encode + network on one thread + write. However "
              "the parts were spread over processes, the cores could not score more than cores / "
              "work reviews per second: the *bound*. Reading, encoding and writing are Python "
              "and hold the interpreter's lock, so within one process they take turns with the "
              "network; `score` runs the network's batches side by side, one per core.", ""]
    # results before the median of three hold one run per command, without "runs"
    runs = len(r[presets[0]].get("command", {}).get("1", {}).get("runs", [None]))
    if all("command" in r[n] for n in presets):
        rows = r[presets[0]]["command"]["1"]["rows"]
        each = (f", run {runs} times in turn (the median run, and every run's reviews/s)"
                if runs > 1 else " (one run)")
        lines += [f"The command, `lstm-sentiment score MODEL --input reviews.jsonl`, on {rows:,} "
                  "JSON Lines rows, wall clock from start to exit (loading the model "
                  f"included){each}:", "",
                  "| model | workers | reviews/s | seconds | peak RSS MB | runs |",
                  "|---|---|---|---|---|---|"]
        for name in presets:
            for w, c in r[name]["command"].items():
                every = ", ".join(f"{run['reviews_per_second']:,.0f}"
                                  for run in c.get("runs", [c]))
                lines.append(f"| {'bundled' if name == 'accurate' else name} | {w} | "
                             f"{c['reviews_per_second']:,.0f} | {c['seconds']:.1f} | "
                             f"{c['peak_rss_mb']:.0f} | {every} |")
        lines.append("")
    for name in presets:
        p, goal = r[name], SCORE_TARGETS[name]
        best = max([p["score_reviews_per_second"]]
                   + [c["reviews_per_second"] for c in p.get("command", {}).values()])
        lines.append(f"- {'bundled' if name == 'accurate' else name}: `score`, the best of the "
                     f"rows above (a command's {'median' if runs > 1 else 'one'} run, or `score` "
                     "in this process), "
                     + target(best, goal, higher_is_better=True, unit="reviews/s")
                     + f"; bound {p['bound_reviews_per_second']:,.0f} reviews/s.")
    short = [n for n in presets
             if not met(r[n]["bound_reviews_per_second"], SCORE_TARGETS[n], higher_is_better=True)]
    if short:
        lines += ["", f"The {' and '.join(short)} target{' lies' if len(short) == 1 else 's lie'} "
                  "above the bound on this machine: "
                  "no split of the same work over its cores reaches it; only less work per "
                  "review (or more cores) can."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
