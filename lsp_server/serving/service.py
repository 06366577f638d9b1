"""One model replica: the batched step loop on a background asyncio task, and its HTTP API.

:class:`ModelService` owns the model, its background n-gram table, the workspaces' n-gram
tables (synced by document deltas), a prompt KV cache and the step loop of
:class:`models.batched_superposed.BatchedSuperposed` (superposed decoding, Shen et al.
2024, batched across users). Requests are turned into ordinary ``DecodeRequest``s with
constraints built from the data the client sent (:mod:`lsp_server.serving.protocol`):
token healing, the member monitor over the client's tables, the grammar-based repetition
penalty over the sent prefix (the analysis runs here, on text), the stop rule over the
sent window, the confidence early stop with the model's calibration.

The loop runs on the event loop of whoever hosts the service (a Ray Serve replica, or a
test) as a task started by the first request; each step runs on one model thread, so the
event loop keeps accepting requests while the model computes. Requests join and leave
between steps; a client that disconnects (or a Ray request that is cancelled) sets its
request's cancel flag and the row is freed at the next step. A failing step fails the
requests in flight with a 500 and the loop goes on with a fresh batch: nothing a request
does ends the replica.

:meth:`ModelService.asgi` is the HTTP application (plain ASGI, no framework): the Ray
deployment serves it, tests call it directly.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsp_server.serving import API_VERSION
from lsp_server.serving.protocol import (
    MAX_BODY_BYTES,
    ApiError,
    CompletionSpec,
    finish_reason,
    parse_completion,
    parse_document,
)
from models.batched_superposed import SAMPLING, SUPERPOSED, BatchedSuperposed, Ticket
from models.decoding import DecodeRequest, DecodeResult, LogitsConstraint
from models.loader import LoadedModel

log = logging.getLogger(__name__)

MAX_WORKSPACES = 32
MAX_DOCUMENTS = 5000
TOKENIZER_FILES = re.compile(
    r"(tokenizer.*|special_tokens_map\.json|added_tokens\.json|vocab\..*|merges\.txt|"
    r"config\.json|.*\.model|.*\.tiktoken)$"
)


@dataclass
class Response:
    """An HTTP answer: a JSON body, or a stream of server-sent-event chunks."""

    status: int
    body: Any = None
    stream: AsyncIterator[bytes] | None = None


class Workspace:
    """One client workspace's n-gram table, kept up to date by document deltas."""

    def __init__(self, vocab_size: int) -> None:
        from models.ngram import WorkspaceNgrams

        self.table = WorkspaceNgrams(vocab_size)
        self.seq = 0
        self.lock = threading.Lock()


