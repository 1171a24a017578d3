"""Helpers for the serving benchmarks: a seed-shaped model folder and a server subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from lstm_sentiment import config as cfg
from lstm_sentiment import data
from lstm_sentiment.model import build
from lstm_sentiment.predict import SentimentModel
from lstm_sentiment.text import TextEncoder

BENCHMARK = False  # a helper of the serving benchmarks


def seed_model(source: str, folder: Path) -> tuple[SentimentModel, list[str]]:
    """A seed-preset model (real vocabulary, untrained weights: the same cost as a trained
    one) saved to ``folder``, and the official test reviews to feed it."""
    config = cfg.preset("seed")
    root = data.fetch(source)
    train = data.load(root, "train")
    encoder, _ = TextEncoder.build(train.texts, config.text)
    config = config.derived(vocab_size=encoder.vocab_size, num_classes=2)
    model = SentimentModel(build(config.model, seed=1), encoder, config,
                           ["negative", "positive"], info={"class_folders": ["neg", "pos"]})
    model.save(folder)
    return model, data.load(root, "test").texts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``lstm-sentiment serve`` in a subprocess on a loopback port."""

    def __init__(self, model_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lstm_sentiment", "serve", str(model_dir), "--port",
             str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not start")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def percentiles(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50_ms": pick(0.50), "p90_ms": pick(0.90), "p99_ms": pick(0.99),
            "max_ms": ordered[-1], "n": len(ordered)}


