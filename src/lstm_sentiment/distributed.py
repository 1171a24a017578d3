"""Devices and processes for training: one process, or several under ``torchrun`` (DDP).

One process is the default and needs none of this module's machinery. Started by ``torchrun``
(``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set, ``WORLD_SIZE`` > 1), :func:`session` joins the
process group (gloo on CPU, NCCL on CUDA) and hands out a :class:`Context` that tells training
which rank it is and offers the few collectives it needs.

How the work is shared (see :func:`lstm_sentiment.trainer.fit`):

* Every rank computes the same seeded batch plan for an epoch (same data, same seed), exactly the
  plan one process would use. Each batch is then *split*: rank ``r`` of ``N`` takes the rows
  ``r, r + N, r + 2N, ...`` of it. The configured batch size (100 for the seed preset) stays the
  effective batch, the number of optimizer steps per epoch stays the same, and each rank's loss
  is its rows' summed loss times ``N / len(batch)``, so after DDP averages the gradients every
  rank holds the gradient of the whole batch's mean loss: what one process computes, up to the
  order of floating-point sums. Strided rows (rather than contiguous halves) give every rank a
  similar mix of lengths, since a bucketed batch is sorted by length.
* A batch with fewer rows than ranks leaves some ranks without rows; they run one row with weight
  zero, so every rank still takes part in each gradient all-reduce.
* Validation is split the same way (rank ``r`` evaluates every ``N``-th length-sorted chunk) and
  the sums are all-reduced; logs, progress bars, checkpoints, the model folder and the final
  evaluation happen on rank 0 while the other ranks wait for it.

:func:`launch` starts ``N`` local processes through torchrun's elastic launcher, for a
``--nproc N`` option.
"""

from __future__ import annotations

import gc
import hashlib
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from . import cpus
from .errors import UserError

T = TypeVar("T")

DEVICES = ("auto", "cpu", "cuda")
# Set by tests and debugging sessions: each rank writes its final weights to this folder as
# rank<r>.safetensors, so replicas can be compared from outside.
DEBUG_RANK_DIR_ENV = "LSTM_SENTIMENT_DEBUG_RANK_DIR"


@dataclass(frozen=True)
class TorchrunEnv:
    """What torchrun tells each worker about its place in the job."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int = 1  # processes on this node


def torchrun_env(environ: dict[str, str] | None = None) -> TorchrunEnv | None:
    """The worker's rank, world size and local rank when torchrun started it, else None."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        found = TorchrunEnv(int(env["RANK"]), int(env["WORLD_SIZE"]),
                            int(env.get("LOCAL_RANK", "0")),
                            int(env.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        raise UserError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers "
                        f"(got {env.get('RANK')!r}, {env.get('WORLD_SIZE')!r}, "
                        f"{env.get('LOCAL_RANK')!r}, {env.get('LOCAL_WORLD_SIZE')!r})") from None
    if found.world_size < 1 or not 0 <= found.rank < found.world_size:
        raise UserError(f"RANK {found.rank} does not fit WORLD_SIZE {found.world_size}")
    return found


