"""lstm-sentiment: LSTM sentiment classifiers you can train, evaluate, explain and serve.

Public API::

    from lstm_sentiment import SentimentModel, load, train
    model = load("runs/seed")                  # a model folder, or "bundled"
    model.predict(["The movie was great!"])

Importing the package loads nothing heavy: PyTorch comes in when a model is first used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .config import RunConfig
    from .predict import SentimentModel

__all__ = ["SentimentModel", "__version__", "load", "train"]


def load(path: str | Path, *, runtime: str = "auto") -> SentimentModel:
    """Load a model folder (checksums verified, no code run); ``"bundled"`` is the packaged one.
    ``runtime``: what runs the network ("auto", "torch" or "onnxruntime"; docs/runtime.md)."""
    from .predict import SentimentModel

    return SentimentModel.load(path, runtime=runtime)


def train(config: RunConfig, out: str | Path, **kwargs: Any) -> SentimentModel:
    """Train per ``config`` and save the model folder to ``out``; see ``pipeline.run``."""
    from .pipeline import run

    return run(config, Path(out), **kwargs)


def __getattr__(name: str) -> object:
    if name == "SentimentModel":
        from .predict import SentimentModel

        return SentimentModel
    raise AttributeError(f"module 'lstm_sentiment' has no attribute {name!r}")
