"""Dynamic micro-batching: requests that arrive while the model is busy share one forward pass.

Each request hands its texts to :meth:`Batcher.submit` and awaits its own slice of the answers.
One task per process takes everything queued (up to ``max_batch`` texts, but always at least one
whole request) as soon as the model is free, runs it in a worker thread and resolves each
request's future. A lone request never waits for company: the optional ``wait`` window is 0 by
default. The queue is bounded (``max_queue`` texts); past that, :class:`QueueFull` tells the
caller to answer 503.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

MAX_BATCH = 256  # texts per forward pass: the model's own batch size (predict.py)
MAX_QUEUE = 4096  # texts waiting at most; more is an overload the client should retry later


class QueueFull(Exception):
    """The batcher already holds ``max_queue`` texts."""


@dataclass
class _Job(Generic[T]):
    texts: Sequence[str]
    future: asyncio.Future[tuple[list[T], int]] = field(repr=False)


class Batcher(Generic[T]):
    """Run ``fn(texts) -> list[answer]`` over the texts of many concurrent requests at once.

    ``on_batch(texts)`` is called with each forward pass's size and ``on_depth(texts)`` with the
    texts waiting as each pass starts, and 0 once the queue is empty (for metrics);
    ``thread_init()`` runs first in the thread the passes run in.
    """

    def __init__(self, fn: Callable[[list[str]], list[T]], *, max_batch: int = MAX_BATCH,
                 max_queue: int = MAX_QUEUE, wait: float = 0.0,
                 on_batch: Callable[[int], None] | None = None,
                 on_depth: Callable[[int], None] | None = None,
                 thread_init: Callable[[], object] | None = None) -> None:
        self.fn = fn
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.wait = wait
        self.on_batch = on_batch or (lambda _n: None)
        self.on_depth = on_depth or (lambda _n: None)
        self.thread_init = thread_init
        self._jobs: deque[_Job[T]] = deque()
        self._queued = 0  # texts in self._jobs
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def depth(self) -> int:
        """Texts waiting for the model."""
        return self._queued

    async def submit(self, texts: Sequence[str]) -> tuple[list[T], int]:
        """The answers for ``texts`` (in order) and the size of the forward pass they rode in.

        Raises :class:`QueueFull` when the queue cannot take them."""
        if self._queued and self._queued + len(texts) > self.max_queue:
            raise QueueFull(f"{self._queued} texts are already waiting")
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            if self._executor is None:
                # a thread of its own: the model's per-thread settings stay put, and no other
                # work (explanations, file responses) waits behind a forward pass or around
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="lstm-sentiment-batch",
                                                    initializer=self.thread_init)
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(), name="lstm-sentiment-batcher")
        job: _Job[T] = _Job(texts, loop.create_future())
        self._jobs.append(job)
        self._queued += len(texts)
        assert self._wakeup is not None
        self._wakeup.set()
        return await job.future

    def _take(self) -> list[_Job[T]]:
        """Queued jobs up to ``max_batch`` texts (at least one job), oldest first."""
        taken: list[_Job[T]] = []
        size = 0
        while self._jobs and (not taken or size + len(self._jobs[0].texts) <= self.max_batch):
            job = self._jobs.popleft()
            self._queued -= len(job.texts)
            if job.future.done():  # its client went away
                continue
            taken.append(job)
            size += len(job.texts)
        return taken

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self.wait > 0 and len(self._jobs) == 1:
                await asyncio.sleep(self.wait)  # let company arrive for a lone request
            while self._jobs:
                # the depth is reported once per pass (what the pass found waiting), not per
                # request: a metric update costs more than the rest of the bookkeeping
                self.on_depth(self._queued)
                jobs = self._take()
                if not jobs:
                    continue
                texts = [t for job in jobs for t in job.texts]
                self.on_batch(len(texts))
                try:
                    answers: list[Any] = await loop.run_in_executor(self._executor, self.fn,
                                                                    texts)
                except Exception as exc:  # every waiting request gets the failure
                    for job in jobs:
                        if not job.future.done():
                            job.future.set_exception(exc)
                    continue
                start = 0
                for job in jobs:
                    end = start + len(job.texts)
                    if not job.future.done():
                        job.future.set_result((answers[start:end], len(texts)))
                    start = end
            self.on_depth(0)

    async def aclose(self) -> None:
        """Stop the batcher task (after the server has drained) and its thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for job in self._jobs:
            if not job.future.done():
                job.future.cancel()
        self._jobs.clear()
        self._queued = 0
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None  # a later submit (the app started again) makes a new one
