"""export.py: the ONNX graph gives the model's probabilities, for any batch and length."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_sentiment import __version__, artifact
from lstm_sentiment.config import ModelConfig, RunConfig
from lstm_sentiment.export import INPUT, OUTPUT, export_onnx
from lstm_sentiment.model import build
from lstm_sentiment.predict import SentimentModel

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TEXTS = [
    "The movie was great!",
    "Not a good movie!",
    "awful boring waste of a film and the worst ending",
    "",  # no tokens at all: the bias-only score
    "zzz qqq unknown words only",
    "loved it, brilliant and moving, the best " * 6,  # longer than the sequence length
    "the plot was dull but the cast was superb",
    "Terrible.",
]


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _check(model: SentimentModel, path: Path, *, trim: bool) -> None:
    """Same probabilities as the model for several batch sizes (and cut lengths)."""
    session = _session(path)
    ids = model.encode(TEXTS).numpy()
    # the graph reads one row: a text's first window (the caller cuts longer texts into windows)
    expected = model.read(TEXTS, whole=False).probabilities
    if expected.shape[1] == 2:
        expected = expected[:, 1]
    for rows in (slice(0, 1), slice(3, 4), slice(0, 3), slice(None)):
        batch = ids[rows]
        got = session.run([OUTPUT], {INPUT: batch})[0]
        np.testing.assert_allclose(got, expected[rows], atol=1e-5, rtol=0)
        if trim:  # masking makes trailing padding irrelevant: cut to the longest row
            width = max(int((batch != 0).sum(axis=1).max()), 1)
            got = session.run([OUTPUT], {INPUT: batch[:, :width]})[0]
            np.testing.assert_allclose(got, expected[rows], atol=1e-5, rtol=0)


def test_masked_model_exports_exactly(tiny_model: Path, tmp_path: Path) -> None:
    model = SentimentModel.load(tiny_model)
    assert model.config.model.mask_padding
    path = export_onnx(model, tmp_path / "model.onnx")
    assert path == tmp_path / "model.onnx"
    _check(model, path, trim=True)


def test_graph_shape_and_metadata(tiny_model: Path, tmp_path: Path) -> None:
    model = SentimentModel.load(tiny_model)
    graph = onnx.load(str(export_onnx(model, tmp_path / "model.onnx")))
    onnx.checker.check_model(graph)
    (inp,), (out,) = graph.graph.input, graph.graph.output
    assert inp.name == INPUT and out.name == OUTPUT
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [d.dim_param for d in inp.type.tensor_type.shape.dim] == ["batch", "sequence"]
    assert [d.dim_param for d in out.type.tensor_type.shape.dim] == ["batch"]
    meta = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(meta["labels"]) == model.labels
    assert meta["sequence_length"] == str(model.config.text.sequence_length)
    assert json.loads(meta["mask_padding"]) is True


def test_read_padding_model_exports_exactly(tiny_model: Path, tmp_path: Path) -> None:
    art = artifact.load_folder(tiny_model)
    art.config.model.mask_padding = False  # the same weights, run through the padding
    model = SentimentModel.from_artifact(art)
    baseline = SentimentModel.load(tiny_model).predict_proba(TEXTS[:3])
    assert not np.allclose(model.predict_proba(TEXTS[:3]), baseline, atol=1e-6)
    _check(model, export_onnx(model, tmp_path / "read.onnx"), trim=False)


def test_reference_lstm_model_exports_the_same_graph(tiny_model: Path, tmp_path: Path) -> None:
    model = SentimentModel.load(tiny_model, lstm="reference")
    _check(model, export_onnx(model, tmp_path / "ref.onnx"), trim=True)


def test_more_classes_give_softmax_rows(tiny_model: Path, tmp_path: Path) -> None:
    base = SentimentModel.load(tiny_model)
    config = RunConfig.from_dict(base.config.to_dict())
    config.model = ModelConfig(vocab_size=base.config.model.vocab_size, num_classes=3)
    model = SentimentModel(build(config.model, seed=3), base.encoder, config,
                           ["a", "b", "c"])
    path = export_onnx(model, tmp_path / "three.onnx")
    got = _session(path).run([OUTPUT], {INPUT: model.encode(TEXTS).numpy()})[0]
    assert got.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    _check(model, path, trim=True)


def test_export_leaves_the_model_untouched(tiny_model: Path, tmp_path: Path) -> None:
    model = SentimentModel.load(tiny_model)
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    export_onnx(model, tmp_path / "model.onnx")
    for name, value in model.network.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert not model.network.training


def test_export_command(tiny_model: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_sentiment.cli import main

    out = tmp_path / "model.onnx"
    assert main(["export", str(tiny_model), "--format", "onnx", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    # the written file is the model: its probabilities (rows as the graph reads them) and the
    # metadata a caller needs to feed it
    model = SentimentModel.load(tiny_model)
    _check(model, out, trim=True)
    meta = _session(out).get_modelmeta().custom_metadata_map
    assert json.loads(meta["labels"]) == model.labels
    assert meta["sequence_length"] == str(model.config.text.sequence_length)
    assert json.loads(meta["mask_padding"]) is model.config.model.mask_padding
    assert meta["lstm_sentiment_version"] == __version__
    assert "positive" in meta["output"]


@pytest.mark.parametrize("hybrid", [True, False])
def test_accurate_layout_exports_exactly(hybrid: bool, tiny_model: Path, tmp_path: Path) -> None:
    """A bidirectional, pooled network (with or without the n-gram branch) exports too, with
    dynamic batch and length: no Python-side trimming or chunking is frozen into the graph."""
    base = SentimentModel.load(tiny_model)
    config = RunConfig.from_dict(base.config.to_dict())
    config.model = ModelConfig(vocab_size=base.config.model.vocab_size, num_classes=2,
                               embedding_dim=6, hidden_size=5, bidirectional=True,
                               pooling="max-mean",
                               ngram_features=64 if hybrid else 0)
    network = build(config.model, seed=2)
    with torch.no_grad():
        if hybrid:  # give the n-gram branch and the mix non-trivial values
            network.ngrams.fit(base.encode(["a great film", "an awful film", "a dull plot"]),
                               np.array([1, 0, 0]))
            network.ngrams.weight.normal_(generator=torch.Generator().manual_seed(0))
            network.mix.copy_(torch.tensor([0.7, 0.4]))
    model = SentimentModel(network, base.encoder, config, base.labels, info=base.info)
    path = export_onnx(model, tmp_path / "accurate.onnx")
    _check(model, path, trim=True)
