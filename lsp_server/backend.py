"""Where the pipeline's decoding step runs: this process, a model service, or an OpenAI server.

The ``backend`` setting picks one (issue 19):

* ``"local"`` (default): the decoders of this process (:func:`models.decoders.get_decoder`).
* the URL of a **superpose-ls model service** (``superpose-ls model-server``): the request
  travels as the ``superpose/1`` wire API (:mod:`lsp_server.serving.protocol`): prompt
  token ids built here with the service's own tokenizer (fetched once and cached), and as
  data what the constraints need: the healed text, the member monitor's tables
  (:mod:`lsp_server.serving.members`), the language and prefix for the grammar-based
  repetition penalty, the stop rule's window, the confidence evidence, a workspace id
  whose n-gram table is synced by document deltas. The service decodes with superposed
  decoding batched across users (Shen et al. 2024) and returns raw drafts; cleaning,
  ranking and the ghost-text cuts run here as for local drafts.
* the URL of any **OpenAI-compatible completions server** (vLLM, llama.cpp's server): the
  fallback. The prompt is built here (FIM with the sentinels of the model's family when
  its name tells it, else the prefix alone) and sent as text with ``n = k`` (or k
  parallel requests where the server refuses ``n > 1``); token healing, the monitor, the
  repetition penalty, n-grams, verification and the confidence cut cannot act inside
  such a server and are off (``superpose.status`` says so); the stop rule and the
  cleaning still apply here to what comes back.

Remote calls have timeouts (ghost text 2.5 s, explicit requests 20 s), retry connection
failures with backoff, and answer at once with no drafts while a service is down (a probe
is let through with growing intervals): the editor keeps working, with empty ghost text,
never a hang. ``backendToken`` is sent as ``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import math
import os
import re
import shutil
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.decoding import DecodeRequest, DecodeResult, Draft
from models.ngram import WorkspaceNgrams

if TYPE_CHECKING:
    from analysis.document import Document
    from lsp_server.drafts import DraftContext
    from lsp_server.pipeline import PipelineOptions
    from lsp_server.prompt import Prompt
    from models.confidence import CursorEvidence
    from models.loader import LoadedModel

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 1.0
AUTOMATIC_TIMEOUT_S = 2.5  # ghost text: later than this it is stale anyway
INVOKED_TIMEOUT_S = 20.0
RETRIES = 2  # connection failures retried (with backoff) before a request gives up
DOWN_BACKOFF_S = (1.0, 30.0)  # probe intervals while a service is down: first, longest
AUTOMATIC_RECEIVERS = 8  # ghost text: fewer receiver names resolved per request
STOP_WINDOW = (16_000, 8_000)  # characters of the document sent for the stop rule
REPETITION_PREFIX_CHARS = 32_000
CACHE_DIR_ENV = "SUPERPOSE_CACHE_DIR"
_SYNC_INTERVAL_S = 0.2


class BackendError(Exception):
    """A remote backend cannot be reached or refuses a request."""


@dataclass
class DecodeContext:
    """The facts of one request a remote backend turns into data (the pipeline's own)."""

    doc: Document  # the analysed snapshot
    offset: int  # the cursor (code points)
    gen_offset: int  # where generation starts (the cursor minus the healed text)
    prompt: Prompt
    dctx: DraftContext  # the stop rule's context (single/multi-line resolved)
    language: str | None
    options: PipelineOptions
    oracle: Any  # the member oracle at the generation point (None: unknown)
    evidence: CursorEvidence


# ------------------------------------------------------------------ local


class LocalBackend:
    """This process's decoders (the default)."""

    name = "local"
    remote = False

    def decode(self, lm: LoadedModel, request: DecodeRequest, ctx: DecodeContext) -> DecodeResult:
        from models.decoders import get_decoder

        return get_decoder(ctx.options.decoder)(lm, request)

    def workspace_table(self, vocab_size: int) -> WorkspaceNgrams:
        return WorkspaceNgrams(vocab_size)

    def status(self) -> dict[str, Any]:
        return {"kind": "local", "state": "ready"}

    def close(self) -> None:
        pass


def backend_for(settings: Any) -> Any:
    """Return the backend of ``settings.backend`` (``local`` or a URL; probed on connect)."""
    url = getattr(settings, "backend", "local")
    if url == "local":
        return LocalBackend()
    return RemoteBackend(url, getattr(settings, "backendToken", "") or None)


# ------------------------------------------------------------------ HTTP


class _Http:
    """Blocking JSON over HTTP with timeouts, retries, cancellation and a down-state."""

    def __init__(self, url: str, token: str | None) -> None:
        parsed = urllib.parse.urlsplit(url.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise BackendError(f"backend must be 'local' or an http(s) URL, got {url!r}")
        self.scheme, self.host = parsed.scheme, parsed.hostname
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.base = re.sub(r"/v1$", "", parsed.path.rstrip("/"))
        self.token = token
        self.down_since: float | None = None
        self.next_probe = 0.0
        self.backoff = DOWN_BACKOFF_S[0]
        self.last_error: str | None = None
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.base}"

    def down(self) -> bool:
        """True while the service is down and no probe is due (requests answer at once)."""
        with self.lock:
            if self.down_since is None or time.monotonic() >= self.next_probe:
                return False
            return True

    def _failed(self, error: str) -> None:
        with self.lock:
            now = time.monotonic()
            if self.down_since is None:
                self.down_since, self.backoff = now, DOWN_BACKOFF_S[0]
            else:
                self.backoff = min(DOWN_BACKOFF_S[1], self.backoff * 2)
            self.next_probe = now + self.backoff
            self.last_error = error

    def _ok(self) -> None:
        with self.lock:
            self.down_since, self.last_error = None, None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        timeout: float = INVOKED_TIMEOUT_S,
        cancel: threading.Event | None = None,
        retries: int = RETRIES,
    ) -> tuple[int, Any] | None:
        """Return (status, JSON body), or None when ``cancel`` was set first.

        Connection failures are retried ``retries`` times with backoff; a 502/503/504 once.
        Raises :class:`BackendError` when the service cannot be reached in ``timeout``.
        """
        deadline = time.monotonic() + timeout
        data = None if body is None else json.dumps(body).encode("utf-8")
        delay = 0.1
        attempt = 0
        while True:
            attempt += 1
            try:
                status, answer = self._once(method, path, data, deadline, cancel)
            except _Cancelled:
                return None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                timed_out = isinstance(exc, (TimeoutError, socket.timeout))
                if timed_out or attempt > retries or time.monotonic() + delay >= deadline:
                    message = f"{self.url} unreachable ({error})"
                    self._failed(message)
                    raise BackendError(message) from exc
                time.sleep(delay)
                delay *= 3
                continue
            if status in (502, 503, 504) and attempt <= 1 and time.monotonic() + delay < deadline:
                time.sleep(delay)
                continue
            if status >= 500:
                self._failed(f"{self.url} answered HTTP {status}")
            else:
                self._ok()
            return status, answer

    def _once(
        self,
        method: str,
        path: str,
        data: bytes | None,
        deadline: float,
        cancel: threading.Event | None,
    ) -> tuple[int, Any]:
        """One request on a helper thread; the caller waits, and closes it on cancel."""
        left = max(0.05, deadline - time.monotonic())
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=min(CONNECT_TIMEOUT_S, left))
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                conn.connect()
                if conn.sock is not None:
                    conn.sock.settimeout(left)
                headers = {"Content-Type": "application/json", "Accept": "application/json"}
                if self.token:
                    headers["Authorization"] = f"Bearer {self.token}"
                conn.request(method, self.base + path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                outcome["status"] = response.status
                outcome["body"] = json.loads(raw.decode("utf-8")) if raw else None
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                outcome["error"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=run, daemon=True, name="superpose-http")
        worker.start()
        while not done.wait(0.02):
            if cancel is not None and cancel.is_set():
                _close(conn)  # the service sees the disconnect and frees the row
                raise _Cancelled
            if time.monotonic() > deadline + 0.5:
                _close(conn)
                raise TimeoutError(f"no answer within {deadline} s")
        conn.close()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["status"], outcome["body"]


class _Cancelled(Exception):
    pass


def _close(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    conn.close()


def _error_message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", body["error"]))
    return str(body)[:200]


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "superpose-ls")


def tokenizer_model(
    directory: Path, vocab_size: int, eos_ids: list[int], context_length: int, name: str
) -> LoadedModel:
    """Return a LoadedModel without weights: the tokenizer and tables of ``directory``
    (prompts, healing, cleaning and confidence cuts run here; decoding runs remotely)."""
    import torch
    from transformers import AutoTokenizer

    from models.loader import (
        LoadedModel,
        fim_mode,
        fim_policy,
        fim_tokens,
        model_options,
        ngram_weights,
    )
    from models.token_table import TokenTable

    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    options = model_options(directory)
    policy = fim_policy(options)
    fim = fim_tokens(tokenizer)
    table = TokenTable.cached(tokenizer, vocab_size, fim.ids if fim else ())
    return LoadedModel(
        model=None,
        tokenizer=tokenizer,
        name=name,
        path=directory,
        device=torch.device("cpu"),
        dtype=torch.float32,
        eos_ids=frozenset(eos_ids),
        fim=fim if policy != "never" else None,
        context_length=context_length,
        load_seconds=0.0,
        table=table,
        fim_policy=policy,
        fim_mode=fim_mode(options, fim),
        ngram_weights=ngram_weights(options),
    )


# ------------------------------------------------------------------ remote


class RemoteBackend:
    """A model service or an OpenAI-compatible server at ``url`` (which one: probed)."""

    remote = True

    def __init__(self, url: str, token: str | None = None) -> None:
        self.http = _Http(url, token)
        self.kind = "unknown"  # "service" | "openai"
        self.name = "remote"
        self.model_id: str | None = None
        self.info: dict[str, Any] = {}
        self.n_refused = False  # the OpenAI server refused n > 1: k parallel requests
        self.applied: dict[str, Any] = {}
        self.last_status: dict[str, Any] = {}
        self.requests = {"sent": 0, "failed": 0, "cancelled": 0, "skipped_down": 0}
        self.workspace: SyncedWorkspace | None = None
        self._retry: threading.Thread | None = None
        self._closed = threading.Event()

    # -- connecting

    def connect(self, progress: Callable[[str, int | None], None] | None = None) -> LoadedModel:
        """Probe the URL; return the tokenizer-only model prompts are built with."""
        progress = progress or (lambda message, pct: None)
        progress(f"connecting to {self.http.url}", 10)
        status, info = self._get("/superpose/v1/info", retries=RETRIES)
        if status == 200 and isinstance(info, dict) and info.get("version") is not None:
            return self._connect_service(info, progress)
        if status == 401:
            raise BackendError(f"{self.http.url}: {_error_message(info)} (set backendToken)")
        status, models = self._get("/v1/models", retries=0)
        if status == 200 and isinstance(models, dict) and models.get("data"):
            return self._connect_openai(models)
        raise BackendError(
            f"{self.http.url} is neither a superpose-ls model service nor an OpenAI-compatible "
            f"server (/v1/models answered {status}: {_error_message(models)})"
        )

    def _get(self, path: str, retries: int) -> tuple[int, Any]:
        answer = self.http.request("GET", path, timeout=10.0, retries=retries)
        assert answer is not None
        return answer

    def _connect_service(self, info: dict[str, Any], progress: Callable) -> LoadedModel:
        from lsp_server.serving import API_VERSION

        if info.get("version") != API_VERSION:
            raise BackendError(
                f"the model service speaks superpose/{info.get('version')}, "
                f"this client superpose/{API_VERSION}"
            )
        self.kind, self.info, self.model_id = "service", info, str(info.get("model"))
        directory = cache_root() / "remote" / str(info.get("tokenizer_sha", "unknown"))
        if not (directory / "superpose.json").is_file():
            progress("fetching the service's tokenizer", 40)
            status, files = self._get("/superpose/v1/tokenizer", retries=RETRIES)
            if status != 200 or not isinstance(files, dict):
                raise BackendError(f"tokenizer not served: {_error_message(files)}")
            partial = directory.with_name(directory.name + f".{uuid.uuid4().hex[:8]}")
            partial.mkdir(parents=True, exist_ok=True)
            for name, content in files.get("files", {}).items():
                if "/" in name or name.startswith("."):
                    continue
                if "text" in content:
                    (partial / name).write_text(content["text"], encoding="utf-8")
                else:
                    (partial / name).write_bytes(base64.b64decode(content["base64"]))
            options = {"fim": info.get("fim_policy", "always"), "fim_mode": info.get("fim_mode")}
            if info.get("confidence"):
                options["confidence"] = info["confidence"]
            if info.get("ngram_weight") is not None:  # services before it: the default
                options["ngram_weight"] = info["ngram_weight"]
            (partial / "superpose.json").write_text(json.dumps(options))
            if directory.exists():
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.rename(directory)
        self.applied = {
            "decoder": "superposed (batched across users on the service; greedy as k = 1 "
            "without n-grams; beam is served as superposed)",
            "monitor": "member tables: the receiver at the cursor and named receivers",
            "repetitionPenalty": "applied on the service (prefix sent)",
            "healing": "applied",
            "ngram": "service background + this workspace (synced by document deltas)",
            "verify": "applied on the service",
            "confidence": "applied (the service model's calibration)",
        }
        return tokenizer_model(
            directory,
            int(info["vocab_size"]),
            list(info.get("eos_ids", [])),
            int(info["context_length"]),
            f"{self.model_id}@{self.http.url}",
        )

    def _connect_openai(self, models: dict[str, Any]) -> LoadedModel:
        from models.loader import DEFAULT_MODEL_DIR

        self.kind = "openai"
        self.model_id = str(models["data"][0].get("id", "default"))
        family = fim_family_of(self.model_id)
        self.info = {"model": self.model_id, "fim": family}
        # prompts are measured with the shipped tokenizer (windows, FIM layout) and sent
        # as text: the server's own tokenizer is not known here
        directory = cache_root() / "openai" / hashlib.sha1(self.model_id.encode()).hexdigest()[:16]
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(DEFAULT_MODEL_DIR / name, directory / name)
        options = {"fim": "always" if family else "never", "fim_mode": "psm"}
        (directory / "superpose.json").write_text(json.dumps(options))  # no calibration
        self.applied = {
            "decoder": "the server's own sampling (n = k, or k parallel requests)",
            "fim": family or "off (model family unknown: prefix only)",
            "monitor": "off (cannot mask inside an OpenAI-compatible server)",
            "repetitionPenalty": "off (cannot act inside an OpenAI-compatible server)",
            "healing": "off (the healed text is sent back as prompt text)",
            "ngram": "off",
            "verify": "off",
            "confidence": "off (no calibration for this model)",
            "stop": "applied here to the returned text",
        }
        return tokenizer_model(directory, 8192, [0], 2048, f"{self.model_id}@{self.http.url}")

    def retry_connect(self, attach: Callable[[LoadedModel], None]) -> None:
        """Keep trying to connect in the background; ``attach`` the model once it works."""
        if self._retry is not None and self._retry.is_alive():
            return

        def loop() -> None:
            delay = DOWN_BACKOFF_S[0]
            while not self._closed.wait(delay):
                try:
                    lm = self.connect()
                except (BackendError, OSError, ValueError) as exc:
                    log.info("model service still unreachable: %s", exc)
                    delay = min(DOWN_BACKOFF_S[1], delay * 2)
                    continue
                attach(lm)
                return

        self._retry = threading.Thread(target=loop, daemon=True, name="superpose-reconnect")
        self._retry.start()

    # -- decoding

    def decode(self, lm: LoadedModel, request: DecodeRequest, ctx: DecodeContext) -> DecodeResult:
        started = time.perf_counter()
        if self.http.down():
            self.requests["skipped_down"] += 1
            return _empty(started)
        timeout = AUTOMATIC_TIMEOUT_S if ctx.options.automatic else INVOKED_TIMEOUT_S
        self.requests["sent"] += 1
        try:
            if self.kind == "openai":
                drafts = self._openai_drafts(lm, request, ctx, timeout)
                if drafts is None:
                    return _empty(started, cancelled=True)
                return DecodeResult(
                    drafts, 0, len(request.prompt_ids), 0, time.perf_counter() - started
                )
            return self._service_decode(request, ctx, timeout, started)
        except BackendError as exc:
            self.requests["failed"] += 1
            log.warning("remote decoding failed: %s", exc)
            return _empty(started)
        except Exception:  # noqa: BLE001 - a remote answer never breaks the editor
            self.requests["failed"] += 1
            log.exception("remote decoding failed")
            return _empty(started)

    def _service_decode(
        self, request: DecodeRequest, ctx: DecodeContext, timeout: float, started: float
    ) -> DecodeResult:
        body = service_body(request, ctx, self.model_id, self.workspace)
        answer = self.http.request(
            "POST", "/v1/completions", body, timeout=timeout, cancel=request.cancel
        )
        if answer is None:
            self.requests["cancelled"] += 1
            return _empty(started, cancelled=True)
        status, data = answer
        if status != 200 or not isinstance(data, dict):
            self.http.last_error = f"HTTP {status}: {_error_message(data)}"
            raise BackendError(self.http.last_error)
        ext = data.get("superpose", {})
        self.last_status = ext.get("status", {})
        if self.workspace is not None:
            self.workspace.check(self.last_status.get("workspace"))
        drafts = [_draft(choice) for choice in data.get("choices", [])]
        timings = {
            f"service_{k}": float(v)
            for k, v in ext.get("timings", {}).items()
            if isinstance(v, (int, float))
        }
        timings["remote_ms"] = (time.perf_counter() - started) * 1000.0
        return DecodeResult(
            drafts=drafts,
            forward_calls=int(ext.get("forward_calls", 0)),
            prompt_tokens=int(data.get("usage", {}).get("prompt_tokens", 0)),
            generated_tokens=int(ext.get("generated_tokens", 0)),
            seconds=time.perf_counter() - started,
            cancelled=bool(ext.get("cancelled", False)),
            timings=timings,
        )

    def _openai_drafts(
        self, lm: LoadedModel, request: DecodeRequest, ctx: DecodeContext, timeout: float
    ) -> list[Draft] | None:
        prompt = openai_prompt(lm, request.prompt_ids, ctx.prompt.removed_text, self.info["fim"])
        k = request.k
        body: dict[str, Any] = {
            "model": self.model_id,
            "prompt": prompt,
            "max_tokens": request.max_new_tokens,
            "temperature": 0.0 if k == 1 else 0.8,
            "top_p": 0.95,
            "logprobs": 1,
        }
        if ctx.dctx.multiline == "never":
            body["stop"] = ["\n"]
        if not self.n_refused:
            answer = self.http.request(
                "POST", "/v1/completions", {**body, "n": k}, timeout=timeout, cancel=request.cancel
            )
            if answer is None:
                return None
            status, data = answer
            if status == 200 and isinstance(data, dict):
                choices = data.get("choices", [])
                if k == 1 or len(choices) > 1:
                    return _openai_drafts(lm, request, ctx, choices)
                self.n_refused = True  # answered one choice for n > 1
            elif status in (400, 422) and k > 1 and re.search(r"\bn\b", _error_message(data)):
                self.n_refused = True
            else:
                raise BackendError(f"HTTP {status}: {_error_message(data)}")
        # k parallel requests of one choice each
        results: list[Any] = [None] * k
        errors: list[str] = []

        def one(i: int) -> None:
            try:
                results[i] = self.http.request(
                    "POST",
                    "/v1/completions",
                    {**body, "n": 1, "seed": i},
                    timeout=timeout,
                    cancel=request.cancel,
                )
            except BackendError as exc:
                errors.append(str(exc))

        workers = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(k)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if request.cancelled():
            return None
        choices = []
        for result in results:
            if result is not None and result[0] == 200 and isinstance(result[1], dict):
                choices.extend(result[1].get("choices", [])[:1])
        if not choices and errors:
            raise BackendError(errors[0])
        return _openai_drafts(lm, request, ctx, choices)

    # -- workspace n-grams, status

    def workspace_table(self, vocab_size: int) -> WorkspaceNgrams:
        if self.kind != "service":
            return WorkspaceNgrams(vocab_size)  # nothing to sync with
        if self.workspace is None:
            self.workspace = SyncedWorkspace(vocab_size, self.http)
        return self.workspace

    def status(self) -> dict[str, Any]:
        http_ = self.http
        state = "down" if http_.down_since is not None else "ready"
        if self.kind == "unknown":
            state = "connecting" if http_.last_error is None else "down"
        out: dict[str, Any] = {
            "kind": self.kind,
            "url": http_.url,
            "model": self.model_id,
            "state": state,
            "error": http_.last_error,
            "downSeconds": None
            if http_.down_since is None
            else round(time.monotonic() - http_.down_since, 1),
            "applied": self.applied,
            "service": self.last_status,
            "requests": dict(self.requests),
        }
        if self.workspace is not None:
            out["workspace"] = self.workspace.status()
        return out

    def close(self) -> None:
        self._closed.set()
        if self.workspace is not None:
            self.workspace.close()


def _empty(started: float, cancelled: bool = False) -> DecodeResult:
    return DecodeResult([], 0, 0, 0, time.perf_counter() - started, cancelled=cancelled)


def _draft(choice: dict[str, Any]) -> Draft:
    """A :class:`Draft` from one ``choices`` item of the service's answer."""
    ext = choice.get("superpose", {})
    return Draft(
        text=str(choice.get("text", "")),
        token_ids=[int(t) for t in ext.get("token_ids", [])],
        score=float(ext.get("score", 0.0)),
        finish=str(ext.get("finish", "stop")),
        logprob=None if ext.get("logprob") is None else float(ext["logprob"]),
        stats=dict(ext.get("stats", {})),
        mean_score=None if ext.get("mean_score") is None else float(ext["mean_score"]),
        token_logprobs=[float(x) for x in ext.get("token_logprobs", [])],
        token_ngram_logprobs=None
        if ext.get("token_ngram_logprobs") is None
        else [float(x) for x in ext["token_ngram_logprobs"]],
    )


# ------------------------------------------------------------------ the wire body


def service_body(
    request: DecodeRequest,
    ctx: DecodeContext,
    model_id: str | None,
    workspace: SyncedWorkspace | None,
) -> dict[str, Any]:
    """Return the ``superpose/1`` body of a request: the decoder's needs as data."""
    from lsp_server.pipeline import PROMPT_TAIL_CHARS
    from lsp_server.serving import API_VERSION
    from lsp_server.serving.members import MAX_RECEIVERS, member_tables
    from models.healing import HealingConstraint
    from models.monitor import MemberMonitor
    from models.repetition import RepetitionPenalty

    options, prompt, language = ctx.options, ctx.prompt, ctx.language
    kinds = {type(c) for c in request.constraints}
    ext: dict[str, Any] = {
        "version": API_VERSION,
        "decoder": "sampling" if options.decoder == "sampling" else "superposed",
        "verify": bool(request.verify),
        # greedy is superposed decoding with k = 1 and no n-grams (token for token)
        "ngram": request.ngram is not None and options.decoder != "greedy",
        "ngram_weight": request.ngram_weight,
        "cache_key": request.cache_key,
    }
    if HealingConstraint in kinds and prompt.removed_text:
        ext["healing"] = {"removed": prompt.removed_text}
    if MemberMonitor in kinds:
        tail = prompt.prefix_text[-PROMPT_TAIL_CHARS:]
        before = ctx.doc.text[: ctx.gen_offset]
        limit = AUTOMATIC_RECEIVERS if options.automatic else MAX_RECEIVERS
        tables = member_tables(ctx.oracle, tail, before, language, limit) if ctx.oracle else None
        ext["monitor"] = {"language": language, **(tables or {"prompt_tail": tail})}
    if RepetitionPenalty in kinds:
        prefix = ctx.doc.text[: ctx.gen_offset] if language is not None else ""
        ext["repetition"] = {"language": language, "prefix": _top_level_tail(prefix)}
    if request.stop is not None:
        text, offset = _stop_window(ctx.dctx.text, ctx.dctx.offset)
        ext["stop"] = {
            "language": ctx.dctx.language,
            "multiline": ctx.dctx.multiline,
            "text": text,
            "offset": offset,
        }
    if request.extend_while is not None:
        e = ctx.evidence
        ext["confidence"] = {
            "prose": e.prose,
            "mid_word": e.mid_word,
            "after_dot": e.after_dot,
            "threshold": options.confidence_threshold,
            "wrong_cost": options.confidence_wrong_cost,
        }
    if workspace is not None:
        ext["workspace"] = {"id": workspace.id, "seq": workspace.seq}
    body: dict[str, Any] = {
        "prompt": list(request.prompt_ids),
        "n": request.k,
        "max_tokens": request.max_new_tokens,
        "temperature": request.temperature,
        "stream": False,
        "superpose": ext,
    }
    if model_id is not None:
        body["model"] = model_id
    return body


def _top_level_tail(prefix: str, limit: int = REPETITION_PREFIX_CHARS) -> str:
    """The last ``limit`` characters of ``prefix``, starting at a line of column 0."""
    if len(prefix) <= limit:
        return prefix
    start = len(prefix) - limit
    found = re.compile(r"\n(?=[^\s])").search(prefix, start)
    return prefix[found.end() :] if found else prefix[prefix.find("\n", start) + 1 :]


def _stop_window(text: str, offset: int) -> tuple[str, int]:
    """The text around the cursor the service's stop rule reads, and the cursor in it."""
    before, after = STOP_WINDOW
    head = _top_level_tail(text[:offset], before)
    tail = text[offset : offset + after]
    return head + tail, len(head)


# ------------------------------------------------------------------ OpenAI-compatible


_FAMILY_NAMES = (
    ("qwen2.5-coder", re.compile(r"qwen.*coder", re.I)),
    ("deepseek-coder", re.compile(r"deepseek.*coder", re.I)),
    ("codellama", re.compile(r"code-?llama", re.I)),
    ("starcoder", re.compile(r"starcoder|santacoder|smollm|superpose", re.I)),
)


def fim_family_of(model_id: str) -> str | None:
    """The FIM family a model's name tells (None: unknown, prompts are prefix-only)."""
    for family, pattern in _FAMILY_NAMES:
        if pattern.search(model_id):
            return family
    return None


def openai_prompt(lm: LoadedModel, ids: list[int], removed: str, family: str | None) -> str:
    """The text prompt for an OpenAI-compatible server: the prompt built here (with the
    healed text put back), in the FIM spelling of the server model's family."""
    from models.loader import FIM_FAMILIES

    fim = lm.fim
    if fim is None or family is None or fim.prefix not in ids:
        return lm.table.decode([i for i in ids if i not in (fim.ids if fim else ())]) + removed
    spelled = next(f for f in FIM_FAMILIES if f.name == family)
    if lm.fim_mode == "spm":  # [PRE, SUF, suffix..., MID, prefix...]
        middle = ids.index(fim.middle)
        suffix, prefix = ids[2:middle], ids[middle + 1 :]
    else:  # [PRE, prefix..., SUF, suffix..., MID]
        split = ids.index(fim.suffix)
        prefix, suffix = ids[1:split], ids[split + 1 : -1]
    prefix_text = lm.table.decode(prefix) + removed
    suffix_text = lm.table.decode(suffix)
    return f"{spelled.prefix}{prefix_text}{spelled.suffix}{suffix_text}{spelled.middle}"


def _openai_drafts(
    lm: LoadedModel, request: DecodeRequest, ctx: DecodeContext, choices: list[Any]
) -> list[Draft]:
    """Drafts of an OpenAI-compatible answer: the healed text in front (the pipeline strips
    it), cut by the stop rule here, scored by the mean token log-probability when given."""
    removed = ctx.prompt.removed_text
    drafts: list[Draft] = []
    seen: set[str] = set()
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        text = removed + str(choice.get("text", ""))
        finish = "eos" if choice.get("finish_reason") == "stop" else "length"
        cut = request.stop(text) if request.stop is not None else None
        if cut is not None:
            text, finish = text[:cut], "stop"
        if not text or text in seen:
            continue
        seen.add(text)
        logprobs = (choice.get("logprobs") or {}).get("token_logprobs") or []
        values = [float(x) for x in logprobs if isinstance(x, (int, float)) and math.isfinite(x)]
        mean = sum(values) / len(values) if values else 0.0
        ids = lm.encode(text)
        drafts.append(
            Draft(
                text=text,
                token_ids=ids,
                score=mean * max(1, len(ids)),
                finish=finish,
                mean_score=mean,
                stats={"backend": "openai"},
            )
        )
    drafts.sort(key=lambda d: -(d.mean_score or 0.0))
    return drafts[: request.k]


# ------------------------------------------------------------------ workspace sync


class SyncedWorkspace(WorkspaceNgrams):
    """The workspace n-gram table, kept on the model service: document deltas are sent.

    The engine counts documents into this table as into a local one; here each changed
    document's token ids are queued and sent (``PUT /superpose/v1/workspaces/ID/documents``,
    newest version per document, off the request path). Every request names the workspace
    and the last sequence number sent; a service that answers it does not know the
    workspace (restarted, another replica) or has an older number gets every document
    again.
    """

    def __init__(self, vocab_size: int, http_: _Http) -> None:
        super().__init__(vocab_size)
        self.http = http_
        self.id = uuid.uuid4().hex
        self.seq = 0  # updates sent and acknowledged
        self._documents: dict[str, Any] = {}  # key -> newest ids (for a resync)
        self._dirty: dict[str, Any] = {}
        self._cond = threading.Condition()
        self._closed = False
        self.sent = 0
        self.resyncs = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="superpose-sync")
        self._thread.start()

    def __len__(self) -> int:
        return len(self._documents)

    def __contains__(self, key: str) -> bool:
        return key in self._documents

    def set_document(self, key: str, ids: Any) -> None:
        with self._cond:
            self._documents[key] = list(int(i) for i in ids)
            self._dirty[key] = self._documents[key]
            self._cond.notify()

    def remove_document(self, key: str) -> None:
        with self._cond:
            if self._documents.pop(key, None) is not None:
                self._dirty[key] = None
                self._cond.notify()

    def check(self, answer: Any) -> None:
        """Resync everything when the service's answer shows it lost this workspace."""
        if not isinstance(answer, dict) or not self._documents:
            return
        if not answer.get("known") or int(answer.get("seq", 0)) < self.seq:
            with self._cond:
                self.resyncs += 1
                self._dirty.update(self._documents)
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                key, ids = next(iter(self._dirty.items()))
                del self._dirty[key]
            try:
                answer = self.http.request(
                    "PUT",
                    f"/superpose/v1/workspaces/{self.id}/documents",
                    {"key": key, "ids": ids, "seq": self.seq + 1},
                    timeout=30.0,
                )
            except BackendError:
                answer = None
            if answer is not None and answer[0] == 200:
                self.seq += 1
                self.sent += 1
                continue
            with self._cond:  # keep it for later (unless a newer version arrived)
                self._dirty.setdefault(key, ids)
                if self._closed:
                    return
                self._cond.wait(timeout=max(_SYNC_INTERVAL_S, self.http.backoff))

    def status(self) -> dict[str, Any]:
        with self._cond:
            pending = len(self._dirty)
        return {
            "id": self.id,
            "documents": len(self._documents),
            "seq": self.seq,
            "pending": pending,
            "sent": self.sent,
            "resyncs": self.resyncs,
        }

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
