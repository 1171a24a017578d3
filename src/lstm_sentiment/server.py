"""``lstm-sentiment serve``: check every input, bind the socket, then load the model and run
uvicorn (one process, or ``workers`` processes sharing the socket).

Everything a user can get wrong (the port, the address, the model folder, the key file) is
checked by :func:`prepare` before the model loads, and the listening socket is bound there
and handed to uvicorn, so nothing can take the port in between. On SIGTERM (or Ctrl-C) the
server drains: requests in flight finish, new ones get 503, then the process exits 0.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .runtime import DEFAULT as DEFAULT_RUNTIME
from .runtime import RUNTIME_HELP, RUNTIMES

HEADER_TIMEOUT = 10.0  # seconds for request headers to arrive (see serve_http)
DRAIN_TIMEOUT = 30  # seconds in-flight requests get to finish on shutdown
KEEP_ALIVE = 5  # seconds an idle keep-alive connection stays open (uvicorn's default)
BACKLOG = 2048
STARTUP_FAILURE = 3  # uvicorn's exit status for a worker that could not start
WORKER_ENV = "LSTM_SENTIMENT_SERVE_WORKER"


@dataclass
class ServeOptions:
    """What ``serve`` was asked for (the CLI's flags); docs/serving.md explains each."""

    model: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    api_key_file: str | None = None
    max_batch: int = 256
    max_queue: int = 4096
    batch_wait_ms: float = 0.0
    body_timeout: float = 10.0
    header_timeout: float = HEADER_TIMEOUT
    drain_timeout: int = DRAIN_TIMEOUT
    access_log: bool = True
    threads: int = 1
    runtime: str = DEFAULT_RUNTIME


@dataclass
class Prepared:
    """The checked inputs: the bound socket and the key (never logged)."""

    sock: socket.socket
    api_key: str | None = field(repr=False)

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def prepare(options: ServeOptions) -> Prepared:
    """Check every input (cheap, no model loading) and bind the listening socket."""
    if not 0 <= options.port <= 65535:
        raise UserError(f"--port must be 0-65535 (0: any free one), got {options.port}")
    check_model_folder(options.model)
    key = read_key(options.api_key_file) if options.api_key_file else None
    sock = bind(options.host, options.port)
    if key is None and not is_loopback(sock):
        print(f"lstm-sentiment: warning: listening on {options.host} (beyond this machine) "
              "without --api-key-file: anyone who can reach it can use it", file=sys.stderr)
    return Prepared(sock, key)


def check_model_folder(model: str) -> None:
    """The folder exists and looks like a model (the full check happens as it loads)."""
    from .errors import ArtifactError

    folder = Path(__file__).with_name("bundled") if model == "bundled" else Path(model)
    if not folder.is_dir():
        raise ArtifactError(f"no model folder at {model}")
    if not (folder / "checksums.json").is_file():
        raise ArtifactError(f"{model} has no checksums.json: not a complete model folder")


def read_key(path: str) -> str:
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the API key file {path}: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
    if not key:
        raise UserError(f"the API key file {path} is empty")
    if any(c.isspace() for c in key) or not key.isprintable():
        raise UserError(f"the API key in {path} must be one line without spaces")
    return key


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``; any failure is one UserError line."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(f"cannot listen on {host}:{port}: unknown address "
                        f"({getattr(exc, 'strerror', None) or exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def is_loopback(sock: socket.socket) -> bool:
    host = sock.getsockname()[0]
    with suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


# ------------------------------------------------------------------------------ flags


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"expected 0 < seconds <= 3600, got {text}")
    return value


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected 0-1000 ms, got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``serve``'s flags, their defaults those of :class:`ServeOptions`."""
    Opt = ServeOptions  # the defaults live in one place
    p.add_argument("--host", default=Opt.host,
                   help="address to bind (127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=Opt.port,
                   help="port, 0-65535 (0: any free one)")
    p.add_argument("--workers", type=_count, default=Opt.workers, metavar="N",
                   help="server processes sharing the port, each with the model loaded")
    p.add_argument("--api-key-file", metavar="FILE",
                   help="require 'Authorization: Bearer KEY' on the API, KEY being the "
                   "file's content (/health, the page and the docs stay open)")
    p.add_argument("--threads", type=_count, default=Opt.threads, metavar="N",
                   help="PyTorch threads per forward pass in each worker (for more cores, "
                   "prefer --workers)")
    p.add_argument("--max-batch", type=_count, default=Opt.max_batch, metavar="TEXTS",
                   help="texts per forward pass when requests are batched together")
    p.add_argument("--max-queue", type=_count, default=Opt.max_queue, metavar="TEXTS",
                   help="texts waiting for the model at most; beyond that 503 + Retry-After")
    p.add_argument("--batch-wait-ms", type=_milliseconds, default=Opt.batch_wait_ms, metavar="MS",
                   help="how long a lone request waits for others to share its pass")
    p.add_argument("--body-timeout", type=_seconds, default=Opt.body_timeout, metavar="S",
                   help="seconds for a request body to arrive (else 408, connection closed)")
    p.add_argument("--header-timeout", type=_seconds, default=Opt.header_timeout,
                   metavar="S", help="seconds for request headers to arrive (else closed)")
    p.add_argument("--drain-timeout", type=_count, default=Opt.drain_timeout,
                   metavar="S", help="seconds in-flight requests get to finish on SIGTERM")
    p.add_argument("--no-access-log", dest="access_log", action="store_false",
                   help="no JSON line per request on stderr")
    p.add_argument("--runtime", choices=RUNTIMES, default=Opt.runtime, help=RUNTIME_HELP)


