"""Shared helpers for the benchmark scripts: provenance, result files, targets, spreads, data.

How a benchmark is written (``python -m bench`` and ``bench/render.py`` find it by itself; adding
one touches its own file only):

- ``bench/NAME.py`` defines ``main()``, which measures and writes ``bench/results/NAME.json``
  (``NAME_quick.json`` with ``--quick``) through :func:`write`, and ``render(result) -> str``,
  its markdown section made from that results file alone (no heading: render.py adds it, with a
  stale or quick-run note when there is one).
- Optional module-level settings: ``TITLE`` (the section heading; default: the module
  docstring's first line), ``ORDER`` (an int, lower first; default 100), ``SUMMARY = True`` to
  show the section in README.md's results block too, or a ``summary(result) -> str`` giving a
  shorter text for it, ``RESULTS`` (``{result name: heading}`` when the script writes other
  names than its own, e.g. load.py's ``load`` and ``soak``), ``DOCS`` (other markdown files
  whose ``<!-- bench:start -->`` block shows the section), ``NEEDS_CUDA = True`` (skipped by
  ``python -m bench`` where no CUDA device is visible). Speed figures pass ``per_cpu=True`` to
  :func:`write`, which then keeps each machine's latest run (render.py shows every one), and
  name their plots with :func:`machine_plot`.
- State a target through :func:`target` and a spread over seeds through :func:`spread`, so a
  missed target reads "not met" and a sd is never made of fewer than 5 values.
- Import only public names of ``lstm_sentiment`` (tests/test_bench_infra.py checks).
- A module in bench/ that is not a benchmark (a helper, a worker run by a benchmark) sets
  ``BENCHMARK = False``.

Everything above the "workers" line below imports only the standard library at module level,
so the peers' workers can import this file from any Python (the TensorFlow venv included).
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lstm_sentiment.config import RunConfig
    from lstm_sentiment.split import Split
    from lstm_sentiment.text import TextEncoder

BENCHMARK = False
ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
RESULTS_ENV = "LSTM_SENTIMENT_BENCH_RESULTS"  # another results folder (tests use one)
VIA_ENV = "LSTM_SENTIMENT_BENCH_VIA"  # set by ``python -m bench`` for the scripts it runs
RESULTS = ROOT / "bench" / "results"  # where results live unless $LSTM_SENTIMENT_BENCH_RESULTS
SHARED_ARCHIVE = ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz"
# batch scoring targets, reviews/s with reading, tokenizing and writing included (serve_speed,
# accurate and score_parts state them)
# issue 21: reviews/s of `score` on 2 cores (the seed's moonshot: 30,000)
SCORE_TARGETS = {"seed": 20_000, "accurate": 4_000}
MIN_SPREAD = 5  # fewest values a sd is given for: fewer say little about the spread
# distributions whose versions a result always records, and those it records when imported
CORE_LIBRARIES = ("torch", "numpy", "tokenizers")
LIBRARIES = {"numpy": "numpy", "tokenizers": "tokenizers", "torch": "torch",
             "safetensors": "safetensors", "sklearn": "scikit-learn", "scipy": "scipy",
             "onnx": "onnx", "onnxruntime": "onnxruntime", "httpx": "httpx",
             "matplotlib": "matplotlib", "fastapi": "fastapi", "uvicorn": "uvicorn",
             "tensorflow": "tensorflow-cpu"}


def default_source() -> str:
    """The dataset the benchmarks use: $LSTM_SENTIMENT_SOURCE, else ../shared's archive (beside
    this checkout, or beside the main checkout when this is a git worktree)."""
    if os.environ.get("LSTM_SENTIMENT_SOURCE"):
        return os.environ["LSTM_SENTIMENT_SOURCE"]
    common_dir = _git("rev-parse", "--path-format=absolute", "--git-common-dir")
    if not SHARED_ARCHIVE.exists() and common_dir:
        beside_main = Path(common_dir).parents[1] / "shared" / "data" / SHARED_ARCHIVE.name
        if beside_main.exists():
            return str(beside_main)
    return str(SHARED_ARCHIVE)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int | None:
    """Cores this process may run on (its affinity), which a container may set below the
    machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


