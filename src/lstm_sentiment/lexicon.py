"""Word polarity from a lexicon that ships inside a well-kept package: VADER's (MIT licence).

IMDB reviews teach a model the words reviewers use; a lexicon knows words they rarely use
("delicious", "lol") and emoji they never did. The ``everyday`` vocabulary adds the lexicon's
words and emoji to IMDB's most frequent ones, and the network reads each token's valence next
to its learned vector (:class:`~lstm_sentiment.layers.LexiconEmbedding`), so it can judge a token
it never saw in a review by the lexicon's word for it.

- ``vader_lexicon.txt``: 7,500 words, emoticons and slang, each with its mean valence in
  [-4, 4] as rated by ten people;
- ``emoji_utf8_lexicon.txt``: emoji with their names ("face with tears of joy"); an emoji's
  valence is the mean valence of the words of its name that the word list rates.

Only these text files are read (the package's own analyser is not used); where they came from,
their version and checksums are recorded in the model folder (:func:`provenance`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from importlib import metadata, resources

import numpy as np

from .errors import UserError

PACKAGE = "vaderSentiment"
WORDS = "vader_lexicon.txt"
EMOJI = "emoji_utf8_lexicon.txt"
SCALE = 4.0  # VADER's valences lie in [-4, 4]; the network reads them in [-1, 1]


def _read(name: str) -> str:
    try:
        return resources.files(PACKAGE).joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise UserError(f"the lexicon needs the {PACKAGE} package ({exc}); "
                        f"pip install {PACKAGE}") from None


@cache
def word_valences() -> dict[str, float]:
    """The word list: entry -> mean valence in [-4, 4]."""
    out: dict[str, float] = {}
    for line in _read(WORDS).splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            out[parts[0]] = float(parts[1])
    return out


@cache
def emoji_names() -> dict[str, str]:
    """Each emoji of one code point -> its name ("😍" -> "smiling face with heart-eyes"); the
    ``everyday`` standardization reads an emoji as its name (skin tones and sequences are
    reduced to their emoji first)."""
    out: dict[str, str] = {}
    for line in _read(EMOJI).splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and len(parts[0]) == 1 and parts[1].strip():
            out[parts[0]] = parts[1].strip().lower()
    return out


@cache
def emoji_valences() -> dict[str, float]:
    """Emoji -> the mean valence of the rated words of its name (emoji with none are left out)."""
    words = word_valences()
    out: dict[str, float] = {}
    for line in _read(EMOJI).splitlines():
        parts = line.split("\t")
        if len(parts) != 2:
            continue
        rated = [words[w] for w in parts[1].replace("-", " ").split() if w in words]
        if rated:
            out[parts[0]] = float(np.mean(rated))
    return out


def entries(tokenize: Callable[[str], list[str]]) -> dict[str, float]:
    """Every lexicon entry that ``tokenize`` (a standardization) makes one token of, with its
    valence in [-1, 1]; a word list entry wins over an emoji that standardizes alike."""
    found: dict[str, float] = {}
    for source in (emoji_valences(), word_valences()):
        for entry, valence in source.items():
            tokens = tokenize(entry)
            if len(tokens) == 1:
                found[tokens[0]] = valence / SCALE
    return found


def valences(vocabulary: list[str], tokenize: Callable[[str], list[str]]) -> np.ndarray:
    """[V] float32: each vocabulary token's valence in [-1, 1], 0 where the lexicon has none."""
    known = entries(tokenize)
    return np.array([known.get(token, 0.0) for token in vocabulary], dtype=np.float32)


def provenance() -> dict[str, object]:
    """What the model folder records about the lexicon: package, version, licence, files."""
    files = {name: hashlib.sha256(_read(name).encode("utf-8")).hexdigest()
             for name in (WORDS, EMOJI)}
    return {"package": PACKAGE, "version": metadata.version(PACKAGE), "licence": "MIT",
            "files_sha256": files}
