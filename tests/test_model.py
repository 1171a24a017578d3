"""model.py: the seed architecture, Keras's initial values, masking and chunking."""

from __future__ import annotations

import math

import pytest
import torch

from lstm_sentiment import layers
from lstm_sentiment import model as model_mod
from lstm_sentiment.config import ModelConfig
from lstm_sentiment.model import SentimentLSTM, build


def test_seed_architecture_has_keras_parameter_count() -> None:
    net = build(ModelConfig(vocab_size=15_000, num_classes=2), seed=1)
    assert net.trainable_parameters() == 246_305  # Keras's model.summary() for the tutorial
    assert not net.lstm.bias_hh_l0.requires_grad


def test_keras_initial_values() -> None:
    net = build(ModelConfig(vocab_size=15_000, num_classes=2), seed=3)
    emb = net.embedding.weight
    assert emb.abs().max() <= 0.05 and emb.std() > 0.02
    limit = math.sqrt(6 / (16 + 128))
    assert net.lstm.weight_ih_l0.abs().max() <= limit
    w_hh = net.lstm.weight_hh_l0  # [4H, H]: Keras's [H, 4H] recurrent kernel, transposed
    torch.testing.assert_close(w_hh.T @ w_hh, torch.eye(32), atol=1e-5, rtol=0)
    bias = net.lstm.bias_ih_l0
    assert bias[32:64].eq(1).all() and bias[:32].eq(0).all() and bias[64:].eq(0).all()
    assert net.lstm.bias_hh_l0.eq(0).all() and net.head.bias.eq(0).all()
    seed_config = ModelConfig(vocab_size=15_000, num_classes=2)
    torch.testing.assert_close(build(seed_config, seed=3).embedding.weight, emb)
    assert not torch.equal(build(seed_config, seed=4).embedding.weight, emb)


def _ids(rows: list[list[int]], width: int) -> torch.Tensor:
    return torch.tensor([r + [0] * (width - len(r)) for r in rows])


def test_masking_ignores_trailing_padding() -> None:
    net = build(ModelConfig(vocab_size=50, num_classes=2), seed=0).eval()
    rows = [[5, 6, 7], [8, 9, 10, 11, 12, 13], [4]]
    padded = net(_ids(rows, 20))
    for i, row in enumerate(rows):
        alone = net(torch.tensor([row]))
        torch.testing.assert_close(padded[i], alone[0], atol=1e-6, rtol=0)


def test_reading_padding_changes_the_result() -> None:
    cfg = ModelConfig(vocab_size=50, num_classes=2, mask_padding=False)
    net = build(cfg, seed=0).eval()
    short = net(torch.tensor([[5, 6, 7]]))
    padded = net(_ids([[5, 6, 7]], 20))
    assert not torch.allclose(short, padded)  # Keras's LSTM reads the padding steps


def test_empty_text_gives_the_bias_only() -> None:
    net = build(ModelConfig(vocab_size=50, num_classes=2), seed=0).eval()
    out = net(torch.zeros(2, 10, dtype=torch.long))
    torch.testing.assert_close(out, net.head.bias.expand(2))


@pytest.mark.parametrize("mask", [True, False])
def test_chunked_lstm_equals_one_call(monkeypatch: pytest.MonkeyPatch, mask: bool) -> None:
    cfg = ModelConfig(vocab_size=100, num_classes=2, mask_padding=mask)
    net = build(cfg, seed=0)
    ids = torch.randint(1, 100, (4, 300))
    ids[1, 150:] = 0
    monkeypatch.setattr(model_mod, "TRAINING_MAX_STEPS", 10_000)
    whole, whole_grads = _logits_and_grads(net, ids)
    monkeypatch.setattr(model_mod, "TRAINING_MAX_STEPS", 37)
    chunked, chunked_grads = _logits_and_grads(net, ids)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)
    for g_chunked, g_whole in zip(chunked_grads, whole_grads, strict=True):
        torch.testing.assert_close(g_chunked, g_whole, atol=1e-4, rtol=1e-4)


def _logits_and_grads(net: torch.nn.Module, ids: torch.Tensor
                      ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The logits for ``ids`` and the gradients of their sum, per trainable parameter."""
    net.zero_grad()
    logits = net(ids)
    logits.sum().backward()
    return logits.detach(), [p.grad.clone() for p in net.parameters() if p.requires_grad]


def test_multiclass_head() -> None:
    net = SentimentLSTM(ModelConfig(vocab_size=30, num_classes=3))
    assert net(torch.randint(1, 30, (5, 7))).shape == (5, 3)


@pytest.mark.parametrize("mask", [True, False])
def test_inference_path_gives_the_training_path_numbers(monkeypatch: pytest.MonkeyPatch,
                                                       mask: bool) -> None:
    # Without gradients each LSTM call embeds its own steps; the numbers must not change.
    monkeypatch.setattr(model_mod, "TRAINING_MAX_STEPS", 37)
    monkeypatch.setattr(model_mod, "MAX_STEPS_PER_CALL", 37)
    net = build(ModelConfig(vocab_size=100, num_classes=2, mask_padding=mask), seed=0)
    ids = torch.randint(1, 100, (6, 120))
    ids[1, 50:] = 0
    ids[2, 37:] = 0  # ends exactly at a chunk boundary
    ids[3, :] = 0  # empty
    with_grad = net(ids)
    with torch.inference_mode():
        without = net(ids)
    assert torch.equal(with_grad.detach(), without)


def test_cutting_batches_at_a_step_multiple_changes_no_number(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # rows of 5, 11 and 13 words: the batch is cut at 16 steps instead of 13
    net = build(ModelConfig(vocab_size=100, num_classes=2), seed=0)
    ids = torch.randint(1, 100, (3, 40))
    ids[0, 5:], ids[1, 11:], ids[2, 13:] = 0, 0, 0
    monkeypatch.setattr(model_mod, "STEP_MULTIPLE", 1)
    exact, exact_grads = _logits_and_grads(net, ids)
    monkeypatch.setattr(model_mod, "STEP_MULTIPLE", 8)
    padded, padded_grads = _logits_and_grads(net, ids)
    torch.testing.assert_close(padded, exact, atol=1e-6, rtol=0)
    for g_padded, g_exact in zip(padded_grads, exact_grads, strict=True):
        torch.testing.assert_close(g_padded, g_exact, atol=1e-6, rtol=1e-5)


def test_training_meets_few_lstm_call_shapes() -> None:
    # oneDNN keeps a primitive (and its buffers) per call shape: batches of every length from 1
    # to 228 must come down to a handful of step counts per call
    net = build(ModelConfig(vocab_size=100, num_classes=2), seed=0)
    seen: set[int] = set()
    net.lstm.register_forward_hook(lambda _m, args, _out: seen.add(args[0].shape[1]))
    for length in range(1, 229):
        ids = torch.randint(1, 100, (2, 228))
        ids[:, length:] = 0
        net(ids).sum().backward()
    assert seen <= {8, 16, 24, 32, 40, 48, 56, 64, 36}  # 228 = 3 x 64 + 36


def test_row_lengths_counted_in_passes_equal_one_count() -> None:
    ids = torch.randint(0, 5, (1000, 30), dtype=torch.int16)
    expected = (ids != 0).sum(dim=1)
    torch.testing.assert_close(layers.row_lengths(ids, rows_per_pass=64), expected)
    torch.testing.assert_close(layers.row_lengths(ids), expected)
    assert layers.row_lengths(ids[:0]).shape == (0,)
