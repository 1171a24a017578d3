"""Worker for bench/peers.py: linear baselines on word uni+bigrams with scikit-learn.

Two contenders, one per run (``--model``), trained on the tutorial's 18,750-review training split
(the same files as ours and Keras's) and scored on its 6,250-review validation split and the
official 25,000-review test split:

- ``tfidf``: TF-IDF of word unigrams and bigrams (sublinear tf, words in >= 2 reviews) ->
  logistic regression.
- ``nbsvm``: NBSVM-style logistic regression (Wang & Manning 2012): binary uni+bigram features
  scaled by their naive-Bayes log-count ratio, then logistic regression.

Both read text with the tutorial's standardization (ASCII lowercase, ``<br />`` removed,
punctuation removed, split on whitespace). Hyperparameters are fixed (picked once on the
validation split, never on test). Reports fit time (vectorizer + classifier), validation and test
accuracy, single-review latency (``predict_proba`` on one text, median of 20) and batch throughput
(``predict_proba`` on the 25,000 test reviews, vectorizing included).

    python bench/peer_sklearn.py --model tfidf|nbsvm [--source SRC] [--out result.json]
"""

from __future__ import annotations

import argparse
import re
import string
import sys
import time

import numpy as np
from common import default_source, dump, median_ms, peak_rss_mb
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from lstm_sentiment import data

BENCHMARK = False  # a worker run by peers.py
SENTENCE = "This movie is fantastic! I really like it because it is so good!"
_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def standardize(text: str) -> str:
    """The tutorial's ``remove_br``: ASCII lowercase, drop ``<br />``, drop punctuation."""
    return _PUNCT.sub("", text.translate(_ASCII_LOWER).replace("<br />", ""))


def split_words(text: str) -> list[str]:
    return text.split()


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


def make(model: str) -> Pipeline:
    common = {"preprocessor": standardize, "tokenizer": split_words, "token_pattern": None,
              "lowercase": False, "ngram_range": (1, 2), "min_df": 2, "dtype": np.float32}
    if model == "tfidf":
        return Pipeline([("tfidf", TfidfVectorizer(sublinear_tf=True, **common)),
                         ("lr", LogisticRegression(C=8.0, solver="liblinear", max_iter=1000))])
    if model == "nbsvm":
        return Pipeline([("counts", CountVectorizer(binary=True, **common)),
                         ("nblr", NBLogisticRegression(alpha=1.0, C=0.3))])
    raise ValueError(model)


LABELS = {"tfidf": "TF-IDF + logistic regression", "nbsvm": "NBSVM-style logistic regression"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(LABELS), required=True)
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--out", help="write the JSON result here (default: stdout)")
    args = ap.parse_args()

    import sklearn

    root = data.fetch(args.source)
    train, val, test = (data.load(root, s) for s in ("train", "validation", "test"))
    pipe = make(args.model)
    t = time.perf_counter()
    pipe.fit(train.texts, train.labels)
    fit_seconds = time.perf_counter() - t
    n_features = len(pipe.steps[0][1].vocabulary_)
    val_acc = float(np.mean(pipe.predict(val.texts) == val.labels))
    test_texts = test.texts
    pipe.predict_proba(test_texts[:1000])  # warm up
    t = time.perf_counter()
    probs = pipe.predict_proba(test_texts)
    batch_seconds = time.perf_counter() - t
    test_acc = float(np.mean(probs.argmax(axis=1) == test.labels))
    single_ms = median_ms(lambda: pipe.predict_proba([SENTENCE]), repeats=20, warmup=1)
    result = {
        "name": args.model,
        "label": LABELS[args.model],
        "n_train": len(train),
        "n_features": n_features,
        "train_seconds": fit_seconds,
        "fit_seconds": fit_seconds,
        "epoch_seconds": None,
        "validation_accuracy": val_acc,
        "test_accuracy": test_acc,
        "n_test": len(test),
        "single_review_latency_ms": single_ms,
        "batch_reviews_per_second": len(test) / batch_seconds,
        "peak_rss_mb_self": peak_rss_mb(),
        "versions": {"scikit-learn": sklearn.__version__, "python": sys.version.split()[0]},
        "settings": {k: str(v) for k, v in pipe.get_params().items() if "__" in k
                     and not k.endswith(("preprocessor", "tokenizer"))},
    }
    print(f"{LABELS[args.model]}: validation {val_acc:.4f}, test {test_acc:.4f}, "
          f"fit {fit_seconds:.1f} s, {n_features:,} features", file=sys.stderr)
    dump(result, args.out)


if __name__ == "__main__":
    main()
