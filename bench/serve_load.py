"""Load on `lstm-sentiment serve` with wrk: requests/s and latency against clients and cores.

Starts the real `lstm-sentiment serve` command (as a user would), warms it up, then runs wrk
(`--latency`) against /v1/predict, one real IMDB test review per request, cycled from a file of
reviews by a Lua script. Measures the bundled model at 1, 10, 50 and 200 connections, on 2
cores and on 1 (the server pinned with taskset), and a seed-preset model at 50 connections;
records the server's RSS (all its processes) before and after. Writes
bench/results/serve_load.json. Targets (2 cores): bundled, 50 connections: >= 1,200
requests/s, p99 <= 100 ms, no errors; bundled, 1 connection: p50 <= 2 ms; seed, 50
connections: >= 2,500 requests/s.

    python bench/serve_load.py [--quick] [--seed-model DIR] [--workers N] [--duration S]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import default_source, write

TARGETS = {"bundled_rps_50": 1200.0, "bundled_p99_ms_50": 100.0, "bundled_p50_ms_1": 2.0,
           "seed_rps_50": 2500.0}
# Other ways to use the 2 cores, measured at 50 connections beside the chosen one.
ALTERNATIVES = [["--workers", "1", "--threads", "2"], ["--workers", "1", "--threads", "1"]]
LUA = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
local i = math.random(#bodies)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "/v1/predict", nil, bodies[i])
end
"""


