"""Everyday English: variants of the accurate preset on validation and the checklist's dev half.

Each variant is the full ``accurate`` pipeline with a few settings changed, trained on the
22,500-review training split. It is scored on what choices may read: the 2,500-review validation
split, the sentences of those validation reviews (each labelled by its review: a noisy stand-in
for snippets, most sentences of a review carry no opinion), and the dev half of the behavioural
suite (``lstm-sentiment check``; its test half and the official test split are never read here).
Writes bench/results/everyday.json (docs/accurate.md shows the table).

    python bench/everyday.py [--only NAME ...] [--seeds 1 2 ...] [--spread NAME ...]
                             [--threads N] [--quick]

The variants named by ``--spread`` (the preset and the one it replaced) run on every seed of
``--seeds``, to show their spread; the others run on its first seed only.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import default_source, preset_settings, preset_with, spread, write

from lstm_sentiment import augment, data, lexicon
from lstm_sentiment import config as cfg
from lstm_sentiment.checklist import model_scorer, run_suite
from lstm_sentiment.pipeline import run

TITLE = "Accurate preset: everyday English"
ORDER = 26
DOCS = ("docs/accurate.md",)

# name -> (what changes, {section.key: value}), each against the preset as it is now
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "preset": ("the accurate preset as shipped", {}),
    "previous": ("all advice rows, no frame rows (the preset of the model released before)",
                 {"train.augment": ["negation", "degree", "contrast", "advice", "emoji"]}),
    "no-frames": ("no frame rows",
                  {"train.augment": ["negation", "degree", "contrast", "rated-advice", "emoji"]}),
    "all-advice": ("all advice rows, not only a \"don't\" before a rated word",
                   {"train.augment": ["negation", "degree", "contrast", "frames", "advice",
                                      "emoji"]}),
    "no-advice": ("no advice rows", {"train.augment": ["negation", "degree", "contrast",
                                                       "frames", "emoji"]}),
    "reviews-only": ("the preset before everyday English: punctuation text, no lexicon, no word "
                     "dropout, no made rows",
                     {"text.standardize": "punctuation", "text.lexicon": None,
                      "model.lexicon": False, "model.word_dropout": 0.0, "train.augment": []}),
    "negation-only": ("negated twins only (the preset of three models before)",
                      {"train.augment": ["negation"]}),
    "no-made-rows": ("no made rows (twins, frames, advice or emoji rows)",
                     {"train.augment": []}),
    "no-lexicon": ("no VADER words or valences", {"text.lexicon": None, "model.lexicon": False}),
    "punctuation-text": ("punctuation standardization (emoji and elongation kept as they are)",
                         {"text.standardize": "punctuation"}),
    "no-word-dropout": ("no word dropout", {"model.word_dropout": 0.0}),
    "sentences": ("the made rows plus every training sentence labelled by its review",
                  {"train.augment": ["sentences", "negation", "degree", "contrast", "frames",
                                     "rated-advice", "emoji"]}),
}
# the capabilities shown in the table (all are in the results file)
SHOWN = ("negated_positive", "negated_negative", "contrast", "intensity", "informal", "emoji",
         "domains", "recommendation", "typos")


def validation_reviews(source: str) -> Any:
    """The accurate preset's validation split of ``source``."""
    d = cfg.preset("accurate").data
    return data.load(data.fetch(source), "validation", d.validation_split, d.split_seed)


def validation_sentences(split: Any) -> tuple[list[str], np.ndarray]:
    """Every sentence of ``split``'s reviews, labelled by its review."""
    pairs = list(augment.review_sentences(list(split.texts), split.labels.tolist()))
    return [t for t, _ in pairs], np.array([y for _, y in pairs])


def denials(sentences: tuple[list[str], np.ndarray]) -> dict[str, tuple[list[str], np.ndarray]]:
    """Validation sentences negated by the training rules (labels flipped): the negated twins
    (``negation``) and the denied frames (``frames``, "I don't think the plot was dull"), each
    made from validation sentences whose rated word agrees with their review."""
    valences, rng = lexicon.word_valences(), np.random.default_rng(0)
    out: dict[str, tuple[list[str], list[int]]] = {"negation": ([], []), "frames": ([], [])}
    for text, label in zip(*sentences, strict=True):
        found = augment.negated(text, valences, rng)
        if found is None or found[0] != label:
            continue
        out["negation"][0].append(found[1])
        out["negation"][1].append(found[2])
        for made, y in augment.framed(text, int(label), valences, rng)[1:]:
            out["frames"][0].append(made)
            out["frames"][1].append(y)
    return {kind: (texts, np.array(labels)) for kind, (texts, labels) in out.items()}


def accuracy(model: Any, texts: list[str], labels: np.ndarray) -> float:
    p = model.read(texts).probabilities[:, model.labels.index("positive")]
    return float(np.mean((p > 0.5) == labels))


