"""Text to token ids: standardization, vocabulary, fixed-length encoding (Hugging Face tokenizers).

The ``tutorial`` standardization is the tutorial's ``remove_br`` function as TensorFlow runs it:

1. ``tf.strings.lower``: lowercase **ASCII letters only** (TensorFlow leaves ``É`` alone);
2. remove every ``<br />`` (replaced by nothing, so ``end.<br />Next`` becomes ``endnext``);
3. remove every character of Python's ``string.punctuation`` (ASCII only: ``“`` stays);
4. split on ASCII whitespace (space, ``\\t \\n \\v \\f \\r``), as ``tf.strings.split`` does.

The ``punctuation`` standardization (the ``accurate`` preset's) keeps what step 3 throws away:
steps 1 and 4 as above, ``<br />`` becomes a space, and each punctuation mark (ASCII's, plus the
typographic ``“ ” ‘ ’ « » – — … ¡ ¿``) becomes a token of its own, so ``Great!!`` reads as
``great ! !`` and ``don't`` as ``don ' t``. Exclamation marks, question marks and quotes carry
sentiment that word counts alone miss.

Each standardization is expressed inside ``tokenizer.json`` (normalizers + pre-tokenizer), so the
file alone reproduces the encoding in any program that reads Hugging Face tokenizers. Step 1 has
no ready-made normalizer (``Lowercase`` is Unicode-wide), so it is 26 ``Replace`` rules.

The vocabulary is ordered as Keras 2's ``TextVectorization.adapt`` orders it: index 0 is padding,
1 is ``[UNK]``, then tokens by descending count, ties broken by descending UTF-8 byte order (Keras
sorts ``np.lexsort((tokens, counts))`` and reverses it), cut at ``max_tokens``.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from itertools import chain, islice, repeat
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike
from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel

from . import progress
from .config import TextConfig
from .errors import UserError

PAD = "[PAD]"  # id 0 (Keras shows it as "")
UNK = "[UNK]"  # id 1
ASCII_WHITESPACE = r"[ \t\n\x0b\x0c\r]+"
PUNCTUATION = "[" + re.escape(string.punctuation) + "]"
TYPOGRAPHIC_MARKS = "“”‘’«»–—…¡¿"
MARKS = "[" + re.escape(string.punctuation + TYPOGRAPHIC_MARKS) + "]"
# "everyday": pictographs (emoji, dingbats, symbols) are words of their own; the marks that only
# select a look (variation selector, zero-width joiner, skin tones) go
PICTOGRAPHS = "[\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff]"
PRESENTATION = "[\ufe0f\u200d\U0001f3fb-\U0001f3ff]"
STANDARDIZATIONS = ("tutorial", "punctuation", "everyday")


def _check_standardization(standardize: str) -> None:
    if standardize not in STANDARDIZATIONS:
        raise UserError(f"unknown standardization {standardize!r} "
                        f"(choose from {', '.join(STANDARDIZATIONS)})")


def _normalizer(standardize: str) -> normalizers.Normalizer:
    _check_standardization(standardize)
    ascii_lower = [normalizers.Replace(c, c.lower()) for c in string.ascii_uppercase]
    if standardize == "punctuation":
        return normalizers.Sequence([*ascii_lower, normalizers.Replace("<br />", " ")])
    if standardize == "everyday":  # as punctuation; an emoji reads as its name; "sooo" as "soo"
        return normalizers.Sequence([
            normalizers.Replace(Regex(PRESENTATION), ""),
            *(normalizers.Replace(emoji, f" {name} ") for emoji, name in _emoji().items()),
            *ascii_lower, normalizers.Replace("<br />", " "),
            *(normalizers.Replace(Regex(c + "{3,}"), c + c) for c in string.ascii_lowercase)])
    return normalizers.Sequence([
        *ascii_lower,
        normalizers.Replace("<br />", ""),
        normalizers.Replace(Regex(PUNCTUATION), ""),
    ])


def _pre_tokenizer(standardize: str) -> pre_tokenizers.PreTokenizer:
    words = pre_tokenizers.Split(Regex(ASCII_WHITESPACE), behavior="removed")
    if standardize == "punctuation":
        return pre_tokenizers.Sequence([
            words, pre_tokenizers.Split(Regex(MARKS), behavior="isolated")])
    if standardize == "everyday":
        return pre_tokenizers.Sequence([
            words, pre_tokenizers.Split(Regex(MARKS), behavior="isolated"),
            pre_tokenizers.Split(Regex(PICTOGRAPHS), behavior="isolated")])
    return words


def _bare_tokenizer(vocab: dict[str, int], standardize: str) -> Tokenizer:
    tok = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tok.normalizer = _normalizer(standardize)
    tok.pre_tokenizer = _pre_tokenizer(standardize)
    return tok


def count_tokens(texts: Iterable[str], standardize: str = "tutorial") -> dict[str, int]:
    """How often each standardized token occurs in ``texts``.

    Counts the words of the byte-level route (:data:`WORDS`), which tests hold equal to the
    tokenizer's own normalizer and pre-tokenizer; it needs no more memory than the counts.
    """
    _check_standardization(standardize)
    words = WORDS[standardize]
    counts: Counter[bytes] = Counter()
    for text in progress.track(texts, "count words"):
        counts.update(words(text))
    out: dict[str, int] = {}
    for word, n in counts.items():
        try:
            out[word.decode("utf-8")] = n
        except UnicodeDecodeError:  # only from lone surrogates: no token anyone can type
            continue
    return out


def keras_order(counts: dict[str, int], max_tokens: int) -> list[str]:
    """The vocabulary Keras 2 would learn from these counts, specials first."""
    if max_tokens < 3:
        raise UserError(f"max_tokens must be at least 3, got {max_tokens}")
    ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0].encode("utf-8")), reverse=True)
    return [PAD, UNK] + [token for token, _ in ranked[: max_tokens - 2]]


_ASCII_LOWER = bytes.maketrans(string.ascii_uppercase.encode(), string.ascii_lowercase.encode())
_PUNCTUATION_BYTES = string.punctuation.encode()
_ENCODE_CHUNK = 512  # texts per vectorised pass in TextEncoder.encode: bounded memory


def _tutorial_words(text: str, limit: int | None = None) -> list[bytes]:
    """The ``tutorial`` standardization on UTF-8 bytes, with the standard library only.

    Every character the standardization touches is ASCII, and ASCII bytes never occur inside a
    multi-byte UTF-8 sequence, so byte operations give exactly the tokenizer's result:
    ``bytes.translate`` lowercases A-Z and deletes punctuation, and ``bytes.split()`` splits on
    ASCII whitespace only, as TensorFlow does. Lone surrogates (not valid UTF-8) pass through as
    their raw bytes and simply miss the vocabulary. ``limit`` keeps the first words only,
    without making objects of the rest.
    """
    raw = text.encode("utf-8", "surrogatepass").translate(_ASCII_LOWER)
    clean = raw.replace(b"<br />", b"").translate(None, _PUNCTUATION_BYTES)
    if limit is None:
        return clean.split()
    return clean.split(None, limit)[:limit]  # the rest of the text stays one piece


# each ASCII mark's byte -> the mark with a space either side; each typographic mark's UTF-8
# bytes and the same spaced
_ASCII_SPACED = {c: b" " + bytes([c]) + b" " for c in string.punctuation.encode()}
_TYPOGRAPHIC_SPACED = [(m.encode("utf-8"), b" " + m.encode("utf-8") + b" ")
                       for m in TYPOGRAPHIC_MARKS]
# what deleting leaves only the ASCII marks (and any non-ASCII bytes) of a text
_NOT_ASCII_MARKS = bytes(c for c in range(128) if c not in _ASCII_SPACED)


def _punctuation_words(text: str, limit: int | None = None) -> list[bytes]:
    """The ``punctuation`` standardization on UTF-8 bytes, as :func:`_tutorial_words` does the
    tutorial's: each mark (one byte, or the whole UTF-8 sequence of a typographic one) gets
    spaces around it, so the split makes it a word of its own. A UTF-8 sequence only ever matches
    at a character's start, and the spaces added are no mark, so the replacements never
    interfere and their order does not matter. Only the marks the text has are replaced (one
    ``translate`` finds the ASCII ones; typographic ones are looked for in non-ASCII texts
    only), and ``bytes.replace`` per mark rather than one regular expression: both faster
    (bench/encode_speed.py).
    """
    raw = text.encode("utf-8", "surrogatepass").translate(_ASCII_LOWER).replace(b"<br />", b" ")
    for c in set(raw.translate(None, _NOT_ASCII_MARKS)):
        spaced = _ASCII_SPACED.get(c)
        if spaced is not None:
            raw = raw.replace(spaced[1:2], spaced)
    if not raw.isascii():
        for mark, spaced in _TYPOGRAPHIC_SPACED:
            if mark in raw:
                raw = raw.replace(mark, spaced)
    if limit is None:
        return raw.split()
    return raw.split(None, limit)[:limit]


_PRESENTATION = re.compile(PRESENTATION)
_PICTOGRAPH = re.compile(PICTOGRAPHS)
_RUNS = re.compile(rb"([a-z])\1\1+")


@cache
def _emoji() -> dict[str, str]:
    """The emoji the ``everyday`` standardization reads as their names (VADER's list)."""
    from . import lexicon

    return lexicon.emoji_names()


@cache
def _emoji_table() -> dict[int, str]:
    # each emoji of the list is one code point: str.translate replaces them all in one C pass,
    # where a regular expression's class of 1,212 of them tried each at every character
    # (bench/encode_speed.py)
    return {ord(e): f" {name} " for e, name in _emoji().items()}


_LETTER = np.zeros(256, dtype=bool)
_LETTER[ord("a") : ord("z") + 1] = True


def _has_run(raw: bytes) -> bool:
    """Whether ``raw`` has three of a letter in a row: compared as arrays, which is faster than
    the regular expression's back-reference tried at every position (bench/encode_speed.py);
    the expression then only runs on the rare text that has one."""
    a = np.frombuffer(raw, dtype=np.uint8)
    return bool((_LETTER[a[2:]] & (a[2:] == a[1:-1]) & (a[1:-1] == a[:-2])).any())


def _everyday_words(text: str, limit: int | None = None) -> list[bytes]:
    """The ``everyday`` standardization as :func:`_punctuation_words` does ``punctuation``, plus
    its own steps: on the text (they are non-ASCII), presentation marks dropped, each emoji
    VADER's list names replaced by its name and other pictographs spaced out; then, on the
    bytes, runs of three or more of a letter cut to two."""
    if not text.isascii():
        text = _PRESENTATION.sub("", text).translate(_emoji_table())
        text = _PICTOGRAPH.sub(r" \g<0> ", text)
    words = _punctuation_words(text)
    joined = b" ".join(words)
    if _has_run(joined):  # rare: elongated words
        words = _RUNS.sub(rb"\1\1", joined).split()
    return words if limit is None else words[:limit]


WORDS = {"tutorial": _tutorial_words, "punctuation": _punctuation_words,
         "everyday": _everyday_words}


def standardized(text: str, standardize: str) -> list[str]:
    """The words ``standardize`` makes of ``text``."""
    _check_standardization(standardize)
    return [w.decode("utf-8", "replace") for w in WORDS[standardize](text)]


def lexicon_tokens(config: TextConfig) -> list[str]:
    """The tokens of ``config.lexicon``'s entries under ``config.standardize``, in the
    lexicon's order (each entry that standardizes to a single token)."""
    if config.lexicon != "vader":
        raise UserError(f"unknown lexicon {config.lexicon!r} (choose vader)")
    from . import lexicon

    return list(lexicon.entries(lambda t: standardized(t, config.standardize)))


def id_dtype(vocab_size: int) -> np.dtype[np.signedinteger[Any]]:
    """The smallest signed integer type for ids below ``vocab_size``: int16 for the usual
    vocabularies (a quarter of int64's memory), int32 beyond 32,768 tokens."""
    return np.dtype(np.int16 if vocab_size <= 1 << 15 else np.int32)


def _standardization(tokenizer: Tokenizer) -> str | None:
    """The standardization ``tokenizer`` applies, if it standardizes and splits exactly like
    ``_bare_tokenizer`` for one of them; None for any other tokenizer."""
    mine = json.loads(tokenizer.to_str())
    model = mine.get("model", {})
    if not (model.get("type") == "WordLevel" and model.get("unk_token") == UNK
            and mine.get("post_processor") is None):
        return None
    for name in STANDARDIZATIONS:
        canonical = json.loads(_bare_tokenizer({PAD: 0, UNK: 1}, name).to_str())
        if (mine.get("normalizer") == canonical["normalizer"]
                and mine.get("pre_tokenizer") == canonical["pre_tokenizer"]):
            return name
    return None


def _valid_unicode(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (the tokenizer cannot take them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


class TextEncoder:
    """A Hugging Face tokenizer set up to give ``[N, sequence_length]`` id matrices.

    ``tokenizer.json`` is the definition. For the standardizations this module writes
    (:data:`STANDARDIZATIONS`), encoding takes a faster route over UTF-8 bytes with the same
    vocabulary (faster than ``encode_batch``: bench/encode_speed.py; and it never tokenizes past
    ``sequence_length`` words' worth of lookups); tests check both routes give the same ids.
    Other tokenizers go through ``encode_batch``.
    """

    def __init__(self, tokenizer: Tokenizer, sequence_length: int) -> None:
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        tokenizer.enable_truncation(max_length=sequence_length)
        tokenizer.enable_padding(direction="right", pad_id=0, pad_token=PAD,
                                 length=sequence_length)
        # the byte route (vocabulary by UTF-8 bytes, word splitter), for our own standardizations
        self._byte_vocab: dict[bytes, int] | None = None
        self._whole: Tokenizer | None = None  # for windows, when the byte route does not apply
        self._words: Callable[[str, int | None], list[bytes]] = _tutorial_words
        standardize = _standardization(tokenizer)
        if standardize:
            self._byte_vocab = {t.encode("utf-8"): i for t, i in tokenizer.get_vocab().items()}
            self._words = WORDS[standardize]

    @classmethod
    def build(cls, texts: Sequence[str], config: TextConfig,
              dtype: DTypeLike | None = np.int64) -> tuple[TextEncoder, np.ndarray]:
        """Learn the vocabulary from ``texts`` (training texts only); return the encoder and
        ``texts`` encoded with it (as ``dtype``; None: the smallest type the vocabulary fits,
        see :func:`id_dtype`)."""
        vocab = keras_order(count_tokens(texts, config.standardize), config.max_tokens)
        if config.lexicon:
            vocab += [t for t in lexicon_tokens(config) if t not in set(vocab)]
        encoder = cls.from_vocabulary(vocab, config)
        return encoder, encoder.encode(texts, id_dtype(len(vocab)) if dtype is None else dtype)

    @classmethod
    def from_vocabulary(cls, vocab: Iterable[str], config: TextConfig) -> TextEncoder:
        tokens = list(vocab)
        if tokens[:2] != [PAD, UNK]:
            raise UserError(f"a vocabulary must start with {PAD!r}, {UNK!r}")
        index = {t: i for i, t in enumerate(tokens)}
        if len(index) != len(tokens):
            raise UserError("the vocabulary has duplicate tokens")
        return cls(_bare_tokenizer(index, config.standardize), config.sequence_length)

    @classmethod
    def from_json(cls, text: str, sequence_length: int) -> TextEncoder:
        """The encoder for a ``tokenizer.json``'s contents."""
        try:
            tok = Tokenizer.from_str(text)
        except Exception as exc:  # tokenizers raises plain Exception on bad JSON
            raise UserError(f"unreadable tokenizer.json: {str(exc).splitlines()[0]}") from None
        return cls(tok, sequence_length)

    def save(self, path: Path) -> None:
        self.tokenizer.save(str(path))

    def to_json(self) -> str:
        return self.tokenizer.to_str()

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def vocabulary(self) -> list[str]:
        vocab = self.tokenizer.get_vocab()
        return sorted(vocab, key=vocab.__getitem__)

    def encode(self, texts: Sequence[str], dtype: DTypeLike = np.int64) -> np.ndarray:
        """``[N, sequence_length]`` ids, padded/truncated at the end.

        ``texts`` is read once, in order, so it may read its items from disk as it goes.
        ``dtype`` (int64 by default, what the network takes) may be any integer type that holds
        the vocabulary's ids: :func:`id_dtype` gives the smallest.
        """
        if self._byte_vocab is None:
            return self.encode_with_tokenizer(texts).astype(dtype, copy=False)
        length = self.sequence_length
        out = np.zeros((len(texts), length), dtype=dtype)
        lookup, words = self._byte_vocab.get, self._words
        items = iter(texts)
        for start in range(0, len(out), _ENCODE_CHUNK):  # bounded memory for long inputs
            rows = [words(text, length) for text in islice(items, _ENCODE_CHUNK)]
            counts = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
            # One pass of C-level lookups over every word (1 = [UNK]), then one scatter into
            # the padded rows: row-major order puts each row's ids at its start.
            ids = np.fromiter(map(lookup, chain.from_iterable(rows), repeat(1)),
                              dtype=np.int64, count=int(counts.sum()))
            out[start : start + len(rows)][np.arange(length) < counts[:, None]] = ids
        return out

    def encode_windows(self, texts: Sequence[str], dtype: DTypeLike = np.int64
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Every token of each text, in windows of ``sequence_length``: ``ids`` ``[M, L]`` (a
        text's windows one after the other, its last padded at the end; a text with no tokens
        has one empty window) and ``owner`` ``[M]``, the index of the text each window is from.
        A text of at most ``sequence_length`` tokens is one window, its row as :meth:`encode`
        gives it."""
        length = self.sequence_length
        parts, owners, done = [], [], 0
        items = iter(texts)
        while chunk := list(islice(items, _ENCODE_CHUNK)):
            ids, counts = self._all_ids(chunk)
            windows = np.maximum(1, -(-counts // length))
            first = np.cumsum(windows) - windows  # each text's first window
            within = np.arange(len(ids)) - np.repeat(np.cumsum(counts) - counts, counts)
            out = np.zeros((int(windows.sum()), length), dtype=dtype)
            out[np.repeat(first, counts) + within // length, within % length] = ids
            parts.append(out)
            owners.append(np.repeat(np.arange(done, done + len(chunk)), windows))
            done += len(chunk)
        if not parts:
            return np.zeros((0, length), dtype=dtype), np.zeros(0, dtype=np.int64)
        return np.concatenate(parts), np.concatenate(owners)

    def _all_ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every id of ``texts`` end to end, and how many each text has."""
        if self._byte_vocab is None:
            if self._whole is None:  # the tokenizer without truncation or padding
                self._whole = Tokenizer.from_str(self.tokenizer.to_str())
                self._whole.no_truncation()
                self._whole.no_padding()
            rows = [e.ids for e in self._whole.encode_batch([_valid_unicode(t) for t in texts])]
            lookup = None
        else:
            rows = [self._words(text, None) for text in texts]
            lookup = self._byte_vocab.get
        counts = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        flat = chain.from_iterable(rows)
        ids = np.fromiter(flat if lookup is None else map(lookup, flat, repeat(1)),
                          dtype=np.int64, count=int(counts.sum()))
        return ids, counts

    def encode_with_tokenizer(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`encode` through the Hugging Face tokenizer itself (the reference route)."""
        if not texts:
            return np.zeros((0, self.sequence_length), dtype=np.int64)
        encodings = self.tokenizer.encode_batch([_valid_unicode(t) for t in texts])
        flat = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64,
                           count=len(texts) * self.sequence_length)
        return flat.reshape(len(texts), self.sequence_length)

    def tokens(self, text: str) -> list[str]:
        """The standardized words of ``text`` (before vocabulary lookup, not truncated)."""
        if self._byte_vocab is not None:
            return [w.decode("utf-8", "replace") for w in self._words(text)]
        normalized = self.tokenizer.normalizer.normalize_str(_valid_unicode(text))
        return [w for w, _ in self.tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]
