"""runtime.py: the onnxruntime runtime reads texts as PyTorch does (within 1e-5), for every
network kind, and keeps its exported graph in the cache."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_sentiment import artifact, runtime
from lstm_sentiment.config import ModelConfig, RunConfig
from lstm_sentiment.errors import UserError
from lstm_sentiment.model import build
from lstm_sentiment.predict import NO_KNOWN_WORDS, NO_WORDS, SentimentModel

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

TEXTS = [
    "The movie was great!",
    "Not a good movie!",
    "awful boring waste of a film and the worst ending",
    "",  # no words: the network's prior, and a reason
    "zzz qqq unknown words only",  # no known word
    "loved it, brilliant and moving, the best " * 9,  # three windows of the tiny model's 24
    "the plot was dull but the cast was superb",
    "Terrible.",
    "great " * 24,  # exactly one full window
    "the film was awful. " * 20,  # several windows, the last one short
]


@contextmanager
def _threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _variant(base: SentimentModel, **model: object) -> SentimentModel:
    """``base``'s vocabulary and labels with another network (random, non-trivial weights)."""
    config = RunConfig.from_dict(base.config.to_dict())
    classes = int(model.pop("num_classes", 2))  # type: ignore[call-overload]
    config.model = ModelConfig(vocab_size=base.config.model.vocab_size, num_classes=classes,
                               embedding_dim=6, hidden_size=5, **model)  # type: ignore[arg-type]
    network = build(config.model, seed=2)
    with torch.no_grad():
        if config.model.ngram_features:
            network.ngrams.fit(base.encode(["a great film", "an awful film", "a dull plot"]),
                               np.array([1, 0, 0]) if classes == 2 else np.array([0, 1, 2]))
            network.ngrams.weight.normal_(generator=torch.Generator().manual_seed(0))
            network.mix.copy_(torch.tensor([0.7, 0.4]))
        if config.model.lexicon:
            valence = network.recurrent.embedding.valence
            valence.uniform_(-1, 1, generator=torch.Generator().manual_seed(1))
    labels = base.labels if classes == 2 else ["a", "b", "c"]
    return SentimentModel(network, base.encoder, config, labels, info=base.info)


class _NoTorch:
    """Stands in for the network where only the onnxruntime session may run."""

    def __call__(self, *args: object) -> None:
        raise AssertionError("PyTorch ran the network")


KINDS = ["seed", "read-padding", "accurate", "accurate-order-2", "lexicon", "three-classes"]


def _model(kind: str, tiny_model: Path) -> SentimentModel:
    if kind == "seed":
        return SentimentModel.load(tiny_model, runtime="torch")
    if kind == "read-padding":  # the same weights, run through the padding (Keras's way)
        art = artifact.load_folder(tiny_model)
        art.config.model.mask_padding = False
        return SentimentModel.from_artifact(art)
    base = SentimentModel.load(tiny_model, runtime="torch")
    if kind == "accurate":  # the accurate preset's layout: BiLSTM, max-mean, n-grams to 3
        return _variant(base, bidirectional=True, pooling="max-mean", ngram_features=64,
                        ngram_order=3, lstm_length=16)
    if kind == "accurate-order-2":
        return _variant(base, bidirectional=True, pooling="last", ngram_features=64)
    if kind == "lexicon":
        return _variant(base, lexicon=True, bidirectional=True, pooling="max-mean")
    return _variant(base, num_classes=3, ngram_features=32, bidirectional=True,
                    pooling="max-mean")


