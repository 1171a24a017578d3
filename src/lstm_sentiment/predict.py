"""SentimentModel: a trained network with its text encoder, loaded from a model folder.

>>> from lstm_sentiment import SentimentModel
>>> model = SentimentModel.load("runs/seed")            # doctest: +SKIP
>>> model.predict(["The movie was great!"])              # doctest: +SKIP
[Prediction(label='positive', score=0.93...)]
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
import torch

from . import artifact
from .artifact import Artifact
from .config import RunConfig
from .errors import ArtifactError, UserError
from .head import head_for
from .layers import row_lengths
from .lstm import ReferenceLSTM
from .model import Network, network_for
from .runtime import AUTO, DEFAULT, TORCH, Runner, WithRuntime
from .text import TextEncoder, id_dtype

LABEL_NAMES = {"neg": "negative", "pos": "positive"}

# Batches side by side (see _lanes) share the batch size but have at least this many rows each:
# smaller ones waste the lanes, larger ones hold more memory.
MIN_LANE_BATCH = 128

# Batches of up to this many rows run on one thread: threads meet at every LSTM step, and for a
# few rows the meeting costs more than the sharing saves.
SMALL_BATCH = 8


@contextmanager
def _one_thread(active: bool) -> Iterator[None]:
    """Run PyTorch's intra-op work on the calling thread alone while ``active``.

    PyTorch keeps the OpenMP and MKL thread counts per thread, and this sets and restores them
    on the calling thread only, so concurrent callers (the server's worker threads) do not
    change each other's setting.
    """
    before = torch.get_num_threads()
    if not active or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_LANES: dict[int, ThreadPoolExecutor] = {}
_LANES_LOCK = threading.Lock()


def _forget_lanes() -> None:
    """In a forked child: the lanes' threads stayed in the parent, so make new ones."""
    global _LANES_LOCK
    _LANES.clear()
    _LANES_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_lanes)


def _lanes(count: int) -> ThreadPoolExecutor:
    """``count`` threads that each run PyTorch on one core, made once and kept: with the
    calling thread, the lanes that :meth:`SentimentModel.logits` runs batches in side by side.

    The LSTM's steps are too small for several cores to share one without waiting at every
    step, so whole batches side by side use the cores better than one batch over all of them;
    each lane keeps to one thread, since two OpenMP teams side by side slow each other badly
    (bench/runtime_speed.py measures lanes against intra-op threads).
    """
    with _LANES_LOCK:
        pool = _LANES.get(count)
        if pool is None:
            pool = _LANES[count] = ThreadPoolExecutor(
                count, thread_name_prefix="lstm-sentiment-lane",
                initializer=torch.set_num_threads, initargs=(1,))
        return pool


# Why a text gets no label: it gives the model nothing to read.
NO_WORDS = "the text has no words"
NO_KNOWN_WORDS = "none of the text's words is in the model's vocabulary"


@dataclass
class Prediction:
    """One text's label and score; both None when the text has nothing to read (``reason``)."""

    label: str | None
    score: float | None  # p(positive class) for two classes; p(predicted class) otherwise
    probabilities: dict[str, float] = field(default_factory=dict, repr=False)
    tokens: int = 0  # how many tokens the model read
    reason: str | None = None  # why label and score are None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score, "tokens": self.tokens,
                "reason": self.reason}


def _combine(logits: torch.Tensor, tokens: torch.Tensor, known: torch.Tensor,
             owner: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per text: the token-weighted mean of its windows' logits (a text of one window keeps
    its logits exactly), and its windows' tokens and known tokens summed."""
    windows = torch.bincount(owner, minlength=n)
    first = torch.cumsum(windows, 0) - windows
    out = logits[first].clone()
    weight = tokens.clamp(min=1).to(logits.dtype)
    shape = (-1,) + (1,) * (logits.dim() - 1)
    sums = torch.zeros_like(out).index_add_(0, owner, logits * weight.view(shape))
    total = torch.zeros(n, dtype=logits.dtype).index_add_(0, owner, weight)
    several = windows > 1
    out[several] = sums[several] / total[several].view(shape)
    return (out, torch.zeros(n, dtype=tokens.dtype).index_add_(0, owner, tokens),
            torch.zeros(n, dtype=known.dtype).index_add_(0, owner, known))


