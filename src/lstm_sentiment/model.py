"""The networks: Embedding -> LSTM -> Dense (the tutorial's), its pooled and bidirectional variant,
and the hybrid of an LSTM network and an n-gram branch. Keras 2's initial values throughout.

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

import copy
import time
from collections.abc import Callable

import torch
from torch import nn

from .config import ModelConfig, TrainConfig
from .head import head_for
from .layers import (
    MAX_STEPS_PER_CALL,
    STEP_MULTIPLE,
    TRAINING_MAX_STEPS,
    LexiconEmbedding,
    chunk_steps,
    device_of,
    glorot_uniform,
    keras_lstm_init,
    make_lstm,
    reverse_index,
    run_chunked,
)
from .lstm import ReferenceLSTM
from .ngrams import NgramBranch
from .optim import Optimizer, make_optimizer
from .split import Split

Log = Callable[[str], None]


class Network(nn.Module):
    """What every network offers the trainer, the pipeline, prediction and export, so none of
    them asks which network it holds.

    ``classifier`` is the head's rule (:mod:`lstm_sentiment.head`); ``recurrent`` the part
    trained by gradient steps; ``fit_before`` / ``fit_after`` what is fitted apart, before and
    after those steps; ``parts`` the sub-networks whose accuracy is worth reporting alone.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.vocab_size is None:
            raise ValueError("ModelConfig.vocab_size is derived from the vocabulary: fill it in")
        self.config = config
        self.classifier = head_for(config.num_classes)

    @property
    def masks_padding(self) -> bool:
        return True

    @property
    def recurrent(self) -> Network:
        return self

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def configure_optimizer(self, config: TrainConfig) -> Optimizer:
        return make_optimizer([p for p in self.parameters() if p.requires_grad], config)

    def describe(self) -> str:
        return f"{self.trainable_parameters():,} trainable parameters"

    def fit_before(self, train: Split, val: Split, log: Log) -> None:
        """Fit what is learned apart from the gradient steps, before them (nothing here)."""

    def fit_after(self, val: Split, log: Log) -> None:
        """Fit what is learned apart from the gradient steps, after them (nothing here)."""

    def parts(self) -> dict[str, nn.Module]:
        return {}

    def for_export(self) -> Network:
        """A copy for tracing (ONNX): every Python-side shape decision off (``trim``,
        ``max_steps``), fused LSTMs, on the CPU; the same numbers."""
        exported = copy.deepcopy(self).cpu().eval()
        for module in list(exported.modules()):
            if hasattr(module, "trim"):
                module.trim = False
            if hasattr(module, "max_steps"):
                module.max_steps = None
            for name, child in list(module.named_children()):
                if isinstance(child, ReferenceLSTM):  # the reference LSTM exports as fused
                    fused = nn.LSTM(child.input_size, child.hidden_size, batch_first=True)
                    fused.load_state_dict(child.state_dict())
                    setattr(module, name, fused)
        return exported


class SentimentLSTM(Network):
    """The tutorial's network (see the module docstring for its tensors)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.lstm = make_lstm(config.lstm, config.embedding_dim, config.hidden_size)
        self.lstm.bias_hh_l0.requires_grad_(False)
        self.head = nn.Linear(config.hidden_size, self.classifier.outputs)
        # cut a batch to its longest row, run long inputs in calls of bounded length; an
        # export turns both off so the traced graph keeps dynamic shapes
        self.trim: bool = True

    @property
    def masks_padding(self) -> bool:
        return self.config.mask_padding

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids[:, : self.config.lstm_length]  # None: every column
        if not self.trim:
            return self.classifier.shape(self.head(self._traced_last_states(ids)))
        lengths = None
        if self.config.mask_padding:
            lengths = (ids != 0).sum(dim=1)
            steps = max(int(lengths.max()), 1) if ids.shape[0] else ids.shape[1]
            ids = ids[:, : -(-steps // STEP_MULTIPLE) * STEP_MULTIPLE]
        return self.classifier.shape(self.head(self._last_states(ids, lengths)))

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

    def _traced_last_states(self, ids: torch.Tensor) -> torch.Tensor:
        """:meth:`_last_states` over every column in one call, each row's state picked by a
        gather on its length: the same numbers, with nothing decided in Python (export)."""
        out, (h_n, _) = self.lstm(self.embedding(ids))
        if not self.config.mask_padding:
            return h_n[-1]
        lengths = (ids != 0).sum(dim=1)
        index = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, out.shape[2])
        last = out.gather(1, index)[:, 0]
        return last * (lengths > 0).unsqueeze(1).to(last.dtype)  # an empty row: zeros

    @torch.no_grad()
    def keras_init(self, generator: torch.Generator) -> None:
        """Keras 2's defaults: embedding U(-0.05, 0.05), Glorot-uniform kernels, orthogonal
        recurrent kernel, zero biases except the LSTM's forget gate (1)."""
        self.embedding.weight.uniform_(-0.05, 0.05, generator=generator)
        keras_lstm_init(self.lstm, generator)
        glorot_uniform(self.head.weight, generator)
        self.head.bias.zero_()


