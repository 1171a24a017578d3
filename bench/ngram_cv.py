"""Linear n-gram models by five-fold cross-validation on the 25,000 labelled training reviews.

What the accurate preset's n-gram part and the linear peers' settings (bench/peer_sklearn.py's
``SETTINGS``) rest on: NB-weighted logistic regression (the n-gram part's model, NBSVM) and TF-IDF
+ logistic regression, over the tutorial's text or punctuation kept as tokens, words and word
pairs or 1-3-grams, every n-gram in at least two training reviews or the most frequent ones,
whole reviews or their first 400 tokens, n-grams chosen by frequency or all hashed into buckets,
and a few values of C and of the naive-Bayes smoothing. Never reads ``test/``.

The same folds for every row (stratified, shuffled with seed 0). In each fold the vocabulary,
document frequencies, idf and naive-Bayes ratios come from the training folds alone; each text is
vectorized once per fold and standardization, and a row takes its columns from that matrix (the
``max_features`` most frequent by document frequency, ties in alphabetical order), which is what a
vectorizer fitted for the row alone gives up to ties at the cut.

    python bench/ngram_cv.py [--quick] [--folds 5] [--only ROW ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from typing import Any

import numpy as np
from common import default_source, spread, write
from peer_sklearn import SETTINGS, NBLogisticRegression, vectorizer_args
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from lstm_sentiment import data
from lstm_sentiment.text import standardized

TITLE = "Linear n-gram models: five-fold cross-validation on the training reviews"
ORDER = 25
DOCS = ("docs/accurate.md",)
QUICK_REVIEWS = 3000  # --quick: this many reviews, 2 folds (a smoke test, not a measurement)
HEAD = 400  # the "first tokens only" rows read this many tokens (the LSTM part's length)
BUCKETS = 1 << 22

NB = {"model": "nb", "C": 0.1, "alpha": 1.0}  # the accurate preset's n-gram part fits with these
TFIDF = {"model": "tfidf"}
WHOLE = {"input": "whole", "max_features": None}
PUNCT3 = {**WHOLE, "standardize": "punctuation", "order": 3}

# (name, what differs, settings); "input": whole reviews, their first HEAD tokens, or hashed
ROWS: list[tuple[str, str, dict[str, Any]]] = [
    ("nb-tutorial-2", "tutorial text, words and word pairs",
     {**NB, **WHOLE, "standardize": "tutorial", "order": 2}),
    ("nb-punct-2", "punctuation kept as tokens, words and word pairs",
     {**NB, **WHOLE, "standardize": "punctuation", "order": 2}),
    ("nb-tutorial-3", "tutorial text, 1-3-grams",
     {**NB, **WHOLE, "standardize": "tutorial", "order": 3}),
    ("nb-punct-3", "punctuation kept, 1-3-grams", {**NB, **PUNCT3}),
    ("nb-punct-3-200k", "punctuation kept, the 200,000 most frequent 1-3-grams",
     {**NB, **PUNCT3, "max_features": 200_000}),
    ("nb-punct-3-800k", "punctuation kept, the 800,000 most frequent 1-3-grams",
     {**NB, **PUNCT3, "max_features": 800_000}),
    ("nb-punct-3-200k-head", f"the same 200,000, first {HEAD} tokens of each review only",
     {**NB, **PUNCT3, "max_features": 200_000, "input": "head"}),
    ("nb-punct-3-hashed", "punctuation kept, every 1-3-gram hashed into 2^22 buckets",
     {**NB, **PUNCT3, "input": "hashed"}),
    *[(f"nb-punct-3-200k-C{c:g}", f"the 200,000, C {c:g} instead of 0.1",
       {**NB, **PUNCT3, "max_features": 200_000, "C": c}) for c in (0.03, 0.3, 1.0)],
    ("nb-punct-3-200k-a0.5", "the 200,000, naive-Bayes smoothing 0.5 instead of 1",
     {**NB, **PUNCT3, "max_features": 200_000, "alpha": 0.5}),
    ("tfidf-tutorial-2-C8", "tutorial text, words and word pairs, C 8",
     {**TFIDF, **WHOLE, "standardize": "tutorial", "order": 2, "C": 8.0}),
    *[(f"tfidf-punct-3-C{c:g}", f"punctuation kept, 1-3-grams, C {c:g}",
       {**TFIDF, **PUNCT3, "C": c}) for c in (4.0, 16.0, 64.0, 256.0)],
    ("tfidf-punct-3-200k-C64", "punctuation kept, the 200,000 most frequent 1-3-grams, C 64",
     {**TFIDF, **PUNCT3, "max_features": 200_000, "C": 64.0}),
]
MODELS = {"nb": "NB-weighted logistic regression (NBSVM)",
          "tfidf": "TF-IDF + logistic regression"}
PEER_OF = {"nb": "nbsvm", "tfidf": "tfidf"}


def head_tokens(text: str, standardize: str) -> list[str]:
    return standardized(text, standardize)[:HEAD]


def vectorize(kind: tuple[str, str], train: list[str],
              test: list[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix, np.ndarray]:
    """Count matrices of the training and held-out folds and each column's n-gram order (0 for
    hashed columns). ``kind``: (input, standardization)."""
    source, standardize = kind
    if source == "hashed":
        vec: Any = HashingVectorizer(
            tokenizer=partial(standardized, standardize=standardize), token_pattern=None,
            lowercase=False, ngram_range=(1, 3), n_features=BUCKETS, alternate_sign=False,
            norm=None, dtype=np.float32)
        x_train, x_test = vec.transform(train), vec.transform(test)
        return x_train.tocsr(), x_test.tocsr(), np.zeros(x_train.shape[1], dtype=np.int64)
    args = vectorizer_args(standardize, 3)
    if source == "head":
        args["tokenizer"] = partial(head_tokens, standardize=standardize)
    vec = CountVectorizer(**args)
    x_train = vec.fit_transform(train)
    names = vec.get_feature_names_out().astype(str)
    return x_train, vec.transform(test), 1 + np.char.count(names, " ")


def columns(x_train: sparse.csr_matrix, order_of: np.ndarray, s: dict[str, Any]) -> np.ndarray:
    """The row's columns: n-grams of at most its order, the ``max_features`` in the most
    training reviews when it says so (hashed columns: all)."""
    if s["input"] == "hashed":
        return np.flatnonzero(np.asarray((x_train != 0).sum(axis=0)).ravel())
    keep = np.flatnonzero(order_of <= s["order"])
    if s["max_features"] and len(keep) > s["max_features"]:
        df = np.asarray((x_train[:, keep] != 0).sum(axis=0)).ravel()
        keep = np.sort(keep[np.argsort(-df, kind="stable")[: s["max_features"]]])
    return keep


def fit_score(s: dict[str, Any], x_train: sparse.csr_matrix, y_train: np.ndarray,
              x_test: sparse.csr_matrix, y_test: np.ndarray) -> float:
    if s["model"] == "nb":
        binary = [x.copy() for x in (x_train, x_test)]
        for x in binary:
            x.data[:] = 1.0
        clf: Any = NBLogisticRegression(alpha=s["alpha"], C=s["C"]).fit(binary[0], y_train)
        return float(np.mean(clf.predict(binary[1]) == y_test))
    tfidf = TfidfTransformer(sublinear_tf=True).fit(x_train)
    clf = LogisticRegression(C=s["C"], solver="liblinear", dual=True, max_iter=1000)
    clf.fit(tfidf.transform(x_train), y_train)
    return float(np.mean(clf.predict(tfidf.transform(x_test)) == y_test))


def labelled_reviews(source: str) -> tuple[list[str], np.ndarray]:
    """Every labelled training review (train/ and the validation split drawn from it)."""
    root = data.fetch(source)
    parts = [data.load(root, subset) for subset in ("train", "validation")]
    return ([t for p in parts for t in p.texts],
            np.concatenate([np.asarray(p.labels) for p in parts]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"{QUICK_REVIEWS:,} reviews, 2 folds (checks that everything works)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only", nargs="+", metavar="ROW", help="run only these rows")
    ap.add_argument("--source", default=default_source())
    args = ap.parse_args()
    rows = [r for r in ROWS if not args.only or r[0] in args.only]
    if args.only and len(rows) != len(set(args.only)):
        ap.error(f"unknown row(s); choose from {' '.join(r[0] for r in ROWS)}")
    texts, labels = labelled_reviews(args.source)
    folds = 2 if args.quick else args.folds
    if args.quick:
        pick = np.random.default_rng(0).permutation(len(texts))[:QUICK_REVIEWS]
        texts, labels = [texts[i] for i in pick], labels[pick]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    scores: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    seconds: dict[str, float] = dict.fromkeys(scores, 0.0)
    vectorize_seconds = 0.0
    kinds = sorted({(s["input"], s["standardize"]) for _, _, s in rows})
    for fold, (tr, te) in enumerate(splitter.split(np.zeros(len(labels)), labels), 1):
        train, test = [texts[i] for i in tr], [texts[i] for i in te]
        for kind in kinds:
            t0 = time.perf_counter()
            x_train, x_test, order_of = vectorize(kind, train, test)
            vectorize_seconds += time.perf_counter() - t0
            for name, _, s in rows:
                if (s["input"], s["standardize"]) != kind:
                    continue
                t0 = time.perf_counter()
                keep = columns(x_train, order_of, s)
                scores[name].append(fit_score(s, x_train[:, keep], labels[tr],
                                              x_test[:, keep], labels[te]))
                seconds[name] += time.perf_counter() - t0
                print(f"fold {fold}/{folds} {name}: {scores[name][-1]:.4f}", file=sys.stderr,
                      flush=True)
            del x_train, x_test
    result = {
        "quick": args.quick, "folds": folds, "n_reviews": len(labels), "fold_seed": 0,
        "rows": [{"name": name, "about": about, "settings": s, "accuracy": scores[name],
                  "mean": statistics.fmean(scores[name]), "fit_seconds": seconds[name]}
                 for name, about, s in rows],
        "vectorize_seconds": vectorize_seconds,
        "peer_settings": SETTINGS,
    }
    for row in result["rows"]:
        print(f"{row['name']:<26} {_folds(row['accuracy'])}")
    write("ngram_cv" + ("_quick" if args.quick else ""), result)


def best_rows(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each model's row with the highest mean."""
    best: dict[str, dict[str, Any]] = {}
    for row in r["rows"]:
        model = row["settings"]["model"]
        if model not in best or row["mean"] > best[model]["mean"]:
            best[model] = row
    return best


