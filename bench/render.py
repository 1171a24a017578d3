"""Render the README's results section from bench/results/*.json (never typed by hand).

    python bench/render.py          # rewrites the block between the README's bench markers
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _pm(stat: dict) -> str:
    return f"{stat['mean']:.4f} ± {stat['sd']:.4f}"


def accuracy_section(r: dict) -> list[str]:
    lines = [f"Seed preset, full data, {r['epochs']} epochs, seeds {r['seeds']} "
             f"({r['machine']['cpu']}, {r['machine']['cores']} cores, {r['machine']['date']}):",
             "",
             "| LSTM padding | final validation accuracy | official test accuracy | per seed "
             "(validation / test) |",
             "|---|---|---|---|"]
    for mode, label in (("masked", "masked (default)"), ("read", "read, as Keras does")):
        if mode not in r:
            continue
        m = r[mode]
        seeds = ", ".join(f"{x['seed']}: {x['validation_accuracy']:.4f} / "
                          f"{x['test_accuracy']:.4f}" for x in m["runs"])
        lines.append(f"| {label} | {_pm(m['validation_accuracy'])} | "
                     f"{_pm(m['test_accuracy'])} | {seeds} |")
    if r.get("tutorial_sentences"):
        lines += ["", "The tutorial's example sentences, labelled by the seed-1 model "
                  "(masked padding):", "", "| text | label | p(positive) |", "|---|---|---|"]
        for s in r["tutorial_sentences"]:
            lines.append(f"| {s['text']} | {s['label']} | {s['score']:.4f} |")
    return lines


def speed_section(r: dict) -> list[str]:
    lines = [f"Seed preset speed ({r['machine']['cpu']}, {r['threads']} threads, "
             f"{r['reviews']:,} training reviews, {r['machine']['date']}):", "",
             "| LSTM padding | s / epoch | training reviews/s | inference reviews/s | "
             "single review p50 (ms) |", "|---|---|---|---|---|"]
    for mode in ("masked", "read"):
        m = r[mode]
        lines.append(f"| {mode} | {m['epoch_seconds']:.2f} | {m['train_reviews_per_second']:,.0f}"
                     f" | {m['inference_reviews_per_second']:,.0f} | "
                     f"{m['single_review_latency_ms_p50']:.2f} |")
    lines += ["", f"Vocabulary + encoding of the training split: "
              f"{r['vocabulary_and_encoding_seconds']:.1f} s."]
    return lines


def lstm_section(r: dict) -> list[str]:
    lines = ["Reference LSTM (gate equations in Python) against the fused `torch.nn.LSTM`, "
             "batch 100 × 228 steps:", "", "| | forward ms | training step ms |", "|---|---|---|"]
    for name in ("reference", "fused"):
        m = r["results"][name] if "results" in r else r[name]
        lines.append(f"| {name} | {m['forward_ms']:.1f} | {m['train_step_ms']:.1f} |")
    return lines


def render() -> str:
    parts: list[str] = []
    for name, section in (("seed_accuracy", accuracy_section), ("seed_speed", speed_section),
                          ("lstm_speed", lstm_section)):
        r = _load(name)
        if r is not None:
            parts += [*section(r), ""]
    return "\n".join(parts).rstrip() + "\n"


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{render()}{END}{tail}")
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