def resolve_device(name: str | torch.device | None = "auto", local_rank: int = 0,
                   local_world_size: int = 1) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:K`` as a device.

    Under torchrun a plain ``cuda`` (or ``auto`` on a GPU machine) means ``cuda:LOCAL_RANK``, one
    GPU per process. ``auto`` picks CUDA only when the node has a GPU for each of its
    ``local_world_size`` processes, so every rank of a node makes the same choice (2 processes
    on a 1-GPU machine train on the CPU with gloo rather than fail).
    """
    if isinstance(name, torch.device):
        return name
    text = (name or "auto").strip().lower()
    if text == "auto":
        enough = torch.cuda.is_available() and torch.cuda.device_count() >= local_world_size
        text = "cuda" if enough else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: no CUDA GPU is available to torch "
                            f"{torch.__version__} on this machine")
        try:
            device = torch.device(text)
        except RuntimeError:
            raise UserError(f"unknown device {name!r} (choose auto, cpu, cuda or cuda:K)") from None
        index = local_rank if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: GPU {index} requested but only "
                            f"{torch.cuda.device_count()} are visible (CUDA training takes one "
                            "GPU per process; use fewer processes or --device cpu)")
        return torch.device("cuda", index)
    raise UserError(f"unknown device {name!r} (choose auto, cpu, cuda or cuda:K)")


@dataclass(frozen=True)
class Context:
    """This process's place in a training job: rank, world size, device, and collectives.

    With ``world_size`` 1 every collective is a no-op, so training code calls them freely.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that logs and writes files."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index or 0])
            else:
                dist.barrier()

    def all_sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over all ranks (float64)."""
        if not self.distributed:
            return [float(v) for v in values]
        where = self.device if self.device.type == "cuda" else torch.device("cpu")
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=where)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().tolist()

    def broadcast_object(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (the others pass anything, e.g. None)."""
        if not self.distributed:
            return obj
        box: list[Any] = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_object(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and return its result on every rank (it must pickle).

        The other ranks wait meanwhile. If ``fn`` raises, rank 0 re-raises it and the other
        ranks raise :class:`PeerError` with its message, so the whole job stops cleanly
        instead of the others dying on a broken connection.
        """
        if not self.distributed:
            return fn()
        outcome: tuple[str, Any] | None = None
        if self.is_main:
            try:
                outcome = ("ok", fn())
            except BaseException as exc:
                self.broadcast_object(("failed", _describe(exc)))
                raise
        status, value = self.broadcast_object(outcome)
        if status != "ok":
            raise PeerError(value)
        return value

    def first(self, fn: Callable[[], T], *, per_node: bool = False) -> T:
        """Run ``fn`` on rank 0 (or each node's local rank 0) first, then on the other ranks.

        For work that fills a cache (a download, an extraction): the others find it done. If a
        first rank fails, every other rank raises :class:`PeerError` without running ``fn``.
        """
        if not self.distributed:
            return fn()
        leads = (self.local_rank if per_node else self.rank) == 0
        result: Any = None
        failure: str | None = None
        if leads:
            try:
                result = fn()
            except BaseException as exc:
                failure = _describe(exc)
                self.gather_object(failure)
                raise
        failures = [f for f in self.gather_object(failure) if f is not None]
        if failures:
            raise PeerError(failures[0])
        return result if leads else fn()

    def shard(self, rows: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a batch: every ``world_size``-th one, starting at ``rank``."""
        return rows[self.rank :: self.world_size] if self.distributed else rows


class PeerError(UserError):
    """Raised on the other ranks when the rank doing a shared step (see :meth:`Context.on_main`)
    failed; that rank has reported the error itself.

    ``quiet`` is True on all but the first process of each node, so a command line that skips
    printing quiet errors shows the message once per node rather than once per process.
    """

    @property
    def quiet(self) -> bool:
        return os.environ.get("LOCAL_RANK", "0") != "0"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "rank 0 was interrupted"
    return f"another rank failed: {type(exc).__name__}: {exc}"


@contextmanager
def session(device: str | torch.device | None = "auto") -> Iterator[Context]:
    """The training context of this process, joining torchrun's process group if there is one.

    Outside torchrun (or with a world of one) this is a plain one-process context on ``device``.
    Under torchrun it initialises the default process group (NCCL for CUDA, gloo for CPU), and
    destroys it on exit; a group that is already initialised (by the caller, or an enclosing
    session) is used as it is and left alone.
    """
    if dist.is_available() and dist.is_initialized():
        env = TorchrunEnv(dist.get_rank(), dist.get_world_size(),
                          int(os.environ.get("LOCAL_RANK", "0")),
                          int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        yield _context(env, device)
        return
    env = torchrun_env()
    if env is None or env.world_size == 1:
        here = env or TorchrunEnv(0, 1, 0)
        yield Context(device=resolve_device(device, here.local_rank, here.local_world_size))
        return
    if not dist.is_available():
        raise UserError(f"torch {torch.__version__} was built without torch.distributed")
    ctx = _context(env, device)
    backend = "nccl" if ctx.device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    try:
        if not ctx.is_main:
            from . import progress

            progress.set_quiet(True)  # one progress bar per job, on rank 0
        yield ctx
        # every rank finished its last collective before any rank tears the group down (a
        # rank leaving while a peer still reads from it can abort the peer)
        ctx.barrier()
    finally:
        # Objects left in reference cycles by training can hold on to gloo state until the
        # interpreter exits, where tearing it down now and then aborted a worker ("terminate
        # called without an active exception"); collect them while all is alive.
        gc.collect()
        dist.destroy_process_group()


def _context(env: TorchrunEnv, device: str | torch.device | None) -> Context:
    dev = resolve_device(device, env.local_rank, env.local_world_size)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return Context(env.rank, env.world_size, env.local_rank, dev)


def weights_digest(model: nn.Module) -> str:
    """sha256 of a module's state dict (names, dtypes, shapes and bytes, in key order)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def tensor_digest(*tensors: torch.Tensor) -> str:
    """sha256 of tensors' shapes and bytes: the same data on every rank gives the same digest."""
    h = hashlib.sha256()
    for tensor in tensors:
        t = tensor.detach().cpu().contiguous()
        h.update(f"{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Launching N local processes (a --nproc option)


def under_torchrun() -> bool:
    """Whether this process is a worker that torchrun started."""
    return torchrun_env() is not None


def without_option(argv: Sequence[str], option: str) -> list[str]:
    """``argv`` without ``option VALUE`` / ``option=VALUE`` (to hand the rest to the workers)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == option:
            skip = True
            continue
        if arg.startswith(option + "="):
            continue
        out.append(arg)
    return out


def launch(nproc: int, argv: Sequence[str], *, module: str = "lstm_sentiment") -> int:
    """Run ``python -m <module> <argv>`` as ``nproc`` local torchrun workers; their exit code.

    Uses torchrun's elastic launcher (``torch.distributed.run``) with a standalone rendezvous,
    so a free port is picked on localhost and nothing else needs configuring. When
    ``OMP_NUM_THREADS`` is unset, each worker gets an equal share of the CPU cores (torchrun
    alone would give each one thread). Returns 0 when every worker succeeded, else a failed
    worker's exit code, preferring one that exited by itself (128 + N for signal N).
    """
    if nproc < 1:
        raise UserError(f"--nproc must be at least 1, got {nproc}")
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    if "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, cpus.usable() // nproc))
    args = parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module", module,
                       *argv])
    try:
        run(args)
    except ChildFailedError as exc:
        # a worker's own error code beats the SIGTERM torchrun then sent to the others
        codes = [f.exitcode for _, f in sorted(exc.failures.items())]
        code = next((c for c in codes if c > 0), next((c for c in codes if c), 1))
        return 128 - code if code < 0 else code
    except SignalException as exc:  # Ctrl-C or SIGTERM: torchrun has stopped the workers
        return 128 + int(exc.sigval)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    return 0
