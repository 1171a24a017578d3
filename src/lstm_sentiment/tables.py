"""Tables: CSV, TSV, JSON Lines and plain lines, read and written by one set of rules.

Training (:mod:`lstm_sentiment.data`) and scoring (:mod:`lstm_sentiment.score`) read through
:func:`read` (over :func:`lstm_sentiment.streams.open_input`), so a file means the same rows to
both.

Formats
    From the name: ``.csv``; ``.tsv`` or ``.tab``; ``.jsonl`` or ``.ndjson``; for scoring,
    anything else is plain lines (one text per line). A ``.gz`` after the suffix is ignored
    (gzip is recognised by its first bytes). A ``.json`` file is refused: a JSON document is
    not one row per line. An explicit format overrides the name.

Decoding: see :mod:`lstm_sentiment.streams`.

Rows
    In N data rows, out N rows, in order, each with every field it had. In CSV, TSV and JSON
    Lines a blank line is no row; in plain lines every line is a text, blank or not.
    CSV/TSV follow Python's :mod:`csv` (RFC 4180 quoting: fields with the delimiter, a quote or
    a line break are quoted with ``"``), and are written with CRLF line ends, as RFC 4180 has
    it; a field may hold up to :data:`FIELD_LIMIT` characters.

Malformed input: an error before any output, or an error row
    *The file's structure is in doubt* -- a CSV/TSV quote left open, a row with more or fewer
    fields than the header, a field over the limit, a header of one field when the other
    delimiter would split it, a first JSON Lines row that is not a JSON object: :func:`read`'s
    rows raise :class:`UserError` naming the line. Rows after such a place could only be
    guessed, so none are; scoring checks the whole file before it writes anything.
    *One row is bad, its neighbours are not* -- a JSON Lines row that is invalid JSON, not an
    object, or whose text is missing or not a string: the row comes with an ``error`` and every
    field that could be read (none for invalid JSON), and the others are unaffected.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import UserError
from .streams import STDIO, Input

FORMATS = ("csv", "tsv", "jsonl", "lines")
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DELIMITERS = {"csv": ",", "tsv": "\t"}
TEXT_FIELDS = ("text", "review", "sentence", "content")
LABEL_FIELDS = ("label", "sentiment", "class", "target")
FIELD_LIMIT = 64 * 1024 * 1024  # characters in one CSV/TSV field (Python's default is 128 KiB)

csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))


# ------------------------------------------------------------------------------ formats


def suffix(path: Path) -> tuple[str, bool]:
    """The lower-case suffix that names ``path``'s format, and whether it ends in ``.gz``."""
    parts = [s.lower() for s in path.suffixes]
    gz = bool(parts) and parts[-1] == ".gz"
    if gz:
        parts.pop()
    return (parts[-1] if parts else ""), gz


def table_format(path: Path) -> str | None:
    """``csv``, ``tsv`` or ``jsonl`` when ``path``'s name says so, else None."""
    return SUFFIXES.get(suffix(path)[0])


def input_format(input: str | Path, fmt: str | None = None) -> str:
    """The format to read ``input`` as: ``fmt`` if given, else from the name (stdin: lines)."""
    if fmt is not None:
        return normalize(fmt, FORMATS)
    if str(input) == STDIO:
        return "lines"
    if suffix(Path(input))[0] == ".json":
        raise UserError(f"{input} looks like a JSON document, which cannot be streamed; JSON "
                        "Lines (one object per line) can: name it .jsonl or give the format")
    return table_format(Path(input)) or "lines"


def normalize(fmt: str, allowed: Sequence[str]) -> str:
    name = fmt.strip().lower()
    name = {"ndjson": "jsonl"}.get(name, name)
    if name not in allowed:
        raise UserError(f"unknown format {fmt!r} (choose from {', '.join(allowed)})")
    return name