class ModelService:
    """A loaded model serving ``/v1/completions`` with batched superposed decoding."""

    def __init__(
        self,
        lm: LoadedModel,
        background: Any = None,
        token: str | None = None,
        max_rows: int = 64,
        model_id: str | None = None,
    ) -> None:
        from models.confidence import load_confidence
        from models.prompt_cache import PromptCache
        from models.repetition import RepetitionPenalty
        from models.vocab_index import vocab_index

        self.lm = lm
        self.background = background
        self.token = token or None
        self.max_rows = max_rows
        self.model_id = model_id or lm.name
        self.engine = BatchedSuperposed(lm, max_rows=max_rows)
        self.prompt_cache = PromptCache(lm, entries=64)
        self.confidence = load_confidence(lm.path) if lm.path is not None else None
        self.workspaces: OrderedDict[str, Workspace] = OrderedDict()
        self._workspaces_lock = threading.Lock()
        vocab_index(lm.table)  # built before the first request
        RepetitionPenalty(lm.table, None, lm.eos_ids)
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="superpose-step")
        self._futures: dict[int, asyncio.Future] = {}
        self._streams: dict[int, asyncio.Queue] = {}
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task | None = None
        self.started = time.time()
        self.counters = {"requests": 0, "completed": 0, "cancelled": 0, "rejected": 0, "failed": 0}

    @classmethod
    def load(
        cls,
        model: str = "default",
        device: str = "auto",
        token: str | None = None,
        max_rows: int = 64,
    ) -> ModelService:
        """Load ``model`` (the shipped default or a local HF directory) and its n-grams."""
        from models.loader import load_model
        from models.ngram import background_for

        lm = load_model(model, device)
        background = background_for(lm.path, lm.tokenizer, lm.vocab_size)
        return cls(lm, background, token=token, max_rows=max_rows)

    # ------------------------------------------------------------ the step loop

    def _ensure_loop(self) -> None:
        task = self._loop_task
        if (
            task is not None
            and not task.done()
            and task.get_loop() is not asyncio.get_running_loop()
        ):
            raise RuntimeError("a ModelService steps on one event loop; this is another one")
        if task is None or task.done():
            self._wake = asyncio.Event()
            self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        """Step while any request is active or waiting; sleep otherwise."""
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            if self.engine.idle:
                self._wake.clear()
                if self.engine.idle:
                    await self._wake.wait()
                    continue
            try:
                finished = await loop.run_in_executor(self._model_thread, self.engine.step)
            except Exception as exc:  # noqa: BLE001 - a failing step never ends the replica
                log.exception("decoding step failed; requests in flight fail")
                self._fail_all(exc)
                continue
            for t in finished:
                future = self._futures.pop(t.id, None)
                if future is None or future.done():
                    continue
                if t.error is not None:  # this request alone failed
                    self.counters["failed"] += 1
                    future.set_exception(ApiError(500, f"decoding failed: {t.error}"))
                else:
                    future.set_result(t.result)
            for t in self.engine.active:
                queue = self._streams.get(t.id)
                if queue is not None:
                    queue.put_nowait(t.snapshot())

    def _fail_all(self, exc: Exception) -> None:
        """Fail every request in flight and start over with an empty batch."""
        for future in self._futures.values():
            if not future.done():
                future.set_exception(ApiError(500, f"decoding failed: {exc}", code="server_error"))
        self._futures.clear()
        self.counters["failed"] += 1
        self.engine = BatchedSuperposed(self.lm, max_rows=self.max_rows)

    async def decode(
        self, req: DecodeRequest, mode: str = SUPERPOSED, stream: asyncio.Queue | None = None
    ) -> DecodeResult:
        """Decode ``req`` in the shared batch; cancelling the caller frees its row."""
        self._ensure_loop()
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        ticket: Ticket = self.engine.submit(req, mode)
        self._futures[ticket.id] = future
        if stream is not None:
            self._streams[ticket.id] = stream
        assert self._wake is not None
        self._wake.set()
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if req.cancel is not None:
                req.cancel.set()  # the row is freed at the next step
            raise
        finally:
            self._streams.pop(ticket.id, None)

    # ------------------------------------------------------------ requests as data

    def ngram_weight(self, spec: CompletionSpec) -> float:
        """Return the request's n-gram weight: its own, else the served model's for its
        kind (:attr:`CompletionSpec.automatic`)."""
        if spec.ngram_weight is not None:
            return spec.ngram_weight
        return self.lm.ngram_weights.for_request(automatic=spec.automatic)

    def build_request(self, spec: CompletionSpec) -> tuple[DecodeRequest, dict[str, Any]]:
        """Return the DecodeRequest of ``spec`` and what was applied (the status block)."""
        from analysis.statements import StatementRepetition
        from lsp_server.drafts import draft_context
        from lsp_server.pipeline import (
            PipelineOptions,
            confidence_rule,
            healed_stop,
            request_monitor,
        )
        from lsp_server.serving.members import oracle_from_wire
        from models.confidence import CursorEvidence
        from models.healing import HealingConstraint
        from models.ngram import NgramModel
        from models.repetition import RepetitionPenalty
        from models.suppress import SuppressSpecialTokens

        lm = self.lm
        status: dict[str, Any] = {}
        prompt = spec.prompt if isinstance(spec.prompt, list) else lm.encode(spec.prompt)
        if not prompt:
            raise ApiError(400, "the prompt encodes to no tokens", "prompt")
        constraints: list[LogitsConstraint] = [SuppressSpecialTokens(lm.table, lm.eos_ids)]
        if spec.removed:
            constraints.append(HealingConstraint(lm.table, spec.removed))
        status["healing"] = "applied" if spec.removed else "off"
        status["monitor"] = "off"
        if spec.monitor is not None:
            oracle = oracle_from_wire(spec.monitor.get("language"), spec.monitor)
            monitor = request_monitor(lm, oracle, oracle.prompt_tail, spec.automatic)
            constraints.append(monitor)
            status["monitor"] = "applied: member tables (the cursor; named receivers)"
        status["repetition"] = "off"
        if spec.repetition is not None:
            language = spec.repetition.get("language")
            prefix = spec.repetition.get("prefix", "")
            statements = StatementRepetition(language, prefix) if language else None
            constraints.append(RepetitionPenalty(lm.table, statements, lm.eos_ids))
            status["repetition"] = "applied" if statements else "applied: content loops only"
        stop = None
        if spec.stop is not None:
            s = spec.stop
            dctx = draft_context(s["text"], s.get("offset", 0), s.get("language"), s["multiline"])
            stop = healed_stop(spec.removed, dctx)
        status["stop"] = "applied" if stop is not None else "off"
        extend_while = None
        if spec.confidence is not None and self.confidence is not None:
            c = spec.confidence
            evidence = CursorEvidence(
                c.get("prose", False), c.get("mid_word", False), c.get("after_dot", False)
            )
            options = PipelineOptions(
                confidence=self.confidence,
                confidence_threshold=c.get("threshold"),
                confidence_wrong_cost=c.get("wrong_cost"),
            )
            extend_while = confidence_rule(options, evidence)
        status["confidence"] = "applied" if extend_while is not None else "off"
        ngram = None
        workspace = None
        if spec.workspace is not None:
            workspace = self._workspace(spec.workspace[0], create=False)
            seq = workspace.seq if workspace is not None else 0
            status["workspace"] = {"known": workspace is not None, "seq": seq}
        if spec.ngram and (self.background is not None or workspace is not None):
            table = workspace.table if workspace is not None else None
            ngram = NgramModel(self.background, table)
        status["ngram"] = "applied" if ngram is not None else "off"
        cache_key = None
        if spec.cache_key is not None:
            scope = spec.workspace[0] if spec.workspace is not None else ""
            cache_key = f"{scope}\x00{spec.cache_key}"
        req = DecodeRequest(
            prompt_ids=list(prompt),
            max_new_tokens=spec.max_tokens,
            k=spec.n,
            constraints=constraints,
            stop=stop,
            cancel=threading.Event(),
            temperature=spec.temperature,
            top_p=spec.top_p,
            seed=spec.seed,
            ngram=ngram,
            ngram_weight=self.ngram_weight(spec),
            verify=spec.verify and spec.decoder == SUPERPOSED,
            extend_while=extend_while,
            prompt_cache=self.prompt_cache if cache_key is not None else None,
            cache_key=cache_key,
        )
        status["decoder"] = spec.decoder
        status["verify"] = "applied" if req.verify else "off"
        return req, status

    def _workspace(self, wid: str, create: bool) -> Workspace | None:
        with self._workspaces_lock:
            ws = self.workspaces.get(wid)
            if ws is None and create:
                ws = self.workspaces[wid] = Workspace(self.lm.vocab_size)
                while len(self.workspaces) > MAX_WORKSPACES:
                    self.workspaces.popitem(last=False)
            if ws is not None:
                self.workspaces.move_to_end(wid)
            return ws

    # ------------------------------------------------------------ endpoints

    async def handle(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        disconnected: asyncio.Event | None = None,
    ) -> Response:
        """Answer one HTTP request (any failure becomes an error answer, never an exception)."""
        try:
            if path == "/superpose/v1/health":
                return Response(200, {"status": "ok", "version": API_VERSION})
            self._authorize(headers)
            route = self._route(method, path)
            return await route(path, body, disconnected)
        except ApiError as exc:
            self.counters["rejected"] += exc.status < 500
            return Response(exc.status, exc.body())
        except Exception as exc:  # noqa: BLE001 - never end the replica
            log.exception("request failed")
            return Response(500, ApiError(500, f"internal error: {exc}").body())

    def _authorize(self, headers: dict[str, str]) -> None:
        if self.token is None:
            return
        given = headers.get("authorization", "")
        expected = f"Bearer {self.token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(401, "missing or wrong bearer token (Authorization: Bearer ...)")

    def _route(self, method: str, path: str) -> Callable[..., Awaitable[Response]]:
        routes: dict[str, tuple[str, Callable[..., Awaitable[Response]]]] = {
            "/v1/completions": ("POST", self._completions),
            "/v1/models": ("GET", self._models),
            "/superpose/v1/info": ("GET", self._info),
            "/superpose/v1/tokenizer": ("GET", self._tokenizer),
            "/superpose/v1/stats": ("GET", self._stats),
        }
        if path.startswith("/superpose/v1/workspaces/") and path.endswith("/documents"):
            routes[path] = ("PUT", self._document)
        if path not in routes:
            raise ApiError(404, f"no such endpoint: {path}")
        allowed, route = routes[path]
        if method != allowed:
            raise ApiError(405, f"{path} takes {allowed}, not {method}")
        return route

    @staticmethod
    def _json(body: bytes) -> Any:
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"the request body is over {MAX_BODY_BYTES} bytes")
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from exc

    async def _completions(
        self, path: str, body: bytes, disconnected: asyncio.Event | None
    ) -> Response:
        lm = self.lm
        spec = parse_completion(self._json(body), lm.vocab_size, lm.context_length)
        if spec.model is not None and spec.model not in (self.model_id, "default"):
            raise ApiError(404, f"model {spec.model!r} is not served here ({self.model_id})")
        req, status = self.build_request(spec)
        self.counters["requests"] += 1
        mode = SAMPLING if spec.decoder == "sampling" else SUPERPOSED
        if spec.stream:
            return Response(200, stream=self._stream(req, mode, status, disconnected))
        task = asyncio.ensure_future(self.decode(req, mode))
        waiting = {task}
        if disconnected is not None:
            waiting.add(asyncio.ensure_future(disconnected.wait()))
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:  # the client left (or Ray cancelled the request): the row is freed
            for other in waiting - {task}:
                other.cancel()
            if not task.done():
                assert req.cancel is not None
                req.cancel.set()
                self.counters["cancelled"] += 1
        if not task.done():
            return Response(499, ApiError(499, "client closed the request").body())
        return Response(200, self._answer(task.result(), status))

    async def _stream(
        self,
        req: DecodeRequest,
        mode: str,
        status: dict[str, Any],
        disconnected: asyncio.Event | None,
    ) -> AsyncIterator[bytes]:
        """Server-sent events: live drafts per step, then the answer, then ``[DONE]``."""
        queue: asyncio.Queue = asyncio.Queue()
        task = asyncio.ensure_future(self.decode(req, mode, stream=queue))
        try:
            while not task.done():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    event = {"object": "superpose.step", "live": getter.result()}
                    yield f"data: {json.dumps(event)}\n\n".encode()
                else:
                    getter.cancel()
                if disconnected is not None and disconnected.is_set():
                    raise asyncio.CancelledError
            answer = self._answer(task.result(), status)
            answer["object"] = "text_completion.chunk"
            yield f"data: {json.dumps(answer)}\n\n".encode()
            yield b"data: [DONE]\n\n"
        finally:  # the client left mid-stream (or the stream was closed): free the row
            if not task.done():
                assert req.cancel is not None
                req.cancel.set()
                self.counters["cancelled"] += 1

    def _answer(self, result: DecodeResult, status: dict[str, Any]) -> dict[str, Any]:
        """The OpenAI-shaped answer with the ``superpose`` blocks."""
        self.counters["completed"] += 1
        choices = [
            {
                "index": i,
                "text": d.text,
                "finish_reason": finish_reason(d.finish),
                "logprobs": None,
                "superpose": {
                    "token_ids": d.token_ids,
                    "score": d.score,
                    "mean_score": d.mean_score,
                    "logprob": d.logprob,
                    "finish": d.finish,
                    "stats": d.stats,
                    "token_logprobs": d.token_logprobs,
                    "token_ngram_logprobs": d.token_ngram_logprobs,
                },
            }
            for i, d in enumerate(result.drafts)
        ]
        completion = sum(len(d.token_ids) for d in result.drafts)
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.model_id,
            "choices": choices,
            "usage": {
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": result.prompt_tokens + completion,
            },
            "superpose": {
                "version": API_VERSION,
                "status": status,
                "cancelled": result.cancelled,
                "forward_calls": result.forward_calls,
                "generated_tokens": result.generated_tokens,
                "timings": {k: round(float(v), 3) for k, v in result.timings.items()},
            },
        }

    async def _models(self, path: str, body: bytes, disconnected: Any) -> Response:
        return Response(
            200,
            {
                "object": "list",
                "data": [{"id": self.model_id, "object": "model", "owned_by": "superpose-ls"}],
                "superpose": {"version": API_VERSION},
            },
        )

    def info(self) -> dict[str, Any]:
        """What a client needs to build prompts for this model (and the service's limits)."""
        lm = self.lm
        fim = None
        if lm.fim is not None:
            f = lm.fim
            fim = {"prefix": f.prefix, "suffix": f.suffix, "middle": f.middle, "end": f.end}
            fim.update({"family": f.family, "modes": list(f.modes)})
        return {
            "version": API_VERSION,
            "model": self.model_id,
            "vocab_size": lm.vocab_size,
            "context_length": lm.context_length,
            "eos_ids": sorted(lm.eos_ids),
            "fim": fim,
            "fim_policy": lm.fim_policy,
            "fim_mode": lm.fim_mode,
            "ngram_weight": lm.ngram_weights.to_dict(),
            "confidence": None if self.confidence is None else self.confidence.to_dict(),
            "tokenizer_sha": self.tokenizer_files()[1],
            "decoders": ["superposed", "sampling"],
            "max_rows": self.max_rows,
            "auth": self.token is not None,
        }

    async def _info(self, path: str, body: bytes, disconnected: Any) -> Response:
        return Response(200, self.info())

    def tokenizer_files(self) -> tuple[dict[str, dict[str, str]], str]:
        """The model directory's tokenizer files (text or base64) and their digest."""
        cached = getattr(self, "_tokenizer_files", None)
        if cached is not None:
            return cached
        files: dict[str, dict[str, str]] = {}
        digest = hashlib.sha256()
        directory = Path(self.lm.path)
        for path in sorted(directory.iterdir()) if directory.is_dir() else []:
            if not path.is_file() or not TOKENIZER_FILES.fullmatch(path.name):
                continue
            data = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + data)
            try:
                files[path.name] = {"text": data.decode("utf-8")}
            except UnicodeDecodeError:
                files[path.name] = {"base64": base64.b64encode(data).decode("ascii")}
        self._tokenizer_files = (files, digest.hexdigest()[:16])
        return self._tokenizer_files

    async def _tokenizer(self, path: str, body: bytes, disconnected: Any) -> Response:
        files, sha = self.tokenizer_files()
        return Response(200, {"sha": sha, "files": files})

    async def _stats(self, path: str, body: bytes, disconnected: Any) -> Response:
        stats = dict(self.engine.stats)
        stats["mean_batch_rows"] = stats["batched_rows"] / max(1, stats["forward_calls"])
        stats.update(self.counters)
        stats["rows"] = self.engine.rows
        stats["workspaces"] = len(self.workspaces)
        return Response(200, stats)

    async def _document(self, path: str, body: bytes, disconnected: Any) -> Response:
        wid = path[len("/superpose/v1/workspaces/") : -len("/documents")]
        if not 0 < len(wid) <= 256:
            raise ApiError(400, "workspace id must be 1..256 characters")
        data = self._json(body)
        key, ids = parse_document(data, self.lm.vocab_size)
        seq = data.get("seq", 0)
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ApiError(400, "'seq' must be a non-negative integer", "seq")
        ws = self._workspace(wid, create=True)
        assert ws is not None
        with ws.lock:
            if ids is None:
                ws.table.remove_document(key)
            elif key in ws.table or len(ws.table) < MAX_DOCUMENTS:
                # counted off the event loop: a large document takes a moment
                await asyncio.get_running_loop().run_in_executor(
                    None, ws.table.set_document, key, ids
                )
            else:
                raise ApiError(413, f"workspace {wid} already holds {MAX_DOCUMENTS} documents")
            ws.seq = max(ws.seq, seq)
            return Response(200, {"seq": ws.seq, "documents": len(ws.table)})

    # ------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        """The service is an ASGI application (servers detect ASGI 3 from this method)."""
        await self.asgi(scope, receive, send)

    async def asgi(self, scope: dict, receive: Callable, send: Callable) -> None:
        """The service as a plain ASGI application (HTTP; lifespan acknowledged)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                error = ApiError(413, f"the request body is over {MAX_BODY_BYTES} bytes")
                await _send_json(send, error.status, error.body())
                return
            if not message.get("more_body", False):
                break
        disconnected = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        watcher = asyncio.ensure_future(watch())
        try:
            response = await self.handle(
                scope["method"], scope["path"], headers, body, disconnected
            )
            if response.stream is None:
                await _send_json(send, response.status, response.body)
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [
                        (b"content-type", b"text/event-stream"),
                        (b"cache-control", b"no-cache"),
                    ],
                }
            )
            stream = response.stream
            try:
                async for chunk in stream:
                    if disconnected.is_set():
                        break
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away while we answered
            pass
        finally:
            watcher.cancel()


async def _send_json(send: Callable, status: int, body: Any) -> None:
    data = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data, "more_body": False})
