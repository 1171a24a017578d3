"""Which engine runs a model's network: PyTorch, or ONNX Runtime on the network exported once.

>>> model = SentimentModel.load("bundled", runtime="onnxruntime")     # doctest: +SKIP
>>> model.runtime                                                    # doctest: +SKIP
'onnxruntime'

Runtimes
    ``torch``: the network itself. ``onnxruntime``: the network exported by
    :func:`lstm_sentiment.export.onnx_graph` as a graph whose output is the **logits** (so a
    long text's windows are still combined by their logits), run by an ONNX Runtime
    ``InferenceSession``; the same probabilities within 1e-5. ``auto`` (the default), where
    onnxruntime is installed: batches of up to :data:`AUTO_MAX_ROWS` rows (single reviews,
    small requests) run on ONNX Runtime, where it is the faster for both presets, larger ones
    on PyTorch (docs/runtime.md has the measurements); without onnxruntime, torch. Only the
    network's forward call on a batch of ids changes (:class:`Runner`): encoding, windows and
    their combining are the model's own, whichever runtime runs.

When the graph cannot stand in for the network
    (the exporter refuses a layer, onnxruntime refuses the graph, or the probe below finds
    other logits): ``onnxruntime`` raises :class:`UserError`, in one line; ``auto`` runs
    PyTorch alone, and the model's ``runtime`` reads ``torch`` and its ``runtime_note`` says
    why. The same holds for ``auto`` when a session fails on a batch later: that batch and all
    after it run on PyTorch, so ``auto`` never fails where ``torch`` would not.

The cache
    Exporting takes seconds (bench/runtime_speed.py times loading), so the graph is kept in
    ``<cache>/onnx/<key>.onnx`` (``lstm_sentiment.sources.cache_dir()``, ``$LSTM_SENTIMENT_CACHE``)
    and a second load reads it. The key is a sha256 of what makes the graph: the weights, the
    model and text settings, the labels, this package's, torch's and the opset's versions
    (:func:`graph_key`); the model folder itself gets no new file. Each load runs a few probe
    rows through the graph and the network and refuses a graph whose logits differ, so a stale
    or damaged cache file is made again rather than trusted. A cache that cannot be written
    only costs the export at every load.

Threads
    A session runs on as many intra-op threads as PyTorch would at the moment of the call
    (``torch.get_num_threads()`` of the calling thread), so what sets PyTorch's threads (the
    lanes of :meth:`SentimentModel.logits`, ``serve --threads``, ``score --workers``) sets
    ONNX Runtime's too. ONNX Runtime releases the GIL, so lanes run side by side.

Only the light standard library is imported at module level: the command line reads
:data:`RUNTIMES` for its flags before any model is loaded.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import logging
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from .errors import UserError

if TYPE_CHECKING:
    import torch

    from .config import RunConfig
    from .model import Network

TORCH = "torch"
ONNXRUNTIME = "onnxruntime"
AUTO = "auto"
RUNTIMES = (AUTO, TORCH, ONNXRUNTIME)
DEFAULT = AUTO
# auto: batches of up to this many rows run on ONNX Runtime, larger ones on PyTorch. ONNX
# Runtime has less overhead per call; on many rows oneDNN's LSTM kernel, PyTorch's, was the
# faster on one machine and not on another, so large batches keep PyTorch (docs/runtime.md).
AUTO_MAX_ROWS = 8
RUNTIME_HELP = ("what runs the network: torch, onnxruntime (the network exported once to "
                "ONNX and cached; the same results within 1e-5), or auto: onnxruntime for "
                f"batches of up to {AUTO_MAX_ROWS} rows, torch for larger ones and wherever "
                "onnxruntime cannot run the model or is not installed")
MISSING = ("the onnxruntime runtime needs the onnx and onnxruntime packages: "
           "pip install onnx onnxruntime")

# what the graph is made as (part of the cache key: a new kind of graph is a new file)
GRAPH = "logits, hashed n-grams"
PROBE_STEPS = 32  # columns of the probe rows: enough to tell another network apart, and quick
# Logits of the probe rows from graph and network may differ by float rounding only; a graph
# of other weights or another layout is off by far more.
PROBE_TOLERANCE = 1e-4

_log = logging.getLogger(__name__)


def onnxruntime_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def choose(runtime: str) -> str:
    """What runs a model asked for ``runtime``: ``auto`` stays auto where onnxruntime is
    installed and is torch elsewhere. Raises :class:`UserError` for an unknown name, or for
    onnxruntime asked for but not installed."""
    if runtime not in RUNTIMES:
        raise UserError(f"unknown runtime {runtime!r} (choose {', '.join(RUNTIMES)})")
    if runtime == AUTO:
        return AUTO if onnxruntime_available() else TORCH
    if runtime == ONNXRUNTIME and not onnxruntime_available():
        raise UserError(MISSING)
    return runtime


def graph_key(network: Network, labels: list[str], sequence_length: int) -> str:
    """sha256 of everything the exported graph depends on (see the module docstring)."""
    import torch

    from ._version import __version__
    from .export import OPSET

    digest = hashlib.sha256()
    head = (f"lstm-sentiment {__version__}|torch {torch.__version__}|opset {OPSET}|{GRAPH}|"
            f"{type(network).__name__}|{sorted(asdict(network.config).items())}|"
            f"{labels}|{sequence_length}")
    digest.update(head.encode())
    for name, tensor in sorted(network.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"|{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _cache_folder() -> Path:
    from .sources import cache_dir

    return cache_dir() / "onnx"


class OnnxNetwork:
    """``network`` as an ONNX Runtime session, called as the network is on [B, T] token ids
    (any integer dtype) and giving the same logits.

    Rows of a model that masks padding are cut to the batch's longest row before they run
    (the graph takes any length, and masking makes trailing padding irrelevant); a model that
    reads padding gets them as they are.
    """

    def __init__(self, network: Network, labels: list[str], sequence_length: int, *,
                 cache: Path | bool | None = True) -> None:
        """``cache``: True for the package cache, a folder, or False/None for none."""
        if not onnxruntime_available():
            raise UserError(MISSING)
        self.trim = bool(network.recurrent.masks_padding)
        self.outputs = network.classifier.outputs
        self.key = graph_key(network, labels, sequence_length)
        folder = _cache_folder() if cache is True else Path(cache) if cache else None
        self.path = None if folder is None else folder / f"{self.key}.onnx"
        self._lock = threading.Lock()
        self._sessions: dict[int, Any] = {}
        self._pid = os.getpid()
        self._graph = self._read_cache()
        self.from_cache = self._graph is not None
        probe = _probe_rows(network, min(sequence_length, PROBE_STEPS))
        if self._graph is not None and not self._agrees(network, probe):
            self._graph = None  # stale or damaged: made again below
            self.from_cache = False
        if self._graph is None:
            from .export import onnx_graph

            self._graph = onnx_graph(network, labels, sequence_length, logits=True,
                                     hashed=True).SerializeToString()
            self._sessions.clear()
            if not self._agrees(network, probe, fresh=True):
                raise RuntimeError("the exported graph's logits differ from the network's")
            self._write_cache()

    # ------------------------------------------------------------------ the graph file

    def _read_cache(self) -> bytes | None:
        if self.path is None:
            return None
        try:
            return self.path.read_bytes()
        except OSError:
            return None

    def _write_cache(self) -> None:
        if self.path is None or self._graph is None:
            return
        from .fileio import atomic_write_bytes

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path, self._graph)
        except (OSError, UserError):
            self.path = None  # an unwritable cache only costs the export next time

    def _agrees(self, network: Network, probe: torch.Tensor, *, fresh: bool = False) -> bool:
        """Whether the graph gives the network's logits on ``probe``; a ``fresh`` graph (just
        exported) that onnxruntime cannot run raises onnxruntime's error, which says why."""
        import torch

        try:
            got = self(probe, threads=1)
        except Exception:  # onnxruntime refuses a damaged file with its own exception types
            self._sessions.clear()
            if fresh:
                raise
            return False
        before = torch.get_num_threads()
        torch.set_num_threads(1)  # a few short rows: one thread, no waiting on others
        try:
            with torch.inference_mode():
                expected = network.eval()(probe.long())
        finally:
            torch.set_num_threads(before)
        return got.shape == expected.shape and bool(torch.allclose(
            got, expected, atol=PROBE_TOLERANCE, rtol=PROBE_TOLERANCE))

    # ------------------------------------------------------------------ running

    def session(self, threads: int) -> Any:
        """The session running on ``threads`` intra-op threads, made on first use."""
        if os.getpid() != self._pid:  # a forked child: the parent's thread pools stayed there
            self._sessions, self._lock, self._pid = {}, threading.Lock(), os.getpid()
        found = self._sessions.get(threads)
        if found is not None:
            return found
        import onnxruntime as ort

        with self._lock:
            if threads not in self._sessions:
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                # idle threads would otherwise spin between calls, taking cores from the lanes
                # and the rest of the process
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.log_severity_level = 3  # no warnings on stderr at every load
                self._sessions[threads] = ort.InferenceSession(
                    self._graph, options, providers=["CPUExecutionProvider"])
            return self._sessions[threads]

    def __call__(self, ids: torch.Tensor, *, threads: int | None = None) -> torch.Tensor:
        """Logits of ``ids`` ([B, T]); ``threads`` None: PyTorch's count on this thread."""
        import numpy as np
        import torch

        from .export import INPUT, LOGITS

        if len(ids) == 0:
            shape = (0,) if self.outputs == 1 else (0, self.outputs)
            return torch.zeros(shape)
        rows = ids.numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
        if self.trim:
            width = int((rows != 0).sum(axis=1).max()) if rows.shape[1] else 0
            rows = rows[:, : max(width, 1)]
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        count = torch.get_num_threads() if threads is None else threads
        out = self.session(max(count, 1)).run([LOGITS], {INPUT: rows})[0]
        return torch.from_numpy(out)


