"""Chunks of work shared between this process and helper processes, results kept in order.

``scored_chunks(model, workers, fn)`` turns an iterator of ``(chunk, work)`` pairs into
``(chunk, fn(model, work))`` pairs in input order. With ``workers`` > 1 this process is one
of them: ``workers - 1`` helpers (spawned, each loading the model from a saved copy:
safetensors and JSON, checksums verified; only ``work`` and results travel) take work while
they have room (two items each), and this process computes the rest itself, so the work
divides itself by speed and starts at once, while the helpers are still loading. Until they
have loaded, this process runs PyTorch on all its threads; then on ``cores // workers``.
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .predict import SentimentModel

Work = Callable[["SentimentModel", Any], Any]
Done = Iterator[tuple[Any, Any]]


@contextmanager
def scored_chunks(model: SentimentModel, workers: int,
                  fn: Work) -> Iterator[Callable[[Iterator[Any]], Done]]:
    """A function from ``(chunk, work)`` pairs to ``(chunk, fn(model, work))`` pairs, in input
    order; ``fn`` must be a module-level function (helpers receive it by name)."""
    if workers == 1:
        yield lambda items: ((chunk, fn(model, work)) for chunk, work in items)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    helpers = workers - 1
    threads = max(1, (os.cpu_count() or 1) // workers)
    with tempfile.TemporaryDirectory(prefix="lstm-sentiment-pool-") as tmp:
        model.save(Path(tmp))  # helpers load this copy
        ctx = multiprocessing.get_context("spawn")  # torch and tokenizers dislike fork
        before = torch.get_num_threads()
        try:
            # helpers run the model's runtime; the copy's graph is the one this process cached
            with ProcessPoolExecutor(helpers, mp_context=ctx, initializer=_init_helper,
                                     initargs=(tmp, threads, model.runtime)) as pool:
                # done once every helper has loaded the model
                ready = [pool.submit(_helper_ready) for _ in range(helpers)]
                yield lambda items: shared(model, items, fn, pool, helpers, ready, threads)
        finally:
            torch.set_num_threads(before)


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
