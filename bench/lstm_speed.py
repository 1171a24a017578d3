"""Time ReferenceLSTM (gate-by-gate Python loop) against torch.nn.LSTM (fused kernel).

Measures, on the seed shape (batch 100, 228 steps, 16 inputs, 32 hidden units by default):
forward only (under ``torch.no_grad``) and a training step (forward, loss, backward), as the
median over ``--repeats`` timed runs after ``--warmup`` untimed ones. Prints a table and
writes JSON with machine information to ``bench/results/lstm_speed.json``.

    PYTHONPATH=src python bench/lstm_speed.py [--quick] [--threads 2] [--repeats 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from common import cpu_model
from torch import nn

try:
    from lstm_sentiment.lstm import ReferenceLSTM
except ImportError:  # running from a checkout without PYTHONPATH=src / an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from lstm_sentiment.lstm import ReferenceLSTM

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "lstm_speed.json"


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
    if args.out is None:
        args.out = DEFAULT_OUT.with_stem(DEFAULT_OUT.stem + ("_quick" if args.quick else ""))

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
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu": cpu_model(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }

    s = report["shape"]
    print(
        f"LSTM B={s['batch']} T={s['steps']} I={s['input']} H={s['hidden']}, "
        f"{args.threads} threads, median of {args.repeats} ({report['machine']['cpu']})"
    )
    print(f"{'':<14}{'forward ms':>12}{'train step ms':>15}")
    for name, res in results.items():
        print(f"{name:<14}{res['forward_ms']:>12.2f}{res['train_step_ms']:>15.2f}")
    sd = report["slowdown"]
    print(f"{'ref / fused':<14}{sd['forward']:>11.2f}x{sd['train_step']:>14.2f}x")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
