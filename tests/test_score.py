"""score.py: whole files scored in chunks, in every format, with bad rows kept and reported."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import stat
import sys
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstm_sentiment import SentimentModel
from lstm_sentiment.errors import UserError
from lstm_sentiment.head import head_for
from lstm_sentiment.predict import NO_WORDS, Reading
from lstm_sentiment.score import score_file

TEXTS = ["A great and wonderful film, loved it", "boring, awful; the worst plot",
         'He said "superb" twice', "dull\tand bad", "Multi\nline, fun and moving", "",
         "Café — brilliant ✨", "the movie was a waste of time", "best cast ever", "meh"]
NEW = ["label", "score", "error"]


@pytest.fixture(scope="module")
def model(tiny_model: Path) -> SentimentModel:
    return SentimentModel.load(tiny_model)


class FakeModel:
    """Stands in for SentimentModel where only the file handling is under test."""

    def __init__(self, labels: Sequence[str] = ("neg", "pos"),
                 row: Sequence[float] = (0.25, 0.75)) -> None:
        self.labels = list(labels)
        self.head = head_for(len(self.labels))
        self.row = np.asarray(row, dtype=np.float32)
        self.calls: list[int] = []

    def read(self, texts: Sequence[str]) -> Reading:
        self.calls.append(len(texts))
        return Reading(np.tile(self.row, (len(texts), 1)), np.ones(len(texts), dtype=np.int64),
                       [None] * len(texts))


def assert_scored(model: SentimentModel, rows: Sequence[dict[str, Any]], texts: Sequence[str],
                  label: str = "label", score: str = "score", error: str = "error") -> None:
    """Each row carries the label and score that model.predict gives its text, or, for a text
    the model gives no label, none and the reason in its error field."""
    assert len(rows) == len(texts)
    for row, pred in zip(rows, model.predict(list(texts)), strict=True):
        if pred.label is None:
            assert row[label] in (None, "") and row[score] in (None, "")
            assert row[error].endswith(f": {pred.reason}")
            continue
        assert row[label] == pred.label
        assert float(row[score]) == pytest.approx(pred.score, abs=1e-6)
        assert row.get(error) in (None, "")


def write_csv(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path | str, delimiter: str = ",") -> list[list[str]]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as f:
        return list(csv.reader(f, delimiter=delimiter))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ------------------------------------------------------------------------------- formats


@pytest.mark.parametrize(("suffix", "delimiter"), [(".csv", ","), (".tsv", "\t")])
def test_csv_and_tsv_keep_every_column_and_add_label_score(
        model: SentimentModel, tmp_path: Path, suffix: str, delimiter: str) -> None:
    header = ["id", "text", "stars"]
    rows = [[str(i), t, str(i % 5)] for i, t in enumerate(TEXTS)]
    src = write_csv(tmp_path / f"in{suffix}", header, rows, delimiter)
    summary = score_file(model, src, tmp_path / f"out{suffix}")
    out = read_csv(tmp_path / f"out{suffix}", delimiter)
    assert out[0] == [*header, *NEW]
    assert [r[:3] for r in out[1:]] == rows  # every field, in order
    assert_scored(model, [dict(zip(out[0], r, strict=True)) for r in out[1:]], TEXTS)
    unlabelled = sum(p.label is None for p in model.predict(TEXTS))
    assert (summary.rows, summary.errors, summary.output) == (10, unlabelled,
                                                              tmp_path / f"out{suffix}")
    assert (summary.input_format, summary.text_field) == (suffix[1:], "text")
    assert summary.rows_per_second > 0 and summary.seconds > 0


def test_jsonl_keeps_keys_and_their_order(model: SentimentModel, tmp_path: Path) -> None:
    objs = [{"id": i, "text": t, "meta": {"tags": ["a", i]}, "ok": i % 2 == 0}
            for i, t in enumerate(TEXTS)]
    src = tmp_path / "in.ndjson"
    src.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")
    summary = score_file(model, src, tmp_path / "out.jsonl")
    out = read_jsonl(tmp_path / "out.jsonl")
    keys = [["id", "text", "meta", "ok", "label", "score", *(["error"] if p.label is None else [])]
            for p in model.predict(TEXTS)]
    assert [list(o) for o in out] == keys
    assert [{k: o[k] for k in ("id", "text", "meta", "ok")} for o in out] == objs
    assert_scored(model, out, TEXTS)
    assert all(isinstance(o["score"], float) for o in out if o["label"] is not None)
    assert (summary.rows, summary.input_format, summary.output_format) == (10, "jsonl", "jsonl")


def test_scores_are_exactly_the_models_float32(model: SentimentModel, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    score_file(model, src, tmp_path / "out.jsonl")
    written = [o["score"] for o in read_jsonl(tmp_path / "out.jsonl")]
    expected = [p.score for p in model.predict(TEXTS)]
    assert [w is None for w in written] == [e is None for e in expected]
    np.testing.assert_allclose([np.float32(w) for w in written if w is not None],
                               [e for e in expected if e is not None], rtol=0, atol=1e-6)


def test_plain_lines_become_jsonl_or_csv(model: SentimentModel, tmp_path: Path) -> None:
    texts = ["great fun", "", "awful, dull", "  spaced  "]
    src = tmp_path / "reviews.txt"
    src.write_bytes(b"great fun\r\n\nawful, dull\n  spaced  ")  # CRLF, a blank line, no final \n
    summary = score_file(model, src, tmp_path / "out.txt")
    out = read_jsonl(tmp_path / "out.txt")
    assert [list(o)[:3] for o in out] == [["text", "label", "score"]] * 4
    assert [o["text"] for o in out] == texts  # blank lines are texts too: row i is line i
    assert out[1]["error"] == f"line 2: {NO_WORDS}"  # with no words: no label, and why
    assert_scored(model, out, texts)
    assert (summary.input_format, summary.output_format, summary.text_field) == (
        "lines", "jsonl", None)

    score_file(model, src, tmp_path / "out.tsv")
    table = read_csv(tmp_path / "out.tsv", "\t")
    assert table[0] == ["text", *NEW] and [r[0] for r in table[1:]] == texts
    assert_scored(model, [dict(zip(table[0], r, strict=True)) for r in table[1:]], texts)


def test_csv_can_become_jsonl_but_not_the_reverse(model: SentimentModel, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", ["id", "text"], [["1", "great"], ["2", "awful"]])
    score_file(model, src, tmp_path / "out.jsonl")
    out = read_jsonl(tmp_path / "out.jsonl")
    assert [{"id": o["id"], "text": o["text"]} for o in out] == [
        {"id": "1", "text": "great"}, {"id": "2", "text": "awful"}]
    assert_scored(model, out, ["great", "awful"])
    score_file(model, src, tmp_path / "out.dat", output_fmt="tsv")
    assert read_csv(tmp_path / "out.dat", "\t")[0] == ["id", "text", *NEW]

    (tmp_path / "in.jsonl").write_text('{"text": "great"}\n')
    with pytest.raises(UserError, match="only be written as JSON Lines"):
        score_file(model, tmp_path / "in.jsonl", tmp_path / "out.csv")


def test_gzip_input_and_output(model: SentimentModel, tmp_path: Path) -> None:
    src = tmp_path / "in.csv.gz"
    with gzip.open(src, "wt", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text"], *[[t] for t in TEXTS]])
    summary = score_file(model, src, tmp_path / "out.jsonl.gz")
    assert summary.input_format == "csv" and summary.output_format == "jsonl"
    out = read_jsonl(tmp_path / "out.jsonl.gz")
    assert [o["text"] for o in out] == TEXTS
    assert_scored(model, out, TEXTS)


def test_more_than_two_classes_score_the_predicted_class(tmp_path: Path) -> None:
    fake = FakeModel(["anger", "joy", "fear"], [0.2, 0.1, 0.7])
    (tmp_path / "in.txt").write_text("a\nb\n")
    score_file(fake, tmp_path / "in.txt", tmp_path / "out.jsonl")  # type: ignore[arg-type]
    assert [(o["label"], o["score"]) for o in read_jsonl(tmp_path / "out.jsonl")] == [
        ("fear", 0.7), ("fear", 0.7)]


# ------------------------------------------------------------------------------- text field


def test_text_field_choice(model: SentimentModel, tmp_path: Path) -> None:
    rows = [["1", "great fun", "awful"], ["2", "dull", "superb"]]
    src = write_csv(tmp_path / "in.csv", ["id", " Review", "body"], rows)
    assert score_file(model, src, tmp_path / "a.csv").text_field == " Review"  # loose match
    assert_scored(model, [dict(zip(NEW, r[3:], strict=True)) for r in
                          read_csv(tmp_path / "a.csv")[1:]], ["great fun", "dull"])
    assert score_file(model, src, tmp_path / "b.csv", text_field="body").text_field == "body"
    assert_scored(model, [dict(zip(NEW, r[3:], strict=True)) for r in
                          read_csv(tmp_path / "b.csv")[1:]], ["awful", "superb"])

    one = write_csv(tmp_path / "one.csv", ["comment"], [["great"]])
    assert score_file(model, one, tmp_path / "c.csv").text_field == "comment"
    # the columns training reads by default are scored by default too
    sentence = write_csv(tmp_path / "s.csv", ["id", "Sentence"], [["1", "great"]])
    assert score_file(model, sentence, tmp_path / "d.csv").text_field == "Sentence"


def test_missing_text_field_is_one_line_naming_the_fields(model: SentimentModel,
                                                          tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", ["id", "body"], [["1", "great"]])
    with pytest.raises(UserError) as info:
        score_file(model, src, tmp_path / "out.csv")
    assert "none of 'text', 'review', 'sentence', 'content' found" in str(info.value)
    assert "'id', 'body'" in str(info.value)
    with pytest.raises(UserError, match=r"no text column 'nope' \(columns: 'id', 'body'\)"):
        score_file(model, src, tmp_path / "out.csv", text_field="nope")

    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"id": 1, "body": "great"}\n')
    with pytest.raises(UserError, match=r"no text key 'text' \(keys: 'id', 'body'\)"):
        score_file(model, jsonl, tmp_path / "out.jsonl", text_field="text")
    with pytest.raises(UserError, match="read as plain lines"):
        score_file(model, tmp_path / "in.csv", tmp_path / "o.jsonl", fmt="lines",
                   text_field="body")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.jsonl").exists()


def test_name_clash_is_refused_unless_prefixed(model: SentimentModel, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", ["text", "label"], [["great fun", "pos"]])
    with pytest.raises(UserError, match=r"already has a column named 'label'.*prefix"):
        score_file(model, src, tmp_path / "out.csv")
    score_file(model, src, tmp_path / "out.csv", prefix="pred_")
    out = read_csv(tmp_path / "out.csv")
    assert out[0] == ["text", "label", "pred_label", "pred_score", "pred_error"]
    assert out[1][:2] == ["great fun", "pos"]
    assert_scored(model, [dict(zip(out[0], out[1], strict=True))], ["great fun"],
                  "pred_label", "pred_score")

    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"text": "great", "score": 5}\n')
    with pytest.raises(UserError, match="already has a key named 'score'"):
        score_file(model, jsonl, tmp_path / "out.jsonl")
    jsonl.write_text('{"text": "great"}\n{"text": "awful", "label": "neg"}\n')
    score_file(model, jsonl, tmp_path / "out.jsonl")  # a later clash is that row's error
    second = read_jsonl(tmp_path / "out.jsonl")[1]
    assert second["label"] is None and second["error"].startswith("line 2: ")


# ------------------------------------------------------------------------------- bad rows


def test_bad_jsonl_rows_are_reported_in_place(model: SentimentModel, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([
        '{"id": 1, "text": "great fun"}',  # 1
        '{"id": 2, "text": ',  # 2 invalid JSON
        "",  # 3 blank: no row
        '{"id": 3, "text": null}',  # 4
        '{"id": 4, "text": 5}',  # 5
        '{"id": 5}',  # 6
        "[1, 2]",  # 7
        '{"id": 6, "text": "awful and dull"}',  # 8
    ]) + "\n")
    summary = score_file(model, src, tmp_path / "out.jsonl")
    out = read_jsonl(tmp_path / "out.jsonl")
    assert (summary.rows, summary.errors) == (7, 5)
    good = [out[0], out[6]]
    assert [o["id"] for o in good] == [1, 6] and all("error" not in o for o in good)
    assert_scored(model, good, ["great fun", "awful and dull"])
    bad = out[1:6]
    assert all(o["label"] is None and o["score"] is None for o in bad)
    assert [o["error"] for o in bad] == [
        "line 2: invalid JSON (Expecting value at column 19)",
        "line 4: 'text' is null, not a string",
        "line 5: 'text' is a number, not a string",
        "line 6: no 'text' key",
        "line 7: expected a JSON object, found an array",
    ]
    assert [o.get("id") for o in bad] == [None, 3, 4, 5, None]  # kept where it is an object


@pytest.mark.parametrize(("content", "message"), [
    ('id,text\n1,"great\nfun"\n2,awful,extra\n3,fine\n', "line 4: 3 fields where the header has 2"),
    ("id,text\n1,great\n2\n", "line 3: 1 fields where the header has 2"),
    ('id,text\n1,great\n2,"never closed\n3,fine\n', "line 3: a quoted field is never closed"),
    ('id,text\n1,"great"fun\n', "line 2: ',' expected after"),
])
def test_a_csv_whose_structure_is_in_doubt_is_refused_before_any_output(
        model: SentimentModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        content: str, message: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text(content, encoding="utf-8")
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(UserError, match=re.escape(message)) as info:
        score_file(model, src, target, chunk_size=1)
    assert str(info.value).startswith(f"{src}: ") and "\n" not in str(info.value)
    assert target.read_text() == "old\n"
    out = _stdout(monkeypatch)  # standard output too: nothing is written
    with pytest.raises(UserError, match=re.escape(message)):
        score_file(model, src, None, chunk_size=1)
    assert out.getvalue() == b""


def test_a_field_over_the_limit_is_named_by_its_line(model: SentimentModel,
                                                     tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,text\n1,great\n2," + "x" * 2000 + "\n")
    before = csv.field_size_limit(1000)
    try:
        with pytest.raises(UserError, match="line 3: field larger than field limit"):
            score_file(model, src, tmp_path / "out.csv")
    finally:
        csv.field_size_limit(before)
    assert not (tmp_path / "out.csv").exists()


def test_fields_far_over_pythons_default_limit_keep_their_row(model: SentimentModel,
                                                              tmp_path: Path) -> None:
    big = "great fun " * 50_000  # 500 KB, over the csv module's default 128 KiB
    src = write_csv(tmp_path / "in.csv", ["id", "text", "note"],
                    [["1", "awful", ""], ["2", big, "kept"], ["3", "superb", "x"]])
    summary = score_file(model, src, tmp_path / "out.csv")
    out = read_csv(tmp_path / "out.csv")
    assert summary.rows == 3 and [r[0] for r in out[1:]] == ["1", "2", "3"]
    assert out[2][1] == big and out[2][2] == "kept"
    assert_scored(model, [dict(zip(out[0], r, strict=True)) for r in out[1:]],
                  ["awful", big, "superb"])


@pytest.mark.parametrize(("name", "fmt", "message"), [
    ("in.csv", "jsonl", "line 1 is not a JSON object"),
    ("in.csv", "tsv", "the header has no tab but has commas"),
    ("in.tsv", "csv", "the header has no comma but has tabs"),
])
def test_a_format_that_does_not_fit_the_file_is_refused(model: SentimentModel, tmp_path: Path,
                                                        name: str, fmt: str,
                                                        message: str) -> None:
    delimiter = "\t" if name.endswith(".tsv") else ","
    src = write_csv(tmp_path / name, ["id", "text"], [["1", "great fun"], ["2", "awful"]],
                    delimiter)
    with pytest.raises(UserError, match=message):
        score_file(model, src, tmp_path / "out.jsonl", fmt=fmt)
    assert not (tmp_path / "out.jsonl").exists()


def test_undecodable_bytes_are_replaced_and_counted(model: SentimentModel,
                                                    tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"\xef\xbb\xbftext\ncaf\xe9 great\nfine\n")  # a BOM, then Latin-1
    summary = score_file(model, src, tmp_path / "out.jsonl")
    assert summary.undecodable_lines == 1 and summary.text_field == "text"
    out = read_jsonl(tmp_path / "out.jsonl")
    assert [o["text"] for o in out] == ["caf\ufffd great", "fine"]
    assert_scored(model, out, ["caf\ufffd great", "fine"])


# ------------------------------------------------------------------------------- edges


@pytest.mark.parametrize(("name", "content", "out_name", "expected"), [
    ("empty.csv", b"", "out.csv", b""),
    ("header.csv", b"id,text\n", "out.csv", b"id,text,label,score,error\r\n"),
    ("header.tsv", b"text\n", "out.jsonl", b""),
    ("empty.jsonl", b"", "out.jsonl", b""),
    ("blank.jsonl", b"\n\n", "out.jsonl", b""),
    ("empty.txt", b"", "out.jsonl", b""),
    ("empty.txt", b"", "out.csv", b"text,label,score,error\r\n"),
])
def test_empty_input_gives_a_valid_empty_output(model: SentimentModel, tmp_path: Path, name: str,
                                                content: bytes, out_name: str,
                                                expected: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    summary = score_file(model, tmp_path / name, tmp_path / out_name)
    assert (tmp_path / out_name).read_bytes() == expected
    assert (summary.rows, summary.errors) == (0, 0)


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    stream = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stream)


def _stdout(monkeypatch: pytest.MonkeyPatch) -> io.BytesIO:
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer, encoding="utf-8"))
    return buffer


def test_stdin_and_stdout(model: SentimentModel, monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, b"great fun\nawful\n")  # plain lines unless a format is given
    out = _stdout(monkeypatch)
    summary = score_file(model, "-", None)
    objs = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert [o["text"] for o in objs] == ["great fun", "awful"] and summary.output is None
    assert_scored(model, objs, ["great fun", "awful"])

    _stdin(monkeypatch, gzip.compress(b'{"text": "superb"}\n'))  # gzip is sniffed on stdin
    out = _stdout(monkeypatch)
    score_file(model, "-", "-", fmt="jsonl")
    assert_scored(model, [json.loads(out.getvalue())], ["superb"])

    _stdin(monkeypatch, b"id\ttext\n7\tboring\n")
    out = _stdout(monkeypatch)
    score_file(model, "-", "-", fmt="tsv", output_fmt="csv")
    rows = list(csv.reader(io.StringIO(out.getvalue().decode())))
    assert rows[0] == ["id", "text", *NEW] and rows[1][:2] == ["7", "boring"]

    monkeypatch.setattr(sys, "stdin", io.StringIO("text only\n"))  # no .buffer
    out = _stdout(monkeypatch)
    score_file(model, "-", None)
    assert json.loads(out.getvalue())["text"] == "text only"


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_an_existing_output_untouched(model: SentimentModel, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     exc: type[BaseException]) -> None:
    src = write_csv(tmp_path / "in.csv", ["text"], [[t] for t in TEXTS])
    target = tmp_path / "out.csv"
    target.write_text("the old results\n")
    real = model.read
    calls = []

    def flaky(texts: Sequence[str]) -> Reading:
        calls.append(len(texts))
        if len(calls) == 3:
            raise exc("stop")
        return real(texts)

    monkeypatch.setattr(model, "read", flaky)
    with pytest.raises(exc):
        score_file(model, src, target, chunk_size=2)
    assert len(calls) == 3
    assert target.read_text() == "the old results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_success_replaces_the_output_with_normal_permissions(model: SentimentModel,
                                                             tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", ["text"], [["great"]])
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    score_file(model, src, target)
    assert read_csv(target)[1][0] == "great"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    score_file(model, src, src)  # in place is safe: the input is read before the rename
    assert read_csv(src)[0] == ["text", *NEW]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_file_level_problems_are_user_errors(model: SentimentModel, tmp_path: Path) -> None:
    good = write_csv(tmp_path / "in.csv", ["text"], [["great"]])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"input": tmp_path / "missing.csv"}, "no such file"),
        ({"input": tmp_path}, "is a folder"),
        ({"input": tmp_path / "doc.json"}, "JSON Lines"),
        ({"fmt": "xml"}, "unknown format 'xml'"),
        ({"output_fmt": "lines"}, "unknown format 'lines'"),
        ({"output": tmp_path / "nowhere" / "out.csv"}, "does not exist"),
        ({"output": tmp_path}, "it is a folder"),
        ({"chunk_size": 0}, "at least 1"),
    ]
    for change, message in cases:
        args: dict[str, Any] = {"input": good, "output": tmp_path / "out.csv", **change}
        with pytest.raises(UserError, match=message):
            score_file(model, args.pop("input"), args.pop("output"), **args)

    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(b"text\n" + b"great fun\n" * 5000)[:-40])
    (tmp_path / "out.csv").write_text("old\n")
    with pytest.raises(UserError, match="corrupt gzip data"):
        score_file(model, broken, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.csv.gz", "in.csv", "out.csv"]


# ------------------------------------------------------------------------------- streaming


def test_chunking_does_not_change_the_output(model: SentimentModel, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"n": i, "text": t}) + "\n" for i, t in enumerate(TEXTS))
                   + "oops\n")
    calls: list[int] = []
    real = model.read

    def counting(texts: Sequence[str]) -> Reading:
        calls.append(len(texts))
        return real(texts)

    score_file(model, src, tmp_path / "big.jsonl", chunk_size=1000)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(model, "read", counting)
        summary = score_file(model, src, tmp_path / "small.jsonl", chunk_size=3)
    assert calls == [3, 3, 3, 1]  # 11 rows, the last one bad
    unlabelled = sum(p.label is None for p in model.predict(TEXTS))
    assert summary.rows == 11 and summary.errors == 1 + unlabelled
    if (tmp_path / "big.jsonl").read_bytes() == (tmp_path / "small.jsonl").read_bytes():
        return  # the usual case; batch size may still move a float32 score by an ulp
    big, small = read_jsonl(tmp_path / "big.jsonl"), read_jsonl(tmp_path / "small.jsonl")
    assert [{k: v for k, v in o.items() if k != "score"} for o in small] == [
        {k: v for k, v in o.items() if k != "score"} for o in big]
    np.testing.assert_allclose([o["score"] or 0 for o in small], [o["score"] or 0 for o in big],
                               rtol=0, atol=1e-6)


class _CountingRaw(io.RawIOBase):
    """A byte stream that remembers how much of it has been read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._data.readinto(buffer)
        self.consumed += n
        return n


