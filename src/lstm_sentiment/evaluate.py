"""Metrics on a labelled split: accuracy, loss, confusion matrix, per-class scores."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, log_loss, precision_recall_fscore_support

from .data import Dataset
from .errors import UserError
from .predict import SentimentModel


def evaluate(model: SentimentModel, dataset: Dataset) -> dict[str, Any]:
    """Accuracy, mean cross-entropy, confusion matrix and per-class scores on ``dataset``."""
    if len(dataset) == 0:
        raise UserError(f"the {dataset.subset} split is empty")
    _check_labels(model, dataset)
    probs = model.predict_proba(dataset.texts)
    y = dataset.labels
    pred = probs.argmax(axis=1)
    classes = list(range(len(model.labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=classes, zero_division=0)
    return {
        "split": dataset.subset,
        "n": len(dataset),
        "accuracy": float((pred == y).mean()),
        "loss": float(log_loss(y, np.clip(probs, 1e-7, 1 - 1e-7), labels=classes)),
        "labels": model.labels,
        # rows = true class, columns = predicted class, in the order of "labels"
        "confusion_matrix": confusion_matrix(y, pred, labels=classes).tolist(),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]),
                             "f1": float(f1[i]), "support": int(support[i])}
                      for i, name in enumerate(model.labels)},
    }


def _check_labels(model: SentimentModel, dataset: Dataset) -> None:
    known = model.info.get("class_folders")
    if len(dataset.class_names) != len(model.labels) or (known and
                                                          dataset.class_names != known):
        raise UserError(f"the data has classes {dataset.class_names} but the model was trained "
                        f"on {known or model.labels}")
