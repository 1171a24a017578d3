"""Worker for bench/peers.py: linear baselines on word n-grams with scikit-learn.

Two contenders, one per run (``--model``), trained on the split of the preset they are compared
with (``--split``, default ``accurate``: its 22,500 training reviews, the same files as the
accurate preset's; ``seed``: the tutorial's 18,750) and scored on that split's validation
reviews and the official 25,000-review test split:

- ``tfidf``: TF-IDF (sublinear tf) of word n-grams -> logistic regression.
- ``nbsvm``: NBSVM-style logistic regression (Wang & Manning 2012): binary n-gram features
  scaled by their naive-Bayes log-count ratio, then logistic regression.

Their settings (text, n-gram order, which n-grams, C) are :data:`SETTINGS`: each model's best in
the project's own five-fold cross-validation on the training reviews (bench/ngram_cv.py), never
chosen on the test split. Reports fit time (vectorizer + classifier), validation and test
accuracy, single-review latency (``predict_proba`` on one text, median of 20) and batch
throughput (``predict_proba`` on the 25,000 test reviews, vectorizing included).

    python bench/peer_sklearn.py --model tfidf|nbsvm [--split accurate|seed] [--quick]
        [--source SRC] [--out result.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from typing import Any

import numpy as np
from common import default_source, dump, median_ms, peak_rss_mb
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from lstm_sentiment import config as cfg
from lstm_sentiment import data
from lstm_sentiment.text import standardized

BENCHMARK = False  # a worker run by peers.py
QUICK = {"train": 2_000, "test": 2_000}  # --quick: this many reviews (a smoke test)
SENTENCE = "This movie is fantastic! I really like it because it is so good!"

# The linear peers' settings, in one place: for each model the row of bench/ngram_cv.py's
# five-fold cross-validation on the training reviews that scored best (bench/results/ngram_cv.json;
# its section says whether these are still the best rows). "standardize" is the package's
# (punctuation: marks kept as tokens, as the accurate preset reads text), "order" the longest
# n-gram, "max_features" the n-grams found in the most training reviews (None: every one found in
# at least two).
SETTINGS: dict[str, dict[str, Any]] = {
    "tfidf": {"cv_row": "tfidf-punct-3-C64", "standardize": "punctuation", "order": 3,
              "max_features": None, "C": 64.0},
    "nbsvm": {"cv_row": "nb-punct-3-200k-a0.5", "standardize": "punctuation", "order": 3,
              "max_features": 200_000, "C": 0.1, "alpha": 0.5},
}


class NBLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression on features scaled by the naive-Bayes log-count ratio r."""

    def __init__(self, alpha: float = 1.0, C: float = 1.0) -> None:
        self.alpha = alpha
        self.C = C

    def fit(self, X: sparse.csr_matrix, y: np.ndarray) -> NBLogisticRegression:
        y = np.asarray(y)
        p = self.alpha + np.asarray(X[y == 1].sum(axis=0)).ravel()
        q = self.alpha + np.asarray(X[y == 0].sum(axis=0)).ravel()
        self.r_ = np.log((p / p.sum()) / (q / q.sum()))
        self.lr_ = LogisticRegression(C=self.C, solver="liblinear", dual=True, max_iter=1000)
        self.lr_.fit(X.multiply(self.r_).tocsr(), y)
        self.classes_ = self.lr_.classes_
        return self

    def predict_proba(self, X: sparse.csr_matrix) -> np.ndarray:
        return self.lr_.predict_proba(X.multiply(self.r_).tocsr())

    def predict(self, X: sparse.csr_matrix) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def vectorizer_args(standardize: str, order: int,
                    max_features: int | None = None) -> dict[str, Any]:
    """What both vectorizers share: the package's standardization as the tokenizer, n-grams of
    1..``order`` words, those in at least two training reviews (or the ``max_features`` found
    in the most)."""
    return {"tokenizer": partial(standardized, standardize=standardize), "token_pattern": None,
            "lowercase": False, "ngram_range": (1, order), "min_df": 2,
            "max_features": max_features, "dtype": np.float32}