def find_field(fields: Sequence[str], wanted: str | None,
               defaults: tuple[str, ...] = TEXT_FIELDS) -> str | None:
    """The field of a header (or a JSON object's keys) to read, or None if there is none:
    ``wanted`` when given and present; else the first of ``defaults`` present, spelled exactly,
    then ignoring case and surrounding spaces where that matches a single field (`` Text``)."""
    if wanted is not None:
        return wanted if wanted in fields else None
    for name in defaults:
        if name in fields:
            return name
    for name in defaults:
        loose = [f for f in fields if f.strip().lower() == name]
        if len(loose) == 1:
            return loose[0]
    return None


def listing(names: Sequence[str], limit: int = 20) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


# ------------------------------------------------------------------------------ rows


@dataclass(slots=True)
class Row:
    line: int  # where the row starts in the input (1-based)
    record: list[str] | dict[str, Any] | None  # every field read: a CSV row, a JSON object
    text: str | None  # the text field; None when the row has an error
    error: str | None = None  # what is wrong with the row (its line number is ``line``)
    label: str | None = None  # the label field's value, when one was asked for


class Table:
    """The rows of an input in one format; its header is read when it is made."""

    def __init__(self, source: Input, fmt: str, text_field: str | None,
                 label_field: str | None, labelled: bool, reserved: Sequence[str]) -> None:
        self.source = source
        self.labelled = labelled
        self.format = fmt
        self.columns: list[str] | None = None  # the header (None: JSON Lines, an empty file)
        self.text_field: str | None = None
        self.label_field: str | None = None
        self._wanted = (text_field, label_field)
        self._reserved = list(reserved)
        self._first: Row | None = None
        if fmt == "lines":
            if text_field is not None or label_field is not None or labelled:
                raise UserError(f"a field was named, but {source.name} is read as plain lines, "
                                "one text per line; give its format (csv, tsv or jsonl)")
            self.columns = ["text"]
            self._rows: Iterator[Row] = self._lines()
        elif fmt == "jsonl":
            self._rows = self._json()
            self._first = next(self._rows, None)  # settles the fields, checks the format
        else:
            self._rows = self._delimited(DELIMITERS[fmt])
            self._first = next(self._rows, None)

    def rows(self) -> Iterator[Row]:
        if self._first is not None:
            yield self._first
            self._first = None
        yield from self._rows

    def _lines(self) -> Iterator[Row]:
        for number, line in enumerate(self.source.lines(), 1):
            text = line[:-1] if line.endswith("\n") else line
            text = text[:-1] if text.endswith("\r") else text
            yield Row(number, [text], text)

    def _delimited(self, delimiter: str) -> Iterator[Row]:
        name = self.source.name
        reader = csv.reader(self.source.lines(), delimiter=delimiter, strict=True)
        header: list[str] = []
        start = 1
        try:
            while not header:  # blank lines before the header carry nothing
                start = reader.line_num + 1
                header = next(reader)
            other = {",": "\t", "\t": ","}[delimiter]
            if len(header) == 1 and other in header[0]:
                raise UserError(f"{name}: the header has no {_named(delimiter)} but has "
                                f"{_named(other)}s; is the file "
                                f"{'TSV' if other == chr(9) else 'CSV'}? (give its format)")
            self._settle(header, "column")
            self.columns = header
            width, index = len(header), header.index(self.text_field or "")
            label_index = header.index(self.label_field) if self.label_field else None
            while True:
                start = reader.line_num + 1
                fields = next(reader)
                if not fields:
                    continue  # a blank line
                if len(fields) != width:
                    raise UserError(f"{name}: line {start}: {len(fields)} fields where the header "
                                    f"has {width} (an unquoted {_named(delimiter)}?)")
                label = fields[label_index] if label_index is not None else None
                yield Row(start, fields, fields[index], label=label)
        except StopIteration:
            return
        except csv.Error as exc:
            if "end of data" in str(exc):
                raise UserError(f"{name}: line {start}: a quoted field is never closed") from None
            raise UserError(f"{name}: line {start}: {exc}") from None

    def _json(self) -> Iterator[Row]:
        source = self.source
        first = True
        for number, data in enumerate(source.byte_lines(), 1):
            if not data.strip():
                continue
            obj, problem = _parse_json(source, data)
            if first:
                if not isinstance(obj, dict):
                    raise UserError(f"{source.name}: line {number} is not a JSON object "
                                    f"({problem or 'found ' + _json_type(obj)}); is the file "
                                    "JSON Lines? (give its format)")
                self._settle(list(obj), "key")
                first = False
            yield self._json_row(number, obj, problem)

    def _json_row(self, number: int, obj: Any, problem: str | None) -> Row:
        if problem is not None:
            return Row(number, None, None, problem)
        if not isinstance(obj, dict):
            return Row(number, None, None, f"expected a JSON object, found {_json_type(obj)}")
        clash = [name for name in self._reserved if name in obj]
        if clash:
            return Row(number, None, None, f"the object already has {listing(clash)}, which "
                       "the output would overwrite")
        field = self.text_field or ""
        if field not in obj:
            return Row(number, obj, None, f"no {field!r} key")
        text = obj[field]
        if not isinstance(text, str):
            return Row(number, obj, None, f"{field!r} is {_json_type(text)}, not a string")
        label = obj.get(self.label_field) if self.label_field else None
        return Row(number, obj, text, label=None if label is None else _label_text(label))

    def _settle(self, fields: list[str], what: str) -> None:
        """Pick the text (and label) field from the header or the first object."""
        name = self.source.name
        clash = [n for n in self._reserved if n in fields]
        if clash:
            raise UserError(f"{name} already has a {what} named {listing(clash)}; give the new "
                            f"{what}s a prefix (e.g. pred_ for pred_label, pred_score, pred_error)")
        text_field, label_field = self._wanted
        self.text_field = _pick(fields, text_field, TEXT_FIELDS, "text", what, name,
                                single=not self.labelled)
        if self.labelled:
            self.label_field = _pick(fields, label_field, LABEL_FIELDS, "label", what, name)


