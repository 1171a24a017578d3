"""Robustness: a training run killed with SIGKILL and resumed, property-based checks of the text
encoding and of prediction on arbitrary Unicode, and bad input through the command line."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_imdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from lstm_sentiment.artifact import FORMAT_VERSION
from lstm_sentiment.cli import main
from lstm_sentiment.config import ModelConfig, TrainConfig
from lstm_sentiment.model import build
from lstm_sentiment.predict import NO_KNOWN_WORDS, NO_WORDS, SentimentModel
from lstm_sentiment.split import Split
from lstm_sentiment.trainer import fit


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to prove nothing was modified."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------
# 1. Training killed with SIGKILL mid-epoch, then resumed, equals an uninterrupted run

EPOCHS = 6


def _train_cmd(source: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lstm_sentiment", "-q", "train", "--source", str(source),
            "--out", str(out), "--epochs", str(EPOCHS), "--threads", "1", *extra]


def _epoch_metrics(folder: Path) -> list[dict[str, float]]:
    epochs = json.loads((folder / "history.json").read_text())["epochs"]
    return [{k: v for k, v in e.items() if k != "seconds"} for e in epochs]


def _check_checkpoint(ckpt: Path) -> int:
    """Every committed checkpoint file is complete; returns the epochs it says are done."""
    state = json.loads((ckpt / "state.json").read_text())
    weights = load_file(ckpt / state["files"]["model"])
    load_file(ckpt / state["files"]["optimizer"])
    assert weights and all(torch.isfinite(t).all() for t in weights.values())
    done = int(state["epochs_done"])
    assert len(state["history"]) == done
    return done


def _start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as f:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _wait_for_checkpoint(proc: subprocess.Popen[bytes], state: Path, epochs: int,
                         torn_reads: list[str]) -> dict:
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline, f"no checkpoint of epoch {epochs} within 120 s"
        assert proc.poll() is None, "training ended before it could be killed"
        try:
            seen = json.loads(state.read_text())
        except FileNotFoundError:
            seen = None
        except ValueError as exc:  # a reader must never see a half-written state.json
            torn_reads.append(str(exc))
            seen = None
        if seen and seen["epochs_done"] >= epochs:
            return seen
        time.sleep(0.005)


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path: Path) -> None:
    source = make_imdb(tmp_path / "data", n_train=2500, n_test=20)
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    # the uninterrupted reference runs beside the one we kill (one thread each: deterministic)
    ref = _start(_train_cmd(source, straight), tmp_path / "straight.log")
    proc = _start(_train_cmd(source, killed), tmp_path / "killed.log")
    torn_reads: list[str] = []
    try:
        seen = _wait_for_checkpoint(proc, killed / "checkpoint" / "state.json", 2, torn_reads)
        time.sleep(seen["history"][-1]["seconds"] / 2)  # die mid-epoch
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        assert not torn_reads, torn_reads
        # right after the kill: the checkpoint is whole, no model folder was committed
        done = _check_checkpoint(killed / "checkpoint")
        assert 2 <= done < EPOCHS
        assert not (killed / "checksums.json").exists()

        resumed = subprocess.run(_train_cmd(source, killed, "--resume"), capture_output=True,
                                 text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        assert f"Resuming after epoch {done}/{EPOCHS}" in resumed.stdout
        assert ref.wait(timeout=300) == 0, (tmp_path / "straight.log").read_text()
    finally:
        _stop(proc)
        _stop(ref)

    a, b = load_file(killed / "model.safetensors"), load_file(straight / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert _epoch_metrics(killed) == _epoch_metrics(straight)
    assert len(_epoch_metrics(killed)) == EPOCHS
    assert not (killed / "checkpoint").exists()  # cleaned up once the model folder is saved


def _toy_split(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    lengths = torch.randint(3, 12, (n,), generator=g)
    ids = torch.zeros(n, 12, dtype=torch.long)
    for i in range(n):
        ids[i, : lengths[i]] = torch.randint(2, 30, (int(lengths[i]),), generator=g)
        ids[i, 0] = 30 + int(labels[i])
    return Split(ids, labels)


def _toy_fit(epochs: int, ckpt: Path | None = None, resume: bool = False):
    net = build(ModelConfig(vocab_size=32, num_classes=2, embedding_dim=8, hidden_size=8), seed=5)
    cfg = TrainConfig(epochs=epochs, batch_size=16, seed=9, learning_rate=0.01)
    hist = fit(net, _toy_split(64, 0), _toy_split(32, 1), cfg, checkpoint_dir=ckpt,
               resume=resume, fingerprint={"run": "toy"}, log=lambda _line: None)
    return net, hist


def test_death_inside_checkpoint_write_still_resumes_exactly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full, full_hist = _toy_fit(4)
    real_replace = os.replace
    commits = {"n": 0}

    def dying_replace(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if Path(str(dst)).name == "state.json":
            commits["n"] += 1
            if commits["n"] == 2:  # epoch 2's weights are renamed into place; its state is not
                raise KeyboardInterrupt
        real_replace(src, dst, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as mp:
        mp.setattr(os, "replace", dying_replace)
        with pytest.raises(KeyboardInterrupt):
            _toy_fit(4, tmp_path)
    resumed, hist = _toy_fit(4, tmp_path, resume=True)
    assert [h["loss"] for h in hist.epochs] == [h["loss"] for h in full_hist.epochs]
    for (name, pa), pb in zip(full.state_dict().items(), resumed.state_dict().values(),
                              strict=True):
        assert torch.equal(pa, pb), name


# --------------------------------------------------------------------------------------------
# 2. Properties of the encoding and of prediction, for any text

SPECIAL = list("aZ <br/>\t\n\r\x0b\x0c\x00.,!?'\"-É é\u00a0\u2028\u3000\ufeff\U0001f600İK")
texts = st.one_of(
    st.text(max_size=200),  # any code point but surrogates
    st.text(alphabet=st.sampled_from(SPECIAL), max_size=200),
    st.lists(st.sampled_from([*SPECIAL, "<br />", "<BR />", "great ", "AWFUL! "]),
             max_size=60).map("".join),
    st.builds(lambda s, n: s * n, st.text(max_size=8), st.integers(0, 20_000)),  # huge repeats
)
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def model(tiny_model: Path) -> SentimentModel:
    return SentimentModel.load(tiny_model)


@PROPERTY
@given(text=texts)
def test_encoding_properties(model: SentimentModel, text: str) -> None:
    enc = model.encoder
    ids = enc.encode([text])
    assert ids.shape == (1, enc.sequence_length) and ids.dtype == np.int64
    assert ((ids >= 0) & (ids < enc.vocab_size)).all()
    row = ids[0]
    n = int((row != 0).sum())
    assert (row[:n] != 0).all() and (row[n:] == 0).all()  # padding only trails
    tokens = enc.tokens(text)
    # a real word never encodes as padding: one id per word, up to the sequence length
    assert n == min(len(tokens), enc.sequence_length)
    # the standardized words are a fixed point: no ASCII capitals, punctuation, whitespace
    assert all(tokens), tokens
    assert enc.tokens(" ".join(tokens)) == tokens


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(texts, min_size=1, max_size=6))
def test_predict_any_text_batch_equals_one_by_one(model: SentimentModel,
                                                  batch: list[str]) -> None:
    together = model.predict(batch)
    assert len(together) == len(batch)
    for text, pred in zip(batch, together, strict=True):
        alone = model.predict(text)
        assert (pred.reason, pred.tokens) == (alone.reason, alone.tokens), text
        if pred.reason is not None:  # nothing to read: no label, no score
            assert pred.label is None and pred.score is None
            continue
        assert 0.0 <= pred.score <= 1.0
        assert pred.label in model.labels
        assert abs(alone.score - pred.score) <= 1e-6, text
        assert alone.label == pred.label or abs(pred.score - 0.5) <= 1e-6


@pytest.mark.parametrize(("text", "reason"), [
    ("", NO_WORDS), (" ", NO_WORDS), (" \t\n\r\x0b\x0c ", NO_WORDS), ("<br />" * 3, NO_WORDS),
    (".,!?", NO_WORDS),  # the tutorial's standardization drops punctuation
    ("\x00", NO_KNOWN_WORDS), ("\u00a0\u3000", NO_KNOWN_WORDS),  # one word, not in the vocabulary
    ("zzzqx qqxzz", NO_KNOWN_WORDS)])
def test_texts_with_nothing_to_read_get_no_label(model: SentimentModel, text: str,
                                                 reason: str) -> None:
    (pred,) = model.predict([text])
    assert (pred.label, pred.score, pred.reason) == (None, None, reason)
    assert pred.tokens == len(model.encoder.tokens(text))
    # the probabilities are still the network's output: its prior alone
    proba = model.predict_proba([text])
    assert proba.shape == (1, 2) and abs(float(proba.sum()) - 1.0) < 1e-6


def test_one_string_gives_one_prediction(model: SentimentModel) -> None:
    one = model.predict("A great film")
    assert one == model.predict(["A great film"])[0]
    assert one.label in model.labels and one.tokens == 3 and one.reason is None


def test_predict_ten_megabytes(model: SentimentModel) -> None:
    unit = "It was GREAT,<br />really\x00 a wonderful film. "  # 6 words
    big = unit * (10 * 1024 * 1024 // len(unit))
    assert len(big) > 10_000_000
    (pred,) = model.predict([big])
    assert 0.0 <= pred.score <= 1.0
    # every word is read, in windows of sequence_length words; the windows of a text that
    # repeats itself all read alike, so the whole scores as one full window does
    assert pred.tokens == 6 * (len(big) // len(unit))
    window = unit * (model.encoder.sequence_length // 6)
    assert model.predict(window).score == pytest.approx(pred.score, abs=1e-3)


# --------------------------------------------------------------------------------------------
# 3. Bad input through the command line: exit 2, one line, nothing modified


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lstm-sentiment"), lines[0]
    assert pattern in lines[0], lines[0]


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])
def test_predict_stdin_with_invalid_utf8(capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, tiny_model: Path,
                                         errors: str) -> None:
    before = snapshot(tiny_model)
    raw = b"a great film\nbad \xff\xfe bytes, awful\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8",
                                                       errors=errors))
    code, out, err = run_cli(capsys, "predict", str(tiny_model))
    assert snapshot(tiny_model) == before
    # whatever the stream's error handler, predict decodes the bytes itself as the training
    # reader does: undecodable bytes become U+FFFD, and both lines are labelled (stderr holds
    # at most the note on a loosely calibrated model, which the tiny one is)
    assert code == 0
    assert [line for line in err.splitlines() if "loosely calibrated" not in line] == []
    texts = ["a great film", "bad \ufffd\ufffd bytes, awful"]
    want = SentimentModel.load(tiny_model).predict(texts)
    assert out.splitlines() == [f"{p.label}\t{p.score:.4f}\t{t}"
                                for p, t in zip(want, texts, strict=True)]


def test_model_from_a_newer_format_is_refused(capsys: pytest.CaptureFixture[str],
                                              tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "newer"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = FORMAT_VERSION + 1
    blob = json.dumps(config, indent=2).encode()
    (folder / "config.json").write_bytes(blob)
    sums = json.loads((folder / "checksums.json").read_text())
    sums["config.json"] = hashlib.sha256(blob).hexdigest()  # consistent, only newer
    (folder / "checksums.json").write_text(json.dumps(sums))
    before = snapshot(folder)
    for argv in (["predict", str(folder), "great"], ["plot", str(folder), "--out",
                                                     str(tmp_path / "c.png")]):
        code, out, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err, f"model format {FORMAT_VERSION + 1}")
        assert out == ""
    assert snapshot(folder) == before
    assert not (tmp_path / "c.png").exists()


def test_source_that_is_a_plain_text_file(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    plain = tmp_path / "reviews.txt"
    plain.write_text("a great film\nan awful film\n")
    code, _, err = run_cli(capsys, "-q", "train", "--source", str(plain), "--out",
                           str(tmp_path / "m"), "--epochs", "1")
    assert_one_line_error(code, err, "archive")
    assert plain.read_text() == "a great film\nan awful film\n"
    assert not (tmp_path / "m").exists()  # no empty --out folder left behind
    code, _, err = run_cli(capsys, "data", "inspect", "--source", str(plain))
    assert_one_line_error(code, err, "neither a dataset folder nor a .tar.gz archive")


def test_evaluate_data_with_a_third_class(capsys: pytest.CaptureFixture[str], tiny_model: Path,
                                          tmp_path: Path) -> None:
    base = make_imdb(tmp_path / "d", n_train=20, n_test=4)
    (base / "test" / "neutral").mkdir()
    (base / "test" / "neutral" / "0_5.txt").write_text("a film")
    before_data, before_model = snapshot(base), snapshot(tiny_model)
    code, out, err = run_cli(capsys, "evaluate", str(tiny_model), "--source", str(base))
    assert_one_line_error(code, err, "neutral")
    assert out == ""
    assert snapshot(base) == before_data and snapshot(tiny_model) == before_model


def test_evaluate_refuses_class_folders_the_model_never_saw(
        capsys: pytest.CaptureFixture[str], tiny_model: Path, tmp_path: Path) -> None:
    base = make_imdb(tmp_path / "d", n_train=20, n_test=4)
    (base / "test" / "pos").rename(base / "test" / "neutral")
    code, _, err = run_cli(capsys, "evaluate", str(tiny_model), "--source", str(base))
    assert_one_line_error(code, err, "neutral")


def test_plot_into_a_missing_folder(capsys: pytest.CaptureFixture[str], tiny_model: Path,
                                    tmp_path: Path) -> None:
    before = snapshot(tiny_model)
    target = tmp_path / "missing" / "curves.png"
    code, out, err = run_cli(capsys, "plot", str(tiny_model), "--out", str(target))
    assert_one_line_error(code, err, "cannot write")
    assert out == ""
    assert not target.parent.exists()
    assert snapshot(tiny_model) == before
