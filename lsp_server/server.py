"""The pygls 2 language server: handlers, server state, inference off the event loop.

Each handler is a short function; state lives on the :class:`SuperposeServer`.
Inference runs on a dedicated single-thread executor (never on the event loop,
never on pygls's own thread pool, which the stdio reader uses). Which request
runs, shares or is replaced is decided by :mod:`lsp_server.scheduler` (ghost
text first: a completion-menu request never replaces or delays it); whether a
request is served at all by :mod:`lsp_server.controls` (enable, mode, snooze,
disabled languages and globs). A replaced request's stop flag is set, so its
generation stops within one token; ``$/cancelRequest`` does the same. Explicit
requests made while the model loads wait for it (bounded, with ``$/progress``);
automatic ones return nothing at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from lsp_server import __version__
from lsp_server.controls import (
    AUTOMATIC,
    COMMAND,
    INVOKED,
    MAX_SNOOZE_MINUTES,
    TOGGLE_STATES,
    Controls,
    toggle_changes,
)
from lsp_server.engine import (
    CompletionJob,
    Engine,
    EngineResult,
    settle_heap,
    unsettle_heap,
    uri_to_path,
)
from lsp_server.positions import position_to_offset
from lsp_server.protocol import (
    lsp_completion_list,
    lsp_drafts_payload,
    lsp_inline_list,
    lsp_message,
    lsp_progress_begin,
    lsp_progress_end,
    lsp_progress_report,
)
from lsp_server.scheduler import EXPLICIT, GHOST, MENU, Flight, Scheduler
from lsp_server.settings import MAX_DRAFTS, Settings, merge_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

CONTENT_MODIFIED = -32801
ACCEPT_KINDS = ("word", "line", "partial", "full")
MODEL_WAIT_S = 120.0  # explicit requests wait this long for a loading model
# A client that asks for ghost text sends its completion request beside the inline request
# of the same keystroke (VS Code's quick suggestions): such a menu request waits this long
# for that ghost request to share its drafts, and never decodes more than a cheap pass.
GHOST_TRAFFIC_S = 10.0
MENU_GRACE_S = 0.05
SERVED_IDS = 1024  # drafts remembered for accept feedback
# settings that only steer which requests are served (no cache to clear, no reload)
CONTROL_KEYS = frozenset(
    ("enable", "mode", "completionMenu", "disabledLanguages", "disabledGlobs", "debounceMs")
)

COMMANDS = (
    "superpose.drafts",
    "superpose.toggleMonitor",
    "superpose.toggleRepetitionPenalty",
    "superpose.setDrafts",
    "superpose.status",
    "superpose.reindex",
    "superpose.accept",
    "superpose.accepted",
    "superpose.toggle",
    "superpose.snooze",
)


class SuperposeProtocol(LanguageServerProtocol):
    """pygls protocol that always answers requests, even malformed ones."""

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        # our offsets are UTF-16 based: never negotiate UTF-8/UTF-32
        if params.capabilities.general is not None:
            params.capabilities.general.position_encodings = None
        return (yield from super().lsp_initialize(params))

    # The engine owns the documents (analysis.Document, our UTF-16 conversion);
    # pygls's own copies would double memory and can fail on edits ours accept.
    def _user_handler(self, method: str, params: Any):
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def structure_message(self, data: dict[str, Any]):
        is_request = isinstance(data, dict) and "jsonrpc" in data and "id" in data
        if is_request and "method" in data and not isinstance(data["method"], str):
            return self._reject(data["id"], -32600, "invalid request: 'method' must be a string")
        try:
            return super().structure_message(data)
        except Exception:  # noqa: BLE001 - any failure must still be answered
            if is_request and "method" in data:
                return self._reject(data["id"], -32602, f"invalid params for {data['method']!r}")
            raise

    def _reject(self, msg_id: Any, code: int, message: str) -> _Ignored:
        """Answer a request that cannot be handled; return a message handle_message drops."""
        self._send_response(msg_id, error=types.ResponseError(code=code, message=message))
        return _Ignored()


class _Ignored:
    """A message already answered with an error; handle_message drops it."""

    jsonrpc = "ignored"


class SuperposeServer(LanguageServer):
    """LSP server state: engine, inference executor, in-flight requests."""

    def __init__(self) -> None:
        super().__init__(
            "superpose-ls",
            __version__,
            protocol_cls=SuperposeProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.engine = Engine()
        self.inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="superpose-infer")
        self.background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="superpose-load")
        self.scheduler = Scheduler(
            self.inference,
            lambda job: self.engine.complete(job),
            cached=lambda job: self.engine.cached(job),
        )
        self.controls = Controls()
        self.language_ids: dict[str, str] = {}  # uri -> languageId from didOpen
        self.served: OrderedDict[str, str] = OrderedDict()  # draft id -> text shown
        self.feedback: Counter[str] = Counter()  # accepts, chars, lines, per kind
        self.partial: dict[str, tuple[int, int]] = {}  # draft id -> (chars, lines) so far
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()

    def report_server_error(self, error: Exception, source: Any) -> None:
        if isinstance(error, json.JSONDecodeError):
            # malformed JSON: the id is unknowable, answer with id null (JSON-RPC 2.0)
            self.protocol._send_response(
                None, error=types.ResponseError(code=-32700, message="parse error")
            )
        log.error("%s: %s", getattr(source, "__name__", source), error)

    # ------------------------------------------------------------ helpers

    def notify(self, message: str, error: bool = False) -> None:
        """Show ``message`` to the user (thread-safe)."""
        log.warning("%s", message)
        self._threadsafe(lambda: self.window_show_message(lsp_message(message, error)))

    def _threadsafe(self, fn: Callable[[], None]) -> None:
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(fn)
        else:
            fn()

    def progress(self, title: str) -> Callable[[str, int | None], None]:
        """Return a progress callback reporting ``$/progress`` under a new token."""
        caps = self.client_capabilities.window
        if caps is None or not caps.work_done_progress:
            return lambda message, pct: log.info("%s: %s", title, message)
        token = str(uuid.uuid4())
        started = {"begun": False}

        def send(message: str, pct: int | None) -> None:
            def emit() -> None:
                if not started["begun"]:
                    self.work_done_progress.create(token)
                    self.work_done_progress.begin(token, lsp_progress_begin(title, message))
                    started["begun"] = True
                if pct is not None and pct >= 100:
                    self.work_done_progress.end(token, lsp_progress_end(message))
                else:
                    self.work_done_progress.report(token, lsp_progress_report(message, pct))

            self._threadsafe(emit)

        return send

    def begin_progress(self, title: str, token: Any = None) -> Callable[[str], None]:
        """Begin ``$/progress`` (under the request's ``token`` or a new one); return ``end``."""
        caps = self.client_capabilities.window
        if token is None and (caps is None or not caps.work_done_progress):
            log.info("%s", title)
            return lambda message: log.info("%s: %s", title, message)
        if token is None:
            token = str(uuid.uuid4())
            self.work_done_progress.create(token)
        self.work_done_progress.begin(token, lsp_progress_begin(title, "the model is loading"))
        return lambda message: self.work_done_progress.end(token, lsp_progress_end(message))

    async def model_ready(self, wait: bool, token: Any = None) -> bool:
        """Whether the model can serve now; explicit requests (``wait``) wait for it, bounded."""
        if self.ready.is_set() and self.engine.state == "ready":
            return True
        if not wait or self.engine.state == "error":
            return False
        end = self.begin_progress("superpose-ls: waiting for the model", token)
        deadline = asyncio.get_running_loop().time() + MODEL_WAIT_S
        try:
            while not self.ready.is_set() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            end(f"model {self.engine.state}")
        return self.engine.state == "ready"

    def start_loading(self) -> None:
        """Load the model (and index the workspace) in the background."""
        self.ready.clear()
        self.engine.state = "loading"  # visible to the very next request
        self.background.submit(self._load_all)

    def _load_all(self) -> None:
        unsettle_heap()
        try:
            self.engine.load(self.progress("superpose-ls: loading model"))
            for message in self.engine.messages:
                self.notify(message)
            self.engine.messages.clear()
        except Exception as exc:  # noqa: BLE001 - the server keeps serving empty results
            log.exception("model loading failed")
            self.notify(f"model could not be loaded: {exc}", error=True)
        finally:
            self.ready.set()
        try:
            self.engine.index_workspace(self.progress("superpose-ls: indexing workspace"))
        except Exception:  # noqa: BLE001
            log.exception("workspace indexing failed")
        settle_heap()

    def apply_settings(self, raw: Any) -> None:
        before = self.engine.settings
        settings, messages = merge_settings(before, raw)
        for message in messages:
            self.notify(message)
        changed = {k for k, v in settings.to_dict().items() if before.to_dict()[k] != v}
        if changed <= CONTROL_KEYS:  # nothing the engine caches or loads depends on them
            self.engine.settings = settings
        elif self.engine.apply_settings(settings):
            self.start_loading()

    # ------------------------------------------------------------ completion

    def snapshot(self, uri: str, position: types.Position) -> tuple[str, int]:
        """The document text and the cursor's code-point offset (unknown uri: InvalidParams)."""
        doc = self.engine.documents.get(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"unknown document {uri}")
        text = doc.text
        return text, position_to_offset(text, position.line, position.character)

    def blocked(self, uri: str, kind: str) -> str | None:
        """Why the controls stop a ``kind`` request for ``uri`` (None: serve it)."""
        path = uri_to_path(uri) if uri.startswith("file://") else None
        return self.controls.blocked(self.engine.settings, kind, self.language_ids.get(uri), path)

    async def run_lane(
        self, lane: str, kind: str, uri: str, position: types.Position, token: Any = None
    ) -> tuple[str, EngineResult]:
        """Serve a ghost (automatic inline) or explicit (invoked inline, drafts) request."""
        text, offset = self.snapshot(uri, position)
        if (why := self.blocked(uri, kind)) is not None:
            return text, EngineResult([], reason=why)
        if lane == GHOST and not await self.model_ready(wait=False):
            return text, EngineResult([], reason=f"model not ready ({self.engine.state})")
        ticket = self.scheduler.arrive(lane, uri)
        if not await self.model_ready(wait=True, token=token):
            return text, EngineResult([], reason=f"model not ready ({self.engine.state})")
        delay = self.engine.settings.debounceMs / 1000 if lane == GHOST else 0.0
        job = CompletionJob(uri=uri, offset=offset, automatic=lane == GHOST)
        flight = self.scheduler.start(lane, uri, text, offset, job, delay, ticket)
        result = await self.scheduler.wait(flight)
        if result.cancelled:  # replaced by a newer request (LSP ContentModified)
            raise JsonRpcException(code=CONTENT_MODIFIED, message="superseded by a newer request")
        return text, self.answered(uri, result)

    async def run_menu(
        self, uri: str, position: types.Position, invoked: bool, token: Any = None
    ) -> tuple[str, EngineResult]:
        """Serve ``textDocument/completion`` without ever replacing or delaying ghost text."""
        text, offset = self.snapshot(uri, position)
        if (why := self.blocked(uri, INVOKED if invoked else AUTOMATIC)) is not None:
            return text, EngineResult([], reason=why)
        shared = await self.share(uri, text, offset)
        if shared is not None:
            return text, shared
        if self.scheduler.ghost_traffic(uri, GHOST_TRAFFIC_S):
            # the inline request of this keystroke is on its way: share it, or stay cheap
            await asyncio.sleep(MENU_GRACE_S)
            shared = await self.share(uri, text, offset)
            if shared is not None:
                return text, shared
            if self.scheduler.ghost_in_flight(uri):
                return text, EngineResult([], reason="ghost text has priority")
            invoked = False  # a cheap pass at most, never a full one beside ghost text
        if not invoked and not await self.model_ready(wait=False):
            return text, EngineResult([], reason=f"model not ready ({self.engine.state})")
        ticket = self.scheduler.arrive(MENU, uri)
        if not await self.model_ready(wait=True, token=token):
            return text, EngineResult([], reason=f"model not ready ({self.engine.state})")
        # trigger-character and re-trigger menus get a cheap pass (ghost-text sized)
        job = CompletionJob(uri=uri, offset=offset, automatic=not invoked)
        flight = self.scheduler.start(MENU, uri, text, offset, job, ticket=ticket)
        result = await self.scheduler.wait(flight)
        if result.cancelled:
            if self.scheduler.replaced_by_menu(flight):
                raise JsonRpcException(
                    code=CONTENT_MODIFIED, message="superseded by a newer request"
                )
            # ghost text or an explicit request took over this place: show its drafts
            shared = await self.share(uri, text, offset)
            return text, shared or EngineResult([], reason="replaced by ghost text")
        return text, self.answered(uri, result)

    async def share(self, uri: str, text: str, offset: int) -> EngineResult | None:
        """The drafts of a ghost/explicit request at this place, if there is one."""
        host: Flight | None = self.scheduler.host(uri, text, offset)
        if host is None:
            return None
        result = await self.scheduler.wait(host, owner=False)
        if result.cancelled:
            return None
        self.scheduler.counters["menu_shared"] += 1
        return result

    def answered(self, uri: str, result: EngineResult) -> EngineResult:
        """Remember what is shown (for accept feedback) and log empty answers."""
        for draft in result.drafts:
            self.served[draft.id] = draft.text
            self.served.move_to_end(draft.id)
        while len(self.served) > SERVED_IDS:
            self.partial.pop(self.served.popitem(last=False)[0], None)
        if result.reason and not result.drafts:
            log.info("empty completion for %s: %s", uri, result.reason)
        return result

    def record_accept(
        self, kind: str, chars: int, lines: int, draft_id: str | None = None
    ) -> dict[str, Any]:
        """Add one accept (full or partial) to the feedback counters; return them."""
        if kind != "full" and draft_id is not None and draft_id in self.served:
            done = self.partial.get(draft_id, (0, 0))
            self.partial[draft_id] = (done[0] + chars, done[1] + lines)
        self.feedback["accepts" if kind == "full" else "partialAccepts"] += 1
        self.feedback["chars"] += chars
        self.feedback["lines"] += lines
        self.feedback[f"kind:{kind}"] += 1
        return self.feedback_summary()

    def feedback_summary(self) -> dict[str, Any]:
        by_kind = {k[5:]: v for k, v in self.feedback.items() if k.startswith("kind:")}
        plain = {k: v for k, v in self.feedback.items() if not k.startswith("kind:")}
        return {
            "accepts": 0,
            "partialAccepts": 0,
            "chars": 0,
            "lines": 0,
            **plain,
            "byKind": by_kind,
        }


server = SuperposeServer()


# ---------------------------------------------------------------- lifecycle


@server.feature(types.INITIALIZE)
def initialize(ls: SuperposeServer, params: types.InitializeParams) -> None:
    root = params.root_uri or (
        params.workspace_folders[0].uri if params.workspace_folders else None
    )
    if root and root.startswith("file://"):
        ls.engine.root = Path(uri_to_path(root))
    settings, messages = merge_settings(Settings(), params.initialization_options)
    ls.engine.settings = settings
    ls.engine.messages.extend(messages)


@server.feature(types.INITIALIZED)
async def initialized(ls: SuperposeServer, params: types.InitializedParams) -> None:
    ls.loop = asyncio.get_running_loop()
    ls.start_loading()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(
    ls: SuperposeServer, params: types.DidChangeConfigurationParams
) -> None:
    raw = params.settings
    if isinstance(raw, dict) and "superpose" in raw:
        ls.apply_settings(raw["superpose"])
        return
    caps = ls.client_capabilities.workspace
    if caps is not None and caps.configuration:
        items = [types.ConfigurationItem(section="superpose")]
        pulled = await ls.workspace_configuration_async(types.ConfigurationParams(items=items))
        if pulled and isinstance(pulled[0], dict):
            ls.apply_settings(pulled[0])


# ---------------------------------------------------------------- documents


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: SuperposeServer, params: types.DidOpenTextDocumentParams) -> None:
    doc = params.text_document
    ls.language_ids[doc.uri] = doc.language_id
    ls.engine.open_document(doc.uri, doc.text, doc.language_id, doc.version)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: SuperposeServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    if uri not in ls.engine.documents:
        log.warning("didChange for unopened document %s ignored", uri)
        return
    for change in params.content_changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            text = ls.engine.documents[uri].text
            start = position_to_offset(text, change.range.start.line, change.range.start.character)
            end = position_to_offset(text, change.range.end.line, change.range.end.character)
            ls.engine.change_document(uri, start, max(start, end), change.text)
        else:
            ls.engine.replace_document(uri, change.text)
    ls.engine.documents[uri].version = params.text_document.version
    ls.engine.document_changed(uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: SuperposeServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.engine.document_changed(params.text_document.uri)


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(
    ls: SuperposeServer, params: types.DidChangeWatchedFilesParams
) -> None:
    changes = [(c.uri, c.type == types.FileChangeType.Deleted) for c in params.changes]
    ls.background.submit(ls.engine.files_changed, changes)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: SuperposeServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.language_ids.pop(uri, None)
    ls.scheduler.forget(uri)
    ls.engine.close_document(uri)


# ---------------------------------------------------------------- completion


@server.feature(
    types.TEXT_DOCUMENT_COMPLETION,
    types.CompletionOptions(trigger_characters=[".", "(", " "], resolve_provider=False),
)
async def completion(ls: SuperposeServer, params: types.CompletionParams) -> types.CompletionList:
    context = params.context
    invoked = context is None or context.trigger_kind == types.CompletionTriggerKind.Invoked
    menu = ls.engine.settings.completionMenu
    if menu == "off" or (menu == "invoked" and not invoked):
        return lsp_completion_list("", EngineResult([]), incomplete=False)
    uri, token = params.text_document.uri, params.work_done_token
    text, result = await ls.run_menu(uri, params.position, invoked, token)
    return lsp_completion_list(text, result, incomplete=menu == "always")


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(
    ls: SuperposeServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
    lane, kind = (GHOST, AUTOMATIC) if automatic else (EXPLICIT, INVOKED)
    uri, token = params.text_document.uri, params.work_done_token
    text, result = await ls.run_lane(lane, kind, uri, params.position, token)
    return lsp_inline_list(text, result)


# ---------------------------------------------------------------- commands


def _command_arg(args: Any, index: int = 0) -> Any:
    if isinstance(args, (list, tuple)):
        return args[index] if len(args) > index else None
    return args if index == 0 else None


@server.command("superpose.drafts")
async def cmd_drafts(ls: SuperposeServer, *args: Any) -> dict[str, Any]:
    arg = _command_arg(list(args))
    try:
        uri = arg["textDocument"]["uri"]
        pos = types.Position(int(arg["position"]["line"]), int(arg["position"]["character"]))
    except (TypeError, KeyError, ValueError) as exc:
        raise JsonRpcInvalidParams(
            "superpose.drafts expects [{textDocument: {uri}, position: {line, character}}]"
        ) from exc
    text, result = await ls.run_lane(EXPLICIT, COMMAND, uri, pos)
    return lsp_drafts_payload(text, result)


@server.command("superpose.toggleMonitor")
def cmd_toggle_monitor(ls: SuperposeServer, *args: Any) -> dict[str, bool]:
    ls.apply_settings({"monitor": not ls.engine.settings.monitor})
    return {"monitor": ls.engine.settings.monitor}


@server.command("superpose.toggleRepetitionPenalty")
def cmd_toggle_repetition(ls: SuperposeServer, *args: Any) -> dict[str, bool]:
    ls.apply_settings({"repetitionPenalty": not ls.engine.settings.repetitionPenalty})
    return {"repetitionPenalty": ls.engine.settings.repetitionPenalty}


@server.command("superpose.setDrafts")
def cmd_set_drafts(ls: SuperposeServer, *args: Any) -> dict[str, int]:
    k = _command_arg(list(args))
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_DRAFTS:
        raise JsonRpcInvalidParams(f"superpose.setDrafts expects [k] with 1 <= k <= {MAX_DRAFTS}")
    ls.apply_settings({"drafts": k})
    return {"drafts": ls.engine.settings.drafts}


@server.command("superpose.status")
def cmd_status(ls: SuperposeServer, *args: Any) -> dict[str, Any]:
    return {
        "version": __version__,
        **ls.engine.status(),
        "controls": ls.controls.describe(ls.engine.settings),
        "feedback": ls.feedback_summary(),
        "requests": {"inflight": ls.scheduler.inflight(), **ls.scheduler.counters},
    }


@server.command("superpose.toggle")
def cmd_toggle(ls: SuperposeServer, *args: Any) -> dict[str, Any]:
    target = _command_arg(list(args))
    if target is not None and target not in TOGGLE_STATES:
        raise JsonRpcInvalidParams(
            f"superpose.toggle expects [] or [state] with state one of {', '.join(TOGGLE_STATES)}"
        )
    if target is None:  # flip: off/snoozed -> on, anything else -> off
        state = ls.controls.state(ls.engine.settings)
        target = "on" if state in ("off", "snoozed") else "off"
    ls.controls.snooze(0)
    ls.apply_settings(toggle_changes(ls.engine.settings, target))
    return ls.controls.describe(ls.engine.settings)


@server.command("superpose.snooze")
def cmd_snooze(ls: SuperposeServer, *args: Any) -> dict[str, Any]:
    minutes = _command_arg(list(args))
    minutes = 15 if minutes is None else minutes
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)):
        raise JsonRpcInvalidParams("superpose.snooze expects [minutes] (0 resumes)")
    if not 0 <= minutes <= MAX_SNOOZE_MINUTES:
        raise JsonRpcInvalidParams(f"superpose.snooze: minutes must be 0..{MAX_SNOOZE_MINUTES}")
    ls.controls.snooze(float(minutes))
    return ls.controls.describe(ls.engine.settings)


