"""lstm-sentiment: LSTM sentiment classifiers you can train, evaluate, explain and serve.

Public API::

    from lstm_sentiment import SentimentModel, load, train
    model = load("runs/seed")                  # a model folder
    model.predict(["The movie was great!"])
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .config import RunConfig
    from .predict import SentimentModel

__all__ = ["SentimentModel", "__version__", "load", "train"]

# The submodule train.py (the training loop) and the function train() below share a name.
# Importing a submodule binds it on the package the first time, so bind it now, before the
# function is defined: `lstm_sentiment.train` then stays the function.
from . import train as _train_loop  # noqa: F401


def load(path: str | Path) -> SentimentModel:
    """Load a model folder (checksums verified, no code run)."""
    from .predict import SentimentModel

    return SentimentModel.load(path)


def train(config: RunConfig, out: str | Path, **kwargs: object) -> SentimentModel:
    """Train per ``config`` and save the model folder to ``out``; see ``pipeline.run``."""
    from .pipeline import run

    return run(config, Path(out), **kwargs)  # type: ignore[arg-type]


def __getattr__(name: str) -> object:
    if name == "SentimentModel":
        from .predict import SentimentModel

        return SentimentModel
    raise AttributeError(name)
