"""Keras 2.15 trained for several epochs from our seed-S start on our seed-S batch plans.

An analysis tool, not a fixture maker: it extends steps.py's single epoch to a whole run, to
tell a property of a seed's draw (its initial weights and batch order) from a property of our
code. Reads the .npz of ``steps_export.py --seed S --epochs N``, trains the tutorial's model
(compiled as the tutorial does) with one ``train_on_batch`` per batch of every epoch's plan,
and after each epoch evaluates the validation split and saves every weight (Keras layouts).
Writes ``OUT.json`` (per-epoch losses and accuracies, the final validation accuracy by the padding
steps after a review's last word) and ``OUT.npz`` (the weights after each epoch).

    PYTHONPATH=src .venv/bin/python tools/keras_reference/steps_export.py \\
        --source ../shared/data/aclImdb_v1.tar.gz --seed 3 --epochs 10 /tmp/replay3_in.npz
    /tmp/tfvenv/bin/python tools/keras_reference/replay.py /tmp/replay3_in.npz /tmp/replay3
"""

import json
import sys

import numpy as np
import tensorflow as tf

NAMES = ("embeddings", "kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")
PAD_BUCKETS = ((0, 0), (1, 49), (50, 149), (150, 228))  # as bench/seed_keras_seeds.py


def main(inp: str, out: str) -> None:
    src = np.load(inp)
    batch = int(src["batch_size"])
    ids, labels, orders = src["train_ids"], src["train_labels"], src["orders"]
    val_ids, val_labels = src["val_ids"].astype(np.int64), src["val_labels"]
    vocab, dim = src["embeddings"].shape
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(ids.shape[1],), dtype="int64"),
        tf.keras.layers.Embedding(input_dim=vocab, output_dim=dim),
        tf.keras.layers.LSTM(src["recurrent_kernel"].shape[0]),
        tf.keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
    model.set_weights([src[name] for name in NAMES])
    epochs, weights = [], {}
    for e, order in enumerate(orders):
        losses, sizes = [], []
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            logs = model.train_on_batch(ids[rows].astype(np.int64),
                                        labels[rows].astype(np.float32), return_dict=True)
            losses.append(float(logs["loss"]))
            sizes.append(len(rows))
        val = model.evaluate(val_ids, val_labels.astype(np.float32), batch_size=256,
                             verbose=0, return_dict=True)
        epochs.append({"epoch": e + 1, "loss": float(np.dot(losses, sizes) / sum(sizes)),
                       "val_loss": float(val["loss"]), "val_acc": float(val["acc"])})
        for name, w in zip(NAMES, model.get_weights(), strict=True):
            weights[f"epoch{e + 1}/{name}"] = w
        print(json.dumps(epochs[-1]), flush=True)
    probs = model.predict(val_ids, batch_size=256, verbose=0)[:, 0]
    right = (probs > 0.5).astype(int) == val_labels
    pad = val_ids.shape[1] - (val_ids != 0).sum(axis=1)
    buckets = [{"padding": [lo, hi], "n": int(((pad >= lo) & (pad <= hi)).sum()),
                "accuracy": float(right[(pad >= lo) & (pad <= hi)].mean())}
               for lo, hi in PAD_BUCKETS]
    with open(out + ".json", "w") as fh:
        json.dump({"epochs": epochs, "validation_by_padding": buckets,
                   "versions": {"tensorflow": tf.__version__}}, fh, indent=1)
    np.savez(out + ".npz", **weights)
    print(f"wrote {out}.json and {out}.npz")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
