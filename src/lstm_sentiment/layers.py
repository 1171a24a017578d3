"""Building blocks the networks share: Keras 2's initial values, LSTM calls over long inputs in
chunks, row lengths and reversal of padded rows.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .lstm import ReferenceLSTM

# Why calls are cut as they are: oneDNN's per-step cost grows with a call's length, and its
# backward workspaces and the heap grow with each new call shape.
MAX_STEPS_PER_CALL = 128  # steps per LSTM call without gradients; longer inputs run in chunks
TRAINING_MAX_STEPS = 64  # steps per call with gradients (the seed layout): smaller workspaces
# a batch cut to its longest row is cut at a multiple of this (padding after every row's end
# changes no state that is used), so calls come in few shapes
STEP_MULTIPLE = 8


def row_lengths(ids: torch.Tensor, rows_per_pass: int = 4096) -> torch.Tensor:
    """[N] int64: the real (non-padding) tokens of each row of ``ids``, counted a few thousand
    rows at a time: over a whole split at once, ``ids != 0`` alone is a copy as large as it."""
    if len(ids) <= rows_per_pass:
        return (ids != 0).sum(dim=1)
    return torch.cat([(part != 0).sum(dim=1) for part in ids.split(rows_per_pass)])


def make_lstm(kind: str, input_size: int, hidden_size: int) -> nn.Module:
    if kind == "fused":
        return nn.LSTM(input_size, hidden_size, batch_first=True)
    if kind == "reference":
        return ReferenceLSTM(input_size, hidden_size)
    raise ValueError(f"unknown LSTM kind {kind!r} (choose fused or reference)")


def keras_lstm_init(lstm: nn.Module, generator: torch.Generator) -> None:
    """Keras 2's LSTM defaults: Glorot-uniform kernel, orthogonal recurrent kernel, zero bias
    but the forget gate's (1)."""
    glorot_uniform(lstm.weight_ih_l0, generator)
    # Keras draws the (H, 4H) recurrent kernel with orthonormal rows; ours is its transpose.
    lstm.weight_hh_l0.copy_(orthogonal(lstm.weight_hh_l0.shape, generator))
    h = lstm.weight_hh_l0.shape[1]
    lstm.bias_ih_l0.zero_()
    lstm.bias_ih_l0[h : 2 * h] = 1.0  # gate order i, f, g, o: forget gate bias 1
    lstm.bias_hh_l0.zero_()


def glorot_uniform(weight: torch.Tensor, generator: torch.Generator) -> None:
    fan_out, fan_in = weight.shape  # torch stores (out, in); Glorot is symmetric in the two
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    weight.uniform_(-limit, limit, generator=generator)


def orthogonal(shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    rows, cols = shape
    flat = torch.randn(max(rows, cols), min(rows, cols), generator=generator)
    q, r = torch.linalg.qr(flat)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # make the decomposition unique
    return q if rows >= cols else q.T


def chunk_steps(steps: int, most: int) -> int:
    """Steps per LSTM call: all ``steps`` in one call if they are at most ``most``, else as few
    equal chunks as keep each call within ``most``."""
    return steps if steps <= most else math.ceil(steps / math.ceil(steps / most))


def run_chunked(lstm: nn.Module, x: torch.Tensor,
                 max_steps: int | None = MAX_STEPS_PER_CALL) -> torch.Tensor:
    """All hidden states [B, T, H], running at most ``max_steps`` steps per call (None: one
    call)."""
    steps = x.shape[1]
    if max_steps is None or steps <= max_steps:
        return lstm(x)[0]
    state = None
    outs = []
    for part in x.split(chunk_steps(steps, max_steps), dim=1):
        out, state = lstm(part, state)
        outs.append(out)
    return torch.cat(outs, dim=1)


def reverse_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, T] positions that reverse each row's first ``lengths`` steps and keep the padding
    where it is: ``x.gather(1, idx)`` reads a text backwards, still padded at the end, and the
    same gather turns the backward LSTM's outputs round again."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)
    n = lengths.unsqueeze(1)
    return torch.where(t < n, n - 1 - t, t)




def device_of(module: nn.Module) -> torch.device:
    """Where ``module``'s parameters are (the CPU for a module without any)."""
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


class LexiconEmbedding(nn.Module):
    """An embedding whose vectors carry one more number: the token's lexicon valence (fixed,
    0 for a token the lexicon does not rate; see :mod:`lstm_sentiment.lexicon`).

    While training, ``word_dropout`` of the tokens lose their learned vector and keep only their
    valence, so the network learns to judge a token by the lexicon alone, as it must for a token
    no review taught it (an emoji, a word rare in reviews).
    """

    def __init__(self, vocab_size: int, dim: int, word_dropout: float = 0.0) -> None:
        super().__init__()
        self.inner = nn.Embedding(vocab_size, dim)
        self.register_buffer("valence", torch.zeros(vocab_size))
        self.word_dropout = word_dropout

    @property
    def weight(self) -> nn.Parameter:
        return self.inner.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.inner(ids)
        if self.training and self.word_dropout > 0:
            keep = torch.rand(ids.shape, device=ids.device) >= self.word_dropout
            x = x * keep.unsqueeze(-1).to(x.dtype)
        return torch.cat([x, self.valence[ids].unsqueeze(-1).to(x.dtype)], dim=-1)
