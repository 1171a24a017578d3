"""What an operator needs around the API: one ASGI middleware and the Prometheus metrics.

The middleware (:class:`Ops`), for every HTTP request, in this order:

- gives it a request id (the client's ``X-Request-ID`` when it is sane, else a new one) and
  echoes it in the response;
- during a graceful shutdown, answers 503 with ``Retry-After`` (see :func:`begin_drain`);
- with an API key, answers 401 unless ``Authorization: Bearer <key>`` matches (constant time);
  ``/health``, the web page and its static files, and the API docs stay open;
- refuses a body over ``max_body_bytes`` (413) and one that takes longer than ``body_timeout``
  seconds to arrive (408, and the connection is closed);
- counts it in the metrics and writes one JSON line to the access log (stderr, in bursts at
  most 0.1 s apart).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import random
import re
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import anyio
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 2 * 1024 * 1024  # 2 MiB per request body
BODY_TIMEOUT = 10.0  # seconds for a request body to arrive in full
RETRY_AFTER = "1"  # seconds, for 503 answers (overload, shutdown)

# Paths anyone may fetch when an API key is set: a liveness probe, the page, the API's docs.
OPEN_PATHS = ("/health", "/", "/docs", "/redoc", "/openapi.json")
OPEN_PREFIXES = ("/static/",)
# Route labels for the metrics; anything else counts as "other" so a scanner cannot blow up the
# number of time series.
ROUTES = ("/v1/predict", "/v1/explain", "/v1/model", "/health", "/metrics", "/", "/docs",
          "/redoc", "/openapi.json")
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")



class Drain:
    """Set when the server begins to shut down: new requests get 503 from then on."""

    def __init__(self) -> None:
        self.draining = False
        _LIVE.add(self)

    def begin(self) -> None:
        self.draining = True


_LIVE: weakref.WeakSet[Drain] = weakref.WeakSet()


def begin_drain() -> None:
    """Every app in this process drains from now on (a signal is the whole process's)."""
    for drain in list(_LIVE):
        drain.begin()


def route_of(path: str) -> str:
    if path in ROUTES:
        return path
    return "/static" if path.startswith("/static/") else "other"


def json_body(status: int, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return raw, data


class Metrics:
    """The server's Prometheus metrics. With ``PROMETHEUS_MULTIPROC_DIR`` set (several
    workers), every worker writes its values there and :meth:`render` sums all of them."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # in multiprocess mode the values live in files, so the metrics belong to no registry
        self.registry = None if self.multiprocess else CollectorRegistry()
        reg: Any = self.registry
        self.requests = Counter("lstm_sentiment_requests", "HTTP requests answered",
                                ["route", "method", "status"], registry=reg)
        self.latency = Histogram(
            "lstm_sentiment_request_duration_seconds", "time from request to response",
            ["route"], registry=reg,
            buckets=(.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10))
        self.batch = Histogram(
            "lstm_sentiment_batch_texts", "texts per forward pass of /v1/predict",
            registry=reg, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
        self.queue = Gauge("lstm_sentiment_queue_texts",
                           "texts waiting for the model as the latest pass started",
                           registry=reg, multiprocess_mode="livesum")

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        if self.registry is not None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST


@dataclass
class OpsSettings:
    api_key: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    body_timeout: float = BODY_TIMEOUT
    access_log: TextIO | None = None  # None: no access log


class AccessLog:
    """Lines for a stream, written together at most ``delay`` seconds after the first of them
    (or at ``lines`` lines): a write and flush per request cost about a tenth of a request's
    time at a thousand requests a second."""

    def __init__(self, stream: TextIO, delay: float = 0.1, lines: int = 256) -> None:
        self.stream, self.delay, self.lines = stream, delay, lines
        self.pending: list[str] = []
        self.timer: asyncio.TimerHandle | None = None
        _LOGS.add(self)

    def write(self, line: str) -> None:
        self.pending.append(line)
        if len(self.pending) >= self.lines:
            self.flush()
        elif self.timer is None:
            try:
                self.timer = asyncio.get_running_loop().call_later(self.delay, self.flush)
            except RuntimeError:  # no event loop: write now
                self.flush()

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.pending:
            return
        text, self.pending = "".join(self.pending), []
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken log must not fail a request
            pass

    @classmethod
    def flush_all(cls) -> None:
        """Write what every log of this process holds (at shutdown)."""
        for log in list(_LOGS):
            log.flush()


_LOGS: weakref.WeakSet[AccessLog] = weakref.WeakSet()


class Ops:
    """The middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, settings: OpsSettings, metrics: Metrics, drain: Drain,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.drain = drain
        self.clock = clock
        self.key = settings.api_key.encode() if settings.api_key else None
        self.log = AccessLog(settings.access_log) if settings.access_log else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = self.clock()
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if SANE_REQUEST_ID.fullmatch(given) else _new_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        async def answer(code: int, body: dict[str, Any], extra: dict[str, str]) -> None:
            raw, data = json_body(code, body, extra)
            await send_with_id({"type": "http.response.start", "status": code, "headers": raw})
            await send_with_id({"type": "http.response.body", "body": data})

        try:
            if self.drain.draining:
                await answer(503, {"error": "the server is shutting down"},
                             {"Retry-After": RETRY_AFTER, "Connection": "close"})
            elif self.key is not None and not self._open(scope["path"]) \
                    and not self._authorized(headers.get(b"authorization", b"")):
                await answer(401, {"error": "missing or wrong API key (send Authorization: "
                                            "Bearer <key>)"}, {"WWW-Authenticate": "Bearer"})
            elif _declared_length(headers) > self.settings.max_body_bytes:
                await answer(413, {"error": f"body over {self.settings.max_body_bytes} bytes"},
                             {"Connection": "close"})
            else:
                await self.app(scope, self._guarded(receive, start), send_with_id)
        finally:
            self._record(scope, state, status, self.clock() - start)

    def _open(self, path: str) -> bool:
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)

    def _authorized(self, header: bytes) -> bool:
        scheme, _, token = header.partition(b" ")
        assert self.key is not None
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key)

    def _guarded(self, receive: Receive, start: float) -> Receive:
        """``receive`` with the body's size limit and its deadline."""
        limit, timeout = self.settings.max_body_bytes, self.settings.body_timeout
        seen = 0
        done = False

        async def guarded() -> Message:
            nonlocal seen, done
            if done:
                return await receive()
            try:
                with anyio.fail_after(max(0.0, start + timeout - self.clock())):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, f"the request body did not arrive within {timeout:g} s",
                                    headers={"Connection": "close"}) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                done = not message.get("more_body", False)
                if seen > limit:
                    raise HTTPException(413, f"body over {limit} bytes",
                                        headers={"Connection": "close"})
            return message

        return guarded

    def _record(self, scope: Scope, state: dict[str, Any], status: int,
                seconds: float) -> None:
        route = route_of(scope["path"])
        self.metrics.requests.labels(route, scope["method"], str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        log = self.log
        if log is None:
            return
        record: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "request_id": state.get("request_id"), "method": scope["method"],
            "path": scope["path"], "status": status, "duration_ms": round(1e3 * seconds, 3)}
        if "texts" in state:
            record["texts"] = state["texts"]
            record["batch_size"] = state.get("batch_size")
        client = scope.get("client")
        if client:
            record["client"] = client[0]
        log.write(json.dumps(record) + "\n")


def _new_id() -> str:
    # ids need to be unique, not unguessable; uuid4 reads os.urandom, a system call per
    # request, which a busy VM makes slow
    return f"{random.getrandbits(128):032x}"


def _declared_length(headers: dict[bytes, bytes]) -> int:
    value = headers.get(b"content-length", b"")
    return int(value) if value.isdigit() else 0
