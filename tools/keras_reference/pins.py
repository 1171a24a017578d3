"""Pin Keras 2's split and vocabulary on small inputs, for tests/fixtures/keras_truth/pins.json.

Run once in a throwaway venv with TensorFlow (never in CI):

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu==2.15.1
    /tmp/tfvenv/bin/python tools/keras_reference/pins.py tests/fixtures/keras_truth/pins.json

The small folder and corpus are built here from fixed lists, and rebuilt the same way by the tests.
"""

import json
import re
import string
import sys
import tempfile
from pathlib import Path

import tensorflow as tf
from keras.src.utils import dataset_utils

# file names chosen to exercise sorting: numeric-looking names sort as strings, upper-case
# suffixes count, other suffixes do not, and sub-folders are walked
SPLIT_FILES = {
    "neg": ["1_1.txt", "10_2.txt", "2_3.txt", "100_1.txt", "B.TXT", "a.txt", "skip.md",
            "sub/z_1.txt", "sub/0_4.txt", "11_1.txt", "9_2.txt"],
    "pos": ["5_9.txt", "50_8.txt", "0_7.txt", "sub2/x.txt", "7_10.txt", "77_7.txt", "8_8.txt",
            "a_10.txt", "Z.txt"],
}

VOCAB_CORPUS = [
    "b b a a c d d d",
    "The THE the Émile émile ÉMILE z z é é",
    "tie1 tie2 tie3 tie1 tie2 tie3 Zeta zeta",
    "punct! isn't <br />gone<BR />now; a—b “q” x\u00a0y\tw",
]


def remove_br(input_data):
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", "")
    return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")


def main(out: str) -> None:
    pins: dict = {"split_files": SPLIT_FILES, "vocab_corpus": VOCAB_CORPUS}
    with tempfile.TemporaryDirectory() as tmp:
        for cls, names in SPLIT_FILES.items():
            for name in names:
                p = Path(tmp, cls, name)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(f"{cls} {name}")
        for seed, split in [(100, 0.25), (7, 0.4)]:
            paths, labels, _ = dataset_utils.index_directory(
                tmp, "inferred", formats=(".txt",), shuffle=True, seed=seed)
            rel = [str(Path(p).relative_to(tmp)) for p in paths]
            for subset in ("training", "validation"):
                got, _ = dataset_utils.get_training_or_validation_split(
                    rel, labels, split, subset)
                pins[f"split_seed{seed}_{subset}"] = list(got)
    for max_tokens in (5, 8, 12, 40):
        layer = tf.keras.layers.TextVectorization(max_tokens=max_tokens, standardize=remove_br)
        layer.adapt(tf.constant(VOCAB_CORPUS))
        pins[f"vocab_max{max_tokens}"] = layer.get_vocabulary()
    layer = tf.keras.layers.TextVectorization(max_tokens=40, standardize=remove_br,
                                              output_sequence_length=6)
    layer.adapt(tf.constant(VOCAB_CORPUS))
    pins["encoded_max40_len6"] = layer(tf.constant(VOCAB_CORPUS)).numpy().tolist()
    Path(out).write_text(json.dumps(pins, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
