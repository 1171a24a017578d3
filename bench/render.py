"""Render the benchmark results into the READMEs (never typed by hand).

    python bench/render.py           # rewrites bench/README.md and every results block
    python bench/render.py --check   # exit 1 if any of them is out of date with bench/results/

Each benchmark script renders its own section (``render(result) -> str``; the convention is in
bench/common.py's docstring). This file only finds the scripts, reads their results and puts the
sections together:

- ``bench/README.md``: how to run, then every script's sections in ``ORDER``, each from its full
  run, else from its ``--quick`` run (marked as such);
- ``README.md``'s block between ``<!-- bench:start -->`` and ``<!-- bench:end -->``: the sections
  of scripts that set ``SUMMARY = True`` (or their ``summary(result)``), full runs only;
- the same block of each file a script names in ``DOCS`` (docs/accurate.md: the accurate preset's
  runs and ablations).

A speed benchmark (``per_cpu=True``) keeps each machine's latest run (CPU model, and core count
where not 2); bench/README.md and the docs show every one, the other machines' under headings
that name them, and README.md a line pointing to them. Every section starts with where its
figures come from: commit, machine, date and command. A result whose ``src/`` digest differs
from the current ``src/`` is marked **stale**, naming the commit it was measured on and the
package's files changed since (when git knows that commit); a result that records no provenance
is stale too.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import common

BENCHMARK = False
HERE = Path(__file__).resolve().parent
ROOT = common.ROOT
README = ROOT / "README.md"
BENCH_README = HERE / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
QUICK_NOTE = ("*Quick run (`--quick`): a smoke test of the benchmark, not a measurement; run the "
              "script without `--quick` for real figures.*")


@dataclass
class Section:
    script: common.Script
    module: ModuleType | None
    result_name: str
    heading: str

    @property
    def render(self) -> Callable[[dict[str, Any]], str] | None:
        return getattr(self.module, "render", None)

    @property
    def summary(self) -> Callable[[dict[str, Any]], str] | None:
        fn = getattr(self.module, "summary", None)
        if callable(fn):
            return fn
        return self.render if getattr(self.module, "SUMMARY", False) else None

    @property
    def docs(self) -> tuple[str, ...]:
        return tuple(getattr(self.module, "DOCS", ()))


def sections(folder: Path = HERE) -> list[Section]:
    """Every result section of every benchmark script in ``folder``, in ``ORDER``."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    out = []
    for script in common.benchmarks(folder):
        module = importlib.import_module(script.name) if script.has_render else None
        title = getattr(module, "TITLE", None) or script.title
        named = getattr(module, "RESULTS", None) or {script.name: title}
        out += [Section(script, module, name, heading) for name, heading in named.items()]
    return out


def load(name: str, quick_ok: bool = False) -> tuple[dict[str, Any] | None, bool]:
    """The full result ``NAME.json``, else (if ``quick_ok``) ``NAME_quick.json``; and whether
    the one returned is a quick run."""
    for suffix, quick in (("", False), ("_quick", True)):
        path = common.results_dir() / f"{name}{suffix}.json"
        if path.exists() and (quick_ok or not quick):
            return json.loads(path.read_text()), quick
    return None, False


def _machine(result: dict[str, Any]) -> str:
    m = result.get("machine", {})
    cores = f"{m['cores']} cores" if m.get("cores") else ""
    if m.get("usable_cores") and m["usable_cores"] != m.get("cores"):
        cores += f", {m['usable_cores']} usable"
    date = str(m.get("date", "no date")).replace("T", " ").replace("+00:00", " UTC")
    return ", ".join(x for x in (m.get("cpu", "unknown CPU"), cores, date) if x)


