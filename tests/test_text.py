"""text.py against TensorFlow/Keras 2.15 outputs recorded in tests/fixtures/keras_truth/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_sentiment import data
from lstm_sentiment.config import TextConfig
from lstm_sentiment.text import (
    PAD,
    STANDARDIZATIONS,
    UNK,
    TextEncoder,
    count_tokens,
    id_dtype,
    keras_order,
)

TRUTH = Path(__file__).parent / "fixtures" / "keras_truth"
PINS = json.loads((TRUTH / "pins.json").read_text())
CASES = json.loads((TRUTH / "standardize_cases.json").read_text())["cases"]


def encoder_for(vocab: list[str], length: int = 228) -> TextEncoder:
    return TextEncoder.from_vocabulary([PAD, UNK, *vocab],
                                       TextConfig(max_tokens=len(vocab) + 2,
                                                  sequence_length=length))


@pytest.mark.parametrize("case", CASES, ids=[repr(c["input"][:20]) for c in CASES])
def test_standardize_and_split_like_tensorflow(case: dict) -> None:
    assert encoder_for(["x"]).tokens(case["input"]) == case["tokens"]


def test_fast_route_equals_the_tokenizer() -> None:
    texts = [c["input"] for c in CASES] + PINS["vocab_corpus"] + ["", "  ", "\ud800 lone"]
    encoder, _ = TextEncoder.build(PINS["vocab_corpus"] + texts[:20], TextConfig(max_tokens=60,
                                                                               sequence_length=9))
    assert encoder._byte_vocab is not None  # the tutorial pipeline takes the fast route
    np.testing.assert_array_equal(encoder.encode(texts), encoder.encode_with_tokenizer(texts))


@pytest.mark.parametrize("standardize", STANDARDIZATIONS)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=80) |
                st.sampled_from(["<br />", "<BR />", "A.B", "x\u00a0y", "\x1c", "É!", "don't",
                                 "“Great”…!!", "a—b–c", "<br/>", "¿¡«»", "e\u0301.",
                                 "Sooooo GOOD😍😍", "👍🏽", "❤️x", "aa\u200da", "baaad!!!",
                                 "🇫🇷", "☕️ok", "AAAA", "zzzZZZ"]),
                max_size=8))
@settings(max_examples=150, deadline=None)
def test_fast_route_equals_the_tokenizer_on_any_text(standardize: str, parts: list[str]) -> None:
    routes = _ROUTES[standardize]
    assert routes._byte_vocab is not None
    text = " ".join(parts)
    np.testing.assert_array_equal(routes.encode([text]), routes.encode_with_tokenizer([text]))
    normalized = routes.tokenizer.normalizer.normalize_str(text)
    assert routes.tokens(text) == \
        [w for w, _ in routes.tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]


_ROUTES = {name: TextEncoder.build(PINS["vocab_corpus"] + ["a b c x y é É ! . “ … don ' t",
                                                             "soo good 😍 👍 ❤ baad"],
                                   TextConfig(standardize=name, max_tokens=30,
                                              sequence_length=12))[0]
           for name in STANDARDIZATIONS}


def test_punctuation_standardization_keeps_marks_as_words() -> None:
    encoder, _ = TextEncoder.build(["x"], TextConfig(standardize="punctuation"))
    assert encoder.tokens("GREAT film!!<br />I didn't “love” it…") == [
        "great", "film", "!", "!", "i", "didn", "'", "t", "“", "love", "”", "it", "…"]


def test_other_tokenizers_use_the_tokenizer_route(tmp_path: Path) -> None:
    from tokenizers import normalizers

    encoder = encoder_for(["good"], length=4)
    encoder.tokenizer.normalizer = normalizers.Lowercase()  # no longer the tutorial pipeline
    other = TextEncoder(encoder.tokenizer, 4)
    assert other._byte_vocab is None
    assert other.encode(["GOOD Émile good"]).tolist() == [[2, 1, 2, 0]]


def test_tie_rule_on_crafted_counts() -> None:
    counts = {"b": 2, "a": 2, "c": 1, "é": 2, "z": 2, "zz": 5}
    # count descending; equal counts in descending UTF-8 byte order (é = C3 A9 > z > b > a)
    assert keras_order(counts, 7) == [PAD, UNK, "zz", "é", "z", "b", "a"]
    assert keras_order(counts, 4) == [PAD, UNK, "zz", "é"]  # the cut-off keeps the tie's top


@pytest.mark.parametrize("max_tokens", [5, 8, 12, 40])
def test_vocabulary_equals_keras_on_crafted_corpus(max_tokens: int) -> None:
    encoder, _ = TextEncoder.build(PINS["vocab_corpus"], TextConfig(max_tokens=max_tokens))
    keras = PINS[f"vocab_max{max_tokens}"]
    assert encoder.vocabulary[2:] == keras[2:]
    assert keras[:2] == ["", "[UNK]"]


def test_encoding_equals_keras_and_build_reuses_it() -> None:
    config = TextConfig(max_tokens=40, sequence_length=6)
    encoder, built_ids = TextEncoder.build(PINS["vocab_corpus"], config)
    ids = encoder.encode(PINS["vocab_corpus"])
    assert ids.tolist() == PINS["encoded_max40_len6"]
    np.testing.assert_array_equal(built_ids, ids)


def test_encode_shapes_padding_and_unknown() -> None:
    enc = encoder_for(["good", "bad"], length=5)
    ids = enc.encode(["Good good GOOD movie", "", "bad " * 10, "ünknown"])
    assert ids.dtype == np.int64 and ids.shape == (4, 5)
    assert ids.tolist() == [[2, 2, 2, 1, 0], [0] * 5, [3] * 5, [1, 0, 0, 0, 0]]
    assert enc.encode([]).shape == (0, 5)


def test_count_tokens_counts_every_occurrence() -> None:
    assert count_tokens(["a a b", "B c<br />d", "", "É é"]) == {"a": 2, "b": 2, "cd": 1,
                                                                 "É": 1, "é": 1}


def test_tokenizer_json_alone_reproduces_encoding(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    encoder, _ = TextEncoder.build(PINS["vocab_corpus"], TextConfig(max_tokens=40,
                                                                     sequence_length=6))
    encoder.save(tmp_path / "tokenizer.json")
    plain = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))  # no lstm_sentiment code
    ids = [e.ids for e in plain.encode_batch(PINS["vocab_corpus"])]
    assert ids == PINS["encoded_max40_len6"]


def test_full_imdb_vocabulary_and_ids_equal_keras(full_imdb: Path) -> None:
    keras_vocab = json.loads((TRUTH / "vocab.json").read_text())
    encoded = json.loads((TRUTH / "encoded.json").read_text())
    train = data.load(full_imdb, "train")
    encoder, _ = TextEncoder.build(train.texts, TextConfig())
    assert len(keras_vocab) == encoder.vocab_size == 15_000
    assert encoder.vocabulary[2:] == keras_vocab[2:]
    rows = encoded["validation_first50"]
    texts = [(full_imdb / r["path"]).read_text(encoding="utf-8") for r in rows]
    assert encoder.encode(texts).tolist() == [r["ids"] for r in rows]
    val_texts = data.load(full_imdb, "validation").texts
    np.testing.assert_array_equal(encoder.encode(val_texts),
                                  encoder.encode_with_tokenizer(val_texts))
    sentences = encoded["tutorial_sentences"]
    assert encoder.encode([s["text"] for s in sentences]).tolist() == \
        [s["ids"] for s in sentences]


def test_punctuation_routes_agree_on_the_whole_validation_set(full_imdb: Path) -> None:
    """The accurate preset's text: the byte route and tokenizer.json give the same ids for
    every validation review, whole (1,000 tokens)."""
    val_texts = data.load(full_imdb, "validation").texts
    config = TextConfig(standardize="punctuation", max_tokens=30_000, sequence_length=1_000)
    encoder, fast = TextEncoder.build(val_texts, config)
    assert encoder._byte_vocab is not None and "!" in encoder.vocabulary
    np.testing.assert_array_equal(fast, encoder.encode_with_tokenizer(val_texts))


def test_compact_ids_hold_the_same_numbers() -> None:
    assert id_dtype(15_000) == np.int16 and id_dtype(1 << 15) == np.int16
    assert id_dtype((1 << 15) + 1) == np.int32
    encoder, wide = TextEncoder.build(PINS["vocab_corpus"], TextConfig(max_tokens=60))
    _, narrow = TextEncoder.build(PINS["vocab_corpus"], TextConfig(max_tokens=60), np.int16)
    assert wide.dtype == np.int64 and narrow.dtype == np.int16
    np.testing.assert_array_equal(narrow, wide)
    np.testing.assert_array_equal(encoder.encode(PINS["vocab_corpus"], np.int16), wide)


@pytest.mark.parametrize("standardize", STANDARDIZATIONS)
@given(st.lists(st.sampled_from(["a", "B", " ", "\t", "\n", "\x0b", ".", "<br />", "é", "…"]),
                max_size=60), st.integers(min_value=0, max_value=12))
@settings(max_examples=300, deadline=None)
def test_word_limit_keeps_the_first_words(standardize: str, parts: list[str],
                                          limit: int) -> None:
    from lstm_sentiment.text import WORDS

    words = WORDS[standardize]
    text = "".join(parts)
    assert words(text, limit) == words(text)[:limit]


def test_encoding_in_chunks_gives_each_text_its_own_row(monkeypatch: pytest.MonkeyPatch) -> None:
    import lstm_sentiment.text as text_mod

    encoder, whole = TextEncoder.build(PINS["vocab_corpus"], TextConfig(max_tokens=60))
    monkeypatch.setattr(text_mod, "_ENCODE_CHUNK", 3)
    texts = list(PINS["vocab_corpus"]) + ["", "a b c"] * 4
    chunked = encoder.encode(OnceList(texts))
    for row, text in zip(chunked, texts, strict=True):
        np.testing.assert_array_equal(row, encoder.encode([text])[0])
    np.testing.assert_array_equal(chunked[: len(whole)], whole)


class OnceList(list):
    """A list of texts that may be iterated once only (as a file-backed sequence is read)."""

    def __iter__(self):
        assert not getattr(self, "_read", False), "texts read twice"
        self._read = True
        return super().__iter__()


def test_everyday_standardization_reads_informal_writing() -> None:
    encoder, _ = TextEncoder.build(["x"], TextConfig(standardize="everyday"))
    # an emoji reads as its name in VADER's list; a pictograph with none is a word of its own
    assert encoder.tokens("Sooooo GOOD😍 👍🏽 ❤️x!! baaad <br />10/10 🇫") == [
        "soo", "good", "smiling", "face", "with", "heart", "-", "eyes", "thumbs", "up", "red",
        "heart", "x", "!", "!", "baad", "10", "/", "10", "🇫"]
    assert encoder.tokens("don't") == ["don", "'", "t"]  # as the punctuation standardization
