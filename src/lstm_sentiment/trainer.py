"""The training loop: epochs, Keras-style logs, a checkpoint per epoch, resume.

Determinism: the batch order of epoch ``e`` comes from a generator seeded with ``(seed, e)``, and
the global torch seed is reset the same way, so resuming from the checkpoint after epoch ``e``
replays exactly what an uninterrupted run would have done (bit-identical on the same machine and
thread count).

Devices and processes: ``fit`` trains on the device it is given (``device=``, default: where the
model already is) and, under ``torchrun``, as one rank of a DistributedDataParallel job; see
:mod:`lstm_sentiment.distributed` for how each batch is split between ranks so that N processes
follow the same optimisation path as one.

Checkpoints live in ``<out>/checkpoint/``: ``model-epochN.safetensors``,
``optimizer-epochN.safetensors`` and ``state.json``, which names them. Every file is written to a
temp name and renamed, ``state.json`` last, so a crash or Ctrl-C at any moment leaves one complete,
consistent checkpoint (see :func:`save_checkpoint`). No pickle: optimizer state is flattened into
safetensors.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import distributed, memory, progress
from .config import TrainConfig
from .distributed import Context
from .errors import UserError
from .fileio import atomic_write_bytes, atomic_write_text
from .layers import device_of
from .optim import Optimizer, learning_rate_at
from .split import Split


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"epochs": self.epochs}, indent=2)


def batches(split: Split, batch_size: int, epoch_seed: int,
            bucket: bool) -> list[torch.Tensor]:
    """Index batches for one epoch: a seeded shuffle; with ``bucket``, rows of similar length
    share a batch (sorted within windows of 50 batches, then the batch order is shuffled)."""
    g = torch.Generator().manual_seed(epoch_seed)
    order = torch.randperm(len(split.labels), generator=g)
    if bucket:
        window = batch_size * 50
        lengths = split.lengths
        parts = []
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            parts.append(chunk[torch.argsort(lengths[chunk], descending=True, stable=True)])
        order = torch.cat(parts)
    out = list(order.split(batch_size))
    if bucket:
        out = [out[i] for i in torch.randperm(len(out), generator=g).tolist()]
    return out


@torch.inference_mode()
def evaluate_split(model: nn.Module, split: Split, batch_size: int = 256, *,
                   context: Context | None = None) -> dict[str, float]:
    """Mean loss and accuracy (length-sorted batches, so padding costs little when masking).

    Runs on the model's device. With a distributed ``context`` each rank evaluates every
    ``world_size``-th batch and the sums are combined, so every rank gets the whole split's
    figures.
    """
    model.eval()
    device = device_of(model)
    order = torch.argsort(split.lengths, descending=True, stable=True)
    chunks = order.split(batch_size)
    if context is not None and context.distributed:
        chunks = chunks[context.rank :: context.world_size]
    total_loss, correct = 0.0, 0
    for idx in chunks:
        logits = model(split.ids[idx].to(device, torch.long))
        y = split.labels[idx].to(device)
        total_loss += float(model.classifier.loss(logits, y)) * len(idx)
        correct += int((model.classifier.predicted(logits) == y).sum())
    if context is not None and context.distributed:
        total_loss, correct = context.all_sum([total_loss, correct])
    n = max(len(split.labels), 1)
    return {"loss": total_loss / n, "acc": correct / n}


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s batch plan and torch's global generator."""
    return seed * 1_000_003 + epoch


