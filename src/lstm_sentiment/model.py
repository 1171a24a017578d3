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
# handing (h, c) from chunk to chunk, gives the same numbers and gradients, faster. Sequences of up
# to this many steps run as one call, longer ones as equal chunks.
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
        lengths = None
        if self.config.mask_padding:
            lengths = (ids != 0).sum(dim=1)
            ids = ids[:, : max(int(lengths.max()), 1)] if ids.shape[0] else ids
        logits = self.head(self._last_states(ids, lengths))
        return logits.squeeze(-1) if logits.shape[-1] == 1 else logits

    @property
    def masks_padding(self) -> bool:
        return self.config.mask_padding

    def _last_states(self, ids: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """[B, H]: the hidden state after each row's last real token (masking: ``lengths``
        given), or after step T (Keras's way).

        The LSTM runs over at most MAX_STEPS_PER_CALL steps per call, handing (h, c) on. Each
        call's [B, steps, H] outputs are read for the rows whose last token falls in it and then
        let go, so all T steps' outputs are never held at once. Without gradients (evaluation,
        prediction) each call's steps are also embedded on their own; with them the embedding is
        one call, since its backward sums each token's gradients per call. Either way the numbers
        are those of one embedding and the states read from all steps' outputs.
        """
        steps = ids.shape[1]
        size = steps
        if steps > MAX_STEPS_PER_CALL:
            size = math.ceil(steps / math.ceil(steps / MAX_STEPS_PER_CALL))
        x = self.embedding(ids) if torch.is_grad_enabled() else None
        last_step = None if lengths is None else (lengths - 1).clamp(min=0)
        rows = torch.arange(ids.shape[0], device=ids.device)
        state: tuple[torch.Tensor, torch.Tensor] | None = None
        last: torch.Tensor | None = None
        for start in range(0, steps, size):
            stop = min(start + size, steps)
            part = x[:, start:stop] if x is not None else self.embedding(ids[:, start:stop])
            out, state = self.lstm(part, state)
            if last_step is not None:
                # rows ending here or later read this call's states; later calls overwrite
                # those of the rows that end after it
                here = out[rows, (last_step - start).clamp(0, stop - start - 1)]
                last = here if last is None else torch.where(
                    (last_step >= start).unsqueeze(1), here, last)
            del out
        if state is None:
            raise ValueError("the ids have no steps (shape [B, 0])")
        if last is None or lengths is None:
            return state[0][-1]
        # An empty text keeps the zero initial state.
        return last * (lengths > 0).unsqueeze(1).to(last.dtype)

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
