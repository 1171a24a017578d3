"""Worker for bench/peers.py: the Keras tutorial's own pipeline, timed (run with a TF python).

Runs the tutorial code as published (text_dataset_from_directory with validation_split=0.25 and
seed=100, TextVectorization(15000, 228, remove_br) adapted on the training split, Embedding(16) ->
LSTM(32) -> Dense(1, sigmoid), RMSprop, batch 100) on the IMDB training folder, then measures the
official test accuracy, single-review ``model.predict`` latency (median of 20 after one warm-up
call) and batch throughput (``model.predict`` on the 25,000 test reviews, batch 1000). Keras makes
a class of every sub-folder, so the training folder it reads is a temp folder holding links to
``train/neg`` and ``train/pos`` only (never ``unsup``).

Needs TensorFlow 2.15 (Keras 2); imports nothing from lstm_sentiment. peers.py runs it as

    TF_PYTHON bench/peer_keras.py --imdb ~/.cache/lstm-sentiment/extracted/.../aclImdb \\
        --epochs 10 [--seed N] [--save model.keras] [--out result.json]

(bench/seed_keras_seeds.py runs it once per ``--seed``.)
"""

from __future__ import annotations

import argparse
import os
import re
import string
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from common import dump, median_ms, peak_rss_mb

BENCHMARK = False  # a worker run by peers.py
SENTENCE = "This movie is fantastic! I really like it because it is so good!"


def remove_br(input_data):  # the tutorial's standardization, verbatim
    import tensorflow as tf

    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", "")
    return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")


def _keras_version() -> str:
    try:
        import keras

        return keras.__version__
    except (ImportError, AttributeError):
        return "unknown"


def labelled_folder(imdb: Path, tmp: Path) -> Path:
    """``tmp/train`` holding links to ``imdb/train/neg`` and ``imdb/train/pos`` only."""
    train = tmp / "train"
    train.mkdir()
    for cls in ("neg", "pos"):
        (train / cls).symlink_to((imdb / "train" / cls).resolve(), target_is_directory=True)
    return train


def read_test(imdb: Path) -> tuple[list[bytes], list[int]]:
    texts, labels = [], []
    for label, cls in enumerate(("neg", "pos")):
        for path in sorted((imdb / "test" / cls).glob("*.txt")):
            texts.append(path.read_bytes())
            labels.append(label)
    return texts, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imdb", type=Path, required=True, help="the aclImdb folder")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=1000, help="batch size of the throughput run")
    ap.add_argument("--out", help="write the JSON result here (default: stdout)")
    ap.add_argument("--seed", type=int, help="seed Python, NumPy and TensorFlow (the initial "
                    "weights and the batch order; the split keeps the tutorial's seed 100)")
    ap.add_argument("--save", help="also save the trained model here (.keras)")
    args = ap.parse_args()

    import numpy as np
    import tensorflow as tf

    if args.seed is not None:
        tf.keras.utils.set_random_seed(args.seed)

    class EpochTimer(tf.keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t)

    with tempfile.TemporaryDirectory(prefix="keras-imdb-") as tmp:
        root = labelled_folder(args.imdb, Path(tmp))
        train_ds = tf.keras.preprocessing.text_dataset_from_directory(
            directory=str(root), batch_size=100, subset="training", validation_split=0.25,
            seed=100)
        val_ds = tf.keras.preprocessing.text_dataset_from_directory(
            directory=str(root), batch_size=100, subset="validation", validation_split=0.25,
            seed=100)
        n_train = sum(int(tf.shape(y)[0]) for _, y in train_ds)
        if n_train != 18750:
            raise SystemExit(f"expected 18,750 training reviews, Keras found {n_train}")
        encoder = tf.keras.layers.TextVectorization(
            max_tokens=15000, output_mode="int", output_sequence_length=228,
            standardize=remove_br)
        t_adapt = time.perf_counter()
        encoder.adapt(train_ds.map(lambda x, y: x))
        adapt_seconds = time.perf_counter() - t_adapt

        model = tf.keras.Sequential([
            encoder,
            tf.keras.layers.Embedding(input_dim=15000, input_length=228, output_dim=16),
            tf.keras.layers.LSTM(32),
            tf.keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
        timer = EpochTimer()
        t_fit = time.perf_counter()
        hist = model.fit(train_ds, epochs=args.epochs, validation_data=val_ds, callbacks=[timer],
                         verbose=2)
        fit_seconds = time.perf_counter() - t_fit

    if args.save:
        # a .keras file names the custom standardization as Custom>remove_br, which
        # lstm_sentiment.keras_import recognises
        tf.keras.utils.register_keras_serializable(package="Custom", name="remove_br")(remove_br)
        model.save(args.save)
    texts, labels = read_test(args.imdb)
    test_x = tf.constant(texts)
    model.predict(test_x[:args.batch], batch_size=args.batch, verbose=0)  # warm up
    t = time.perf_counter()
    probs = model.predict(test_x, batch_size=args.batch, verbose=0)[:, 0]
    batch_seconds = time.perf_counter() - t
    test_acc = float(np.mean((probs > 0.5).astype(int) == np.array(labels)))
    one = np.array([SENTENCE])
    single_ms = median_ms(lambda: model.predict(one, verbose=0), repeats=20, warmup=1)
    call_ms = median_ms(lambda: model(tf.constant([SENTENCE])), repeats=20, warmup=1)

    epochs = timer.times
    result = {
        "name": "keras",
        "label": "Keras tutorial (TF 2.15)",
        "epochs": args.epochs,
        "seed": args.seed,
        "n_train": n_train,
        "train_seconds": adapt_seconds + fit_seconds,
        "vocabulary_seconds": adapt_seconds,
        "fit_seconds": fit_seconds,
        "epoch_seconds": float(np.median(epochs)),
        "epoch_seconds_all": epochs,
        "validation_accuracy": float(hist.history["val_acc"][-1]),
        "test_accuracy": test_acc,
        "n_test": len(labels),
        "single_review_latency_ms": single_ms,
        "single_review_direct_call_ms": call_ms,
        "batch_reviews_per_second": len(labels) / batch_seconds,
        "batch_size": args.batch,
        "peak_rss_mb_self": peak_rss_mb(),
        "versions": {"tensorflow": tf.__version__, "keras": _keras_version(),
                     "python": sys.version.split()[0]},
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
        "history": {k: [float(x) for x in v] for k, v in hist.history.items()},
    }
    dump(result, args.out)


if __name__ == "__main__":
    main()
