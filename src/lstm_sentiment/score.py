"""Score a whole file of texts in bounded memory: the same rows come out with a label and a score.

>>> from lstm_sentiment.score import score_file
>>> summary = score_file(model, "reviews.csv", "scored.csv")      # doctest: +SKIP
>>> summary.rows, summary.errors                                  # doctest: +SKIP
(25000, 0)

Formats
    The input's format comes from its suffix: ``.csv``; ``.tsv`` or ``.tab``; ``.jsonl`` or
    ``.ndjson`` (JSON Lines, one object per line); anything else is plain lines, one text per
    line. ``fmt`` overrides the suffix. Standard input (``"-"``) is read as plain lines unless
    ``fmt`` says otherwise. A ``.json`` file is refused, since a JSON document is not one row per
    line. Gzip input is recognised by its first bytes (a ``.gz`` suffix is ignored when the format
    is read from the name), on standard input too.

    The output keeps the input's rows in their order and every column or key they had, and adds
    ``label``, ``score`` and ``error``: CSV/TSV get three trailing columns (``error`` empty on
    good rows), JSON Lines objects get trailing keys (``error`` only on bad rows). Plain-lines
    input becomes JSON Lines, ``{"text": ..., "label": ..., "score": ...}``. An output name ending
    in ``.csv``, ``.tsv``/``.tab`` or ``.jsonl``/``.ndjson`` asks for that format instead, as
    does ``output_fmt``: CSV, TSV and plain lines can be written as any of the three, JSON Lines
    only as JSON Lines (its objects need not share keys, so there is no header to write). An
    output name ending in ``.gz`` is gzip-compressed. Standard output (``None`` or ``"-"``) gets
    the input's format (JSON Lines for plain lines) unless ``output_fmt`` is given.

    CSV and TSV are read and written the way Python's :mod:`csv` module does (fields holding the
    delimiter, a quote or a line break are quoted with ``"``); output lines end in ``\\n``.
    ``score`` is the same number :meth:`SentimentModel.predict` gives: p(positive) for a
    two-class model, otherwise p(label); it is written with the float32 precision the model
    computes it in.

The text field
    ``text_field`` names the column (CSV/TSV) or key (JSON Lines) holding the text. By default it
    is the first of ``text``, ``review``, ``sentence``, ``content`` (as training picks it; an
    exact match first, then one that differs only in case or surrounding spaces), else the only
    column of a one-column CSV/TSV. For JSON Lines the first
    valid object decides. A text field that is not in the header (or in that first object) is a
    :class:`UserError` that lists the fields there are. Plain lines have no fields, so giving a
    text field for them is refused (the file probably needs ``fmt``).

Name clashes
    Labelled data often has a ``label`` column already. Rather than overwrite it or silently
    pick another name, an input whose header (or first JSON object) already has a ``label``,
    ``score`` or ``error`` field is refused with a :class:`UserError`; ``prefix="pred_"`` makes
    the new fields ``pred_label``, ``pred_score`` and ``pred_error`` instead.

Bad rows and bad files
    A row that cannot be scored is never skipped: it is written in its place with an empty (CSV)
    or null (JSON) label and score and an ``error`` that starts with its line number, e.g.
    ``line 7: invalid JSON (Expecting value at column 1)``. Such rows are

    * CSV/TSV: a row with more or fewer fields than the header (its fields are written cut or
      padded to the header's width), or one the csv module cannot parse (a field over its
      128 KiB limit, say: that field's line is skipped and the row written with empty fields);
    * JSON Lines: invalid JSON, a value that is not an object, a text key that is missing,
      null or not a string, or (after the first object) a key that clashes with the new ones.
      Objects that cannot be kept as they are (invalid JSON, not an object, a clash) are written
      as ``{"label": null, "score": null, "error": ...}``.

    Line numbers are 1-based lines of the (decompressed) input, the header being line 1; a CSV
    row that spans several lines has the number of its first. Blank lines carry no row in CSV,
    TSV and JSON Lines and are passed over; in plain lines every line is a text, blank or not,
    so row *i* of the output is line *i* of the input.

    Problems with the file as a whole raise :class:`UserError` and leave no output file: an
    input that cannot be opened or read, an unknown format, an unreadable header, a missing
    text field, a name clash, corrupt gzip data, an output folder that does not exist.

Encoding
    Input is decoded as UTF-8 (a leading byte-order mark is dropped). Bytes that are not UTF-8
    are replaced with U+FFFD and the row is scored anyway (to the model the damaged word is just
    an unknown word); :attr:`ScoreSummary.undecodable_lines` counts the lines this happened to,
    so a caller can warn. Output is UTF-8.

Output, memory and progress
    A file output is written to a temporary file beside it and renamed over it only when every
    row is written; on any error or Ctrl-C the temporary file is removed and an existing file of
    that name is left as it was. Writing over the input file itself is therefore safe. Standard
    output is written as each chunk is scored, so a failure there leaves the rows scored so far.

    Rows are read, scored and written ``chunk_size`` at a time, so memory depends on the chunk
    size and the longest row, not on the size of the file. A progress bar (on a terminal only,
    see :mod:`lstm_sentiment.progress`) follows the bytes read and shows rows per second.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import stat
import sys
import tempfile
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from . import data, progress
from .errors import UserError
from .fileio import atomic_open

if TYPE_CHECKING:
    from .predict import SentimentModel

__all__ = ["FORMATS", "OUTPUT_FORMATS", "ScoreSummary", "score_file"]

FORMATS = ("csv", "tsv", "jsonl", "lines")  # what ``fmt`` accepts ("ndjson" = "jsonl")
OUTPUT_FORMATS = ("csv", "tsv", "jsonl")  # what ``output_fmt`` accepts
_ALIASES = {"ndjson": "jsonl"}
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_STDIO = "-"


@dataclass(frozen=True)
class ScoreSummary:
    """What :func:`score_file` did."""

    rows: int  # rows written: scored ones plus those with an error
    errors: int  # rows written with an error instead of a score
    seconds: float  # wall time of the whole call
    rows_per_second: float
    output: Path | None  # the file written; None for standard output
    input_format: str  # csv, tsv, jsonl or lines
    output_format: str  # csv, tsv or jsonl
    text_field: str | None  # the column/key the texts came from (None: plain lines, or no rows)
    undecodable_lines: int = 0  # input lines whose non-UTF-8 bytes were replaced by U+FFFD


def score_file(model: SentimentModel, input: str | Path, output: str | Path | None, *,
               text_field: str | None = None, fmt: str | None = None,
               output_fmt: str | None = None, prefix: str = "",
               chunk_size: int = 2000, workers: int = 1) -> ScoreSummary:
    """Add the model's label and score to every row of ``input`` and write them to ``output``.

    ``input`` is a file or ``"-"`` (standard input); ``output`` a file, or ``None``/``"-"`` for
    standard output. ``fmt`` / ``output_fmt`` override the formats the names imply (one of
    :data:`FORMATS` / :data:`OUTPUT_FORMATS`); ``prefix`` is put before the new fields' names;
    ``chunk_size`` rows are held in memory at a time (up to ``4 * workers`` chunks with
    workers). ``workers`` > 1 scores chunks in that many processes, this one included: it reads
    and writes in order and scores the chunks its ``workers - 1`` helpers have no room for; each
    helper loads the model from a saved copy (checksums verified, no pickled model), which
    takes a second or two. On two cores ``workers=2`` scored 100,000 seed-preset reviews 10-35 %
    faster than one process, 25,000 no faster, and the accurate preset no faster (its network
    already keeps both cores busy). The module docstring has the rules for
    formats, the text field, bad rows and encodings. Raises :class:`UserError` for problems with
    the files as a whole (nothing is written then).
    """
    if chunk_size < 1:
        raise UserError(f"the chunk size must be at least 1, got {chunk_size}")
    if workers < 1:
        raise UserError(f"workers must be at least 1, got {workers}")
    started = time.perf_counter()
    in_fmt = _input_format(input, fmt)
    out_path = None if output is None or str(output) == _STDIO else Path(output)
    out_fmt, gz_out = _output_format(in_fmt, out_path, output_fmt)
    names = (f"{prefix}label", f"{prefix}score", f"{prefix}error")
    rows = errors = 0
    with _open_input(input) as source:
        reader = _make_reader(in_fmt, source, text_field, names)
        if out_fmt == "jsonl" and reader.columns is not None:
            _check_unique(reader.columns, source.name)
        title = f"scoring {Path(source.name).name}"
        with _open_output(out_path, gz_out) as out, \
                progress.bar(title, source.total, unit="bytes") as bar, \
                _scorer(model, workers) as scored:
            writer = _make_writer(out_fmt, out, reader.columns, names)
            for chunk, predictions in scored(_chunks(reader.rows(), chunk_size)):
                _write_chunk(chunk, predictions, writer)
                rows += len(chunk)
                errors += sum(row.error is not None for row in chunk)
                if out_path is None:
                    out.flush()
                elapsed = max(time.perf_counter() - started, 1e-9)
                bar.update(0, completed=source.position(),
                           description=f"{title}: {rows:,} rows, {rows / elapsed:,.0f} rows/s")
    seconds = time.perf_counter() - started
    return ScoreSummary(rows=rows, errors=errors, seconds=seconds,
                        rows_per_second=rows / seconds if seconds > 0 else 0.0,
                        output=out_path, input_format=in_fmt, output_format=out_fmt,
                        text_field=reader.text_field,
                        undecodable_lines=source.undecodable)


# ------------------------------------------------------------------------------- formats


def _normalize(fmt: str, allowed: Sequence[str]) -> str:
    name = fmt.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in allowed:
        raise UserError(f"unknown format {fmt!r} (choose from {', '.join(allowed)})")
    return name


def _suffix(path: Path) -> tuple[str, bool]:
    """The lower-case suffix that names ``path``'s format, and whether it ends in ``.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes.pop()
    return (suffixes[-1] if suffixes else ""), gz