def _pick(fields: list[str], wanted: str | None, defaults: tuple[str, ...], role: str,
          what: str, name: str, single: bool = False) -> str:
    found = find_field(fields, wanted, defaults)
    if found is not None:
        return found
    if wanted is not None:
        raise UserError(f"{name} has no {role} {what} {wanted!r} ({what}s: {listing(fields)})")
    if single and what == "column" and len(fields) == 1:
        return fields[0]  # a table of one column is its texts
    flag = "--text-field" if role == "text" else "--label-field"
    raise UserError(f"{name}: which {what} holds the {role}? none of {listing(list(defaults))} "
                    f"found ({what}s: {listing(fields)}); use {flag}")


def _named(delimiter: str) -> str:
    return {",": "comma", "\t": "tab"}[delimiter]


# orjson reads an integer beyond 64 bits as a float, silently: a line whose value holds a float
# and has a run of 19 digits (the shortest such integer) goes to the standard library, which
# keeps it exact. Searching every line instead cost more than parsing it (bench/score_parts.py).
_LONG_DIGITS = re.compile(rb"\d{19}")


def _has_float(value: Any) -> bool:
    stack = [value]  # a loop, not recursion: orjson nests deeper than Python recurses
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float:
            return True
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
    return False


def _parse_json(source: Input, data: bytes) -> tuple[Any, str | None]:
    """The line's value, or the problem with it. orjson first (fast); the standard library for
    what orjson refuses or rounds but JSON allows (lone surrogate escapes, huge integers, NaN)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    else:
        if not (_has_float(value) and _LONG_DIGITS.search(data)):
            return value, None
    import json

    text = source.decode(data).rstrip("\r\n")  # so that error columns count from the line
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    except (ValueError, RecursionError) as exc:  # nesting too deep, say
        return None, f"unreadable JSON ({exc})"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {list: "an array", dict: "an object"}.get(type(value), "a string")


def _label_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def read(source: Input, fmt: str, *, text_field: str | None = None,
         label_field: str | None = None, labelled: bool = False,
         reserved: Sequence[str] = ()) -> Table:
    """The rows of ``source`` read as ``fmt``. ``labelled`` (training) picks a label field
    too, by ``label_field`` or the defaults. ``reserved`` names fields a writer will add
    (scoring): a table that has them already is refused."""
    return Table(source, fmt, text_field, label_field, labelled, reserved)


def check_unique(columns: list[str], name: str) -> None:
    repeated = sorted(n for n, count in Counter(columns).items() if count > 1)
    if repeated:
        raise UserError(f"{name} repeats the column names {listing(repeated)}, "
                        "which cannot all become JSON keys; write CSV or TSV instead")


# ------------------------------------------------------------------------------ output


class Writer:
    """Rows out with three fields added (``names``: label, score, error).

    CSV/TSV get the three as trailing columns (``error`` empty on good rows); JSON Lines
    objects get trailing keys (``error`` only on bad rows); plain lines become ``text``.
    """

    def __init__(self, fmt: str, out: IO[bytes], columns: list[str] | None,
                 names: Sequence[str]) -> None:
        self.format = fmt
        self._out = out
        self._columns = columns or []
        self._names = list(names)
        self._text: io.TextIOWrapper | None = None
        if fmt != "jsonl":
            self._text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
            # CRLF, as RFC 4180 has it: with "\n" Python's writer would leave a lone "\r" in a
            # field unquoted, and no reader could tell it from a line's end
            self._csv = csv.writer(self._text, delimiter=DELIMITERS[fmt], lineterminator="\r\n")
            if columns is not None:
                self._csv.writerow([*columns, *names])

    def write(self, rows: Sequence[Row], labels: Sequence[str | None],
              scores: Sequence[Any], errors: Sequence[str | None]) -> None:
        """One chunk: ``labels``, ``scores`` (float32 numbers or None) and ``errors`` align
        with ``rows``."""
        if self._text is None:
            self._out.write(b"".join(self._object(row, label, score, error)
                                     for row, label, score, error
                                     in zip(rows, labels, scores, errors, strict=True)))
            return
        fmt = _decimal
        self._csv.writerows(
            [*(row.record if isinstance(row.record, list) else ()), label or "",
             "" if score is None else fmt(score), error or ""]
            for row, label, score, error in zip(rows, labels, scores, errors, strict=True))

    def _object(self, row: Row, label: str | None, score: Any, error: str | None) -> bytes:
        record = row.record
        obj: dict[str, Any]
        if isinstance(record, list):
            obj = dict(zip(self._columns, record, strict=True))
        else:
            obj = dict(record) if record is not None else {}
        name_label, name_score, name_error = self._names
        obj[name_label] = label
        obj[name_score] = score
        if error is not None:
            obj[name_error] = error
        try:
            return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # lone surrogates from "\ud800"-style escapes: escaped ASCII JSON
            import json

            if obj[name_score] is not None:
                obj[name_score] = float(_decimal(obj[name_score]))
            return (json.dumps(obj) + "\n").encode()

    def close(self) -> None:
        if self._text is not None:
            self._text.flush()
            self._text.detach()  # leaves the binary stream open for its owner


def _decimal(score: Any) -> str:
    """The shortest decimal that gives back the float32 ``score``."""
    import numpy as np

    return np.format_float_positional(np.float32(score), trim="0")


def output_format(in_fmt: str, out_path: Path | None, output_fmt: str | None) -> tuple[str, bool]:
    """The output's format (``output_fmt``, else the name's, else like the input) and gzip."""
    named, gz = None, False
    if out_path is not None:
        name_suffix, gz = suffix(out_path)
        named = SUFFIXES.get(name_suffix)
    fmt = (normalize(output_fmt, ("csv", "tsv", "jsonl")) if output_fmt is not None
           else named or ("jsonl" if in_fmt == "lines" else in_fmt))
    if in_fmt == "jsonl" and fmt != "jsonl":
        raise UserError(f"JSON Lines input can only be written as JSON Lines, not {fmt} "
                        "(its objects need not share keys)")
    return fmt, gz
