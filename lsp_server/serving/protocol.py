"""The wire API of the model service, version ``superpose/1`` (see docs in the README).

``POST /v1/completions`` is OpenAI-shaped: ``model``, ``prompt`` (token ids of the served
model's tokenizer; a string is tokenised by the service), ``n`` (k drafts), ``max_tokens``,
``temperature``, ``stream``. What the decoder needs beyond that travels as *data* in the
``superpose`` block (every key optional)::

    "superpose": {
      "version": 1,
      "decoder": "superposed" | "sampling",
      "verify": true, "ngram": true, "ngram_weight": 0.1,  # default: the model's own
      "workspace": {"id": "…", "seq": 12},          # n-gram table synced by deltas
      "healing": {"removed": "te"},                  # token-healing prefix to re-spell
      "monitor": {"language": "python", "prompt_tail": "…",
                  "at_cursor": [{"trim": 0, "members": […] | null, "assignable": false}],
                  "receivers": [{"receiver": "self", "members": […], "assignable": true}]},
                                                     # + "declared": […] for open receivers
      "repetition": {"language": "python" | null, "prefix": "…"},
      "stop": {"language": "python", "multiline": "never", "text": "…", "offset": 812},
      "confidence": {"prose": false, "mid_word": true, "after_dot": false,
                     "threshold": 0.5, "wrong_cost": 4.0},  # both optional
      "cache_key": "…"                               # prompt KV reuse across requests
    }

The answer: ``choices`` (``index``, ``text``, ``finish_reason`` ``stop``/``length``, each
with a ``superpose`` block: ``token_ids``, ``score``, ``logprob``, ``finish``, ``stats``,
``token_logprobs``, ``token_ngram_logprobs``), ``usage``, and a top-level ``superpose``
block (``version``, ``status`` of each constraint, ``workspace``, ``forward_calls``,
``timings``). Errors are ``{"error": {"message", "type", "param", "code"}}`` with a 4xx
status. Streaming (``"stream": true``) sends server-sent events: one ``superpose.step``
event per decoding step with the live drafts, then the final answer as one chunk, then
``data: [DONE]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lsp_server.serving import API_VERSION
from lsp_server.serving.members import table_size

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_DRAFTS = 16
MAX_NEW_TOKENS = 512
MAX_TEXT_CHARS = 256_000  # stop window, repetition prefix
MAX_MONITOR_MEMBERS = 50_000
MAX_TAIL_CHARS = 4096
DECODERS = ("superposed", "sampling")
LANGUAGES = ("python", "javascript", "typescript", "tsx")
MULTILINE = ("auto", "never", "always")


class ApiError(Exception):
    """A request the service refuses: HTTP ``status`` and an OpenAI-style error body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code or {
            400: "invalid_request",
            401: "unauthorized",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
        }.get(status, "error")

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {
            "error": {
                "message": self.message,
                "type": kind,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass
class CompletionSpec:
    """A validated ``/v1/completions`` request (plain data; nothing model-specific built yet)."""

    prompt: list[int] | str
    n: int = 1
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 0.95
    seed: int | None = None
    stream: bool = False
    model: str | None = None
    decoder: str = "superposed"
    verify: bool = True
    ngram: bool = True
    ngram_weight: float | None = None  # None: the served model's own (superpose.json)
    workspace: tuple[str, int] | None = None
    removed: str = ""
    monitor: dict[str, Any] | None = None
    repetition: dict[str, Any] | None = None
    stop: dict[str, Any] | None = None
    confidence: dict[str, Any] | None = None
    cache_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def automatic(self) -> bool:
        """True for ghost text: a request that asks for a confidence cut."""
        return self.confidence is not None


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _number(body: dict, key: str, default: float, lo: float, hi: float, param: str) -> float:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ApiError(400, f"'{param}' must be a number", param)
    if not lo <= value <= hi:
        raise ApiError(400, f"'{param}' must be between {lo} and {hi}, got {value}", param)
    return float(value)


def _integer(body: dict, key: str, default: int, lo: int, hi: int, param: str) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if not _is_int(value):
        raise ApiError(400, f"'{param}' must be an integer, got {value!r}", param)
    if not lo <= value <= hi:
        raise ApiError(400, f"'{param}' must be between {lo} and {hi}, got {value}", param)
    return int(value)


def _boolean(body: dict, key: str, default: bool, param: str) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ApiError(400, f"'{param}' must be true or false, got {value!r}", param)
    return value


def _text(body: dict, key: str, param: str, limit: int = MAX_TEXT_CHARS) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise ApiError(400, f"'{param}' must be a string", param)
    if len(value) > limit:
        raise ApiError(400, f"'{param}' is longer than {limit} characters", param)
    return value


def _block(body: dict, key: str, param: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, f"'{param}' must be an object", param)
    return value


def _language(block: dict, param: str) -> str | None:
    language = block.get("language")
    if language is not None and language not in LANGUAGES:
        raise ApiError(400, f"'{param}' must be one of {', '.join(LANGUAGES)} or null", param)
    return language


def parse_completion(body: Any, vocab_size: int, context_length: int) -> CompletionSpec:
    """Return the validated request; raise :class:`ApiError` (4xx) for anything malformed."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], list):
        prompt = prompt[0]  # OpenAI's batch form with one prompt
    if isinstance(prompt, list):
        if not prompt:
            raise ApiError(400, "'prompt' must not be empty", "prompt")
        if not all(_is_int(t) and 0 <= t < vocab_size for t in prompt):
            raise ApiError(
                400, f"'prompt' must be token ids in 0..{vocab_size - 1} (or a string)", "prompt"
            )
        if len(prompt) > context_length:
            raise ApiError(
                400,
                f"the prompt has {len(prompt)} tokens; the model's context is {context_length}",
                "prompt",
                "context_length_exceeded",
            )
    elif isinstance(prompt, str):
        if not prompt or len(prompt) > 16 * context_length:
            raise ApiError(400, "'prompt' must be a non-empty string of bounded length", "prompt")
    else:
        raise ApiError(400, "'prompt' must be a list of token ids or a string", "prompt")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ApiError(400, "'model' must be a string", "model")
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise ApiError(400, "'seed' must be an integer", "seed")
    spec = CompletionSpec(
        prompt=prompt,
        n=_integer(body, "n", 1, 1, MAX_DRAFTS, "n"),
        max_tokens=_integer(body, "max_tokens", 16, 1, MAX_NEW_TOKENS, "max_tokens"),
        temperature=_number(body, "temperature", 1.0, 1e-3, 100.0, "temperature"),
        top_p=_number(body, "top_p", 0.95, 0.0, 1.0, "top_p"),
        seed=seed,
        stream=_boolean(body, "stream", False, "stream"),
        model=model,
    )
    ext = _block(body, "superpose", "superpose")
    if ext is not None:
        _parse_extension(ext, spec)
    return spec


def _parse_extension(ext: dict[str, Any], spec: CompletionSpec) -> None:
    """Fill ``spec`` from the ``superpose`` block (validated)."""
    version = ext.get("version", API_VERSION)
    if version != API_VERSION:
        raise ApiError(
            400, f"superpose.version {version!r} is not served (this is {API_VERSION})", "version"
        )
    decoder = ext.get("decoder", "superposed")
    if decoder not in DECODERS:
        raise ApiError(400, f"'superpose.decoder' must be one of {', '.join(DECODERS)}", "decoder")
    spec.decoder = decoder
    spec.verify = _boolean(ext, "verify", True, "superpose.verify")
    spec.ngram = _boolean(ext, "ngram", True, "superpose.ngram")
    if ext.get("ngram_weight") is not None:  # else the served model's own
        spec.ngram_weight = _number(ext, "ngram_weight", 0.0, 0.0, 1.0, "superpose.ngram_weight")
    workspace = _block(ext, "workspace", "superpose.workspace")
    if workspace is not None:
        wid = workspace.get("id")
        if not isinstance(wid, str) or not 0 < len(wid) <= 256:
            raise ApiError(400, "'superpose.workspace.id' must be a short string", "workspace")
        spec.workspace = (wid, _integer(workspace, "seq", 0, 0, 2**62, "superpose.workspace.seq"))
    healing = _block(ext, "healing", "superpose.healing")
    if healing is not None:
        spec.removed = _text(healing, "removed", "superpose.healing.removed", 256)
    monitor = _block(ext, "monitor", "superpose.monitor")
    if monitor is not None:
        _language(monitor, "superpose.monitor.language")
        _text(monitor, "prompt_tail", "superpose.monitor.prompt_tail", MAX_TAIL_CHARS)
        for key, name_key in (("at_cursor", "trim"), ("receivers", "receiver")):
            items = monitor.get(key, [])
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ApiError(400, f"'superpose.monitor.{key}' must be a list of objects", key)
            for item in items:
                ok = (
                    _is_int(item.get(name_key))
                    if name_key == "trim"
                    else isinstance(item.get(name_key), str)
                )
                if not ok or not all(
                    names is None
                    or (isinstance(names, list) and all(isinstance(m, str) for m in names))
                    for names in (item.get("members"), item.get("declared"))
                ):
                    raise ApiError(
                        400,
                        f"'superpose.monitor.{key}' items need {name_key} and members "
                        "(members and declared: lists of names or null)",
                        key,
                    )
        if table_size(monitor) > MAX_MONITOR_MEMBERS:
            raise ApiError(400, f"the monitor tables name over {MAX_MONITOR_MEMBERS} members")
        spec.monitor = monitor
    repetition = _block(ext, "repetition", "superpose.repetition")
    if repetition is not None:
        _language(repetition, "superpose.repetition.language")
        _text(repetition, "prefix", "superpose.repetition.prefix")
        spec.repetition = repetition
    stop = _block(ext, "stop", "superpose.stop")
    if stop is not None:
        _language(stop, "superpose.stop.language")
        text = _text(stop, "text", "superpose.stop.text")
        _integer(stop, "offset", 0, 0, len(text), "superpose.stop.offset")
        if stop.get("multiline", "never") not in MULTILINE:
            raise ApiError(400, f"'superpose.stop.multiline' must be one of {MULTILINE}", "stop")
        spec.stop = stop
    confidence = _block(ext, "confidence", "superpose.confidence")
    if confidence is not None:
        for key in ("prose", "mid_word", "after_dot"):
            _boolean(confidence, key, False, f"superpose.confidence.{key}")
        if confidence.get("threshold") is not None:
            _number(confidence, "threshold", 0.5, 0.0, 1.0, "superpose.confidence.threshold")
        if confidence.get("wrong_cost") is not None:
            _number(confidence, "wrong_cost", 4.0, 0.0, 100.0, "superpose.confidence.wrong_cost")
        spec.confidence = confidence
    cache_key = ext.get("cache_key")
    if cache_key is not None and (not isinstance(cache_key, str) or len(cache_key) > 512):
        raise ApiError(400, "'superpose.cache_key' must be a short string", "cache_key")
    spec.cache_key = cache_key


def finish_reason(finish: str) -> str:
    """OpenAI's ``finish_reason`` of one of our finishes."""
    return "length" if finish in ("length", "cancelled") else "stop"


def parse_document(body: Any, vocab_size: int) -> tuple[str, list[int] | None]:
    """Return (key, token ids or None to forget) of a workspace document update."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    key = body.get("key")
    if not isinstance(key, str) or not 0 < len(key) <= 4096:
        raise ApiError(400, "'key' must be a non-empty string", "key")
    ids = body.get("ids")
    if ids is None:
        return key, None
    if not isinstance(ids, list) or not all(_is_int(t) and 0 <= t < vocab_size for t in ids):
        raise ApiError(400, f"'ids' must be token ids in 0..{vocab_size - 1} or null", "ids")
    if len(ids) > 2_000_000:
        raise ApiError(413, "a document of over 2,000,000 tokens", "ids")
    return key, ids