def _input_format(input: str | Path, fmt: str | None) -> str:
    if fmt is not None:
        return _normalize(fmt, FORMATS)
    if str(input) == _STDIO:
        return "lines"
    suffix, _ = _suffix(Path(input))
    if suffix == ".json":
        raise UserError(f"{input} looks like a JSON document, which cannot be streamed; JSON "
                        "Lines (one object per line) can: name it .jsonl or give the format")
    return _SUFFIXES.get(suffix, "lines")


def _output_format(in_fmt: str, out_path: Path | None,
                   output_fmt: str | None) -> tuple[str, bool]:
    named, gz = (None, False)
    if out_path is not None:
        suffix, gz = _suffix(out_path)
        named = _SUFFIXES.get(suffix)
    if output_fmt is not None:
        fmt = _normalize(output_fmt, OUTPUT_FORMATS)
    else:
        fmt = named or ("jsonl" if in_fmt == "lines" else in_fmt)
    if in_fmt == "jsonl" and fmt != "jsonl":
        raise UserError(f"JSON Lines input can only be written as JSON Lines, not {fmt} "
                        "(its objects need not share keys)")
    return fmt, gz


# ------------------------------------------------------------------------------- input


class _Source:
    """The input as decoded lines (line endings kept, as the csv module wants them)."""

    def __init__(self, name: str, binary: Iterable[bytes], raw: IO[bytes] | None,
                 total: int | None) -> None:
        self.name = name
        self.total = total  # bytes of the file, for the progress bar (None: unknown)
        self.undecodable = 0
        self._binary = binary
        self._raw = raw  # the compressed file under a gzip stream: its position is progress
        self._bytes_read = 0
        self._line_no = 0

    def position(self) -> int:
        if self._raw is not None:
            with suppress(OSError, ValueError):
                return self._raw.tell()
        return self._bytes_read

    def lines(self) -> Iterator[str]:
        try:
            for data in self._binary:
                self._line_no += 1
                self._bytes_read += len(data)
                if self._line_no == 1 and data.startswith(_BOM):
                    data = data[len(_BOM):]
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    text = data.decode("utf-8", "replace")
                    self.undecodable += 1
                yield text
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise UserError(f"{self.name}: corrupt gzip data after line {self._line_no} "
                            f"({exc})") from None
        except OSError as exc:
            raise UserError(f"cannot read {self.name}: {exc.strerror or exc}") from None


