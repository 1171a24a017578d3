"""Run every benchmark script, then regenerate bench/README.md and README.md's results block.

    python -m bench [--quick] [--only NAME ...] [--skip NAME ...] [--tf-python PATH] [--no-install]

Each script runs in its own process (``python bench/NAME.py``), exactly as when run alone, so a
failure in one does not stop the others; the exit status is 1 if any failed. New scripts in
bench/ are picked up automatically (after the known ones); helpers and the peers' workers are not
benchmarks and are left out.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["seed_accuracy", "peers", "seed_speed", "flops", "scaling", "lstm_speed",
         "serve_speed", "score_parts", "load"]
NOT_BENCHMARKS = {"__main__", "__init__", "common", "render", "serving"}
WORKER_PREFIX = "peer_"  # run by peers.py


def scripts() -> list[str]:
    found = {p.stem for p in HERE.glob("*.py")
             if p.stem not in NOT_BENCHMARKS and not p.stem.startswith(WORKER_PREFIX)}
    return [s for s in ORDER if s in found] + sorted(found - set(ORDER))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv: list[str] | None = None) -> int:
    names = scripts()
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script")
    ap.add_argument("--only", nargs="+", choices=names, metavar="NAME",
                    help=f"run only these ({', '.join(names)})")
    ap.add_argument("--skip", nargs="+", choices=names, metavar="NAME", default=[])
    ap.add_argument("--tf-python", help="for peers: python of a TensorFlow 2.15 venv")
    ap.add_argument("--no-install", action="store_true",
                    help="for peers: never install TensorFlow; skip Keras without it")
    ap.add_argument("--no-render", action="store_true", help="do not regenerate the READMEs")
    args = ap.parse_args(argv)

    todo = [n for n in (args.only or names) if n not in args.skip]
    if "gpu" in todo and not args.only and not _cuda():
        todo.remove("gpu")
        print("skipping gpu: no CUDA device is visible", flush=True)
    status: dict[str, tuple[int, float]] = {}
    for name in todo:
        cmd = [sys.executable, str(HERE / f"{name}.py")]
        if args.quick:
            cmd.append("--quick")
        if name == "peers":
            if args.tf_python:
                cmd += ["--tf-python", args.tf_python]
            if args.no_install:
                cmd.append("--no-install")
        print(f"\n##### {name}: {' '.join(cmd)}", flush=True)
        t = time.perf_counter()
        rc = subprocess.call(cmd)
        status[name] = (rc, time.perf_counter() - t)

    print("\n##### summary")
    for name, (rc, seconds) in status.items():
        print(f"{name:<16} {'ok' if rc == 0 else f'FAILED (exit {rc})':<18} {seconds:7.1f} s")
    if not args.no_render:
        subprocess.call([sys.executable, str(HERE / "render.py")])
    return 0 if all(rc == 0 for rc, _ in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