def measure(model: Any, sentences: tuple[list[str], np.ndarray],
            denied: dict[str, tuple[list[str], np.ndarray]]) -> dict[str, Any]:
    report = run_suite(model_scorer(model), "dev")
    metrics = model.info["metrics"]
    return {"validation_accuracy": metrics["validation"]["accuracy"],
            "validation_ece": metrics["validation"].get("ece"),
            "parts": {k: v.get("validation") for k, v in metrics.get("parts", {}).items()},
            "validation_sentences": accuracy(model, *sentences),
            "validation_denied": {kind: round(accuracy(model, *made), 4)
                                  for kind, made in denied.items()},
            "dev": round(report.rate, 4), "dev_ece": report.ece,
            "dev_capabilities": {k: round(v["pass_rate"], 4)
                                 for k, v in report.capabilities.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="run these variants")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    ap.add_argument("--spread", nargs="+", choices=sorted(VARIANTS), metavar="NAME",
                    default=["preset", "previous"],
                    help="variants run on every seed (the others: the first seed only)")
    ap.add_argument("--quick", action="store_true", help="the preset alone, one epoch")
    ap.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    args = ap.parse_args()
    names = args.only or (["preset"] if args.quick else list(VARIANTS))
    sentences = validation_sentences(validation_reviews(args.source))
    denied = denials(sentences)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for seed in args.seeds if name in args.spread else args.seeds[:1]:
                what, overrides = VARIANTS[name]
                config = preset_with("accurate", overrides, args.source, seed=seed,
                                     quick=args.quick)
                config.train.threads = args.threads
                t0 = time.perf_counter()
                model = run(config, Path(tmp) / f"{name}-{seed}", evaluate_test=False,
                            log=lambda line, tag=name: print(f"[{tag}]", line, flush=True))
                rows.append({"name": name, "change": what, "overrides": overrides,
                             "seed": seed, "seconds": time.perf_counter() - t0,
                             **measure(model, sentences, denied)})
                print(f"{name} seed {seed}: validation {rows[-1]['validation_accuracy']:.4f}, "
                      f"dev {rows[-1]['dev']:.4f}", flush=True)
    write("everyday" + ("_quick" if args.quick else ""),
          {"quick": args.quick, "threads": args.threads, "seeds": args.seeds,
           "spread": args.spread, "rows": rows,
           "preset_config": preset_settings("accurate")})


def mean_of(rows: list[dict[str, Any]], key: str) -> float:
    """A figure's mean over the rows (the seeds) of one variant."""
    return float(np.mean([row[key] for row in rows]))


def denied_cell(rows: list[dict[str, Any]], kind: str) -> str:
    """The mean accuracy on validation sentences denied by one rule ("-": not measured)."""
    values = [row["validation_denied"][kind] for row in rows if "validation_denied" in row]
    return f"{np.mean(values):.3f}" if values else "-"


def capability_cells(rows: list[dict[str, Any]], shown: tuple[str, ...]) -> str:
    """Table cells: each shown capability's dev-half pass rate, its mean over the rows."""
    return " | ".join(f"{np.mean([row['dev_capabilities'][c] for row in rows]):.3f}"
                      for c in shown)


def render(r: dict[str, Any]) -> str:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in r["rows"]:
        by_name.setdefault(row["name"], []).append(row)
    seeds = r.get("seeds", [1])
    spread_names = [n for n in r.get("spread", list(by_name)) if len(by_name.get(n, [])) > 1]
    if spread_names:
        which = (f"{', '.join(spread_names)} on seeds {', '.join(map(str, seeds))}, "
                 f"the others on seed {seeds[0]}")
    else:
        which = f"seed {seeds[0]}"
    lines = [f"Variants of the accurate preset, {which}; validation split, the sentences of "
             "validation reviews (labelled by their review) and the checklist's dev half only "
             "(the test half and the official test split are not read). *val. negated* and *val. "
             "frames denied*: validation sentences negated by the training rules, the negated "
             "twins' and the frames' (\"I don't think the plot was dull\"), labels flipped. "
             "Where a variant has several seeds, a cell is their mean.", "",
             "| variant | change | validation | val. sentences | val. negated | val. frames "
             "denied | dev half | " + " | ".join(c.replace("_", " ") for c in SHOWN) + " | s |",
             "|---|---|---|---|---|---|---|" + "---|" * len(SHOWN) + "---|"]

    for name, rows in by_name.items():
        lines.append(f"| {name} | {rows[0]['change']} | "
                     f"{mean_of(rows, 'validation_accuracy'):.4f} | "
                     f"{mean_of(rows, 'validation_sentences'):.3f} | "
                     f"{denied_cell(rows, 'negation')} | {denied_cell(rows, 'frames')} | "
                     f"{mean_of(rows, 'dev'):.3f} | {capability_cells(rows, SHOWN)} | "
                     f"{mean_of(rows, 'seconds'):.0f} |")
    for name, rows in by_name.items():
        if len(rows) > 1:
            lines.append(f"\n{name}: validation {spread([x['validation_accuracy'] for x in rows])}"
                         f"; dev half {spread([x['dev'] for x in rows], fmt='{:.3f}')}")
    if r.get("preset_config") != preset_settings("accurate"):
        lines += ["", "The preset has changed since this table was measured: its `preset` row is "
                  "the preset as it was then. Rerun `python bench/everyday.py`."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
