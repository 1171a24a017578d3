"""Handing the C heap's free memory back to the operating system between the stages of a run.

glibc's ``malloc`` keeps what ``free`` gives back for later calls, and returns it to the system
only from the top of the heap. Blocks freed below a block still in use (the reviews' texts once
encoded, the training steps' LSTM workspaces once training ends) stay resident until
``malloc_trim`` releases their pages. Releasing costs a page fault when a page is used again,
so it is done between stages, never per training step.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from functools import cache


def release_free_memory() -> None:
    """Return the heap's free pages to the system; does nothing where malloc is not glibc's."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library; glibc only
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]