def _is_gzip(stream: Any) -> bool:
    peek = getattr(stream, "peek", None)
    return peek is not None and peek(2)[:2] == _GZIP_MAGIC


@contextmanager
def _open_input(input: str | Path) -> Iterator[_Source]:
    if str(input) == _STDIO:
        stdin = sys.stdin
        if stdin is None:
            raise UserError("there is no standard input to read")
        buffer = getattr(stdin, "buffer", None)
        if buffer is None:  # a text-only stream (io.StringIO, say)
            yield _Source("stdin", (line.encode("utf-8", "surrogateescape") for line in stdin),
                          None, None)
            return
        if _is_gzip(buffer):
            with gzip.GzipFile(fileobj=buffer, mode="rb") as gz:
                yield _Source("stdin", gz, None, None)
        else:
            yield _Source("stdin", buffer, None, None)
        return
    path = Path(input)
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a file") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    with raw:
        info = os.fstat(raw.fileno())
        total = info.st_size if stat.S_ISREG(info.st_mode) and info.st_size else None
        try:
            gz = _is_gzip(raw)
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
        if gz:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield _Source(str(path), stream, raw, total)
        else:
            yield _Source(str(path), raw, None, total)


class _Row(NamedTuple):
    line: int  # where the row starts in the input (1-based)
    record: list[str] | dict[str, Any] | None  # what is kept: fields, an object, or nothing
    text: str | None  # what is scored; None when the row has an error
    error: str | None


