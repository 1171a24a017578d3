"""Byte streams for tables: an input (a file, gzip recognised by its first bytes, or standard
input) read as decoded lines, and an output written atomically (or to standard output).

Input is decoded as UTF-8; a byte-order mark at the start is dropped; bytes that are not UTF-8
become U+FFFD and the lines where that happened are counted (:attr:`Input.undecodable`). Lines
end at ``\\n`` only (``\\r\\n`` works; a lone ``\\r``, U+2028 and the like stay inside a line).
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import sys
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from .errors import UserError
from .fileio import atomic_open, check_writable

STDIO = "-"
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"


class Input:
    """An opened input: its decoded lines (line endings kept, as :mod:`csv` wants them)."""

    def __init__(self, name: str, binary: IO[bytes], raw: IO[bytes] | None,
                 total: int | None) -> None:
        self.name = name
        self.total = total  # bytes of the file, for a progress bar (None: unknown)
        self.undecodable = 0  # lines whose bytes were not all UTF-8
        self._binary = binary
        self._raw = raw  # the compressed file under a gzip stream: its position is progress
        self._bytes_read = 0
        self._line_no = 0

    def position(self) -> int:
        if self._raw is not None:
            with suppress(OSError, ValueError):
                return self._raw.tell()
        return self._bytes_read

    def byte_lines(self) -> Iterator[bytes]:
        try:
            for data in self._binary:
                self._line_no += 1
                self._bytes_read += len(data)
                if self._line_no == 1 and data.startswith(_BOM):
                    data = data[len(_BOM):]
                yield data
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise UserError(f"{self.name}: corrupt gzip data after line {self._line_no} "
                            f"({exc})") from None
        except OSError as exc:
            raise UserError(f"cannot read {self.name}: {exc.strerror or exc}") from None

    def decode(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.undecodable += 1
            return data.decode("utf-8", "replace")

    def lines(self) -> Iterator[str]:
        return map(self.decode, self.byte_lines())

    def copy_to(self, out: IO[bytes]) -> None:
        shutil.copyfileobj(self._binary, out)


def _is_gzip(stream: Any) -> bool:
    peek = getattr(stream, "peek", None)
    return peek is not None and peek(2)[:2] == _GZIP_MAGIC


@contextmanager
def open_input(input: str | Path) -> Iterator[Input]:
    """A file (gzip recognised by its first bytes) or ``"-"``, standard input."""
    if str(input) == STDIO:
        stdin = sys.stdin
        if stdin is None:
            raise UserError("there is no standard input to read")
        buffer = getattr(stdin, "buffer", None)
        if buffer is None:  # a text-only stream (io.StringIO, say)
            yield Input("stdin", io.BytesIO(stdin.read().encode("utf-8", "surrogateescape")),
                        None, None)
        elif _is_gzip(buffer):
            with gzip.GzipFile(fileobj=buffer, mode="rb") as gz:
                yield Input("stdin", gz, None, None)  # type: ignore[arg-type]
        else:
            yield Input("stdin", buffer, None, None)
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
                yield Input(str(path), stream, raw, total)  # type: ignore[arg-type]
        else:
            yield Input(str(path), raw, None, total)


@contextmanager
def rereadable(input: str | Path) -> Iterator[str | Path]:
    """``input`` as a file that can be read twice: standard input is copied to a temp file."""
    if str(input) != STDIO:
        yield input
        return
    with open_input(input) as source, tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "stdin"
        with copy.open("wb") as f:
            source.copy_to(f)
        yield copy



def check_output(path: Path | None) -> None:
    """Refuse an output that cannot be written, before any work."""
    if path is None:
        if sys.stdout is None:
            raise UserError("there is no standard output to write to")
        return
    check_writable(path)


@contextmanager
def open_output(path: Path | None, gz: bool) -> Iterator[IO[bytes]]:
    """Standard output, or a temporary file beside ``path`` renamed over it on success."""
    check_output(path)
    if path is None:
        sys.stdout.flush()
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:  # a text-only stream
            text_out = io.BytesIO()
            yield text_out
            sys.stdout.write(text_out.getvalue().decode("utf-8"))
        else:
            yield buffer
            buffer.flush()
        return
    with atomic_open(path) as raw:
        if not gz:
            yield raw
            return
        with gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, mtime=0) as stream:
            yield stream  # type: ignore[misc]
