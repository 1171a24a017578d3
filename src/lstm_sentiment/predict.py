"""SentimentModel: a trained network with its text encoder, loaded from a model folder.

>>> from lstm_sentiment import SentimentModel
>>> model = SentimentModel.load("runs/seed")            # doctest: +SKIP
>>> model.predict(["The movie was great!"])              # doctest: +SKIP
[Prediction(label='positive', score=0.93...)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import artifact
from .artifact import Artifact
from .config import RunConfig
from .errors import ArtifactError
from .model import SentimentLSTM
from .text import TextEncoder

LABEL_NAMES = {"neg": "negative", "pos": "positive"}


@dataclass
class Prediction:
    label: str
    score: float  # p(positive class) for two classes; p(predicted class) otherwise
    probabilities: dict[str, float] = field(default_factory=dict, repr=False)


class SentimentModel:
    """A network plus everything needed to turn raw text into its input."""

    def __init__(self, network: SentimentLSTM, encoder: TextEncoder, config: RunConfig,
                 labels: list[str], history: list[dict[str, float]] | None = None,
                 info: dict[str, Any] | None = None) -> None:
        self.network = network.eval()
        self.encoder = encoder
        self.config = config
        self.labels = labels
        self.history = history or []
        self.info = info or {}

    # ---------------------------------------------------------------- loading and saving

    @classmethod
    def load(cls, path: str | Path) -> SentimentModel:
        """Load a model folder, verifying its checksums (see :mod:`lstm_sentiment.artifact`)."""
        return cls.from_artifact(artifact.load_folder(Path(path)))

    @classmethod
    def from_artifact(cls, art: Artifact) -> SentimentModel:
        cfg = art.config
        encoder = TextEncoder(_tokenizer_from_json(art.tokenizer_json), cfg.text.sequence_length)
        if encoder.vocab_size != cfg.model.vocab_size:
            raise ArtifactError(f"the vocabulary has {encoder.vocab_size} tokens but the model "
                                f"expects {cfg.model.vocab_size}")
        if len(art.labels) != cfg.model.num_classes:
            raise ArtifactError(f"config lists {len(art.labels)} labels for "
                                f"{cfg.model.num_classes} classes")
        network = SentimentLSTM(cfg.model)
        try:
            network.load_state_dict(art.weights, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            raise ArtifactError("the weights do not fit the configured network: "
                                f"{first[-1].strip() if first else exc}") from None
        return cls(network, encoder, cfg, art.labels, art.history, art.info)

    def to_artifact(self) -> Artifact:
        return Artifact(self.config, self.labels, self.encoder.to_json(),
                        self.network.state_dict(), self.history, self.info)

    def save(self, path: str | Path) -> None:
        artifact.save_folder(Path(path), self.to_artifact())

    # ---------------------------------------------------------------- inference

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return torch.from_numpy(self.encoder.encode(texts))

    @torch.inference_mode()
    def logits(self, ids: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Logits for encoded rows, in input order (rows are run sorted by length)."""
        if len(ids) <= 1:
            return self.network(ids)
        order = torch.argsort((ids != 0).sum(dim=1), descending=True, stable=True)
        out = torch.cat([self.network(ids[idx]) for idx in order.split(batch_size)])
        result = torch.empty_like(out)
        result[order] = out
        return result

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, C]`` class probabilities, columns in the order of :attr:`labels`."""
        if isinstance(texts, str):
            raise TypeError("predict_proba takes a list of texts, not a single string")
        logits = self.logits(self.encode(texts))
        if logits.dim() == 1:
            p = torch.sigmoid(logits)
            return torch.stack([1 - p, p], dim=1).numpy()
        return torch.softmax(logits, dim=-1).numpy()

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """A label and score per text."""
        probs = self.predict_proba(texts)
        out = []
        for row in probs:
            k = int(row.argmax())
            score = float(row[1]) if len(row) == 2 else float(row[k])
            out.append(Prediction(self.labels[k], score,
                                  {name: float(p) for name, p in zip(self.labels, row,
                                                                     strict=True)}))
        return out

    def __repr__(self) -> str:
        m = self.config.model
        return (f"SentimentModel(preset={self.config.preset!r}, labels={self.labels}, "
                f"vocab={m.vocab_size}, embedding={m.embedding_dim}, hidden={m.hidden_size})")


def _tokenizer_from_json(text: str):
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises plain Exception on bad JSON
        raise ArtifactError(f"unreadable tokenizer.json: {str(exc).splitlines()[0]}") from None
