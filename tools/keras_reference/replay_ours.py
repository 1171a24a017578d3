"""Our side of replay.py: the same seed's run with our code, epoch by epoch, beside Keras's.

Trains the seed preset with read padding from ``build(config.model, seed)`` with ``trainer.fit``,
one epoch per call (resuming from the checkpoint each time, which replays an uninterrupted run
exactly), and after each epoch compares every weight with Keras's from ``replay.py`` (largest
absolute gap and the gap's L2 norm relative to the weights') and saves them in replay.py's
layout (``OUT.npz``, next to ``OUT``'s JSON). ``--nudge`` moves every initial weight by one
float32 step (``np.nextafter``, ~1e-7 of its size), about what a different summation order does
to a step's result: the gap between a nudged and a plain run of our own code is the floor that
any comparison with Keras sits on once training amplifies rounding differences.

    PYTHONPATH=src .venv/bin/python tools/keras_reference/replay_ours.py /tmp/replay3_in.npz \\
        --keras /tmp/replay3 --threads 1 --out /tmp/replay3_ours1.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstm_sentiment import config as cfg
from lstm_sentiment.lstm import from_keras, to_keras
from lstm_sentiment.model import build
from lstm_sentiment.split import Split
from lstm_sentiment.trainer import fit

NAMES = ("embeddings", "kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")
PAD_BUCKETS = ((0, 0), (1, 49), (50, 149), (150, 228))  # as bench/seed_keras_seeds.py


def keras_layout(model: torch.nn.Module) -> dict[str, np.ndarray]:
    state = model.state_dict()
    kernel, recurrent, bias = to_keras({k.removeprefix("lstm."): v for k, v in state.items()
                                        if k.startswith("lstm.")})
    return {"embeddings": state["embedding.weight"].numpy(), "kernel": kernel,
            "recurrent_kernel": recurrent, "bias": bias,
            "dense_kernel": state["head.weight"].numpy().T,
            "dense_bias": state["head.bias"].numpy()}


def gap(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> dict[str, float]:
    a = np.concatenate([ours[n].ravel() for n in NAMES]).astype(np.float64)
    b = np.concatenate([theirs[n].ravel() for n in NAMES]).astype(np.float64)
    return {"max_abs": float(np.abs(a - b).max()),
            "relative_l2": float(np.linalg.norm(a - b) / np.linalg.norm(b))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inp", help="the .npz of steps_export.py --seed S --epochs N")
    ap.add_argument("--seed", type=int, required=True, help="the seed the .npz was made with")
    ap.add_argument("--keras", help="replay.py's output prefix (OUT of OUT.json, OUT.npz)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nudge", action="store_true", help="start one float32 step off")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    src = np.load(args.inp)
    config = cfg.preset("seed")
    config.model.mask_padding = False
    config = config.derived(vocab_size=src["embeddings"].shape[0], num_classes=2)
    train = Split(torch.from_numpy(src["train_ids"]), torch.from_numpy(src["train_labels"]).long())
    val = Split(torch.from_numpy(src["val_ids"]), torch.from_numpy(src["val_labels"]).long())
    keras = np.load(args.keras + ".npz") if args.keras else None
    model = build(config.model, args.seed)
    built = keras_layout(model)
    # the exported start itself: QR (the orthogonal recurrent kernel) may round differently
    # with another thread count than the export's
    print("build() against the exported start, largest gap:",
          max(float(np.abs(built[n] - src[n]).max()) for n in NAMES))
    lstm = from_keras(src["kernel"], src["recurrent_kernel"], src["bias"])
    model.load_state_dict({"embedding.weight": torch.from_numpy(src["embeddings"]),
                           **{f"lstm.{k}": v for k, v in lstm.items()},
                           "head.weight": torch.from_numpy(src["dense_kernel"].T.copy()),
                           "head.bias": torch.from_numpy(src["dense_bias"])})
    if args.nudge:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name != "lstm.bias_hh_l0":  # stays zero: Keras has no such bias
                    p.copy_(torch.nextafter(p, torch.full_like(p, float("inf"))))
    epochs: list[dict[str, Any]] = []
    saved: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for e in range(1, len(src["orders"]) + 1):
            history = fit(model, train, val, replace(config.train, epochs=e, seed=args.seed),
                          checkpoint_dir=Path(tmp), resume=e > 1, device="cpu")
            row: dict[str, Any] = dict(history.epochs[-1])
            now = keras_layout(model)
            saved.update({f"epoch{e}/{n}": now[n].copy() for n in NAMES})
            if keras is not None:
                row["gap_to_keras"] = gap(now, {n: keras[f"epoch{e}/{n}"] for n in NAMES})
            epochs.append(row)
            print(json.dumps(row), flush=True)
    with torch.inference_mode():
        model.eval()
        logits = torch.cat([model(chunk.long()) for chunk in val.ids.split(256)])
    right = ((logits > 0).long() == val.labels).numpy()
    pad = val.ids.shape[1] - (val.ids != 0).sum(dim=1).numpy()
    buckets = [{"padding": [lo, hi], "n": int(((pad >= lo) & (pad <= hi)).sum()),
                "accuracy": float(right[(pad >= lo) & (pad <= hi)].mean())}
               for lo, hi in PAD_BUCKETS]
    args.out.write_text(json.dumps({"seed": args.seed, "threads": args.threads,
                                    "nudge": args.nudge,
                                    "epochs": epochs, "validation_by_padding": buckets},
                                   indent=1))
    np.savez(args.out.with_suffix(".npz"), **saved)  # replay.py's layout: epochN/name
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