@pytest.mark.parametrize("kind", KINDS)
def test_onnxruntime_reads_texts_as_torch_does(kind: str, tiny_model: Path) -> None:
    model = _model(kind, tiny_model)
    assert model.runtime == "torch"
    fast = model.with_runtime("onnxruntime")
    assert fast.runtime == "onnxruntime" and fast.network is model.network
    assert model.runtime == "torch"  # the original is left as it was
    expected = model.read(TEXTS)
    fast.network = _NoTorch()  # type: ignore[assignment]
    got = fast.read(TEXTS)
    assert got.probabilities.shape == (len(TEXTS), len(model.labels))
    np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(got.tokens, expected.tokens)
    assert got.reasons == expected.reasons
    assert got.reasons[3] == NO_WORDS and got.reasons[4] == NO_KNOWN_WORDS
    assert got.tokens[5] > model.config.text.sequence_length  # read whole, in windows
    for text, row in zip(TEXTS, expected.probabilities, strict=True):  # batches of one
        np.testing.assert_allclose(fast.read([text]).probabilities[0], row, atol=1e-5, rtol=0)
    first = fast.read(TEXTS, whole=False).probabilities  # first windows only
    np.testing.assert_allclose(first, model.read(TEXTS, whole=False).probabilities,
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["seed", "accurate"])
def test_many_texts_in_lanes_and_in_one_call_agree(kind: str, tiny_model: Path) -> None:
    model = _model(kind, tiny_model)
    fast = model.with_runtime("onnxruntime")
    fast.network = _NoTorch()  # type: ignore[assignment]
    texts = [f"{TEXTS[i % len(TEXTS)]} {'great' if i % 3 else 'awful'} film {i}"
             for i in range(300)]
    ids = torch.from_numpy(model.encoder.encode_windows(texts, np.int16)[0])
    expected = model.logits(ids)
    with _threads(2):  # batches of 16 rows side by side in two lanes
        lanes = fast.logits(ids, batch_size=16)
        one_session = fast.logits(ids, batch_size=16, side_by_side=False)  # two intra-op threads
    with _threads(1):
        alone = fast.logits(ids, batch_size=512)
    for got in (lanes, one_session, alone):
        torch.testing.assert_close(got, expected, atol=2e-5, rtol=0)
    session = fast._runner.onnx
    assert session is not None and sorted(session._sessions) == [1, 2]  # PyTorch's count
    np.testing.assert_allclose(fast.predict_proba(texts), model.predict_proba(texts),
                               atol=1e-5, rtol=0)
    assert fast.logits(ids[:0]).shape == expected[:0].shape  # no rows at all


def test_predict_and_explain_agree(tiny_model: Path) -> None:
    model = SentimentModel.load(tiny_model, runtime="torch")
    fast = SentimentModel.load(tiny_model, runtime="onnxruntime")
    for a, b in zip(model.predict(TEXTS), fast.predict(TEXTS), strict=True):
        assert (a.label, a.tokens, a.reason) == (b.label, b.tokens, b.reason)
        assert a.score == pytest.approx(b.score, abs=1e-5) if a.score is not None else True
    one = fast.predict("a great film")
    assert one.label == model.predict("a great film").label
    a, b = model.explain("great film but awful plot"), fast.explain("great film but awful plot")
    assert a.tokens == b.tokens
    np.testing.assert_allclose(b.contributions, a.contributions, atol=1e-5)
    assert fast.trace("great film").score == pytest.approx(model.trace("great film").score,
                                                            abs=1e-5)


def _cached(cache: Path) -> list[Path]:
    return sorted((cache / "onnx").glob("*.onnx"))


def test_the_graph_is_cached_outside_the_model_folder(tiny_model: Path, tmp_path: Path) -> None:
    cache = Path(os.environ["LSTM_SENTIMENT_CACHE"])
    folder_before = sorted(p.name for p in tiny_model.iterdir())
    first = SentimentModel.load(tiny_model, runtime="onnxruntime")
    assert first._runner.onnx is not None and not first._runner.onnx.from_cache
    (graph,) = _cached(cache)
    assert graph.stem == first._runner.onnx.key
    second = SentimentModel.load(tiny_model, runtime="onnxruntime")
    assert second._runner.onnx is not None and second._runner.onnx.from_cache
    assert sorted(p.name for p in tiny_model.iterdir()) == folder_before
    # a copy of the folder elsewhere has the same weights and settings: the same graph
    copy = SentimentModel.load(tiny_model, runtime="torch")
    copy.save(tmp_path / "copy")
    assert SentimentModel.load(tmp_path / "copy", runtime="onnxruntime")._runner.onnx.from_cache
    assert _cached(cache) == [graph]


def test_other_weights_or_settings_get_another_graph(tiny_model: Path) -> None:
    model = SentimentModel.load(tiny_model, runtime="torch")
    key = runtime.graph_key(model.network, model.labels, 24)
    assert runtime.graph_key(model.network, model.labels, 32) != key
    assert runtime.graph_key(model.network, ["bad", "good"], 24) != key
    read = _model("read-padding", tiny_model)
    assert runtime.graph_key(read.network, model.labels, 24) != key
    with torch.no_grad():
        model.network.head.bias += 0.5
    assert runtime.graph_key(model.network, model.labels, 24) != key


