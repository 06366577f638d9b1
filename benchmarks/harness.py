"""A headless LSP client over stdio for tests, benchmarks and other tools.

Starts ``superpose-ls`` (or any LSP server command) as a subprocess and speaks
JSON-RPC with Content-Length framing, without any LSP library, so it can also
send malformed input. Server-to-client requests (progress tokens,
configuration) are answered automatically.

    with LspHarness() as lsp:
        lsp.initialize({"drafts": 4})
        lsp.wait_ready()
        lsp.open("file:///x.py", "python", "import os\\nos.")
        result = lsp.request("textDocument/completion", {...})
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


class LspError(Exception):
    """An error response: ``code`` and ``message`` from the server."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.error = error


def server_command() -> list[str]:
    """Return the command that starts our server with this interpreter."""
    return [sys.executable, "-m", "lsp_server"]


class LspHarness:
    """A minimal, thread-safe LSP client driving a server subprocess over stdio."""

    def __init__(
        self,
        command: list[str] | None = None,
        cwd: str | Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.command = command or server_command()
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        self._ids = itertools.count(1)
        self._responses: dict[Any, dict[str, Any]] = {}
        self.arrived: dict[Any, float] = {}  # response id -> time.monotonic() of its arrival
        self._cond = threading.Condition()
        self.notifications: list[dict[str, Any]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self.stderr_path: Path | None = None

    # ------------------------------------------------------------ process

    def start(self) -> LspHarness:
        import tempfile

        fd, name = tempfile.mkstemp(prefix="superpose-ls-stderr-", suffix=".log")
        self.stderr_path = Path(name)
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=fd,
            cwd=self.cwd,
            env=self.env,
        )
        os.close(fd)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.alive():
            try:
                self.request("shutdown", None, timeout=timeout)
                self.notify("exit", None)
                self.proc.wait(timeout=timeout)
            except Exception:  # noqa: BLE001 - kill whatever is left
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def __enter__(self) -> LspHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ wire

    def send_raw(self, body: bytes) -> None:
        """Send ``body`` framed with a Content-Length header (may be invalid JSON)."""
        assert self.proc is not None and self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(json.dumps({"jsonrpc": "2.0", **message}).encode())

    def _read_loop(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stream = self.proc.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    with self._cond:
                        self._cond.notify_all()
                    return
                if line in (b"\r\n", b"\n"):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length is None:
                continue
            message = json.loads(stream.read(length))
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:  # a request from the server
            self.send({"id": message["id"], "result": self._answer(message)})
            with self._cond:
                self.notifications.append(message)
            return
        with self._cond:
            if "method" in message:
                self.notifications.append(message)
            else:
                self._responses[message.get("id")] = message
                self.arrived[message.get("id")] = time.monotonic()
            self._cond.notify_all()

    @staticmethod
    def _answer(request: dict[str, Any]) -> Any:
        if request["method"] == "workspace/configuration":
            return [None for _ in request.get("params", {}).get("items", [])]
        return None

    # ------------------------------------------------------------ requests

    def request_async(self, method: str, params: Any, msg_id: Any = None) -> Any:
        """Send a request and return its id (collect it with :meth:`wait`)."""
        msg_id = next(self._ids) if msg_id is None else msg_id
        self.send({"id": msg_id, "method": method, "params": params})
        return msg_id

    def wait(self, msg_id: Any, timeout: float = 120.0) -> dict[str, Any]:
        """Return the raw response message for ``msg_id`` (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self._responses:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.alive():
                    if msg_id in self._responses:
                        break
                    state = "timed out" if self.alive() else "server exited"
                    raise TimeoutError(f"no response to {msg_id!r} ({state})")
                self._cond.wait(min(remaining, 0.5))
            return self._responses.pop(msg_id)

    def wait_until(self, msg_id: Any, deadline: float | None) -> dict[str, Any] | None:
        """Return the response to ``msg_id`` if it arrives before ``deadline`` (monotonic
        seconds; None waits without limit while the server lives), else None (not consumed)."""
        with self._cond:
            while msg_id not in self._responses:
                remaining = None if deadline is None else deadline - time.monotonic()
                if (remaining is not None and remaining <= 0) or not self.alive():
                    return None
                self._cond.wait(0.5 if remaining is None else min(remaining, 0.5))
            return self._responses.pop(msg_id)

    def request(self, method: str, params: Any, timeout: float = 120.0) -> Any:
        """Send a request and return its result (raises LspError on an error response)."""
        response = self.wait(self.request_async(method, params), timeout)
        if "error" in response:
            raise LspError(response["error"])
        return response.get("result")

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    # ------------------------------------------------------------ LSP helpers

    def initialize(self, options: dict[str, Any] | None = None, root: Path | None = None) -> Any:
        caps = {
            "window": {"workDoneProgress": True},
            "workspace": {"configuration": True},
            "textDocument": {"completion": {}, "inlineCompletion": {}},
        }
        params = {
            "processId": os.getpid(),
            "rootUri": root.resolve().as_uri() if root else None,
            "capabilities": caps,
            "initializationOptions": options or {},
        }
        result = self.request("initialize", params)
        self.notify("initialized", {})
        return result

    def status(self) -> dict[str, Any]:
        return self.command_("superpose.status")

    def command_(self, command: str, *arguments: Any, timeout: float = 120.0) -> Any:
        params = {"command": command, "arguments": list(arguments)}
        return self.request("workspace/executeCommand", params, timeout)

    def wait_ready(self, timeout: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status["state"] in ("ready", "error") or time.monotonic() > deadline:
                return status
            time.sleep(0.2)

    def open(self, uri: str, language_id: str, text: str, version: int = 1) -> None:
        doc = {"uri": uri, "languageId": language_id, "version": version, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": doc})

    def change(self, uri: str, version: int, changes: list[dict[str, Any]]) -> None:
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes},
        )

    def completion(self, uri: str, line: int, character: int, **kw: Any) -> Any:
        params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}
        return self.request("textDocument/completion", params, **kw)

    def inline(self, uri: str, line: int, character: int, automatic: bool = False) -> Any:
        params = {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 2 if automatic else 1},
        }
        return self.request("textDocument/inlineCompletion", params)
