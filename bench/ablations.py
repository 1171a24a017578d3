"""Ablations of the accurate preset: change one setting at a time, measure validation accuracy.

Every variant is the full ``accurate`` pipeline with one override, trained on the 22,500-review
training split and scored on its 2,500-review validation split only: choices are made on
validation, never on the official test split, so this script never reads ``test/``. Reports, per
variant, validation accuracy of the whole model and of each part alone, and wall seconds for
the training run. Writes bench/results/ablations.json (docs/accurate.md shows the table).

    python bench/ablations.py [--only NAME ...] [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from common import default_source, preset_settings, preset_with, write

from lstm_sentiment.pipeline import run

TITLE = "Accurate preset: ablations"
ORDER = 25
DOCS = ("docs/accurate.md",)

# name -> (what changes, {section.key: value})
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "preset": ("the accurate preset as shipped", {}),
    "no-ngrams": ("no n-gram branch (the LSTM alone)", {"model.ngram_features": 0}),
    "tutorial-text": ("the tutorial's standardization: punctuation dropped, not kept as tokens",
                      {"text.standardize": "tutorial"}),
    "bigrams": ("n-grams of at most 2 words instead of 3", {"model.ngram_order": 2}),
    "ngrams-800k": ("the 800,000 most frequent n-grams instead of 200,000",
                    {"model.ngram_features": 800_000}),
    "length-400": ("400 tokens for both parts instead of 1,000 (n-grams of the head only)",
                   {"text.sequence_length": 400}),
    "lstm-1000": ("the LSTM reads all 1,000 tokens instead of the first 400",
                  {"model.lstm_length": None}),
    "random-embedding": ("no PPMI-SVD word vectors (Keras's random start)",
                         {"train.word_vectors": None}),
    "forward-last": ("one forward LSTM, last state (the tutorial's reading)",
                     {"model.bidirectional": False, "model.pooling": "last"}),
    "epochs-4": ("4 epochs instead of 2", {"train.epochs": 4}),
    "lr-3e-3": ("peak learning rate 3e-3 instead of 1e-2", {"train.learning_rate": 3e-3}),
    "dropout-0": ("no dropout instead of 0.5", {"model.dropout": 0.0}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="run these variants")
    ap.add_argument("--quick", action="store_true", help="preset and no-ngrams, one epoch")
    ap.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    args = ap.parse_args()
    names = args.only or (["preset", "no-ngrams"] if args.quick else list(VARIANTS))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            what, overrides = VARIANTS[name]
            config = preset_with("accurate", overrides, args.source, quick=args.quick)
            config.train.threads = args.threads
            t0 = time.perf_counter()
            model = run(config, Path(tmp) / name, evaluate_test=False,
                        log=lambda line, tag=name: print(f"[{tag}]", line))
            seconds = time.perf_counter() - t0
            m = model.info["metrics"]
            parts = m.get("parts", {})
            rows.append({"name": name, "change": what, "overrides": overrides,
                         "validation_accuracy": m["validation"]["accuracy"],
                         "lstm_validation_accuracy": parts.get("lstm", {}).get("validation"),
                         "ngrams_validation_accuracy":
                             parts.get("ngrams", {}).get("validation"),
                         "seconds": seconds})
            print(f"{name}: validation {rows[-1]['validation_accuracy']:.4f} "
                  f"in {seconds:.0f}s")
    write("ablations" + ("_quick" if args.quick else ""),
          {"quick": args.quick, "threads": args.threads, "rows": rows,
           "preset_config": preset_settings("accurate")})


def render(r: dict[str, Any]) -> str:
    threads = (f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}" if r.get("threads")
               else "all cores")
    lines = ["Ablations of the accurate preset, one change at a time, one run each (seed 1), "
             f"validation split only, {threads}:", "",
             "| variant | change | validation accuracy | LSTM alone | n-grams alone | "
             "wall time (s) |", "|---|---|---|---|---|---|"]

    def cell(v: float | None) -> str:
        return "–" if v is None else f"{v:.4f}"

    for row in r["rows"]:
        lines.append(f"| {row['name']} | {row['change']} | {row['validation_accuracy']:.4f} | "
                     f"{cell(row['lstm_validation_accuracy'])} | "
                     f"{cell(row['ngrams_validation_accuracy'])} | {row['seconds']:.0f} |")
    if r.get("preset_config") != preset_settings("accurate"):
        lines += ["", "The preset has changed since this table was measured (or the run recorded "
                  "no settings): its `preset` row is the preset as it was then. Rerun "
                  "`python bench/ablations.py` for current figures."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
