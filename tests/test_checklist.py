"""The behavioural suite (checklist.py): its data, its halves, its pass rules and its command."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_sentiment.checklist import (
    HALVES,
    SATURATED,
    Case,
    format_report,
    load_suite,
    model_scorer,
    passes,
    run_suite,
)
from lstm_sentiment.cli import main
from lstm_sentiment.errors import UserError

REQUIRED = ["polarity", "negated_positive", "negated_negative", "contrast", "intensity", "short",
            "informal", "emoji", "domains", "recommendation", "names", "numbers", "typos",
            "punctuation_case", "append_positive", "append_negative"]
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def suite():
    return load_suite()


def test_size_and_capabilities(suite) -> None:
    dev, test = suite.cases("dev"), suite.cases("test")
    assert len(dev) + len(test) >= 1000
    assert len(suite.cases("all")) == len(dev) + len(test)
    assert [c.name for c in suite.capabilities] == REQUIRED
    for half in (dev, test):
        assert len(half) >= 600
        per_cap = {c.capability for c in half}
        assert per_cap == set(REQUIRED)  # every capability has cases in both halves
    one_label = {"negated_positive": {"negative"}, "negated_negative": {"positive"}}
    for cap in suite.capabilities:
        if cap.type == "MFT":  # both labels (but for the negations), so no constant passes all
            labels = {c.expected for c in suite.cases("all") if c.capability == cap.name}
            assert labels == one_label.get(cap.name, {"positive", "negative"}), cap.name
    for case in suite.cases("all"):
        assert "{" not in "".join(case.texts), case  # every slot was filled
        if case.capability == "short":
            assert len(case.texts[0].split()) <= 6, case.texts


def test_no_text_has_two_expected_labels(suite) -> None:
    seen: dict[str, str] = {}
    for case in suite.cases("all"):
        if case.type == "MFT":
            assert seen.setdefault(case.texts[0], case.expected) == case.expected, case.texts


def test_halves_share_no_template_and_no_filler(suite) -> None:
    assert not suite.templates("dev") & suite.templates("test")
    for name, halves in suite.lists.items():
        assert set(halves) == set(HALVES), name
        assert not set(halves["dev"]) & set(halves["test"]), name
    dev_fill, test_fill = suite.fillers("dev"), suite.fillers("test")
    for case in suite.cases("all"):  # each case drew its fillers from its own half's lists
        own, other = (dev_fill, test_fill) if case.half == "dev" else (test_fill, dev_fill)
        assert set(case.fillers) <= own and not set(case.fillers) & other, case
    # nor does a test filler turn up in a dev text another way: inside a dev template or
    # filler (sampled into a case or not), or made by a dev perturbation
    dev_texts = "\n".join([*suite.templates("dev"), *dev_fill,
                           *(t for c in suite.cases("dev") for t in c.texts)])
    for filler in test_fill:
        pattern = r"(?<!\w)" + re.escape(filler) + r"(?!\w)"
        assert not re.search(pattern, dev_texts, re.IGNORECASE), filler


def _digest() -> str:
    cases = load_suite().cases("all")
    return hashlib.sha256(repr(cases).encode()).hexdigest()


def test_expansion_is_deterministic() -> None:
    here = _digest()
    assert here == _digest()
    code = ("import hashlib; from lstm_sentiment.checklist import load_suite; "
            "print(hashlib.sha256(repr(load_suite().cases('all')).encode()).hexdigest())")
    for seed in ("1", "2"):  # other string hashing: the fixed-seed samples must not move
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(SRC)}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == here


def test_dev_is_the_default_half(suite) -> None:
    assert suite.cases() == suite.cases("dev")
    assert run_suite(lambda t: np.full(len(t), 0.9), suite=suite).half == "dev"
    with pytest.raises(UserError, match="half must be dev, test or all"):
        suite.cases("train")


@pytest.mark.parametrize("half", ["dev", "test"])
def test_constant_scorer_passes_exactly_the_positive_mfts(suite, half: str) -> None:
    report = run_suite(lambda texts: np.full(len(texts), 0.9), half, suite=suite)
    cases = suite.cases(half)
    for cap in suite.capabilities:
        mine = [c for c in cases if c.capability == cap.name]
        row = report.capabilities[cap.name]
        assert row["n"] == len(mine)
        if cap.type == "MFT":
            assert row["passed"] == sum(c.expected == "positive" for c in mine)
        elif cap.type == "INV":  # the same label everywhere is invariant
            assert row["passed"] == len(mine)
        else:  # nothing moves and 0.9 is not saturated
            assert row["passed"] == 0
    assert report.n == len(cases)
    assert report.passed == sum(r["passed"] for r in report.capabilities.values())


def test_oracle_passes_every_mft(suite) -> None:
    truth = {c.texts[0]: float(c.expected == "positive")
             for c in suite.cases("all") if c.type == "MFT"}
    report = run_suite(lambda texts: np.array([truth.get(t, 0.5) for t in texts]), "all",
                       suite=suite)
    assert report.types["MFT"]["passed"] == report.types["MFT"]["n"] > 0
    for row in report.capabilities.values():
        if row["type"] == "MFT":
            assert row["pass_rate"] == 1.0 and not row["failures"]
    assert report.ece == 0.0  # sure and right: perfectly calibrated
    hedged = run_suite(lambda texts: np.array([0.25 + 0.5 * truth.get(t, 0.5) for t in texts]),
                       "all", suite=suite)
    assert hedged.ece == pytest.approx(0.25)  # right every time, but only 75 % sure


def _case(kind: str, expected: str, n: int) -> Case:
    return Case("x", "t", kind, "dev", tuple(f"text {i}" for i in range(n)), expected, "", ())


def test_inv_rule() -> None:
    inv = _case("INV", "same", 3)
    assert passes(inv, [0.7, 0.6, 0.99])
    assert passes(inv, [0.2, 0.4, 0.01])
    assert not passes(inv, [0.7, 0.6, 0.4])
    assert not passes(inv, [0.7, math.nan, 0.7])  # no label fails
    assert not passes(inv, [0.5, 0.5, 0.5])  # nor does no verdict


def test_dir_rule() -> None:
    up, down = _case("DIR", "up", 2), _case("DIR", "down", 2)
    assert passes(up, [0.3, 0.31]) and not passes(up, [0.3, 0.3]) and not passes(up, [0.3, 0.2])
    assert passes(down, [0.6, 0.2]) and not passes(down, [0.6, 0.6])
    top, bottom = 1 - SATURATED / 2, SATURATED / 2
    assert passes(up, [top, top - SATURATED / 4])  # saturated: stays near 1
    assert not passes(up, [top, 1 - 2 * SATURATED])  # leaves the saturated band
    assert passes(down, [bottom, bottom + SATURATED / 4])
    assert not passes(down, [bottom, 2 * SATURATED])
    assert not passes(up, [math.nan, 0.9]) and not passes(down, [0.5, math.nan])


def test_mft_rule() -> None:
    pos, neg = _case("MFT", "positive", 1), _case("MFT", "negative", 1)
    assert passes(pos, [0.51]) and not passes(pos, [0.5]) and not passes(pos, [math.nan])
    assert passes(neg, [0.49]) and not passes(neg, [0.9])
    assert not passes(neg, [0.5])  # exactly 0.5 is no verdict


def test_hand_made_scorers_through_the_suite(suite) -> None:
    # longer text -> higher p: every "up" case passes and no "down" case does
    report = run_suite(lambda texts: np.array([len(t) / 1000 for t in texts]), "all",
                       suite=suite)
    ups = report.capabilities["append_positive"]
    downs = report.capabilities["append_negative"]
    assert ups["passed"] == ups["n"] > 0 and downs["passed"] == 0
    assert len(downs["failures"]) == 3
    # no label for any text with a non-ASCII character: those cases fail, whatever p says
    report = run_suite(lambda texts: np.array([1.0 if t.isascii() else math.nan
                                               for t in texts]), "dev", suite=suite)
    emoji = [c for c in suite.cases("dev") if c.capability == "emoji"]
    assert report.capabilities["emoji"]["passed"] == 0 < len(emoji)
    with pytest.raises(UserError, match="returned 1 scores"):
        run_suite(lambda texts: np.array([0.5]), suite=suite)


def test_format_report_lists_failures(suite) -> None:
    report = run_suite(lambda texts: np.full(len(texts), 0.1), suite=suite, failures=2)
    text = format_report(report, failures=2)
    assert "overall" in text and "polarity: failing examples" in text
    assert "names: failing examples" not in text  # INV passes with a constant


class _Labelled:
    def __init__(self, labels: list[str]) -> None:
        self.labels = labels


def test_model_scorer_refuses_other_labels() -> None:
    with pytest.raises(UserError, match="two-class model labelled negative/positive"):
        model_scorer(_Labelled(["neg", "neutral", "pos"]))
    with pytest.raises(UserError, match="negative/positive"):
        model_scorer(_Labelled(["cat", "dog"]))


def test_model_scorer_on_a_model(tiny_model: Path) -> None:
    from lstm_sentiment import load

    model = load(tiny_model)
    texts = ["a great and wonderful film", "zzqx qqzz", "the plot was awful"]
    p = model_scorer(model)(texts)
    column = model.labels.index("positive")
    expected = model.predict_proba(texts)[:, column]
    assert p[0] == pytest.approx(expected[0]) and p[2] == pytest.approx(expected[2])
    assert math.isnan(p[1])  # no word the model knows: no label


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_table_json_and_plot(capsys: pytest.CaptureFixture[str], tiny_model: Path,
                                 tmp_path: Path, suite) -> None:
    code, out, _ = run_cli(capsys, "check", str(tiny_model), "--failures", "1")
    assert code == 0
    assert "dev half" in out and "overall" in out
    assert all(name in out for name in REQUIRED)
    code, out, _ = run_cli(capsys, "check", str(tiny_model), "--half", "test", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["half"] == "test" and report["n"] == len(suite.cases("test"))
    assert set(report["capabilities"]) == set(REQUIRED)
    png = tmp_path / "rates.png"
    code, _, err = run_cli(capsys, "check", str(tiny_model), "--plot", str(png))
    assert code == 0 and str(png) in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, pattern", [
    (["--half", "train"], "invalid choice: 'train'"),
    (["--failures", "0"], "expected a number >= 1"),
    (["--plot", "rates.gif"], "choose a .png, .svg or .pdf"),
])
def test_cli_bad_arguments_are_one_line_errors(capsys: pytest.CaptureFixture[str],
                                               tiny_model: Path, tmp_path: Path,
                                               argv: list[str], pattern: str) -> None:
    argv = [str(tmp_path / a) if a.endswith(".gif") else a for a in argv]
    code, _, err = run_cli(capsys, "check", str(tiny_model), *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and pattern in lines[0], err
    assert lines[0].startswith("lstm-sentiment") and "Traceback" not in err


def test_cli_missing_model_is_one_line_error(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "check", str(tmp_path / "nope"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "error:" in err