class _Reader(Protocol):
    columns: list[str] | None  # the header (None: JSON Lines, or a CSV with no header line)
    text_field: str | None

    def rows(self) -> Iterator[_Row]: ...


def _make_reader(fmt: str, source: _Source, text_field: str | None,
                 names: Sequence[str]) -> _Reader:
    if fmt == "lines":
        if text_field is not None:
            raise UserError(f"a text field ({text_field!r}) was given, but {source.name} is "
                            "read as plain lines, one text per line; give its format "
                            "(csv, tsv or jsonl)")
        return _LinesReader(source)
    if fmt == "jsonl":
        return _JsonReader(source, text_field, names)
    return _TabularReader(source, "," if fmt == "csv" else "\t", text_field, names)


class _LinesReader:
    def __init__(self, source: _Source) -> None:
        self.columns: list[str] | None = ["text"]
        self.text_field: str | None = None
        self._source = source

    def rows(self) -> Iterator[_Row]:
        for number, line in enumerate(self._source.lines(), 1):
            text = line[:-1] if line.endswith("\n") else line
            if text.endswith("\r"):
                text = text[:-1]
            yield _Row(number, [text], text, None)


class _TabularReader:
    """CSV or TSV with a header line; reads the header when made, so its errors come first."""

    def __init__(self, source: _Source, delimiter: str, text_field: str | None,
                 names: Sequence[str]) -> None:
        self._csv = csv.reader(source.lines(), delimiter=delimiter)
        self.columns: list[str] | None = None
        self.text_field: str | None = None
        self._index = 0
        header: list[str] = []
        try:
            while not header:  # blank lines before the header carry nothing
                header = next(self._csv)
        except StopIteration:
            return  # an empty file: no header, no rows
        except csv.Error as exc:
            raise UserError(f"{source.name}: unreadable header on line {self._csv.line_num} "
                            f"({exc})") from None
        _check_clash(header, names, source.name, "column")
        self.text_field = _pick_field(header, text_field, "column", source.name)
        self._index = header.index(self.text_field)
        self.columns = header

    def rows(self) -> Iterator[_Row]:
        if self.columns is None:
            return
        width = len(self.columns)
        while True:
            number = self._csv.line_num + 1
            try:
                fields = next(self._csv)
            except StopIteration:
                return
            except csv.Error as exc:
                yield _Row(number, [""] * width, None, f"line {number}: {exc}")
                continue
            if not fields:
                continue  # a blank line
            if len(fields) != width:
                yield _Row(number, (fields + [""] * width)[:width], None,
                           f"line {number}: {len(fields)} fields where the header has {width}")
            else:
                yield _Row(number, fields, fields[self._index], None)


