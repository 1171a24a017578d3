"""The benchmark scripts' conventions and helpers (bench/common.py, bench/render.py), checked
without running any benchmark."""

from __future__ import annotations

import ast
import copy
import importlib.util
import inspect
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402 (bench/ is a folder of scripts, not a package)
import render  # noqa: E402

# bench/seed_accuracy.py is being reworked on its own branch, which gives it render()
AWAITING_RENDER = {"seed_accuracy"}
PENDING_PRIVATE: dict[str, set[str]] = {}  # nothing may be added here


def _scripts() -> list[Path]:
    return sorted(BENCH.glob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_names(tree: ast.Module) -> set[str]:
    """``lstm_sentiment`` names starting with ``_`` that a module imports or reads."""
    found: set[str] = set()
    modules: set[str] = set()  # local names bound to lstm_sentiment or one of its modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lstm_sentiment"):
            parts = (node.module or "").split(".")
            found |= {f"{node.module}" for p in parts if _is_private(p)}
            for alias in node.names:
                if _is_private(alias.name):
                    found.add(f"{node.module}.{alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lstm_sentiment"):
                    found |= {alias.name for p in alias.name.split(".") if _is_private(p)}
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _is_private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in modules):
            found.add(f"{node.value.id}.{node.attr}")
    return found


def test_every_script_is_a_benchmark_or_says_it_is_not() -> None:
    for path in _scripts():
        tree = _tree(path)
        consts = common._constants(tree)
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        if consts.get("BENCHMARK") is False:
            continue
        assert "main" in functions, f"{path.name}: no main() and no BENCHMARK = False"
        if path.stem not in AWAITING_RENDER:
            assert "render" in functions, f"{path.name}: main() but no render(result)"


def test_discovery_finds_benchmarks_not_helpers_or_workers() -> None:
    names = [s.name for s in common.benchmarks(BENCH)]
    assert {"peers", "seed_speed", "flops", "scaling", "serve_speed", "load", "ngram_cv",
            "review_lengths"} <= set(names)
    assert not {"common", "render", "__main__", "serving", "peer_keras", "peer_ours",
                "peer_sklearn", "peer_spacy"} & set(names)
    orders = [s.order for s in common.benchmarks(BENCH)]
    assert orders == sorted(orders)
    assert [s.name for s in common.benchmarks(BENCH) if s.needs_cuda] == ["gpu"]


def test_private_name_finder_finds_them() -> None:
    tree = ast.parse("from lstm_sentiment.trainer import Split, _train_epoch\n"
                     "from lstm_sentiment import score\nimport lstm_sentiment.text as t\n"
                     "score._chunks(1)\nt._valid_unicode\nscore.score_file\n")
    assert private_names(tree) == {"lstm_sentiment.trainer._train_epoch", "score._chunks",
                                   "t._valid_unicode"}


def test_no_bench_file_uses_a_private_lstm_sentiment_name() -> None:
    for path in _scripts():
        found = private_names(_tree(path))
        assert found <= PENDING_PRIVATE.get(path.name, set()), f"{path.name}: {sorted(found)}"


def test_write_records_provenance(tmp_path: Path) -> None:
    path = common.write("fake", {"value": 1}, results=tmp_path)
    record = json.loads(path.read_text())
    assert record["value"] == 1
    prov, machine = record["provenance"], record["machine"]
    assert prov["commit"] is None or len(prov["commit"]) == 40
    for key in ("dirty", "src_dirty", "src_tree", "command", "versions"):
        assert key in prov
    assert prov["src_hash"] == common.src_hash()
    assert "src_changed_during_run" not in prov
    assert prov["command"].startswith("python ")
    assert {"python", "torch", "numpy", "tokenizers"} <= set(prov["versions"])
    for key in ("cpu", "cores", "usable_cores", "date"):
        assert machine[key]


def test_a_result_written_after_src_changed_under_it_is_stale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(common.AT_START, "src_hash", "sha256:what-the-run-started-on")
    record = json.loads(common.write("fake", {}, results=tmp_path).read_text())
    prov = record["provenance"]
    assert prov["src_changed_during_run"] and prov["src_hash"] is None
    assert prov["commit_at_start"] == common.AT_START["commit"]
    stale, line = render.provenance_line(record, common.src_hash(), "fake")
    assert stale and "changed while it ran" in line


