"""Typed settings, one dataclass per concern, and the named presets.

Everything a model folder needs to rebuild its pipeline is one of these dataclasses, saved as
JSON in ``config.json``: the text settings (standardization, vocabulary size, sequence length)
travel with the weights, so a folder alone reproduces the exact predictions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from .errors import UserError

LstmKind = Literal["fused", "reference"]
Pooling = Literal["last", "max-mean"]


@dataclass
class DataConfig:
    """Where the reviews come from and how the labelled training folder is split."""

    source: str | None = None  # folder, .tar.gz, URL or CSV/TSV/JSONL; None = official IMDB
    test_source: str | None = None  # where the test split comes from; None = source's test/
    text_field: str | None = None  # for tables: the text column (default text, review, ...)
    label_field: str | None = None  # for tables: the label column (default label, sentiment)
    validation_split: float = 0.25  # the tutorial's 75/25 split ...
    split_seed: int = 100  # ... drawn with the tutorial's seed, file for file as Keras 2 does


@dataclass
class TextConfig:
    """How raw text becomes a fixed-length row of token ids."""

    standardize: str = "tutorial"  # ASCII lowercase, drop "<br />", drop ASCII punctuation
    max_tokens: int = 15_000  # vocabulary size, padding (0) and [UNK] (1) included
    # "vader": the vocabulary also holds the words and emoji of VADER's lexicon that the
    # training texts leave out (beyond max_tokens); see lstm_sentiment.lexicon
    lexicon: str | None = None
    sequence_length: int = 228  # pad / truncate at the end to this many tokens


@dataclass
class ModelConfig:
    """The network: Embedding -> LSTM -> Dense, optionally bidirectional with pooling, dropout
    and a linear n-gram branch (the ``accurate`` preset)."""

    # derived from the data, None until a run fills them in (on a copy: pipeline.derive)
    vocab_size: int | None = None  # the vocabulary's size (at most TextConfig.max_tokens)
    num_classes: int | None = None  # two give one sigmoid output, more a softmax head
    embedding_dim: int = 16
    hidden_size: int = 32
    lstm: LstmKind = "fused"  # "fused" = torch.nn.LSTM, "reference" = lstm.ReferenceLSTM
    # Keras's LSTM (no mask_zero) runs through the trailing padding; masking stops at the last
    # real token instead: faster (bench/README.md, "Seed preset speed"); over seeds: docs/seed.md.
    mask_padding: bool = True
    bidirectional: bool = False  # a second LSTM reads each text from its last word back
    pooling: Pooling = "last"  # "last": h after the last word; "max-mean": both over every word
    dropout: float = 0.0  # on the embeddings and on the pooled features (training only)
    # the embedding carries each token's lexicon valence next to its learned vector, and in
    # training word_dropout of the tokens lose their learned vector (see layers.LexiconEmbedding)
    lexicon: bool = False
    word_dropout: float = 0.0
    # the LSTM reads at most this many first tokens of each row (None: all of them); the n-gram
    # branch always reads the whole row
    lstm_length: int | None = None
    # > 0 adds a linear branch over this many of the most frequent word n-grams (NBSVM-style),
    # mixed with the LSTM's logit; see lstm_sentiment.ngrams
    ngram_features: int = 0
    ngram_order: int = 2  # the longest n-grams the branch counts (2: words and word pairs)


@dataclass
class TrainConfig:
    """The optimisation loop."""

    epochs: int = 10
    batch_size: int = 100
    optimizer: str = "rmsprop"  # Keras's RMSprop (lr 1e-3, rho 0.9, epsilon 1e-7) or "adam"
    learning_rate: float = 1e-3  # the peak rate under the one-cycle schedule
    schedule: str = "constant"  # or "one-cycle": warm up over 10% of the steps, cosine down
    clip_norm: float | None = None  # clip the gradient's global norm to this (None = never)
    weight_decay: float = 0.0  # AdamW-style decoupled weight decay (adam only)
    # "ppmi-svd": start the embedding from word vectors learned on the training texts plus the
    # source's unlabelled ones (IMDB's train/unsup); None: Keras's random start
    word_vectors: str | None = None
    # more training rows made from the training reviews (lstm_sentiment.augment.KINDS):
    # "sentences", "negation", "degree", "contrast", "frames", "advice", "rated-advice", "emoji"
    augment: list[str] = field(default_factory=list)
    seed: int = 1  # model initialisation and batch order; the split has its own seed
    bucket_by_length: bool = True  # group similar lengths into a batch (only matters when masking)
    threads: int | None = None  # torch threads; None = all cores


@dataclass
class RunConfig:
    """One training run: a preset plus any overrides."""

    preset: str = "seed"
    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def derived(self, *, vocab_size: int, num_classes: int) -> RunConfig:
        """A copy with the fields the data decides filled in (the preset leaves them None)."""
        return replace(self, model=replace(self.model, vocab_size=vocab_size,
                                           num_classes=num_classes))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Rebuild from JSON, refusing keys this version does not know (a newer format)."""
        parts: dict[str, Any] = {"preset": raw.get("preset", "seed")}
        for f in fields(cls):
            if f.name == "preset":
                continue
            sub_cls = {"data": DataConfig, "text": TextConfig, "model": ModelConfig,
                       "train": TrainConfig}[f.name]
            values = dict(raw.get(f.name, {}))
            if f.name == "model" and "ngram_buckets" in values:
                raise UserError("this model's n-gram branch hashes word pairs, as earlier "
                                "versions did; retrain it with this version")
            known = {sf.name for sf in fields(sub_cls)}
            unknown = sorted(set(values) - known)
            if unknown:
                raise UserError(f"unknown {f.name} settings {unknown} "
                                "(written by a newer version?)")
            parts[f.name] = sub_cls(**values)
        return cls(**parts)


def _seed_preset() -> RunConfig:
    """The tutorial's system, as published."""
    return RunConfig(preset="seed")


def _accurate_preset() -> RunConfig:
    """A bidirectional LSTM with max+mean pooling over longer inputs, plus an NBSVM-style n-gram
    branch; everyday text (emoji by name), VADER's words with their valences, negated, weakened
    and contrasted twins of rated training sentences, opinions held and denied, the reviews'
    advice and plain sentences ending in a rated emoji. docs/presets.md says what each
    part is, docs/accurate.md and bench/everyday.py the measurements behind each choice."""
    return RunConfig(
        preset="accurate",
        data=DataConfig(validation_split=0.1),
        text=TextConfig(standardize="everyday", max_tokens=30_000, sequence_length=1_000,
                        lexicon="vader"),
        model=ModelConfig(embedding_dim=64, hidden_size=64,
                          bidirectional=True, pooling="max-mean", dropout=0.5,
                          lexicon=True, word_dropout=0.1,
                          lstm_length=400, ngram_features=200_000, ngram_order=3),
        train=TrainConfig(epochs=2, batch_size=64, optimizer="adam", learning_rate=1e-2,
                          schedule="one-cycle", clip_norm=1.0, word_vectors="ppmi-svd",
                          augment=["negation", "degree", "contrast", "frames", "rated-advice",
                                   "emoji"]),
    )


PRESETS = {"seed": _seed_preset, "accurate": _accurate_preset}


def preset(name: str) -> RunConfig:
    """A fresh RunConfig for a named preset."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise UserError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})") from None
