"""Shared helpers for the benchmark scripts: machine facts, the dataset, result files."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SHARED_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "aclImdb_v1.tar.gz"


def default_source() -> str:
    """The dataset the benchmarks use: $LSTM_SENTIMENT_SOURCE, else ../shared's archive."""
    return os.environ.get("LSTM_SENTIMENT_SOURCE", str(SHARED_ARCHIVE))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    import numpy
    import tokenizers
    import torch

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def mean_sd(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def write(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"wrote {path}")
    return path


# --------------------------------------------------------------------------------------------
# Helpers for scripts that measure one contender per subprocess. Standard library only, so the
# workers can import them from any Python (the TensorFlow venv included).


def peak_rss_mb() -> float | None:
    """This process's peak resident set size so far (VmHWM), in MB; None where unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    except (ImportError, OSError):
        return None


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` to completion (output passes through) and report its exit status, wall time
    and peak RSS, the latter from ``wait4``'s rusage of that child alone (MB)."""
    import subprocess
    import time

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"returncode": proc.returncode, "seconds": time.perf_counter() - t0,
            "peak_rss_mb": usage.ru_maxrss / 1024}


def median_ms(fn: Any, repeats: int = 20, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones (ms)."""
    import time

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def dump(payload: dict[str, Any], out: str | None) -> None:
    """A worker's result: JSON to ``out`` when given, else to stdout."""
    text = json.dumps(payload, indent=2) + "\n"
    if out:
        Path(out).write_text(text)
    else:
        print(text, end="")


def preset_settings(name: str) -> dict[str, Any]:
    """A preset's text, model and training settings (not where its data comes from), to tell
    whether a result file was measured with the preset as it is now."""
    from lstm_sentiment import config as cfg

    return {k: v for k, v in cfg.preset(name).to_dict().items() if k in ("text", "model", "train")}
