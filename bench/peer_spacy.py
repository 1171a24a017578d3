"""Worker for bench/peers.py: spaCy's ``textcat`` trained from scratch, timed.

spaCy 3 (no dependency of the package: :func:`available` says whether this Python has it, and
bench/peers.py skips the spaCy contenders with its message when not), a blank English pipeline
(its tokenizer only: no pretrained vectors, no pretrained pipeline) with one ``textcat``
component (exclusive classes), trained on the split of the preset it is compared with
(``--split``, default ``accurate``: 22,500 training reviews; ``seed``: the tutorial's 18,750),
validated on that split's validation reviews after every epoch and at the cap, and scored on the
official 25,000 test reviews:

- ``--arch bow``: ``spacy.TextCatBOW.v3``, a linear model over hashed word n-grams
  (``--ngram-size``, default :data:`BOW_NGRAMS`).
- ``--arch ensemble``: ``spacy.TextCatEnsemble.v2``, spaCy's default ``textcat`` model: that bag
  of words (unigrams) plus an attention-pooled CNN over ``tok2vec`` (hash embeddings of
  NORM/LOWER/PREFIX/SUFFIX/SHAPE, width 64, maxout window encoder of depth 2), mixed.

Training follows spaCy's own defaults where it has them: Adam at 1e-3 (L2 0.01, gradient norm
clipped at 1), dropout 0.1, and batches of 4 growing to 32 reviews. Training stops after
``--epochs`` epochs or when ``--max-minutes`` of wall time have passed, whichever comes first (a
stop mid-epoch is recorded as a capped run, with the steps and reviews done); the model as it
is then is the one validated and tested. Validation runs ``nlp.pipe`` in one process (starting
more cost more than they saved on 2,500 reviews), the test split in as many as there are usable
cores, at most two (our models and Keras use two threads).

    python bench/peer_spacy.py --arch bow|ensemble [--max-minutes 30] [--epochs N] [--quick]
        [--no-test] [--split accurate|seed] [--source SRC] [--out result.json]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from common import default_source, dump, median_ms, peak_rss_mb, usable_cores
from peer_sklearn import split_of

from lstm_sentiment import config as cfg
from lstm_sentiment import data

BENCHMARK = False  # a worker run by peers.py
SENTENCE = "This movie is fantastic! I really like it because it is so good!"
LABELS = ("negative", "positive")  # IMDB's neg/pos folders, in class order
BOW_NGRAMS = 2  # word n-grams of the bow model (spaCy's default is 1)
DROPOUT = 0.1  # spaCy's default training config
BATCH_START, BATCH_STOP, BATCH_RATE = 4.0, 32.0, 1.001  # spaCy's compounding batch sizes
QUICK = {"train": 1_000, "validation": 500, "test": 1_000, "minutes": 1.0}
REQUIREMENT = "spacy>=3.7,<4"


def available() -> tuple[bool, str]:
    """Whether this Python has spaCy 3: its version, or why not."""
    import importlib.util
    from importlib import metadata

    if importlib.util.find_spec("spacy") is None:
        return False, (f"spaCy is not installed in {sys.executable}; it is no dependency of "
                       f"lstm-sentiment: `pip install '{REQUIREMENT}'` there to run this peer")
    version = metadata.version("spacy")
    if not version.startswith("3."):
        return False, f"spaCy {version} in {sys.executable}; this peer needs {REQUIREMENT}"
    return True, version


def model_config(arch: str, ngram_size: int) -> dict[str, Any]:
    from spacy.pipeline.textcat import DEFAULT_SINGLE_TEXTCAT_MODEL

    if arch == "ensemble":  # spaCy's default single-label textcat model, exclusive classes
        return DEFAULT_SINGLE_TEXTCAT_MODEL
    return {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True,
            "ngram_size": ngram_size, "no_output_layer": False, "length": 262144}


def accuracy(nlp: Any, texts: Sequence[str], labels: np.ndarray, processes: int) -> float:
    return float(np.mean(predict(nlp, texts, processes) == labels))


def predict(nlp: Any, texts: Sequence[str], processes: int) -> np.ndarray:
    docs = nlp.pipe(texts, batch_size=64, n_process=processes)
    return np.array([int(doc.cats["positive"] > doc.cats["negative"]) for doc in docs])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=("bow", "ensemble"), required=True)
    ap.add_argument("--ngram-size", type=int, default=BOW_NGRAMS, help="bow only")
    ap.add_argument("--epochs", type=int, default=10, help="at most this many epochs")
    ap.add_argument("--max-minutes", type=float, default=30.0,
                    help="stop training after this much wall time (default 30)")
    ap.add_argument("--split", choices=sorted(cfg.PRESETS), default="accurate")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true",
                    help=f"{QUICK['train']:,} training reviews, {QUICK['minutes']:g} minutes "
                         "at most, a part of validation and test (checks that it works)")
    ap.add_argument("--no-test", action="store_true",
                    help="validation only, for choosing a setting (the test split is not read)")
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--out", help="write the JSON result here (default: stdout)")
    args = ap.parse_args()

    import spacy
    from spacy.training import Example
    from spacy.util import compounding, fix_random_seed, minibatch
    from thinc.api import Adam

    fix_random_seed(args.seed)
    root = data.fetch(args.source)
    fraction, split_seed = split_of(args.split)
    train, val = (data.load(root, s, fraction, split_seed) for s in ("train", "validation"))
    train_texts, train_y = list(train.texts), np.asarray(train.labels)
    val_texts, val_y = list(val.texts), np.asarray(val.labels)
    test_texts: list[str] = []
    test_y = np.zeros(0, dtype=np.int64)
    if not args.no_test:
        test = data.load(root, "test")
        test_texts, test_y = list(test.texts), np.asarray(test.labels)
    minutes = args.max_minutes
    if args.quick:
        train_texts, train_y = train_texts[: QUICK["train"]], train_y[: QUICK["train"]]
        val_texts, val_y = val_texts[: QUICK["validation"]], val_y[: QUICK["validation"]]
        # both classes: the test files are sorted negatives first
        if test_texts:
            pick = np.linspace(0, len(test_texts) - 1, QUICK["test"]).astype(int)
            test_texts, test_y = [test_texts[i] for i in pick], test_y[pick]
        minutes = min(minutes, QUICK["minutes"])
    processes = max(1, min(usable_cores() or 1, 2))  # for the test split

    nlp = spacy.blank("en")
    textcat = nlp.add_pipe("textcat", config={"model": model_config(args.arch,
                                                                      args.ngram_size)})
    for label in LABELS:
        textcat.add_label(label)
    t_start = time.perf_counter()
    examples = [Example.from_dict(nlp.make_doc(text), {"cats": {
        name: float(y == k) for k, name in enumerate(LABELS)}})
        for text, y in zip(train_texts, train_y, strict=True)]
    tokenize_seconds = time.perf_counter() - t_start
    optimizer = Adam(learn_rate=0.001, L2=0.01, grad_clip=1.0, use_averages=False)
    nlp.initialize(lambda: examples[:500], sgd=optimizer)

    rng = random.Random(args.seed)
    deadline = t_start + 60.0 * minutes
    epochs: list[dict[str, Any]] = []
    steps = reviews = words = 0
    capped = False
    sizes = compounding(BATCH_START, BATCH_STOP, BATCH_RATE)
    for epoch in range(1, args.epochs + 1):
        rng.shuffle(examples)
        losses: dict[str, float] = {}
        t_epoch = time.perf_counter()
        for batch in minibatch(examples, size=sizes):
            nlp.update(batch, drop=DROPOUT, sgd=optimizer, losses=losses)
            steps += 1
            reviews += len(batch)
            words += sum(len(eg.reference) for eg in batch)
            if time.perf_counter() >= deadline:
                capped = True
                break
        seconds = time.perf_counter() - t_epoch
        done = reviews - sum(e["reviews"] for e in epochs)
        val_acc = accuracy(nlp, val_texts, val_y, 1)
        epochs.append({"epoch": epoch, "complete": not capped, "reviews": done,
                       "seconds": seconds, "loss": losses.get("textcat"),
                       "validation_accuracy": val_acc})
        print(f"[spacy-{args.arch}] epoch {epoch}{' (capped)' if capped else ''}: "
              f"{done:,} reviews in {seconds:.0f} s, validation {val_acc:.4f}",
              file=sys.stderr, flush=True)
        if capped or time.perf_counter() >= deadline:
            capped = capped or epoch < args.epochs
            break
    train_seconds = sum(e["seconds"] for e in epochs) + tokenize_seconds
    if args.no_test:
        dump({"name": f"spacy-{args.arch}", "ngram_size": args.ngram_size, "epoch_log": epochs,
              "train_seconds": train_seconds}, args.out)
        return

    predict(nlp, test_texts[:200], 1)  # warm up
    t = time.perf_counter()
    test_pred = predict(nlp, test_texts, processes)
    batch_seconds = time.perf_counter() - t
    test_acc = float(np.mean(test_pred == test_y))
    single_ms = median_ms(lambda: nlp(SENTENCE), repeats=20, warmup=1)
    full_epochs = sum(e["complete"] for e in epochs)
    result = {
        "name": f"spacy-{args.arch}",
        "label": f"spaCy textcat, {'bag of words' if args.arch == 'bow' else 'ensemble'} "
                 f"(spaCy {spacy.__version__})",
        "arch": args.arch,
        "model": model_config(args.arch, args.ngram_size),
        "split": args.split,
        "quick": args.quick,
        "n_train": len(train_texts),
        "n_validation": len(val_texts),
        "max_minutes": minutes,
        "max_epochs": args.epochs,
        "capped": capped,
        "epochs_done": full_epochs,
        "epoch_fraction": reviews / len(train_texts),
        "steps": steps,
        "reviews_seen": reviews,
        "words_per_second": words / max(sum(e["seconds"] for e in epochs), 1e-9),
        "epochs": len(epochs),
        "epoch_log": epochs,
        "train_seconds": train_seconds,
        "tokenize_seconds": tokenize_seconds,
        "epoch_seconds": (float(np.median([e["seconds"] for e in epochs if e["complete"]]))
                          if full_epochs else None),
        "validation_accuracy": epochs[-1]["validation_accuracy"],
        "test_accuracy": test_acc,
        "n_test": len(test_y),
        "single_review_latency_ms": single_ms,
        "batch_reviews_per_second": len(test_y) / batch_seconds,
        "scoring_processes": processes,
        "peak_rss_mb_self": peak_rss_mb(),
        "training": {"optimizer": "Adam(learn_rate=0.001, L2=0.01, grad_clip=1.0)",
                     "dropout": DROPOUT, "batch_sizes": [BATCH_START, BATCH_STOP, BATCH_RATE],
                     "seed": args.seed},
        "versions": {"spacy": spacy.__version__, "python": sys.version.split()[0]},
    }
    dump(result, args.out)


def render_lines(r: dict[str, Any]) -> list[str]:
    """bench/peers.py's lines on its spaCy contenders: how far each trained before the cap."""
    lines = []
    for c in r["contenders"]:
        if not c["name"].startswith("spacy-"):
            continue
        cap = f"**capped** at {c['max_minutes']:g} minutes of training: "
        how = (cap + f"{c['epoch_fraction']:.2f} of an epoch" if c["capped"]
               and c["epoch_fraction"] < 1 else
               cap + f"{c['epochs_done']} full epochs ({c['epoch_fraction']:.2f} epochs' "
               "reviews)" if c["capped"] else
               f"{c['epochs_done']} epochs (the most it was given), not capped")
        lines.append(f"- {c['label']}: {how}, {c['steps']:,} steps, {c['reviews_seen']:,} "
                     f"reviews, {c['train_seconds']:.0f} s (tokenizing included; "
                     f"{c['words_per_second']:,.0f} words/s in training); validation "
                     f"{c['validation_accuracy']:.4f}, test {c['test_accuracy']:.4f}.")
    if lines:
        lines = ["", f"spaCy {r.get('spacy')}, blank English pipeline (no pretrained vectors or "
                 f"model), `textcat` with exclusive classes, Adam 1e-3, dropout {DROPOUT:g}, "
                 f"batches of {BATCH_START:g} growing to {BATCH_STOP:g} reviews; the model as it "
                 "stood when training stopped is the one validated and tested:", "", *lines]
    return lines


if __name__ == "__main__":
    main()