def _folds(values: list[float]) -> str:
    if len(set(values)) == 1:  # spread() would call this "no seed dependence"
        return f"{values[0]:.4f} (equal in all {len(values)} folds)"
    return spread(values, what="folds")


def paired_gap(best: list[float], other: list[float]) -> tuple[float, float | None]:
    """The mean fold-by-fold difference of two rows and its standard error (None with fewer
    than two folds): both rows see the same folds, so their difference is far less noisy than
    either accuracy."""
    diffs = [b - o for b, o in zip(best, other, strict=True)]
    if len(diffs) < 2:
        return statistics.fmean(diffs), None
    return statistics.fmean(diffs), statistics.stdev(diffs) / len(diffs) ** 0.5


def peer_verdicts(r: dict[str, Any]) -> list[str]:
    """For each linear peer: whether the settings it uses are its model's best row here."""
    lines = []
    by_name = {row["name"]: row for row in r["rows"]}
    for model, best in best_rows(r).items():
        peer = PEER_OF[model]
        used = r.get("peer_settings", {}).get(peer, {}).get("cv_row")
        head = f"- {MODELS[model]} (the `{peer}` peer, bench/peer_sklearn.py's `SETTINGS`): "
        if used == best["name"]:
            lines.append(head + f"uses `{used}`, the best row ({best['mean']:.4f}).")
            continue
        if used not in by_name:
            lines.append(head + f"uses `{used}`, which this run did not measure; the best row "
                         f"is `{best['name']}` ({best['mean']:.4f}).")
            continue
        gap, se = paired_gap(best["accuracy"], by_name[used]["accuracy"])
        if se is not None and gap <= 2 * se:
            lines.append(head + f"uses `{used}` ({by_name[used]['mean']:.4f}); the best row, "
                         f"`{best['name']}`, is {gap:+.4f} higher, within twice the standard "
                         f"error of the fold-by-fold difference ({se:.4f}): no better here.")
        else:
            noise = f" (standard error {se:.4f})" if se is not None else ""
            lines.append(head + f"uses `{used}` ({by_name[used]['mean']:.4f}), but "
                         f"`{best['name']}` is {gap:+.4f} higher{noise}: **update SETTINGS to "
                         "it and rerun the peers**.")
    return lines


def render(r: dict[str, Any]) -> str:
    lines = [f"{r['folds']}-fold cross-validation (stratified, seed {r['fold_seed']}) on "
             f"{r['n_reviews']:,} labelled training reviews, never the test split. Every row "
             "uses the same folds. The spread is over folds: it says how much one fold moves, "
             "not how precisely the mean is known, and rows are best compared fold by fold.",
             "", "| row | model | what differs | accuracy |", "|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| `{row['name']}` | {MODELS[row['settings']['model']]} | {row['about']} | "
                     f"{_folds(row['accuracy'])} |")
    lines += ["", "NB-weighted rows fit C 0.1 and naive-Bayes smoothing 1 unless the row says "
              "otherwise (the accurate preset's n-gram part fits with these); words and word "
              "pairs, or 1-3-grams, found in at least two training reviews of the fold unless "
              f"the row says otherwise. Vectorizing took {r['vectorize_seconds']:.0f} s in all "
              "(each row's fitting time is in the results file).", "",
              "The linear peers' settings against this table:", "", *peer_verdicts(r)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