def provenance_line(result: dict[str, Any], current_src: str, script: str) -> tuple[bool, str]:
    """Whether ``result`` is stale (measured on other code than ``current_src``, or of unknown
    provenance), and the line that says so and where the figures come from."""
    prov = result.get("provenance") or {}
    rerun = f"`python bench/{script}.py`"
    if prov.get("src_changed_during_run"):
        return True, (f"**Stale: src/ changed while it ran** (started at commit "
                      f"`{(prov.get('commit_at_start') or 'unknown')[:10]}`, {_machine(result)})"
                      f". Rerun {rerun}.")
    if not prov.get("src_hash"):
        return True, (f"**Stale: provenance unknown.** Measured on {_machine(result)}; the file "
                      "records no commit and no digest of src/, so the code it measured cannot "
                      f"be told. Rerun {rerun}.")
    commit = f"commit `{(prov.get('commit') or 'unknown')[:10]}`"
    if prov.get("src_dirty"):
        commit += " with uncommitted changes in src/"
    where = f"{commit}, {_machine(result)}, by `{prov.get('command')}`"
    if prov["src_hash"] != current_src:
        changed = common.src_changed_since(prov.get("commit"))
        since = f" (in {_some(changed)})" if changed else ""
        return True, (f"**Stale: measured on {where}**; src/ has changed since{since}. Rerun it "
                      "for current figures.")
    return False, f"*Measured on {where}.*"


