"""lexicon.py and the networks that read it: VADER's valences in the vocabulary and the
embedding, end to end through training, saving, loading, tracing and export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_sentiment import SentimentModel, lexicon
from lstm_sentiment import config as cfg
from lstm_sentiment.config import TextConfig
from lstm_sentiment.layers import LexiconEmbedding
from lstm_sentiment.pipeline import run
from lstm_sentiment.text import TextEncoder, standardized


def test_word_and_emoji_valences_come_from_the_package_files() -> None:
    words = lexicon.word_valences()
    assert len(words) > 7000 and words["good"] > 1 and words["bad"] < -1
    emoji = lexicon.emoji_valences()
    assert emoji["😍"] > 0 and emoji["😠"] < 0  # by the rated words of their names
    found = lexicon.entries(lambda t: standardized(t, "everyday"))
    assert found["delicious"] == pytest.approx(words["delicious"] / 4)
    assert min(found.values()) >= -1 and max(found.values()) <= 1
    record = lexicon.provenance()
    assert record["package"] == "vaderSentiment" and record["licence"] == "MIT"
    assert len(record["files_sha256"]["vader_lexicon.txt"]) == 64


def test_the_vocabulary_takes_the_lexicon_beyond_max_tokens() -> None:
    config = TextConfig(standardize="everyday", max_tokens=10, lexicon="vader")
    encoder, _ = TextEncoder.build(["a good film", "a bad film"], config)
    vocab = encoder.vocabulary
    assert vocab[:2] == ["[PAD]", "[UNK]"] and len(vocab) > 5000
    assert "delicious" in vocab and "lol" in vocab and len(set(vocab)) == len(vocab)
    plain, _ = TextEncoder.build(["a good film"], TextConfig(standardize="everyday",
                                                             max_tokens=10))
    assert "delicious" not in plain.vocabulary


def test_word_dropout_keeps_the_valence() -> None:
    emb = LexiconEmbedding(5, 3, word_dropout=1.0)
    emb.valence.copy_(torch.tensor([0.0, 0.0, 0.5, -0.5, 0.25]))
    ids = torch.tensor([[2, 3, 4]])
    emb.train()
    out = emb(ids)
    assert out.shape == (1, 3, 4) and not out[..., :3].any()
    torch.testing.assert_close(out[0, :, 3], torch.tensor([0.5, -0.5, 0.25]))
    emb.eval()
    assert out.shape == emb(ids).shape and emb(ids)[..., :3].abs().sum() > 0


def test_a_lexicon_model_trains_saves_loads_traces_and_exports(tiny_imdb: Path,
                                                                tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from lstm_sentiment.export import INPUT, OUTPUT, export_onnx

    config = cfg.preset("seed")
    config.data.source = str(tiny_imdb)
    config.text.standardize, config.text.lexicon = "everyday", "vader"
    config.text.max_tokens, config.text.sequence_length = 40, 16
    config.model.lexicon, config.model.word_dropout = True, 0.2
    config.train.epochs, config.train.batch_size = 1, 16
    lines: list[str] = []
    trained = run(config, tmp_path / "m", evaluate_test=False, log=lines.append)
    assert any(line.startswith("Lexicon: valences for") for line in lines)
    assert trained.info["training_data"]["lexicon"]["package"] == "vaderSentiment"
    model = SentimentModel.load(tmp_path / "m")
    valence = model.network.embedding.valence
    vocab = model.encoder.vocabulary
    assert valence[vocab.index("delicious")] > 0 and valence[vocab.index("great")] > 0
    assert valence[vocab.index("angry")] < 0  # 😠 reads as "angry face"
    texts = ["great fun 😍", "awful 😠 boring", "delicious"]
    np.testing.assert_allclose(model.predict_proba(texts), trained.predict_proba(texts),
                               atol=1e-6)
    assert model.trace("great fun").input_gate.shape[0] == 2
    session = ort.InferenceSession(str(export_onnx(model, tmp_path / "m.onnx")),
                                   providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT], {INPUT: model.encode(texts).numpy()})[0]
    np.testing.assert_allclose(got, model.read(texts, whole=False).probabilities[:, 1],
                               atol=1e-5)
