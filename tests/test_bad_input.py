"""The rest of the bad-input matrix in docs/robustness.md (the rest lives beside each module)."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_imdb

from lstm_sentiment import SentimentModel
from lstm_sentiment.artifact import load_folder
from lstm_sentiment.cli import main
from lstm_sentiment.errors import ArtifactError
from lstm_sentiment.predict import NO_KNOWN_WORDS


def test_binary_and_nul_input_on_stdin_is_scored(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tiny_model: Path) -> None:
    junk = b"great " + bytes(range(256)).replace(b"\n", b"") + b"\x00\x00great\x00"
    raw = b"great words\n" + junk + b"\n\x00\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8",
                                                       errors="surrogateescape"))
    assert main(["predict", str(tiny_model), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # undecodable bytes shown as U+FFFD, never a crash; each line scored as its decoded text
    texts = [line.decode("utf-8", "replace") for line in raw.split(b"\n")[:-1]]
    assert [r["text"] for r in rows] == texts and "\ufffd" in rows[1]["text"]
    want = SentimentModel.load(tiny_model).predict(texts)
    assert [r["label"] for r in rows] == [p.label for p in want]
    assert [r["score"] for r in rows[:2]] == pytest.approx([p.score for p in want[:2]],
                                                          abs=1e-6)
    # NUL is part of a word, as in TensorFlow: one word the vocabulary does not know
    assert rows[2]["label"] is None and rows[2]["reason"] == NO_KNOWN_WORDS


def test_a_swapped_file_from_another_model_is_refused(tiny_model: Path, tiny_imdb: Path,
                                                      tmp_path: Path) -> None:
    from lstm_sentiment import config as cfg
    from lstm_sentiment.pipeline import run

    config = cfg.preset("seed")
    config.data.source = str(tiny_imdb)
    config.text.max_tokens, config.text.sequence_length = 30, 10
    config.train.epochs = 1
    other = tmp_path / "other"
    run(config, other, evaluate_test=False, log=lambda _l: None)
    mixed = tmp_path / "mixed"
    shutil.copytree(tiny_model, mixed)
    shutil.copy(other / "tokenizer.json", mixed / "tokenizer.json")
    with pytest.raises(ArtifactError, match=r"tokenizer\.json does not match its checksum"):
        load_folder(mixed)


def test_a_third_class_folder_trains_a_softmax_model(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    base = make_imdb(tmp_path / "d", n_train=20, n_test=4)
    for split in ("train", "test"):
        mixed = base / split / "mixed"
        mixed.mkdir()
        for i, f in enumerate(sorted((base / split / "pos").iterdir())[:10]):
            (mixed / f"{i}_5.txt").write_text("so-so, average, fine " + f.read_text())
    out = tmp_path / "m"
    assert main(["-q", "train", "--source", str(base), "--out", str(out), "--epochs", "1"]) == 0
    capsys.readouterr()
    model = SentimentModel.load(out)
    assert model.labels == ["mixed", "negative", "positive"]
    probs = model.predict_proba(["an average film"])
    assert probs.shape == (1, 3)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-6)
    pred = model.predict(["an average film"])[0]
    assert pred.label in model.labels and pred.score == pytest.approx(probs.max())


def test_explain_text_over_the_limit_is_422(tiny_model: Path) -> None:
    from fastapi.testclient import TestClient

    from lstm_sentiment.serve import MAX_EXPLAIN_CHARS, create_app

    with TestClient(create_app(SentimentModel.load(tiny_model))) as client:
        r = client.post("/v1/explain", json={"text": "a " * MAX_EXPLAIN_CHARS})
        assert r.status_code == 422 and r.json()["error"] == "invalid request"
        r = client.post("/v1/explain", json={"text": 42})
        assert r.status_code == 422
