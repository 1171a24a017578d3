"""Time ReferenceLSTM (gate-by-gate Python loop) against torch.nn.LSTM (fused kernel).

Measures, on the seed shape (batch 100, 228 steps, 16 inputs, 32 hidden units by default):
forward only (under ``torch.no_grad``) and a training step (forward, loss, backward), as the
median over ``--repeats`` timed runs after ``--warmup`` untimed ones. Prints a table and
writes ``bench/results/lstm_speed.json``.

    PYTHONPATH=src python bench/lstm_speed.py [--quick] [--threads 2] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from common import cpu_model, write
from torch import nn

try:
    from lstm_sentiment.lstm import ReferenceLSTM
except ImportError:  # running from a checkout without PYTHONPATH=src / an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from lstm_sentiment.lstm import ReferenceLSTM

TITLE = "Reference against fused LSTM"
ORDER = 55


def median_ms(fn: Callable[[], object], repeats: int, warmup: int) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` in milliseconds, plus all timed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), times


def bench_model(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, repeats: int, warmup: int
) -> dict[str, Any]:
    """Forward-only and training-step timings for one model."""

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def train_step() -> None:
        model.zero_grad(set_to_none=True)
        out, (h_n, _) = model(x)
        loss = nn.functional.mse_loss(h_n[0], target) + out.square().mean()
        loss.backward()

    fwd, fwd_all = median_ms(forward, repeats, warmup)
    step, step_all = median_ms(train_step, repeats, warmup)
    return {
        "forward_ms": fwd,
        "train_step_ms": step,
        "forward_runs_ms": fwd_all,
        "train_step_runs_ms": step_all,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--steps", type=int, default=228)
    p.add_argument("--input", type=int, default=16)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--repeats", type=int, default=20, help="timed runs per measurement")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    p.add_argument("--quick", action="store_true", help="5 repeats, 1 warmup run")
    p.add_argument("--out", type=Path, help="JSON output path (default: "
                   "bench/results/lstm_speed.json, lstm_speed_quick.json with --quick)")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = 5, 1

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ref = ReferenceLSTM(args.input, args.hidden)
    fused = nn.LSTM(args.input, args.hidden, batch_first=True)
    fused.load_state_dict(ref.state_dict())
    x = torch.randn(args.batch, args.steps, args.input)
    target = torch.randn(args.batch, args.hidden)

    results = {
        name: bench_model(model, x, target, args.repeats, args.warmup)
        for name, model in (("reference", ref), ("fused", fused))
    }
    r, f = results["reference"], results["fused"]
    report: dict[str, Any] = {
        "shape": {
            "batch": args.batch,
            "steps": args.steps,
            "input": args.input,
            "hidden": args.hidden,
        },
        "repeats": args.repeats,
        "warmup": args.warmup,
        "results": results,
        "slowdown": {
            "forward": r["forward_ms"] / f["forward_ms"],
            "train_step": r["train_step_ms"] / f["train_step_ms"],
        },
        "threads": torch.get_num_threads(),
    }

    s = report["shape"]
    print(
        f"LSTM B={s['batch']} T={s['steps']} I={s['input']} H={s['hidden']}, "
        f"{args.threads} threads, median of {args.repeats} ({cpu_model()})"
    )
    print(f"{'':<14}{'forward ms':>12}{'train step ms':>15}")
    for name, res in results.items():
        print(f"{name:<14}{res['forward_ms']:>12.2f}{res['train_step_ms']:>15.2f}")
    sd = report["slowdown"]
    print(f"{'ref / fused':<14}{sd['forward']:>11.2f}x{sd['train_step']:>14.2f}x")

    if args.out is not None:
        write(args.out.stem, report, results=args.out.parent)
    else:
        write("lstm_speed" + ("_quick" if args.quick else ""), report, per_cpu=True)
    return report


def render(r: dict[str, Any]) -> str:
    s = r.get("shape", {"batch": 100, "steps": 228})
    threads = r.get("threads") or r["machine"].get("threads")
    lines = [f"Reference LSTM (gate equations in Python) against the fused `torch.nn.LSTM`, "
             f"batch {s['batch']} × {s['steps']} steps, {threads} threads, median of "
             f"{r.get('repeats', '?')} runs:", "",
             "| | forward ms | training step ms |", "|---|---|---|"]
    for name in ("reference", "fused"):
        m = r["results"][name] if "results" in r else r[name]
        lines.append(f"| {name} | {m['forward_ms']:.1f} | {m['train_step_ms']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
