"""A bounded load (or soak) test of `lstm-sentiment serve` on loopback; it stops by itself.

Load (issue 6): 50 concurrent clients x 2,000 requests each, one review per request: errors
(must be 0), latency percentiles, and the server's memory before and after.
Soak (issue 8): `--duration 300` keeps the same clients busy for 5 minutes instead and reports
memory at start and end (must stay within 10 %). Only 127.0.0.1 is ever contacted.

    python bench/load.py [--clients 50] [--requests 2000] [--duration SECONDS] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import default_source, target, write
from serving import Server, percentiles, seed_model

RESULTS = {"load": "Load test", "soak": "Soak test"}  # --duration makes it a soak test
ORDER = 90
SUMMARY = True
SOAK_RSS_GROWTH_PERCENT = 10  # issue 8: the server's memory over a soak test


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


async def run(url: str, texts: list[str], clients: int, requests: int,
              duration: float | None) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + duration if duration else None
    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop(url, texts[c::clients] or texts, requests, stop_at,
                                       latencies, errors) for c in range(clients)))
    return latencies, errors, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=default_source())
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=2000, help="per client (load mode)")
    ap.add_argument("--duration", type=float, help="seconds of steady load (soak mode)")
    ap.add_argument("--quick", action="store_true", help="10 clients x 100 requests")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.requests, args.duration = 10, 100, None
    mode = "soak" if args.duration else "load"

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "seed"
        _, reviews = seed_model(args.source, folder)
        with Server(folder) as server:
            asyncio.run(run(server.url, reviews[:200], 5, 20, None))  # warm up
            rss_before = server.rss_mb()
            latencies, errors, seconds = asyncio.run(
                run(server.url, reviews, args.clients, args.requests, args.duration))
            rss_after = server.rss_mb()

    result = {"mode": mode, "clients": args.clients,
              "requests": len(latencies), "errors": len(errors),
              "error_kinds": sorted(set(errors))[:10], "seconds": seconds,
              "requests_per_second": len(latencies) / seconds,
              "latency": percentiles(latencies),
              "server_rss_mb_before": rss_before, "server_rss_mb_after": rss_after,
              "rss_growth_percent": 100 * (rss_after - rss_before) / rss_before}
    lat = result["latency"]
    print(f"{mode}: {len(latencies):,} requests from {args.clients} clients in {seconds:.1f} s "
          f"({result['requests_per_second']:,.0f}/s), {len(errors)} errors; latency p50 "
          f"{lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms; server RSS {rss_before:.0f} -> "
          f"{rss_after:.0f} MB ({result['rss_growth_percent']:+.1f} %)")
    write(mode + ("_quick" if args.quick else ""), result)


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
            f"{rss}.")


if __name__ == "__main__":
    main()
