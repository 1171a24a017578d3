"""Score a whole file of texts in bounded memory: the same rows come out with a label and a score.

>>> from lstm_sentiment.score import score_file
>>> summary = score_file(model, "reviews.csv", "scored.csv")      # doctest: +SKIP
>>> summary.rows, summary.errors                                  # doctest: +SKIP
(25000, 0)

What is read, and how malformed input is handled, is :mod:`lstm_sentiment.tables`' business.
Here: the output keeps the input's rows in order with every field they had, and adds ``label``,
``score`` and ``error`` (with ``prefix`` before each name). ``score`` is the number
:meth:`SentimentModel.predict` gives: p(positive) for a two-class model, else p(label), with
the float32 precision the model computes it in. A row that cannot be scored (a bad JSON Lines
row, a text with no words or none the model knows) is written in its place with no label and
score and an ``error`` that starts with its line number; a field named like a new one is refused
unless ``prefix`` makes the names new.

Output format: the output name's (``.csv``, ``.tsv``/``.tab``, ``.jsonl``/``.ndjson``, each
optionally ``.gz``), else ``output_fmt``, else the input's (JSON Lines for plain lines). JSON
Lines input can only be written as JSON Lines (its objects need not share keys).

A file output is written to a temporary file beside it and renamed over it only when every row
is written, so on any error or Ctrl-C an existing file of that name is left as it was (writing
over the input itself is safe). CSV and TSV inputs are read through once before anything is
written, so a file whose structure is in doubt is refused with nothing written, standard
output included; standard input is first copied to a temporary file for that. Rows are read,
scored and written ``chunk_size`` at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import progress, streams, tables
from .errors import UserError
from .pool import scored_chunks

if TYPE_CHECKING:
    from .predict import SentimentModel

__all__ = ["ScoreSummary", "check", "predictions", "score_file"]

FIRST_CHUNK = 500  # rows in the first chunk when there are workers (see score_file)


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


@dataclass(frozen=True)
class _Plan:
    input: str | Path
    in_fmt: str
    out_path: Path | None
    out_fmt: str
    gz_out: bool


def check(input: str | Path, output: str | Path | None, *, fmt: str | None = None,
          output_fmt: str | None = None, chunk_size: int = 2000,
          workers: int = 1) -> _Plan:
    """Every argument of :func:`score_file` but the model, checked before any work."""
    if chunk_size < 1:
        raise UserError(f"the chunk size must be at least 1, got {chunk_size}")
    if workers < 1:
        raise UserError(f"workers must be at least 1, got {workers}")
    in_fmt = tables.input_format(input, fmt)
    if str(input) != streams.STDIO:
        with streams.open_input(input):  # exists, is a file, can be read
            pass
    out_path = None if output is None or str(output) == streams.STDIO else Path(output)
    out_fmt, gz_out = tables.output_format(in_fmt, out_path, output_fmt)
    streams.check_output(out_path)
    return _Plan(input, in_fmt, out_path, out_fmt, gz_out)


def score_file(model: SentimentModel, input: str | Path, output: str | Path | None, *,
               text_field: str | None = None, fmt: str | None = None,
               output_fmt: str | None = None, prefix: str = "",
               chunk_size: int = 2000, workers: int = 1) -> ScoreSummary:
    """Add the model's label and score to every row of ``input`` and write them to ``output``.

    ``input`` is a file or ``"-"`` (standard input); ``output`` a file, or ``None``/``"-"`` for
    standard output. ``fmt`` / ``output_fmt`` override the formats the names imply;
    ``prefix`` goes before the new fields' names; ``chunk_size`` rows are held in memory at a
    time (a few chunks per process with workers). ``workers`` > 1 scores chunks in that many
    processes, this one included (see :mod:`lstm_sentiment.pool`). Raises :class:`UserError`
    for problems with the files as a whole (nothing is written then).
    """
    started = time.perf_counter()
    plan = check(input, output, fmt=fmt, output_fmt=output_fmt, chunk_size=chunk_size,
                 workers=workers)
    names = (f"{prefix}label", f"{prefix}score", f"{prefix}error")

    def table(source: streams.Input) -> tables.Table:
        return tables.read(source, plan.in_fmt, text_field=text_field, reserved=names)

    rows = errors = 0
    with ExitStack() as stack:
        path = plan.input
        if plan.in_fmt in tables.DELIMITERS:  # structure checked before anything is written
            path = stack.enter_context(streams.rereadable(plan.input))
            with streams.open_input(path) as source:
                for _ in table(source).rows():
                    pass
        source = stack.enter_context(streams.open_input(path))
        rows_in = table(source)
        if plan.out_fmt == "jsonl" and rows_in.columns is not None:
            tables.check_unique(rows_in.columns, source.name)
        title = f"scoring {Path(source.name).name}"
        out = stack.enter_context(streams.open_output(plan.out_path, plan.gz_out))
        bar = stack.enter_context(progress.bar(title, source.total, unit="bytes"))
        began = time.perf_counter()

        def left() -> float | None:
            """Seconds of work left at the pace so far (None: the size is not known)."""
            done, total = source.position(), source.total
            if not total or done <= 0:
                return None
            return (time.perf_counter() - began) * max(total - done, 0) / done

        scored = stack.enter_context(scored_chunks(model, workers, predictions, left))
        writer = tables.Writer(plan.out_fmt, out, rows_in.columns, names)
        # with workers, a small first chunk: its pace decides whether helpers pay off (pool.py),
        # and a bundled-model chunk of 2,000 would hold them back about a second
        first = min(chunk_size, FIRST_CHUNK) if workers > 1 else chunk_size
        for chunk, (labels, scores, reasons) in scored(_work(rows_in.rows(), chunk_size, first)):
            problems = [_problem(row, reason) for row, reason in zip(chunk, reasons, strict=True)]
            writer.write(chunk, labels, scores, problems)
            rows += len(chunk)
            errors += sum(problem is not None for problem in problems)
            if plan.out_path is None:
                out.flush()
            rate = rows / max(time.perf_counter() - started, 1e-9)
            bar.update(0, completed=source.position(),
                       description=f"{title}: {rows:,} rows, {rate:,.0f} rows/s")
        writer.close()
    seconds = time.perf_counter() - started
    return ScoreSummary(rows=rows, errors=errors, seconds=seconds,
                        rows_per_second=rows / seconds if seconds > 0 else 0.0,
                        output=plan.out_path, input_format=plan.in_fmt,
                        output_format=plan.out_fmt, text_field=rows_in.text_field,
                        undecodable_lines=source.undecodable)


def _work(rows: Iterator[tables.Row], size: int, first: int
          ) -> Iterator[tuple[list[tables.Row], list[str | None]]]:
    """Chunks of rows, each with its texts (None for a row with an error): what is scored;
    the first chunk has ``first`` rows, the others ``size``."""
    take = first
    while chunk := list(islice(rows, take)):
        yield chunk, [row.text for row in chunk]
        take = size


def _problem(row: tables.Row, reason: str | None) -> str | None:
    """The row's ``error`` field: what is wrong with it, or why the model gives it no label."""
    problem = row.error or reason
    return None if problem is None else f"line {row.line}: {problem}"


Predictions = tuple[list[str | None], list[Any], list[str | None]]


def predictions(model: SentimentModel, texts: list[str | None]) -> Predictions:
    """Labels, float32 scores and reasons for no label, aligned with ``texts``: None, None,
    None where the text is None; None, None and the reason where the model gives none."""
    labels: list[str | None] = [None] * len(texts)
    scores: list[Any] = [None] * len(texts)
    reasons: list[str | None] = [None] * len(texts)
    given = [i for i, text in enumerate(texts) if text is not None]
    if not given:
        return labels, scores, reasons
    reading = model.read([texts[i] for i in given])  # type: ignore[misc]
    best = reading.probabilities.argmax(axis=1).tolist()
    values = model.head.score(reading.probabilities)
    for i, k, value, reason in zip(given, best, values, reading.reasons, strict=True):
        if reason is None:
            labels[i], scores[i] = model.labels[k], value
        else:
            reasons[i] = reason
    return labels, scores, reasons
