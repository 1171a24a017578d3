"""Record the tutorial's adapted vocabulary and a set of encodings, as Keras 2.15 produces them.

Adapts TextVectorization(max_tokens=15000, output_sequence_length=228, standardize=remove_br) on
the tutorial's training dataset, exactly as the tutorial does, then:

* counts every token of the training split again by hand and checks which ordering rule reproduces
  the vocabulary (count descending, ties broken by token bytes descending), recording the tokens
  around the 15000 cut-off;
* encodes the first 50 validation reviews and the tutorial's example sentences with the adapted
  layer, and checks a pure-Python re-encoding from the vocabulary gives the same ids.

Run once, in a throwaway TensorFlow venv (never in CI), after split.py:

    /tmp/tfvenv/bin/python tools/keras_reference/vocab.py \\
        --split OUT/split.json --imdb /tmp/imdb_keras --counts OUT/token_counts.json \\
        tests/fixtures/keras_truth

Output: vocab.json and encoded.json in the given folder (the test fixtures in
tests/fixtures/keras_truth/), and token_counts.json at --counts (the counts around the cut-off; a
record only, no test reads it).
"""

import argparse
import collections
import json
import os
import re
import string

import numpy as np
import tensorflow as tf
from tensorflow.keras.layers import TextVectorization

MAX_TOKENS = 15000
SEQ_LEN = 228
KEPT = MAX_TOKENS - 2  # the vocabulary also holds "" (padding) and "[UNK]"
AROUND_CUT = 300
SENTENCES = [
    "This movie is fantastic! I really like it because it is so good!",
    "Not a good movie!",
    "The movie was great!",
    "This movie really sucks! Can I get my money back please?",
    "The movie was terrible...",
    "This is a confused movie.",
]
COUNTS_NOTE = (
    "counts = occurrences over the 18750 training-split texts after remove_br + tf.strings.split "
    "(whitespace). Keras sort: np.lexsort((tokens, counts))[::-1] -> count DESC, ties broken by "
    "token BYTES DESC (reverse lexicographic on UTF-8 bytes); then first max_tokens-2 = 14998 kept."
)
ENCODED_NOTE = (
    "layer(tf.constant([...])) int64 output, length 228, post-padded with 0, truncated to first "
    "228 tokens; OOV=1"
)


def remove_br(input_data):
    """The tutorial's custom standardization, verbatim."""
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", "")
    return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")


def decode(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def write_json(path: str, obj: object, **kwargs: object) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, **kwargs)


def adapt_layer(train_root: str) -> TextVectorization:
    """The tutorial's TextVectorization, adapted on its training dataset."""
    training_ds = tf.keras.preprocessing.text_dataset_from_directory(
        directory=train_root, batch_size=100, subset="training", validation_split=0.25, seed=100)
    layer = TextVectorization(max_tokens=MAX_TOKENS, output_mode="int",
                              output_sequence_length=SEQ_LEN, standardize=remove_br)
    layer.adapt(training_ds.map(lambda x, y: x))
    return layer


def count_tokens(texts: list[bytes]) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for i in range(0, len(texts), 500):
        tokens = tf.strings.split(remove_br(tf.constant(texts[i:i + 500])))
        counts.update(tokens.flat_values.numpy().tolist())
    return counts


