"""Chunks of work shared between this process and helper processes, results kept in order.

``scored_chunks(model, workers, fn)`` turns an iterator of ``(chunk, work)`` pairs into
``(chunk, fn(model, work))`` pairs in input order. With ``workers`` > 1 this process is one
of them: ``workers - 1`` helpers (spawned, each loading the model from a saved copy:
safetensors and JSON, checksums verified; only ``work`` and results travel) take work while
they have room (two items each), and this process computes the rest itself, so the work
divides itself by speed and goes on while the helpers are still loading. Until they have
loaded, this process runs PyTorch on all its threads; then on ``cores // workers``.

Helpers take a second or more to start, and slow this process while they do, so they are
started only when they can pay that back: after the first item, if the work left would take
this process alone more than :data:`HELPERS_PAY_OFF_S` (or how much is left is not known).
Most of that second is importing PyTorch, so helpers are forked from a server process that has
imported it already (``forkserver``, on Linux; elsewhere spawned). :func:`warm_up`
starts that server at once, so it imports PyTorch on another core while this process does; after
the work, helpers are told to stop while this process writes the last results.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cpus

if TYPE_CHECKING:
    from .predict import SentimentModel

Work = Callable[["SentimentModel", Any], Any]
Done = Iterator[tuple[Any, Any]]
Left = Callable[[], float | None]

# Seconds of work left (at this process's pace alone) that make starting helpers worth it: a
# helper imports PyTorch and loads the model first, and the seed model's 25,000 reviews (under
# 2 s of work) scored slower with one than without (bench/serve_speed.py).
HELPERS_PAY_OFF_S = 3.0
# what the fork server imports before any helper forks from it: PyTorch and the model's code
PRELOAD = ["lstm_sentiment.predict"]


def _context() -> Any:
    """Forkserver with :data:`PRELOAD` imported on Linux (Python 3.14's default there), else
    spawn: macOS's system libraries are not safe to fork. Not plain fork: this process may have
    started PyTorch's threads, which a fork does not copy."""
    import multiprocessing
    import sys

    if sys.platform != "linux":
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def warm_up() -> None:
    """Start the process helpers fork from, so that it imports PyTorch now, beside this
    process's own start; nothing when the platform spawns helpers instead."""
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


@contextmanager
def scored_chunks(model: SentimentModel, workers: int, fn: Work,
                  left: Left | None = None) -> Iterator[Callable[[Iterator[Any]], Done]]:
    """A function from ``(chunk, work)`` pairs to ``(chunk, fn(model, work))`` pairs, in input
    order; ``fn`` must be a module-level function (helpers receive it by name). ``left()``:
    the seconds of work left at the pace so far, None when not known (helpers then start)."""
    if workers == 1:
        yield lambda items: ((chunk, fn(model, work)) for chunk, work in items)
        return
    from concurrent.futures import ProcessPoolExecutor

    import torch

    helpers = workers - 1
    threads = max(1, cpus.usable() // workers)
    before = torch.get_num_threads()
    with ExitStack() as stack:  # closed last in first out: the helpers, then their copy

        def start() -> tuple[Executor, list[Future[None]]]:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="lstm-sentiment-pool-"))
            model.save(Path(tmp))  # helpers load this copy
            ctx = _context()
            # helpers run the model's runtime; the copy's graph is the one this process cached
            pool = stack.enter_context(ProcessPoolExecutor(
                helpers, mp_context=ctx, initializer=_init_helper,
                initargs=(tmp, threads, model.runtime)))
            # done once every helper has loaded the model
            return pool, [pool.submit(_helper_ready) for _ in range(helpers)]

        try:
            yield lambda items: lazily(model, items, fn, start, helpers, threads, left)
        finally:
            torch.set_num_threads(before)


def lazily(model: SentimentModel, items: Iterator[tuple[Any, Any]], fn: Work,
           start: Callable[[], tuple[Executor, list[Future[None]]]], helpers: int,
           threads: int | None, left: Left | None) -> Done:
    """:func:`scored_chunks`' pairs: the first here, and then, if helpers pay off (see the
    module docstring), the rest shared with the helpers ``start()`` starts."""
    items = iter(items)
    for chunk, work in items:
        yield chunk, fn(model, work)
        remaining = None if left is None else left()
        if remaining is None or remaining > HELPERS_PAY_OFF_S:
            pool, ready = start()
            yield from shared(model, items, fn, pool, helpers, ready, threads)
            return


def shared(model: SentimentModel, items: Iterator[tuple[Any, Any]], fn: Work, pool: Executor,
           helpers: int, ready: list[Future[None]], threads: int | None = None) -> Done:
    """:func:`scored_chunks`' pairs, the work shared between this process and ``helpers`` in
    ``pool``; from the moment every ``ready`` is done, this process runs on ``threads``
    (None: as it is)."""
    pending: deque[tuple[Any, Future[Any] | tuple[Any]]] = deque()
    started = False
    for chunk, work in items:
        if not started and all(r.done() for r in ready):
            started = True
            if threads is not None:
                import torch

                torch.set_num_threads(threads)
        sent = sum(isinstance(p, Future) and not p.done() for _, p in pending)
        if started and sent < 2 * helpers:
            pending.append((chunk, pool.submit(_helper_run, fn, work)))
        else:
            pending.append((chunk, (fn(model, work),)))
        # in order: what is ready; and never more than a few chunks held (memory)
        while pending and (not isinstance(pending[0][1], Future) or pending[0][1].done()
                           or len(pending) > 4 * (helpers + 1)):
            yield _result(pending.popleft())
    pool.shutdown(wait=False)  # helpers end as their last work is done, while this one writes
    while pending:
        yield _result(pending.popleft())


def _result(item: tuple[Any, Future[Any] | tuple[Any]]) -> tuple[Any, Any]:
    chunk, result = item
    return chunk, result.result() if isinstance(result, Future) else result[0]


_HELPER_MODEL: SentimentModel | None = None


def _init_helper(folder: str, threads: int, runtime: str = "torch") -> None:
    import torch

    from .predict import SentimentModel

    global _HELPER_MODEL
    torch.set_num_threads(threads)
    _HELPER_MODEL = SentimentModel.load(folder, runtime=runtime)


def _helper_ready() -> None:
    """Nothing: its result comes back once the helper's initializer has loaded the model."""


def _helper_run(fn: Work, work: Any) -> Any:
    assert _HELPER_MODEL is not None
    return fn(_HELPER_MODEL, work)
