"""CUDA against the CPU on full data: the same ``train`` command run with ``--device cpu`` and
``--device cuda`` on one machine, same seed, same data.

Reports per preset and device: wall seconds of the whole command, training seconds, validation
and official test accuracy; then, scoring the official test reviews with both saved models on the
CPU, how many labels agree and the largest probability gap. Needs a CUDA device (run it on a GPU
machine; everything else in the project runs without one). Writes bench/results/gpu.json.

    python bench/gpu.py [--presets seed accurate] [--seed 1] [--source ARCHIVE_OR_FOLDER]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import default_source, preset_settings, write

from lstm_sentiment import data
from lstm_sentiment.predict import SentimentModel


def train(source: str, preset: str, seed: int, device: str, out: Path) -> dict[str, object]:
    cmd = [sys.executable, "-m", "lstm_sentiment", "train", "--preset", preset,
           "--source", source, "--seed", str(seed), "--device", device, "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    info = json.loads((out / "config.json").read_text())
    history = json.loads((out / "history.json").read_text())["epochs"]
    m = info["metrics"]
    return {"device": info["training_device"], "wall_seconds": round(wall, 1),
            "training_seconds": info["training_seconds"],
            "epoch_seconds_mean": round(float(np.mean([e["seconds"] for e in history])), 2),
            "validation_accuracy": m["validation"]["accuracy"],
            "test_accuracy": m["test"]["accuracy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["seed", "accurate"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--source", default=default_source())
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py needs a CUDA device; none is visible")

    root = data.fetch(args.source)
    test = data.load(root, "test")
    results: dict[str, object] = {
        "gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(), "source": args.source,
        "training_seed": args.seed,
        "n_test": len(test)}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            runs = {dev: train(args.source, preset, args.seed, dev, Path(tmp) / f"{preset}-{dev}")
                    for dev in ("cpu", "cuda")}
            probs = {dev: SentimentModel.load(Path(tmp) / f"{preset}-{dev}").predict_proba(
                test.texts) for dev in runs}
            agree = float(np.mean(probs["cpu"].argmax(1) == probs["cuda"].argmax(1)))
            gap = float(np.abs(probs["cpu"] - probs["cuda"]).max())
            results[preset] = {**runs, "test_label_agreement": agree,
                               "test_max_probability_gap": gap,
                               # what the preset was then: render.py flags later changes
                               "preset_config": preset_settings(preset)}
            print(f"{preset}: cpu test {runs['cpu']['test_accuracy']:.4f} in "
                  f"{runs['cpu']['wall_seconds']}s, cuda test {runs['cuda']['test_accuracy']:.4f}"
                  f" in {runs['cuda']['wall_seconds']}s; labels agree on {agree:.2%}, "
                  f"largest probability gap {gap:.3g}", flush=True)
    write("gpu", results)


if __name__ == "__main__":
    main()
