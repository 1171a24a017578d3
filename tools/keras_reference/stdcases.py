"""Record what the tutorial's `remove_br` standardization and whitespace split do to tricky text.

Each case goes through remove_br (tf.strings.lower, delete "<br />", delete ASCII punctuation) and
then tf.strings.split, which is what TextVectorization(split="whitespace") runs. The cases cover
non-ASCII case, HTML line breaks, punctuation, every kind of whitespace and control character,
plus five short real reviews from the training split that hold non-ASCII text or "<br />".

Run once, in a throwaway TensorFlow venv (never in CI), after split.py:

    /tmp/tfvenv/bin/python tools/keras_reference/stdcases.py \\
        --split OUT/split.json --imdb /tmp/imdb_keras \\
        tests/fixtures/keras_truth/standardize_cases.json

Output: tests/fixtures/keras_truth/standardize_cases.json (input, standardized text and tokens per
case, plus the punctuation pattern and a note on tf.strings.lower being ASCII-only by default).
"""

import argparse
import json
import os
import re
import string

import tensorflow as tf

CASES = [
    "Hello World", "ÉCOLE école", "ÄÖÜ äöü", "İstanbul ISTANBUL", "ΑΒΓ Δέλτα ΣΟΦΟΣ", "ПРИВЕТ Мир",
    "ß STRASSE ẞ", "ǅ ǈ Ⅻ Ａ",
    "a<br />b", "a<BR />b", "a<br/>b", "a<br>b", "a<br /><br />b", "a <br /> b",
    "<br /><br />The end<br />",
    string.punctuation,
    "don't stop-believing! (really) [yes] {no} a_b a\\b x~y 3.5/10 $100 #1 @me 50% a&b",
    "“quoted” ‘single’ it’s — dash – en … ellipsis « guillemets » ¡hola! ¿qué? ´acute´ `back`",
    "tab\there", "crlf\r\nline", "vt\x0bff\x0cend", "nbsp\xa0here", "em\u2003space",
    "ideo\u3000space", "fs\x1cgs\x1drs\x1eus\x1fend", "nel\x85end", "ls\u2028ps\u2029end",
    "zw\u200bsp", "emoji 😀👍🏽 ok", "nul\x00byte",
    "", "   ", " \t\r\n\x0b\x0c ", "  leading and trailing  ", "multiple    spaces\t\t\ttabs",
    "word\x96dash\x97", "caf\u0065\u0301 (combining) vs café", "ＦＵＬＬＷＩＤＴＨ",
]
N_REVIEWS = 5
NOTE = (
    "remove_br(tf.constant([input.encode('utf-8')])) then tf.strings.split (TextVectorization "
    "split='whitespace' -> tf.strings.split(inputs) with sep=None). TF bytes outputs decoded with "
    ".decode('utf-8', errors='surrogateescape') (no case actually needed the escape; all outputs "
    "were valid UTF-8)."
)


def remove_br(input_data):
    """The tutorial's custom standardization, verbatim."""
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", "")
    return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")


def decode(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def pick_reviews(split_path: str, imdb: str) -> list[tuple[str, str]]:
    """The first N_REVIEWS short training reviews that hold non-ASCII text or "<br />"."""
    with open(split_path, encoding="utf-8") as f:
        split = json.load(f)
    reviews = []
    for path in split["train"]:
        with open(os.path.join(imdb, path), "rb") as f:
            text = f.read().decode("utf-8")
        if len(text) < 700 and (any(ord(c) > 127 for c in text) or "<br />" in text):
            reviews.append((path, text))
        if len(reviews) == N_REVIEWS:
            break
    return reviews


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="/tmp/keras_truth/split.json",
                    help="split.json written by split.py (default: %(default)s)")
    ap.add_argument("--imdb", default="/tmp/imdb_keras",
                    help="folder the paths in split.json are relative to (default: %(default)s)")
    ap.add_argument("out", help="where to write standardize_cases.json")
    args = ap.parse_args()

    reviews = pick_reviews(args.split, args.imdb)
    out = []
    for case in CASES + [text for _, text in reviews]:
        s = remove_br(tf.constant([case.encode("utf-8")]))
        tokens = tf.strings.split(s).flat_values.numpy().tolist()
        out.append({"input": case, "standardized": decode(s.numpy()[0]),
                    "tokens": [decode(t) for t in tokens]})
    for record, (path, _) in zip(out[len(CASES):], reviews, strict=True):
        record["source"] = path

    lower_utf8 = decode(tf.strings.lower("ÉCOLE ÄÖÜ İ Σ", encoding="utf-8").numpy())
    pattern = f"[{re.escape(string.punctuation)}]"
    result = {
        "note": NOTE,
        "punctuation_regex_pattern_as_passed_to_RE2": pattern,
        "tf_strings_lower_default_encoding_is_ascii_only": True,
        "for_comparison_tf_strings_lower_encoding_utf8_of_ÉCOLE_ÄÖÜ_İ_Σ": lower_utf8,
        "cases": out,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
    for record in out[:len(CASES)]:
        print(repr(record["input"]), "->", repr(record["standardized"]), record["tokens"])
    print(pattern, lower_utf8)


if __name__ == "__main__":
    main()