# --------------------------------------------------------------------------------------------
# Provenance: which code, command and machine a result comes from.


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


@functools.cache
def src_changed_since(commit: str | None) -> tuple[str, ...] | None:
    """The package's files (under src/lstm_sentiment/) that differ between ``commit`` and the
    working tree; None when git cannot tell (no git, or a commit this clone does not have)."""
    if not commit:
        return None
    out = _git("diff", "--name-only", "--relative=src/lstm_sentiment", commit, "--",
               "src/lstm_sentiment")
    return None if out is None else tuple(line for line in out.splitlines() if line)


def _src_files(src: Path) -> list[Path]:
    """The package's source files as git would see them: caches and build leftovers (the
    ignored ``__pycache__``, ``*.egg-info``, dotted folders, ``*.pyc``) left out."""
    files = []
    for path in src.rglob("*"):
        rel = path.relative_to(src).parts
        if (not path.is_file() or path.suffix in (".pyc", ".tmp")
                or any(p == "__pycache__" or p.startswith(".") or p.endswith(".egg-info")
                       for p in rel)):
            continue
        files.append(path)
    return sorted(files)


def src_hash(src: Path = SRC) -> str:
    """A digest of the files under ``src/`` as they are on disk (not as committed), so a result
    measured on uncommitted changes is told apart from one measured on the commit."""
    digest = hashlib.sha256()
    for path in _src_files(src):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


# the code when this process started: a result written after src/ changed under a long run
# describes no one version of it (see write)
AT_START = {"commit": _git("rev-parse", "HEAD"), "src_hash": src_hash()}


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as run from the repository root: ``python bench/NAME.py --quick``."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        script = Path(argv[0]).resolve()
        if script.is_relative_to(ROOT):
            argv[0] = script.relative_to(ROOT).as_posix()
    return shlex.join(["python", *argv])


def versions() -> dict[str, str]:
    """Python's version, torch's, numpy's and tokenizers', and those of the other libraries
    this process has imported."""
    found = {"python": platform.python_version()}
    for module, dist in LIBRARIES.items():
        if module in sys.modules or module in CORE_LIBRARIES:
            try:
                found[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                if module in sys.modules:
                    found[dist] = str(getattr(sys.modules[module], "__version__", "unknown"))
    if "lstm_sentiment" in sys.modules:
        found["lstm-sentiment"] = str(getattr(sys.modules["lstm_sentiment"], "__version__", "?"))
    return found


def provenance() -> dict[str, Any]:
    """The code and command a result is measured with (see :func:`write`)."""
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  ":(exclude)bench/results")
    src_status = _git("status", "--porcelain", "--", "src")
    return {
        "commit": _git("rev-parse", "HEAD"),
        # tracked files other than bench/results/ changed (results are written as a run goes)
        "dirty": None if status is None else bool(status),
        "src_dirty": None if src_status is None else bool(src_status),
        "src_tree": _git("rev-parse", "HEAD:src"),  # src/ as committed
        "src_hash": src_hash(),  # src/ as it was on disk: what render.py compares
        "command": command_line(),
        "via": os.environ.get(VIA_ENV),
        "executable": sys.executable,
        "versions": versions(),
    }


def version_of(result: dict[str, Any], library: str) -> str | None:
    """A library's version as a result records it (older results: in their machine block)."""
    recorded = (result.get("provenance") or {}).get("versions") or {}
    return recorded.get(library) or result.get("machine", {}).get(library)


