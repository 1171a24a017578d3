"""Record how Keras 2.15 splits the IMDB training folder into the tutorial's train/validation sets.

The tutorial calls text_dataset_from_directory(..., validation_split=0.25, seed=100) once per
subset. This script asks the Keras helpers behind it (dataset_utils.index_directory and
get_training_or_validation_split) for the shuffled file order and the two subsets, checks that the
labels follow the class folders, and then checks against the public API that each subset yields
exactly the same texts.

Run once, in a throwaway TensorFlow venv (never in CI):

    /tmp/tfvenv/bin/python tools/keras_reference/split.py --imdb /tmp/imdb_keras OUT/split.json

--imdb is a folder whose train/ holds only neg/ and pos/ (Keras makes a class of every sub-folder,
so the archive's train/unsup must not be there; `cp -al` the two folders into a fresh tree).

Output: split.json with the train and validation paths (relative to the IMDB folder, in Keras's
order), their labels (neg=0, pos=1) and the SHA-256 of the sorted validation paths. It is not a test
fixture itself: stdcases.py and vocab.py read it, and its validation digest is pinned in
tests/test_data.py (KERAS_VALIDATION_DIGEST).
"""

import argparse
import hashlib
import json
import os

import numpy as np
import tensorflow as tf
from keras.src.utils import dataset_utils

SEED = 100
VALIDATION_SPLIT = 0.25


def texts_of(paths: list[str]) -> list[bytes]:
    """The sorted contents of the given files."""
    texts = []
    for path in paths:
        with open(path, "rb") as f:
            texts.append(f.read())
    return sorted(texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imdb", default="/tmp/imdb_keras",
                    help="folder holding train/neg and train/pos only (default: %(default)s)")
    ap.add_argument("out", help="where to write split.json")
    args = ap.parse_args()
    root = os.path.join(args.imdb, "train")

    paths, labels, class_names = dataset_utils.index_directory(
        root, "inferred", formats=(".txt",), class_names=None, shuffle=True, seed=SEED,
        follow_links=False)
    print(class_names, len(paths), paths[:3])
    train, train_labels = dataset_utils.get_training_or_validation_split(
        paths, labels, VALIDATION_SPLIT, "training")
    val, val_labels = dataset_utils.get_training_or_validation_split(
        paths, labels, VALIDATION_SPLIT, "validation")

    def rel(path: str) -> str:
        return "train/" + os.path.relpath(path, root)

    train_rel = [rel(p) for p in train]
    val_rel = [rel(p) for p in val]
    for path, label in zip(train_rel + val_rel, list(train_labels) + list(val_labels),
                           strict=True):
        assert (path.split("/")[1] == "pos") == (label == 1), (path, label)
    digest = hashlib.sha256(("\n".join(sorted(val_rel)) + "\n").encode()).hexdigest()
    record = {
        "train": train_rel,
        "validation": val_rel,
        "validation_digest": digest,
        "train_labels": [int(x) for x in train_labels],
        "validation_labels": [int(x) for x in val_labels],
        "note": "order = keras.src.utils.dataset_utils.index_directory(shuffle=True, seed=100) "
                "then get_training_or_validation_split(0.25); labels: neg=0, pos=1",
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(record, f)
    print("digest", digest, len(train_rel), len(val_rel), "val pos", int(np.sum(val_labels)),
          "train pos", int(np.sum(train_labels)))

    # The public API gives no file paths in 2.15, so compare the multiset of texts instead.
    for subset, subset_paths in (("training", train), ("validation", val)):
        ds = tf.keras.preprocessing.text_dataset_from_directory(
            directory=root, batch_size=100, subset=subset, validation_split=VALIDATION_SPLIT,
            seed=SEED)
        print(subset, "has file_paths attr:", hasattr(ds, "file_paths"))
        got = []
        for x, _ in ds:
            got.extend(x.numpy().tolist())
        same_multiset = sorted(got) == texts_of(subset_paths)
        print(subset, "n", len(got), "same multiset of texts as index_directory split:",
              same_multiset)


if __name__ == "__main__":
    main()
