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
from .ngrams import NgramBranch

# oneDNN's CPU LSTM slows down sharply (about 2x per step on a 4 MB L2 cache) once one call covers
# more than ~170 steps at batch 100; running long sequences as chunks of at most this many steps,
# handing (h, c) from chunk to chunk, gives the same numbers and gradients, faster. Sequences of up
# to this many steps run as one call, longer ones as equal chunks.
MAX_STEPS_PER_CALL = 128
# SentimentLSTM (the seed layout) trains with shorter calls still: oneDNN keeps a workspace per
# call for the backward pass, and at 64 steps those are half as large; seed training then peaked
# at ~490 MB instead of ~630 MB (the heap fragments less), each epoch ~10 % slower (2-core Xeon,
# 10 epochs). Without gradients it keeps MAX_STEPS_PER_CALL: one review's latency grew from
# ~1.1 to ~1.5 ms with 64-step calls.
TRAINING_MAX_STEPS = 64
# A batch cut to its longest row is cut at a multiple of this many steps instead (the extra steps
# are padding, read after every row's last word, so no state that is used changes). Every new
# call shape means a new oneDNN primitive and buffers of new sizes, and the C heap fragments with
# each new size: length-bucketed training met ~64 step counts per call and scoring ~200 before,
# and peaked ~40 MB higher (seed preset; training now runs 64-step calls plus the rest).
STEP_MULTIPLE = 8


