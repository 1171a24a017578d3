"""The classifier network: Embedding -> LSTM -> Dense, with Keras 2's initial values.

Tensor layout through :class:`SentimentLSTM`::

    ids     [B, T]      int64, 0 = padding (only at the end of a row)
    x       [B, T, E]   embedding
    out     [B, T, H]   LSTM hidden state after every step
    last    [B, H]      h after the last real token (masking) or after step T (Keras's way)
    logits  [B]         one sigmoid logit for two classes, or [B, C] softmax logits for C > 2

Keras's LSTM has one bias vector; ``torch.nn.LSTM`` has two (``bias_ih`` + ``bias_hh``). We keep
``bias_hh`` at zero and frozen, so the trainable parameters match Keras's count (246,305 for the
seed preset) and Keras weights import without change.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import ModelConfig
from .lstm import ReferenceLSTM

# oneDNN's CPU LSTM slows down sharply (about 2x per step on a 4 MB L2 cache) once one call covers
# more than ~170 steps at batch 100; running long sequences as chunks of at most this many steps,
# handing (h, c) from chunk to chunk, gives the same numbers and gradients, faster.
MAX_STEPS_PER_CALL = 128


def make_lstm(kind: str, input_size: int, hidden_size: int) -> nn.Module:
    if kind == "fused":
        return nn.LSTM(input_size, hidden_size, batch_first=True)
    if kind == "reference":
        return ReferenceLSTM(input_size, hidden_size)
    raise ValueError(f"unknown LSTM kind {kind!r} (choose fused or reference)")


class SentimentLSTM(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.lstm = make_lstm(config.lstm, config.embedding_dim, config.hidden_size)
        self.lstm.bias_hh_l0.requires_grad_(False)
        outputs = 1 if config.num_classes == 2 else config.num_classes
        self.head = nn.Linear(config.hidden_size, outputs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.config.mask_padding:
            lengths = (ids != 0).sum(dim=1)
            ids = ids[:, : max(int(lengths.max()), 1)] if ids.shape[0] else ids
        out, h_n = self._run_lstm(self.embedding(ids))
        if self.config.mask_padding:
            # Padding only trails, so the state after the last real token is exactly what a
            # masked LSTM would carry to the end. An empty text keeps the zero initial state.
            step = (lengths - 1).clamp(min=0)
            last = out[torch.arange(ids.shape[0], device=ids.device), step]
            last = last * (lengths > 0).unsqueeze(1).to(last.dtype)
        else:
            last = h_n
        logits = self.head(last)
        return logits.squeeze(-1) if logits.shape[-1] == 1 else logits

    @property
    def masks_padding(self) -> bool:
        return self.config.mask_padding

    def _run_lstm(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """All hidden states [B, T, H] and the final one [B, H]."""
        steps = x.shape[1]
        if steps <= MAX_STEPS_PER_CALL:
            out, (h_n, _) = self.lstm(x)
            return out, h_n[-1]
        chunks = math.ceil(steps / MAX_STEPS_PER_CALL)
        state = None
        outs = []
        for part in x.split(math.ceil(steps / chunks), dim=1):
            out, state = self.lstm(part, state)
            outs.append(out)
        return torch.cat(outs, dim=1), state[0][-1]

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @torch.no_grad()
    def keras_init(self, generator: torch.Generator) -> None:
        """Keras 2's defaults: embedding U(-0.05, 0.05), Glorot-uniform kernels, orthogonal
        recurrent kernel, zero biases except the LSTM's forget gate (1)."""
        self.embedding.weight.uniform_(-0.05, 0.05, generator=generator)
        w_ih, w_hh = self.lstm.weight_ih_l0, self.lstm.weight_hh_l0
        _glorot_uniform(w_ih, generator)
        # Keras draws the (H, 4H) recurrent kernel with orthonormal rows; ours is its transpose.
        w_hh.copy_(_orthogonal(w_hh.shape, generator))
        h = self.config.hidden_size
        self.lstm.bias_ih_l0.zero_()
        self.lstm.bias_ih_l0[h : 2 * h] = 1.0  # gate order i, f, g, o: forget gate bias 1
        self.lstm.bias_hh_l0.zero_()
        _glorot_uniform(self.head.weight, generator)
        self.head.bias.zero_()


def _glorot_uniform(weight: torch.Tensor, generator: torch.Generator) -> None:
    fan_out, fan_in = weight.shape  # torch stores (out, in); Glorot is symmetric in the two
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    weight.uniform_(-limit, limit, generator=generator)


def _orthogonal(shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    rows, cols = shape
    flat = torch.randn(max(rows, cols), min(rows, cols), generator=generator)
    q, r = torch.linalg.qr(flat)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # make the decomposition unique
    return q if rows >= cols else q.T


def build(config: ModelConfig, seed: int) -> SentimentLSTM:
    """A freshly initialised network; the same seed gives the same weights."""
    model = SentimentLSTM(config)
    model.keras_init(torch.Generator().manual_seed(seed))
    return model
