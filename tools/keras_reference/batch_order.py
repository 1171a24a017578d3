"""Our read-padding seed run with Keras's kind of batch order instead of ours (an analysis tool).

``trainer.fit`` draws every epoch's order as a fresh permutation of the training rows. The
tutorial's ``text_dataset_from_directory(shuffle=True, seed=100)`` instead shuffles the file list
once (our split keeps that order, row for row) and then, every epoch, streams it through a
shuffle buffer of 8 batches (800 rows): a local shuffle, each epoch close to the same sequence.
This trains our model (``build(config.model, seed)``, read padding, Keras's RMSprop, one optimizer
step per batch as ``trainer.train_epoch`` takes it) on either order and prints the validation
accuracy after each epoch, to tell whether the order explains how fast a run leaves the 0.5
plateau.

    PYTHONPATH=src .venv/bin/python tools/keras_reference/batch_order.py \\
        --source ../shared/data/aclImdb_v1.tar.gz --order local --seeds 1 2 3 --epochs 4 \\
        --out /tmp/order_local.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from lstm_sentiment import config as cfg
from lstm_sentiment import data
from lstm_sentiment.model import build
from lstm_sentiment.split import Split
from lstm_sentiment.text import TextEncoder, id_dtype
from lstm_sentiment.trainer import batches, epoch_seed, evaluate_split

BUFFER = 800  # text_dataset_from_directory: shuffle(buffer_size=batch_size * 8)


def local_shuffle(n: int, buffer: int, rng: np.random.Generator) -> np.ndarray:
    """Rows 0..n-1 streamed through a shuffle buffer as ``tf.data.Dataset.shuffle`` does: fill
    the buffer, then repeatedly emit a random slot and refill it with the next row."""
    slots = list(range(min(buffer, n)))
    following = len(slots)
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        k = int(rng.integers(len(slots)))
        out[i] = slots[k]
        if following < n:
            slots[k] = following
            following += 1
        else:
            slots[k] = slots[-1]
            slots.pop()
    return out


def plan(order: str, train: Split, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    if order == "ours":
        return batches(train, batch_size, epoch_seed(seed, epoch), bucket=False)
    rng = np.random.default_rng([seed, epoch])
    return list(torch.from_numpy(local_shuffle(len(train.labels), BUFFER, rng)).split(batch_size))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--order", choices=["ours", "local"], required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7, 8])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = cfg.preset("seed")
    config.model.mask_padding = False
    root = data.fetch(args.source)
    d = config.data
    tr = data.load(root, "train", d.validation_split, d.split_seed)
    va = data.load(root, "validation", d.validation_split, d.split_seed)
    dtype = id_dtype(config.text.max_tokens)
    encoder, ids = TextEncoder.build(tr.texts, config.text, dtype)
    train = Split(torch.from_numpy(ids), torch.from_numpy(tr.labels).long())
    val = Split(torch.from_numpy(encoder.encode(va.texts, dtype)), torch.from_numpy(va.labels))
    config = config.derived(vocab_size=encoder.vocab_size, num_classes=len(tr.class_names))
    runs = []
    for seed in args.seeds:
        model = build(config.model, seed)
        optimizer = model.configure_optimizer(config.train)
        curve, losses = [], []
        for epoch in range(args.epochs):
            model.train()
            total = 0.0
            for idx in plan(args.order, train, config.train.batch_size, seed, epoch):
                loss = model.classifier.loss(model(train.ids[idx].long()), train.labels[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
            losses.append(total / len(train.labels))
            curve.append(evaluate_split(model, val)["acc"])
            print(f"[{args.order} {seed}] epoch {epoch + 1}: loss {losses[-1]:.4f} "
                  f"val_acc {curve[-1]:.4f}", flush=True)
        runs.append({"seed": seed, "val_acc": curve, "loss": losses})
        args.out.write_text(json.dumps({"order": args.order, "threads": args.threads,
                                        "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
