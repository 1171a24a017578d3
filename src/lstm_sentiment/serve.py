"""The HTTP API and the web page (FastAPI, served by uvicorn).

::

    POST /v1/predict  {"texts": ["...", ...]}  -> {"predictions": [{"label", "score"}, ...]}
    POST /v1/explain  {"text": "..."}          -> label, score, per-word contributions, gates
    GET  /v1/model                             -> preset, labels, settings, metrics
    GET  /health                               -> {"status": "ok"}
    GET  /                                     -> the web page (static files served by the app)
    GET  /docs, /openapi.json                  -> OpenAPI

The model is loaded once. Inference runs in worker threads (at most one per core), never on the
event loop. Limits answer with a JSON error: a body over ``max_body_bytes`` gets 413, too many
texts, wrong types or malformed JSON get 422. Errors never carry paths or tracebacks.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import UserError
from .predict import SentimentModel

STATIC = Path(__file__).with_name("static")
MAX_TEXTS = 1000  # texts per /v1/predict request
MAX_BODY_BYTES = 2 * 1024 * 1024  # 2 MiB per request body
MAX_EXPLAIN_CHARS = 20_000  # explanation runs one pass per word: keep it bounded


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
    label: str
    score: float
    method: str = Field(description="occlusion: the score minus the score without that word")
    tokens: list[TokenContribution]
    gates: Gates


class _BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, by header or by counting."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _send_json(send, 413, {"error": f"body over {self.limit} bytes"})
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, f"body over {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    response = JSONResponse(body, status_code=status)
    await send({"type": "http.response.start", "status": status,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def create_app(model: SentimentModel, *, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """A FastAPI app serving ``model``."""
    app = FastAPI(title="lstm-sentiment", version=_version(),
                  description="Sentiment of movie reviews (and other text) with an LSTM.")
    app.add_middleware(_BodyLimit, limit=max_body_bytes)
    limiter = anyio.CapacityLimiter(os.cpu_count() or 1)

    async def in_thread(fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=limiter)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

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

    @app.post("/v1/predict", response_model=PredictResponse)
    async def predict(req: PredictRequest) -> dict[str, Any]:
        preds = await in_thread(model.predict, req.texts)
        return {"predictions": [p.to_dict() for p in preds]}

    @app.post("/v1/explain", response_model=ExplainResponse)
    async def explain(req: ExplainRequest) -> dict[str, Any]:
        explanation = await in_thread(model.explain, req.text)
        trace = await in_thread(model.trace, req.text)
        return {**explanation.to_dict(), "gates": trace.to_dict()}

    info = _model_info(model)

    @app.get("/v1/model")
    async def model_info() -> dict[str, Any]:
        return info

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _model_info(model: SentimentModel) -> dict[str, Any]:
    info = model.info
    return {"preset": model.config.preset, "labels": model.labels,
            "config": model.config.to_dict(), "parameters": info.get("parameters"),
            "metrics": info.get("metrics", {}), "training_data": info.get("training_data", {}),
            "imported_from": info.get("imported_from")}


def _version() -> str:
    from ._version import __version__

    return __version__


def serve(model: SentimentModel, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "info") -> None:
    """Run the app under uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(model), host=host, port=port, log_level=log_level,
                server_header=False)
