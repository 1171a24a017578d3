"""The model shipped inside the package: loadable by name, small, documented, and sensible."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED_ARCHIVE

from lstm_sentiment import artifact, data
from lstm_sentiment.errors import ArtifactError
from lstm_sentiment.evaluate import evaluate
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


def assert_reproduces_recorded(model: SentimentModel, test: data.Dataset,
                               recorded: dict[str, Any]) -> None:
    """``model`` scores ``test`` as its training run recorded: each text read whole (the run's
    ``accuracy``) and its first window only (``first_window``), as ``evaluate_and_save`` reads
    them."""
    assert recorded["n"] == len(test)
    whole = evaluate(model, test)
    assert whole["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-4)
    first = evaluate(model, test, whole=False)
    assert first["accuracy"] == pytest.approx(recorded["first_window"]["accuracy"], abs=1e-4)


def test_a_saved_model_reproduces_its_recorded_test_metrics(tiny_model: Path,
                                                            tiny_imdb: Path) -> None:
    """What the bundled test below checks, on a model saved by this code: the recorded figures
    are the ones evaluate() gives, whole and first-window alike (texts here are longer than the
    model's 24-token windows, so the two readings differ)."""
    model = SentimentModel.load(tiny_model)
    test = data.load(tiny_imdb, "test", class_names=model.info["class_folders"])
    recorded = model.info["metrics"]["test"]
    assert "first_window" in recorded
    assert max(len(model.encoder.tokens(t)) for t in test.texts) > \
        model.config.text.sequence_length
    assert_reproduces_recorded(model, test, recorded)


def _archive_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_bundled_model_reproduces_its_recorded_test_accuracy(
        request: pytest.FixtureRequest) -> None:
    """The bundled model, evaluated on the official 25,000 test reviews, gives the accuracy its
    config.json records (read from there: the bundled model is retrained from time to time)."""
    info = json.loads((artifact.BUNDLED_DIR / "config.json").read_text())
    recorded = info["metrics"]["test"]
    if "first_window" not in recorded:
        pytest.skip("the bundled model's metrics predate metrics.test.first_window, so they do "
                    "not say how texts were read (before it, runs read each text's first "
                    "window only); retrain the bundled model to check them")
    if not SHARED_ARCHIVE.exists():
        pytest.skip("the IMDB archive is not beside the repo (../shared/data)")
    trained_on = info["training_data"]
    if trained_on.get("test_source"):
        pytest.skip("the bundled model was tested on another test source than IMDB's")
    source = trained_on.get("source")
    sha = source.get("sha256") if isinstance(source, dict) else None
    if sha and sha != _archive_sha256(SHARED_ARCHIVE):
        pytest.skip(f"{SHARED_ARCHIVE.name} is not the archive the bundled model was tested on")
    model = SentimentModel.load("bundled")
    test = data.load(request.getfixturevalue("full_imdb"), "test",
                     class_names=info["class_folders"])
    assert_reproduces_recorded(model, test, recorded)


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
