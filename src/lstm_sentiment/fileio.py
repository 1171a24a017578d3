"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target.

A reader (or a crash) sees either the old file or the complete new one, never half of either.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` only if the block ends without an exception.

    It is a temp file beside ``path`` with the permissions a plain ``open()`` would give; on
    success it is flushed, fsynced and renamed over ``path``, otherwise it is deleted.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private (0600)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def check_writable(path: Path) -> None:
    """Refuse, before any work, a file that :func:`atomic_open` could not write."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: the folder {folder} is not writable")
