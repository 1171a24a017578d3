"""Stage 1 of the step-by-step check: our initial weights and batch plan, for steps.py.

Runs in the project's venv (not the TensorFlow one): builds the seed preset with read padding
(Keras's semantics) and ``seed=1``, encodes IMDB's training split, and writes to one .npz

* the initial weights in Keras's layouts (``lstm.to_keras``: kernels transposed, one bias);
* the rows of training epoch 0 in the order ``trainer.fit`` takes them (seed 1, no length
  bucketing), as ids, with their labels.

    PYTHONPATH=src .venv/bin/python tools/keras_reference/steps_export.py \\
        --source ../shared/data/aclImdb_v1.tar.gz /tmp/steps_in.npz

Then ``steps.py`` (TensorFlow venv) trains Keras on exactly these and writes the fixture.

``--seed S --epochs N`` also writes every epoch's row order and the validation split, for
``replay.py``: Keras trained for N epochs from our seed-S start on our seed-S batches.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import torch

from lstm_sentiment import config as cfg
from lstm_sentiment import data
from lstm_sentiment.lstm import to_keras
from lstm_sentiment.model import build
from lstm_sentiment.split import Split
from lstm_sentiment.text import TextEncoder, id_dtype
from lstm_sentiment.trainer import batches, epoch_seed

SEED = 1


def plan_digest(ids: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of the epoch's rows in order (ids as int32, labels as int32), as steps.py has it."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(ids, dtype=np.int32).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int32).tobytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="IMDB archive or aclImdb folder")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--epochs", type=int, default=1,
                    help="more than 1: also every epoch's order and the validation split")
    ap.add_argument("out", type=Path)
    args = ap.parse_args()

    config = cfg.preset("seed")
    config.model.mask_padding = False
    root = data.fetch(args.source)
    d = config.data
    train = data.load(root, "train", d.validation_split, d.split_seed)
    labels = train.labels
    encoder, ids = TextEncoder.build(train.texts, config.text, id_dtype(config.text.max_tokens))
    config = config.derived(vocab_size=encoder.vocab_size, num_classes=len(train.class_names))
    split = Split(torch.from_numpy(ids), torch.from_numpy(labels).long())
    orders = [torch.cat(batches(split, config.train.batch_size, epoch_seed(args.seed, e),
                                bucket=False)).numpy() for e in range(args.epochs)]
    order = orders[0]
    extra: dict[str, np.ndarray] = {}
    if args.epochs > 1:
        val = data.load(root, "validation", d.validation_split, d.split_seed)
        extra = {"orders": np.stack(orders).astype(np.int32), "train_ids": ids,
                 "train_labels": labels.astype(np.int32),
                 "val_ids": encoder.encode(val.texts, ids.dtype),
                 "val_labels": val.labels.astype(np.int32)}

    model = build(config.model, args.seed)
    state = model.state_dict()
    kernel, recurrent, bias = to_keras({k[len("lstm."):]: v for k, v in state.items()
                                        if k.startswith("lstm.")})
    plan_ids = ids[order].astype(np.int32)
    plan_labels = np.asarray(labels, dtype=np.int32)[order]
    np.savez(args.out,
             embeddings=state["embedding.weight"].numpy(), kernel=kernel,
             recurrent_kernel=recurrent, bias=bias,
             dense_kernel=state["head.weight"].numpy().T.copy(),
             dense_bias=state["head.bias"].numpy(),
             ids=plan_ids, labels=plan_labels,
             batch_size=np.int64(config.train.batch_size),
             plan_sha256=np.str_(plan_digest(plan_ids, plan_labels)), **extra)
    print(f"wrote {args.out}: {-(-len(order) // config.train.batch_size)} batches an epoch, "
          f"{args.epochs} epoch(s), epoch-0 plan sha256 "
          f"{plan_digest(plan_ids, plan_labels)}")


if __name__ == "__main__":
    main()
