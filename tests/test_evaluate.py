"""evaluate.py: the metrics, held equal to scikit-learn's to the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_sentiment.evaluate import metrics

skm = pytest.importorskip("sklearn.metrics")


def _sklearn_report(labels: list[str], y: np.ndarray, probs: np.ndarray) -> dict:
    """What evaluate.py computed with scikit-learn before it computed the figures itself."""
    pred = probs.argmax(axis=1)
    classes = list(range(len(labels)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, pred, labels=classes, zero_division=0)
    return {
        "accuracy": float((pred == y).mean()),
        "loss": float(skm.log_loss(y, np.clip(probs, 1e-7, 1 - 1e-7), labels=classes)),
        "confusion_matrix": skm.confusion_matrix(y, pred, labels=classes).tolist(),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]),
                             "f1": float(f1[i]), "support": int(support[i])}
                      for i, name in enumerate(labels)},
    }


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_metrics_equal_sklearn(n_classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    logits = rng.normal(scale=rng.uniform(0.1, 20), size=(n, n_classes)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if seed == 0:
        probs[: n // 2] = np.eye(n_classes, dtype=np.float32)[0]  # saturated: clipping matters
    y = rng.integers(0, n_classes, size=n)
    if seed == 1:
        y[:] = 0  # classes never seen or never predicted: zero divisions
    labels = ["neg", "pos", "mixed"][:n_classes]
    got = metrics(labels, "test", y, probs)
    want = _sklearn_report(labels, y, probs)
    for key, value in want.items():
        assert got[key] == value, key
    assert got["n"] == n and got["split"] == "test" and got["labels"] == labels


def test_expected_calibration_error_by_hand() -> None:
    from lstm_sentiment.evaluate import expected_calibration_error

    y = np.array([1, 1, 0, 0])
    probs = np.array([[0.1, 0.9], [0.1, 0.9], [0.8, 0.2], [0.4, 0.6]])
    # confidence 0.9, 0.9 (right, right), 0.8 (right), 0.6 (wrong): three bins of 15
    # |1 - 0.9| * 2/4 + |1 - 0.8| * 1/4 + |0 - 0.6| * 1/4
    expected = 0.1 * 0.5 + 0.2 * 0.25 + 0.6 * 0.25
    assert expected_calibration_error(y, probs) == pytest.approx(expected)
    assert expected_calibration_error(y, np.eye(2)[y]) == 0.0  # sure and right
    assert expected_calibration_error(np.array([0]), np.array([[0.0, 1.0]])) == 1.0