class PooledLSTM(Network):
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
        super().__init__(config)
        self.embedding = _embedding(config)
        width = config.embedding_dim + (1 if config.lexicon else 0)  # the valence, if read
        self.lstm = make_lstm(config.lstm, width, config.hidden_size)
        self.lstm_backward = (make_lstm(config.lstm, width, config.hidden_size)
                              if config.bidirectional else None)
        self.dropout = nn.Dropout(config.dropout)
        width = config.hidden_size * (2 if config.bidirectional else 1)
        width *= 2 if config.pooling == "max-mean" else 1
        self.head = nn.Linear(width, self.classifier.outputs)
        # as SentimentLSTM's: off in an export
        self.trim: bool = True
        self.max_steps: int | None = MAX_STEPS_PER_CALL

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids[:, : self.config.lstm_length]  # None: every column
        lengths = (ids != 0).sum(dim=1)
        if self.trim and ids.shape[0]:
            ids = ids[:, : max(int(lengths.max()), 1)]
        return self.classifier.shape(self.head(self.dropout(self.features(ids, lengths))))

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The pooled vector the head reads, [B, width]."""
        if (self.config.pooling == "max-mean" and self.max_steps is not None
                and not (self.training or torch.is_grad_enabled()
                         or torch.jit.is_tracing())):
            return self._pooled_inference(ids, lengths, self.max_steps)
        steps = ids.shape[1]
        x = self.dropout(self.embedding(ids))
        outs = [run_chunked(self.lstm, x, self.max_steps)]
        if self.lstm_backward is not None:
            rev = reverse_index(lengths, steps).unsqueeze(-1)
            back = run_chunked(self.lstm_backward,
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
        the order of the mean's additions) for less time.

        Max and mean over a row's real words do not depend on the words' order, so the backward
        LSTM's states are pooled as they come, never turned round; the texts are reversed as
        ids, before the embedding, not as vectors; and each call's states are folded into a
        running max and sum and let go, so no [B, T, 2H] tensor is ever built.
        """
        steps = ids.shape[1]
        sequences = [(self.lstm, ids)]
        if self.lstm_backward is not None:
            sequences.append((self.lstm_backward, ids.gather(1, reverse_index(lengths, steps))))
        size = chunk_steps(steps, max_steps)
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

    @torch.no_grad()
    def keras_init(self, generator: torch.Generator) -> None:
        """The same initial values as :meth:`SentimentLSTM.keras_init`, for each direction."""
        self.embedding.weight.uniform_(-0.05, 0.05, generator=generator)
        for lstm in (self.lstm, self.lstm_backward):
            if lstm is not None:
                keras_lstm_init(lstm, generator)
        glorot_uniform(self.head.weight, generator)
        self.head.bias.zero_()


