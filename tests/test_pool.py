"""pool.py: work shared between this process and helper processes, results in input order."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pytest

from lstm_sentiment import SentimentModel, pool
from lstm_sentiment.score import predictions, score_file


def test_a_helper_process_scores_chunks_too(tiny_model: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    model = SentimentModel.load(tiny_model)
    src = tmp_path / "in.txt"
    src.write_text("".join(f"review {i} {'great fun' if i % 3 else 'awful boring'}\n"
                           for i in range(60)))
    here: list[int] = []  # chunks this process scored (the helper has a model of its own)
    read = model.read
    monkeypatch.setattr(model, "read", lambda texts: here.append(1) or read(texts))
    real = pool.shared

    def once_ready(model: SentimentModel, items: Any, fn: Any, executor: Executor,
                   helpers: int, ready: list[Future[None]], threads: int | None = None) -> Any:
        wait(ready)  # so that the helper surely gets the first chunks
        return real(model, items, fn, executor, helpers, ready, threads)

    monkeypatch.setattr(pool, "shared", once_ready)
    monkeypatch.setattr(pool, "HELPERS_PAY_OFF_S", -1.0)  # a helper even for a small file
    summary = score_file(model, src, tmp_path / "two.jsonl", chunk_size=5, workers=2)
    assert summary.rows == 60 and len(here) < 12  # the helper scored some of the 12 chunks
    monkeypatch.undo()
    assert score_file(model, src, tmp_path / "one.jsonl", chunk_size=5).rows == 60
    labels = [[json.loads(line)["label"] for line in (tmp_path / name).read_text().splitlines()]
              for name in ("one.jsonl", "two.jsonl")]
    assert labels[0] == labels[1]


def test_work_is_shared_by_room_and_comes_back_in_order(tiny_model: Path) -> None:
    model = SentimentModel.load(tiny_model)
    gate = threading.Event()  # the helper finishes nothing until this opens
    sent: list[int] = []

    class Helper(Executor):
        def __init__(self) -> None:
            self.pool = ThreadPoolExecutor(1)

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            work_fn, texts = args
            sent.append(int(texts[0].split()[1]))
            return self.pool.submit(lambda: gate.wait() and work_fn(model, texts))

    items = [(f"chunk {c}", [f"chunk {c} great fun", f"chunk {c} awful"]) for c in range(6)]
    done: Future[None] = Future()
    done.set_result(None)
    timer = threading.Timer(0.5, gate.set)
    timer.start()
    helper = Helper()
    try:
        out = list(pool.shared(model, iter(items), predictions, helper, 1, [done]))
    finally:
        gate.set()
        helper.pool.shutdown()
    assert sent == [0, 1]  # room for two chunks; the rest were scored here meanwhile
    assert [chunk for chunk, _ in out] == [chunk for chunk, _ in items]
    assert [result for _, result in out] == [predictions(model, texts) for _, texts in items]


def _no_helpers(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a helper was started")


def _pairs(n: int) -> list[tuple[str, list[str]]]:
    return [(f"chunk {c}", [f"chunk {c} great fun", f"chunk {c} awful"]) for c in range(n)]


def test_helpers_start_only_when_the_work_left_pays_for_them(
        tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = SentimentModel.load(tiny_model)
    items = _pairs(5)
    want = [(chunk, predictions(model, texts)) for chunk, texts in items]
    # little left: everything here, no helper started
    out = list(pool.lazily(model, iter(items), predictions, _no_helpers, 1, None,
                           lambda: pool.HELPERS_PAY_OFF_S / 2))
    assert out == want
    # much left: helpers start after the first chunk and share the rest, in order
    started: list[int] = []
    done: Future[None] = Future()
    done.set_result(None)

    class Helper(Executor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            f: Future[Any] = Future()
            f.set_result(fn(*args, **kwargs))
            return f

    def start() -> tuple[Executor, list[Future[None]]]:
        started.append(1)
        return Helper(), [done]

    monkeypatch.setattr(pool, "_HELPER_MODEL", model)  # the fake helper runs here
    out = list(pool.lazily(model, iter(items), predictions, start, 1, None,
                           lambda: 2 * pool.HELPERS_PAY_OFF_S))
    assert started == [1] and out == want
    # not known (standard input): started too
    started.clear()
    list(pool.lazily(model, iter(_pairs(2)), predictions, start, 1, None, lambda: None))
    assert started == [1]


def test_a_small_file_with_workers_starts_no_helper(tiny_model: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import concurrent.futures

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", _no_helpers)
    model = SentimentModel.load(tiny_model)
    src = tmp_path / "in.txt"
    src.write_text("".join(f"review {i} great fun\n" for i in range(30)))
    summary = score_file(model, src, tmp_path / "out.jsonl", chunk_size=5, workers=2)
    assert summary.rows == 30 and summary.errors == 0


def test_helpers_share_the_cores_this_process_may_use_not_the_machines(
        tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from lstm_sentiment import cpus

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 5, 6, 7}, raising=False)
    assert cpus.usable() == 4  # e.g. taskset -c 2,5-7, or a container's cpuset
    seen: list[int | None] = []

    def lazily(model: Any, items: Any, fn: Any, start: Any, helpers: int,
               threads: int | None, left: Any) -> Any:
        seen.append(threads)
        return ((chunk, fn(model, work)) for chunk, work in items)

    monkeypatch.setattr(pool, "lazily", lazily)
    model = SentimentModel.load(tiny_model)
    with pool.scored_chunks(model, 2, predictions) as scored:
        out = list(scored(iter([("c", ["great fun"])])))
    assert seen == [2] and out[0][1][0] == [model.predict(["great fun"])[0].label]

    def no_affinity(pid: int) -> set[int]:
        raise AttributeError("sched_getaffinity")  # macOS and Windows have none

    monkeypatch.setattr(os, "sched_getaffinity", no_affinity)
    assert cpus.usable() == 64


@pytest.mark.skipif(__import__("sys").platform != "linux", reason="helpers are spawned here")
def test_helpers_fork_with_pytorch_already_imported() -> None:
    from concurrent.futures import ProcessPoolExecutor

    pool.warm_up()
    # a spawned helper would start with a bare interpreter and import PyTorch itself
    with ProcessPoolExecutor(1, mp_context=pool._context()) as helper:
        assert helper.submit(eval, "'torch' in __import__('sys').modules").result()