@pytest.mark.parametrize("damage", ["garbage", "other-graph"])
def test_a_damaged_or_wrong_cached_graph_is_made_again(damage: str, tiny_model: Path) -> None:
    cache = Path(os.environ["LSTM_SENTIMENT_CACHE"])
    model = SentimentModel.load(tiny_model, runtime="onnxruntime")
    (graph,) = _cached(cache)
    if damage == "garbage":
        graph.write_bytes(b"not an onnx graph")
    else:  # a valid graph of other weights under this key
        other = _model("accurate", tiny_model).with_runtime("onnxruntime")
        graph.write_bytes((cache / "onnx" / f"{other._runner.onnx.key}.onnx").read_bytes())
    again = SentimentModel.load(tiny_model, runtime="onnxruntime")
    assert again._runner.onnx is not None and not again._runner.onnx.from_cache
    np.testing.assert_allclose(again.predict_proba(TEXTS), model.predict_proba(TEXTS),
                               atol=1e-6, rtol=0)
    assert SentimentModel.load(tiny_model, runtime="onnxruntime")._runner.onnx.from_cache


def test_an_unwritable_cache_costs_only_the_export(tiny_model: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache cannot be a folder here")
    monkeypatch.setenv("LSTM_SENTIMENT_CACHE", str(blocker))
    model = SentimentModel.load(tiny_model, runtime="onnxruntime")
    assert model._runner.onnx is not None and model._runner.onnx.path is None
    torch_model = SentimentModel.load(tiny_model, runtime="torch")
    np.testing.assert_allclose(model.predict_proba(TEXTS), torch_model.predict_proba(TEXTS),
                               atol=1e-5, rtol=0)


def test_auto_runs_small_batches_on_onnxruntime_and_larger_ones_on_torch(
        tiny_model: Path) -> None:
    model = SentimentModel.load(tiny_model)
    assert model.runtime == "auto" and model._runner.onnx is not None
    ran: list[tuple[str, int]] = []
    session, network = model._runner.onnx, model.network
    model._runner.onnx = lambda ids: ran.append(("onnxruntime", len(ids))) or session(ids)
    model.network = lambda ids: ran.append(("torch", len(ids))) or network(ids)
    texts = [f"a great film {i}" for i in range(runtime.AUTO_MAX_ROWS + 1)]
    one_by_one = [model.read([t]).probabilities[0] for t in texts]
    small = model.read(texts[:-1]).probabilities
    assert ran == [("onnxruntime", 1)] * len(texts) + [("onnxruntime", len(texts) - 1)]
    ran.clear()
    larger = model.read(texts).probabilities
    assert ran == [("torch", len(texts))]
    np.testing.assert_allclose(larger, one_by_one, atol=1e-5, rtol=0)
    np.testing.assert_allclose(small, larger[:-1], atol=1e-5, rtol=0)


def _refused(*args: object, **kwargs: object) -> None:
    raise RuntimeError("Exporting the operator 'aten::valence' to ONNX opset version 17 is "
                       "not supported.\nPlease feel free to request support or submit a pull "
                       "request on PyTorch GitHub: https://github.com/pytorch/pytorch/issues.")


def _no_kernel(*args: object, **kwargs: object) -> None:
    raise RuntimeError("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an "
                       "implementation for LabelEncoder(4) node with name 'LabelEncoder_7'")


MESSAGES = {"export": "aten::valence", "session": "LabelEncoder(4)", "probe": "differ"}


@pytest.mark.parametrize("failure", list(MESSAGES))
def test_where_the_graph_cannot_stand_in_auto_runs_torch_and_onnxruntime_refuses(
        failure: str, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lstm_sentiment import export

    if failure == "export":  # the exporter refuses a layer
        monkeypatch.setattr(export, "onnx_graph", _refused)
    elif failure == "session":  # onnxruntime has no kernel for an operator of the graph
        monkeypatch.setattr(runtime.OnnxNetwork, "session", _no_kernel)
    else:  # the graph runs but its logits are not the network's
        real = runtime.OnnxNetwork.__call__
        monkeypatch.setattr(runtime.OnnxNetwork, "__call__",
                            lambda self, ids, threads=None: real(self, ids, threads=threads) + 1)
    model = SentimentModel.load(tiny_model)
    assert model.runtime == "torch" and model._runner.onnx is None
    assert model.runtime_note is not None and model.runtime_note.startswith("auto runs torch")
    assert "\n" not in model.runtime_note
    expected = SentimentModel.load(tiny_model, runtime="torch")
    assert expected.runtime_note is None
    np.testing.assert_array_equal(model.read(TEXTS).probabilities,
                                  expected.read(TEXTS).probabilities)
    with pytest.raises(UserError, match="onnxruntime runtime cannot run this model") as refused:
        SentimentModel.load(tiny_model, runtime="onnxruntime")
    assert "\n" not in str(refused.value)
    assert MESSAGES[failure] in str(refused.value) and MESSAGES[failure] in model.runtime_note


def test_the_commands_run_on_torch_where_auto_cannot_use_onnxruntime(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_sentiment import export
    from lstm_sentiment.cli import main

    monkeypatch.setattr(export, "onnx_graph", _refused)
    assert main(["predict", str(tiny_model), "a great film", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] is not None
    src = tmp_path / "in.txt"
    src.write_text("a great film\nan awful film\n")
    assert main(["score", str(tiny_model), "--input", str(src), "--output",
                 str(tmp_path / "out.jsonl")]) == 0
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2
    capsys.readouterr()
    assert main(["predict", str(tiny_model), "x", "--runtime", "onnxruntime"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "onnxruntime runtime cannot run this model" in err


def test_auto_moves_to_torch_for_good_when_a_session_fails(tiny_model: Path) -> None:
    model = SentimentModel.load(tiny_model)
    expected = SentimentModel.load(tiny_model, runtime="torch").read(TEXTS[:3]).probabilities
    assert model.runtime == "auto"

    def broken(ids: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : bad allocation")

    model._runner.onnx = broken  # type: ignore[assignment]
    np.testing.assert_array_equal(model.read(TEXTS[:3]).probabilities, expected)
    assert model.runtime == "torch" and "bad allocation" in (model.runtime_note or "")
    strict = SentimentModel.load(tiny_model, runtime="onnxruntime")
    strict._runner.onnx = broken  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="bad allocation"):  # asked for: no quiet change
        strict.read(TEXTS[:3])


def test_auto_is_torch_without_onnxruntime(
        tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert SentimentModel.load(tiny_model, lstm="reference").runtime == "torch"
    monkeypatch.setattr(runtime, "onnxruntime_available", lambda: False)
    assert SentimentModel.load(tiny_model).runtime == "torch"
    with pytest.raises(UserError, match="pip install onnx onnxruntime"):
        SentimentModel.load(tiny_model, runtime="onnxruntime")
    with pytest.raises(UserError, match="unknown runtime 'tensorflow'"):
        SentimentModel.load(tiny_model, runtime="tensorflow")


def test_the_commands_take_a_runtime(tiny_model: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_sentiment.cli import main

    answers = {}
    for name in ("torch", "onnxruntime"):
        assert main(["predict", str(tiny_model), *TEXTS[:3], "--json", "--runtime", name]) == 0
        answers[name] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for a, b in zip(answers["torch"], answers["onnxruntime"], strict=True):
        assert a["label"] == b["label"] and a["score"] == pytest.approx(b["score"], abs=1e-5)
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(tiny_model), "x", "--runtime", "keras"])
    assert stop.value.code == 2 and "invalid choice: 'keras'" in capsys.readouterr().err
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS[:3]) + "\n")
    assert main(["score", str(tiny_model), "--input", str(src), "--output",
                 str(tmp_path / "out.jsonl"), "--runtime", "onnxruntime"]) == 0
    scores = [json.loads(line)["score"] for line in
              (tmp_path / "out.jsonl").read_text().splitlines()]
    assert scores == pytest.approx([a["score"] for a in answers["torch"]], abs=1e-5)


def test_serve_takes_a_runtime_for_every_worker() -> None:
    import argparse

    from lstm_sentiment.server import ServeOptions, add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).runtime == ServeOptions.runtime == "auto"
    assert parser.parse_args(["--runtime", "torch"]).runtime == "torch"


def test_helper_processes_load_the_runtime_of_the_model(tiny_model: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from lstm_sentiment import pool

    seen: list[str] = []
    real = pool._init_helper
    monkeypatch.setattr(pool, "_HELPER_MODEL", None)
    for name in ("torch", "onnxruntime"):
        model = SentimentModel.load(tiny_model, runtime=name)
        model.save(tmp_path / name)
        real(str(tmp_path / name), 1, model.runtime)  # what a spawned helper runs first
        assert pool._HELPER_MODEL is not None
        seen.append(pool._HELPER_MODEL.runtime)
    assert seen == ["torch", "onnxruntime"]
