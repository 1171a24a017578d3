"""The behavioural checklist (``lstm_sentiment.checklist``) for our models and peers, both halves.

Contenders, every one scored through the same ``list[str] -> p(positive)`` scorer:

- ``bundled``: the packaged model (``SentimentModel.load("bundled")``, accurate preset).
- ``seed``: the seed preset trained here on the IMDB training reviews (10 epochs; ``--quick``: 1),
  or the model folder given by ``--seed-model DIR``.
- ``nbsvm``, ``tfidf``: bench/peer_sklearn.py's pipelines, fitted on the tutorial's 18,750-review
  training split (``--quick``: 2,000 of them). A text none of whose n-grams the vectorizer knows
  gets no label (NaN), as our models do for a text with no known word.
- ``vader``: the VADER lexicon (``vaderSentiment``, no training); p(positive) = (compound + 1) / 2,
  so a text with no sentiment word scores exactly 0.5, which the checklist counts as no verdict.

fastText is not among them: the ``fasttext`` package on PyPI is a source distribution only (it
compiles C++ on install), and the wheels of ``fasttext-wheel`` are a third party's repackaging.

Writes bench/results/checklist.json (``checklist_quick.json`` with ``--quick``); ``render(result)``
gives the markdown section for bench/README.md.

    python bench/checklist.py [--quick] [--seed-model DIR] [--source SRC]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from common import default_source, write

from lstm_sentiment import data, load
from lstm_sentiment.checklist import HALVES, TYPES, load_suite, model_scorer, run_suite

TITLE = "Behavioural checklist"
ORDER = 35
DOCS = ("docs/checklist.md",)
Scorer = Callable[[list[str]], np.ndarray]
LABELS = {"bundled": "bundled (accurate preset)", "seed": "seed preset",
          "nbsvm": "NBSVM-style LR", "tfidf": "TF-IDF + LR", "vader": "VADER"}


def seed_scorer(source: str, epochs: int, folder: str | None, tmp: Path) -> tuple[Scorer, dict]:
    from lstm_sentiment import config as cfg
    from lstm_sentiment import train

    if folder:
        model = load(folder)
        return model_scorer(model), {"model": folder}
    config = cfg.preset("seed")
    config.data.source = source
    config.train.epochs = epochs
    t = time.perf_counter()
    model = train(config, tmp / "seed", evaluate_test=False, log=lambda line: print("[seed]", line))
    info = {"model": f"trained here, {epochs} epochs", "train_seconds": time.perf_counter() - t,
            "validation_accuracy": model.info["metrics"]["validation"]["accuracy"]}
    return model_scorer(model), info


def sklearn_scorer(name: str, texts: list[str], labels: np.ndarray,
                   positive: int) -> tuple[Scorer, dict]:
    from peer_sklearn import make

    pipe = make(name)
    t = time.perf_counter()
    pipe.fit(texts, labels)
    info = {"train_seconds": time.perf_counter() - t, "n_train": len(texts)}
    vectorizer = pipe.steps[0][1]
    column = list(pipe.classes_).index(positive)

    def score(batch: list[str]) -> np.ndarray:
        p = pipe.predict_proba(batch)[:, column].astype(np.float64)
        p[vectorizer.transform(batch).getnnz(axis=1) == 0] = np.nan  # nothing it knows
        return p

    return score, info


def vader_scorer() -> tuple[Scorer, dict] | None:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        print("skipping VADER: pip install vaderSentiment (in the dev extra)")
        return None
    import importlib.metadata

    analyzer = SentimentIntensityAnalyzer()

    def score(batch: list[str]) -> np.ndarray:
        return np.array([(analyzer.polarity_scores(t)["compound"] + 1) / 2 for t in batch])

    return score, {"version": importlib.metadata.version("vaderSentiment")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--seed-model", metavar="DIR", help="score this seed model, train none")
    ap.add_argument("--quick", action="store_true",
                    help="seed 1 epoch, peers on 2,000 reviews: a smoke test")
    args = ap.parse_args()
    start = time.perf_counter()
    suite = load_suite()
    root = data.fetch(args.source)
    train_set = data.load(root, "train")
    texts, labels = list(train_set.texts), train_set.labels  # read from disk once
    if args.quick:
        keep = np.random.default_rng(0).permutation(len(texts))[:2000]
        texts, labels = [texts[i] for i in keep], labels[keep]
    positive = train_set.class_names.index("pos")

    contenders: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        makers: dict[str, Callable[[], tuple[Scorer, dict] | None]] = {
            "bundled": lambda: (model_scorer(load("bundled")), {"model": "bundled"}),
            "seed": lambda: seed_scorer(args.source, 1 if args.quick else 10, args.seed_model,
                                        Path(tmp)),
            "nbsvm": lambda: sklearn_scorer("nbsvm", texts, labels, positive),
            "tfidf": lambda: sklearn_scorer("tfidf", texts, labels, positive),
            "vader": vader_scorer,
        }
        for name, make_scorer in makers.items():
            made = make_scorer()
            if made is None:
                continue
            scorer, info = made
            entry: dict[str, Any] = {"name": name, "label": LABELS[name], **info}
            for half in HALVES:
                t = time.perf_counter()
                entry[half] = run_suite(scorer, half, suite=suite).to_dict()
                entry[f"{half}_seconds"] = time.perf_counter() - t
            contenders.append(entry)
            print(f"{LABELS[name]}: dev {entry['dev']['pass_rate']:.1%}, "
                  f"test {entry['test']['pass_rate']:.1%}", flush=True)
    result = {"quick": args.quick,
              "cases": {half: len(suite.cases(half)) for half in HALVES},
              "capabilities": {c.name: {"type": c.type, "description": c.description}
                               for c in suite.capabilities},
              "contenders": contenders, "seconds": time.perf_counter() - start}
    path = write("checklist" + ("_quick" if args.quick else ""), result)
    print(render(json.loads(path.read_text())))


def _table(result: dict, half: str) -> list[str]:
    contenders = result["contenders"]
    lines = ["| capability | type | cases | " + " | ".join(c["label"] for c in contenders) + " |",
             "|---|---|---|" + "---|" * len(contenders)]
    first = contenders[0][half]
    for name, row in first["capabilities"].items():
        cells = [f"{100 * c[half]['capabilities'][name]['pass_rate']:.0f}%" for c in contenders]
        lines.append(f"| {name} | {row['type']} | {row['n']} | " + " | ".join(cells) + " |")
    for kind in TYPES:
        if kind in first["types"]:
            cells = [f"{100 * c[half]['types'][kind]['pass_rate']:.1f}%" for c in contenders]
            lines.append(f"| **all {kind}** | | {first['types'][kind]['n']} | "
                         + " | ".join(cells) + " |")
    cells = [f"**{100 * c[half]['pass_rate']:.1f}%**" for c in contenders]
    lines.append(f"| **overall** | | {first['n']} | " + " | ".join(cells) + " |")
    return lines


def render(result: dict) -> str:
    """The section for bench/README.md and docs/checklist.md (render.py adds the heading and
    where the figures come from): pass rates per capability and model, the test half first (for
    reporting), then the dev half (the one to tune on)."""
    about = []
    for c in result["contenders"]:
        if "validation_accuracy" in c:
            about.append(f"{c['label']}: {c['model']} (validation accuracy "
                         f"{c['validation_accuracy']:.4f})")
        elif "n_train" in c:
            about.append(f"{c['label']}: fitted on {c['n_train']:,} IMDB training reviews")
        elif "version" in c:
            about.append(f"{c['label']} {c['version']}: a lexicon, no training")
    lines = [f"Pass rates of `lstm-sentiment check` per capability "
             f"(see `docs/checklist.md`), {result['seconds']:.0f} s in all, "
             "training included. " + "; ".join(about) + ". "
             "MFT: the expected label; INV: the label does not change; DIR: p(positive) moves "
             "the expected way. A text a model gives no label (no word it knows) fails its "
             "case; VADER's 0.5 (no sentiment word) is no verdict.", "",
             f"Test half ({result['cases']['test']} cases; for reporting only):", "",
             *_table(result, "test"), "",
             f"Dev half ({result['cases']['dev']} cases; the half to tune and choose on):", "",
             *_table(result, "dev")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
