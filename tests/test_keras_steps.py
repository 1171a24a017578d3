"""The seed reproduction, step by step against Keras 2.15 (needs the real IMDB archive).

``fixtures/keras_truth/steps.json`` holds what Keras 2.15 did when it trained the tutorial's model
from our seed-1 initial weights (read padding) on our seed-1 epoch-0 batch plan: the loss of each
of the 188 steps and, after 0, 1, 10 and 188 steps, each weight tensor's sum, sum of squares and
values at a fixed sample of positions (tools/keras_reference/steps.py made it; its README says why
that sample is enough). Here the same start and batches go through our code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_sentiment import config as cfg
from lstm_sentiment import data
from lstm_sentiment.config import RunConfig
from lstm_sentiment.lstm import to_keras
from lstm_sentiment.model import build
from lstm_sentiment.split import Split
from lstm_sentiment.text import TextEncoder, id_dtype
from lstm_sentiment.trainer import batches, epoch_seed, fit

FIXTURE = json.loads((Path(__file__).parent / "fixtures/keras_truth/steps.json").read_text())
SEED = 1
TOLERANCE = 1e-5  # absolute, on each sampled weight and on each step's loss


@pytest.fixture(scope="module")
def seed_run(full_imdb: Path) -> tuple[RunConfig, Split]:
    """The seed preset with read padding, and its encoded training split."""
    config = cfg.preset("seed")
    config.model.mask_padding = False
    train = data.load(full_imdb, "train", config.data.validation_split, config.data.split_seed)
    encoder, ids = TextEncoder.build(train.texts, config.text, id_dtype(config.text.max_tokens))
    config = config.derived(vocab_size=encoder.vocab_size, num_classes=len(train.class_names))
    return config, Split(torch.from_numpy(ids), torch.from_numpy(train.labels).long())


def keras_layout(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """Our weights under Keras's names and in its layouts (``lstm.to_keras``)."""
    state = model.state_dict()
    kernel, recurrent, bias = to_keras({k.removeprefix("lstm."): v for k, v in state.items()
                                        if k.startswith("lstm.")})
    assert bias is not None
    return {"embeddings": state["embedding.weight"].numpy(), "kernel": kernel,
            "recurrent_kernel": recurrent, "bias": bias,
            "dense_kernel": state["head.weight"].numpy().T,
            "dense_bias": state["head.bias"].numpy()}


def gaps(model: torch.nn.Module, steps: int) -> dict[str, dict[str, float]]:
    """Per tensor: the largest gap to Keras's sampled values after ``steps`` steps, and the
    gaps of its sum and sum of squares relative to their size."""
    keras = next(c for c in FIXTURE["checkpoints"] if c["steps"] == steps)["tensors"]
    out = {}
    for name, ours in keras_layout(model).items():
        assert list(ours.shape) == FIXTURE["shapes"][name]
        want = keras[name]
        got = ours.reshape(-1)[FIXTURE["positions"][name]]
        w = ours.astype(np.float64)
        out[name] = {
            "values": float(np.abs(got - np.asarray(want["values"])).max()),
            "sum": abs(float(w.sum()) - want["sum"]) / max(1.0, abs(want["sum"])),
            "sumsq": abs(float((w * w).sum()) - want["sumsq"]) / max(1.0, want["sumsq"]),
        }
    return out


def assert_equal_to_keras(model: torch.nn.Module, steps: int) -> None:
    found = gaps(model, steps)
    worst = {name: g["values"] for name, g in found.items()}
    assert max(worst.values()) <= TOLERANCE, f"after {steps} steps: {worst}"
    # the sums cover every entry, the unsampled ones too; float32 summation order alone moves
    # them by ~1e-7 of their size
    aggregates = {name: max(g["sum"], g["sumsq"]) for name, g in found.items()}
    assert max(aggregates.values()) <= 1e-5, f"after {steps} steps: {aggregates}"


def epoch_plan(config: RunConfig, split: Split) -> list[torch.Tensor]:
    """Training epoch 0's batches as ``fit`` plans them (read padding: no length bucketing)."""
    plan = batches(split, config.train.batch_size, epoch_seed(SEED, 0),
                   bucket=False)
    order = torch.cat(plan)
    digest = hashlib.sha256()
    digest.update(split.ids[order].numpy().astype(np.int32).tobytes())
    digest.update(split.labels[order].numpy().astype(np.int32).tobytes())
    assert digest.hexdigest() == FIXTURE["plan_sha256"], "not the batches Keras was fed"
    assert len(plan) == FIXTURE["n_batches"]
    return plan


def test_steps_equal_keras(seed_run: tuple[RunConfig, Split]) -> None:
    config, split = seed_run
    model = build(config.model, SEED)
    assert_equal_to_keras(model, 0)  # the start Keras was handed
    optimizer = model.configure_optimizer(config.train)
    losses: list[float] = []
    model.train()
    for step, idx in enumerate(epoch_plan(config, split)):
        loss = model.classifier.loss(model(split.ids[idx].long()), split.labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if step + 1 in (1, 10):
            assert_equal_to_keras(model, step + 1)
    assert_equal_to_keras(model, len(losses))
    gap = np.abs(np.asarray(losses) - np.asarray(FIXTURE["losses"]))
    assert gap.max() <= TOLERANCE, f"step {int(gap.argmax()) + 1}: loss gap {gap.max():.2e}"


def test_fit_epoch_equals_keras(seed_run: tuple[RunConfig, Split]) -> None:
    """``fit`` itself (the loop every training run takes), one epoch from the same start."""
    config, split = seed_run
    train = replace(config.train, epochs=1, seed=SEED)
    model = build(config.model, SEED)
    history = fit(model, split, None, train, log=lambda _line: None, device="cpu")
    assert_equal_to_keras(model, FIXTURE["n_batches"])
    sizes = [len(b) for b in torch.arange(len(split.labels)).split(config.train.batch_size)]
    keras_mean = float(np.dot(FIXTURE["losses"], sizes) / sum(sizes))
    assert abs(history.epochs[0]["loss"] - keras_mean) <= TOLERANCE
