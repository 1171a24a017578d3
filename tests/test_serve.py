"""serve.py: the HTTP API (through FastAPI's test client) and the page in a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lstm_sentiment import SentimentModel
from lstm_sentiment.serve import MAX_TEXTS, create_app, model_info

# The README's screenshot comes from this test run against a real model:
#   LSTM_SENTIMENT_PAGE_MODEL=runs/seed LSTM_SENTIMENT_SCREENSHOT=docs/images/web-page.png \
#   .venv/bin/python -m pytest tests/test_serve.py -k chromium
PAGE_MODEL = os.environ.get("LSTM_SENTIMENT_PAGE_MODEL")
SCREENSHOT = os.environ.get("LSTM_SENTIMENT_SCREENSHOT")


@pytest.fixture(scope="module")
def model(tiny_model: Path) -> SentimentModel:
    return SentimentModel.load(tiny_model)


@pytest.fixture(scope="module")
def client(model: SentimentModel) -> Iterator[TestClient]:
    with TestClient(create_app(model, max_body_bytes=64 * 1024),
                    raise_server_exceptions=False) as c:
        yield c


def test_predict_matches_the_python_api(client: TestClient, model: SentimentModel) -> None:
    texts = ["great wonderful fun", "awful boring", ""]
    r = client.post("/v1/predict", json={"texts": texts})
    assert r.status_code == 200
    got = r.json()["predictions"]
    want = model.predict(texts)
    assert [p["label"] for p in got] == [p.label for p in want]
    assert [p["score"] for p in got] == pytest.approx([p.score for p in want], abs=1e-6)


def test_explain_returns_contributions_and_gates(client: TestClient,
                                                 model: SentimentModel) -> None:
    r = client.post("/v1/explain", json={"text": "Great fun, awful plot"})
    assert r.status_code == 200
    body = r.json()
    assert body["method"] == "occlusion"
    assert [t["token"] for t in body["tokens"]] == ["great", "fun", "awful", "plot"]
    assert body["score"] == pytest.approx(model.predict(["Great fun, awful plot"])[0].score)
    gates = body["gates"]
    assert len(gates["forget_gate"]) == 4
    assert len(gates["forget_gate"][0]) == model.config.model.hidden_size
    trace = model.trace("Great fun, awful plot").to_dict()  # the Python API's gates
    for gate in ("input_gate", "forget_gate", "output_gate"):
        np.testing.assert_allclose(gates[gate], trace[gate], atol=1e-6)


def test_model_health_docs_and_page(client: TestClient) -> None:
    info = client.get("/v1/model").json()
    assert info["labels"] == ["negative", "positive"] and info["metrics"]["test"]["n"] == 40
    assert client.get("/health").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/explain", "/v1/model", "/health"} <= set(spec["paths"])
    page = client.get("/")
    assert page.status_code == 200 and "<textarea" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # no CDN


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"texts": []}, 422, "at least 1"),
    ({"texts": ["ok"] * (MAX_TEXTS + 1)}, 422, "at most"),
    ({"texts": "not a list"}, 422, "list"),
    ({"texts": [1, 2]}, 422, "string"),
    ({"texts": ["ok"], "extra": 1}, 422, "Extra inputs"),
    ({}, 422, "Field required"),
])
def test_bad_requests_are_json_4xx(client: TestClient, body: dict, status: int,
                                   needle: str) -> None:
    r = client.post("/v1/predict", json=body)
    assert r.status_code == status
    payload = r.json()
    assert payload["error"] == "invalid request"
    assert needle in json.dumps(payload)


@pytest.mark.parametrize(("body", "status"), [
    (b'{"texts": ["great \\ud83d\\ude00 fun"]}', 200),  # an escaped emoji: a surrogate pair
    (b'{"texts": ["great \\ud800 fun"]}', 200),  # a lone surrogate, read as any character
    (b'{"texts": ["great"], "texts": ["awful"]}', 200),
    (b'{"texts": ["a", null]}', 422),
    (b'{"texts": ["a"]}', 200),
])
def test_predict_bodies_are_judged_as_the_schema_says(client: TestClient, body: bytes,
                                                       status: int) -> None:
    """The short path for plain bodies answers as the FastAPI route does."""
    r = client.post("/v1/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert ("predictions" in r.json()) == (status == 200)


def test_malformed_json_and_oversized_bodies(client: TestClient) -> None:
    r = client.post("/v1/predict", content=b'{"texts": [', headers={
        "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid request"
    big = json.dumps({"texts": ["x" * 70_000]})
    r = client.post("/v1/predict", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "body over" in r.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"texts": ["'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"]}'

    r = client.post("/v1/predict", content=chunks(), headers={
        "Content-Type": "application/json"})
    assert r.status_code == 413


def test_errors_leak_no_internals(model: SentimentModel, monkeypatch: pytest.MonkeyPatch,
                                  client: TestClient) -> None:
    def boom(_texts: object) -> None:
        raise RuntimeError(f"secret path {Path(__file__)}")

    monkeypatch.setattr(model, "predict", boom)
    r = client.post("/v1/predict", json={"texts": ["x"]})
    assert r.status_code == 500 and r.json() == {"error": "internal error"}
    assert "Traceback" not in r.text and str(Path(__file__)) not in r.text


def test_serve_binds_localhost_by_default() -> None:
    from lstm_sentiment.cli import build_parser

    args = build_parser().parse_args(["serve", "m"])
    assert args.host == "127.0.0.1" and args.port == 8000


def test_model_info_shows_no_paths(tiny_model: Path, tmp_path: Path) -> None:
    """Whatever the config holds, /v1/model names files, never where they were."""
    model = SentimentModel.load(tiny_model)
    model.config.data.source = "/home/alice/secret/aclImdb_v1.tar.gz"
    model.config.data.test_source = "C:\\Users\\bob\\test.csv"
    model.info = {**model.info, "training_data": {
        "source": "/srv/data/imdb.tar.gz", "n_train": 60, "sha256": "ab" * 32,
        "nested": {"cache_dir": "relative/cache", "url": "file:///tmp/x/y.csv"}},
        "imported_from": "/root/models/tutorial.keras"}
    with TestClient(create_app(model)) as c:
        info = c.get("/v1/model").json()
    text = json.dumps(info)
    for fragment in ("/home", "alice", "Users", "bob", "/srv", "/tmp", "/root", "relative/"):
        assert fragment not in text, fragment
    assert info["config"]["data"]["source"] == "aclImdb_v1.tar.gz"
    assert info["config"]["data"]["test_source"] == "test.csv"
    assert info["training_data"]["source"] == "imdb.tar.gz"
    assert info["training_data"]["nested"] == {"cache_dir": "cache", "url": "y.csv"}
    assert info["training_data"]["n_train"] == 60 and info["imported_from"] == "tutorial.keras"
    assert info["config"]["model"] == model.config.to_dict()["model"]  # the rest is untouched
    assert model_info(SentimentModel.load("bundled"))["config"]["data"]["source"] == \
        "aclImdb_v1.tar.gz"


def test_concurrent_requests_share_passes_and_equal_lone_answers(model: SentimentModel) -> None:
    import asyncio

    import httpx

    texts = [f"the {w} film was {v}" for w in ("great", "awful", "dull", "fun", "moving")
             for v in ("superb", "boring", "bad", "best", "plot")] + ["", "zzz qqq"]
    lone = {t: model.predict([t])[0].to_dict() for t in texts}
    sizes: list[int] = []
    app = create_app(model)

    async def main() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            rs = await asyncio.gather(*(client.post("/v1/predict", json={"texts": [t]})
                                        for t in texts * 4))
            metrics = (await client.get("/metrics")).text
            sizes.extend(int(float(line.rsplit(" ", 1)[1])) for line in metrics.splitlines()
                         if line.startswith("lstm_sentiment_batch_texts_count"))
            return [r.json()["predictions"][0] for r in rs]

    got = asyncio.run(main())
    for text, answer in zip(texts * 4, got, strict=True):
        assert answer["label"] == lone[text]["label"] and answer["reason"] == lone[text]["reason"]
        assert answer["tokens"] == lone[text]["tokens"]
        if answer["score"] is not None:
            assert answer["score"] == pytest.approx(lone[text]["score"], abs=1e-6)
    assert sizes and sizes[0] < len(texts) * 4  # fewer forward passes than requests


def test_a_full_queue_answers_503_with_retry_after(model: SentimentModel) -> None:
    import asyncio

    import httpx

    app = create_app(model, max_queue=3)

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await asyncio.gather(*(client.post("/v1/predict", json={"texts": ["a b"] * 2})
                                          for _ in range(8)))

    rs = asyncio.run(main())
    codes = sorted(r.status_code for r in rs)
    assert 200 in codes and 503 in codes, codes
    busy = next(r for r in rs if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "retry later" in busy.json()["error"]


def test_api_key(model: SentimentModel) -> None:
    with TestClient(create_app(model, api_key="s3cret-key")) as c:
        body = {"texts": ["great"]}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-key"},
                        {"Authorization": "Basic s3cret-key"}):
            r = c.post("/v1/predict", json=body, headers=headers)
            assert r.status_code == 401 and "API key" in r.json()["error"], headers
            assert r.headers["www-authenticate"] == "Bearer"
        ok = c.post("/v1/predict", json=body, headers={"Authorization": "Bearer s3cret-key"})
        assert ok.status_code == 200
        for path in ("/v1/model", "/metrics"):
            assert c.get(path).status_code == 401
        for path in ("/health", "/", "/static/app.js", "/docs", "/redoc", "/openapi.json"):
            assert c.get(path).status_code == 200, path


def test_draining_answers_503(model: SentimentModel) -> None:
    app = create_app(model)
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        app.state.drain.begin()
        r = c.post("/v1/predict", json={"texts": ["great"]})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "shutting down" in r.json()["error"]


def test_metrics_count_requests_latency_batches_and_queue(client: TestClient) -> None:
    client.post("/v1/predict", json={"texts": ["great", "awful", "fun"]})
    client.get("/nope")
    text = client.get("/metrics").text
    assert 'lstm_sentiment_requests_total{method="POST",route="/v1/predict",status="200"}' in text
    assert 'lstm_sentiment_requests_total{method="GET",route="other",status="404"} 1.0' in text
    assert 'lstm_sentiment_request_duration_seconds_bucket{le="+Inf",route="/v1/predict"}' in text
    assert 'lstm_sentiment_batch_texts_bucket{le="4.0"}' in text
    assert "lstm_sentiment_queue_texts 0.0" in text


def test_every_error_is_json(client: TestClient) -> None:
    for method, path, status in (("GET", "/nope", 404), ("DELETE", "/v1/predict", 405),
                                 ("GET", "/v1/predict", 405)):
        r = client.request(method, path)
        assert r.status_code == status, (method, path)
        assert r.json()["error"], (method, path)


# ------------------------------------------------------------------ a real browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture
def live_server(model: SentimentModel) -> Iterator[str]:
    import uvicorn

    if PAGE_MODEL:
        model = SentimentModel.load(PAGE_MODEL)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(create_app(model), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_web_page_in_headless_chromium(live_server: str, tmp_path: Path) -> None:
    browser_path = _chromium()
    if browser_path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Chromium (see .ci/run) for the browser test")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(live_server + "/")
        page.fill("#review", "A great, wonderful and fun movie. The plot was awful though.")
        page.wait_for_function(
            "document.getElementById('model-line').textContent.includes('model')")
        page.click("#analyze")
        page.wait_for_selector("#result:not([hidden])", timeout=15_000)
        label = page.text_content("#label")
        assert label in ("positive", "negative")
        words = page.query_selector_all("#words .word")
        assert [w.text_content() for w in words][:3] == ["a", "great", "wonderful"]
        contributions = [float(w.get_attribute("data-contribution") or "nan") for w in words]
        assert all(c == c for c in contributions)  # every word highlighted with a number
        colours = {w.evaluate("e => getComputedStyle(e).backgroundColor") for w in words}
        assert len(colours) > 1  # words are coloured differently
        assert page.query_selector("#gates canvas") is not None
        width = page.eval_on_selector("#bar-fill", "e => parseFloat(e.style.width)")
        score = float(page.text_content("#score").split("=")[1])
        assert width == pytest.approx(100 * score, abs=0.2)
        shot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "web-page.png"
        page.screenshot(path=str(shot), full_page=True)
        # a text with no word the model knows: no label, the reason instead, no crash
        page.fill("#review", "qwxzv bnmkj plokij")
        page.click("#analyze")
        page.wait_for_function("document.getElementById('label').textContent === 'no label'",
                               timeout=15_000)
        assert "vocabulary" in (page.text_content("#score") or "")
        assert page.eval_on_selector("#bar-fill", "e => e.style.width") == "0%"
        browser.close()
    assert not errors, errors
    assert shot.stat().st_size > 10_000


def _launch(p: object) -> object:
    browser_path = _chromium()
    if browser_path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Chromium (see .ci/run) for the browser test")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    return p.chromium.launch(executable_path=browser_path, args=[  # type: ignore[attr-defined]
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"])


@pytest.mark.parametrize(("path", "rendered"), [
    ("/docs", "document.querySelectorAll('.opblock-summary-path').length >= 5"),
    ("/redoc", "document.querySelectorAll('[data-section-id^=\"operation/\"]').length >= 5"),
])
def test_api_docs_render_offline_in_chromium(live_server: str, path: str,
                                             rendered: str) -> None:
    """/docs and /redoc render every operation with the network to anything but the server
    blocked, and none of their assets points elsewhere."""
    from urllib.parse import urlsplit

    from playwright.sync_api import Route, sync_playwright

    here = urlsplit(live_server).netloc
    html = httpx_get(live_server + path)
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/") and not url.startswith("//"), url
    blocked: list[str] = []

    def only_here(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https") and url.netloc != here:
            blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    with sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page()  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", only_here)
        page.goto(live_server + path)
        page.wait_for_function(rendered, timeout=30_000)
        text = page.inner_text("body")
        browser.close()  # type: ignore[attr-defined]
    assert "/v1/predict" in text and "/v1/explain" in text
    assert not blocked, blocked
    assert not errors, errors


def httpx_get(url: str) -> str:
    import httpx

    r = httpx.get(url)
    assert r.status_code == 200
    return r.text
