"""A lighter LSTM part for the accurate preset: scoring speed against what it reads well.

The bundled model spends most of its scoring time in the LSTM part (a BiLSTM over the first 400
tokens of each window; `bench/score_parts.py`), which keeps it under the 4,000 reviews/s that
issue 21 asks of `score`. Each variant here is the full ``accurate`` pipeline with a lighter
LSTM part, trained on the 22,500-review training split on every seed of ``--seeds``, and
measured on what choices may read: the validation split, the sentences of validation reviews
and the behavioural suite's dev half (bench/everyday.py's measures; the test half and the
official test split are never read here). Speed, per variant, on seed 1's model: microseconds
per validation review to encode it in windows as `score` does, and for the network on one
thread; the *bound* is how many reviews per second the machine's cores could score if nothing
else cost anything (cores / (encode + network)). Writes bench/results/lstm_part.json.

    python bench/lstm_part.py [--only NAME ...] [--seeds 1 2 3 4 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from common import (
    default_source,
    fastest,
    listed,
    preset_settings,
    preset_with,
    spread,
    usable_cores,
    write,
)
from everyday import (
    capability_cells,
    denials,
    mean_of,
    measure,
    validation_reviews,
    validation_sentences,
)

from lstm_sentiment.pipeline import run
from lstm_sentiment.text import id_dtype

TITLE = "Accurate preset: a lighter LSTM part"
ORDER = 27
DOCS = ("docs/accurate.md",)
TARGET = 4000.0  # issue 21: `score` with the bundled model, reviews/s on 2 cores

# name -> (what changes, {section.key: value}), each against the preset as it is now
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "preset": ("the accurate preset as shipped: one LSTM each way over the first 400 tokens", {}),
    "forward": ("one forward LSTM (max and mean pooling kept)", {"model.bidirectional": False}),
    "forward-200": ("one forward LSTM over the first 200 tokens",
                    {"model.bidirectional": False, "model.lstm_length": 200}),
}
SHOWN = ("negated_positive", "negated_negative", "contrast", "informal", "emoji", "domains")


def speed(model: Any, texts: list[str]) -> dict[str, float]:
    """Microseconds per review: encoding in windows (as `score` does) and the network on one
    thread; the bound on this machine's cores."""
    dtype = id_dtype(model.encoder.vocab_size)
    windows, _ = model.encoder.encode_windows(texts, dtype)
    ids = torch.from_numpy(windows)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        network = fastest(lambda: model.probabilities(ids))
    finally:
        torch.set_num_threads(before)
    encode = fastest(lambda: model.encoder.encode_windows(texts, dtype))
    n = len(texts)
    us = {"encode_us": 1e6 * encode / n, "network_one_thread_us": 1e6 * network / n}
    cores = usable_cores() or os.cpu_count() or 1
    return {**us, "cores": cores,
            "bound_reviews_per_second": cores * 1e6 / sum(us.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="run these variants")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    ap.add_argument("--quick", action="store_true", help="seed 1, one epoch, two variants")
    args = ap.parse_args()
    names = args.only or (["preset", "forward"] if args.quick else list(VARIANTS))
    seeds = args.seeds[:1] if args.quick else args.seeds
    split = validation_reviews(args.source)
    sentences, val_texts = validation_sentences(split), list(split.texts)
    denied = denials(sentences)
    rows, speeds = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            what, overrides = VARIANTS[name]
            for seed in seeds:
                config = preset_with("accurate", overrides, args.source, seed=seed,
                                     quick=args.quick)
                t0 = time.perf_counter()
                model = run(config, Path(tmp) / f"{name}-{seed}", evaluate_test=False,
                            log=lambda line, tag=f"{name} {seed}": print(f"[{tag}]", line,
                                                                         flush=True))
                rows.append({"name": name, "change": what, "overrides": overrides, "seed": seed,
                             "seconds": time.perf_counter() - t0,
                             **measure(model, sentences, denied)})
                if name not in speeds:
                    speeds[name] = speed(model, val_texts)
                print(f"{name} seed {seed}: validation {rows[-1]['validation_accuracy']:.4f}, "
                      f"dev {rows[-1]['dev']:.4f}, bound "
                      f"{speeds[name]['bound_reviews_per_second']:,.0f}/s", flush=True)
    write("lstm_part" + ("_quick" if args.quick else ""),
          {"quick": args.quick, "seeds": seeds, "rows": rows, "speed": speeds,
           "speed_reviews": len(val_texts), "target_reviews_per_second": TARGET,
           "preset_config": preset_settings("accurate")}, per_cpu=True)


def render(r: dict[str, Any]) -> str:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in r["rows"]:
        by_name.setdefault(row["name"], []).append(row)
    seeds = ", ".join(map(str, r["seeds"]))
    cores = next(iter(r["speed"].values()))["cores"]
    lines = [f"Variants of the accurate preset's LSTM part, seeds {seeds} each (a cell is their "
             "mean); validation split, sentences of validation reviews and the checklist's dev "
             "half only (the test half and the official test split are not read). Speed on "
             f"seed 1's model, {r['speed_reviews']:,} validation reviews: microseconds per "
             "review, encoding in windows and the network on one thread; the bound is "
             f"{cores} cores / (encode + network), before reading, writing and process start.",
             "", "| variant | change | validation | val. sentences | dev half | " +
             " | ".join(c.replace("_", " ") for c in SHOWN) +
             " | encode µs | network µs, 1 thread | bound reviews/s | training s |",
             "|---|---|---|---|---|" + "---|" * len(SHOWN) + "---|---|---|---|"]

    for name, rows in by_name.items():
        s = r["speed"][name]
        lines.append(f"| {name} | {rows[0]['change']} | "
                     f"{mean_of(rows, 'validation_accuracy'):.4f} | "
                     f"{mean_of(rows, 'validation_sentences'):.3f} | {mean_of(rows, 'dev'):.3f} | "
                     f"{capability_cells(rows, SHOWN)} | {s['encode_us']:.0f} | "
                     f"{s['network_one_thread_us']:.0f} | "
                     f"{s['bound_reviews_per_second']:,.0f} | {mean_of(rows, 'seconds'):.0f} |")
    lines.append("")
    for name, rows in by_name.items():
        lines.append(f"- {name}: validation "
                     f"{spread([x['validation_accuracy'] for x in rows])}; dev half "
                     f"{spread([x['dev'] for x in rows], fmt='{:.3f}')}")
    target = r["target_reviews_per_second"]
    over = [n for n, s in r["speed"].items() if s["bound_reviews_per_second"] >= target]
    verdict = (f"{listed(over)} {'has' if len(over) == 1 else 'have'} one." if over
               else "no variant has one.")
    lines += ["", f"A bound at or above the {target:,.0f} reviews/s target is needed for `score` "
              f"to reach it; {verdict}",
              "", "Encoding is the same work in every variant: its spread across rows is the "
              "timing's own noise."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