class _JsonReader:
    """JSON Lines; the first valid object settles the text field and the name check."""

    def __init__(self, source: _Source, text_field: str | None, names: Sequence[str]) -> None:
        self.columns: list[str] | None = None
        self.text_field: str | None = None
        self._source = source
        self._wanted = text_field
        self._names = names

    def rows(self) -> Iterator[_Row]:
        for number, line in enumerate(self._source.lines(), 1):
            if not line.strip():
                continue
            yield self._row(number, line)

    def _row(self, number: int, line: str) -> _Row:
        try:
            obj = json.loads(line.rstrip("\r\n"))  # so that error columns count from the line
        except json.JSONDecodeError as exc:
            return _Row(number, None, None,
                        f"line {number}: invalid JSON ({exc.msg} at column {exc.colno})")
        except (ValueError, RecursionError) as exc:  # e.g. nesting too deep
            return _Row(number, None, None, f"line {number}: unreadable JSON ({exc})")
        if not isinstance(obj, dict):
            return _Row(number, None, None,
                        f"line {number}: expected a JSON object, found {_json_type(obj)}")
        if self.text_field is None:
            _check_clash(list(obj), self._names, self._source.name, "key")
            self.text_field = _pick_field(list(obj), self._wanted, "key", self._source.name)
        else:
            clash = [name for name in self._names if name in obj]
            if clash:
                return _Row(number, None, None, f"line {number}: the object already has "
                            f"{_listing(clash)}, which the output would overwrite")
        field = self.text_field
        if field not in obj:
            return _Row(number, obj, None, f"line {number}: no {field!r} key")
        text = obj[field]
        if not isinstance(text, str):
            return _Row(number, obj, None,
                        f"line {number}: {field!r} is {_json_type(text)}, not a string")
        return _Row(number, obj, text, None)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def _listing(names: Sequence[str], limit: int = 20) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def _pick_field(available: list[str], wanted: str | None, what: str, source: str) -> str:
    """The text's column or key, picked as training picks it (:func:`data.find_field`); a
    table of one column is that column."""
    found = data.find_field(available, wanted)
    if found is not None:
        return found
    if wanted is not None:
        raise UserError(f"{source} has no {what} {wanted!r} ({what}s: {_listing(available)})")
    if what == "column" and len(available) == 1:
        return available[0]
    raise UserError(f"{source} has no {_listing(list(data.TEXT_FIELDS))} {what}; name the one "
                    f"that holds the text ({what}s: {_listing(available)})")


def _check_clash(available: list[str], names: Sequence[str], source: str, what: str) -> None:
    clash = [name for name in names if name in available]
    if clash:
        raise UserError(f"{source} already has a {what} named {_listing(clash)}; give the new "
                        f"{what}s a prefix (e.g. pred_ for pred_label, pred_score, pred_error)")


def _check_unique(columns: list[str], source: str) -> None:
    repeated = sorted(name for name, n in Counter(columns).items() if n > 1)
    if repeated:
        raise UserError(f"{source} repeats the column names {_listing(repeated)}, "
                        "which cannot all become JSON keys; write CSV or TSV instead")


# ------------------------------------------------------------------------------- output


class _Writer(Protocol):
    def write(self, rows: Sequence[_Row], labels: Sequence[str | None],
              scores: Sequence[str | None]) -> None:
        """Write a chunk of rows; ``labels``/``scores`` are aligned with them (None: no score)."""
        ...


