"""CUDA against the CPU on full data: the same ``train`` command run with ``--device cpu`` and
``--device cuda`` on one machine, same seed, same data.

Reports per preset and device: wall seconds of the whole command, training seconds, validation
and official test accuracy; then, scoring the official test reviews with both saved models on the
CPU, how many labels agree and the largest probability gap. Needs a CUDA device (run it on a GPU
machine; everything else in the project runs without one). Writes bench/results/gpu.json.

    python bench/gpu.py [--presets seed accurate] [--seed 1] [--source ARCHIVE_OR_FOLDER] [--quick]

A machine that takes only a small copy of the tree can still read all 100,000 reviews: the
archive repacked as .tar.xz, without the .feat and url files, is about 38 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import default_source, preset_settings, version_of, write

from lstm_sentiment import data
from lstm_sentiment.predict import SentimentModel

TITLE = "CUDA against the CPU"
ORDER = 80
NEEDS_CUDA = True


def train(source: str, preset: str, seed: int, device: str, out: Path,
          quick: bool = False) -> dict[str, object]:
    cmd = [sys.executable, "-m", "lstm_sentiment", "train", "--preset", preset,
           "--source", source, "--seed", str(seed), "--device", device, "--out", str(out),
           *(["--epochs", "1"] if quick else [])]
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
    ap.add_argument("--quick", action="store_true", help="the seed preset only, one epoch")
    args = ap.parse_args()
    if args.quick:
        args.presets = ["seed"]
    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py needs a CUDA device; none is visible")

    root = data.fetch(args.source)
    test = data.load(root, "test")
    unsup = root / "train" / "unsup"
    results: dict[str, object] = {
        "gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(), "source": args.source,
        "training_seed": args.seed,
        # the accurate preset's word vectors read them too, where the source has them
        "n_unlabelled": len(list(unsup.glob("*.txt"))) if unsup.is_dir() else 0,
        "n_test": len(test)}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            runs = {dev: train(args.source, preset, args.seed, dev, Path(tmp) / f"{preset}-{dev}",
                               args.quick) for dev in ("cpu", "cuda")}
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
    write("gpu" + ("_quick" if args.quick else ""), results)


def render(r: dict[str, Any]) -> str:
    unlabelled = r.get("n_unlabelled", 0)  # older runs had no train/unsup and did not say
    data = (f"with the {unlabelled:,} unlabelled reviews of train/unsup" if unlabelled
            else "without train/unsup")
    lines = [f"One `train` command each, seed {r['training_seed']}, same data ({data}), on one "
             f"machine ({r['gpu']}, CUDA {r['cuda']}; torch {version_of(r, 'torch')}):", "",
             "| preset | device | s per epoch | training s | wall s | validation | official test "
             "| test labels agreeing | largest p gap |", "|---|---|---|---|---|---|---|---|---|"]
    for preset in ("seed", "accurate"):
        if preset not in r:
            continue
        for dev in ("cpu", "cuda"):
            x = r[preset][dev]
            shared = (f"{r[preset]['test_label_agreement']:.2%} | "
                      f"{r[preset]['test_max_probability_gap']:.2f}" if dev == "cuda" else " | ")
            lines.append(f"| {preset} | {dev} | {x['epoch_seconds_mean']:.2f} | "
                         f"{x['training_seconds']:.1f} | {x['wall_seconds']:.0f} | "
                         f"{x['validation_accuracy']:.4f} | {x['test_accuracy']:.4f} | {shared} |")
    changed = [p for p in ("seed", "accurate")
               if p in r and r[p].get("preset_config") != preset_settings(p)]
    if changed:
        which = (f"the {changed[0]} preset may not show it as it is" if len(changed) == 1 else
                 f"the {' and '.join(changed)} presets may not show them as they are")
        lines += ["", f"Rows of {which} now: this run recorded other settings, or none. Rerun "
                  "`python bench/gpu.py` on a CUDA machine for current figures."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
