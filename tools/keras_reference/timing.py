"""Time the Keras 2.15 tutorial end to end on this machine, as a baseline for our own speed.

Builds the tutorial's datasets, adapts its TextVectorization, trains the tutorial model for two
epochs and times adapt, each epoch (validation included) and single-sentence prediction, both with
model.predict and with a direct model call (the first call of each is a warm-up and left out of the
medians).

Run once, in a throwaway TensorFlow venv (never in CI):

    /tmp/tfvenv/bin/python tools/keras_reference/timing.py --imdb /tmp/imdb_keras OUT/timing.json

Output: timing.json (machine, seconds, training history, final probability), also printed. It is a
record only, no test reads it; the numbers depend on the machine.
"""

import argparse
import json
import os
import platform
import re
import string
import time

import numpy as np
import tensorflow as tf

SENTENCE = "This movie is fantastic! I really like it because it is so good!"
REPEATS = 21  # the first one is a warm-up


def remove_br(input_data):
    """The tutorial's custom standardization, verbatim."""
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", "")
    return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")


class EpochTimer(tf.keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imdb", default="/tmp/imdb_keras",
                    help="folder holding train/neg and train/pos only (default: %(default)s)")
    ap.add_argument("out", help="where to write timing.json")
    args = ap.parse_args()
    root = os.path.join(args.imdb, "train")

    training_ds = tf.keras.preprocessing.text_dataset_from_directory(
        directory=root, batch_size=100, subset="training", validation_split=0.25, seed=100)
    validation_ds = tf.keras.preprocessing.text_dataset_from_directory(
        directory=root, batch_size=100, subset="validation", validation_split=0.25, seed=100)
    t0 = time.perf_counter()
    layer = tf.keras.layers.TextVectorization(
        max_tokens=15000, output_mode="int", output_sequence_length=228, standardize=remove_br)
    layer.adapt(training_ds.map(lambda x, y: x))
    t_adapt = time.perf_counter() - t0

    model = tf.keras.Sequential([
        layer,
        tf.keras.layers.Embedding(15000, 16, input_length=228),
        tf.keras.layers.LSTM(32),
        tf.keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
    timer = EpochTimer()
    hist = model.fit(training_ds, validation_data=validation_ds, epochs=2, callbacks=[timer],
                     verbose=2)

    lat = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        p = model.predict(tf.constant([SENTENCE]), verbose=0)
        lat.append(time.perf_counter() - t)
    lat2 = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        model(tf.constant([SENTENCE]))
        lat2.append(time.perf_counter() - t)

    cpu = platform.processor() or platform.machine()
    machine = f"{cpu}, {os.cpu_count()} CPU cores visible, tensorflow-cpu {tf.__version__}"
    record = {
        "machine": machine,
        "adapt_seconds": t_adapt,
        "seconds_per_epoch_including_validation": timer.times,
        "history": {k: [float(x) for x in v] for k, v in hist.history.items()},
        "predict_single_sentence_median_s_of_20 (model.predict, first call excluded as warm-up)":
            float(np.median(lat[1:])),
        "predict_first_call_s": lat[0],
        "direct_model_call_median_s_of_20": float(np.median(lat2[1:])),
        "sentence": SENTENCE,
        "probability_after_2_epochs": float(p[0, 0]),
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    with open(args.out, encoding="utf-8") as f:
        print(f.read())


if __name__ == "__main__":
    main()
