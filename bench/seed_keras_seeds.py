"""The seed preset over many seeds in both padding modes, beside the tutorial's Keras code.

For each seed: our seed preset (10 epochs on the tutorial's 18,750-review split) with the LSTM
masking padding (our default) and reading it (Keras's semantics), and the tutorial's own Keras
2.15 pipeline (bench/peer_keras.py, run with ``--seed``) as many times. Between seeds only the
initial weights and the batch order change; the split keeps the tutorial's seed 100 in both.
Our seed ``s`` and Keras's ``--seed s`` are independent draws, not the same start. Records the
final and per-epoch validation figures and the official test accuracy of every run, and writes
bench/results/seed_keras_seeds.json (after every run, so ``--resume`` can pick up where a stopped
run left off). ``render(result)`` gives the markdown section.

    python bench/seed_keras_seeds.py [--seeds 1 2 ... 8] [--tf-python PATH] [--no-keras]
        [--only masked read keras] [--alongside] [--resume | --keep keras] [--quick]

Keras needs a TensorFlow 2.15 venv: ``--tf-python``, else the one bench/peers.py finds or makes.
Our accuracies are those of a text's first window of 228 tokens, as Keras reads it (a run also
records the whole-text figure). About two hours on 2 busy cores (``--alongside``, one thread a
run); docs/seed.md explains the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shlex
import statistics
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import default_source, mean_sd, results_dir, spread, write

TITLE = "Seed preset over seeds: masked and read padding beside Keras 2.15"
ORDER = 12
DOCS = ("docs/seed.md",)
NAME = "seed_keras_seeds"
HERE = Path(__file__).resolve().parent
GROUPS = ("masked", "read", "keras")
LABELS = {"masked": "ours, masked padding (default)", "read": "ours, read padding",
          "keras": "Keras 2.15, the tutorial's code"}
LEARNING = 0.7  # a run has started learning once its validation accuracy reaches this
DROP = 0.03  # an epoch whose validation accuracy falls this much below the one before


# validation reviews grouped by how many padding steps follow their last word (of 228)
PAD_BUCKETS = ((0, 0), (1, 49), (50, 149), (150, 228))


def by_padding(model: Any, texts: list[str], labels: np.ndarray) -> list[dict[str, Any]]:
    """Validation accuracy of ``model`` (a SentimentModel) per PAD_BUCKETS group."""
    reading = model.read(texts, whole=False)  # the first window, as Keras reads a text
    pad = model.encoder.sequence_length - reading.tokens
    right = reading.probabilities.argmax(axis=1) == labels
    out = []
    for low, high in PAD_BUCKETS:
        rows = (pad >= low) & (pad <= high)
        out.append({"padding": [low, high], "n": int(rows.sum()),
                    "accuracy": float(right[rows].mean()) if rows.any() else None})
    return out


@dataclass
class Bench:
    """What every run needs, and the runs so far (written after each one)."""

    args: argparse.Namespace
    name: str
    root: Path
    tmp: Path
    val_texts: list[str]
    val_labels: np.ndarray
    result: dict[str, Any]
    runs: dict[str, dict[int, dict[str, Any]]]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ours(self, mode: str, seed: int) -> dict[str, Any]:
        from lstm_sentiment import config as cfg
        from lstm_sentiment.pipeline import run

        config = cfg.preset("seed")
        config.data.source = self.args.source
        config.train.epochs = self.args.epochs
        config.train.seed = seed
        config.train.threads = self.args.threads
        config.model.mask_padding = mode == "masked"
        model = run(config, self.tmp / f"{mode}-{seed}",
                    log=lambda line, tag=f"[{mode} {seed}]": print(tag, line, flush=True))
        metrics = model.info["metrics"]
        val, test = metrics["validation"], metrics["test"]
        return {"seed": seed,
                # as Keras reads a text: its first window of sequence_length tokens
                "validation_accuracy": val["first_window"]["accuracy"],
                "test_accuracy": test["first_window"]["accuracy"],
                "test_loss": test["first_window"]["loss"],
                "test_accuracy_whole_text": test["accuracy"],
                "history": {key: [h[key] for h in model.history]
                            for key in ("loss", "acc", "val_loss", "val_acc")},
                "validation_by_padding": by_padding(model, self.val_texts, self.val_labels)}

    def keras(self, seed: int, tf_python: str) -> dict[str, Any]:
        from lstm_sentiment.keras_import import import_keras

        out, saved = self.tmp / f"keras-{seed}.json", self.tmp / f"keras-{seed}.keras"
        cmd = [tf_python, str(HERE / "peer_keras.py"), "--imdb", str(self.root),
               "--epochs", str(self.args.epochs), "--seed", str(seed), "--save", str(saved),
               "--out", str(out)]
        print("[keras]", shlex.join(cmd), flush=True)
        env = dict(os.environ)
        if self.args.threads:
            env.update(TF_NUM_INTRAOP_THREADS=str(self.args.threads),
                       TF_NUM_INTEROP_THREADS=str(self.args.threads))
        subprocess.run(cmd, check=True, env=env)
        r = json.loads(out.read_text())
        # the same reading of the validation split as ours: the Keras model imported
        return {"seed": seed, "validation_accuracy": r["validation_accuracy"],
                "test_accuracy": r["test_accuracy"],
                "history": {key: r["history"][key]
                            for key in ("loss", "acc", "val_loss", "val_acc")},
                "validation_by_padding": by_padding(import_keras(saved), self.val_texts,
                                                    self.val_labels),
                "versions": r["versions"], "threads": r["threads"]}

    def add(self, group: str, seed: int, run: dict[str, Any]) -> None:
        with self.lock:
            self.runs[group][seed] = run
            for g in GROUPS:
                if self.runs[g]:
                    self.result[g] = summarise([self.runs[g][s] for s in sorted(self.runs[g])])
            if self.runs["keras"]:
                self.result["keras_versions"] = next(iter(self.runs["keras"].values()))["versions"]
            write(self.name, self.result)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"runs": runs,
            "validation_accuracy": mean_sd([r["validation_accuracy"] for r in runs]),
            "test_accuracy": mean_sd([r["test_accuracy"] for r in runs])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 9)))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS))
    ap.add_argument("--no-keras", action="store_true", help="our runs only")
    ap.add_argument("--tf-python", help="python of a venv with tensorflow-cpu 2.15")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads per run, ours and Keras's (0: all cores); one thread each "
                    "wastes least on a busy machine")
    ap.add_argument("--alongside", action="store_true",
                    help="run the Keras seeds in a second process beside ours, not after them")
    ap.add_argument("--quick", action="store_true",
                    help="seed 1, one epoch, into seed_keras_seeds_quick.json (a smoke test)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the runs already in the results file (same epochs) and add the rest")
    ap.add_argument("--keep", nargs="+", choices=GROUPS, default=[],
                    help="keep only these groups' runs from the results file (e.g. keras, whose "
                    "runs do not depend on src/) and run the others again")
    args = ap.parse_args()
    groups = [g for g in args.only if not (g == "keras" and args.no_keras)]
    name = NAME + ("_quick" if args.quick else "")
    if args.quick:
        args.seeds, args.epochs = args.seeds[:1], 1

    from lstm_sentiment import data

    root = data.fetch(args.source)
    tf_python = None
    if "keras" in groups:
        from peers import find_tf_python

        tf_python, why = find_tf_python(args.tf_python, install=True)
        if tf_python is None:
            raise SystemExit(f"no TensorFlow 2.15 venv ({why}); pass --tf-python or --no-keras")

    previous: dict[str, Any] = {}
    path = results_dir() / f"{name}.json"
    kept = list(GROUPS) if args.resume else args.keep
    if kept and path.exists():
        old = json.loads(path.read_text())
        if old.get("epochs") == args.epochs:
            previous = {k: v for k, v in old.items() if k not in GROUPS or k in kept}
    from lstm_sentiment import config as cfg

    config = cfg.preset("seed")
    val_paths, val_labels, _ = data.split_paths(root, "validation",
                                                config.data.validation_split,
                                                config.data.split_seed)
    result: dict[str, Any] = {
        "epochs": args.epochs, "seeds": args.seeds, "threads_per_run": args.threads,
        "keras_alongside": args.alongside,
        # runs taken over from an earlier result keep the command and commit that made them
        "kept_runs": {g: previous.get("kept_runs", {}).get(g) or {
            "from": previous.get("provenance")
            or {k: previous.get(k) for k in ("commands", "commit", "src_dirty")}}
            for g in kept if g in previous},
    }
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args, name, root, Path(tmp), list(data.TextFiles(root, val_paths)),
                      np.asarray(val_labels),
                      result, {g: {r["seed"]: r for r in previous.get(g, {}).get("runs", [])}
                               for g in GROUPS})

        def keras_seeds() -> None:
            assert tf_python is not None
            for seed in args.seeds:
                if seed not in bench.runs["keras"]:
                    bench.add("keras", seed, bench.keras(seed, tf_python))

        side = None
        if "keras" in groups and args.alongside:
            side = threading.Thread(target=keras_seeds)
            side.start()
        for seed in args.seeds:
            for group in (g for g in groups if g != "keras"):
                if seed not in bench.runs[group]:
                    bench.add(group, seed, bench.ours(group, seed))
        if side is not None:
            side.join()
        elif "keras" in groups:
            keras_seeds()
    print(render(json.loads(path.read_text())))


def _started(history: dict[str, list[float]]) -> int | None:
    """The first epoch (1-based) whose validation accuracy reaches LEARNING, if any."""
    return next((i + 1 for i, v in enumerate(history["val_acc"]) if v >= LEARNING), None)


def _second_half(values: list[float]) -> list[float]:
    return values[len(values) // 2 :]


def _drops(curve: list[float]) -> int:
    return sum(1 for a, b in itertools.pairwise(curve) if a - b >= DROP)


def permutation_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the difference of means of ``a`` and ``b`` under relabelling (every
    split of the pooled values when there are at most 20,000, else 20,000 seeded ones)."""
    pooled, n = a + b, len(a)
    observed = abs(statistics.fmean(a) - statistics.fmean(b))
    if math.comb(len(pooled), n) <= 20_000:
        splits: Any = itertools.combinations(range(len(pooled)), n)
    else:
        rng = random.Random(0)
        splits = (rng.sample(range(len(pooled)), n) for _ in range(20_000))
    hits = total = 0
    for chosen in splits:
        picked = set(chosen)
        first = [pooled[i] for i in picked]
        rest = [pooled[i] for i in range(len(pooled)) if i not in picked]
        hits += abs(statistics.fmean(first) - statistics.fmean(rest)) >= observed - 1e-12
        total += 1
    return hits / total