@dataclass
class Reading:
    """What :meth:`SentimentModel.read` finds in a batch of texts."""

    probabilities: np.ndarray  # [N, C], columns in the order of the model's labels
    tokens: np.ndarray  # [N] tokens read
    reasons: list[str | None]  # why a text gets no label (None: it gets one)


@dataclass
class Explanation:
    """How much each word moved the score (positive = towards ``label``'s score)."""

    tokens: list[str]
    contributions: list[float]
    label: str
    score: float  # p(positive) for two classes, else p(label)
    method: str  # "occlusion": score minus the score without that word

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score, "method": self.method,
                "tokens": [{"token": t, "contribution": round(c, 6)}
                           for t, c in zip(self.tokens, self.contributions, strict=True)]}


@dataclass
class GateTrace:
    """Per-word LSTM internals of one text; every array is [words, hidden]."""

    tokens: list[str]  # standardized words, in order
    known: list[bool]  # False where the word is out of vocabulary ([UNK])
    input_gate: np.ndarray  # i: how much of the candidate is written
    forget_gate: np.ndarray  # f: how much of the old cell state is kept
    output_gate: np.ndarray  # o: how much of the cell state is shown as h
    candidate: np.ndarray  # C~ (g): the proposed new content
    cell: np.ndarray  # C
    hidden: np.ndarray  # h
    score: float  # the model's score for the whole text

    @property
    def cell_norm(self) -> np.ndarray:
        return np.linalg.norm(self.cell, axis=1)

    @property
    def hidden_norm(self) -> np.ndarray:
        return np.linalg.norm(self.hidden, axis=1)

    def to_dict(self) -> dict[str, Any]:
        def rows(a: np.ndarray) -> list[list[float]]:
            return np.round(a.astype(float), 5).tolist()

        return {"tokens": self.tokens, "known": self.known, "score": self.score,
                "input_gate": rows(self.input_gate), "forget_gate": rows(self.forget_gate),
                "output_gate": rows(self.output_gate), "candidate": rows(self.candidate),
                "cell_norm": np.round(self.cell_norm, 5).tolist(),
                "hidden_norm": np.round(self.hidden_norm, 5).tolist()}


