"""predict.py beyond labels: swapping the LSTM implementation, gate traces, explanations."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_sentiment import SentimentModel
from lstm_sentiment.cli import main

TEXTS = ["A great and wonderful film", "boring, awful, the worst plot", "", "movie " * 40]


@pytest.mark.parametrize("lstm", ["reference", "fused"])
def test_lstm_implementations_are_interchangeable(tiny_model: Path, lstm: str) -> None:
    trained = SentimentModel.load(tiny_model)  # trained with the fused LSTM
    swapped = SentimentModel.load(tiny_model, lstm=lstm)
    assert type(swapped.network.lstm).__name__ == ("ReferenceLSTM" if lstm == "reference"
                                                   else "LSTM")
    np.testing.assert_allclose(swapped.predict_proba(TEXTS), trained.predict_proba(TEXTS),
                               atol=1e-5, rtol=0)


def test_model_trained_with_the_reference_lstm_runs_fused(tiny_imdb: Path,
                                                          tmp_path: Path) -> None:
    from lstm_sentiment import config as cfg
    from lstm_sentiment.pipeline import run

    config = cfg.preset("seed")
    config.data.source = str(tiny_imdb)
    config.text.max_tokens, config.text.sequence_length = 40, 16
    config.train.epochs, config.train.batch_size = 1, 30
    config.model.lstm = "reference"
    run(config, tmp_path / "ref", evaluate_test=False, log=lambda _l: None)
    ref = SentimentModel.load(tmp_path / "ref")
    assert type(ref.network.lstm).__name__ == "ReferenceLSTM"
    fused = SentimentModel.load(tmp_path / "ref", lstm="fused")
    np.testing.assert_allclose(fused.predict_proba(TEXTS), ref.predict_proba(TEXTS),
                               atol=1e-5, rtol=0)


def test_trace_follows_the_equations_and_the_model(tiny_model: Path) -> None:
    model = SentimentModel.load(tiny_model)
    text = "Great wonderful movie, the plot was fun"
    tr = model.trace(text)
    n = len(tr.tokens)
    assert tr.tokens == model.encoder.tokens(text)[:n] and n == 7
    for a in (tr.input_gate, tr.forget_gate, tr.output_gate, tr.candidate, tr.cell, tr.hidden):
        assert a.shape == (n, model.config.model.hidden_size)
    c_prev = np.zeros_like(tr.cell[0])
    for t in range(n):  # C_t = f*C_{t-1} + i*C~ ; h_t = o*tanh(C_t)
        c = tr.forget_gate[t] * c_prev + tr.input_gate[t] * tr.candidate[t]
        np.testing.assert_allclose(tr.cell[t], c, atol=1e-6)
        np.testing.assert_allclose(tr.hidden[t], tr.output_gate[t] * np.tanh(c), atol=1e-6)
        c_prev = c
    # the last hidden state is exactly what the classifier head reads
    head = model.network.head
    logit = head(torch.from_numpy(tr.hidden[-1])).item()
    assert tr.score == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-5)
    assert set(tr.to_dict()) >= {"tokens", "input_gate", "forget_gate", "output_gate",
                                 "candidate", "cell_norm", "hidden_norm"}


def test_explain_by_occlusion(tiny_model: Path) -> None:
    model = SentimentModel.load(tiny_model)
    text = "great wonderful the plot"
    ex = model.explain(text)
    assert ex.tokens == ["great", "wonderful", "the", "plot"] and ex.method == "occlusion"
    for t, c in enumerate(ex.contributions):
        rest = " ".join(w for i, w in enumerate(ex.tokens) if i != t)
        assert c == pytest.approx(ex.score - model.predict([rest])[0].score, abs=1e-5)
    assert model.explain("").tokens == []


def test_explain_cli_with_gates(tiny_model: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "gates.png"
    code = main(["explain", str(tiny_model), "Great fun, awful plot", "--gates", "--out",
                 str(png), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    assert [t["token"] for t in out["tokens"]] == ["great", "fun", "awful", "plot"]
    assert len(out["gates"]["forget_gate"]) == 4
    code = main(["explain", str(tiny_model), "fun", "--gates", "--out", str(tmp_path / "x.gif")])
    assert code == 2 and "choose a .png" in capsys.readouterr().err


def test_python_train_api_returns_the_model(tiny_imdb: Path, tmp_path: Path) -> None:
    import lstm_sentiment
    from lstm_sentiment.config import preset

    config = preset("seed")
    config.data.source = str(tiny_imdb)
    config.text.max_tokens, config.text.sequence_length = 40, 16
    config.train.epochs = 1
    model = lstm_sentiment.train(config, tmp_path / "py", log=lambda _l: None)
    assert isinstance(model, SentimentModel)
    assert model.info["metrics"]["test"]["n"] == 40
    again = lstm_sentiment.load(tmp_path / "py")
    np.testing.assert_array_equal(again.predict_proba(TEXTS), model.predict_proba(TEXTS))


def test_small_batches_run_on_one_thread_with_the_same_results(tiny_model: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    from lstm_sentiment import predict

    model = SentimentModel.load(tiny_model, runtime="torch")  # PyTorch: its forward is watched
    texts = TEXTS * 5  # more rows than SMALL_BATCH: the threaded path
    assert len(texts) > predict.SMALL_BATCH
    seen: list[int] = []
    forward = model.network.forward
    monkeypatch.setattr(model.network, "forward",
                        lambda ids: seen.append(torch.get_num_threads()) or forward(ids))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        together = model.predict_proba(texts)
        assert set(seen) == {2}
        seen.clear()
        alone = np.concatenate([model.predict_proba([t]) for t in texts])
        assert set(seen) == {1}
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(before)
    np.testing.assert_allclose(alone, together, atol=1e-6, rtol=0)


def test_batches_run_side_by_side_in_lanes_with_the_same_numbers(
        tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from lstm_sentiment import predict

    monkeypatch.setattr(predict, "MIN_LANE_BATCH", 2)
    model = SentimentModel.load(tiny_model, runtime="torch")  # PyTorch: its forward is watched
    ids = model.encode(TEXTS * 10)
    seen: list[tuple[str, int, int]] = []
    forward = model.network.forward
    monkeypatch.setattr(model.network, "forward", lambda batch: seen.append(
        (threading.current_thread().name, torch.get_num_threads(), len(batch)))
        or forward(batch))
    caller = threading.current_thread().name
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_lane = model.logits(ids, batch_size=4)
        assert {(name, n) for name, _, n in seen} == {(caller, 4)}
        seen.clear()
        torch.set_num_threads(2)
        lanes = model.logits(ids, batch_size=4)
        assert torch.get_num_threads() == 2  # the caller's setting is its own
    finally:
        torch.set_num_threads(before)
    # 20 batches of 2 rows (the lanes share the batch size), each on one intra-op thread:
    # half on this thread, half on a lane's
    assert sorted(n for _, _, n in seen) == [2] * 20 and {t for _, t, _ in seen} == {1}
    names = [name for name, _, _ in seen]
    assert names.count(caller) == 10
    assert all(name.startswith("lstm-sentiment-lane") for name in names if name != caller)
    torch.testing.assert_close(lanes, one_lane, rtol=0, atol=1e-6)  # other batch shapes


_FORKED: dict[str, object] = {}  # what a forked child inherits (nothing is pickled)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_lanes_work_in_a_forked_child(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    from lstm_sentiment import predict

    monkeypatch.setattr(predict, "MIN_LANE_BATCH", 2)
    model = SentimentModel.load(tiny_model)
    ids = model.encode(TEXTS * 10)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        expected = model.logits(ids, batch_size=4)  # the parent's lanes now exist
        _FORKED.update(model=model, ids=ids)
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(1) as pool:  # the child would wait forever on the parent's lanes
            got = pool.apply_async(_child_logits).get(timeout=60)
    finally:
        torch.set_num_threads(before)
        _FORKED.clear()
    assert got == expected.tolist()


def _child_logits() -> list[float]:
    model, ids = _FORKED["model"], _FORKED["ids"]
    assert isinstance(model, SentimentModel) and isinstance(ids, torch.Tensor)
    torch.set_num_threads(2)
    return model.logits(ids, batch_size=4).tolist()


def test_long_texts_are_read_whole_in_windows(tiny_model: Path) -> None:
    model = SentimentModel.load(tiny_model)
    length = model.encoder.sequence_length
    words = ("great fun awful boring wonderful dull film plot " * 20).split()[: 2 * length + 7]
    text = " ".join(words)
    reading = model.read([text, "great fun"])
    assert reading.tokens.tolist() == [2 * length + 7, 2]
    # by hand: three windows, each read as a whole text, their logits weighted by their words
    windows = [" ".join(words[i : i + length]) for i in range(0, len(words), length)]
    logits = model.logits(model.encode(windows))
    sizes = torch.tensor([length, length, 7], dtype=logits.dtype)
    expected = torch.sigmoid((logits * sizes).sum() / sizes.sum())
    assert reading.probabilities[0, 1] == pytest.approx(float(expected), abs=1e-6)
    # a text of one window reads exactly as before: its own row's logits
    assert reading.probabilities[1, 1] == float(torch.sigmoid(model.logits(model.encode(
        ["great fun"])))[0])