def _differences(result: dict[str, Any], groups: list[str]) -> list[str]:
    """Each of our groups against Keras: the gap in mean test accuracy and its p-value."""
    if "keras" not in groups:
        return []
    keras_tests = [r["test_accuracy"] for r in result["keras"]["runs"]]
    lines = []
    for g in (g for g in groups if g != "keras"):
        tests = [r["test_accuracy"] for r in result[g]["runs"]]
        if len(tests) > 1 and len(keras_tests) > 1:
            gap = statistics.fmean(tests) - statistics.fmean(keras_tests)
            lines.append(f"{LABELS[g].capitalize()} against Keras: mean test accuracy "
                         f"{gap:+.4f}, permutation p = {permutation_p(tests, keras_tests):.2f}.")
    return ["", " ".join(lines)] if lines else []


def render(result: dict[str, Any]) -> str:
    """The markdown section: each group's mean ± sd and per-seed figures, and the validation
    accuracy of every run after every epoch."""
    groups = [g for g in GROUPS if g in result]
    counts = sorted({len(result[g]["runs"]) for g in groups})
    lines = [
        f"{result['epochs']} epochs a run, {' or '.join(str(c) for c in counts)} runs a row, "
        f"{result.get('threads_per_run') or 'all'} thread(s) a run. Between runs only the "
        "initial weights and the batch order change; the split is the tutorial's (seed 100) in "
        "every run, ours and Keras's. Our seed s and Keras's seed s are independent draws. "
        "Accuracies read a review's first 228 tokens, as Keras does.",
        "",
        "| runs | final validation accuracy | official test accuracy | median test | worst test "
        "| runs learning by epoch 2 / 3 | validation, second half: mean / lowest | drops |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in groups:
        runs = result[g]["runs"]
        tests = [r["test_accuracy"] for r in runs]
        started = [_started(r["history"]) for r in runs]
        by2 = sum(1 for s in started if s is not None and s <= 2)
        by3 = sum(1 for s in started if s is not None and s <= 3)
        late = [v for r in runs for v in _second_half(r["history"]["val_acc"])]
        drops = sum(_drops(r["history"]["val_acc"]) for r in runs)
        vals = [r["validation_accuracy"] for r in runs]
        lines.append(f"| {LABELS[g]} | {spread(vals)} | {spread(tests)} | "
                     f"{statistics.median(tests):.4f} | "
                     f"{min(tests):.4f} | {by2} / {by3} of {len(runs)} | "
                     f"{statistics.fmean(late):.4f} / {min(late):.4f} | {drops} |")
    lines += ["", f"\"Learning\": validation accuracy at or above {LEARNING} after that epoch. "
              f"Second half: every run's validation accuracy after each of the last "
              f"{len(_second_half(list(range(result['epochs']))))} epochs. Drops: epochs "
              f"whose validation accuracy fell {DROP} or more below the epoch before (all runs).",
              *_differences(result, groups),
              "", "Per seed (final validation / test):", "",
              "| seed | " + " | ".join(LABELS[g] for g in groups) + " |",
              "|---|" + "---|" * len(groups)]
    by_seed = {g: {r["seed"]: r for r in result[g]["runs"]} for g in groups}
    for seed in sorted({s for g in groups for s in by_seed[g]}):
        cells = [f"{by_seed[g][seed]['validation_accuracy']:.4f} / "
                 f"{by_seed[g][seed]['test_accuracy']:.4f}" if seed in by_seed[g] else "-"
                 for g in groups]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    epochs = result["epochs"]
    lines += ["", "Validation accuracy after each epoch:", "",
              "| run | " + " | ".join(str(e) for e in range(1, epochs + 1)) + " |",
              "|---|" + "---|" * epochs]
    for g in groups:
        for r in result[g]["runs"]:
            curve = " | ".join(f"{v:.3f}" for v in r["history"]["val_acc"])
            lines.append(f"| {g} {r['seed']} | {curve} |")
    if all("validation_by_padding" in r for g in groups for r in result[g]["runs"]):
        lines += _padding_table(result, groups)
    versions = result.get("keras_versions")
    if versions:
        lines += ["", f"Keras {versions.get('keras')} on TensorFlow {versions.get('tensorflow')}."]
    for g, kept in result.get("kept_runs", {}).items():
        origin = kept.get("from") or {}
        commands = origin.get("commands") or [{"command": origin.get("command"),
                                               "commit": origin.get("commit")}]
        made = "; then ".join(f"`{c.get('command')}` at commit `{(c.get('commit') or '?')[:10]}`"
                              for c in commands)
        lines += ["", f"The {g} runs were kept from an earlier result (they do not depend on "
                  f"src/): {made}."]
    return "\n".join(lines) + "\n"


def _padding_table(result: dict[str, Any], groups: list[str]) -> list[str]:
    first = result[groups[0]]["runs"][0]["validation_by_padding"]
    heads = [f"{b['padding'][0]}" if b["padding"][0] == b["padding"][1]
             else f"{b['padding'][0]}-{b['padding'][1]}" for b in first]
    lines = ["", "Final validation accuracy by the padding steps after a review's last word "
             "(reviews per group: " + ", ".join(f"{h}: {b['n']:,}" for h, b in
                                                zip(heads, first, strict=True)) + "):", "",
             "| run | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for g in groups:
        runs = result[g]["runs"]
        for r in runs:
            cells = [f"{b['accuracy']:.3f}" for b in r["validation_by_padding"]]
            lines.append(f"| {g} {r['seed']} | " + " | ".join(cells) + " |")
        means = [statistics.fmean(r["validation_by_padding"][i]["accuracy"] for r in runs)
                 for i in range(len(heads))]
        lines.append(f"| **{g}, mean** | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    return lines


if __name__ == "__main__":
    main()
