"""The model shipped inside the package: loadable by name, small, documented, and sensible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_sentiment import artifact
from lstm_sentiment.errors import ArtifactError
from lstm_sentiment.predict import SentimentModel

MAX_BYTES = 50 * 1024 * 1024


def test_bundled_model_loads_by_name_and_labels_clear_reviews() -> None:
    model = SentimentModel.load("bundled")
    assert model.config.preset == "accurate"
    preds = model.predict(["A wonderful, moving film with superb acting. I loved it.",
                           "Dreadful. Boring plot, awful acting, a complete waste of time."])
    assert [p.label for p in preds] == ["positive", "negative"]
    assert preds[0].score > 0.9 and preds[1].score < 0.1


def test_bundled_config_records_metrics_and_training_data() -> None:
    info = json.loads((artifact.BUNDLED_DIR / "config.json").read_text())
    m = info["metrics"]
    assert m["test"]["n"] == 25_000 and 0.5 < m["test"]["accuracy"] <= 1.0
    assert set(m["parts"]) == {"lstm", "ngrams"}
    data = info["training_data"]
    assert len(data["train_digest"]) == 64 and len(data["validation_digest"]) == 64
    assert data["n_train"] + data["n_validation"] == 25_000


def test_bundled_model_is_small() -> None:
    size = sum(f.stat().st_size for f in artifact.BUNDLED_DIR.iterdir() if f.is_file())
    assert size <= MAX_BYTES


def test_cli_predicts_with_the_bundled_model() -> None:
    out = subprocess.run([sys.executable, "-m", "lstm_sentiment", "predict", "bundled",
                          "An absolute masterpiece, beautiful and funny."],
                         capture_output=True, text=True, check=True)
    assert "positive" in out.stdout


def test_missing_bundled_model_is_one_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setattr(artifact, "BUNDLED_DIR", tmp_path / "nothing")
    with pytest.raises(ArtifactError, match="no bundled model"):
        SentimentModel.load("bundled")
    # a local folder is always reachable by a path that is not the bare name
    assert artifact.resolve("./bundled") == Path("bundled")