def _probe_rows(network: Network, steps: int) -> torch.Tensor:
    """Three rows to compare graph and network on: a full row, a half-full one, an empty one."""
    import torch

    vocab = int(network.config.vocab_size or 2)
    ids = torch.zeros(3, steps, dtype=torch.long)
    full = 2 + (torch.arange(steps) * 7919) % max(vocab - 2, 1)
    ids[0] = full
    ids[1, : max(steps // 2, 1)] = full[: max(steps // 2, 1)].flip(0)
    return ids.clamp(max=vocab - 1)


def _reason(exc: BaseException) -> str:
    """An exception as one short line: exporters' messages run to many lines."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


class Runner:
    """What runs a model's network on one batch of token ids: PyTorch, or the network's
    :class:`OnnxNetwork` for the batches ``runtime`` sends there. ``runtime`` is what runs:
    an ``auto`` that cannot use ONNX Runtime reads ``torch``, and ``note`` says why."""

    def __init__(self, runtime: str = TORCH, onnx: OnnxNetwork | None = None,
                 note: str | None = None) -> None:
        self.runtime = runtime
        self.onnx = onnx
        self.note = note
        self.rows = None if runtime == ONNXRUNTIME else AUTO_MAX_ROWS

    @classmethod
    def make(cls, network: Network, labels: list[str], sequence_length: int,
             runtime: str) -> Runner:
        """The runner for ``runtime`` (see :func:`choose` and the module docstring)."""
        chosen = choose(runtime)
        if chosen == TORCH:
            return cls()
        try:
            return cls(chosen, OnnxNetwork(network, labels, sequence_length))
        except Exception as exc:  # the exporter, onnx's checker, onnxruntime, the probe
            if chosen == ONNXRUNTIME:
                raise UserError(f"the onnxruntime runtime cannot run this model "
                                f"({_reason(exc)}); the torch runtime can") from exc
            runner = cls()
            runner._fall_back(exc)
            return runner

    def _fall_back(self, exc: BaseException) -> None:
        self.onnx, self.runtime = None, TORCH
        self.note = f"auto runs torch: onnxruntime cannot run this model ({_reason(exc)})"
        _log.info(self.note)

    def __call__(self, network: Network, ids: torch.Tensor) -> torch.Tensor:
        """``network``'s logits for ``ids`` ([B, T], any integer dtype)."""
        onnx = self.onnx
        if onnx is None or (self.rows is not None and len(ids) > self.rows):
            return network(ids.long())
        if self.runtime == ONNXRUNTIME:
            return onnx(ids)
        try:
            return onnx(ids)
        except Exception as exc:  # auto: PyTorch for this batch and every one after it
            self._fall_back(exc)
            return network(ids.long())


class WithRuntime:
    """A model's :attr:`runtime` and :meth:`with_runtime` (a base of
    :class:`~lstm_sentiment.predict.SentimentModel`, whose forward calls go to its runner)."""

    network: Network
    labels: list[str]
    config: RunConfig
    _runner: Runner

    @property
    def runtime(self) -> str:
        """What runs the network: "torch", "onnxruntime" or "auto" (see :meth:`with_runtime`);
        "torch" where "auto" was asked for but cannot use onnxruntime (:attr:`runtime_note`)."""
        return self._runner.runtime

    @property
    def runtime_note(self) -> str | None:
        """Why an "auto" model runs on PyTorch alone, where it does; else None."""
        return self._runner.note

    def with_runtime(self, runtime: str) -> Self:
        """This model (sharing its network and encoder) with its network run by ``runtime``:
        "torch", "onnxruntime" (exported once, cached; see the module docstring) or "auto"
        (small batches on onnxruntime, larger ones on torch; torch alone where onnxruntime is
        not installed or cannot run the network). The same probabilities within 1e-5 either
        way; ``trace`` reads the network's internals, so it always runs PyTorch. Raises
        :class:`UserError` for an unknown runtime, or for "onnxruntime" where it is not
        installed or cannot run the network."""
        if runtime == self.runtime:
            return self
        model = copy.copy(self)
        model._runner = Runner.make(self.network, self.labels,
                                    self.config.text.sequence_length, runtime)
        return model