class Served:
    """`python -m lstm_sentiment serve MODEL --port 0 ARGS`, optionally under taskset."""

    def __init__(self, model: str, args: list[str], cores: str | None, log: Path) -> None:
        cmd = [sys.executable, "-m", "lstm_sentiment", "serve", model, "--port", "0", *args]
        if cores is not None:
            cmd = ["taskset", "-c", cores, *cmd]
        self.log = log
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("w"))
        deadline = time.time() + 120
        while time.time() < deadline:
            if m := re.search(r"on http://[^/]+:(\d+)/", log.read_text()):
                self.url = f"http://127.0.0.1:{m.group(1)}"
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        else:
            raise RuntimeError("serve did not start")
        while time.time() < deadline:
            try:
                # with several workers, every one must have loaded its model
                if httpx.get(self.url + "/health", timeout=2).status_code == 200 and (
                        "--workers" not in args or self._all_ready()):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("serve never answered")

    def _all_ready(self) -> bool:
        body = {"texts": ["warm"]}
        return all(httpx.post(self.url + "/v1/predict", json=body, timeout=10).status_code
                   == 200 for _ in range(8))

    def pids(self) -> list[int]:
        kids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                              text=True).stdout.split()
        return [self.proc.pid, *(int(k) for k in kids)]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server and its child processes have used so far: on
        a shared machine a steadier measure of cost than requests/s."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return total / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        """Resident memory of the server and all its child processes (MB)."""
        total = 0.0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
            except OSError:
                pass
        return total

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def parse_wrk(out: str) -> dict[str, Any]:
    """requests/s, latency percentiles (ms) and error counts from `wrk --latency` output."""
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}

    def ms(text: str) -> float:
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
        if not m:
            raise ValueError(f"not a wrk duration: {text!r}")
        return float(m.group(1)) * units[m.group(2)]

    result: dict[str, Any] = {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "latency_ms": {f"p{q}": ms(v) for q, v in
                       re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.MULTILINE)},
        "non_2xx": 0, "socket_errors": 0}
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        result["non_2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      out):
        result["socket_errors"] = sum(int(x) for x in m.groups())
    result["errors"] = result["non_2xx"] + result["socket_errors"]
    return result


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, Any]:
    threads = max(1, min(2, connections))
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
         "--latency", "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    return {"connections": connections, "seconds": seconds, **parse_wrk(out)}


def reviews_file(source: str, folder: Path, n: int) -> Path:
    from lstm_sentiment import data

    texts = data.load(data.fetch(source), "test").texts
    step = max(1, len(texts) // n)
    path = folder / "bodies.jsonl"
    path.write_text("".join(json.dumps({"texts": [t]}) + "\n" for t in texts[::step][:n]))
    return path


def seed_model(source: str, out: Path) -> str:
    """A seed-preset model trained for one epoch: a forward pass costs the same however long
    the weights were trained, and ten epochs would take longer than the whole benchmark."""
    from lstm_sentiment import config as cfg
    from lstm_sentiment import train

    config = cfg.preset("seed")
    config.data.source = source
    config.train.epochs = 1
    train(config, out, log=lambda _line: None)
    return str(out)


def measure(model: str, args: list[str], script: Path, runs: list[tuple[int, str | None]],
            seconds: float, warmup: float, log: Path) -> list[dict[str, Any]]:
    """Each (connections, cores) in ``runs`` on a fresh server: warm-up, then the run."""
    results = []
    for connections, cores in runs:
        server = Served(model, args, cores, log)
        try:
            rss_before = server.rss_mb()
            wrk(server.url, script, connections, warmup)
            cpu = server.cpu_seconds()
            run = wrk(server.url, script, connections, seconds)
            cpu = server.cpu_seconds() - cpu
            run.update(cores=cores or "all", rss_mb_before=rss_before,
                       rss_mb_after=server.rss_mb(),
                       server_cpu_ms_per_request=1e3 * cpu / max(1, run["requests"]))
        finally:
            run["exit_code"] = server.stop()
        print(f"  {Path(model).name} c={connections} cores={run['cores']}: "
              f"{run['requests_per_second']:,.0f} req/s, p50 {run['latency_ms']['p50']:.2f} "
              f"ms, p99 {run['latency_ms']['p99']:.2f} ms, errors {run['errors']}, server CPU "
              f"{run['server_cpu_ms_per_request']:.3f} ms/request", flush=True)
        results.append(run)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--seed-model", help="a seed-preset model folder (default: train one for "
                    "one epoch)")
    ap.add_argument("--workers", type=int, default=2, help="serve --workers (default 2)")
    ap.add_argument("--threads", type=int, default=1, help="serve --threads (default 1)")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per wrk run")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per run")
    ap.add_argument("--serve-arg", action="append", default=[],
                    help="extra argument for serve (repeat), e.g. --serve-arg=--no-access-log")
    ap.add_argument("--quick", action="store_true",
                    help="2 s runs, fewer of them, an untrained seed model")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("serve_load needs wrk (apt-get install wrk)")
    seconds, warmup = (2.0, 1.0) if args.quick else (args.duration, args.warmup)
    serve_args = ["--workers", str(args.workers), "--threads", str(args.threads),
                  *args.serve_arg]
    two = "0,1" if (os.cpu_count() or 1) >= 2 else None

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bodies = reviews_file(args.source, folder, 500 if args.quick else 5000)
        script = folder / "reviews.lua"
        script.write_text(LUA % bodies)
        log = folder / "serve.log"
        if args.seed_model:
            seed = args.seed_model
        elif args.quick:  # untrained weights on the real vocabulary: the same serving cost
            from serving import seed_model as untrained

            untrained(args.source, folder / "seed")
            seed = str(folder / "seed")
        else:
            seed = seed_model(args.source, folder / "seed")
        clients = [1, 50] if args.quick else [1, 10, 50, 200]
        print("bundled model:", flush=True)
        bundled = measure("bundled", serve_args, script, [(c, two) for c in clients],
                          seconds, warmup, log)
        one_core = measure("bundled", serve_args, script, [(50, "0")], seconds, warmup, log)
        print("seed model:", flush=True)
        seed_runs = measure(seed, serve_args, script, [(50, two)], seconds, warmup, log)
        alternatives = []
        for other in ALTERNATIVES:
            print(f"bundled model, serve {' '.join(other)}:", flush=True)
            run = measure("bundled", [*other, *args.serve_arg], script, [(50, two)], seconds,
                          warmup, log)[0]
            alternatives.append({"serve_args": other, **run})

    result = {"workers": args.workers, "serve_args": serve_args, "seconds": seconds,
              "warmup_seconds": warmup, "reviews": 500 if args.quick else 5000,
              "bundled": bundled, "bundled_one_core": one_core, "seed": seed_runs,
              "alternatives": alternatives, "targets": TARGETS}
    path = write("serve_load" + ("_quick" if args.quick else ""), result, per_cpu=True)
    print(render(json.loads(path.read_text())))  # with the machine's details write added


def _run(runs: list[dict[str, Any]], connections: int) -> dict[str, Any] | None:
    return next((r for r in runs if r["connections"] == connections), None)


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def render(result: dict[str, Any]) -> str:
    """The markdown section for bench/README.md: the runs, then each target met or not."""
    m = result.get("machine", {})
    lines = [f"`lstm-sentiment serve {' '.join(result['serve_args'])}` under wrk on loopback, "
             f"one IMDB test review per request ({result['reviews']:,} reviews cycled), "
             f"{result['seconds']:g} s per run after {result['warmup_seconds']:g} s of warm-up, "
             f"a fresh server per run ({m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
             f"{m.get('date', '?')}). wrk runs on the same cores.", "",
             "| model | cores | connections | requests/s | p50 ms | p90 ms | p99 ms | errors "
             "| server RSS MB before → after |", "|---|---|---|---|---|---|---|---|---|"]
    for name, runs in (("bundled", result["bundled"]), ("bundled", result["bundled_one_core"]),
                       ("seed", result["seed"])):
        for r in runs:
            lat = r["latency_ms"]
            cores = "1" if r["cores"] == "0" else "2"
            lines.append(f"| {name} | {cores} | {r['connections']} | "
                         f"{r['requests_per_second']:,.0f} | {lat['p50']:.2f} | "
                         f"{lat['p90']:.2f} | {lat['p99']:.2f} | {r['errors']} | "
                         f"{r['rss_mb_before']:.0f} → {r['rss_mb_after']:.0f} |")
    if result.get("alternatives"):
        lines += ["", "The bundled model at 50 connections with other settings (same conditions, "
                  "run after the table above):", "",
                  "| serve | requests/s | p50 ms | p99 ms | errors | server CPU ms/request |",
                  "|---|---|---|---|---|---|"]
        for r in [*(x for x in result["bundled"] if x["connections"] == 50),
                  *result["alternatives"]]:
            lat = r["latency_ms"]
            lines.append(f"| `{' '.join(r.get('serve_args', result['serve_args']))}` | "
                         f"{r['requests_per_second']:,.0f} | {lat['p50']:.2f} | "
                         f"{lat['p99']:.2f} | {r['errors']} | "
                         f"{r['server_cpu_ms_per_request']:.2f} |")
    t = result["targets"]
    b50, b1, s50 = (_run(result["bundled"], 50), _run(result["bundled"], 1),
                    _run(result["seed"], 50))
    lines += ["", "Targets (2 cores):", ""]
    if b50:
        rps, p99 = b50["requests_per_second"], b50["latency_ms"]["p99"]
        lines.append(f"- bundled, 50 connections, >= {t['bundled_rps_50']:,.0f} requests/s: "
                     f"{rps:,.0f}, {_met(rps >= t['bundled_rps_50'])}; p99 <= "
                     f"{t['bundled_p99_ms_50']:g} ms: {p99:.1f} ms, "
                     f"{_met(p99 <= t['bundled_p99_ms_50'])}; no errors: {b50['errors']}, "
                     f"{_met(b50['errors'] == 0)}")
    if b1:
        p50 = b1["latency_ms"]["p50"]
        lines.append(f"- bundled, 1 connection, p50 <= {t['bundled_p50_ms_1']:g} ms: "
                     f"{p50:.2f} ms, {_met(p50 <= t['bundled_p50_ms_1'])}")
    if s50:
        rps = s50["requests_per_second"]
        lines.append(f"- seed, 50 connections, >= {t['seed_rps_50']:,.0f} requests/s: "
                     f"{rps:,.0f}, {_met(rps >= t['seed_rps_50'])}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