def fit(model: nn.Module, train: Split, val: Split | None, config: TrainConfig, *,
        checkpoint_dir: Path | None = None, resume: bool = False,
        fingerprint: dict[str, Any] | None = None,
        log: Callable[[str], None] = print,
        device: str | torch.device | None = None,
        context: Context | None = None) -> History:
    """Train ``model`` in place and return its per-epoch history.

    The loop knows only what every network offers: ``model.configure_optimizer(config)``,
    ``model.classifier`` (its head's loss and predicted class) and ``model.masks_padding``.

    ``fingerprint`` (preset, seeds, data digests) is stored with each checkpoint; ``resume``
    refuses a checkpoint whose fingerprint differs, so a run never continues someone else's.

    ``device`` ("auto", "cpu", "cuda", a torch.device; default: the model's current device) is
    where the model, the batches and the per-epoch validation run; the model stays there
    afterwards. ``context`` is the process's place in a distributed job, and its device
    overrides ``device``; without one, a torchrun worker joins the job itself for the length of
    this call (see
    :mod:`lstm_sentiment.distributed`). Under DDP only rank 0 logs and writes checkpoints, and
    every rank ends with the same weights.
    """
    if context is None:
        with distributed.session(device if device is not None else device_of(model)) as ctx:
            return fit(model, train, val, config, checkpoint_dir=checkpoint_dir, resume=resume,
                       fingerprint=fingerprint, log=log, context=ctx)
    ctx = context
    say = log if ctx.is_main else _silent
    model.to(ctx.device)
    optimizer = model.configure_optimizer(config)
    history = History()
    start = 0
    if ctx.distributed:  # every rank must plan the same batches from the same rows
        digests = ctx.gather_object(distributed.tensor_digest(train.ids, train.labels))
        if len(set(digests)) != 1:
            raise UserError("the ranks hold different training data (check --source and the "
                            "text settings on every node)")
    if resume:
        start, history = _resume(ctx, checkpoint_dir, model, optimizer, fingerprint)
        say(f"Resuming after epoch {start}/{config.epochs}")
    network = _wrap(model, ctx)  # DDP copies rank 0's weights to the other ranks here
    for epoch in range(start, config.epochs):
        torch.manual_seed(epoch_seed(config.seed, epoch))
        t0 = time.perf_counter()
        stats = train_epoch(model, optimizer, train, config, epoch, context=ctx,
                            network=network)
        if val is not None:
            v = evaluate_split(model, val, context=ctx)
            stats.update(val_loss=v["loss"], val_acc=v["acc"])
        stats["seconds"] = time.perf_counter() - t0
        stats["epoch"] = epoch + 1
        history.epochs.append(stats)
        say(format_epoch(epoch + 1, config.epochs, stats))
        if checkpoint_dir is not None:  # rank 0 writes, the others wait
            ctx.on_main(partial(save_checkpoint, checkpoint_dir, model, optimizer, epoch + 1,
                                history, fingerprint))
        memory.release_free_memory()  # what the epoch's steps left free in the heap
    if ctx.distributed:
        _check_replicas(model, ctx, say)
    return history


def _silent(_line: str) -> None:
    pass


def _wrap(model: nn.Module, ctx: Context) -> nn.Module:
    """The module to train through: ``model`` itself, or a DDP wrapper around it.

    DDP all-reduces only parameters that require grad, so the frozen ``lstm.bias_hh_l0`` is
    neither synchronised nor waited for (it never changes, and starts equal on every rank).
    """
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _resume(ctx: Context, checkpoint_dir: Path | None, model: nn.Module,
            optimizer: Optimizer,
            fingerprint: dict[str, Any] | None) -> tuple[int, History]:
    """Load the checkpoint into ``model`` and ``optimizer``; the epochs done and the history.

    Distributed, only rank 0 reads the files (the folder need not be visible from other
    nodes) and hands its epoch count, history and optimizer state to the others; the weights
    travel when DDP wraps the model.
    """
    def load() -> dict[str, Any]:
        if checkpoint_dir is None or not (checkpoint_dir / "state.json").exists():
            raise UserError(f"nothing to resume: no checkpoint in {checkpoint_dir}")
        start, history = load_checkpoint(checkpoint_dir, model, optimizer, fingerprint)
        payload: dict[str, Any] = {"start": start, "history": history.epochs}
        if ctx.distributed:
            sd = optimizer.state_dict()
            state = {i: {k: v.cpu() if isinstance(v, torch.Tensor) else v
                         for k, v in s.items()} for i, s in sd["state"].items()}
            payload["optimizer"] = {"state": state, "param_groups": sd["param_groups"]}
        return payload

    payload = ctx.on_main(load)
    if not ctx.is_main:
        optimizer.load_state_dict(payload["optimizer"])
    return int(payload["start"]), History(list(payload["history"]))


def _check_replicas(model: nn.Module, ctx: Context, log: Callable[[str], None]) -> None:
    """Compare the ranks' final weights; with $LSTM_SENTIMENT_DEBUG_RANK_DIR also save them."""
    digests = ctx.gather_object(distributed.weights_digest(model))
    if len(set(digests)) != 1:
        log(f"warning: the {ctx.world_size} ranks ended with different weights; the model "
            "saved is rank 0's")
    folder = os.environ.get(distributed.DEBUG_RANK_DIR_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(folder) / f"rank{ctx.rank}.safetensors",
                           _safetensors_bytes(model.state_dict()))


