"""Metrics and plots: accuracy, loss and confusion matrix on a split; training curves."""

from __future__ import annotations

from pathlib import Path
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
    if len(dataset.class_names) != len(model.labels):
        raise UserError(f"the data has classes {dataset.class_names} but the model knows "
                        f"{model.labels}")


def plot_history(history: list[dict[str, float]], out: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, training and validation, side by side."""
    if not history:
        raise UserError("this model has no training history to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, key, name in ((axes[0], "loss", "loss"), (axes[1], "acc", "accuracy")):
        ax.plot(epochs, [h[key] for h in history], "o-", label=f"training {name}")
        if all(f"val_{key}" in h for h in history):
            ax.plot(epochs, [h[f"val_{key}"] for h in history], "s-",
                    label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    import io

    from .fileio import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    try:
        atomic_write_bytes(out, buf.getvalue())
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