def make(model: str, settings: dict[str, Any] | None = None) -> Pipeline:
    s = settings or SETTINGS[model]
    common = vectorizer_args(s["standardize"], s["order"], s["max_features"])
    if model == "tfidf":
        return Pipeline([("tfidf", TfidfVectorizer(sublinear_tf=True, **common)),
                         ("lr", LogisticRegression(C=s["C"], solver="liblinear", dual=True,
                                                   max_iter=1000))])
    if model == "nbsvm":
        return Pipeline([("counts", CountVectorizer(binary=True, **common)),
                         ("nblr", NBLogisticRegression(alpha=s["alpha"], C=s["C"]))])
    raise ValueError(model)


LABELS = {"tfidf": "TF-IDF + logistic regression", "nbsvm": "NBSVM-style logistic regression"}


def split_of(preset: str) -> tuple[float, int]:
    """The validation fraction and seed of ``preset``'s training/validation split."""
    d = cfg.preset(preset).data
    return d.validation_split, d.split_seed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(LABELS), required=True)
    ap.add_argument("--split", choices=sorted(cfg.PRESETS), default="accurate",
                    help="train and validate on this preset's split (default: accurate)")
    ap.add_argument("--quick", action="store_true",
                    help=f"train on {QUICK['train']:,} reviews, test on {QUICK['test']:,}")
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--out", help="write the JSON result here (default: stdout)")
    args = ap.parse_args()

    import sklearn

    root = data.fetch(args.source)
    fraction, seed = split_of(args.split)
    train, val, test = (data.load(root, s, fraction, seed)
                        for s in ("train", "validation", "test"))
    train_texts, train_y = train.texts, np.asarray(train.labels)
    test_texts, test_y = test.texts, np.asarray(test.labels)
    if args.quick:  # both classes: the test files are sorted negatives first
        train_texts, train_y = train_texts[: QUICK["train"]], train_y[: QUICK["train"]]
        pick = np.linspace(0, len(test_y) - 1, QUICK["test"]).astype(int)
        test_texts, test_y = [test_texts[i] for i in pick], test_y[pick]
    pipe = make(args.model)
    t = time.perf_counter()
    pipe.fit(train_texts, train_y)
    fit_seconds = time.perf_counter() - t
    n_features = len(pipe.steps[0][1].vocabulary_)
    val_acc = float(np.mean(pipe.predict(val.texts) == val.labels))
    pipe.predict_proba(test_texts[:1000])  # warm up
    t = time.perf_counter()
    probs = pipe.predict_proba(test_texts)
    batch_seconds = time.perf_counter() - t
    test_acc = float(np.mean(probs.argmax(axis=1) == test_y))
    single_ms = median_ms(lambda: pipe.predict_proba([SENTENCE]), repeats=20, warmup=1)
    result = {
        "name": args.model,
        "label": LABELS[args.model],
        "split": args.split,
        "quick": args.quick,
        "n_train": len(train_y),
        "n_validation": len(val),
        "n_features": n_features,
        "train_seconds": fit_seconds,
        "fit_seconds": fit_seconds,
        "epoch_seconds": None,
        "validation_accuracy": val_acc,
        "test_accuracy": test_acc,
        "n_test": len(test_y),
        "single_review_latency_ms": single_ms,
        "batch_reviews_per_second": len(test_y) / batch_seconds,
        "peak_rss_mb_self": peak_rss_mb(),
        "versions": {"scikit-learn": sklearn.__version__, "python": sys.version.split()[0]},
        "settings": SETTINGS[args.model],
        "params": {k: str(v) for k, v in pipe.get_params().items() if "__" in k
                   and not k.endswith(("preprocessor", "tokenizer"))},
    }
    print(f"{LABELS[args.model]}: validation {val_acc:.4f}, test {test_acc:.4f}, "
          f"fit {fit_seconds:.1f} s, {n_features:,} features", file=sys.stderr)
    dump(result, args.out)


if __name__ == "__main__":
    main()
