"""Composition root: document snapshot + cursor + settings -> ranked drafts.

No pygls/lsprotocol types here. The engine owns the loaded model, the open
documents (analysis.Document), the workspace index and n-gram tables, and wires
analysis facts into model-side constraints as plain data:

* the member monitor (Agrawal et al. 2023) asks ``analysis.context`` which
  identifiers may follow a ``.`` in the draft;
* the repetition penalty (Dong et al. 2025, RPG) asks ``analysis.statements``
  whether the draft's statements repeat;
* superposed decoding (Shen et al. 2024) re-ranks with corpus + workspace n-grams.

Every public method is safe to call from any thread; ``complete`` is meant to
run on the server's dedicated inference executor.
"""

from __future__ import annotations

import gc
import itertools
import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.document import Document
from analysis.languages import language_for, path_of_uri
from analysis.python_symbols import remember_text_facts
from analysis.workspace import WorkspaceIndex
from lsp_server.backend import BackendError, LocalBackend, backend_for
from lsp_server.pipeline import (
    AUTOMATIC_DRAFTS,
    AUTOMATIC_MAX_TOKENS,
    AUTOMATIC_PROMPT_TOKENS,
    MAX_DOCUMENT_CHARS,
    PROMPT_TAIL_CHARS,
    CompletionPipeline,
    PipelineOptions,
)
from lsp_server.settings import Settings
from models.confidence import ConfidenceModel, load_confidence
from models.loader import LoadedModel, load_model
from models.ngram import NgramModel, background_for
from models.prompt_cache import PromptCache
from models.repetition import RepetitionPenalty
from models.vocab_index import vocab_index

log = logging.getLogger(__name__)

__all__ = [  # re-exported for the tools that read them from here
    "AUTOMATIC_DRAFTS",
    "AUTOMATIC_MAX_TOKENS",
    "AUTOMATIC_PROMPT_TOKENS",
    "MAX_DOCUMENT_CHARS",
    "PROMPT_TAIL_CHARS",
    "CompletionJob",
    "Engine",
    "EngineDraft",
    "EngineResult",
]
CACHE_ENTRIES = 64
REFRESH_DELAY_S = 1.0  # quiet time after an edit before workspace n-grams are recounted
MAX_TYPED_THROUGH = 200

Progress = Callable[[str, int | None], None]  # (message, percentage)


@dataclass
class CompletionJob:
    """One completion request in engine terms (code-point offsets)."""

    uri: str
    offset: int
    automatic: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    drafts: int | None = None  # overrides settings.drafts
    # what the running decode predicts after the cursor so far (set from the inference
    # thread; a scheduler reads it to keep a request the user is typing along with)
    progress: list[str] = field(default_factory=list)

    def set_progress(self, texts: list[str]) -> None:
        self.progress = texts


# young objects collected every this many allocations (CPython's default: 700)
YOUNG_COLLECTION_ALLOCATIONS = 10_000


