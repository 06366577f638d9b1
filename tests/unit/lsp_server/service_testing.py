"""Loopback HTTP hosts for backend tests: the real model service, and an OpenAI-compatible stub.

:class:`ServiceHost` serves our own :class:`~lsp_server.serving.service.ModelService`
(its ``handle``, the code Ray Serve runs through ASGI) over a small threaded HTTP server
on 127.0.0.1, so the client backend can be tested over real sockets where Ray Serve is
not installed. :class:`OpenAIStub` is a test double of a *foreign* server (vLLM,
llama.cpp): it records what it is sent and answers in the OpenAI completions format.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ServiceHost:
    """The real model service on ``http://127.0.0.1:PORT`` (no Ray)."""

    def __init__(self, service: Any, port: int = 0) -> None:
        self.service = service
        self.loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._loop_thread.start()
        host = self

        class Handler(_Quiet):
            def _handle(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self._body()
                future = asyncio.run_coroutine_threadsafe(
                    host.service.handle(self.command, self.path, headers, body), host.loop
                )
                response = future.result(timeout=120)
                self._reply(response.status, response.body)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

        async def cancel_tasks() -> None:  # the service's step loop ends with its host
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(cancel_tasks(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._loop_thread.join(timeout=5)

    def __enter__(self) -> ServiceHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OpenAIStub:
    """An OpenAI-compatible completions server double (loopback), recording requests."""

    def __init__(self, model: str = "Qwen/Qwen2.5-Coder-0.5B", refuse_n: bool = False) -> None:
        self.model = model
        self.refuse_n = refuse_n
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._reply(200, {"object": "list", "data": [{"id": stub.model}]})
                else:
                    self._reply(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self._body() or b"{}")
                stub.requests.append(body)
                n = int(body.get("n", 1))
                if stub.refuse_n and n > 1:
                    self._reply(400, {"error": {"message": "n > 1 is not supported; use n=1"}})
                    return
                seed = int(body.get("seed", 0))
                choices = [
                    {
                        "index": i,
                        "text": f" value_{seed + i}(x)\nnext_line()",
                        "finish_reason": "length",
                        "logprobs": {"token_logprobs": [-0.1 * (seed + i + 1)] * 3},
                    }
                    for i in range(n)
                ]
                self._reply(200, {"object": "text_completion", "choices": choices})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