class _CsvWriter:
    def __init__(self, out: IO[str], delimiter: str, columns: list[str] | None,
                 names: Sequence[str]) -> None:
        self._csv = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        if columns is not None:
            self._csv.writerow([*columns, *names])

    def write(self, rows: Sequence[_Row], labels: Sequence[str | None],
              scores: Sequence[str | None]) -> None:
        self._csv.writerows(
            [*(row.record if isinstance(row.record, list) else ()), label or "", score or "",
             row.error or ""]
            for row, label, score in zip(rows, labels, scores, strict=True))


_JSON = json.JSONEncoder(ensure_ascii=False)  # what json.dumps(..., ensure_ascii=False) uses
_JSON_ASCII = json.JSONEncoder()


class _JsonWriter:
    def __init__(self, out: IO[str], columns: list[str] | None, names: Sequence[str]) -> None:
        self._out = out
        self._columns = columns or []
        self._label, self._score, self._error = names

    def write(self, rows: Sequence[_Row], labels: Sequence[str | None],
              scores: Sequence[str | None]) -> None:
        objects = [self._object(row, label, score)
                   for row, label, score in zip(rows, labels, scores, strict=True)]
        encode = _JSON.encode
        try:  # encoding the chunk fails as a whole, before anything is written
            self._out.write("".join([encode(obj) + "\n" for obj in objects]))
        except UnicodeEncodeError:  # lone surrogates from "\ud800"-style escapes in the input
            for obj in objects:
                try:
                    self._out.write(encode(obj) + "\n")
                except UnicodeEncodeError:
                    self._out.write(_JSON_ASCII.encode(obj) + "\n")

    def _object(self, row: _Row, label: str | None, score: str | None) -> dict[str, Any]:
        record = row.record
        if isinstance(record, list):
            obj: dict[str, Any] = dict(zip(self._columns, record, strict=True))
        else:
            obj = record if record is not None else {}
        obj[self._label] = label
        obj[self._score] = float(score) if score is not None else None
        if row.error is not None:
            obj[self._error] = row.error
        return obj


def _make_writer(fmt: str, out: IO[str], columns: list[str] | None,
                 names: Sequence[str]) -> _Writer:
    if fmt == "jsonl":
        return _JsonWriter(out, columns, names)
    return _CsvWriter(out, "," if fmt == "csv" else "\t", columns, names)


@contextmanager
def _open_output(path: Path | None, gz: bool) -> Iterator[IO[str]]:
    """Standard output, or a temporary file beside ``path`` renamed over it on success."""
    if path is None:
        if sys.stdout is None:
            raise UserError("there is no standard output to write to")
        yield sys.stdout
        sys.stdout.flush()
        return
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder")
    with atomic_open(path) as raw:
        binary: IO[bytes] = raw
        if gz:
            binary = gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, mtime=0)
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        try:
            yield text
            text.flush()
        finally:
            with suppress(Exception):
                text.detach()  # leaves ``binary`` open, so the wrapper never closes raw
            if gz:
                binary.close()  # the gzip trailer; ``raw`` stays open


# ------------------------------------------------------------------------------- scoring


