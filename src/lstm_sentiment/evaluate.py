"""Metrics on a labelled split: accuracy, loss, confusion matrix, per-class scores.

The figures are computed with NumPy, exactly as scikit-learn 1.9's ``log_loss``,
``confusion_matrix`` and ``precision_recall_fscore_support(zero_division=0)`` compute them (tests
hold the two equal): importing scikit-learn (and SciPy with it) costs resident memory that a
seed-preset training run, which has a memory target, cannot spare.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import Dataset
from .errors import UserError
from .predict import SentimentModel


def evaluate(model: SentimentModel, dataset: Dataset, *, whole: bool = True,
             side_by_side: bool = True) -> dict[str, Any]:
    """Accuracy, mean cross-entropy, confusion matrix and per-class scores on ``dataset``, each
    text read whole as :meth:`SentimentModel.read` reads it (``whole=False``: its first window
    only, as Keras reads it); ``side_by_side`` as for :meth:`SentimentModel.logits`."""
    if len(dataset) == 0:
        raise UserError(f"the {dataset.subset} split is empty")
    _check_labels(model, dataset.class_names)
    reading = model.read(dataset.texts, whole=whole, side_by_side=side_by_side)
    return metrics(model.labels, dataset.subset, dataset.labels, reading.probabilities)


def metrics(labels: list[str], subset: str, y: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """The report for true classes ``y`` and ``[N, C]`` class probabilities ``probs``."""
    pred = probs.argmax(axis=1)
    classes = np.arange(len(labels))
    confusion = _confusion_matrix(y, pred, len(labels))
    tp = np.diagonal(confusion)
    true_sum, pred_sum = confusion.sum(axis=1), confusion.sum(axis=0)
    precision, recall = _divide(tp, pred_sum), _divide(tp, true_sum)
    f1 = _divide(2.0 * tp, 1.0 * true_sum + pred_sum)
    return {
        "split": subset,
        "n": len(y),
        "accuracy": float((pred == y).mean()),
        "loss": _log_loss(y, np.clip(probs, 1e-7, 1 - 1e-7), classes),
        # do the probabilities mean what they say: expected calibration error, 15 bins
        "ece": expected_calibration_error(y, probs),
        "labels": labels,
        # rows = true class, columns = predicted class, in the order of "labels"
        "confusion_matrix": confusion.tolist(),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]),
                             "f1": float(f1[i]), "support": int(true_sum[i])}
                      for i, name in enumerate(labels)},
    }


def expected_calibration_error(y: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """ECE (Guo et al. 2017): the predictions grouped by their confidence (the top probability)
    into ``bins`` equal bins of [0, 1]; the mean gap between each bin's accuracy and its mean
    confidence, weighted by its share of the predictions."""
    if len(y) == 0:
        return 0.0
    confidence = probs.max(axis=1).astype(np.float64)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, correct, bins) - np.bincount(which, confidence, bins))
    return float(gap.sum() / len(y)) if count.any() else 0.0


def _confusion_matrix(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true, predicted) pairs; rows or columns outside the classes are not counted."""
    known = (y >= 0) & (y < n_classes) & (pred >= 0) & (pred < n_classes)
    flat = np.bincount(y[known] * n_classes + pred[known], minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` in float64, 0 where the denominator is 0."""
    denominator = np.asarray(denominator, dtype=np.float64)
    zero = denominator == 0
    result = np.asarray(numerator, dtype=np.float64) / np.where(zero, 1.0, denominator)
    result[zero] = 0.0
    return result


def _log_loss(y: np.ndarray, probs: np.ndarray, classes: np.ndarray) -> float:
    """Mean cross-entropy, in the probabilities' own precision (as scikit-learn computes it)."""
    eps = np.finfo(probs.dtype).eps
    probs = np.clip(probs, eps, 1 - eps)
    one_hot = (y[:, None] == classes[None, :]).astype(probs.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = one_hot * np.log(probs)
    terms = np.where(one_hot == 0.0, np.zeros((), dtype=terms.dtype), terms)
    return float(np.average(-np.sum(terms, axis=1)))


def _check_labels(model: SentimentModel, class_names: list[str]) -> None:
    known = model.info.get("class_folders")
    if len(class_names) != len(model.labels) or (known and class_names != known):
        raise UserError(f"the data has classes {class_names} but the model was trained "
                        f"on {known or model.labels}")