def machine() -> dict[str, Any]:
    threads = None
    if "torch" in sys.modules:
        threads = sys.modules["torch"].get_num_threads()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "torch_threads": threads,
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def results_dir() -> Path:
    """Where results are written and read: $LSTM_SENTIMENT_BENCH_RESULTS, else bench/results."""
    return Path(os.environ.get(RESULTS_ENV) or RESULTS)


def cpu_slug(cpu: str) -> str:
    """A CPU model as a file-name part: "AMD EPYC 9R14 96-Core Processor" -> "amd-epyc-9r14-..."."""
    return "-".join("".join(c if c.isalnum() else " " for c in cpu.lower()).split()) or "unknown"


# the targets' machine has 2 cores: a speed run on another core count is kept apart from it
REFERENCE_CORES = 2


def _other_cores(machine: dict[str, Any]) -> int | None:
    """A result's core count where it is not the targets' 2 (None where it is, or unknown)."""
    cores = machine.get("usable_cores") or machine.get("cores")
    return None if cores in (None, REFERENCE_CORES) else cores


def machine_slug(machine: dict[str, Any]) -> str:
    """A result's machine as a file-name part: its CPU model, and its core count where that is
    not the targets' 2 ("intel-r-xeon-r-processor-16-cores")."""
    slug, cores = cpu_slug(machine.get("cpu") or "unknown"), _other_cores(machine)
    return slug if cores is None else f"{slug}-{cores}-cores"


def machine_label(machine: dict[str, Any]) -> str:
    """The same in words: "AMD EPYC", or "Intel(R) Xeon(R) Processor, 16 cores"."""
    cpu, cores = machine.get("cpu") or "an unknown CPU", _other_cores(machine)
    return cpu if cores is None else f"{cpu}, {cores} cores"


def machine_plot(name: str) -> Path:
    """``results/NAME-MACHINE.png``: a plot of its own for each machine's kept run (the same
    names as :func:`write` keeps them by)."""
    return results_dir() / f"{name}-{machine_slug(machine())}.png"


def other_cpus(name: str, results: Path | None = None) -> list[Path]:
    """The kept results of ``NAME`` from other machines than ``NAME.json``'s (see
    :func:`write`)."""
    folder = Path(results) if results is not None else results_dir()
    return sorted(folder.glob(f"{name}@*.json"))


