"""The command line's face: help that tells the truth, one error prefix, --quiet anywhere, and
every input checked before the long work of each command starts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import assert_one_line_error, run_cli

from lstm_sentiment import cli, commands

COMMANDS_WITH_A_MODEL = ["evaluate", "predict", "explain", "serve", "score", "export", "plot"]


def _help(*argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args([*argv, "--help"])
    assert info.value.code == 0
    return ""


@pytest.mark.parametrize("command", COMMANDS_WITH_A_MODEL)
def test_model_arguments_mention_bundled(capsys: pytest.CaptureFixture[str],
                                         command: str) -> None:
    _help(command)
    text = " ".join(capsys.readouterr().out.split())
    assert "MODEL" in text and "'bundled' for the model that ships with the package" in text


def test_predict_help_explains_text_and_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    _help("predict")
    text = " ".join(capsys.readouterr().out.split())
    assert "TEXT" in text and "standard input is read, one text a line" in text


@pytest.mark.parametrize(("argv", "shown"), [
    (["train"], ["(default: seed)", "(default: auto)", "(default: 1)"]),
    # zero and the empty string are defaults too, though 0 == False and "" is falsy
    (["score"], ["(default: 2000)", "(default: 1)", "fields (default: '')"]),
    (["serve"], ["(default: 127.0.0.1)", "(default: 8000)", "pass (default: 0.0)"]),
    (["evaluate"], ["(default: test)"]),
    (["plot"], ["(default: curves.png)"]),
])
def test_help_shows_defaults(capsys: pytest.CaptureFixture[str], argv: list[str],
                             shown: list[str]) -> None:
    _help(*argv)
    text = " ".join(capsys.readouterr().out.split())
    for default in shown:
        assert default in text


def test_quiet_works_after_the_command_too(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["-q", "predict", "m", "x"]).quiet is True
    assert parser.parse_args(["predict", "m", "x", "--quiet"]).quiet is True
    assert parser.parse_args(["data", "inspect", "-q"]).quiet is True
    assert parser.parse_args(["predict", "m", "x"]).quiet is False


@pytest.mark.parametrize("argv", [["train", "--epochs", "0", "--out", "x"], ["frobnicate"],
                                  ["data", "inspect", "--bogus"], ["predict"]])
def test_usage_errors_have_the_same_prefix_as_every_error(capsys: pytest.CaptureFixture[str],
                                                          argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("lstm-sentiment: error: ")


def test_help_answers_without_loading_torch() -> None:
    code = ("import sys, lstm_sentiment, lstm_sentiment.cli as c\n"
            "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip().splitlines()[-1] == "False"


# ------------------------------------------------------------------ inputs before long work


def test_data_inspect_counts_a_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("review,verdict\n" + "".join(f"text {i},{'good' if i % 3 else 'bad'}\n"
                                                  for i in range(40)))
    code, out, _ = run_cli(capsys, "data", "inspect", "--source", str(table),
                           "--label-field", "verdict", "--json")
    report = json.loads(out)
    assert code == 0
    counts = report["counts"]
    assert counts["train"]["total"] + counts["validation"]["total"] == 40
    assert counts["train"]["bad"] + counts["validation"]["bad"] == 14
    assert "test" not in counts


def test_train_checks_the_test_source_before_training(capsys: pytest.CaptureFixture[str],
                                                      tiny_imdb: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    started = time.perf_counter()
    code, printed, err = run_cli(capsys, "train", "--source", str(tiny_imdb), "--test-source",
                                 str(tmp_path / "missing.csv"), "--out", str(out))
    assert_one_line_error(code, err, "source not found")
    assert "Epoch" not in printed and not out.exists()  # no training, no checkpoint left
    assert time.perf_counter() - started < 60

    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\ngreat,happy\n")  # a class the training data does not have
    code, printed, err = run_cli(capsys, "train", "--source", str(tiny_imdb), "--test-source",
                                 str(bad), "--out", str(out))
    assert_one_line_error(code, err, "label 'happy' is not one of neg, pos")
    assert "Epoch" not in printed and not out.exists()


def test_train_checks_resume_and_out_before_reading_data(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "train", "--source", str(tmp_path / "nowhere"), "--out",
                           str(tmp_path / "m"), "--resume")
    assert_one_line_error(code, err, "nothing to resume")
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(capsys, "train", "--source", str(tmp_path / "nowhere"), "--out",
                           str(tmp_path / "file"))
    assert_one_line_error(code, err, "is a file, not a folder")


@pytest.mark.parametrize(("argv", "pattern"), [
    (["score", "MODEL", "--input", "IN/missing.csv"], "no such file"),
    (["score", "MODEL", "--input", "IN/in.csv", "--output", "IN/no/dir/out.csv"],
     "does not exist"),
    (["score", "MODEL", "--input", "IN/in.json"], "JSON Lines"),
    (["explain", "MODEL", "great", "--gates", "--out", "IN/no/dir/g.png"], "does not exist"),
    (["plot", "MODEL", "--out", "IN/no/dir/c.png"], "does not exist"),
    (["export", "MODEL", "--out", "IN/no/dir/m.onnx"], "does not exist"),
    (["import-keras", "IN/missing.keras", "--out", "IN/m"], "no such file"),
    (["evaluate", "MODEL", "--source", "IN/missing"], "source not found"),
    (["predict", "IN/not-a-model", "x"], "no model folder"),
])
def test_each_command_checks_its_inputs_before_loading_the_model(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        tiny_model: Path, argv: list[str], pattern: str) -> None:
    (tmp_path / "in.csv").write_text("text\ngreat\n")
    (tmp_path / "in.json").write_text("[]")
    loaded: list[str] = []
    real = commands._load_model
    # evaluate needs its model to know the classes, and predict's one input is its model;
    # every other command checks its other inputs first
    if argv[0] not in ("evaluate", "predict"):
        monkeypatch.setattr(commands, "_load_model",
                            lambda path: loaded.append(path) or real(path))
    args = [a.replace("MODEL", str(tiny_model)).replace("IN", str(tmp_path)) for a in argv]
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, pattern)
    assert loaded == []