def train_epoch(model: nn.Module, optimizer: Optimizer, train: Split,
                config: TrainConfig, epoch: int, *, context: Context | None = None,
                network: nn.Module | None = None) -> dict[str, float]:
    """One pass over epoch ``epoch``'s batch plan; ``network`` (default ``model``) is what is
    called, e.g. a DDP wrapper of ``model``. Returns the epoch's mean loss and accuracy.

    One process and DDP take the same path. Each rank takes its share of every batch (one
    process: all of it) and weights its mean loss by its share times the world size, so after
    DDP averages the gradients every rank holds the gradient of the whole batch's mean loss
    (one process: weight 1, exactly). A batch smaller than the world leaves some ranks without
    rows: they run one row with weight 0 to join the all-reduce.
    """
    ctx = context or Context()
    model.train()
    network = network if network is not None else model
    device = device_of(model)
    head = model.classifier
    # grouping lengths only saves time when the model cuts each batch to its longest row
    bucket = config.bucket_by_length and model.masks_padding
    plan = batches(train, config.batch_size, epoch_seed(config.seed, epoch), bucket)
    seen, total_loss, correct = 0, 0.0, 0
    params = [p for p in model.parameters() if p.requires_grad]
    with progress.bar(f"Epoch {epoch + 1}/{config.epochs}", len(plan)) as bar:
        for step, batch in enumerate(plan):
            if config.schedule != "constant":
                rate = learning_rate_at(config, epoch * len(plan) + step,
                                        config.epochs * len(plan))
                for group in optimizer.param_groups:
                    group["lr"] = rate
            idx = ctx.shard(batch)
            rows = idx if len(idx) else batch[:1]
            ids, y = train.ids[rows].to(device, torch.long), train.labels[rows].to(device)
            logits = network(ids)
            mean = head.loss(logits, y)
            loss = mean * (len(idx) * ctx.world_size / len(batch))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_norm:
                nn.utils.clip_grad_norm_(params, config.clip_norm)
            optimizer.step()
            if len(idx):
                seen += len(idx)
                total_loss += float(mean.detach()) * len(idx)
                correct += int((head.predicted(logits.detach()) == y).sum())
            bar.advance(0)
            bar.update(0, description=f"Epoch {epoch + 1}/{config.epochs} "
                                      f"loss {total_loss / max(seen, 1):.4f} "
                                      f"acc {correct / max(seen, 1):.4f}")
    seen, total_loss, correct = ctx.all_sum([seen, total_loss, correct])
    if not math.isfinite(total_loss):
        raise UserError("training diverged (loss is not finite); try a lower learning rate")
    return {"loss": total_loss / seen, "acc": correct / seen}


def format_epoch(epoch: int, epochs: int, stats: dict[str, float]) -> str:
    """``Epoch 3/10 - loss 0.3776 - acc 0.8485 - val_loss ... - val_acc ... - 4.1s``"""
    parts = [f"Epoch {epoch}/{epochs}"]
    for key in ("loss", "acc", "val_loss", "val_acc"):
        if key in stats:
            parts.append(f"{key}: {stats[key]:.4f}")
    parts.append(f"{stats['seconds']:.1f}s")
    return " - ".join(parts)


# --------------------------------------------------------------------------------------------
# Checkpoints: safetensors + JSON, written atomically


def _optimizer_tensors(optimizer: Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{key}"] = value.contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def save_checkpoint(directory: Path, model: nn.Module, optimizer: Optimizer,
                    epochs_done: int, history: History,
                    fingerprint: dict[str, Any] | None) -> None:
    """Write epoch ``epochs_done``'s checkpoint as one unit.

    The tensors go to files named after the epoch; ``state.json``, renamed into place last,
    names them. Until that rename, the previous ``state.json`` and the files it names are intact;
    after it, the older epochs' files are removed. A crash anywhere leaves one consistent set.
    """
    directory.mkdir(parents=True, exist_ok=True)
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    files = {"model": f"model-epoch{epochs_done}.safetensors",
             "optimizer": f"optimizer-epoch{epochs_done}.safetensors"}
    atomic_write_bytes(directory / files["model"], _safetensors_bytes(model.state_dict()))
    atomic_write_bytes(directory / files["optimizer"], _safetensors_bytes(opt_tensors))
    state = {"epochs_done": epochs_done, "files": files, "history": history.epochs,
             "optimizer": opt_meta, "fingerprint": fingerprint}
    atomic_write_text(directory / "state.json", json.dumps(state, indent=2))  # commits
    for old in directory.glob("*-epoch*.safetensors"):
        if old.name not in files.values():
            old.unlink(missing_ok=True)


def _safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    return save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})


def load_checkpoint(directory: Path, model: nn.Module, optimizer: Optimizer,
                    fingerprint: dict[str, Any] | None) -> tuple[int, History]:
    try:
        state = json.loads((directory / "state.json").read_text())
        weights = load_file(directory / state["files"]["model"])
        opt_tensors = load_file(directory / state["files"]["optimizer"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"unreadable checkpoint in {directory}: {exc}") from None
    if fingerprint is not None and state.get("fingerprint") != fingerprint:
        raise UserError(f"the checkpoint in {directory} is from a different run "
                        "(preset, seed or data differ); use a new --out or drop --resume")
    model.load_state_dict(weights)
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in opt_tensors.items():
        idx, name = key.split(".", 1)
        opt_state.setdefault(int(idx), {})[name] = value
    for idx, values in state["optimizer"]["scalars"].items():
        opt_state.setdefault(int(idx), {}).update(values)
    optimizer.load_state_dict({"state": opt_state,
                               "param_groups": state["optimizer"]["param_groups"]})
    return int(state["epochs_done"]), History(list(state["history"]))
