"""Progress bars for long loops: shown on a terminal, silent when piped or asked to be quiet."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

T = TypeVar("T")

_quiet = False


def set_quiet(quiet: bool) -> None:
    """Silence every progress bar of this process (``--quiet``)."""
    global _quiet
    _quiet = quiet


def enabled() -> bool:
    return not _quiet and sys.stderr.isatty()


@contextmanager
def bar(description: str, total: float | None, *, unit: str = "items") -> Iterator[Progress]:
    """A progress bar on stderr; yields the rich Progress with a task id 0 to advance."""
    if unit == "bytes":
        columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn()]
    else:
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    progress = Progress(*columns, console=Console(stderr=True), transient=True,
                        disable=not enabled())
    with progress:
        progress.add_task(description, total=total)
        yield progress


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with bar(description, total) as p:
        for item in items:
            yield item
            p.advance(0)
