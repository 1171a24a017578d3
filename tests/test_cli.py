"""The command line, end to end on tiny data, and its one-line errors (exit code 2)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_imdb

from lstm_sentiment import SentimentModel
from lstm_sentiment.cli import main

TINY = ["--epochs", "2"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lstm-sentiment") and ": error: " in lines[0]
    assert pattern in lines[0], lines[0]
    assert "Traceback" not in err


def test_data_inspect_json(capsys: pytest.CaptureFixture[str], tiny_imdb: Path) -> None:
    code, out, _ = run_cli(capsys, "data", "inspect", "--source", str(tiny_imdb), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["counts"]["test"]["total"] == 40
    assert len(report["validation_digest"]) == 64


def test_data_fetch_prints_the_root(capsys: pytest.CaptureFixture[str],
                                    tiny_archive: Path) -> None:
    code, out, _ = run_cli(capsys, "-q", "data", "fetch", "--source", str(tiny_archive))
    assert code == 0 and (Path(out.strip()) / "train" / "neg").is_dir()


def test_train_evaluate_predict_plot(capsys: pytest.CaptureFixture[str], tiny_imdb: Path,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out_dir = tmp_path / "m"
    code, out, _ = run_cli(capsys, "-q", "train", "--source", str(tiny_imdb), "--out",
                           str(out_dir), *TINY)
    assert code == 0
    assert "Epoch 1/2 - loss: " in out and "val_acc: " in out
    assert "test: accuracy" in out and "246,305" not in out  # tiny vocab, fewer parameters
    assert (out_dir / "checksums.json").exists() and not (out_dir / "checkpoint").exists()

    code, out, _ = run_cli(capsys, "evaluate", str(out_dir), "--source", str(tiny_imdb),
                           "--split", "test", "--json")
    metrics = json.loads(out)
    assert code == 0 and metrics["split"] == "test" and metrics["n"] == 40
    assert sum(map(sum, metrics["confusion_matrix"])) == 40
    # the same model on the same reviews: what the training run recorded for its test split
    model = SentimentModel.load(out_dir)
    recorded = model.info["metrics"]["test"]
    assert metrics["confusion_matrix"] == recorded["confusion_matrix"]
    assert metrics["accuracy"] == recorded["accuracy"]
    assert metrics["loss"] == pytest.approx(recorded["loss"], abs=1e-6)
    # the text output: the same figures, the per-class ones included
    code, out, _ = run_cli(capsys, "evaluate", str(out_dir), "--source", str(tiny_imdb),
                           "--split", "test")
    assert code == 0 and f"accuracy {metrics['accuracy']:.4f}" in out
    assert f"(ECE, 15 bins) {metrics['ece']:.4f}" in out
    for name, c in metrics["per_class"].items():
        row = next(line.split() for line in out.splitlines()[-2:] if line.split()[0] == name)
        assert row[1:] == [f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}",
                           str(c["support"])]

    code, out, _ = run_cli(capsys, "predict", str(out_dir), "A great movie", "Awful!", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["text"] for r in rows] == ["A great movie", "Awful!"]
    want = model.predict(["A great movie", "Awful!"])
    assert [r["label"] for r in rows] == [p.label for p in want]
    assert [r["score"] for r in rows] == pytest.approx([p.score for p in want], abs=1e-6)
    assert all((r["score"] > 0.5) == (r["label"] == "positive") for r in rows)

    monkeypatch.setattr(sys, "stdin", io.StringIO("first line\nsecond, line\n"))
    code, out, _ = run_cli(capsys, "predict", str(out_dir))
    assert code == 0 and [line.split("\t")[2] for line in out.splitlines()] == \
        ["first line", "second, line"]

    # loosely calibrated scores get a note on stderr; well calibrated ones and --json do not
    for ece, noted in ((0.09, True), (0.01, False), (None, False)):
        monkeypatch.setattr(SentimentModel, "calibration_error", property(lambda self, e=ece: e))
        code, out, err = run_cli(capsys, "predict", str(out_dir), "A great movie")
        assert code == 0 and out.count("\n") == 1
        assert ("loosely calibrated (validation ECE 0.09)" in err) == noted, err
        code, _, err = run_cli(capsys, "predict", str(out_dir), "A great movie", "--json")
        assert err == ""
    monkeypatch.undo()
    assert SentimentModel.load(out_dir).calibration_error is not None  # recorded at training

    png = tmp_path / "curves.png"
    code, _, _ = run_cli(capsys, "plot", str(out_dir), "--out", str(png))
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a second train into the same folder must not overwrite the model
    before = (out_dir / "model.safetensors").read_bytes()
    code, _, err = run_cli(capsys, "train", "--source", str(tiny_imdb), "--out", str(out_dir))
    assert_one_line_error(code, err, "already holds a trained model")
    assert (out_dir / "model.safetensors").read_bytes() == before


def test_interrupted_training_resumes(capsys: pytest.CaptureFixture[str], tiny_imdb: Path,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    # the module, not the package's train() function of the same name
    train_mod = importlib.import_module("lstm_sentiment.trainer")

    real = train_mod.save_checkpoint
    calls = {"n": 0}

    def interrupt_after_first(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "save_checkpoint", interrupt_after_first)
    out_dir = tmp_path / "m"
    code, _, err = run_cli(capsys, "-q", "train", "--source", str(tiny_imdb), "--out",
                           str(out_dir), "--epochs", "3")
    assert code == 130 and "--resume" in err
    assert (out_dir / "checkpoint" / "state.json").exists()
    code, out, _ = run_cli(capsys, "-q", "train", "--source", str(tiny_imdb), "--out",
                           str(out_dir), "--epochs", "3", "--resume")
    assert code == 0 and "Resuming after epoch 1/3" in out and "Epoch 1/3" not in out
    assert "Epoch 3/3" in out and (out_dir / "checksums.json").exists()


def test_bad_inputs_are_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        tiny_imdb: Path, tiny_archive: Path) -> None:
    no_classes = tmp_path / "noclass"
    (no_classes / "train" / "stuff").mkdir(parents=True)
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(b"\x1f\x8b not really gzip")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    cases = [
        (["data", "inspect", "--source", str(tmp_path / "missing")], "source not found"),
        (["data", "inspect", "--source", str(no_classes)], "at least two class folders"),
        (["data", "fetch", "--source", str(corrupt)], "corrupt or truncated archive"),
        (["data", "fetch", "--source", str(tiny_archive), "--sha256", "ab" * 32],
         "sha256 mismatch"),
        (["train", "--preset", "nope", "--out", str(tmp_path / "x")], "invalid choice: 'nope'"),
        (["train", "--epochs", "0", "--out", str(tmp_path / "x")], "expected a number >= 1"),
        (["train", "--epochs", "many", "--out", str(tmp_path / "x")], "expected a whole number"),
        (["train", "--bogus", "--out", str(tmp_path / "x")], "unrecognized arguments"),
        (["predict", str(tmp_path / "no-model"), "hi"], "no model folder"),
        (["frobnicate"], "invalid choice"),
    ]
    if os.geteuid() != 0:  # root can write anywhere
        cases.append((["train", "--source", str(tiny_imdb), "--out", str(readonly / "m")],
                      "cannot write to --out"))
    else:
        cases.append((["train", "--source", str(tiny_imdb), "--out", str(corrupt)],
                      "is a file, not a folder"))
    for argv, pattern in cases:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        _, err = capsys.readouterr()
        assert_one_line_error(code, err, pattern)
    assert corrupt.read_bytes() == b"\x1f\x8b not really gzip"  # nothing written over


def test_undecodable_reviews_are_counted(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    base = make_imdb(tmp_path / "d", n_train=20, n_test=4)
    (base / "train" / "neg" / "0_1.txt").write_bytes(b"bad \xff\xfe bytes, awful")
    code, out, _ = run_cli(capsys, "-q", "train", "--source", str(base), "--out",
                           str(tmp_path / "m"), "--epochs", "1", "--no-test")
    assert code == 0
    assert "1 train texts had undecodable bytes" in out or \
        "1 validation texts had undecodable bytes" in out


def test_console_script_is_installed() -> None:
    exe = shutil.which("lstm-sentiment", path=str(Path(sys.executable).parent))
    assert exe, "the lstm-sentiment console script is not installed next to python"
    proc = subprocess.run([exe, "predict", "/nonexistent/model", "x"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "lstm-sentiment: error: no model folder at /nonexistent/model"
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for command in ("data", "train", "evaluate", "predict", "plot"):
        assert command in proc.stdout
