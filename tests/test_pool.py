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
