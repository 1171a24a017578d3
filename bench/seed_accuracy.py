"""Seed preset accuracy over seeds, with the LSTM masking padding (default) and reading it (Keras).

Trains the full seed preset (10 epochs on the 18,750-review training split) for each seed and
padding mode, reports final validation accuracy and the official test accuracy, mean +- sd, and
the tutorial's example sentences as labelled by the first model. Writes
bench/results/seed_accuracy.json.

    python bench/seed_accuracy.py [--seeds 1 2 3 4 5] [--modes masked read] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from common import default_source, mean_sd, spread, write

from lstm_sentiment import config as cfg
from lstm_sentiment.pipeline import run

TITLE = "Seed preset accuracy over seeds, masked and read padding"
ORDER = 13

TUTORIAL_SENTENCES = [
    "This movie is fantastic! I really like it because it is so good!",
    "Not a good movie!",
    "The movie was great!",
    "This movie really sucks! Can I get my money back please?",
    "The movie was terrible...",
    "This is a confused movie.",
    "The movie was great!",
    "This is a confused movie.",
    "The movie was terrible...",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--modes", nargs="+", default=["masked", "read"], choices=["masked", "read"])
    ap.add_argument("--quick", action="store_true", help="one seed, 2 epochs, masked only")
    ap.add_argument("--keep", type=Path, help="save the first model here")
    args = ap.parse_args()
    epochs = 2 if args.quick else 10
    seeds = args.seeds[:1] if args.quick else args.seeds
    modes = ["masked"] if args.quick else args.modes

    results: dict[str, object] = {"epochs": epochs, "seeds": seeds}
    examples = None
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            runs = []
            for seed in seeds:
                config = cfg.preset("seed")
                config.data.source = args.source
                config.train.epochs = epochs
                config.train.seed = seed
                config.model.mask_padding = mode == "masked"
                out = Path(tmp) / f"{mode}-{seed}"
                model = run(config, out, log=lambda line, tag=f"[{mode} {seed}]": print(tag, line))
                metrics = model.info["metrics"]
                seconds = [h["seconds"] for h in model.history]
                runs.append({"seed": seed,
                             "validation_accuracy": metrics["validation"]["accuracy"],
                             "test_accuracy": metrics["test"]["accuracy"],
                             "test_loss": metrics["test"]["loss"],
                             "epoch_seconds_mean": sum(seconds) / len(seconds)})
                if examples is None:
                    examples = [{"text": t, "label": p.label, "score": round(p.score, 4)}
                                for t, p in zip(TUTORIAL_SENTENCES,
                                                model.predict(TUTORIAL_SENTENCES), strict=True)]
                    if args.keep:
                        model.save(args.keep)
            results[mode] = {
                "runs": runs,
                "validation_accuracy": mean_sd([r["validation_accuracy"] for r in runs]),
                "test_accuracy": mean_sd([r["test_accuracy"] for r in runs]),
                "epoch_seconds": mean_sd([r["epoch_seconds_mean"] for r in runs]),
            }
            v, t = results[mode]["validation_accuracy"], results[mode]["test_accuracy"]
            print(f"{mode}: validation {v['mean']:.4f} +- {v['sd']:.4f}, "
                  f"test {t['mean']:.4f} +- {t['sd']:.4f}")
    results["tutorial_sentences"] = examples
    write("seed_accuracy" + ("_quick" if args.quick else ""), results)


def render(r: dict[str, Any]) -> str:
    modes = [m for m in ("masked", "read") if m in r]
    lines = [f"The seed preset, {r['epochs']} epochs on the tutorial's 18,750-review split, once "
             "per seed and padding mode; test = the official 25,000 reviews, read whole. Between "
             "seeds only the initial weights and the batch order change; the split keeps "
             "the tutorial's seed 100. docs/seed.md sets 8 seeds of each beside Keras's own runs "
             "and explains the low tail.", "",
             "| padding | validation accuracy | official test accuracy | s / epoch |",
             "|---|---|---|---|"]
    for m in modes:
        lines.append(f"| {m} | {spread(r[m]['validation_accuracy']['values'])} | "
                     f"{spread(r[m]['test_accuracy']['values'])} | "
                     f"{spread(r[m]['epoch_seconds']['values'], fmt='{:.2f}')} |")
    lines += ["", "| seed | " + " | ".join(f"{m} validation / test" for m in modes) + " |",
              "|---|" + "---|" * len(modes)]
    for i, seed in enumerate(r["seeds"]):
        cells = [f"{r[m]['runs'][i]['validation_accuracy']:.4f} / "
                 f"{r[m]['runs'][i]['test_accuracy']:.4f}" for m in modes]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