def write(name: str, payload: dict[str, Any], results: Path | None = None, *,
          per_cpu: bool = False) -> Path:
    """Write ``results/NAME.json``: ``payload`` plus the machine (CPU, cores, threads, date)
    and the provenance (commit, dirty state, src/ digest, command, library versions).

    ``per_cpu`` (speed figures): a ``NAME.json`` measured on another machine (CPU model, or
    core count: :func:`machine_slug`) is kept as ``NAME@MACHINE.json`` instead of being
    replaced, so each machine's latest run stays on record and is rendered beside this one;
    this machine's own older copy goes."""
    folder = Path(results) if results is not None else results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    prov = provenance() | {"commit_at_start": AT_START["commit"]}
    if prov["src_hash"] != AT_START["src_hash"]:
        prov |= {"src_hash": None, "src_changed_during_run": True}
    record = {"machine": machine(), "provenance": prov, **payload}
    if per_cpu:
        slug = machine_slug(record["machine"])
        if path.exists():
            before = machine_slug(json.loads(path.read_text()).get("machine", {}))
            if before != slug:
                path.replace(folder / f"{name}@{before}.json")
        (folder / f"{name}@{slug}.json").unlink(missing_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    print(f"wrote {path}")
    return path


# --------------------------------------------------------------------------------------------
# Stating figures: targets and spreads.


def _number(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,g}"


def met(value: float, goal: float, *, higher_is_better: bool) -> bool:
    return value >= goal if higher_is_better else value <= goal


def target(value: float, goal: float, *, higher_is_better: bool, unit: str = "",
           fmt: str = "{:,.0f}", goal_text: str | None = None) -> str:
    """``2,806 reviews/s (target ≥ 2,000 reviews/s: met)``; a miss reads ``**not met**``.
    ``goal_text`` replaces the goal's figure (e.g. "1 worker's 12,194")."""
    shown = fmt.format(value) + (f" {unit}" if unit else "")
    op = "≥" if higher_is_better else "≤"
    goal_shown = goal_text or (_number(goal) + (f" {unit}" if unit else ""))
    verdict = "met" if met(value, goal, higher_is_better=higher_is_better) else "**not met**"
    return f"{shown} (target {op} {goal_shown}: {verdict})"


def spread(values: Sequence[float], *, fmt: str = "{:.4f}", what: str = "seeds") -> str:
    """``0.8418 ± 0.0029 (sd over 5 seeds)``; with fewer than 5 values the values themselves
    and why no sd; ``no seed dependence`` when all are equal (no ``± 0.0000``)."""
    values = [float(v) for v in values]
    if not values:
        return "–"
    if len(set(values)) == 1:
        return (f"{fmt.format(values[0])} (no seed dependence: equal over {len(values)} "
                f"{what})" if len(values) > 1 else f"{fmt.format(values[0])} (one run)")
    if len(values) < MIN_SPREAD:
        shown = ", ".join(fmt.format(v) for v in values)
        return f"{shown} ({len(values)} {what}: too few for a sd, which needs {MIN_SPREAD})"
    sd = statistics.stdev(values)
    return f"{fmt.format(statistics.fmean(values))} ± {fmt.format(sd)} (sd over " \
           f"{len(values)} {what})"


def mean_sd(values: list[float]) -> dict[str, Any]:
    """What a result file records of values over seeds (render them with :func:`spread`)."""
    return {"mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


# --------------------------------------------------------------------------------------------
# Data shared by the seed-preset speed scripts.


@dataclass
class SeedSplit:
    """The seed preset's training and validation reviews, encoded as a training run does."""

    config: RunConfig  # the seed preset, its vocabulary size set
    encoder: TextEncoder  # vocabulary learned from ``texts``
    train: Split
    val: Split | None  # None when not asked for
    texts: list[str]  # the training texts encoded in ``train``
    val_texts: list[str]
    encode_seconds: float  # learning the vocabulary and encoding ``texts``


_LOADED: dict[str, Any] = {}


def seed_split(source: str, *, size: int | None = None, sequence_length: int | None = None,
               validation: bool = True) -> SeedSplit:
    """The seed preset's split (the tutorial's 18,750 training and 6,250 validation reviews;
    the first ``size`` training reviews when given), with a vocabulary learned from the
    training texts and both encoded in the smallest id type, as ``lstm-sentiment train`` does.
    ``sequence_length`` overrides the preset's; ``validation=False`` leaves the validation
    reviews unencoded (``val`` None). The reviews are read once per process."""
    import time

    import torch

    from lstm_sentiment import data
    from lstm_sentiment.config import preset
    from lstm_sentiment.split import Split
    from lstm_sentiment.text import TextEncoder, id_dtype

    if source not in _LOADED:
        root = data.fetch(source)
        _LOADED[source] = (data.load(root, "train"), data.load(root, "validation"))
    train, val = _LOADED[source]
    config = preset("seed")
    config.data.source = source
    if sequence_length is not None:
        config.text.sequence_length = sequence_length
    texts = train.texts[:size] if size else list(train.texts)
    dtype = id_dtype(config.text.max_tokens)
    t0 = time.perf_counter()
    encoder, ids = TextEncoder.build(texts, config.text, dtype)
    seconds = time.perf_counter() - t0
    config = config.derived(vocab_size=encoder.vocab_size, num_classes=len(train.class_names))
    return SeedSplit(
        config, encoder,
        Split(torch.from_numpy(ids), torch.from_numpy(train.labels[: len(texts)]).long()),
        Split(torch.from_numpy(encoder.encode(val.texts, dtype)),
              torch.from_numpy(val.labels).long()) if validation else None,
        texts, list(val.texts), seconds)


def preset_settings(name: str) -> dict[str, Any]:
    """A preset's text, model and training settings (not where its data comes from), to tell
    whether a result file was measured with the preset as it is now."""
    from lstm_sentiment import config as cfg

    return {k: v for k, v in cfg.preset(name).to_dict().items() if k in ("text", "model", "train")}


# --------------------------------------------------------------------------------------------
# Helpers for scripts that measure one contender per subprocess (workers too).


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


# Linux keeps a process's peak RSS (ru_maxrss) across exec, and a child that this process starts
# begins as a copy of it: it would report this process's own peak when that is the larger. The
# command is therefore forked from a small launcher, which times it and reports its rusage.
_LAUNCHER = """import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{time.perf_counter() - t0} {usage.ru_maxrss}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` to completion (output passes through) and report its exit status, wall time
    and peak RSS (MB): the largest of the command's process and those it waited for, not counting
    this one's (see :data:`_LAUNCHER`)."""
    import signal
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage"
        proc = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, str(report), *cmd],
                                env=env, start_new_session=True)
        try:
            proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command
            proc.wait()
            raise
        seconds, maxrss = report.read_text().split()
    return {"returncode": proc.returncode, "seconds": float(seconds),
            "peak_rss_mb": int(maxrss) / 1024}


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