def record_counts(vocab: list[str], texts: list[bytes], out_path: str) -> None:
    """Check the ordering rule against `vocab` and write the counts around the cut-off."""
    bad = 0
    for b in texts:
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
    print("train files not valid utf-8:", bad)
    cnt = count_tokens(texts)
    print("distinct tokens", len(cnt), "has empty token", b"" in cnt, "has [unk]", b"[UNK]" in cnt)

    # the Keras rule: count descending, then token bytes descending
    order = sorted(cnt.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    pred = ["", "[UNK]"] + [decode(k) for k, _ in order[:KEPT]]
    print("vocab == (count desc, token-bytes desc) rule:", pred == vocab)
    # the obvious alternative: ties ascending
    order_asc = sorted(cnt.items(), key=lambda kv: (-kv[1], kv[0]))
    pred2 = ["", "[UNK]"] + [decode(k) for k, _ in order_asc[:KEPT]]
    print("vocab == (count desc, token asc) rule:", pred2 == vocab,
          " same SET as asc rule:", set(pred2) == set(vocab))

    last = [{"index": MAX_TOKENS - AROUND_CUT + i, "token": decode(k), "count": c}
            for i, (k, c) in enumerate(order[KEPT - AROUND_CUT:KEPT])]
    assert [x["token"] for x in last] == vocab[-AROUND_CUT:]
    nxt = [{"rank_after_cut": i, "token": decode(k), "count": c}
           for i, (k, c) in enumerate(order[KEPT:KEPT + AROUND_CUT])]
    cut = order[KEPT - 1][1]
    write_json(out_path, {
        "note": COUNTS_NOTE,
        "count_of_last_kept_token": cut,
        "num_tokens_with_cutoff_count_total": sum(1 for v in cnt.values() if v == cut),
        "num_tokens_with_cutoff_count_kept": sum(1 for _, v in order[:KEPT] if v == cut),
        "distinct_tokens_in_training_split": len(cnt),
        "total_tokens_in_training_split": sum(cnt.values()),
        "last_300_in_vocab": last,
        "first_300_not_in_vocab": nxt,
    }, indent=0)
    print("cut count", cut, "last kept", last[-3:], "first dropped", nxt[:3])
    print("top-10 counts", [(decode(k), c) for k, c in order[:10]])


def record_encoded(layer: TextVectorization, vocab: list[str], split: dict, imdb: str,
                   out_path: str) -> None:
    """Encode 50 validation reviews and the example sentences; cross-check in pure Python."""
    vpaths = split["validation"][:50]
    vtexts = [read_bytes(os.path.join(imdb, p)) for p in vpaths]
    enc_v = layer(tf.constant(vtexts)).numpy()
    enc_s = layer(tf.constant(SENTENCES)).numpy()
    print(enc_v.shape, enc_s.shape, enc_s[1][:8])

    idx = {t: i for i, t in enumerate(vocab)}

    def py_enc(b: bytes) -> list[int]:
        tokens = tf.strings.split(remove_br(tf.constant([b]))).flat_values.numpy().tolist()
        ids = [idx.get(decode(t), 1) for t in tokens][:SEQ_LEN]
        return ids + [0] * (SEQ_LEN - len(ids))

    inputs = vtexts + [s.encode() for s in SENTENCES]
    rows = np.concatenate([enc_v, enc_s]).tolist()
    print("python re-encode matches:",
          all(py_enc(b) == list(r) for b, r in zip(inputs, rows, strict=True)))
    write_json(out_path, {
        "note": ENCODED_NOTE,
        "validation_first50": [
            {"path": p, "label": int(label), "ids": r.tolist()}
            for p, label, r in zip(vpaths, split["validation_labels"][:50], enc_v, strict=True)],
        "tutorial_sentences": [
            {"text": s, "ids": r.tolist()} for s, r in zip(SENTENCES, enc_s, strict=True)],
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="/tmp/keras_truth/split.json",
                    help="split.json written by split.py (default: %(default)s)")
    ap.add_argument("--imdb", default="/tmp/imdb_keras",
                    help="folder holding train/neg and train/pos only; the paths in split.json "
                         "are relative to it (default: %(default)s)")
    ap.add_argument("--counts", default="/tmp/keras_truth/token_counts.json",
                    help="where to write token_counts.json (default: %(default)s)")
    ap.add_argument("out_dir", help="folder to write vocab.json and encoded.json into")
    args = ap.parse_args()

    layer = adapt_layer(os.path.join(args.imdb, "train"))
    vocab = layer.get_vocabulary()
    print(len(vocab), vocab[:32])
    write_json(os.path.join(args.out_dir, "vocab.json"), vocab)

    with open(args.split, encoding="utf-8") as f:
        split = json.load(f)
    texts = [read_bytes(os.path.join(args.imdb, p)) for p in split["train"]]
    record_counts(vocab, texts, args.counts)
    record_encoded(layer, vocab, split, args.imdb, os.path.join(args.out_dir, "encoded.json"))


if __name__ == "__main__":
    main()