# ------------------------------------------------------------------------------ running


def serve(options: ServeOptions, prepared: Prepared) -> int:
    """Load the model and serve until SIGTERM or Ctrl-C; the exit status (0 after a drain)."""
    if options.workers > 1:
        return _serve_workers(options, prepared)
    from .predict import SentimentModel

    model = SentimentModel.load(options.model, runtime=options.runtime)
    _announce(options, prepared)
    server = _server(_config(options, _app(options, model, prepared.api_key)))
    # uvicorn re-raises the signal that stopped it once it has drained; these no-op handlers
    # make that re-raise harmless, so a drained server exits 0
    before = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[prepared.sock])
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    return 0


def _ignore(_signum: int, _frame: Any) -> None:
    pass


def _announce(options: ServeOptions, prepared: Prepared) -> None:
    # with workers, the line comes as they start: each loads the model and says if it cannot
    what = (f"serving {options.model}" if options.workers == 1 else
            f"starting {options.workers} workers, each loading {options.model},")
    print(f"{what} on http://{prepared.address}/ (Ctrl-C or SIGTERM to stop)",
          file=sys.stderr, flush=True)


def _app(options: ServeOptions, model: Any, api_key: str | None) -> Any:
    from .serve import create_app

    model.predict(["warm up"])  # the first pass is slow (allocations); not on a client's time
    return create_app(model, api_key=api_key, body_timeout=options.body_timeout,
                      max_batch=options.max_batch, max_queue=options.max_queue,
                      batch_wait=options.batch_wait_ms / 1e3,
                      access_log=sys.stderr if options.access_log else None,
                      threads=options.threads)


def _config(options: ServeOptions, app: Any, **extra: Any) -> Any:
    import uvicorn

    from .serve_http import protocol

    config = uvicorn.Config(
        app, http=protocol(), loop="auto", log_level="warning", access_log=False,
        server_header=False, timeout_keep_alive=KEEP_ALIVE,
        timeout_graceful_shutdown=options.drain_timeout, **extra)
    config.header_timeout = options.header_timeout  # type: ignore[attr-defined]
    return config


def _server(config: Any) -> Any:
    import uvicorn

    return uvicorn.Server(config)


def _serve_workers(options: ServeOptions, prepared: Prepared) -> int:
    """``workers`` uvicorn processes on the one socket, each loading the model; prometheus
    values go to a temporary folder they share, so /metrics on any shows the whole server."""
    from uvicorn.supervisors import Multiprocess

    metrics_dir = tempfile.mkdtemp(prefix="lstm-sentiment-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[WORKER_ENV] = json.dumps(asdict(options))
    try:
        config = _config(options, f"{__name__}:worker_app", factory=True,
                         workers=options.workers)
        _announce(options, prepared)
        supervisor = Multiprocess(config, sockets=[prepared.sock])
        supervisor.run()
        if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
            error = UserError("a worker could not load the model")
            error.quiet = True  # type: ignore[attr-defined]  # the worker said why
            raise error
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.environ.pop(WORKER_ENV, None)
    return 0


def worker_app() -> Any:
    """The app of one ``--workers`` process (uvicorn's factory): the options come from the
    parent through the environment, the key is read again from its file."""
    options = ServeOptions(**json.loads(os.environ[WORKER_ENV]))
    try:
        from .predict import SentimentModel

        key = read_key(options.api_key_file) if options.api_key_file else None
        model = SentimentModel.load(options.model, runtime=options.runtime)
    except UserError as exc:
        print(f"lstm-sentiment: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(STARTUP_FAILURE)
    return _app(options, model, key)
