"""The accurate preset end to end: five seeds, each one ``lstm-sentiment train --preset accurate``
command timed by the wall clock (word vectors, n-gram branch, LSTM, mixing and evaluation
included), then batch-scoring throughput of the first model on the official test reviews.

Reports per seed: validation and official test accuracy of the whole model and of each part
alone (LSTM, n-grams), wall seconds, peak RSS; mean and sd over seeds; scoring reviews/s through
the Python API (reading the texts excluded, tokenizing included) and through ``score_file`` on
a CSV (reading, tokenizing and writing included). Writes bench/results/accurate.json.

    python bench/accurate.py [--seeds 1 2 3 4 5] [--quick] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import SCORE_TARGETS, default_source, mean_sd, run_child, spread, target, write

from lstm_sentiment import data
from lstm_sentiment.predict import SentimentModel
from lstm_sentiment.score import score_file

TITLE = "Accurate preset"
ORDER = 20
DOCS = ("docs/accurate.md",)


def train(source: str, seed: int, out: Path, quick: bool) -> dict[str, object]:
    cmd = [sys.executable, "-m", "lstm_sentiment", "train", "--preset", "accurate",
           "--source", source, "--seed", str(seed), "--out", str(out), "--threads", "2"]
    if quick:
        cmd += ["--epochs", "1"]
    child = run_child(cmd)  # wall time and the training process's own peak RSS
    if child["returncode"]:
        raise SystemExit(f"training seed {seed} failed with exit code {child['returncode']}")
    info = json.loads((out / "config.json").read_text())
    history = json.loads((out / "history.json").read_text())["epochs"]
    m = info["metrics"]
    return {"seed": seed, "wall_seconds": child["seconds"],
            "peak_rss_mb": child["peak_rss_mb"],
            "validation_accuracy": m["validation"]["accuracy"],
            "test_accuracy": m["test"]["accuracy"],
            "lstm_validation_accuracy": m["parts"]["lstm"]["validation"],
            "lstm_test_accuracy": m["parts"]["lstm"]["test"],
            "ngrams_validation_accuracy": m["parts"]["ngrams"]["validation"],
            "ngrams_test_accuracy": m["parts"]["ngrams"]["test"],
            "epoch_seconds": [round(e["seconds"], 2) for e in history]}


def throughput(folder: Path, texts: list[str], tmp: Path) -> dict[str, float]:
    model = SentimentModel.load(folder)
    model.predict_proba(texts[:500])  # warm up
    t0 = time.perf_counter()
    model.predict_proba(texts)
    api = len(texts) / (time.perf_counter() - t0)
    table = tmp / "reviews.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text"])
        w.writerows([t] for t in texts)
    t0 = time.perf_counter()
    score_file(model, table, tmp / "scored.csv")
    cli = len(texts) / (time.perf_counter() - t0)
    return {"api_reviews_per_second": api, "score_file_reviews_per_second": cli,
            "n": len(texts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--quick", action="store_true", help="one seed, one epoch")
    ap.add_argument("--keep", type=Path, help="copy the first seed's model folder here")
    args = ap.parse_args()
    seeds = args.seeds[:1] if args.quick else args.seeds
    runs = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for seed in seeds:
            runs.append(train(args.source, seed, tmp / f"seed{seed}", args.quick))
            print(json.dumps(runs[-1]))
        first = tmp / f"seed{seeds[0]}"
        texts = data.load(data.fetch(args.source), "test").texts
        speed = throughput(first, texts[:5000] if args.quick else texts, tmp)
        if args.keep:
            shutil.copytree(first, args.keep, dirs_exist_ok=True)
    keys = ("validation_accuracy", "test_accuracy", "lstm_validation_accuracy",
            "lstm_test_accuracy", "ngrams_validation_accuracy", "ngrams_test_accuracy",
            "wall_seconds")
    result = {"quick": args.quick, "seeds": seeds, "runs": runs,
              **{k: mean_sd([float(r[k]) for r in runs]) for k in keys},
              "scoring": speed}
    print(f"accurate: test {spread(result['test_accuracy']['values'])}; LSTM alone "
          f"{result['lstm_test_accuracy']['mean']:.4f}; scoring "
          f"{speed['score_file_reviews_per_second']:.0f} reviews/s")
    write("accurate" + ("_quick" if args.quick else ""), result)


SEEDS_VARY = ("Between seeds only `--seed` changes: the LSTM's initial weights, dropout, the batch "
              "order and the word vectors' randomized SVD; the training/validation split and the "
              "n-gram branch's fit are the same for every seed.")


def _accuracy_table(r: dict[str, Any]) -> list[str]:
    def cell(key: str) -> str:
        return spread(r[key]["values"])

    return ["| | validation accuracy | official test accuracy |", "|---|---|---|",
            f"| whole model (LSTM + n-grams) | {cell('validation_accuracy')} | "
            f"{cell('test_accuracy')} |",
            f"| its LSTM alone | {cell('lstm_validation_accuracy')} | "
            f"{cell('lstm_test_accuracy')} |",
            f"| its n-gram branch alone | {cell('ngrams_validation_accuracy')} | "
            f"{cell('ngrams_test_accuracy')} |"]


def _scoring(r: dict[str, Any]) -> str:
    sc = r["scoring"]
    return (f"Scoring the {sc['n']:,} test reviews with the seed-{r['seeds'][0]} model: "
            f"{sc['api_reviews_per_second']:,.0f} reviews/s through `predict_proba` (tokenizing "
            "included); through `score` on a CSV (reading and writing included) "
            + target(sc["score_file_reviews_per_second"], SCORE_TARGETS["accurate"],
                     higher_is_better=True, unit="reviews/s") + ".")


def _intro(r: dict[str, Any]) -> str:
    seeds = ", ".join(str(s) for s in r["seeds"])
    return (f"One `lstm-sentiment train --preset accurate` command per seed (seeds {seeds}); "
            "trained on 22,500 reviews, validated on 2,500, tested on the official 25,000. "
            + SEEDS_VARY)


def render(r: dict[str, Any]) -> str:
    lines = [_intro(r), "", *_accuracy_table(r), "",
             "| seed | test accuracy | wall time, whole command (s) | peak RSS (MB) |",
             "|---|---|---|---|"]
    for run in r["runs"]:
        rss = f"{run['peak_rss_mb']:,.0f}" if run.get("peak_rss_mb") else "–"
        lines.append(f"| {run['seed']} | {run['test_accuracy']:.4f} | "
                     f"{run['wall_seconds']:.0f} | {rss} |")
    return "\n".join([*lines, "", _scoring(r)])


def summary(r: dict[str, Any]) -> str:
    return "\n".join([_intro(r), "", *_accuracy_table(r), "", _scoring(r)])


if __name__ == "__main__":
    main()