def _chunks(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    while chunk := list(islice(rows, size)):
        yield chunk


Predictions = tuple[list[str], list[str]]  # labels and scores of the rows that have a text
Scored = Iterator[tuple[list[_Row], Predictions]]


def _texts(chunk: list[_Row]) -> list[str]:
    return [row.text for row in chunk if row.text is not None]


@contextmanager
def _scorer(model: SentimentModel,
            workers: int) -> Iterator[Callable[[Iterator[list[_Row]]], Scored]]:
    """A function from chunks to (chunk, predictions) pairs, in input order.

    With ``workers`` > 1 this process is one of them: ``workers - 1`` helper processes take
    chunks while they have room (two each), and this process scores the rest itself, so the
    work divides itself by speed, and chunks are scored from the start while the helpers are
    still loading. Each process runs PyTorch on ``cores // workers`` threads.
    """
    if workers == 1:
        yield lambda chunks: ((c, _predict(model, _texts(c))) for c in chunks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    helpers = workers - 1
    threads = max(1, (os.cpu_count() or 1) // workers)
    with tempfile.TemporaryDirectory(prefix="lstm-sentiment-score-") as tmp:
        model.save(Path(tmp))  # helpers load this copy: safetensors + JSON, verified
        ctx = multiprocessing.get_context("spawn")  # torch and tokenizers dislike fork
        before = torch.get_num_threads()
        try:
            with ProcessPoolExecutor(helpers, mp_context=ctx, initializer=_init_worker,
                                     initargs=(tmp, threads)) as pool:
                # done once every helper has loaded the model
                ready = [pool.submit(_worker_ready) for _ in range(helpers)]
                yield lambda chunks: _shared(model, chunks, pool, helpers, ready, threads)
        finally:
            torch.set_num_threads(before)


def _shared(model: SentimentModel, chunks: Iterator[list[_Row]], pool: Executor,
            helpers: int, ready: list[Future[None]], threads: int | None = None) -> Scored:
    """:func:`_scorer`'s chunks, shared between this process and ``helpers`` in ``pool``.
    Until the helpers have loaded, this process scores on all its threads; from then on on
    ``threads`` (None: as it is)."""
    pending: deque[tuple[list[_Row], Future[Predictions] | Predictions]] = deque()
    started = False
    for chunk in chunks:
        if not started and _helpers_ready(ready):
            started = True
            if threads is not None:
                import torch

                torch.set_num_threads(threads)
        sent = sum(isinstance(p, Future) and not p.done() for _, p in pending)
        if started and sent < 2 * helpers:
            pending.append((chunk, pool.submit(_worker_predict, _texts(chunk))))
        else:
            pending.append((chunk, _predict(model, _texts(chunk))))
        # in order: what is ready; and never more than a few chunks held (memory)
        while pending and (not isinstance(pending[0][1], Future) or pending[0][1].done()
                           or len(pending) > 4 * (helpers + 1)):
            yield _result(pending.popleft())
    while pending:
        yield _result(pending.popleft())


def _helpers_ready(ready: list[Future[None]]) -> bool:
    return all(r.done() for r in ready)


def _result(item: tuple[list[_Row], Future[Predictions] | Predictions]
            ) -> tuple[list[_Row], Predictions]:
    chunk, predictions = item
    return chunk, predictions.result() if isinstance(predictions, Future) else predictions


_WORKER_MODEL: SentimentModel | None = None


def _init_worker(folder: str, threads: int) -> None:
    import torch

    from .predict import SentimentModel

    global _WORKER_MODEL
    torch.set_num_threads(threads)
    _WORKER_MODEL = SentimentModel.load(folder)


def _worker_ready() -> None:
    """Nothing: its result comes back once the helper's initializer has loaded the model."""


def _worker_predict(texts: list[str]) -> Predictions:
    assert _WORKER_MODEL is not None
    return _predict(_WORKER_MODEL, texts)


def _write_chunk(chunk: list[_Row], predictions: Predictions, writer: _Writer) -> None:
    labels: Sequence[str | None]
    scores: Sequence[str | None]
    labels, scores = predictions  # one per row with a text, in order
    if len(labels) < len(chunk):  # rows with an error get neither
        given_labels, given_scores = iter(labels), iter(scores)
        labels = [next(given_labels) if row.text is not None else None for row in chunk]
        scores = [next(given_scores) if row.text is not None else None for row in chunk]
    writer.write(chunk, labels, scores)


def _predict(model: SentimentModel, texts: list[str]) -> Predictions:
    """Labels and scores of ``texts``, as :meth:`SentimentModel.predict` defines them; each
    score as the shortest decimal that gives back the float32 probability."""
    if not texts:
        return [], []
    probs = np.asarray(model.predict_proba(texts))
    best = probs.argmax(axis=1)
    scores = probs[:, 1] if probs.shape[1] == 2 else probs[np.arange(len(best)), best]
    labels = np.asarray(model.labels, dtype=object)[best].tolist()
    fmt = np.format_float_positional
    return labels, [fmt(p, trim="0") for p in scores.astype(np.float32)]
