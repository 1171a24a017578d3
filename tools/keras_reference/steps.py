"""Stage 2 of the step-by-step check: Keras 2.15 trains from our weights on our batches.

Reads the .npz that ``steps_export.py`` wrote (our seed-1 initial weights in Keras's layouts, and
training epoch 0's rows in our batch order), builds the tutorial's model without its
TextVectorization (the ids are already vectorized), compiles it as the tutorial does (``rmsprop``,
``binary_crossentropy``), loads the weights and runs one ``train_on_batch`` per batch: the same
``train_step`` that ``fit`` runs per step. It records the loss of every step and, after 0, 1, 10
and 188 steps, each weight tensor's shape, sum and sum of squares (float64) and its values at a
fixed, seeded sample of positions (the sample is drawn here and stored with the fixture).

Run once in the throwaway TensorFlow venv (see README.md; never in CI):

    /tmp/tfvenv/bin/python tools/keras_reference/steps.py /tmp/steps_in.npz \\
        tests/fixtures/keras_truth/steps.json
"""

import json
import sys

import numpy as np
import tensorflow as tf

CHECKPOINTS = (0, 1, 10, 188)
SAMPLE_SEED = 20251203
NAMES = ("embeddings", "kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")
# per tensor: entries sampled anywhere (None: all of them)
SAMPLED = {"embeddings": 1500, "kernel": 512, "recurrent_kernel": 768, "bias": None,
           "dense_kernel": None, "dense_bias": None}
FREQUENT_ROWS = 32  # also every entry of embedding rows 0 (padding), 1 ([UNK]) ... 31


def sample_positions(shapes: dict) -> dict:
    """Flat positions per tensor, sorted; the same for every checkpoint."""
    rng = np.random.default_rng(SAMPLE_SEED)
    out = {}
    for name in NAMES:
        size = int(np.prod(shapes[name]))
        if SAMPLED[name] is None:
            out[name] = list(range(size))
            continue
        picked = set(rng.choice(size, SAMPLED[name], replace=False).tolist())
        if name == "embeddings":
            picked |= set(range(FREQUENT_ROWS * shapes[name][1]))
        out[name] = sorted(picked)
    return out


def f32(x: float) -> str:
    return np.format_float_positional(np.float32(x), unique=True, trim="-")


def record(weights: dict, positions: dict) -> dict:
    out = {}
    for name in NAMES:
        w = weights[name].astype(np.float64)
        flat = weights[name].reshape(-1)
        out[name] = {"sum": float(w.sum()), "sumsq": float((w * w).sum()),
                     "values": [float(f32(v)) for v in flat[positions[name]]]}
    return out


def main(inp: str, out: str) -> None:
    src = np.load(inp)
    batch = int(src["batch_size"])
    ids, labels = src["ids"], src["labels"]
    n_batches = -(-len(ids) // batch)
    vocab, dim = src["embeddings"].shape
    units = src["recurrent_kernel"].shape[0]
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(ids.shape[1],), dtype="int64"),
        tf.keras.layers.Embedding(input_dim=vocab, output_dim=dim),
        tf.keras.layers.LSTM(units),
        tf.keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
    model.set_weights([src[name] for name in NAMES])

    def weights() -> dict:
        return dict(zip(NAMES, model.get_weights(), strict=True))

    shapes = {name: list(src[name].shape) for name in NAMES}
    positions = sample_positions(shapes)
    checkpoints = [{"steps": 0, "tensors": record(weights(), positions)}]
    losses = []
    for step in range(max(CHECKPOINTS)):
        x = ids[step * batch : (step + 1) * batch].astype(np.int64)
        y = labels[step * batch : (step + 1) * batch].astype(np.float32)
        logs = model.train_on_batch(x, y, return_dict=True)
        losses.append(float(logs["loss"]))
        if step + 1 in CHECKPOINTS:
            checkpoints.append({"steps": step + 1, "tensors": record(weights(), positions)})
            print(f"step {step + 1}: loss {losses[-1]:.6f}", flush=True)
    import keras

    fixture = {
        "what": "Keras 2.15 trained from lstm-sentiment's seed-1 initial weights (read padding) on "
                "its seed-1 epoch-0 batch plan; see tools/keras_reference/steps.py",
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__},
        "plan_sha256": str(src["plan_sha256"]),
        "batch_size": batch, "n_batches": n_batches,
        "shapes": shapes,
        "positions": positions,
        "losses": losses,
        "checkpoints": checkpoints,
    }
    with open(out, "w") as fh:
        json.dump(fixture, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