def fastest(work: Any, repeats: int = 3) -> float:
    """The fastest of ``repeats`` timed calls of ``work()`` (seconds): the least disturbed run."""
    import time

    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - t0)
    return best


def listed(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def preset_with(name: str, overrides: dict[str, Any], source: str, *, seed: int | None = None,
                quick: bool = False) -> Any:
    """Preset ``name`` with ``{"section.field": value}`` overrides, on ``source``; ``quick``: one
    epoch."""
    from lstm_sentiment import config as cfg

    config = cfg.preset(name)
    config.data.source = source
    if seed is not None:
        config.train.seed = seed
    for key, value in overrides.items():
        section, field = key.split(".")
        setattr(getattr(config, section), field, value)
    if quick:
        config.train.epochs = 1
    return config


def dump(payload: dict[str, Any], out: str | None) -> None:
    """A worker's result: JSON to ``out`` when given, else to stdout."""
    text = json.dumps(payload, indent=2) + "\n"
    if out:
        Path(out).write_text(text)
    else:
        print(text, end="")


# --------------------------------------------------------------------------------------------
# Finding the benchmarks (read from the source, so nothing is imported to list them).


@dataclass
class Script:
    name: str  # bench/NAME.py
    path: Path
    title: str  # the docstring's first line
    about: str  # the docstring's first paragraph, on one line
    order: int
    needs_cuda: bool
    has_render: bool


def _constants(tree: ast.Module) -> dict[str, Any]:
    """The module's top-level ``UPPER = literal`` assignments."""
    found: dict[str, Any] = {}
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        for t in targets:
            if isinstance(t, ast.Name) and t.id.isupper():
                with contextlib.suppress(ValueError):
                    found[t.id] = ast.literal_eval(node.value)
    return found


def benchmarks(folder: Path = ROOT / "bench") -> list[Script]:
    """The benchmark scripts in ``folder``, in ``ORDER`` (then by name): every module with a
    top-level ``main`` that does not set ``BENCHMARK = False``."""
    found = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        consts = _constants(tree)
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        if consts.get("BENCHMARK") is False or "main" not in functions:
            continue
        doc = (ast.get_docstring(tree) or path.stem).strip()
        about = " ".join(doc.split("\n\n")[0].split()).replace("``", "`")
        found.append(Script(path.stem, path, doc.splitlines()[0].rstrip("."), about,
                            int(consts.get("ORDER", 100)), bool(consts.get("NEEDS_CUDA", False)),
                            "render" in functions))
    return sorted(found, key=lambda s: (s.order, s.name))
