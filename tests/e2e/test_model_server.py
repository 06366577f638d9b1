"""``superpose-ls model-server`` for real: Ray Serve over HTTP on 127.0.0.1 (issue 19).

Starts the command (a local Ray, the Serve application, the shipped model in one replica),
talks HTTP to it, drives a real LSP client through it, and stops it with SIGTERM: every
process it started must be gone. Skipped where Ray Serve is not installed (``pip install
'superpose-ls[serve]'``); the same application and step loop are tested in process by
``tests/unit/lsp_server/test_serving.py`` and ``test_backend.py``.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks.harness import LspHarness

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray Serve not installed ([serve] extra)"
)

TOKEN = "ray-test-token"
SHAPES = Path("examples/shapes.py").resolve()
START_TIMEOUT_S = 300.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(root: int) -> set[int]:
    """Every process below ``root`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Server:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, SUPERPOSE_SERVICE_TOKEN=TOKEN)
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lsp_server", "model-server", "--port", str(port)],
            stdout=open(log, "w"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if "serving default at" in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError(f"model-server did not start:\n{self.log.read_text()[-3000:]}")

    def request(
        self, method: str, path: str, body: object = None, token: str | None = TOKEN
    ) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body else None
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = json.loads(response.read() or b"null")
        conn.close()
        return response.status, payload


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("model-server") / "server.log"
    srv = Server(_free_port(), log)
    try:
        srv.wait_serving()
        yield srv
    finally:
        if srv.process.poll() is None:
            srv.process.send_signal(signal.SIGTERM)
            try:
                srv.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                srv.process.kill()


def _prompt(server: Server, text: str) -> list[int]:
    from models.loader import load_model

    return load_model("default", "cpu").encode(text)


def test_completions_over_http_through_ray_serve(server):
    assert server.request("GET", "/superpose/v1/health", token=None) == (
        200,
        {"status": "ok", "version": 1},
    )
    status, info = server.request("GET", "/superpose/v1/info")
    assert status == 200 and info["model"] == "default" and info["auth"] is True
    body = {"prompt": _prompt(server, "def add(a, b):\n    return "), "n": 3, "max_tokens": 8}
    status, answer = server.request("POST", "/v1/completions", body)
    assert status == 200 and 1 <= len(answer["choices"]) <= 3
    assert answer["superpose"]["forward_calls"] == answer["superpose"]["generated_tokens"]
    status, answer = server.request("POST", "/v1/completions", body, token=None)
    assert status == 401 and "bearer" in answer["error"]["message"]


def test_bad_requests_get_4xx_and_the_replica_keeps_serving(server):
    good = {"prompt": [5, 6, 7], "n": 2, "max_tokens": 4}
    for body, want in (
        (b"{malformed", 400),
        ({"prompt": "x", "n": "two"}, 400),
        ({"prompt": [1] * 5000}, 400),
        ({"prompt": [1], "model": "no-such-model"}, 404),
        ({"prompt": [10**9]}, 400),
    ):
        status, answer = server.request("POST", "/v1/completions", body)
        assert status == want and answer["error"]["message"]
    assert server.request("POST", "/v1/completions", good)[0] == 200


def test_concurrent_users_are_served_and_their_rows_freed(server):
    results: list[int] = []

    def user(i: int) -> None:
        body = {"prompt": [5 + i, 6, 7, 8], "n": 4, "max_tokens": 12}
        results.append(server.request("POST", "/v1/completions", body)[0])

    threads = [threading.Thread(target=user, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 6
    status, stats = server.request("GET", "/superpose/v1/stats")
    assert status == 200 and stats["rows"] == 0 and stats["failed"] == 0


def test_a_client_leaving_mid_stream_frees_its_row(server):
    _, before = server.request("GET", "/superpose/v1/stats")
    body = json.dumps(
        {
            "prompt": [5, 6, 7],
            "n": 4,
            "max_tokens": 400,
            "stream": True,
            "superpose": {"ngram": False},
        }
    ).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.sendall(
        b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    received = b""
    while b"superpose.step" not in received:
        chunk = sock.recv(4096)
        assert chunk, received
        received += chunk
    sock.close()  # the user goes away while the drafts are being written
    deadline = time.monotonic() + 60
    stats = before
    while time.monotonic() < deadline:
        _, stats = server.request("GET", "/superpose/v1/stats")
        if stats["cancelled"] > before["cancelled"] and stats["rows"] == 0:
            break
        time.sleep(0.2)
    assert stats["cancelled"] == before["cancelled"] + 1 and stats["rows"] == 0


def test_an_lsp_client_completes_through_the_ray_service(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERPOSE_CACHE_DIR", str(tmp_path))
    options = {"backend": server.url, "backendToken": TOKEN, "drafts": 2, "maxNewTokens": 8}
    with LspHarness() as lsp:
        lsp.initialize(options)
        status = lsp.wait_ready()
        assert status["backend"]["kind"] == "service"
        lsp.open(SHAPES.as_uri(), "python", SHAPES.read_text())
        drafts = lsp.command_(
            "superpose.drafts",
            {"textDocument": {"uri": SHAPES.as_uri()}, "position": {"line": 20, "character": 23}},
        )
        assert drafts["drafts"]


def test_sigterm_stops_everything_the_command_started(server):
    """Last in this module: stops the module's server and checks nothing outlives it."""
    started = _descendants(server.process.pid)
    assert started  # Ray's GCS, raylet, Serve controller, proxy, the replica
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=120) == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in started):
        time.sleep(0.5)
    assert not [p for p in started if _alive(p)]
    assert "stopping" in server.log.read_text()
