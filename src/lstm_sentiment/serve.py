"""The HTTP API and the web page (FastAPI); :mod:`lstm_sentiment.server` runs it under uvicorn.

::

    POST /v1/predict  {"texts": ["...", ...]}  -> {"predictions": [{"label", "score"}, ...]}
    POST /v1/explain  {"text": "..."}          -> label, score, per-word contributions, gates
    GET  /v1/model                             -> preset, labels, settings, metrics
    GET  /health                               -> {"status": "ok"}
    GET  /metrics                              -> Prometheus text format
    GET  /                                     -> the web page (static files served by the app)
    GET  /docs, /redoc, /openapi.json          -> OpenAPI (Swagger UI and ReDoc served locally)

The model is loaded once. Predictions go through a micro-batcher (:mod:`.batching`): requests
that arrive while the model is busy share its next forward pass. Inference never runs on the
event loop. Every error is a JSON body without paths or tracebacks; the middleware in
:mod:`.serve_ops` adds request ids, the access log, metrics, the API key, the body limits and
the drain on shutdown. docs/serving.md describes it all for operators.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import cpus
from .batching import MAX_BATCH, MAX_QUEUE, Batcher, QueueFull
from .errors import UserError
from .predict import SentimentModel
from .serve_ops import (
    BODY_TIMEOUT,
    MAX_BODY_BYTES,
    RETRY_AFTER,
    AccessLog,
    Drain,
    Metrics,
    Ops,
    OpsSettings,
    begin_drain,
    json_body,
)

STATIC = Path(__file__).with_name("static")
VENDOR = "/static/vendor"
MAX_TEXTS = 1000  # texts per /v1/predict request
MAX_EXPLAIN_CHARS = 20_000  # explanation runs one pass per word: keep it bounded
BUSY = "too many texts are waiting for the model; retry later"


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[StrictStr] = Field(min_length=1, max_length=MAX_TEXTS,
                                   description=f"1 to {MAX_TEXTS} texts")


class PredictionOut(BaseModel):
    label: str | None = Field(description="null when the text has nothing to read (reason)")
    score: float | None = Field(description="p(positive) for two classes, else p(label)")
    tokens: int = Field(description="tokens the model read")
    reason: str | None = Field(description="why label and score are null")


class PredictResponse(BaseModel):
    predictions: list[PredictionOut]


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StrictStr = Field(max_length=MAX_EXPLAIN_CHARS)


class TokenContribution(BaseModel):
    token: str
    contribution: float


class Gates(BaseModel):
    tokens: list[str]
    known: list[bool]
    input_gate: list[list[float]]
    forget_gate: list[list[float]]
    output_gate: list[list[float]]
    candidate: list[list[float]]
    cell_norm: list[float]
    hidden_norm: list[float]


class ExplainResponse(BaseModel):
    label: str | None = Field(description="null when the text has nothing to read (reason)")
    score: float | None
    reason: str | None = Field(None, description="why label and score are null")
    method: str = Field(description="occlusion: the score minus the score without that word")
    tokens: list[TokenContribution]
    gates: Gates


class ErrorOut(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or wrong API key (when one is set)"},
    408: {"model": ErrorOut, "description": "the body did not arrive in time"},
    413: {"model": ErrorOut, "description": "body too large"},
    503: {"model": ErrorOut, "description": "overloaded or shutting down; see Retry-After"},
}


def create_app(model: SentimentModel, *, max_body_bytes: int = MAX_BODY_BYTES,
               body_timeout: float = BODY_TIMEOUT, api_key: str | None = None,
               max_batch: int = MAX_BATCH, max_queue: int = MAX_QUEUE,
               batch_wait: float = 0.0, access_log: TextIO | None = None,
               threads: int | None = None) -> FastAPI:
    """A FastAPI app serving ``model``; the keywords are the limits in docs/serving.md.
    ``threads``: PyTorch threads of the forward passes (None: PyTorch's default)."""
    metrics = Metrics()
    batcher: Batcher[dict[str, Any]] = Batcher(
        partial(_predict_dicts, model), max_batch=max_batch, max_queue=max_queue,
        wait=batch_wait, on_batch=metrics.batch.observe, on_depth=metrics.queue.set,
        thread_init=None if threads is None else partial(_set_threads, threads))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        restore = _drain_on_signals()
        try:
            yield
        finally:
            restore()
            await batcher.aclose()
            AccessLog.flush_all()

    app = FastAPI(title="lstm-sentiment", version=_version(), lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  description="Sentiment of movie reviews (and other text) with an LSTM.")
    app.state.drain = Drain()
    app.add_middleware(_FastPredict, batcher=batcher)
    app.add_middleware(Ops, settings=OpsSettings(api_key, max_body_bytes, body_timeout,
                                                 access_log), metrics=metrics,
                       drain=app.state.drain)
    limiter = anyio.CapacityLimiter(cpus.usable())

    async def in_thread(fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=limiter)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                    "type": e.get("type", "")} for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "detail": details}, status_code=422)

    @app.exception_handler(UserError)
    async def user_error(_request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=400)

    @app.exception_handler(Exception)
    async def internal(_request: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.post("/v1/predict", response_model=PredictResponse, responses=ERRORS)
    async def predict(req: PredictRequest, request: Request) -> Response:
        try:
            answers, batch = await batcher.submit(req.texts)
        except QueueFull:
            raise HTTPException(503, BUSY, headers={"Retry-After": RETRY_AFTER}) from None
        request.state.texts = len(req.texts)
        request.state.batch_size = batch
        # built by hand: the answers are already plain, so skip re-validating them
        return Response(json.dumps({"predictions": answers}), media_type="application/json")

    @app.post("/v1/explain", response_model=ExplainResponse, responses=ERRORS)
    async def explain(req: ExplainRequest) -> dict[str, Any]:
        explanation = await in_thread(model.explain, req.text)
        trace = await in_thread(model.trace, req.text)
        answer = {**explanation.to_dict(), "gates": trace.to_dict(), "reason": None}
        reason = (await in_thread(model.read, [req.text])).reasons[0]
        if reason is not None:  # as /v1/predict: no label for a text with nothing to read
            answer.update(label=None, score=None, reason=reason)
        return answer

    info = model_info(model)

    @app.get("/v1/model", responses=ERRORS)
    async def model_details() -> dict[str, Any]:
        return info

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", response_class=Response, responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="lstm-sentiment API",
            swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None})  # the validator is an outside site

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="lstm-sentiment API",
                              redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
                              redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
                              with_google_fonts=False)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