@server.command("superpose.reindex")
def cmd_reindex(ls: SuperposeServer, *args: Any) -> dict[str, Any]:
    ls.background.submit(ls.engine.index_workspace, ls.progress("superpose-ls: indexing workspace"))
    return {"reindexing": ls.engine.root is not None}


@server.command("superpose.accept")
def cmd_accept(ls: SuperposeServer, *args: Any) -> dict[str, Any]:
    """A draft accepted whole: ``[id]`` or ``[id, {chars, lines}]`` (what the client inserted,
    when it differs from the draft as served, e.g. after the user typed part of it)."""
    completion_id, counts = _command_arg(list(args)), _command_arg(list(args), 1)
    if not isinstance(completion_id, str) or (counts is not None and _counts(counts) is None):
        raise JsonRpcInvalidParams("superpose.accept expects [completion id, {chars, lines}?]")
    accepted = ls.engine.accept(completion_id)
    text = ls.served.get(completion_id)
    if counts is not None:
        ls.record_accept("full", *_counts(counts), completion_id)
    elif accepted and text is not None:  # the rest of the draft after its partial accepts
        done_chars, done_lines = ls.partial.get(completion_id, (0, 0))
        chars = max(0, len(text) - done_chars)
        ls.record_accept("full", chars, max(0, accepted_lines(text) - done_lines), completion_id)
    return {"accepted": accepted}