def settle_heap() -> None:
    """Keep the garbage collector off the objects that live as long as the server (called
    once the model is loaded and the workspace indexed; :func:`unsettle_heap` first when
    another model replaces it).

    After a model is loaded, its tensors' wrappers, the tokenizer, the vocabulary index and
    the n-gram tables are hundreds of thousands of objects; every full collection walked
    them all (about 200 ms with the default model) on whichever keystroke's request
    triggered it. They are moved out of the collector's sight (``gc.freeze``), and young
    objects are collected less often, so fewer of a request's short-lived objects are
    promoted towards the full collections at all.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, middle, old)


def unsettle_heap() -> None:
    """Give the frozen objects back to the collector (a replaced model can then go)."""
    gc.unfreeze()


@dataclass
class EngineDraft:
    """A cleaned draft: insert ``text`` replacing ``document[start:end]``."""

    id: str
    rank: int
    text: str
    score: float
    start: int
    end: int
    finish: str
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class EngineResult:
    drafts: list[EngineDraft]
    timings: dict[str, float] = field(default_factory=dict)
    cancelled: bool = False
    reason: str | None = None  # why the result is empty, for the log
    cached: bool = False


@dataclass
class _CacheEntry:
    prefix: str
    suffix: str
    version: int
    drafts: list[EngineDraft]
    automatic: bool  # drafts of an automatic request (fewer, shorter)


class LatencyLog:
    """A bounded window of request latencies with percentiles."""

    def __init__(self, size: int = 512) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._values.append(ms)

    def percentiles(self) -> dict[str, float]:
        with self._lock:
            values = sorted(self._values)
        if not values:
            return {"count": 0}

        def pct(p: float) -> float:
            return round(values[min(len(values) - 1, int(p * len(values)))], 1)

        return {"count": len(values), "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)}

    @property
    def last(self) -> float | None:
        with self._lock:
            return self._values[-1] if self._values else None


def exclusive_stages(timings: dict[str, float]) -> dict[str, float]:
    """Return the request's pipeline timings as exclusive stages (ms) that add up to its
    total: the decoders' phases nest (the superposed decoder's ``select_ms`` contains its
    n-gram and constraint time), so each stage is its own time less what it contains."""
    t = timings

    def own(key: str, *inner: str) -> float:
        return max(0.0, t[key] - sum(t.get(k, 0.0) for k in inner))

    picking = ("select_ms",) if "select_ms" in t else ("ngram_ms", "constraint_ms")
    parts = {
        "cursor facts": ("facts_ms",),
        "definitions": ("definitions_ms",),
        "prompt": ("prompt_ms", "facts_ms", "definitions_ms"),
        "model forward": ("forward_ms",),
        "n-grams": ("ngram_ms",),
        "constraints": ("constraint_ms",),
        "selection": ("select_ms", "ngram_ms", "constraint_ms"),
        "verification": ("verify_ms",),
        "decoder, other": ("decode_ms", "forward_ms", "verify_ms", *picking),
        "cleaning, ranking": ("total_ms", "prompt_ms", "decode_ms"),
    }
    return {name: own(*keys) for name, keys in parts.items() if keys[0] in t}


class StageProfile:
    """Where a kind of request spends its time: mean ms per exclusive stage of the
    decoded (not cached, not cancelled) requests, from their pipeline timings."""

    def __init__(self) -> None:
        self._sums: dict[str, dict[str, float]] = {}
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, kind: str, timings: dict[str, float]) -> None:
        with self._lock:
            sums = self._sums.setdefault(kind, {})
            for name, ms in exclusive_stages(timings).items():
                sums[name] = sums.get(name, 0.0) + ms
            self._counts[kind] += 1

    def summary(self) -> dict[str, dict[str, Any]]:
        """Return ``{kind: {"requests": n, "mean_ms": {stage: ms}}}``."""
        with self._lock:
            return {
                kind: {
                    "requests": self._counts[kind],
                    "mean_ms": {
                        name: round(total / self._counts[kind], 2) for name, total in sums.items()
                    },
                }
                for kind, sums in self._sums.items()
            }


class Engine:
    """Loaded model + documents + workspace knowledge -> drafts."""

    def __init__(self, settings: Settings | None = None, root: Path | None = None) -> None:
        self.settings = settings or Settings()
        self.root = root
        self.state = "idle"  # idle | loading | ready | error
        self.error: str | None = None
        self.lm: LoadedModel | None = None
        self.confidence: ConfidenceModel | None = None  # ghost-text calibration of the model
        self.prompt_cache: PromptCache | None = None  # KV caches of each document's last prompt
        self.ngrams: NgramModel | None = None
        self.workspace: WorkspaceIndex | None = None
        self.documents: dict[str, Document] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._cache: OrderedDict[str, _CacheEntry] = OrderedDict()
        self._shown: OrderedDict[str, EngineDraft] = OrderedDict()
        self._dirty: set[str] = set()
        self._refresh_timer: threading.Timer | None = None
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self.latency = {"automatic": LatencyLog(), "invoked": LatencyLog(), "cache": LatencyLog()}
        self.profile = StageProfile()  # where decoded requests spend their time
        self.accepted = 0
        self.accepted_ranks: dict[int, int] = {}
        self.messages: list[str] = []
        self.backend: Any = LocalBackend()  # where decoding runs (setting ``backend``)

    # ------------------------------------------------------------ lifecycle

    def load(self, progress: Progress | None = None) -> None:
        """Load the model of the current settings (the default model if that fails)."""
        progress = progress or (lambda message, pct: None)
        self.state = "loading"
        self.backend.close()
        self.backend = backend_for(self.settings)
        if self.backend.remote:  # a model service or an OpenAI-compatible server
            try:
                self.attach_model(self.backend.connect(progress))
            except BackendError as exc:
                self.state, self.error = "error", str(exc)
                self.backend.retry_connect(self.attach_model)  # ready once it answers
            return
        spec = self.settings.model
        try:
            progress(f"loading model {spec}", 10)
            lm = load_model(
                spec,
                self.settings.device,
                dtype=self.settings.dtype,
                quantize=self.settings.quantize,
            )
        except Exception as exc:  # noqa: BLE001 - any unusable model falls back
            if spec == "default":
                self.state, self.error = "error", str(exc)
                raise
            message = f"{exc}; using the default model"
            log.warning("%s", message)
            self.messages.append(message)
            lm = load_model("default", "cpu" if self.settings.device == "cuda" else "auto")
        progress("loading n-gram tables", 60)
        background = background_for(lm.path, lm.tokenizer, lm.vocab_size)
        self.attach_model(lm, background)
        progress("model ready", 100)

    def attach_model(self, lm: LoadedModel, background: Any = None) -> None:
        """Serve ``lm`` (with an optional background n-gram table) from now on."""
        vocab_index(lm.table)  # built once per tokenizer, off the first request
        RepetitionPenalty(lm.table, None, lm.eos_ids)
        confidence = load_confidence(lm.path) if lm.path is not None else None
        with self._lock:
            self.lm = lm
            self.confidence = confidence
            self.prompt_cache = PromptCache(lm)
            self.ngrams = NgramModel(background, self.backend.workspace_table(lm.vocab_size))
            opened = list(self.documents)
            self._cache.clear()
            self.state, self.error = "ready", None
        for uri in opened:  # the open documents are counted in the background
            self.document_changed(uri, delay=0.0)

    def index_workspace(self, progress: Progress | None = None) -> None:
        """(Re)build the workspace symbol index of ``root`` (no-op without a root)."""
        if self.root is None:
            return
        index = WorkspaceIndex(self.root)

        def report(done: int, total: int) -> None:
            if progress is not None:
                progress(f"indexing {done}/{total} files", int(100 * done / max(1, total)))

        index.build(report)
        self.workspace = index

    def apply_settings(self, settings: Settings) -> bool:
        """Switch to ``settings``; return True when the model must be reloaded."""
        reload = (settings.model, settings.device, settings.backend, settings.backendToken) != (
            self.settings.model,
            self.settings.device,
            self.settings.backend,
            self.settings.backendToken,
        )
        self.settings = settings
        with self._lock:
            self._cache.clear()
        return reload

    # ------------------------------------------------------------ documents

    def open_document(self, uri: str, text: str, language_id: str | None, version: int = 0) -> None:
        language = language_for(language_id or "") or language_for(uri)
        doc = Document(uri, text, language)
        doc.version = version
        with self._lock:
            self.documents[uri] = doc
        self.document_changed(uri, delay=0.0)  # counted for the n-grams in the background

    def change_document(
        self, uri: str, start: int, end: int, new_text: str, version: int | None = None
    ) -> None:
        """Apply one edit given in code-point offsets."""
        with self._lock:
            doc = self.documents[uri]
            doc.apply_change(start, end, new_text)
            if version is not None:
                doc.version = version

    def replace_document(self, uri: str, text: str, version: int | None = None) -> None:
        with self._lock:
            doc = self.documents[uri]
            doc.replace_all(text)
            if version is not None:
                doc.version = version

    def document_changed(self, uri: str, delay: float = REFRESH_DELAY_S) -> None:
        """Note that ``uri`` changed; n-grams and the index catch up off the request path,
        once the document has been quiet for ``delay`` seconds (typing never waits)."""
        with self._lock:
            if uri not in self.documents:
                return
            self._dirty.add(uri)
            if self._refresh_timer is not None:
                self._refresh_timer.cancel()
            timer = threading.Timer(delay, self.refresh_derived)
            timer.daemon = True
            self._refresh_timer = timer
        timer.start()

    def refresh_derived(self) -> None:
        """Bring workspace n-grams, the symbol index and the analysis' text caches up to
        date with edited documents.

        Tokenising happens outside the engine lock (it may take a while on a large file);
        the n-gram table takes its own lock for the update.
        """
        with self._refresh_lock:
            with self._lock:
                dirty = [(u, self.documents[u]) for u in self._dirty if u in self.documents]
                self._dirty.clear()
            for uri, doc in dirty:
                text, data, tree = doc.snapshot()
                self._update_ngrams(uri, text)
                if self.workspace is not None and uri.startswith("file://"):
                    self.workspace.update_file(Path(uri_to_path(uri)), text)
                if tree is not None and doc.language == "python":
                    try:  # the next request's analysis reuses them
                        remember_text_facts(data, tree)
                    except Exception:  # noqa: BLE001 - a cache warm-up never fails a refresh
                        log.exception("analysis warm-up of %s failed", uri)

    def files_changed(self, changes: list[tuple[str, bool]]) -> None:
        """Update the workspace index for (uri, deleted) file events from the client."""
        if self.workspace is None:
            return
        for uri, deleted in changes:
            if not uri.startswith("file://") or uri in self.documents:
                continue
            path = Path(uri_to_path(uri))
            if deleted:
                self.workspace.remove_file(path)
            elif path.is_file():
                self.workspace.update_file(path)

    def close_document(self, uri: str) -> None:
        with self._lock:
            self.documents.pop(uri, None)
            self._dirty.discard(uri)
            if self.ngrams is not None:
                self.ngrams.workspace.remove_document(uri)
            self._cache.pop(uri, None)
            if self.prompt_cache is not None:
                self.prompt_cache.forget(uri)
        if self.workspace is not None and uri.startswith("file://"):
            path = Path(uri_to_path(uri))
            if path.is_file():  # back to the saved text on disk
                self.workspace.update_file(path)

    def _update_ngrams(self, uri: str, text: str) -> None:
        lm, ngrams = self.lm, self.ngrams
        if lm is None or ngrams is None or len(text) > MAX_DOCUMENT_CHARS:
            return
        ids = lm.encode(text)
        with self._lock:
            if uri not in self.documents:  # closed meanwhile
                return
        ngrams.workspace.set_document(uri, ids)

    # ------------------------------------------------------------ completion

    def complete(self, job: CompletionJob) -> EngineResult:
        """Return drafts for ``job`` (empty with a reason when it cannot be served)."""
        started = time.perf_counter()
        if job.cancel.is_set():  # superseded while queued: cost nothing
            return EngineResult([], cancelled=True, reason="cancelled before start")
        hit = self.cached(job)
        if hit is not None:
            return hit
        with self._lock:
            doc = self.documents.get(job.uri)
            lm = self.lm
            text = doc.text if doc is not None else None
            version = doc.version if doc is not None else 0
        if text is None:
            return EngineResult([], reason=f"unknown document {job.uri}")
        if lm is None or self.state != "ready":
            return EngineResult([], reason=f"model not ready ({self.state})")
        offset = max(0, min(job.offset, len(text)))
        kind = "automatic" if job.automatic else "invoked"
        result = self._generate(lm, doc, text, offset, job)
        ms = (time.perf_counter() - started) * 1000
        result.timings["total_ms"] = round(ms, 2)
        if not result.cancelled:
            self.latency[kind].add(ms)
            self.profile.add(kind, result.timings)
            self._remember(job.uri, text, offset, version, result.drafts, job.automatic)
        return result

    def cached(self, job: CompletionJob) -> EngineResult | None:
        """The typing-through cache's answer to ``job``, or None (then :meth:`complete`).

        Cheap and lock-protected, so the server asks it on its event loop before it
        queues a request behind the decoding thread."""
        started = time.perf_counter()
        with self._lock:
            doc = self.documents.get(job.uri)
            text = doc.text if doc is not None else None
        if text is None or self.lm is None or self.state != "ready" or job.cancel.is_set():
            return None
        offset = max(0, min(job.offset, len(text)))
        cached = self._typed_through(job.uri, text, offset, job.automatic)
        if cached is None:
            return None
        ms = (time.perf_counter() - started) * 1000
        self.latency["cache"].add(ms)
        return EngineResult(cached, {"total_ms": ms}, cached=True)

    def _generate(
        self, lm: LoadedModel, doc: Document, text: str, offset: int, job: CompletionJob
    ) -> EngineResult:
        options = PipelineOptions.for_request(
            self.settings, job.automatic, job.drafts, self.confidence
        )
        pipeline = CompletionPipeline(
            lm, self.ngrams, self.workspace, self.prompt_cache, backend=self.backend
        )
        result = pipeline.run(doc, offset, options, job.cancel, job.set_progress)
        if result.cancelled:
            return EngineResult([], result.timings, cancelled=True, reason="cancelled")
        drafts = [
            EngineDraft(
                id=f"c{next(self._ids)}",
                rank=d.rank,
                text=d.text,
                score=d.score,
                start=d.start,
                end=d.end,
                finish=d.finish,
                stats=d.stats,
            )
            for d in result.drafts
        ]
        self._remember_shown(drafts)
        return EngineResult(drafts, result.timings)

    # ------------------------------------------------------------ caches

    def _remember(
        self,
        uri: str,
        text: str,
        offset: int,
        version: int,
        drafts: list[EngineDraft],
        automatic: bool,
    ) -> None:
        if not drafts:
            return
        with self._lock:
            self._cache[uri] = _CacheEntry(text[:offset], text[offset:], version, drafts, automatic)
            self._cache.move_to_end(uri)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def _typed_through(
        self, uri: str, text: str, offset: int, automatic: bool
    ) -> list[EngineDraft] | None:
        """Return cached drafts trimmed by what was typed since, if the typing continues them.

        An invoked request (all k drafts wanted) is never served from an automatic
        request's (shorter, fewer) drafts.
        """
        with self._lock:
            entry = self._cache.get(uri)
        if entry is None or (entry.automatic and not automatic):
            return None
        typed_len = offset - len(entry.prefix)
        if not 0 < typed_len <= MAX_TYPED_THROUGH or text[offset:] != entry.suffix:
            return None
        if not text.startswith(entry.prefix, 0) or text[: len(entry.prefix)] != entry.prefix:
            return None
        typed = text[len(entry.prefix) : offset]
        out: list[EngineDraft] = []
        for d in entry.drafts:
            if d.text.startswith(typed) and len(d.text) > len(typed):
                shift = offset - d.start
                out.append(
                    EngineDraft(
                        id=d.id,
                        rank=len(out),
                        text=d.text[len(typed) :],
                        score=d.score,
                        start=offset,
                        end=d.end + shift,
                        finish=d.finish,
                        stats={**d.stats, "cached": True},
                    )
                )
        return out or None

    def _remember_shown(self, drafts: list[EngineDraft]) -> None:
        with self._lock:
            for d in drafts:
                self._shown[d.id] = d
            while len(self._shown) > 1024:
                self._shown.popitem(last=False)

    # ------------------------------------------------------------ commands

    def accept(self, completion_id: str) -> bool:
        """Record that the user accepted draft ``completion_id``; False if unknown."""
        with self._lock:
            draft = self._shown.get(completion_id)
            if draft is None:
                return False
            self.accepted += 1
            self.accepted_ranks[draft.rank] = self.accepted_ranks.get(draft.rank, 0) + 1
            return True

    def status(self) -> dict[str, Any]:
        lm = self.lm
        return {
            "state": self.state,
            "error": self.error,
            "model": None if lm is None else lm.name,
            "modelPath": None if lm is None else str(lm.path),
            "parameters": None if lm is None or lm.model is None else lm.parameter_count(),
            "device": None if lm is None else str(lm.device),
            "fim": None if lm is None else lm.fim is not None,
            "fimPolicy": None if lm is None or lm.fim is None else lm.fim_policy,
            "settings": {
                **self.settings.to_dict(),
                "backendToken": bool(self.settings.backendToken),
            },
            "backend": self.backend.status(),
            "latency_ms": {k: v.percentiles() for k, v in self.latency.items()},
            "profile_ms": self.profile.summary(),
            "last_latency_ms": self.latency["invoked"].last or self.latency["automatic"].last,
            "documents": len(self.documents),
            "workspaceFiles": None if self.workspace is None else len(self.workspace.paths()),
            "cache": {"entries": len(self._cache), "limit": CACHE_ENTRIES},
            "promptCache": None if self.prompt_cache is None else self.prompt_cache.stats(),
            "accepted": {"total": self.accepted, "byRank": self.accepted_ranks},
        }


def uri_to_path(uri: str) -> str:
    """Return the filesystem path of a ``file://`` URI (analysis.languages.path_of_uri)."""
    return path_of_uri(uri) or uri


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
