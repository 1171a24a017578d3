"""Encoding speed: the byte-level route against the Hugging Face tokenizer, per standardization.

``TextEncoder.encode`` takes a route over UTF-8 bytes (``bytes.translate``, ``bytes.split``,
``bytes.replace`` per punctuation mark) for the standardizations this package writes, and tests
hold it equal to ``tokenizer.json`` run by Hugging Face ``tokenizers`` (``encode_batch``). This
measures both routes on the validation reviews of the tutorial's split, for each standardization,
with the vocabulary learned from the training reviews, and, for the punctuation route, spacing
out only the marks a text has against trying every mark and against one regular expression;
for the everyday route, its emoji and letter-run steps as shipped (``str.translate``, an array
test for runs) against regular expressions for both.
Writes bench/results/encode_speed.json.

    python bench/encode_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import re
import string
from typing import Any

from common import default_source, fastest, write

from lstm_sentiment import data, lexicon
from lstm_sentiment.config import TextConfig
from lstm_sentiment.text import PICTOGRAPHS, PRESENTATION, STANDARDIZATIONS, WORDS, TextEncoder

TITLE = "Encoding speed"
ORDER = 58
MARKS = string.punctuation.encode()
_MARK_RE = re.compile(b"([" + re.escape(MARKS) + b"])")


def _every_mark(text: str) -> list[bytes]:
    raw = text.encode("utf-8", "surrogatepass").lower().replace(b"<br />", b" ")
    for mark in MARKS:
        raw = raw.replace(bytes([mark]), b" " + bytes([mark]) + b" ")
    return raw.split()


def _one_regex(text: str) -> list[bytes]:
    raw = text.encode("utf-8", "surrogatepass").lower().replace(b"<br />", b" ")
    return _MARK_RE.sub(rb" \1 ", raw).split()


def _everyday_regex(text: str) -> list[bytes]:
    """The everyday words with regular expressions for the emoji (one class of every emoji)
    and for runs of a letter (searched in every text): the same words, by the slower way."""
    if not text.isascii():
        text = _EMOJI.sub(lambda m: f" {_NAMES[m.group()]} ", _PRESENTATION.sub("", text))
        text = _PICTOGRAPH.sub(r" \g<0> ", text)
    joined = b" ".join(WORDS["punctuation"](text))
    if _RUNS.search(joined):
        return _RUNS.sub(rb"\1\1", joined).split()
    return joined.split()


_NAMES = lexicon.emoji_names()
_EMOJI = re.compile("[" + "".join(re.escape(e) for e in _NAMES) + "]")
_PRESENTATION, _PICTOGRAPH = re.compile(PRESENTATION), re.compile(PICTOGRAPHS)
_RUNS = re.compile(rb"([a-z])\1\1+")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--quick", action="store_true", help="1,000 reviews")
    args = ap.parse_args()
    root = data.fetch(args.source)
    train = list(data.load(root, "train").texts)
    texts = list(data.load(root, "validation").texts)
    if args.quick:
        texts = texts[:1000]
    result: dict[str, Any] = {"reviews": len(texts), "standardizations": {}}
    for name in STANDARDIZATIONS:
        config = TextConfig(standardize=name, max_tokens=30_000, sequence_length=1_000)
        encoder, _ = TextEncoder.build(train, config)
        byte_route = fastest(lambda e=encoder: e.encode(texts))
        tokenizer = fastest(lambda e=encoder: e.encode_with_tokenizer(texts), 1)
        result["standardizations"][name] = {
            "byte_route_us": 1e6 * byte_route / len(texts),
            "tokenizer_us": 1e6 * tokenizer / len(texts),
            "speedup": tokenizer / byte_route}
        print(f"{name}: byte route {1e6 * byte_route / len(texts):.1f} us/review, tokenizer "
              f"{1e6 * tokenizer / len(texts):.1f} us/review", flush=True)
    words = {"only the marks a text has (as shipped)": WORDS["punctuation"],
             "every mark, one replace each": _every_mark, "one regular expression": _one_regex}
    result["punctuation_words_us"] = {
        label: 1e6 * fastest(lambda f=fn: [f(t) for t in texts]) / len(texts)
        for label, fn in words.items()}
    shipped = [WORDS["everyday"](t) for t in texts]
    if shipped != [_everyday_regex(t) for t in texts]:
        raise SystemExit("the two everyday routes gave different words")
    everyday = {"as shipped (str.translate, an array test for runs)": WORDS["everyday"],
                "regular expressions for emoji and runs": _everyday_regex}
    result["everyday_words_us"] = {
        label: 1e6 * fastest(lambda f=fn: [f(t) for t in texts]) / len(texts)
        for label, fn in everyday.items()}
    write("encode_speed" + ("_quick" if args.quick else ""), result, per_cpu=True)


def render(r: dict[str, Any]) -> str:
    lines = [f"{r['reviews']:,} validation reviews, vocabulary of 30,000 tokens learned from the "
             "training reviews, rows of 1,000 tokens; microseconds per review, fastest of three "
             "(the tokenizer: one run).", "",
             "| standardization | byte route (µs) | `tokenizer.json` via `encode_batch` (µs) | "
             "byte route's speed-up |", "|---|---|---|---|"]
    for name, x in r["standardizations"].items():
        lines.append(f"| {name} | {x['byte_route_us']:.1f} | {x['tokenizer_us']:.1f} | "
                     f"{x['speedup']:.1f}× |")
    lines += ["", "Splitting a review into the punctuation standardization's words "
              "(µs per review):", "", "| how the marks are spaced out | µs |", "|---|---|"]
    lines += [f"| {label} | {us:.1f} |" for label, us in r["punctuation_words_us"].items()]
    if "everyday_words_us" in r:
        lines += ["", "Splitting a review into the everyday standardization's words, the same "
                  "words either way (µs per review):", "", "| how | µs |", "|---|---|"]
        lines += [f"| {label} | {us:.1f} |" for label, us in r["everyday_words_us"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