class _FastPredict:
    """``POST /v1/predict`` with a well-formed body, answered without FastAPI's routing,
    dependency and validation layers (a third of a request's time for a small model); any
    body that is not plainly valid goes on to the FastAPI route, which explains what is wrong.
    Sits inside :class:`~.serve_ops.Ops`, so limits, the key, logs and metrics still apply."""

    def __init__(self, app: ASGIApp, batcher: Batcher[dict[str, Any]]) -> None:
        self.app = app
        self.batcher = batcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/predict" \
                or scope["method"] != "POST" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except StarletteHTTPException as exc:  # the body's limits (serve_ops)
            await _answer(send, exc.status_code, {"error": exc.detail}, exc.headers)
            return
        texts = _plain_texts(body)
        if texts is None:
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            answers, batch = await self.batcher.submit(texts)
        except QueueFull:
            await _answer(send, 503, {"error": BUSY}, {"Retry-After": RETRY_AFTER})
            return
        except Exception:
            await _answer(send, 500, {"error": "internal error"}, None)
            return
        state = scope.setdefault("state", {})
        state["texts"], state["batch_size"] = len(texts), batch
        await _answer(send, 200, {"predictions": answers}, None)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise StarletteHTTPException(400, "the client went away")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _plain_texts(body: bytes) -> list[str] | None:
    """The texts of a body that is exactly ``{"texts": [1 to MAX_TEXTS strings]}``, else None."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if type(data) is not dict or len(data) != 1:
        return None
    texts = data.get("texts")
    if type(texts) is not list or not 1 <= len(texts) <= MAX_TEXTS \
            or not all(type(t) is str for t in texts):
        return None
    return texts


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _answer(send: Send, status: int, body: dict[str, Any],
                  headers: Mapping[str, str] | None) -> None:
    raw, data = json_body(status, body, dict(headers or {}))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)  # per thread in PyTorch: this one only


def _predict_dicts(model: SentimentModel, texts: list[str]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in model.predict(texts)]


def _drain_on_signals() -> Callable[[], None]:
    """Make SIGTERM and SIGINT also start the drain (503 for new requests), on top of whatever
    handles them now (uvicorn's graceful shutdown); returns a function that undoes it."""
    installed: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            begin_drain()
            if callable(previous):
                previous(signum, frame)

        with suppress(ValueError):  # signals are the main thread's alone (tests run elsewhere)
            signal.signal(sig, handler)
            installed[sig] = previous

    def restore() -> None:
        for sig, previous in installed.items():
            with suppress(ValueError, TypeError):
                if signal.getsignal(sig) is not previous:
                    signal.signal(sig, previous)

    return restore


# Keys whose values say where a model's data was on the machine that trained it.
PATH_KEYS = re.compile(r"(^|_)(source|path|dir|folder|file|from)s?$")
LOOKS_LIKE_PATH = re.compile(r"^(~|/|\\|[A-Za-z]:[\\/]|\.{1,2}[\\/]|[a-z][a-z0-9+.-]*://)")


def portable(value: Any, key: str = "") -> Any:
    """``value`` with every path or URL reduced to its bare file name, so it shows nothing about
    the machine a model was trained on."""
    if isinstance(value, dict):
        return {k: portable(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, key) for v in value]
    if isinstance(value, str) and (PATH_KEYS.search(key) or LOOKS_LIKE_PATH.search(value)):
        return re.split(r"[\\/]", value.split("?", 1)[0].rstrip("\\/"))[-1] or None
    return value


def model_info(model: SentimentModel) -> dict[str, Any]:
    info = model.info
    return portable({
        "preset": model.config.preset, "labels": model.labels,
        "config": model.config.to_dict(), "parameters": info.get("parameters"),
        "metrics": info.get("metrics", {}), "training_data": info.get("training_data", {}),
        "imported_from": info.get("imported_from")})


def _version() -> str:
    from ._version import __version__

    return __version__