class HybridLSTM(Network):
    """An LSTM network and a linear n-gram branch, their logits mixed by three learned numbers.

    ``logits = mix[0] * recurrent(ids) + mix[1] * ngrams(ids) + mix_bias``. The n-gram branch is
    fitted before the LSTM's gradient steps (:meth:`fit_before`), the mix after them on the
    validation split (:meth:`fit_after`); either part's logits alone are one call away.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.recurrent = _recurrent(config)  # a submodule, read through the property below
        outputs = self.classifier.outputs
        self.ngrams = NgramBranch(config.vocab_size, config.ngram_features, outputs,
                                  config.ngram_order)
        self.mix = nn.Parameter(torch.tensor([1.0, 1.0]), requires_grad=False)
        self.mix_bias = nn.Parameter(torch.zeros(outputs), requires_grad=False)

    @property
    def recurrent(self) -> Network:
        return self._modules["recurrent"]  # type: ignore[return-value]

    # the LSTM's layers, for gate traces
    @property
    def embedding(self) -> nn.Embedding:
        return self.recurrent.embedding

    @property
    def lstm(self) -> nn.Module:
        return self.recurrent.lstm

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.combine(self.recurrent(ids), self.ngrams(ids))

    def combine(self, recurrent: torch.Tensor, ngrams: torch.Tensor) -> torch.Tensor:
        return self.mix[0] * recurrent + self.mix[1] * ngrams + self.classifier.shape(
            self.mix_bias.unsqueeze(0))

    def trainable_parameters(self) -> int:
        """Every learned number: the LSTM part's trainable parameters, the n-gram weights (fitted
        by logistic regression, not by gradient steps) and the three mixing numbers."""
        return sum(p.numel() for p in self.parameters())

    def describe(self) -> str:
        lstm = self.recurrent.trainable_parameters()
        return (f"{lstm:,} trainable parameters in the LSTM part and "
                f"{self.trainable_parameters() - lstm:,} fitted apart (n-gram weights, mix)")

    def parts(self) -> dict[str, nn.Module]:
        return {"lstm": self.recurrent, "ngrams": self.ngrams}

    def fit_before(self, train: Split, val: Split, log: Log) -> None:
        t0 = time.perf_counter()
        self.ngrams.fit(train.ids, train.labels.numpy())
        with torch.inference_mode():
            right = sum(int((self.classifier.predicted(self.ngrams(ids.long())) == y).sum())
                        for ids, y in zip(val.ids.split(2000), val.labels.split(2000),
                                          strict=True))
        log(f"N-gram branch: fitted in {time.perf_counter() - t0:.1f}s, "
            f"validation accuracy {right / max(len(val.labels), 1):.4f}")

    def fit_after(self, val: Split, log: Log) -> None:
        """The mixing weights and bias: minimum cross-entropy of ``mix[0] * lstm + mix[1] *
        ngrams + bias`` on ``val``, by L-BFGS, with a small L2 pull on the two weights."""
        self.eval()
        device = device_of(self)
        with torch.no_grad():
            chunks = [chunk.to(device, torch.long) for chunk in val.ids.split(500)]
            lstm = torch.cat([self.recurrent(ids) for ids in chunks]).float()
            ngrams = torch.cat([self.ngrams(ids) for ids in chunks]).float()
        y = val.labels.to(device)
        mix = torch.ones(2, device=device, requires_grad=True)
        bias = torch.zeros(self.mix_bias.shape, device=device, requires_grad=True)
        optimizer = torch.optim.LBFGS([mix, bias], max_iter=200, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            logits = mix[0] * lstm + mix[1] * ngrams + self.classifier.shape(bias.unsqueeze(0))
            loss = self.classifier.loss(logits, y) + 1e-3 * (mix ** 2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            self.mix.copy_(mix.detach())
            self.mix_bias.copy_(bias.detach())
        weights = self.mix.tolist()
        log(f"Mix: logit = {weights[0]:.3f} x LSTM + {weights[1]:.3f} x n-grams + bias "
            "(fitted on the validation split)")

    def keras_init(self, generator: torch.Generator) -> None:
        self.recurrent.keras_init(generator)


def _embedding(config: ModelConfig) -> nn.Module:
    if config.lexicon:
        return LexiconEmbedding(config.vocab_size, config.embedding_dim, config.word_dropout)
    return nn.Embedding(config.vocab_size, config.embedding_dim)


def _recurrent(config: ModelConfig) -> SentimentLSTM | PooledLSTM:
    if config.bidirectional or config.pooling != "last" or config.lexicon:
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