def test_rows_are_read_and_written_a_chunk_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"".join(b'{"id": %d, "text": "%s"}\n' % (i, b"word " * 20) for i in range(3000))
    raw = _CountingRaw(data)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8"))
    out = _stdout(monkeypatch)
    seen: list[tuple[int, int]] = []  # (bytes read, output lines) at each model call

    class Watching(FakeModel):
        def read(self, texts: Sequence[str]) -> Reading:
            seen.append((raw.consumed, out.getvalue().count(b"\n")))
            return super().read(texts)

    summary = score_file(Watching(), "-", None, fmt="jsonl", chunk_size=50)  # type: ignore[arg-type]
    assert summary.rows == 3000 and len(seen) == 60
    assert seen[0][0] < len(data) / 20  # the first chunk is scored long before the end
    assert [lines for _, lines in seen[:3]] == [0, 50, 100]  # and each is written out at once
    assert out.getvalue().count(b"\n") == 3000


def test_memory_stays_bounded_on_a_large_file(tmp_path: Path) -> None:
    src = tmp_path / "big.csv"
    row = "x" * 10_000
    with src.open("w") as f:
        f.write("id,text\n")
        for i in range(2000):
            f.write(f"{i},{row} {i}\n")
    size = src.stat().st_size  # about 20 MB
    tracemalloc.start()
    try:
        summary = score_file(FakeModel(), src, tmp_path / "out.csv",  # type: ignore[arg-type]
                             chunk_size=20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.rows == 2000 and size > 20_000_000
    print(f"peak traced memory {peak:,} bytes for a {size:,}-byte input")
    assert peak < size / 10, f"peak {peak:,} bytes for a {size:,}-byte input"
    assert (tmp_path / "out.csv").stat().st_size > size


def test_score_command(tiny_model: Path, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_sentiment.cli import main

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "great fun"}\n{"id": 2, "text": null}\n')
    out = tmp_path / "out.jsonl"
    code = main(["score", str(tiny_model), "--input", str(src), "--output", str(out)])
    err = capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0 and [r["id"] for r in rows] == [1, 2]
    assert rows[0]["label"] in ("positive", "negative") and "error" in rows[1]
    assert "scored 2 rows" in err and "1 rows could not be scored" in err
    code = main(["score", str(tiny_model), "--input", str(tmp_path / "none.csv")])
    assert code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_workers_give_the_same_output(tiny_model: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from lstm_sentiment import pool

    monkeypatch.setattr(pool, "HELPERS_PAY_OFF_S", -1.0)  # a helper even for a small file
    model = SentimentModel.load(tiny_model)
    src = tmp_path / "in.csv"
    src.write_text("text,id\n" + "".join(f"review {i} great fun,{i}\n" if i % 3 else
                                         f"awful boring {i},{i}\n" for i in range(50)))
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    score_file(model, src, one, chunk_size=7)
    summary = score_file(model, src, two, chunk_size=7, workers=2)
    assert summary.rows == 50
    a = one.read_text().splitlines()
    b = two.read_text().splitlines()
    assert [line.rsplit(",", 2)[0] for line in a] == [line.rsplit(",", 2)[0] for line in b]
    with pytest.raises(UserError, match="workers must be at least 1"):
        score_file(model, src, two, workers=0)


def test_with_workers_the_first_chunk_is_small_so_its_pace_comes_early(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager

    from lstm_sentiment import score

    sizes: list[int] = []

    @contextmanager
    def in_process(model: Any, workers: int, fn: Any, left: Any = None) -> Any:
        def run(items: Any) -> Any:
            for chunk, work in items:
                sizes.append(len(chunk))
                yield chunk, fn(model, work)
        yield run

    monkeypatch.setattr(score, "scored_chunks", in_process)
    src = tmp_path / "in.txt"
    src.write_text("great fun\n" * 1600)
    model = SentimentModel.load(tiny_model)
    score.score_file(model, src, tmp_path / "two.jsonl", chunk_size=1000, workers=2)
    assert sizes == [score.FIRST_CHUNK, 1000, 100]
    sizes.clear()
    score.score_file(model, src, tmp_path / "one.jsonl", chunk_size=1000)
    assert sizes == [1000, 600]
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
