"""artifact.py / predict.py: the model folder round trip, and refusing bad folders."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from lstm_sentiment import SentimentModel, load
from lstm_sentiment.artifact import FILES, load_folder
from lstm_sentiment.errors import ArtifactError

TEXTS = ["A great and wonderful film", "boring, awful, the worst", "", "plot " * 100]


@pytest.fixture
def folder(tiny_model: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    return copy


def test_folder_layout(tiny_model: Path) -> None:
    names = sorted(p.name for p in tiny_model.iterdir())
    assert names == sorted([*FILES, "checksums.json"])
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["labels"] == ["negative", "positive"]
    assert config["metrics"]["validation"]["n"] == 30
    assert config["metrics"]["test"]["n"] == 40
    assert len(config["training_data"]["validation_digest"]) == 64
    assert config["versions"]["torch"] == torch.__version__


def test_round_trip_gives_identical_predictions(tiny_model: Path, tmp_path: Path) -> None:
    model = load(tiny_model)
    before = model.predict_proba(TEXTS)
    model.save(tmp_path / "again")
    after = SentimentModel.load(tmp_path / "again").predict_proba(TEXTS)
    np.testing.assert_array_equal(before, after)
    assert before.shape == (4, 2)
    np.testing.assert_allclose(before.sum(axis=1), 1.0, rtol=1e-6)


def test_trained_model_separates_the_classes(tiny_model: Path) -> None:
    preds = load(tiny_model).predict(["great wonderful superb loved", "awful boring worst bad"])
    assert [p.label for p in preds] == ["positive", "negative"]
    assert preds[0].score > 0.5 > preds[1].score


def test_predict_batch_equals_one_by_one(tiny_model: Path) -> None:
    model = load(tiny_model)
    batch = model.predict_proba(TEXTS)
    single = np.concatenate([model.predict_proba([t]) for t in TEXTS])
    np.testing.assert_allclose(batch, single, atol=1e-6)


def test_tampered_weights_are_refused(folder: Path) -> None:
    weights = load_file(folder / "model.safetensors")
    weights["head.bias"] = weights["head.bias"] + 1.0
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(ArtifactError, match="does not match its checksum"):
        SentimentModel.load(folder)


@pytest.mark.parametrize("name", FILES)
def test_truncated_files_are_refused(folder: Path, name: str) -> None:
    blob = (folder / name).read_bytes()
    (folder / name).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ArtifactError, match=r"tampered, truncated or swapped"):
        load_folder(folder)


def test_missing_files_are_refused(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ArtifactError, match=r"missing tokenizer.json"):
        load_folder(folder)
    (folder / "checksums.json").unlink()
    with pytest.raises(ArtifactError, match=r"no checksums.json"):
        load_folder(folder)
    with pytest.raises(ArtifactError, match="no model folder"):
        load_folder(folder / "nope")


def _rewrite(folder: Path, name: str, blob: bytes) -> None:
    """Change a file *and* its checksum, as a careless or malicious editor would."""
    import hashlib

    (folder / name).write_bytes(blob)
    sums = json.loads((folder / "checksums.json").read_text())
    sums[name] = hashlib.sha256(blob).hexdigest()
    (folder / "checksums.json").write_text(json.dumps(sums))


def test_newer_format_is_refused(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = 99
    _rewrite(folder, "config.json", json.dumps(config).encode())
    with pytest.raises(ArtifactError, match="model format 99"):
        load_folder(folder)


def test_vocabulary_that_does_not_fit_the_weights_is_refused(folder: Path) -> None:
    tok = json.loads((folder / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    vocab["extra-token"] = len(vocab)
    _rewrite(folder, "tokenizer.json", json.dumps(tok).encode())
    with pytest.raises(ArtifactError, match="vocabulary has"):
        SentimentModel.load(folder)


def test_weights_of_another_shape_are_refused(folder: Path) -> None:
    weights = load_file(folder / "model.safetensors")
    weights["head.weight"] = torch.zeros(1, 7)
    from safetensors.torch import save

    _rewrite(folder, "model.safetensors", save(weights))
    with pytest.raises(ArtifactError, match="do not fit"):
        SentimentModel.load(folder)


def test_pickle_files_in_the_folder_are_never_read(folder: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (marker.write_text, ("code ran",))

    for name in ("model.pt", "model.bin", "pytorch_model.bin", "optimizer.pkl"):
        (folder / name).write_bytes(pickle.dumps(Evil()))
    SentimentModel.load(folder).predict(["fine"])
    assert not marker.exists()


def test_model_files_get_ordinary_permissions(tiny_model: Path) -> None:
    import os
    import stat

    mask = os.umask(0)
    os.umask(mask)
    for name in [*FILES, "checksums.json"]:
        mode = stat.S_IMODE((tiny_model / name).stat().st_mode)
        assert mode == 0o666 & ~mask, (name, oct(mode))


def test_the_folder_records_the_commit_that_trained_it(tiny_model: Path) -> None:
    import subprocess

    here = Path(__file__).resolve().parent
    head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    recorded = json.loads((tiny_model / "config.json").read_text())["code"]
    if head.returncode:
        assert recorded == {"commit": None}
    else:
        assert recorded["commit"] == head.stdout.strip()
        assert isinstance(recorded["package_dirty"], bool)
