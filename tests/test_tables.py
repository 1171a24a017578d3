"""tables.py and streams.py: N rows in, N rows out, in order, with every field, whatever the
fields hold; training and scoring read a table alike."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from lstm_sentiment import data, streams, tables
from lstm_sentiment.errors import UserError
from lstm_sentiment.head import head_for
from lstm_sentiment.predict import Reading
from lstm_sentiment.score import score_file

NEW = ["label", "score", "error"]


class Fake:
    """A model that gives every text the same probabilities: only the file handling is tested."""

    def __init__(self) -> None:
        self.labels = ["neg", "pos"]
        self.head = head_for(2)

    def read(self, texts: Sequence[str]) -> Reading:
        return Reading(np.tile(np.float32([0.25, 0.75]), (len(texts), 1)),
                       np.ones(len(texts), dtype=np.int64), [None] * len(texts))


# the characters that break naive readers: delimiters, quotes, line breaks of every kind, NUL,
# a byte-order mark inside a field, U+2028, non-ASCII and astral characters
TRICKY = st.sampled_from([",", "\t", '"', "'", "\n", "\r", "\r\n", "\x00", "\ufeff", "\u2028",
                          "\x0b", "\x1c", "é", "😀", " ", "\\", "=", "a", "B", "7"])
FIELD = st.lists(TRICKY, max_size=12).map("".join) | st.text(max_size=20).filter(
    lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t))
NAMES = st.lists(st.text("abcxyz_ ", min_size=1, max_size=5), min_size=1, max_size=3,
                 unique=True).filter(lambda ns: not set(ns) & {"text", *NEW})
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _table(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    others = draw(NAMES)
    columns = [*others[:1], "text", *others[1:]]
    rows = draw(st.lists(st.lists(FIELD, min_size=len(columns), max_size=len(columns)),
                         max_size=8))
    return columns, rows


tables_strategy = st.composite(_table)()


# RFC 4180 quoting with either line ending: every field quoted, or CRLF lines (with "\n" lines
# and minimal quoting Python's writer leaves a lone "\r" unquoted, which no reader can place)
STYLES = st.sampled_from([("\r\n", csv.QUOTE_MINIMAL), ("\n", csv.QUOTE_ALL),
                          ("\r\n", csv.QUOTE_ALL)])


@SETTINGS
@given(table=tables_strategy, delimiter=st.sampled_from([",", "\t"]), style=STYLES,
       bom=st.booleans())
def test_delimited_tables_round_trip(tmp_path: Path, table: tuple[list[str], list[list[str]]],
                                     delimiter: str, style: tuple[str, int], bom: bool) -> None:
    columns, rows = table
    ending, quoting = style
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=ending,
               quoting=quoting).writerows([columns, *rows])
    name = "in.csv" if delimiter == "," else "in.tsv"
    src = tmp_path / name
    src.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8"))
    out = tmp_path / f"out{src.suffix}"
    summary = score_file(Fake(), src, out, chunk_size=3)  # type: ignore[arg-type]
    with out.open(newline="", encoding="utf-8") as f:
        written = list(csv.reader(f, delimiter=delimiter))
    assert written[0] == [*columns, *NEW]
    assert [r[: len(columns)] for r in written[1:]] == rows
    assert all(r[len(columns):] == ["pos", "0.75", ""] for r in written[1:])
    assert summary.rows == len(rows) and summary.errors == 0

    # training reads the same rows (here the first column plays the label)
    if rows and len({r[0] for r in rows}) >= 1 and all(r[0].strip() for r in rows):
        texts, labels, lines, _ = data.read_table(src, "text", columns[0])
        assert texts == [r[1] for r in rows] and labels == [r[0].strip() for r in rows]
        assert lines == sorted(lines) and len(lines) == len(rows)


JSON_VALUE = st.recursive(st.none() | st.booleans() | st.integers() | FIELD |
                          st.floats(allow_nan=False, allow_infinity=False),
                          lambda inner: st.lists(inner, max_size=3) |
                          st.dictionaries(FIELD, inner, max_size=3), max_leaves=6)


@SETTINGS
@given(objects=st.lists(st.fixed_dictionaries({"text": FIELD}, optional={
    "id": st.integers(), "meta": JSON_VALUE, "note": FIELD}), max_size=8),
    ascii_only=st.booleans(), blank_lines=st.booleans())
# integers just past 64 bits, which orjson reads as floats (hypothesis found the first)
@example(objects=[{"text": "", "meta": -(2 ** 63) - 1}], ascii_only=False, blank_lines=False)
@example(objects=[{"text": "a", "id": 2 ** 64, "meta": [1e300, 2 ** 70]}], ascii_only=True,
         blank_lines=False)
def test_json_lines_round_trip(tmp_path: Path, objects: list[dict[str, object]],
                               ascii_only: bool, blank_lines: bool) -> None:
    src = tmp_path / "in.jsonl"
    sep = "\n\n" if blank_lines else "\n"
    src.write_text(sep.join(json.dumps(o, ensure_ascii=ascii_only) for o in objects)
                   + ("\n" if objects else ""), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = score_file(Fake(), src, out, chunk_size=3)  # type: ignore[arg-type]
    # lines end at "\n" only: U+2028 and the like may stand raw inside a JSON string
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n")[:-1]]
    assert [{k: v for k, v in w.items() if k not in NEW} for w in written] == objects
    assert all((w["label"], w["score"]) == ("pos", 0.75) for w in written)
    assert summary.rows == len(objects)


@SETTINGS
@given(texts=st.lists(FIELD.map(lambda t: t.replace("\n", " ").rstrip("\r")), max_size=8),
       final_newline=st.booleans())
def test_plain_lines_round_trip(tmp_path: Path, texts: list[str], final_newline: bool) -> None:
    assume(not texts or not texts[0].startswith("\ufeff"))  # that is a byte-order mark: dropped
    src = tmp_path / "in.txt"
    body = "\n".join(texts) + ("\n" if final_newline and texts else "")
    src.write_bytes(body.encode("utf-8"))
    out = tmp_path / "out.jsonl"
    score_file(Fake(), src, out)  # type: ignore[arg-type]
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n")[:-1]]
    # without a final newline a last empty text leaves no trace: "a\n" is the one line "a"
    expected = texts[:-1] if texts and texts[-1] == "" and not final_newline else texts
    assert [w["text"] for w in written] == expected


@SETTINGS
@given(junk=st.binary(min_size=1, max_size=6).filter(lambda b: b"\n" not in b and b"\r" not in b
                                                     and b'"' not in b and b"," not in b))
def test_undecodable_bytes_keep_their_row(tmp_path: Path, junk: bytes) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text\n1,before " + junk + b" after\n2,next\n")
    out = tmp_path / "out.csv"
    summary = score_file(Fake(), src, out)  # type: ignore[arg-type]
    rows = list(csv.reader(out.open(newline="", encoding="utf-8")))
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    assert rows[1][1] == ("before " + junk.decode("utf-8", "replace") + " after")
    try:
        junk.decode("utf-8")
    except UnicodeDecodeError:
        assert summary.undecodable_lines == 1


def test_one_reader_for_training_and_scoring(tmp_path: Path) -> None:
    src = tmp_path / "t.tsv"
    src.write_text('text\tlabel\n"multi\nline"\tpos\nplain\tneg\n\n"x\ty"\tpos\n')
    texts, labels, lines, _ = data.read_table(src)
    assert texts == ["multi\nline", "plain", "x\ty"] and labels == ["pos", "neg", "pos"]
    assert lines == [2, 4, 6]
    with streams.open_input(src) as source:
        rows = list(tables.read(source, "tsv").rows())
    assert [r.text for r in rows] == texts and [r.line for r in rows] == lines


def test_training_refuses_what_scoring_refuses(tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    src.write_text('text,label\n"never closed,pos\nfine,neg\n')
    with pytest.raises(UserError, match="line 2: a quoted field is never closed"):
        data.read_table(src)
    with pytest.raises(UserError, match="line 2: a quoted field is never closed"):
        score_file(Fake(), src, tmp_path / "o.csv", prefix="p_")  # type: ignore[arg-type]