def _some(names: Sequence[str], most: int = 12) -> str:
    """``a.py, b.py and 3 more``: enough names to judge by, not a list to read."""
    shown = ", ".join(f"`{n}`" for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def other_cpus(name: str) -> list[dict[str, Any]]:
    """The full runs of ``NAME`` kept from other machines (speed benchmarks), by machine."""
    found = [json.loads(p.read_text()) for p in common.other_cpus(name)]
    return sorted(found, key=lambda r: common.machine_label(r.get("machine", {})))


def other_cpu_pointer(section: Section, result: dict[str, Any], current_src: str) -> str:
    """README's line for a run kept from another machine: where its section is in
    bench/README.md."""
    stale, _ = provenance_line(result, current_src, section.script.name)
    where = common.machine_label(result.get("machine", {}))
    commit = ((result.get("provenance") or {}).get("commit") or "unknown")[:10]
    return (f"*Also measured on {_machine(result)}, at commit `{commit}`"
            f"{' (stale)' if stale else ''}: bench/README.md, \"{section.heading}, on {where}\".*")


def section_text(section: Section, result: dict[str, Any], quick: bool, current_src: str,
                 level: str, summary: bool = False, other_cpu: bool = False) -> list[str]:
    stale, line = provenance_line(result, current_src, section.script.name)
    heading = section.heading
    if other_cpu:  # the same benchmark's latest run on another machine
        heading += f", on {common.machine_label(result.get('machine', {}))}"
    heading += " (stale)" if stale else ""
    parts = [f"{level} {heading}", "", line, ""]
    if quick:
        parts += [QUICK_NOTE, ""]
    render = section.summary if summary else section.render
    if render is None:
        parts += [f"*bench/{section.script.name}.py has no `render(result)`: its results are "
                  "not shown.*", ""]
    else:
        parts += [render(result).rstrip(), ""]
    return parts


HOW_TO_RUN = """\
# Benchmarks

*Generated by `python bench/render.py` from `bench/results/*.json`; do not edit by hand.*

Every script prints its figures and writes `bench/results/NAME.json` (`NAME_quick.json` with
`--quick`, a fast smoke test, not kept in git) with where they come from: the commit, whether
`src/` had uncommitted changes, a digest of `src/` as it was on disk, the command, the CPU model,
its cores (and how many this process could use), library versions and the date. A result whose
`src/` digest differs from today's `src/` is marked **stale** below. Run from the repository root
with the project's venv, on a quiet machine:

```
.venv/bin/python -m bench               # every benchmark below at one commit, then this page
.venv/bin/python -m bench --quick       # all of them in a few minutes, to check they work
.venv/bin/python -m bench --only peers flops
.venv/bin/python bench/peers.py [--quick] [--tf-python PATH] [--no-install]
.venv/bin/python bench/render.py        # regenerate this page and README.md's results
```

`python -m bench` refuses to start when `src/` has uncommitted changes (`--allow-dirty` runs
anyway; the results then say so). Arguments for one script go through `--pass NAME=ARGS`, e.g.
`--pass "peers=--tf-python PATH --no-install"`.

Adding a benchmark touches one file: `bench/NAME.py` with `main()` (writes its results through
`common.write`) and `render(result) -> str` (its section below); `python -m bench` and this page
find it by itself. The conventions (`ORDER`, `TITLE`, `SUMMARY`, `NEEDS_CUDA`, targets through
`common.target`, spreads through `common.spread`) are in `bench/common.py`.

`peers.py` runs the tutorial's code with TensorFlow 2.15 (Keras 2) from a venv of its own: the
python given by `--tf-python PATH` or `$LSTM_SENTIMENT_TF_PYTHON`, else
`$LSTM_SENTIMENT_CACHE/tf-venv` (default `~/.cache/lstm-sentiment/tf-venv`), which it creates
with `pip install tensorflow-cpu==2.15.1` on first use (about 1.3 GB on disk; `--no-install`
never does). When TensorFlow cannot be had, Keras is skipped with a message and the rest still
runs. Its spaCy contenders run in the project's Python when it has spaCy 3, which is no
dependency of the package (`pip install 'spacy>=3.7,<4'`); without it they are skipped with a
message. The dataset is `$LSTM_SENTIMENT_SOURCE`, else `../shared/data/aclImdb_v1.tar.gz`.

Timings depend on the machine and on what else runs on it; compare figures from the same run.
The speed benchmarks keep each CPU model's latest run (`bench/results/NAME@CPU.json` beside
`NAME.json`), and this page shows them all, the others under a heading naming their CPU.
"""


def _script_list(found: list[Section]) -> list[str]:
    lines, seen = ["Scripts, in the order they run:", ""], set()
    for s in found:
        if s.script.name not in seen:
            seen.add(s.script.name)
            cuda = " (needs a CUDA device)" if s.script.needs_cuda else ""
            lines.append(f"- `{s.script.name}.py`{cuda}: {s.script.about}")
    return [*lines, ""]


def render_bench_readme(found: list[Section], current_src: str) -> str:
    parts = [HOW_TO_RUN, *_script_list(found)]
    for section in found:
        result, quick = load(section.result_name, quick_ok=True)
        if result is not None:
            parts += section_text(section, result, quick, current_src, "##")
        for other in other_cpus(section.result_name):
            parts += section_text(section, other, False, current_src, "##", other_cpu=True)
    return "\n".join(parts).rstrip() + "\n"


def render_block(found: list[Section], current_src: str, doc: str | None = None) -> str:
    """README.md's block (``doc`` None: the summaries) or the block of ``doc``."""
    parts: list[str] = []
    for section in found:
        if (section.summary is None) if doc is None else (doc not in section.docs):
            continue
        result, _ = load(section.result_name)
        if result is not None:
            parts += section_text(section, result, False, current_src, "###",
                                  summary=doc is None)
            for other in other_cpus(section.result_name):
                if doc is None:  # README stays one screen deep: a pointer, not the figures
                    parts += [other_cpu_pointer(section, other, current_src), ""]
                else:
                    parts += section_text(section, other, False, current_src, "###",
                                          other_cpu=True)
    if not parts:
        parts = ["*No full run recorded yet.*", ""]
    if doc is None:
        parts.append("Every benchmark, with how to run it: `bench/README.md`.")
    return "\n".join(parts).rstrip() + "\n"


def _with_block(text: str, block: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}{END}{tail}"


def outputs(folder: Path = HERE) -> list[tuple[Path, str]]:
    """Every generated file and the text it should hold."""
    found = sections(folder)
    current = common.src_hash()
    out = [(BENCH_README, render_bench_readme(found, current)),
           (README, _with_block(README.read_text(), render_block(found, current)))]
    for doc in sorted({d for s in found for d in s.docs}):
        path = ROOT / doc
        out.append((path, _with_block(path.read_text(), render_block(found, current, doc))))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a generated file is out of date")
    args = ap.parse_args(argv)
    stale = []
    for path, text in outputs():
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not args.check:
                path.write_text(text)
                print(f"updated {path.relative_to(ROOT)}")
    if args.check and stale:
        print("out of date: " + ", ".join(str(p.relative_to(ROOT)) for p in stale))
        return 1
    if not stale:
        print("up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