class SentimentModel(WithRuntime):
    """A network plus everything needed to turn raw text into its input."""

    def __init__(self, network: Network, encoder: TextEncoder, config: RunConfig,
                 labels: list[str], history: list[dict[str, float]] | None = None,
                 info: dict[str, Any] | None = None) -> None:
        self.network = network.eval()
        self.encoder = encoder
        self.config = config
        self.labels = labels
        self.history = history or []
        self.info = info or {}
        self.head = head_for(len(labels))
        self._runner = Runner()  # what runs the network: see with_runtime

    @property
    def calibration_error(self) -> float | None:
        """Expected calibration error (15 bins) on the validation split, as recorded when the
        model was trained; None where the folder predates it."""
        ece = self.info.get("metrics", {}).get("validation", {}).get("ece")
        return None if ece is None else float(ece)

    # ---------------------------------------------------------------- loading and saving

    @classmethod
    def load(cls, path: str | Path, *, lstm: str | None = None,
             runtime: str = DEFAULT) -> SentimentModel:
        """Load a model folder, verifying its checksums (see :mod:`lstm_sentiment.artifact`).

        ``path`` ``"bundled"`` is the model that ships inside the package (the ``accurate``
        preset; write ``./bundled`` for a folder of that name). ``lstm`` ("fused" or
        "reference") runs the weights on that LSTM implementation instead of the one the model
        was trained with; both give the same probabilities. ``runtime`` as for
        :meth:`with_runtime`; "auto" keeps PyTorch when ``lstm`` is given (an export always
        runs the fused LSTM's equations).
        """
        model = cls.from_artifact(artifact.load_folder(artifact.resolve(path)), lstm=lstm)
        return model.with_runtime(TORCH if lstm is not None and runtime == AUTO else runtime)

    @classmethod
    def from_artifact(cls, art: Artifact, *, lstm: str | None = None) -> SentimentModel:
        cfg = art.config
        if lstm is not None:
            cfg.model.lstm = lstm  # type: ignore[assignment]
        try:
            encoder = TextEncoder.from_json(art.tokenizer_json, cfg.text.sequence_length)
        except UserError as exc:
            raise ArtifactError(str(exc)) from None
        if encoder.vocab_size != cfg.model.vocab_size:
            raise ArtifactError(f"the vocabulary has {encoder.vocab_size} tokens but the model "
                                f"expects {cfg.model.vocab_size}")
        if len(art.labels) != cfg.model.num_classes:
            raise ArtifactError(f"config lists {len(art.labels)} labels for "
                                f"{cfg.model.num_classes} classes")
        network = network_for(cfg.model)
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
    def logits(self, ids: torch.Tensor, batch_size: int = 256, *,
               side_by_side: bool = True) -> torch.Tensor:
        """Logits for encoded rows (any integer dtype), in input order (rows are run sorted by
        length).

        Rows run ``batch_size`` at a time (larger batches' activations outgrow the caches).
        Up to :data:`SMALL_BATCH` rows run
        on one thread (see :func:`_one_thread`). With ``side_by_side``, the batches run in lanes,
        one per thread, sharing the batch size (see :func:`_lanes` and
        :data:`MIN_LANE_BATCH`): faster, in about the same memory.
        """
        with _one_thread(len(ids) <= SMALL_BATCH):
            return self._logits(ids, batch_size, side_by_side)

    def _logits(self, ids: torch.Tensor, batch_size: int, side_by_side: bool) -> torch.Tensor:
        if len(ids) <= 1:
            return self._runner(self.network, ids)
        order = torch.argsort(row_lengths(ids), descending=True, stable=True)
        lanes = min(torch.get_num_threads(), -(-len(ids) // batch_size)) if side_by_side else 1
        if lanes > 1:
            # the lanes share the batch size, so as many rows are in flight as without them
            batches = order.split(max(batch_size // lanes, MIN_LANE_BATCH))
            lanes = min(lanes, len(batches))
            # lane k runs batches k, k + lanes, ...: similar lengths, so similar work. This
            # thread runs lane 0: every thread that allocates opens a C heap of its own, so one
            # thread fewer is one heap fewer.
            pool = _lanes(lanes - 1)
            others = [pool.submit(self._run_batches, (ids, batches[k::lanes]))
                      for k in range(1, lanes)]
            with _one_thread(True):
                first = self._run_batches((ids, batches[0::lanes]))
            parts: list[torch.Tensor] = [torch.empty(0)] * len(batches)
            parts[0::lanes] = first
            for k, lane in enumerate(others, 1):
                parts[k::lanes] = lane.result()
        else:
            parts = self._run_batches((ids, order.split(batch_size)))
        out = torch.cat(parts)
        result = torch.empty_like(out)
        result[order] = out
        return result

    def _run_batches(self, work: tuple[torch.Tensor, Sequence[torch.Tensor]]
                     ) -> list[torch.Tensor]:
        ids, batches = work
        with torch.inference_mode():  # a lane's thread does not inherit the caller's mode
            return [self._runner(self.network, ids[idx]) for idx in batches]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, C]`` class probabilities, columns in the order of :attr:`labels`.

        Every row holds the network's output, also for a text with nothing to read (no words,
        or none the vocabulary knows), where it is the model's prior alone; :meth:`predict`
        gives such texts no label.
        """
        return self.read(texts).probabilities

    def read(self, texts: Sequence[str], *, whole: bool = True,
             side_by_side: bool = True) -> Reading:
        """Probabilities, tokens read and the reason for no label, for each of ``texts``.

        ``whole`` (the default): every word is read; a text longer than the model's
        ``sequence_length`` tokens is read in consecutive windows of that many tokens, each as
        the model reads a whole text, and its logits are the mean of its windows' logits, each
        window weighted by its number of tokens. ``whole=False`` reads each text's first window
        only, as Keras, the tutorial and an exported ONNX graph read a row. ``side_by_side`` as
        for :meth:`logits`.
        """
        if isinstance(texts, str):
            raise TypeError("predict_proba takes a list of texts, not a single string")
        # compact ids (int16 for the usual vocabularies), a quarter of int64's memory for long
        # rows; batches are widened as they run
        dtype = id_dtype(self.encoder.vocab_size)
        if whole:
            windows, owner_np = self.encoder.encode_windows(texts, dtype)
        else:
            windows, owner_np = self.encoder.encode(texts, dtype), np.arange(len(texts))
        ids, owner = torch.from_numpy(windows), torch.from_numpy(owner_np)
        logits = self.logits(ids, side_by_side=side_by_side)
        tokens, known = row_lengths(ids), row_lengths(ids > 1)  # id 1 is [UNK]
        if len(ids) != len(texts):
            logits, tokens, known = _combine(logits, tokens, known, owner, len(texts))
        reasons = [None if k else NO_KNOWN_WORDS if n else NO_WORDS
                   for n, k in zip(tokens.tolist(), known.tolist(), strict=True)]
        return Reading(self.head.probabilities(logits).numpy(), tokens.numpy(), reasons)

    def probabilities(self, ids: torch.Tensor, *, side_by_side: bool = True) -> np.ndarray:
        """:meth:`predict_proba` for rows already encoded (any integer dtype); ``side_by_side``
        as for :meth:`logits`."""
        return self.head.probabilities(self.logits(ids, side_by_side=side_by_side)).numpy()

    @overload
    def predict(self, texts: str) -> Prediction: ...

    @overload
    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...

    def predict(self, texts: str | Sequence[str]) -> Prediction | list[Prediction]:
        """A label and score per text; one text (a ``str``) gives one :class:`Prediction`.

        A text with no words, or none the vocabulary knows, gets ``label`` and ``score`` None
        and a ``reason``.
        """
        if isinstance(texts, str):
            return self.predict([texts])[0]
        reading = self.read(texts)
        scores = self.head.score(reading.probabilities)
        out = []
        for row, score, tokens, reason in zip(reading.probabilities, scores, reading.tokens,
                                              reading.reasons, strict=True):
            if reason is not None:
                out.append(Prediction(None, None, {}, int(tokens), reason))
                continue
            out.append(Prediction(self.labels[int(row.argmax())], float(score),
                                  dict(zip(self.labels, row.tolist(), strict=True)),
                                  int(tokens)))
        return out

    @torch.inference_mode()
    def explain(self, text: str) -> Explanation:
        """Each word's contribution to p(positive) (or to the predicted class), by occlusion:
        the score of the text minus the score of the text with that one word left out."""
        ids = self.encode([text])[0]
        n = int((ids != 0).sum())
        words = self.encoder.tokens(text)[:n]
        full = self._class_scores(ids.unsqueeze(0))
        k = int(full[0].argmax()) if full.shape[1] > 2 else 1
        if n == 0:
            return Explanation([], [], self.labels[k], float(full[0, k]), "occlusion")
        keep = ~torch.eye(n, ids.shape[0], dtype=torch.bool)  # row t drops word t
        without = torch.zeros(n, ids.shape[0], dtype=ids.dtype)
        for t in range(n):
            kept = ids[keep[t]]
            without[t, : len(kept)] = kept
        scores = self._class_scores(without)[:, k]
        contributions = (float(full[0, k]) - scores).tolist()
        label = self.labels[int(full[0].argmax())]
        return Explanation(words, contributions, label, float(full[0, k]), "occlusion")

    def _class_scores(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head.probabilities(self.logits(ids))

    @torch.inference_mode()
    def trace(self, text: str) -> GateTrace:
        """The LSTM's gates, candidate and state norms at every word of ``text``.

        Runs the model's weights through :class:`~lstm_sentiment.lstm.ReferenceLSTM`, which
        records each gate. Only the real words the LSTM reads are traced (up to the sequence
        length, or the model's ``lstm_length``). A bidirectional model shows its forward LSTM
        (the one reading from the first word on).
        """
        ids = self.encode([text])[0]
        n = min(int((ids != 0).sum()), self.config.model.lstm_length or ids.shape[0])
        words = self.encoder.tokens(text)[:n]
        ref = ReferenceLSTM(self.network.lstm.input_size, self.config.model.hidden_size)
        ref.load_state_dict(self.network.lstm.state_dict())
        x = self.network.embedding(ids[: max(n, 1)].unsqueeze(0))
        _, _, tr = ref.trace(x)
        vocab_ids = ids[:n].tolist()
        return GateTrace(
            tokens=words,
            known=[i != 1 for i in vocab_ids],
            input_gate=tr.i[0, :n].numpy(), forget_gate=tr.f[0, :n].numpy(),
            output_gate=tr.o[0, :n].numpy(), candidate=tr.g[0, :n].numpy(),
            cell=tr.c[0, :n].numpy(), hidden=tr.h[0, :n].numpy(),
            score=float(self.head.score(self.predict_proba([text]))[0]),
        )

    def __repr__(self) -> str:
        m = self.config.model
        return (f"SentimentModel(preset={self.config.preset!r}, labels={self.labels}, "
                f"vocab={m.vocab_size}, embedding={m.embedding_dim}, hidden={m.hidden_size})")