def row_lengths(ids: torch.Tensor, rows_per_pass: int = 4096) -> torch.Tensor:
    """[N] int64: the real (non-padding) tokens of each row of ``ids``, counted a few thousand
    rows at a time. ``(ids != 0).sum(dim=1)`` over a whole split at once builds an int64 copy of
    it: 46 MB for 25,000 rows of 228, the largest transient of seed training and of scoring."""
    if len(ids) <= rows_per_pass:
        return (ids != 0).sum(dim=1)
    return torch.cat([(part != 0).sum(dim=1) for part in ids.split(rows_per_pass)])


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
        ids = ids[:, : self.config.lstm_length]  # None: every column
        lengths = None
        if self.config.mask_padding:
            lengths = (ids != 0).sum(dim=1)
            steps = max(int(lengths.max()), 1) if ids.shape[0] else ids.shape[1]
            ids = ids[:, : -(-steps // STEP_MULTIPLE) * STEP_MULTIPLE]
        logits = self.head(self._last_states(ids, lengths))
        return logits.squeeze(-1) if logits.shape[-1] == 1 else logits

    @property
    def masks_padding(self) -> bool:
        return self.config.mask_padding

    def _last_states(self, ids: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """[B, H]: the hidden state after each row's last real token (masking: ``lengths``
        given), or after step T (Keras's way).

        The LSTM runs over at most MAX_STEPS_PER_CALL steps per call (TRAINING_MAX_STEPS with
        gradients), handing (h, c) on. Each
        call's [B, steps, H] outputs are read for the rows whose last token falls in it and then
        let go, so all T steps' outputs are never held at once. Without gradients (evaluation,
        prediction) each call's steps are also embedded on their own; with them the embedding is
        one call, since its backward sums each token's gradients per call. Either way the numbers
        are those of one embedding and the states read from all steps' outputs.
        """
        steps = ids.shape[1]
        # calls of TRAINING_MAX_STEPS (without gradients MAX_STEPS_PER_CALL) and the rest
        size = TRAINING_MAX_STEPS if torch.is_grad_enabled() else MAX_STEPS_PER_CALL
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
        _keras_lstm_init(self.lstm, generator)
        _glorot_uniform(self.head.weight, generator)
        self.head.bias.zero_()


def _keras_lstm_init(lstm: nn.Module, generator: torch.Generator) -> None:
    """Keras 2's LSTM defaults: Glorot-uniform kernel, orthogonal recurrent kernel, zero bias
    but the forget gate's (1)."""
    _glorot_uniform(lstm.weight_ih_l0, generator)
    # Keras draws the (H, 4H) recurrent kernel with orthonormal rows; ours is its transpose.
    lstm.weight_hh_l0.copy_(_orthogonal(lstm.weight_hh_l0.shape, generator))
    h = lstm.weight_hh_l0.shape[1]
    lstm.bias_ih_l0.zero_()
    lstm.bias_ih_l0[h : 2 * h] = 1.0  # gate order i, f, g, o: forget gate bias 1
    lstm.bias_hh_l0.zero_()


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


def _chunk_steps(steps: int, most: int) -> int:
    """Steps per LSTM call: all ``steps`` in one call if they are at most ``most``, else as few
    equal chunks as keep each call within ``most``."""
    return steps if steps <= most else math.ceil(steps / math.ceil(steps / most))


def _run_chunked(lstm: nn.Module, x: torch.Tensor,
                 max_steps: int | None = MAX_STEPS_PER_CALL) -> torch.Tensor:
    """All hidden states [B, T, H], running at most ``max_steps`` steps per call (None: one
    call)."""
    steps = x.shape[1]
    if max_steps is None or steps <= max_steps:
        return lstm(x)[0]
    state = None
    outs = []
    for part in x.split(_chunk_steps(steps, max_steps), dim=1):
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


class PooledLSTM(nn.Module):
    """Embedding -> LSTM (optionally a second one reading backwards) -> pooling -> Dense.

    ::

        ids       [B, T]
        x         [B, T, E]    embedding (dropout while training)
        out       [B, T, D*H]  forward states, and the backward LSTM's (D = 2) realigned to words
        pooled    [B, P*D*H]   "max-mean": max and mean over the real words (P = 2);
                               "last": the forward state after the last word and, when
                               bidirectional, the backward state after reading the first (P = 1)
        logits    [B] or [B, C]

    The backward LSTM reads each row's real words in reverse, padding still at the end, so both
    directions stop at the last real word exactly as masking would (see :func:`reverse_index`).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.lstm = make_lstm(config.lstm, config.embedding_dim, config.hidden_size)
        self.lstm_backward = (make_lstm(config.lstm, config.embedding_dim, config.hidden_size)
                              if config.bidirectional else None)
        self.dropout = nn.Dropout(config.dropout)
        width = config.hidden_size * (2 if config.bidirectional else 1)
        width *= 2 if config.pooling == "max-mean" else 1
        outputs = 1 if config.num_classes == 2 else config.num_classes
        self.head = nn.Linear(width, outputs)
        # Python-side shape decisions (cut a batch to its longest row, run long inputs in
        # chunks); an ONNX export turns both off so the traced graph keeps dynamic shapes.
        self.trim: bool = True
        self.max_steps: int | None = MAX_STEPS_PER_CALL

    @property
    def masks_padding(self) -> bool:
        return True

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids[:, : self.config.lstm_length]  # None: every column
        lengths = (ids != 0).sum(dim=1)
        if self.trim and ids.shape[0]:
            ids = ids[:, : max(int(lengths.max()), 1)]
        logits = self.head(self.dropout(self.features(ids, lengths)))
        return logits.squeeze(-1) if logits.shape[-1] == 1 else logits

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The pooled vector the head reads, [B, width]."""
        if (self.config.pooling == "max-mean" and self.max_steps is not None
                and not (self.training or torch.is_grad_enabled()
                         or torch.jit.is_tracing())):
            return self._pooled_inference(ids, lengths, self.max_steps)
        steps = ids.shape[1]
        x = self.dropout(self.embedding(ids))
        outs = [_run_chunked(self.lstm, x, self.max_steps)]
        if self.lstm_backward is not None:
            rev = reverse_index(lengths, steps).unsqueeze(-1)
            back = _run_chunked(self.lstm_backward,
                                x.gather(1, rev.expand(-1, -1, x.shape[2])), self.max_steps)
            outs.append(back.gather(1, rev.expand(-1, -1, back.shape[2])))
        out = torch.cat(outs, dim=-1)
        real = (torch.arange(steps, device=ids.device).unsqueeze(0)
                < lengths.unsqueeze(1)).unsqueeze(-1)
        has_words = (lengths > 0).unsqueeze(1)
        if self.config.pooling == "max-mean":
            mean = (out * real).sum(dim=1) / lengths.clamp(min=1).unsqueeze(1).to(out.dtype)
            top = out.masked_fill(~real, float("-inf")).amax(dim=1)
            top = torch.where(has_words, top, torch.zeros_like(top))  # an empty text: zeros
            return torch.cat([top, mean], dim=-1)
        step = (lengths - 1).clamp(min=0)
        rows = torch.arange(ids.shape[0], device=ids.device)
        last = out[rows, step, : self.config.hidden_size]
        if self.lstm_backward is not None:  # the backward LSTM's final state sits at word 0
            last = torch.cat([last, out[:, 0, self.config.hidden_size :]], dim=-1)
        return last * has_words.to(last.dtype)

    def _pooled_inference(self, ids: torch.Tensor, lengths: torch.Tensor,
                          max_steps: int) -> torch.Tensor:
        """:meth:`features` for "max-mean" pooling without gradients, in the same numbers (up to
        the order of the mean's additions) for less time: the accurate preset's predictions ran
        ~15 % faster on 2 cores.

        Max and mean over a row's real words do not depend on the words' order, so the backward
        LSTM's states are pooled as they come, never turned round; the texts are reversed as
        ids, before the embedding, not as vectors; and each call's states are folded into a
        running max and sum and let go, so no [B, T, 2H] tensor is ever built.
        """
        steps = ids.shape[1]
        sequences = [(self.lstm, ids)]
        if self.lstm_backward is not None:
            sequences.append((self.lstm_backward, ids.gather(1, reverse_index(lengths, steps))))
        size = _chunk_steps(steps, max_steps)
        shortest = int(lengths.min()) if len(lengths) else 0
        tops, sums = [], []
        for lstm, seq in sequences:
            state: tuple[torch.Tensor, torch.Tensor] | None = None
            top: torch.Tensor | None = None
            total: torch.Tensor | None = None
            for start in range(0, steps, size):
                out, state = lstm(self.embedding(seq[:, start : start + size]), state)
                if start + out.shape[1] > shortest:  # some rows end in this call: mask the rest
                    place = torch.arange(start, start + out.shape[1], device=ids.device)
                    pad = (place.unsqueeze(0) >= lengths.unsqueeze(1)).unsqueeze(-1)
                    part_sum = out.masked_fill(pad, 0.0).sum(dim=1)
                    part_top = out.masked_fill_(pad, float("-inf")).amax(dim=1)
                else:
                    part_sum, part_top = out.sum(dim=1), out.amax(dim=1)
                total = part_sum if total is None else total.add_(part_sum)
                top = part_top if top is None else torch.maximum(top, part_top, out=top)
            if top is None or total is None:
                raise ValueError("the ids have no steps (shape [B, 0])")
            tops.append(top)
            sums.append(total)
        has_words = (lengths > 0).unsqueeze(1)
        top = torch.where(has_words, torch.cat(tops, dim=-1), 0.0)  # an empty text: zeros
        mean = torch.cat(sums, dim=-1) / lengths.clamp(min=1).unsqueeze(1).to(top.dtype)
        return torch.cat([top, mean], dim=-1)

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @torch.no_grad()
    def keras_init(self, generator: torch.Generator) -> None:
        """The same initial values as :meth:`SentimentLSTM.keras_init`, for each direction."""
        self.embedding.weight.uniform_(-0.05, 0.05, generator=generator)
        for lstm in (self.lstm, self.lstm_backward):
            if lstm is not None:
                _keras_lstm_init(lstm, generator)
        _glorot_uniform(self.head.weight, generator)
        self.head.bias.zero_()


class HybridLSTM(nn.Module):
    """An LSTM network and a linear n-gram branch, their logits mixed by three learned numbers.

    ``logits = mix[0] * recurrent(ids) + mix[1] * ngrams(ids) + mix_bias``. The parts are
    trained one after the other (n-grams, then the LSTM, then the mix on the validation split;
    see :mod:`lstm_sentiment.pipeline`), and either part's logits alone are one call away.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.recurrent = _recurrent(config)
        outputs = 1 if config.num_classes == 2 else config.num_classes
        self.ngrams = NgramBranch(config.vocab_size, config.ngram_features, outputs,
                                   config.ngram_order)
        self.mix = nn.Parameter(torch.tensor([1.0, 1.0]), requires_grad=False)
        self.mix_bias = nn.Parameter(torch.zeros(outputs), requires_grad=False)

    @property
    def masks_padding(self) -> bool:
        return True

    # the LSTM's layers, for gate traces and exports
    @property
    def embedding(self) -> nn.Embedding:
        return self.recurrent.embedding

    @property
    def lstm(self) -> nn.Module:
        return self.recurrent.lstm

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.combine(self.recurrent(ids), self.ngrams(ids))

    def combine(self, recurrent: torch.Tensor, ngrams: torch.Tensor) -> torch.Tensor:
        bias = self.mix_bias[0] if recurrent.dim() == 1 else self.mix_bias
        return self.mix[0] * recurrent + self.mix[1] * ngrams + bias

    def trainable_parameters(self) -> int:
        """Every learned number: the LSTM part's trainable parameters, the n-gram weights (fitted
        by logistic regression, not by gradient steps) and the three mixing numbers."""
        return sum(p.numel() for p in self.parameters())

    def keras_init(self, generator: torch.Generator) -> None:
        self.recurrent.keras_init(generator)


Network = SentimentLSTM | PooledLSTM | HybridLSTM


def _recurrent(config: ModelConfig) -> SentimentLSTM | PooledLSTM:
    if config.bidirectional or config.pooling != "last":
        return PooledLSTM(config)
    return SentimentLSTM(config)


def network_for(config: ModelConfig) -> Network:
    """The network ``config`` describes, with untrained weights."""
    if config.ngram_features > 0:
        return HybridLSTM(config)
    return _recurrent(config)


def build(config: ModelConfig, seed: int) -> Network:
    """A freshly initialised network; the same seed gives the same weights."""
    model = network_for(config)
    model.keras_init(torch.Generator().manual_seed(seed))
    return model