def test_results_folder_can_be_moved_by_environment(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(common.RESULTS_ENV, str(tmp_path))
    common.write("moved", {})
    assert (tmp_path / "moved.json").exists()
    assert render.load("moved")[0] is not None


def test_command_line_is_relative_to_the_repository() -> None:
    argv = [str(common.ROOT / "bench" / "peers.py"), "--quick", "--only", "two words"]
    assert common.command_line(argv) == "python bench/peers.py --quick --only 'two words'"


def test_src_hash_sees_every_source_change_and_ignores_caches(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    before = common.src_hash(tmp_path)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert common.src_hash(tmp_path) == before
    (pkg / "a.py").write_text("x = 2\n")
    changed = common.src_hash(tmp_path)
    assert changed != before
    (pkg / "b.py").write_text("")
    assert common.src_hash(tmp_path) != changed


def _fake_load_result(src_hash: str | None) -> dict[str, object]:
    result = {"machine": {"cpu": "Test CPU", "cores": 2, "date": "2026-01-01T00:00:00+00:00"},
              "mode": "load", "clients": 1, "requests": 10, "errors": 0, "seconds": 1.0,
              "requests_per_second": 10.0, "latency": {"p50_ms": 1.0, "p99_ms": 2.0},
              "server_rss_mb_before": 100.0, "server_rss_mb_after": 101.0,
              "rss_growth_percent": 1.0}
    if src_hash is not None:
        result["provenance"] = {"commit": "abcdef1234567890" * 2 + "abcdefgh",
                                "src_hash": src_hash, "src_dirty": False,
                                "command": "python bench/load.py"}
    return result


def test_a_result_measured_on_other_code_is_stale() -> None:
    current = common.src_hash()
    stale, line = render.provenance_line(_fake_load_result("sha256:other"), current, "load")
    assert stale and "Stale" in line and "abcdef1234" in line
    stale, line = render.provenance_line(_fake_load_result(current), current, "load")
    assert not stale and "Stale" not in line and "abcdef1234" in line
    stale, line = render.provenance_line(_fake_load_result(None), current, "load")
    assert stale and "provenance unknown" in line


def test_a_stale_line_names_the_package_files_changed_since_its_commit() -> None:
    root = common._git("rev-list", "--max-parents=0", "HEAD")  # the first commit: before src/
    if root is None:
        pytest.skip("no git history here")
    result = _fake_load_result("sha256:other")
    result["provenance"]["commit"] = root.split()[0]  # type: ignore[index]
    stale, line = render.provenance_line(result, common.src_hash(), "load")
    assert stale and "src/ has changed since (in `" in line and "`artifact.py`" in line
    assert "more)" in line  # far more files than a line lists
    # a commit this clone lacks (the fake one): no list, the line says stale all the same
    stale, line = render.provenance_line(_fake_load_result("sha256:other"), "sha256:x", "load")
    assert stale and "src/ has changed since. Rerun" in line


def test_stale_marking_reaches_the_rendered_page(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(common.RESULTS_ENV, str(tmp_path))
    (tmp_path / "load.json").write_text(json.dumps(_fake_load_result("sha256:other")))
    (tmp_path / "soak.json").write_text(json.dumps(
        {**_fake_load_result(common.src_hash()), "mode": "soak"}))
    page = render.render_bench_readme(render.sections(BENCH), common.src_hash())
    assert "## Load test (stale)" in page
    assert "## Soak test\n" in page
    assert "## Serving" not in page  # no result, no section


@pytest.mark.parametrize(("value", "goal", "higher", "verdict"), [
    (2806, 2000, True, "met"), (1999, 2000, True, "not met"), (2000, 2000, True, "met"),
    (1.055, 1.0, False, "not met"), (0.9, 1.0, False, "met")])
def test_target_says_met_or_not_met(value: float, goal: float, higher: bool,
                                    verdict: str) -> None:
    text = common.target(value, goal, higher_is_better=higher, unit="x")
    assert ("not met" in text) == (verdict == "not met")
    assert text.rstrip(")*").endswith("met")
    assert ("≥" if higher else "≤") in text


def test_target_reads_as_a_sentence() -> None:
    assert (common.target(2806.4, 2000, higher_is_better=True, unit="reviews/s")
            == "2,806 reviews/s (target ≥ 2,000 reviews/s: met)")


def test_spread_refuses_a_sd_for_fewer_than_five_values() -> None:
    text = common.spread([0.8448, 0.8390, 0.8416])
    assert "±" not in text and "0.8448" in text and "too few" in text


def test_spread_says_when_nothing_depends_on_the_seed() -> None:
    text = common.spread([0.9196] * 5)
    assert "±" not in text and "no seed dependence" in text


def test_spread_gives_mean_and_sd_of_five_or_more() -> None:
    values = [0.84, 0.85, 0.86, 0.83, 0.845]
    text = common.spread(values)
    assert text.startswith(f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}")
    assert "5 seeds" in text


def _bench_main() -> ModuleType:  # bench/__main__.py, loaded under another name
    spec = importlib.util.spec_from_file_location("bench_main", BENCH / "__main__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_python_m_bench_refuses_a_dirty_src(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    module = _bench_main()
    monkeypatch.setattr(common, "provenance", lambda: {"src_dirty": True, "commit": "c",
                                                       "src_hash": "h"})
    ran: list[object] = []
    monkeypatch.setattr(module.subprocess, "call", lambda *a, **k: ran.append(a) or 0)
    assert module.main(["--only", "lstm_speed", "--no-render"]) == 2
    assert not ran and "uncommitted changes" in capsys.readouterr().err
    monkeypatch.setattr(common, "src_hash", lambda: "h")
    assert module.main(["--only", "lstm_speed", "--no-render", "--allow-dirty"]) == 0
    assert len(ran) == 1


def test_a_speed_result_keeps_each_cpus_latest_run(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = common.cpu_model()
    (tmp_path / "fake.json").write_text(json.dumps({"machine": {"cpu": "Other CPU 9000"},
                                                    "value": 1}))
    common.write("fake", {"value": 2}, results=tmp_path, per_cpu=True)
    kept = tmp_path / "fake@other-cpu-9000.json"
    assert json.loads(kept.read_text())["value"] == 1
    assert json.loads((tmp_path / "fake.json").read_text())["value"] == 2
    # this CPU again: its own run is replaced, the other CPU's stays
    common.write("fake", {"value": 3}, results=tmp_path, per_cpu=True)
    assert json.loads((tmp_path / "fake.json").read_text())["value"] == 3
    assert common.other_cpus("fake", tmp_path) == [kept]
    # the other CPU again: this CPU's run is kept in turn, the other's old copy goes
    monkeypatch.setattr(common, "cpu_model", lambda: "Other CPU 9000")
    common.write("fake", {"value": 4}, results=tmp_path, per_cpu=True)
    assert common.other_cpus("fake", tmp_path) == [tmp_path / f"fake@{common.cpu_slug(cpu)}.json"]
    assert json.loads((tmp_path / "fake.json").read_text())["value"] == 4
    # without per_cpu (accuracy results) the file is simply replaced
    common.write("plain", {}, results=tmp_path)
    monkeypatch.setattr(common, "cpu_model", lambda: "Third CPU")
    common.write("plain", {}, results=tmp_path)
    assert common.other_cpus("plain", tmp_path) == []


def test_a_speed_result_keeps_another_core_count_of_the_same_cpu_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a GPU machine's 16-core host can report the same CPU model as the 2-core machine
    monkeypatch.setattr(common, "usable_cores", lambda: 16)
    common.write("fake", {"value": 1}, results=tmp_path, per_cpu=True)
    monkeypatch.setattr(common, "usable_cores", lambda: 2)
    common.write("fake", {"value": 2}, results=tmp_path, per_cpu=True)
    big = tmp_path / f"fake@{common.cpu_slug(common.cpu_model())}-16-cores.json"
    assert common.other_cpus("fake", tmp_path) == [big]
    assert json.loads(big.read_text())["value"] == 1
    assert common.machine_label(json.loads(big.read_text())["machine"]).endswith(", 16 cores")
    assert common.machine_label({"cpu": "AMD EPYC", "cores": 2}) == "AMD EPYC"
    # the 2-core run again replaces only its own copy
    common.write("fake", {"value": 3}, results=tmp_path, per_cpu=True)
    assert common.other_cpus("fake", tmp_path) == [big]


def test_every_cpus_run_reaches_the_rendered_page(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(common.RESULTS_ENV, str(tmp_path))
    (tmp_path / "load.json").write_text(json.dumps(_fake_load_result(common.src_hash())))
    other = _fake_load_result("sha256:other")
    other["machine"]["cpu"] = "Other CPU 9000"
    (tmp_path / "load@other-cpu-9000.json").write_text(json.dumps(other))
    page = render.render_bench_readme(render.sections(BENCH), common.src_hash())
    assert "## Load test\n" in page
    assert "## Load test, on Other CPU 9000 (stale)" in page
    # README.md keeps one screen deep: a line pointing at the other CPU's section
    block = render.render_block(render.sections(BENCH), common.src_hash())
    assert "### Load test\n" in block and "### Load test, on" not in block
    assert ("*Also measured on Other CPU 9000, 2 cores, 2026-01-01 00:00:00 UTC, at commit "
            "`abcdef1234` (stale): bench/README.md, \"Load test, on Other CPU 9000\".*") in block


def _stub(fn: ast.FunctionDef) -> Any:
    """A function with ``fn``'s parameters (defaults and annotations dropped): what a call to
    ``fn`` must bind to."""
    args = copy.deepcopy(fn.args)
    for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if a is not None:
            a.annotation = None
    args.defaults = [ast.Constant(None) for _ in args.defaults]
    args.kw_defaults = [None if d is None else ast.Constant(None) for d in args.kw_defaults]
    namespace: dict[str, Any] = {}
    exec(f"def stub({ast.unparse(args)}): pass", namespace)
    return namespace["stub"]


def call_mismatches(tree: ast.Module, modules: dict[str, ast.Module]) -> list[str]:
    """Calls in ``tree`` to functions it imports from ``modules`` (by name) whose arguments do
    not fit the function's parameters; calls that spread ``*args``/``**kwargs`` are skipped."""
    defs: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module in modules:
            top = {d.name: d for d in modules[node.module].body
                   if isinstance(d, ast.FunctionDef)}
            defs |= {a.asname or a.name: top[a.name] for a in node.names if a.name in top}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in defs):
            continue
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
                k.arg is None for k in node.keywords):
            continue
        try:
            inspect.signature(_stub(defs[node.func.id])).bind(
                *node.args, **{k.arg: k.value for k in node.keywords if k.arg})
        except TypeError as exc:
            found.append(f"line {node.lineno}: {node.func.id}(): {exc}")
    return found


def test_call_checker_finds_a_call_that_does_not_fit() -> None:
    helper = ast.parse("def measure(model, sentences, denied, *, quick=False): pass")
    script = ast.parse("from everyday import measure\nmeasure(m, s)\nmeasure(m, s, d, quick=1)\n"
                       "measure(m, s, d, slow=1)\nmeasure(*both)\n")
    found = call_mismatches(script, {"everyday": helper})
    assert [f.split(":")[0] for f in found] == ["line 2", "line 4"]


def test_bench_scripts_call_each_others_functions_as_defined() -> None:
    modules = {path.stem: _tree(path) for path in _scripts()}
    found = {name: bad for name, tree in modules.items()
             if (bad := call_mismatches(tree, modules))}
    assert found == {}


@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS as Linux keeps it across exec")
def test_a_child_s_peak_rss_is_its_own_not_that_of_the_process_measuring_it() -> None:
    held = bytearray(256 << 20)  # this process now holds 256 MB more than the child will
    held[:: 4096] = b"x" * len(held[:: 4096])  # touched, so resident
    small = common.run_child([sys.executable, "-c", "pass"])
    big = common.run_child([sys.executable, "-c",
                            "x = bytearray(96 << 20); x[::4096] = b'y' * len(x[::4096])"])
    failed = common.run_child([sys.executable, "-c", "raise SystemExit(3)"])
    assert small["returncode"] == 0 and small["peak_rss_mb"] < 64
    assert 96 < big["peak_rss_mb"] < 96 + 64
    assert failed["returncode"] == 3 and failed["seconds"] > 0
    del held
