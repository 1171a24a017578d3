"""Run every benchmark script at one commit, then regenerate bench/README.md and the results blocks.

    python -m bench [--quick] [--only NAME ...] [--skip NAME ...] [--pass NAME=ARGS ...]
                    [--allow-dirty] [--no-render]

The scripts are found by themselves (see bench/common.py: a ``bench/NAME.py`` with ``main()``
and ``render()``), in their ``ORDER``. Each runs in its own process (``python bench/NAME.py``),
exactly as when run alone, so a failure in one does not stop the others; the exit status is 1 if
any failed. Scripts that set ``NEEDS_CUDA = True`` are skipped where no CUDA device is visible.
Results record the commit and a digest of src/; so that they all describe one version of the
code, this refuses to start while src/ has uncommitted changes (``--allow-dirty`` runs anyway,
and each result says so), and warns if src/ changes during the run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402 (bench/ is not a package)

BENCHMARK = False


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _passed(items: list[str], names: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, args = item.partition("=")
        if not sep or name not in names:
            raise SystemExit(f"python -m bench: error: --pass wants NAME=ARGS with NAME one of "
                             f"{', '.join(names)} (got {item!r})")
        out.setdefault(name, []).extend(shlex.split(args))
    return out


def main(argv: list[str] | None = None) -> int:
    found = common.benchmarks(HERE)
    names = [s.name for s in found]
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script")
    ap.add_argument("--only", nargs="+", choices=names, metavar="NAME",
                    help=f"run only these ({', '.join(names)})")
    ap.add_argument("--skip", nargs="+", choices=names, metavar="NAME", default=[])
    ap.add_argument("--pass", dest="passed", action="append", default=[], metavar="NAME=ARGS",
                    help="extra arguments for one script, e.g. 'peers=--no-install'")
    ap.add_argument("--allow-dirty", action="store_true",
                    help="run even though src/ has uncommitted changes")
    ap.add_argument("--no-render", action="store_true", help="do not regenerate the READMEs")
    args = ap.parse_args(argv)
    extra = _passed(args.passed, names)

    prov = common.provenance()
    if prov["src_dirty"]:
        print("python -m bench: src/ has uncommitted changes, so no commit would describe the "
              "code measured", file=sys.stderr)
        if not args.allow_dirty:
            print("python -m bench: commit them first, or pass --allow-dirty", file=sys.stderr)
            return 2
        print("python -m bench: going on (--allow-dirty); every result records it",
              file=sys.stderr)
    print(f"##### commit {prov['commit']}, src/ {prov['src_hash']}", flush=True)

    todo = [s for s in found if (not args.only or s.name in args.only)
            and s.name not in args.skip]
    if not args.only and any(s.needs_cuda for s in todo) and not _cuda():
        for s in [s for s in todo if s.needs_cuda]:
            todo.remove(s)
            print(f"skipping {s.name}: no CUDA device is visible", flush=True)
    via = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    env = {**os.environ, common.VIA_ENV: via}
    status: dict[str, tuple[int, float]] = {}
    for script in todo:
        cmd = [sys.executable, str(script.path), *(["--quick"] if args.quick else []),
               *extra.get(script.name, [])]
        print(f"\n##### {script.name}: {shlex.join(cmd)}", flush=True)
        t = time.perf_counter()
        rc = subprocess.call(cmd, env=env)
        status[script.name] = (rc, time.perf_counter() - t)

    print("\n##### summary")
    for name, (rc, seconds) in status.items():
        print(f"{name:<16} {'ok' if rc == 0 else f'FAILED (exit {rc})':<18} {seconds:7.1f} s")
    if common.src_hash() != prov["src_hash"]:
        print("python -m bench: WARNING: src/ changed during the run; the results describe "
              "different code", file=sys.stderr)
    if not args.no_render:
        subprocess.call([sys.executable, str(HERE / "render.py")])
    return 0 if all(rc == 0 for rc, _ in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
