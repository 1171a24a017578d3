"""A bounded load (or soak) test of `lstm-sentiment serve` on loopback; it stops by itself.

Load (issue 6): 50 concurrent clients x 2,000 requests each, one review per request: errors
(must be 0), latency percentiles, and the server's memory before and after.
Soak (issue 8): `--duration 300` keeps the same clients busy for 5 minutes instead, after a
warm-up at the same load (`--warmup`, 30 s), and reports memory at start and end (must stay
within 10 %), sampled every 5 s so that a leak (still climbing at the end) can be told from
warm-up (flat after the first minutes): bench/results/soak-CPU.png draws it. Only 127.0.0.1 is
ever contacted.

    python bench/load.py [--clients 50] [--requests 2000] [--duration SECONDS] [--warmup SECONDS]
                         [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import default_source, machine_plot, target, write
from serving import Server, percentiles, seed_model

RESULTS = {"load": "Load test", "soak": "Soak test"}  # --duration makes it a soak test
ORDER = 90
SUMMARY = True
SOAK_RSS_GROWTH_PERCENT = 10  # issue 8: the server's memory over a soak test
RSS_EVERY_S = 5.0


async def client_loop(url: str, texts: list[str], requests: int, stop_at: float | None,
                      latencies: list[float], errors: list[str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        i = 0
        while (stop_at is None and i < requests) or (stop_at is not None
                                                      and time.perf_counter() < stop_at):
            t = time.perf_counter()
            try:
                r = await client.post("/v1/predict", json={"texts": [texts[i % len(texts)]]})
                if r.status_code != 200:
                    errors.append(f"HTTP {r.status_code}")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
            latencies.append(1e3 * (time.perf_counter() - t))
            i += 1


async def sample_rss(server: Server, stop_at: float, every: float,
                     samples: list[tuple[float, float]]) -> None:
    t0 = time.perf_counter()
    while (now := time.perf_counter()) < stop_at:
        samples.append((now - t0, server.rss_mb()))
        await asyncio.sleep(min(every, max(stop_at - now, 0.0)))


async def run(url: str, texts: list[str], clients: int, requests: int,
              duration: float | None, server: Server | None = None,
              rss: list[tuple[float, float]] | None = None,
              ) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + duration if duration else None
    t0 = time.perf_counter()
    sampler = ([sample_rss(server, stop_at, RSS_EVERY_S, rss)]
               if server is not None and rss is not None and stop_at is not None else [])
    await asyncio.gather(*sampler, *(client_loop(url, texts[c::clients] or texts, requests,
                                                 stop_at, latencies, errors)
                                     for c in range(clients)))
    return latencies, errors, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=2000, help="per client (load mode)")
    ap.add_argument("--duration", type=float, help="seconds of steady load (soak mode)")
    ap.add_argument("--warmup", type=float, default=30.0,
                    help="soak mode: seconds of the same load before memory is first read")
    ap.add_argument("--quick", action="store_true", help="10 clients x 100 requests")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.requests, args.duration = 10, 100, None
    mode = "soak" if args.duration else "load"
    rss: list[tuple[float, float]] = []

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "seed"
        _, reviews = seed_model(args.source, folder)
        with Server(folder) as server:
            # a soak warms up at its own load: batch buffers and thread heaps grow to the
            # concurrency they serve, which is warm-up, not a leak
            warm = (reviews, args.clients, 0, args.warmup) if mode == "soak" else (
                reviews[:200], 5, 20, None)
            asyncio.run(run(server.url, *warm))
            rss_before = server.rss_mb()
            latencies, errors, seconds = asyncio.run(
                run(server.url, reviews, args.clients, args.requests, args.duration, server,
                    rss))
            rss_after = server.rss_mb()

    result = {"mode": mode, "clients": args.clients,
              "requests": len(latencies), "errors": len(errors),
              "error_kinds": sorted(set(errors))[:10], "seconds": seconds,
              "requests_per_second": len(latencies) / seconds,
              "latency": percentiles(latencies),
              "server_rss_mb_before": rss_before, "server_rss_mb_after": rss_after,
              "rss_growth_percent": 100 * (rss_after - rss_before) / rss_before}
    if mode == "soak":
        result |= {"warmup_seconds": args.warmup, "rss_every_seconds": RSS_EVERY_S,
                   "rss_series_mb": [[round(t, 1), round(mb, 1)] for t, mb in rss]}
        half = [mb for t, mb in rss if t >= seconds / 2]
        if half:  # a leak keeps climbing through the second half; warm-up has levelled off
            result["rss_growth_second_half_percent"] = 100 * (rss_after - half[0]) / half[0]
            png = machine_plot("soak" + ("_quick" if args.quick else ""))
            result["plot"] = png.name
            plot(result, png)
    lat = result["latency"]
    print(f"{mode}: {len(latencies):,} requests from {args.clients} clients in {seconds:.1f} s "
          f"({result['requests_per_second']:,.0f}/s), {len(errors)} errors; latency p50 "
          f"{lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms; server RSS {rss_before:.0f} -> "
          f"{rss_after:.0f} MB ({result['rss_growth_percent']:+.1f} %)")
    write(mode + ("_quick" if args.quick else ""), result, per_cpu=True)


def plot(r: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, mb = zip(*r["rss_series_mb"], strict=True)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(t, mb, marker=".")
    ax.axhline(r["server_rss_mb_before"] * (1 + SOAK_RSS_GROWTH_PERCENT / 100), ls="--",
               color="grey", label=f"start + {SOAK_RSS_GROWTH_PERCENT} %")
    ax.set(xlabel=f"seconds of load (after {r['warmup_seconds']:.0f} s of warm-up)",
           ylabel="server RSS (MB)", title=f"Soak: {r['clients']} clients")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def render(r: dict[str, Any]) -> str:
    lat = r["latency"]
    rss = f"{r['rss_growth_percent']:+.1f} %"
    if r["mode"] == "soak":
        rss = target(r["rss_growth_percent"], SOAK_RSS_GROWTH_PERCENT, higher_is_better=False,
                     unit="%", fmt="{:+.1f}")
    errors = target(r["errors"], 0, higher_is_better=False, unit="errors")
    return (f"{r['clients']} clients, {r['requests']:,} requests in {r['seconds']:.1f} s "
            f"({r['requests_per_second']:,.0f} requests/s), {errors}; latency p50 "
            f"{lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms; server RSS "
            f"{r['server_rss_mb_before']:.0f} → {r['server_rss_mb_after']:.0f} MB, growth "
            f"{rss}." + (f" Over the second half: {r['rss_growth_second_half_percent']:+.1f} % "
                         f"(after a {r['warmup_seconds']:.0f} s warm-up at the same load; "
                         f"bench/results/{r.get('plot', 'soak.png')} draws the series)."
                         if "rss_growth_second_half_percent" in r else ""))


if __name__ == "__main__":
    main()