@server.command("superpose.accepted")
def cmd_accepted(ls: SuperposeServer, *args: Any) -> dict[str, Any]:
    """Partial accepts (a word, a line) reported by the client: chars and lines accepted."""
    arg = _command_arg(list(args))
    usage = "superpose.accepted expects [{chars, lines, kind?, id?}] with counts >= 0"
    if not isinstance(arg, dict):
        raise JsonRpcInvalidParams(usage)
    counts, kind, draft_id = _counts(arg), arg.get("kind", "partial"), arg.get("id")
    if counts is None or not isinstance(kind, str) or kind not in ACCEPT_KINDS:
        raise JsonRpcInvalidParams(f"{usage}; kind one of {', '.join(ACCEPT_KINDS)}")
    if draft_id is not None and not isinstance(draft_id, str):
        raise JsonRpcInvalidParams(f"{usage}; id a string")
    return {"recorded": True, "feedback": ls.record_accept(kind, *counts, draft_id)}


def _counts(arg: Any) -> tuple[int, int] | None:
    """``(chars, lines)`` of an accept report, or None when they are not counts."""
    if not isinstance(arg, dict):
        return None
    chars, lines = arg.get("chars"), arg.get("lines")
    for n in (chars, lines):
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10_000_000:
            return None
    return chars, lines


def accepted_lines(text: str) -> int:
    """Lines of an accepted text: its line breaks, plus one as it completes the draft.

    Clients report partial accepts the same way (a word inside a line is 0 lines; the
    part that reaches the end of the draft adds 1), so a draft accepted piece by piece
    counts as much as one accepted whole.
    """
    return text.count("\n") + 1 if text else 0


@server.command("superpose.debug.documentText")
def cmd_document_text(ls: SuperposeServer, *args: Any) -> dict[str, Any]:
    """The server's copy of a document (for harnesses checking text sync)."""
    uri = _command_arg(list(args))
    doc = ls.engine.documents.get(uri) if isinstance(uri, str) else None
    if doc is None:
        raise JsonRpcInvalidParams(f"unknown document {uri!r}")
    return {"text": doc.text, "version": doc.version}
