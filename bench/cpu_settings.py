"""The seed preset's epoch under the CPU-library settings that behave differently on AMD and Intel.

The seed preset's epoch was 4.7x faster than Keras's on a 2-core Intel Xeon and 3.0x on a 2-core
AMD EPYC. PyTorch's CPU wheel does its matrix products with Intel's MKL and oneDNN, and its own
kernels pick an instruction set at start; all three dispatch on the CPU they find, and glibc's
allocator serves the many small tensors of a recurrent step. This reruns ``bench/seed_speed.py``
(2 timed epochs per padding mode, in a child process with its results kept apart) under each
setting, one at a time, and writes bench/results/cpu_settings.json:

- the defaults;
- MKL limited to AVX2 (``MKL_ENABLE_INSTRUCTIONS=AVX2``);
- oneDNN limited to AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``);
- PyTorch's own kernels limited to AVX2 (``ATEN_CPU_CAPABILITY=avx2``);
- OpenMP threads that sleep at once when idle (``OMP_WAIT_POLICY=PASSIVE``);
- jemalloc or tcmalloc in place of glibc's allocator (``LD_PRELOAD``), where installed;
- glibc's allocator kept, but told to map only blocks over 32 MiB (its most) and never trim
  its heap (``GLIBC_TUNABLES``): a recurrent step's tensors are then reused, not mapped afresh;
- one thread instead of two.

Machines shared with others vary from minute to minute, so ``--rounds`` runs the whole list
that many times, interleaved, and each cell is the median over rounds.

    python bench/cpu_settings.py [--epochs 2] [--rounds 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import RESULTS_ENV, default_source, write

TITLE = "Seed epoch under CPU-library settings"
DOCS = ("docs/seed.md",)
ORDER = 41
HERE = Path(__file__).resolve().parent
LIBS = Path("/usr/lib/x86_64-linux-gnu")

# name -> (environment added, extra arguments to seed_speed.py)
SETTINGS: dict[str, tuple[dict[str, str], list[str]]] = {
    "defaults": ({}, []),
    "MKL AVX2": ({"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, []),
    "oneDNN AVX2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, []),
    "ATen AVX2": ({"ATEN_CPU_CAPABILITY": "avx2"}, []),
    "OpenMP passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, []),
    "jemalloc": ({"LD_PRELOAD": str(LIBS / "libjemalloc.so.2")}, []),
    "tcmalloc": ({"LD_PRELOAD": str(LIBS / "libtcmalloc_minimal.so.4")}, []),
    "glibc, no mmap or trim": ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432:"
                                                  "glibc.malloc.trim_threshold=4294967295"}, []),
    "1 thread": ({}, ["--threads", "1"]),
}


def measure(env: dict[str, str], args: list[str], source: str, epochs: int,
            quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(HERE / "seed_speed.py"), "--source", source,
               "--epochs", str(epochs), *args, *(["--quick"] if quick else [])]
        subprocess.run(cmd, env={**os.environ, **env, RESULTS_ENV: tmp}, check=True,
                       stdout=subprocess.DEVNULL)
        name = "seed_speed_quick.json" if quick else "seed_speed.json"
        r = json.loads((Path(tmp) / name).read_text())
    return {mode: r[mode]["epoch_seconds"] for mode in ("masked", "read")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per padding mode")
    ap.add_argument("--rounds", type=int, default=2, help="times through the whole list")
    ap.add_argument("--quick", action="store_true", help="seed_speed.py --quick for each")
    args = ap.parse_args()
    settings = {}
    for name, (env, extra) in SETTINGS.items():
        preload = env.get("LD_PRELOAD")
        if preload and not Path(preload).exists():
            print(f"{name}: {preload} is not installed; skipped")
            continue
        settings[name] = {"setting": name, "environment": env, "arguments": extra,
                          "masked_all": [], "read_all": []}
    for _ in range(args.rounds):
        for name, row in settings.items():
            seconds = measure(row["environment"], row["arguments"], args.source, args.epochs,
                              args.quick)
            for mode, value in seconds.items():
                row[f"{mode}_all"].append(value)
            print(f"{name}: masked {seconds['masked']:.2f} s/epoch, read {seconds['read']:.2f}",
                  flush=True)
    rows = [{**row, "masked": statistics.median(row["masked_all"]),
             "read": statistics.median(row["read_all"])} for row in settings.values()]
    write("cpu_settings" + ("_quick" if args.quick else ""),
          {"quick": args.quick, "epochs": args.epochs, "rounds": args.rounds, "rows": rows},
          per_cpu=True)


def render(r: dict[str, Any]) -> str:
    base = r["rows"][0]
    lines = [f"Seconds per training epoch of the seed preset (18,750 reviews; median of "
             f"{r['epochs']} timed epochs, `bench/seed_speed.py` in a child process per "
             f"setting, one setting at a time; the median over {r.get('rounds', 1)} rounds "
             "through the list, each round's figure in brackets).", "",
             "| setting | environment | masked s/epoch | vs defaults | read s/epoch "
             "| vs defaults |",
             "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        env = ", ".join(f"`{k}={v}`" for k, v in row["environment"].items())
        env = env or " ".join(f"`{a}`" for a in row["arguments"]) or "-"
        each = {m: " (" + ", ".join(f"{x:.2f}" for x in row[f"{m}_all"]) + ")"
                if row.get(f"{m}_all") else "" for m in ("masked", "read")}
        lines.append(f"| {row['setting']} | {env} | {row['masked']:.2f}{each['masked']} | "
                     f"{row['masked'] / base['masked']:.2f}x | {row['read']:.2f}{each['read']} | "
                     f"{row['read'] / base['read']:.2f}x |")
    lines += ["", _verdict(r["rows"])]
    return "\n".join(lines)


def _verdict(rows: list[dict[str, Any]]) -> str:
    """Which settings beat the defaults by more than the defaults vary between rounds: each of
    their rounds faster than the defaults' fastest round, in both padding modes."""
    base = rows[0]

    def beats(row: dict[str, Any]) -> bool:
        return all(max(row.get(f"{m}_all") or [row[m]]) < min(base.get(f"{m}_all") or [base[m]])
                   for m in ("masked", "read"))

    winners = [row["setting"] for row in rows[1:] if beats(row)]
    if winners:
        return ("Faster than the defaults in every round and both padding modes: "
                + ", ".join(winners) + ".")
    return ("No setting is faster than the defaults in every round and both padding modes: "
            "none beats them by more than the defaults' own round-to-round spread.")


if __name__ == "__main__":
    main()
