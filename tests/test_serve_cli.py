"""`lstm-sentiment serve` as an operator runs it: input checks, timeouts, shutdown, workers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from lstm_sentiment import cli

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def no_model_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every input must be checked before the model loads: loading fails the test."""
    from lstm_sentiment.predict import SentimentModel

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(SentimentModel, "load", refuse)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(cli.main(args))
    err = capsys.readouterr().err
    return int(exit_info.value.code or 0), err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("lstm-sentiment: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_one_line(port: str, tiny_model: Path,
                                         capsys: pytest.CaptureFixture[str],
                                         no_model_loading: None) -> None:
    code, err = run_cli(["serve", str(tiny_model), "--port", port], capsys)
    assert code == 2
    assert f"--port must be 0-65535 (0: any free one), got {port}" in one_error_line(err)


def test_a_port_that_is_no_number_is_a_usage_error(tiny_model: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   no_model_loading: None) -> None:
    code, err = run_cli(["serve", str(tiny_model), "--port", "http"], capsys)
    assert code == 2 and "invalid int value: 'http'" in err and len(err.splitlines()) == 1


def test_a_port_in_use_is_one_line(tiny_model: Path, capsys: pytest.CaptureFixture[str],
                                   no_model_loading: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run_cli(["serve", str(tiny_model), "--port", str(port)], capsys)
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in one_error_line(err)


def test_an_unknown_host_is_one_line(tiny_model: Path, capsys: pytest.CaptureFixture[str],
                                     no_model_loading: None) -> None:
    code, err = run_cli(["serve", str(tiny_model), "--host", "no-such-host.invalid"], capsys)
    assert code == 2
    assert "cannot listen on no-such-host.invalid" in one_error_line(err)


def test_a_missing_model_folder_is_one_line(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            no_model_loading: None) -> None:
    code, err = run_cli(["serve", str(tmp_path / "nope"), "--port", "0"], capsys)
    assert code == 2
    assert "no model folder" in one_error_line(err)


@pytest.mark.parametrize("problem", ["missing", "empty", "directory"])
def test_an_unreadable_key_file_is_one_line(problem: str, tiny_model: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            no_model_loading: None) -> None:
    key = tmp_path / "key"
    if problem == "empty":
        key.write_text("  \n")
    elif problem == "directory":
        key.mkdir()
    code, err = run_cli(["serve", str(tiny_model), "--port", "0", "--api-key-file", str(key)],
                        capsys)
    assert code == 2
    assert "API key file" in one_error_line(err)


def test_checks_leave_the_port_free(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A failed check after binding must not keep the socket (the model folder comes first)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _ = run_cli(["serve", str(tmp_path / "nope"), "--port", str(port)], capsys)
    assert code == 2
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # free


# ------------------------------------------------------------------ a live server process


class Live:
    """``python -m lstm_sentiment serve MODEL --port 0 ...`` with its stderr collected."""

    def __init__(self, model: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lstm_sentiment", "serve", str(model), "--port", "0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._announced = threading.Event()
        self.port = 0
        threading.Thread(target=self._read, daemon=True).start()
        if not self._announced.wait(90):
            self.stop()
            raise AssertionError(f"the server did not start: {self.lines}")
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:  # the port is bound at once; wait for answers
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the server never answered /health")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if m := re.search(r"on http://[^/]+:(\d+)/", line):
                self.port = int(m.group(1))
                self._announced.set()

    def access_log(self) -> list[dict]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture
def live(tiny_model: Path) -> Iterator[Live]:
    server = Live(tiny_model, "--body-timeout", "1", "--header-timeout", "1")
    yield server
    server.stop()


def raw(port: int, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(data)
    return s


def read_all(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def closed_after(s: socket.socket, t0: float) -> Callable[[], tuple[bytes, float]]:
    """Read ``s`` to its end in a thread; the result gives what came and when it closed."""
    got: list[tuple[bytes, float]] = []

    def read() -> None:
        data = read_all(s)
        got.append((data, time.monotonic() - t0))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()

    def result() -> tuple[bytes, float]:
        thread.join(30)
        assert got, "the server never closed the connection"
        return got[0]

    return result


def test_a_stalled_body_is_cut_off_while_others_are_answered(live: Live) -> None:
    stalled = raw(live.port, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             b"application/json\r\nContent-Length: 100\r\n\r\n{\"texts\": [")
    t0 = time.monotonic()
    cut_off = closed_after(stalled, t0)
    with httpx.Client(base_url=live.url) as client:  # answered during the stall
        for _ in range(5):
            r = client.post("/v1/predict", json={"texts": ["great fun"]})
            assert r.status_code == 200
    answer, waited = cut_off()  # the server answers and closes
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"].startswith("the request body")
    assert 0.8 <= waited < 5, waited


def test_stalled_headers_are_cut_off_while_others_are_answered(live: Live) -> None:
    stalled = raw(live.port, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Le")
    silent = raw(live.port, b"")  # connects and says nothing
    t0 = time.monotonic()
    cut_off, silence = closed_after(stalled, t0), closed_after(silent, t0)
    with httpx.Client(base_url=live.url) as client:
        assert client.get("/health").status_code == 200
    answer, waited = cut_off()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 0.8 <= waited < 5, waited
    nothing, waited = silence()
    assert nothing == b"" and 0.8 <= waited < 5, waited  # closed without a word


def test_sigterm_drains_then_exits_0(live: Live) -> None:
    body = json.dumps({"texts": ["a great and wonderful film"]}).encode()
    slow = raw(live.port, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          b"application/json\r\nContent-Length: " + str(len(body)).encode()
               + b"\r\n\r\n" + body[:10])
    time.sleep(0.2)
    live.proc.send_signal(signal.SIGTERM)
    time.sleep(0.4)  # the drain has begun: the listening socket is closed
    with pytest.raises(httpx.ConnectError):
        httpx.post(live.url + "/v1/predict", json={"texts": ["x"]}, timeout=2)
    slow.sendall(body[10:])  # the request in flight still completes
    answer = read_all(slow)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["predictions"][0]["label"]
    assert live.proc.wait(timeout=30) == 0


def test_access_log_is_one_json_object_per_request(live: Live) -> None:
    with httpx.Client(base_url=live.url) as client:
        r = client.post("/v1/predict", json={"texts": ["fun", "awful"]},
                        headers={"X-Request-ID": "req-42"})
        assert r.headers["x-request-id"] == "req-42"
        bad = client.get("/v1/model", headers={"X-Request-ID": "no spaces allowed\t!"})
        assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])
    time.sleep(0.3)
    records = {r["request_id"]: r for r in live.access_log()}
    mine = records["req-42"]
    assert mine["method"] == "POST" and mine["path"] == "/v1/predict" and mine["status"] == 200
    assert mine["texts"] == 2 and mine["batch_size"] >= 2 and mine["duration_ms"] > 0
    assert records[bad.headers["x-request-id"]]["path"] == "/v1/model"
    assert not any("INFO" in line for line in live.lines)  # uvicorn's own access log is off


def test_workers_share_the_port_and_the_metrics(tiny_model: Path) -> None:
    server = Live(tiny_model, "--workers", "2", "--no-access-log")
    try:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(40):  # new connections spread over both workers
                r = httpx.post(server.url + "/v1/predict", json={"texts": ["great"]})
                assert r.status_code == 200
            text = client.get("/metrics").text
        count = re.search(r'lstm_sentiment_requests_total\{method="POST",route="/v1/predict",'
                          r'status="200"\} (\d+)', text)
        assert count and int(count.group(1)) == 40, text[:2000]
        children = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        assert len(children) >= 2
        metrics_dir = [line for line in Path(f"/proc/{children[0]}/environ").read_bytes()
                       .split(b"\0") if line.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    finally:
        code = server.stop()
    assert code == 0
    assert metrics_dir and not Path(metrics_dir[0].split(b"=", 1)[1].decode()).exists()


def test_beyond_loopback_without_a_key_warns(tiny_model: Path, tmp_path: Path) -> None:
    server = Live(tiny_model, "--host", "0.0.0.0")
    try:
        assert any("warning" in line and "--api-key-file" in line for line in server.lines)
    finally:
        server.stop()


def test_a_worker_that_cannot_load_the_model_stops_the_server(tiny_model: Path,
                                                              tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_model, bad)
    (bad / "history.json").write_text('{"epochs": []}')  # no longer matches its checksum
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "lstm_sentiment", "serve", str(bad), "--port",
                           "0", "--workers", "2"], capture_output=True, text=True, env=env,
                          timeout=180)
    assert done.returncode == 2
    assert "does not match its checksum" in done.stderr and "Traceback" not in done.stderr
