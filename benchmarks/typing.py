"""Simulated typing of held-out code through the real server: keystrokes saved, wrong ghost text.

The yardstick of superpose-ls (issue 13): a person re-types code the model never saw,
the editor asks for ghost text after every key, and the person accepts it only when it is
exactly what they were about to type. Two numbers summarise what they feel:
**keystrokes saved** and **wrong ghost texts per 100 keystrokes** (shown, then
contradicted by what they type). A static completer, jedi-language-server, is driven
through the same simulation in the same run, as is every ablation of our pipeline.

Method (all of it through real LSP servers over stdio, :class:`benchmarks.harness.LspHarness`):

* **Cases.** Segments of ``lines`` (3) consecutive lines inside function bodies of the
  held-out files (``heldout.txt`` next to the model), found with Python's ``ast`` (the
  files are parsed, never run). The document is the whole file with the segment cut
  out: the code after the cursor is present, as when a person edits a function. The
  cursor starts after the first line's indentation.
* **Keys.** Every character is one key, except Enter: the editor then inserts the
  indentation it expects (VS Code's Python rules: one level more after ``:`` or an open
  bracket, one less after ``return``/``pass``/``raise``/``break``/``continue``); the user
  adds or removes levels with one key per level. Auto-closing of brackets is not modelled.
* **Ghost text.** After each key the editor sends ``didChange`` and an automatic
  ``textDocument/inlineCompletion``, cancelling the previous unanswered one with
  ``$/cancelRequest`` (VS Code's behaviour). The first item is shown if its response
  arrives before the next key. A shown ghost text the user types through stays visible
  (shortened) until a new response replaces it.
* **Pace.** Paced runs type at a human pace (``--word-ms`` 150 ms between keys inside a
  word, ``--pause-ms`` 450 ms after a key that is not part of a word or after an
  accept), in real time, so a ghost text that arrives after the next key is never seen.
  Unpaced runs wait for every response (what the model could offer given time).
* **Accept policies.** ``tab``: Tab (one key) accepts the whole ghost text when it is
  exactly what comes next and saves at least one key. ``word``: additionally, the
  next word of the ghost text (VS Code's accept-word boundaries) is accepted with one key
  while it matches.
* **Wrong ghost text.** A suggestion shown and then contradicted by the next key typed
  (counted once per suggestion, however long it stayed visible).
* **Static baseline.** jedi-language-server's completion popup, as VS Code shows it:
  requested on the first identifier key of a word and after ``.``, filtered by the typed
  prefix on the client while the word goes on (no new request), its top item accepted
  (one key) when it inserts exactly what comes next. Its "wrong" count is the popup's top
  item contradicted by the next key (a popup is less intrusive than ghost text).
* **Traffic.** ``--traffic vscode`` also sends a ``textDocument/completion`` request
  beside every inline request, as VS Code's quick suggestions do.

Metrics per configuration: keystroke savings ``1 - keys used / keys without help``,
accepted suggestions and characters, wrong ghost texts per 100 keys used, the share of
keys whose request was answered before the next key (and with a non-empty ghost text),
and client-side latency key -> response (p50/p95, answered requests only).

    python -m benchmarks.typing --mode quick --out bench-out/typing
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.common import (
    heldout_files,
    heldout_halves,
    machine_info,
    markdown_table,
    percentiles,
)
from benchmarks.harness import LspHarness, server_command
from lsp_server.positions import offset_to_position, position_to_offset
from models.corpus import CorpusFile

WORD_CHAR = re.compile(r"\w")
# VS Code's accept-next-word boundaries: separators, then the word they precede
_WORD_CHUNK = re.compile(r"\s*[^\w\s]*\w+|\s*[^\w\s]+|\s+")
_DEDENT_AFTER = re.compile(r"^\s*(return|pass|raise|break|continue)\b")
INDENT = 4
CANCELLED_CODES = (-32800, -32801, -32802)

TARGETS = {
    "savings_vs_jedi": 1.5,  # keystroke savings >= 1.5x jedi-language-server's
    "wrong_per_100": 10.0,  # at most 10 wrong ghost texts per 100 keystrokes
}


# ------------------------------------------------------------------ cases


@dataclass(frozen=True)
class Segment:
    """A case: ``document`` is the file with ``target`` cut out at ``offset`` (the cursor)."""

    source: str
    document: str
    offset: int
    target: str

    @property
    def keys_without_help(self) -> int:
        return typing_keys(self)


def function_bodies(text: str) -> list[tuple[int, int]]:
    """Return the (first, last) 0-based line numbers of every function body in ``text``."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            last = node.body[-1].end_lineno or node.body[-1].lineno
            spans.append((node.body[0].lineno - 1, last - 1))
    return spans


def segment_at(source: str, text: str, line_starts: list[int], first: int, lines: int) -> Segment:
    """Return the segment of ``lines`` lines starting at line ``first`` (after its indentation)."""
    start = line_starts[first]
    while start < len(text) and text[start] in " \t":
        start += 1
    last = first + lines - 1
    end = line_starts[last + 1] - 1 if last + 1 < len(line_starts) else len(text)
    return Segment(source, text[:start] + text[end:], start, text[start:end])


def sample_segments(
    texts: Sequence[tuple[str, str]], n: int, seed: int, lines: int = 3
) -> list[Segment]:
    """Return ``n`` seeded segments of ``lines`` lines inside function bodies of ``texts``.

    Every eligible start line of every file is equally likely; a segment's first line is
    code (not blank), and no line is longer than 160 characters.
    """
    rng = random.Random(seed)
    candidates: list[tuple[str, str, list[int], int]] = []
    for name, text in texts:
        line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        raw = text.split("\n")
        for first_body, last_body in function_bodies(text):
            for i in range(first_body, last_body - lines + 2):
                chunk = raw[i : i + lines]
                if len(chunk) == lines and chunk[0].strip() and max(map(len, chunk)) <= 160:
                    candidates.append((name, text, line_starts, i))
    rng.shuffle(candidates)
    seen: set[tuple[str, int]] = set()
    out: list[Segment] = []
    for name, text, line_starts, i in candidates:
        if any((name, j) in seen for j in range(i - lines + 1, i + lines)):
            continue  # segments never overlap
        seen.add((name, i))
        out.append(segment_at(name, text, line_starts, i, lines))
        if len(out) == n:
            break
    return out


# ------------------------------------------------------------------ the editor and the user


def auto_indent(line: str) -> int:
    """Return the indentation (columns) an editor inserts after Enter at the end of ``line``."""
    indent = len(line) - len(line.lstrip(" "))
    code = line.split("#", 1)[0].rstrip()
    if code.endswith((":", "(", "[", "{")):
        return indent + INDENT
    if _DEDENT_AFTER.match(code):
        return max(0, indent - INDENT)
    return indent


def enter_keys(current_line: str, next_indent: int) -> int:
    """Return the keys for Enter plus fixing the auto-indent to ``next_indent`` columns."""
    diff = abs(next_indent - auto_indent(current_line))
    return 1 + -(-diff // INDENT)


def next_action_text(target: str, p: int) -> str:
    """Return the text one key inserts at ``target[p:]`` (Enter brings the indentation)."""
    if target[p] != "\n":
        return target[p]
    q = p + 1
    while q < len(target) and target[q] in " \t":
        q += 1
    return target[p:q]


def key_cost(typed_before: str, piece: str) -> int:
    """Return the keys needed to type ``piece`` (one char, or Enter + indentation)."""
    if not piece.startswith("\n"):
        return 1
    current = typed_before.rsplit("\n", 1)[-1]
    return enter_keys(current, len(piece) - 1)


def typing_keys(segment: Segment) -> int:
    """Return the keys needed to type ``segment`` without any help."""
    keys, p = 0, 0
    before = segment.document[: segment.offset]
    while p < len(segment.target):
        piece = next_action_text(segment.target, p)
        keys += key_cost(before + segment.target[:p], piece)
        p += len(piece)
    return keys


def word_chunks(text: str) -> list[str]:
    """Return ``text`` split where accept-next-word stops (``foo.bar(x)`` -> foo .bar (x ))."""
    return [m.group(0) for m in _WORD_CHUNK.finditer(text)]


@dataclass
class Ghost:
    """A suggestion as the editor shows it: ``text`` to insert at the cursor."""

    text: str
    source: int  # id of the request (or popup list) that produced it
    replace: int = 0  # characters after the cursor it overwrites

    def typed_through(self, piece: str) -> Ghost | None:
        """Return what stays visible after the user typed ``piece`` (None: contradicted)."""
        if self.replace or not self.text.startswith(piece) or len(self.text) == len(piece):
            return None
        return Ghost(self.text[len(piece) :], self.source)


def accepted_length(ghost: Ghost, target: str, p: int, suffix: str) -> int:
    """Return how much of ``target[p:]`` accepting ``ghost`` whole types (0: it is wrong).

    ``suffix`` is the document after the cursor (what a replacing suggestion overwrites).
    """
    if ghost.replace:
        replaced = suffix[: ghost.replace]
        if not ghost.text.endswith(replaced):
            return 0
        inserted = ghost.text[: len(ghost.text) - len(replaced)]
    else:
        inserted = ghost.text
    return len(inserted) if inserted and target.startswith(inserted, p) else 0


def user_action(
    ghost: Ghost | None, target: str, p: int, suffix: str, policy: str, typed_before: str
) -> tuple[str, str, int]:
    """Return (kind, text inserted, keys) of the user's next action.

    kind: ``accept`` (Tab: the whole ghost text), ``word`` (accept the next word of the
    ghost text) or ``type`` (one key: a character, or Enter with the indentation).
    """
    if ghost is not None:
        n = accepted_length(ghost, target, p, suffix)
        piece_keys = typing_keys_between(target, p, p + n, typed_before)
        if n and piece_keys >= 2:  # Tab saves at least one key
            return "accept", target[p : p + n], 1
        if policy == "word" and not ghost.replace:
            chunk = word_chunks(ghost.text)[:1]
            if chunk and target.startswith(chunk[0], p):
                if typing_keys_between(target, p, p + len(chunk[0]), typed_before) >= 2:
                    return "word", chunk[0], 1
    piece = next_action_text(target, p)
    return "type", piece, key_cost(typed_before, piece)


def typing_keys_between(target: str, p: int, q: int, typed_before: str) -> int:
    """Return the keys needed to type ``target[p:q]`` by hand."""
    keys = 0
    while p < q:
        piece = next_action_text(target, p)[: q - p]
        keys += key_cost(typed_before + target[:p], piece) if piece.startswith("\n") else 1
        p += len(piece)
    return keys


@dataclass(frozen=True)
class Pace:
    """Typing speed: ms to the next key after a key inside a word, and after anything else."""

    word_ms: float = 150.0
    pause_ms: float = 450.0
    paced: bool = True

    def gap_ms(self, kind: str, text: str) -> float:
        if kind == "type" and text and WORD_CHAR.match(text[-1]):
            return self.word_ms
        if kind == "word":
            return self.word_ms
        return self.pause_ms


# ------------------------------------------------------------------ clients


@dataclass
class Request:
    """One request as the client saw it."""

    id: Any
    sent: float
    next_key: float | None = None  # when the following key was pressed
    arrived: float | None = None
    ok: bool = False
    shown: bool = False  # answered in time with a non-empty suggestion


class Client:
    """A completion client in an editor: opens documents, sends edits, asks, shows."""

    name = "client"
    ghost_text = True  # False: a popup (static completer)

    def __init__(self, harness: LspHarness) -> None:
        self.lsp = harness
        self.version = 0
        self.requests: list[Request] = []

    def open(self, uri: str, text: str) -> None:
        self.version = 1
        self.lsp.open(uri, "python", text, self.version)

    def close(self, uri: str) -> None:
        self.lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def change(self, uri: str, text: str, offset: int, inserted: str, replace: int = 0) -> None:
        """Send the edit putting ``inserted`` over ``text[offset:offset + replace]``."""
        start = offset_to_position(text, offset)
        end = offset_to_position(text, offset + replace)
        rng = {
            "start": {"line": start[0], "character": start[1]},
            "end": {"line": end[0], "character": end[1]},
        }
        self.version += 1
        self.lsp.change(uri, self.version, [{"range": rng, "text": inserted}])

    def key_pressed(self, uri: str, text: str, offset: int, typed: str) -> None:
        """The user pressed a key (the document is now ``text``, cursor at ``offset``)."""

    def visible(self, text: str, offset: int, deadline: float | None) -> Ghost | None:
        """Return the suggestion the editor shows by ``deadline`` (None: nothing new)."""
        return None


class GhostClient(Client):
    """Our server: an automatic inline request after every key; the first item is shown."""

    name = "superpose-ls"

    def __init__(self, harness: LspHarness, traffic: str = "inline") -> None:
        super().__init__(harness)
        self.traffic = traffic
        self.pending: Request | None = None
        self.menu: Any = None  # the completion request sent beside it (VS Code traffic)

    def key_pressed(self, uri: str, text: str, offset: int, typed: str) -> None:
        now = time.monotonic()
        if self.pending is not None:
            self.pending.next_key = now
            if self.pending.arrived is None:  # VS Code cancels what is still running
                self.lsp.notify("$/cancelRequest", {"id": self.pending.id})
        line, character = offset_to_position(text, offset)
        position = {"line": line, "character": character}
        doc = {"uri": uri}
        if self.traffic == "vscode":  # quick suggestions: a completion request as well
            if self.menu is not None and self.menu not in self.lsp.arrived:
                self.lsp.notify("$/cancelRequest", {"id": self.menu})
            trigger = typed if typed and typed in ".( " else None
            context = (
                {"triggerKind": 2, "triggerCharacter": trigger} if trigger else {"triggerKind": 1}
            )
            params = {"textDocument": doc, "position": position, "context": context}
            self.menu = self.lsp.request_async("textDocument/completion", params)
        params = {"textDocument": doc, "position": position, "context": {"triggerKind": 2}}
        msg_id = self.lsp.request_async("textDocument/inlineCompletion", params)
        self.pending = Request(msg_id, now)
        self.requests.append(self.pending)

    def visible(self, text: str, offset: int, deadline: float | None) -> Ghost | None:
        req = self.pending
        if req is None or req.arrived is not None:
            return None
        response = self.lsp.wait_until(req.id, deadline)
        if response is None:
            return None
        req.arrived = self.lsp.arrived.get(req.id, time.monotonic())
        req.ok = "result" in response
        ghost = inline_ghost(response.get("result"), text, offset, req.id)
        req.shown = ghost is not None
        return ghost

    def finish(self) -> None:
        """Record arrival times of responses that came after their next key."""
        for req in self.requests:
            if req.arrived is None and req.id in self.lsp.arrived:
                response = self.lsp.wait_until(req.id, time.monotonic())
                req.arrived = self.lsp.arrived[req.id]
                req.ok = response is not None and "result" in response


def inline_ghost(result: Any, text: str, offset: int, source: int) -> Ghost | None:
    """Return the first inline item of ``result`` as a ghost text at ``offset`` (or None)."""
    items = result.get("items") if isinstance(result, dict) else result
    for item in items or []:
        insert = item.get("insertText")
        insert = insert.get("value", "") if isinstance(insert, dict) else insert or ""
        rng = item.get("range")
        start = end = offset
        if rng:
            start = position_to_offset(text, rng["start"]["line"], rng["start"]["character"])
            end = position_to_offset(text, rng["end"]["line"], rng["end"]["character"])
        typed = text[start:offset]
        if start > offset or end < offset or not insert.startswith(typed):
            continue
        shown = insert[len(typed) :]
        if shown:
            return Ghost(shown, source, replace=end - offset)
    return None


class PopupClient(Client):
    """A static completer's popup (VS Code's quick suggestions with client-side filtering)."""

    name = "jedi-language-server"
    ghost_text = False

    def __init__(self, harness: LspHarness) -> None:
        super().__init__(harness)
        self.lists: dict[int, list[dict[str, Any]]] = {}  # word start -> items
        self.pending: dict[int, Request] = {}
        self.open_popup = False

    def open(self, uri: str, text: str) -> None:
        super().open(uri, text)
        self.lists.clear()
        self.pending.clear()

    def key_pressed(self, uri: str, text: str, offset: int, typed: str) -> None:
        now = time.monotonic()
        for req in self.pending.values():
            if req.next_key is None:
                req.next_key = now
        start = word_start(text, offset)
        in_word = start < offset
        self.open_popup = (in_word and bool(WORD_CHAR.match(typed[-1:]))) or typed == "."
        if not self.open_popup or start in self.lists or start in self.pending:
            return
        line, character = offset_to_position(text, offset)
        params = {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 2, "triggerCharacter": "."}
            if typed == "."
            else {"triggerKind": 1},
        }
        req = Request(self.lsp.request_async("textDocument/completion", params), now)
        self.pending[start] = req
        self.requests.append(req)

    def visible(self, text: str, offset: int, deadline: float | None) -> Ghost | None:
        start = word_start(text, offset)
        req = self.pending.get(start)
        if req is not None and req.arrived is None:
            response = self.lsp.wait_until(req.id, deadline)
            if response is not None:
                req.arrived = self.lsp.arrived.get(req.id, time.monotonic())
                req.ok = "result" in response
                result = response.get("result") or {}
                items = result.get("items", []) if isinstance(result, dict) else result
                self.lists[start] = list(items or [])
        if not self.open_popup or start not in self.lists:
            return None
        ghost = popup_ghost(self.lists[start], text[start:offset], id(self.lists[start]))
        if req is not None and req.next_key is None and ghost is not None:
            req.shown = True
        return ghost

    def finish(self) -> None:
        for req in self.requests:
            if req.arrived is None and req.id in self.lsp.arrived:
                self.lsp.wait_until(req.id, time.monotonic())
                req.arrived = self.lsp.arrived[req.id]
                req.ok = True


def word_start(text: str, offset: int) -> int:
    """Return where the identifier ending at ``offset`` starts (``offset`` if none)."""
    start = offset
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return start


def popup_ghost(items: list[dict[str, Any]], prefix: str, source: int) -> Ghost | None:
    """Return the popup's top item (filtered by the typed ``prefix``) as the text it adds."""
    matches = []
    for rank, item in enumerate(items):
        edit = item.get("textEdit") or {}
        insert = edit.get("newText") or item.get("insertText") or item.get("label", "")
        key = item.get("filterText") or item.get("label", "")
        if insert.startswith(prefix) and key.startswith(prefix) and len(insert) > len(prefix):
            matches.append((item.get("sortText") or "", rank, insert))
    if not matches:
        return None
    _, _, insert = min(matches)
    return Ghost(insert[len(prefix) :], source)


# ------------------------------------------------------------------ the simulation


@dataclass
class SegmentResult:
    """What happened while one segment was typed."""

    source: str
    keys_without_help: int
    keys: int = 0
    accepts: int = 0
    word_accepts: int = 0
    accepted_chars: int = 0
    wrong: int = 0
    shown: int = 0  # keys at which a suggestion was visible
    decisions: int = 0
    # (kind, text typed or accepted, ghost text shown before the action or None), in order
    events: list[tuple[str, str, str | None]] = field(default_factory=list)


def type_segment(
    segment: Segment, client: Client, policy: str, pace: Pace, uri: str
) -> SegmentResult:
    """Type ``segment`` through ``client`` as the simulated user; return what it cost."""
    text, offset, target = segment.document, segment.offset, segment.target
    base_suffix = text[offset:]
    result = SegmentResult(segment.source, segment.keys_without_help)
    client.open(uri, text)
    client.key_pressed(uri, text, offset, "")  # the cursor arrives: the editor asks
    ghost: Ghost | None = None
    contradicted: set[int] = set()
    next_key_at = time.monotonic() + pace.pause_ms / 1000.0
    p = 0
    while p < len(target):
        # 1. what the editor shows when the next key is due
        deadline = next_key_at if pace.paced else None
        fresh = client.visible(text, offset, deadline)
        if fresh is not None:
            ghost = fresh
        if pace.paced:
            time.sleep(max(0.0, next_key_at - time.monotonic()))
        # 2. the user's action: accept, accept a word, or type
        typed_before = text[:offset]
        shown_text = ghost.text if ghost is not None else None
        kind, piece, keys = user_action(ghost, target, p, base_suffix, policy, typed_before)
        result.decisions += 1
        result.shown += ghost is not None
        if kind == "type" and ghost is not None and not ghost.text.startswith(piece):
            if ghost.source not in contradicted:  # shown, then contradicted by this key
                contradicted.add(ghost.source)
                result.wrong += 1
        # 3. the edit reaches the document and the server
        replace = ghost.replace if kind == "accept" and ghost is not None else 0
        inserted = ghost.text if replace and ghost is not None else piece
        client.change(uri, text, offset, inserted, replace)
        text = text[:offset] + inserted + text[offset + replace :]
        offset += len(piece)
        p += len(piece)
        result.keys += keys
        result.events.append((kind, piece, shown_text))
        if kind == "accept":
            result.accepts += 1
            result.accepted_chars += len(piece)
            ghost = None
        elif kind == "word":
            result.word_accepts += 1
            result.accepted_chars += len(piece)
            ghost = ghost.typed_through(piece) if ghost is not None else None
        else:
            ghost = ghost.typed_through(piece) if ghost is not None else None
        if p < len(target):
            client.key_pressed(uri, text, offset, piece)
            next_key_at = time.monotonic() + pace.gap_ms(kind, piece) / 1000.0
    assert text == segment.document[: segment.offset] + target + base_suffix
    client.close(uri)
    return result


# ------------------------------------------------------------------ configurations


@dataclass(frozen=True)
class RunConfig:
    """One simulated user against one server configuration."""

    name: str
    client: str = "superpose"  # superpose | jedi
    options: dict[str, Any] = field(default_factory=dict)  # initializationOptions
    policy: str = "tab"
    paced: bool = True
    traffic: str = "inline"


ABLATIONS = {
    "no monitor": {"monitor": False},
    "no repetition penalty": {"repetitionPenalty": False},
    "no n-grams": {"ngram": False},
    "no healing": {"healing": False},
    "no FIM": {"fim": False},
}


@dataclass(frozen=True)
class Size:
    segments: int
    ablations: bool
    unpaced: bool
    word_policy: bool
    vscode_traffic: bool


# the halves of the held-out files (benchmarks.common.heldout_halves), in its order
HALVES = ("calibration", "typing")
SIZES = {
    "smoke": Size(
        segments=2, ablations=False, unpaced=False, word_policy=False, vscode_traffic=False
    ),
    "quick": Size(
        segments=12, ablations=False, unpaced=True, word_policy=True, vscode_traffic=False
    ),
    "full": Size(segments=40, ablations=True, unpaced=True, word_policy=True, vscode_traffic=True),
}


def run_configs(size: Size, jedi: bool) -> list[RunConfig]:
    """Return the configurations of one run, ours first, jedi last."""
    configs = [RunConfig("superpose-ls")]
    if size.word_policy:
        configs.append(RunConfig("superpose-ls, word accept", policy="word"))
    if size.unpaced:
        configs.append(RunConfig("superpose-ls, unpaced", paced=False))
    if size.vscode_traffic:
        configs.append(RunConfig("superpose-ls, VS Code traffic", traffic="vscode"))
    if size.ablations:
        configs += [
            RunConfig(f"superpose-ls, {name}", options=opts) for name, opts in ABLATIONS.items()
        ]
    if jedi:
        configs.append(RunConfig("jedi-language-server", client="jedi"))
        if size.unpaced:
            configs.append(RunConfig("jedi-language-server, unpaced", client="jedi", paced=False))
    return configs


def unpaced_configs(configs: Sequence[RunConfig]) -> list[RunConfig]:
    """``configs`` typed without pace, each once (names end in ", unpaced")."""
    out: dict[str, RunConfig] = {}
    for c in configs:
        name = c.name if c.name.endswith(", unpaced") else f"{c.name}, unpaced"
        out.setdefault(name, replace(c, name=name, paced=False))
    return list(out.values())


def jedi_command() -> list[str] | None:
    """Return the command starting jedi-language-server (None when it is not installed)."""
    exe = Path(sys.executable).parent / "jedi-language-server"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("jedi-language-server")
    return [found] if found else None


def run_config(
    config: RunConfig,
    segments: Sequence[Segment],
    model: str,
    pace: Pace,
    root: Path | None = None,
) -> dict[str, Any]:
    """Type every segment under ``config``; return its metrics and per-segment results."""
    if config.client == "jedi":
        command = jedi_command()
        if command is None:
            raise RuntimeError("jedi-language-server is not installed")
        options: dict[str, Any] = {}
    else:
        command = server_command()
        options = {"model": model, **config.options}
    pace = Pace(pace.word_ms, pace.pause_ms, config.paced)
    with LspHarness(command) as lsp:
        lsp.initialize(options, root=root)
        if config.client != "jedi":
            lsp.wait_ready()
        warm_up(lsp, segments)
        client: GhostClient | PopupClient = (
            PopupClient(lsp) if config.client == "jedi" else GhostClient(lsp, config.traffic)
        )
        started = time.monotonic()
        results = [
            type_segment(seg, client, config.policy, pace, f"file:///typing/case{i}.py")
            for i, seg in enumerate(segments)
        ]
        seconds = time.monotonic() - started
        client.finish()
        status = lsp.status() if config.client != "jedi" else None
    return {
        "config": asdict(config),
        "metrics": metrics(results, client.requests),
        "seconds": round(seconds, 1),
        "server_latency_ms": (status or {}).get("latency_ms"),
        "server_profile_ms": (status or {}).get("profile_ms"),
        "segments": [asdict(r) for r in results],
    }


def warm_up(lsp: LspHarness, segments: Sequence[Segment]) -> None:
    """Ask once on a throwaway document, so one-time start-up costs (jedi's environment
    scan, lazy tables) are not charged to the first case."""
    if not segments:
        return
    seg = segments[0]
    uri = "file:///typing/warm-up.py"
    lsp.open(uri, "python", seg.document)
    line, character = offset_to_position(seg.document, seg.offset)
    params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}
    try:
        lsp.request("textDocument/completion", params, timeout=120.0)
    except Exception:  # noqa: BLE001 - a failed warm-up only makes the first case slower
        pass
    lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def metrics(results: Sequence[SegmentResult], requests: Sequence[Request]) -> dict[str, Any]:
    """Return the summary metrics of one configuration."""
    base = sum(r.keys_without_help for r in results)
    used = sum(r.keys for r in results)
    decided = [r for r in requests if r.next_key is not None]
    in_time = [r for r in decided if r.arrived is not None and r.arrived <= r.next_key]
    latencies = [(r.arrived - r.sent) * 1000 for r in requests if r.arrived is not None and r.ok]
    return {
        "segments": len(results),
        "keys_without_help": base,
        "keys": used,
        "savings": round(1 - used / base, 4) if base else None,
        "accepts": sum(r.accepts for r in results),
        "word_accepts": sum(r.word_accepts for r in results),
        "accepted_chars": sum(r.accepted_chars for r in results),
        "wrong": sum(r.wrong for r in results),
        "wrong_per_100": round(100 * sum(r.wrong for r in results) / used, 2) if used else None,
        "shown_share": round(
            sum(r.shown for r in results) / max(1, sum(r.decisions for r in results)), 4
        ),
        "requests": len(requests),
        "answered_in_time": round(len(in_time) / len(decided), 4) if decided else None,
        "shown_in_time": round(sum(r.shown for r in in_time) / len(decided), 4)
        if decided
        else None,
        "latency_ms": percentiles(latencies, (50, 95)),
    }


def half_files(files: Sequence[CorpusFile], half: str) -> list[CorpusFile]:
    """Return the held-out ``files`` of ``half`` (one of :data:`HALVES`)."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {', '.join(HALVES)}, got {half!r}")
    return heldout_halves(files)[HALVES.index(half)]


def run(
    mode: str = "quick",
    model: str = "default",
    out: Path = Path("bench-out/typing"),
    seed: int = 0,
    pace: Pace | None = None,
    configs: Sequence[RunConfig] | None = None,
    half: str = "typing",
) -> dict[str, Any]:
    """Run the typing simulation of ``mode``; write typing.json/typing.md to ``out``.

    ``half``: the held-out files typed, ``typing`` (never calibrated on) or
    ``calibration`` (to check a setting on files other than those it was chosen on)."""
    from models.loader import resolve_model_dir

    size = SIZES[mode]
    pace = pace or Pace()
    files = half_files(heldout_files(resolve_model_dir(model)), half)
    texts = [(f.relpath, f.read()) for f in files]
    segments = sample_segments(texts, size.segments, seed)
    jedi = jedi_command() is not None
    configs = list(configs) if configs is not None else run_configs(size, jedi)
    runs = {}
    for config in configs:
        runs[config.name] = run_config(config, segments, model, pace)
    data = {
        "mode": mode,
        "model": model,
        "seed": seed,
        "half": half,
        "pace": asdict(pace),
        "machine": machine_info(),
        "jedi": jedi,
        "cases": [
            {"source": s.source, "offset": s.offset, "chars": len(s.target)} for s in segments
        ],
        "runs": runs,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "typing.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "typing.md").write_text(markdown(data))
    return data


def summary_rows(data: dict[str, Any]) -> list[list[Any]]:
    """Return one table row per configuration."""
    rows = []
    for name, run_ in data["runs"].items():
        m = run_["metrics"]
        lat = m["latency_ms"]
        rows.append(
            [
                name,
                _pct(m["savings"]),
                m["wrong_per_100"],
                m["accepts"] + m["word_accepts"],
                _pct(m["answered_in_time"]),
                _pct(m["shown_in_time"]),
                lat.get("p50"),
                lat.get("p95"),
                m["keys_without_help"],
            ]
        )
    return rows


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.1f} %"


def markdown(data: dict[str, Any]) -> str:
    """Return the report section of a typing run."""
    headers = [
        "configuration",
        "keystrokes saved",
        "wrong / 100 keys",
        "accepts",
        "answered in time",
        "ghost in time",
        "latency p50 ms",
        "p95 ms",
        "keys without help",
    ]
    pace = data["pace"]
    half = " (the calibration half)" if data.get("half") == "calibration" else ""
    text = (
        f"# Simulated typing ({data['mode']})\n\n"
        f"{len(data['cases'])} segments of held-out code{half}, model `{data['model']}`, "
        f"pace {pace['word_ms']:.0f} ms inside a word / {pace['pause_ms']:.0f} ms after, "
        f"seed {data['seed']}.\n\n"
    )
    return text + markdown_table(headers, summary_rows(data)) + profile_markdown(data)


def profile_markdown(data: dict[str, Any]) -> str:
    """Where the server's time goes: mean ms per exclusive stage of the decoded automatic
    requests (typing-through cache hits decode nothing and are left out), per
    configuration of ours, from the server's ``superpose.status``."""
    profiles = {
        name: (run_.get("server_profile_ms") or {}).get("automatic")
        for name, run_ in data["runs"].items()
        if not name.startswith(SWEEP_PREFIX)
    }
    profiles = {name: p for name, p in profiles.items() if p and p.get("requests")}
    if not profiles:
        return ""
    stages = list(dict.fromkeys(s for p in profiles.values() for s in p["mean_ms"]))
    rows = []
    for name, p in profiles.items():
        means = p["mean_ms"]
        total = sum(means.values()) or 1.0
        cells = [
            f"{means[s]:.1f} ({100 * means[s] / total:.0f} %)" if s in means else "–"
            for s in stages
        ]
        rows.append([name, p["requests"], *cells, f"{total:.1f}"])
    return (
        "\n## Where the server's time goes\n\n"
        "Mean ms per decoded automatic request (share of its total), server side "
        "(`superpose.status` → `profile_ms`); typing-through cache hits are not decoded "
        "and not counted.\n\n"
        + markdown_table(["configuration", "decoded", *stages, "total"], rows)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(SIZES), default="quick")
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", type=Path, default=Path("bench-out/typing"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--segments", type=int, default=None, help="override the mode's count")
    parser.add_argument(
        "--half",
        choices=HALVES,
        default="typing",
        help="held-out files to type: the typing half (default) or the calibration half",
    )
    parser.add_argument("--word-ms", type=float, default=150.0)
    parser.add_argument("--pause-ms", type=float, default=450.0)
    parser.add_argument(
        "--only", action="append", default=None, help="run only configurations with this name"
    )
    parser.add_argument(
        "--unpaced",
        action="store_true",
        help="run the chosen configurations unpaced (every key waits for its answer)",
    )
    args = parser.parse_args(argv)
    if args.segments:
        size = SIZES[args.mode]
        SIZES[args.mode] = Size(
            args.segments, size.ablations, size.unpaced, size.word_policy, size.vscode_traffic
        )
    configs = None
    if args.only:
        jedi = jedi_command() is not None
        configs = [c for c in run_configs(SIZES["full"], jedi) if c.name in args.only]
    if args.unpaced:
        configs = unpaced_configs(
            configs
            if configs is not None
            else run_configs(SIZES[args.mode], jedi_command() is not None)
        )
    pace = Pace(args.word_ms, args.pause_ms)
    data = run(args.mode, args.model, args.out, args.seed, pace, configs, args.half)
    print(markdown(data))
    return 0


# ------------------------------------------------------------------ plug-in (benchmarks.plugin)
# (added for the report; the simulation above is unchanged)

from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402

from benchmarks.plugin import Benchmark, Row, Target, fmt  # noqa: E402
from benchmarks.plugin import row as summary_row  # noqa: E402

# the targets of issue 13, declared once (values from TARGETS above); the report, the README
# summary and the figures read these
SAVINGS_VS_JEDI = Target(
    "typing.savings_vs_jedi",
    "keystrokes saved, superpose-ls / jedi-language-server",
    ">=",
    TARGETS["savings_vs_jedi"],
    "x",
    "issue 13",
)
WRONG_PER_100 = Target(
    "typing.wrong_per_100",
    "wrong ghost texts per 100 keystrokes",
    "<=",
    TARGETS["wrong_per_100"],
    "",
    "issue 13",
)
LATENCY_VS_JEDI = Target(
    "typing.latency_vs_jedi",
    "automatic ghost text p50 / jedi-language-server completion p50",
    "<=",
    1.0,
    "x",
    "issue 13",
)
# ghostConfidence thresholds of the full mode's sweep (savings against wrong per 100 keys)
SWEEP_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
SWEEP_PREFIX = "superpose-ls, ghostConfidence "
OURS, JEDI = "superpose-ls", "jedi-language-server"


def sweep_configs(thresholds: Sequence[float], paced: bool = True) -> list[RunConfig]:
    """One configuration per ``ghostConfidence`` threshold (the server's setting), typed
    like the default configuration."""
    return [
        RunConfig(f"{SWEEP_PREFIX}{t:g}", options={"ghostConfidence": t}, paced=paced)
        for t in thresholds
    ]


def sweep_threshold(run_: dict[str, Any]) -> float | None:
    """The ``ghostConfidence`` of a recorded run (None: the model's calibrated default)."""
    value = run_["config"].get("options", {}).get("ghostConfidence")
    return float(value) if isinstance(value, (int, float)) else None


def calibrated_rule(model: str) -> tuple[str, float] | None:
    """The showing rule the server uses when neither ``ghostConfidence`` nor
    ``ghostWrongCost`` is set: ("threshold", τ) or ("cost", wrong cost); None when no
    calibration ships with ``model``."""
    from models.confidence import load_confidence
    from models.loader import resolve_model_dir

    confidence = load_confidence(resolve_model_dir(model))
    return None if confidence is None else confidence.rule()


def calibrated_threshold(model: str) -> float | None:
    """The threshold the server uses when ``ghostConfidence`` is not set (None: no
    calibration ships with ``model``, or its rule is the wrong cost: the default
    configuration is then no point of the threshold sweep)."""
    rule = calibrated_rule(model)
    return rule[1] if rule is not None and rule[0] == "threshold" else None


def rule_text(rule: Any) -> str:
    """``threshold 0.5`` / ``wrong cost 4`` for a stored ``calibrated_rule``."""
    if not rule:
        return "none"
    kind, value = rule
    return f"{'wrong cost' if kind == 'cost' else 'threshold'} {value:g}"


def plugin_configs(
    mode: str,
    jedi: bool,
    names: Sequence[str] | None = None,
    sweep: Sequence[float] = (),
    skip: float | None = None,
) -> list[RunConfig]:
    """The configurations the report runs: the mode's (or those ``names`` among every
    configuration, as ``--only`` picks them), then the sweep's thresholds except ``skip``
    (the calibrated one: the default configuration already runs at it)."""
    if names is None:
        configs = run_configs(SIZES[mode], jedi)
    else:
        every = {c.name: c for c in run_configs(SIZES["full"], jedi)}
        configs = [every[n] for n in names if n in every]
    thresholds = [t for t in sweep if skip is None or abs(t - skip) > 1e-9]
    return configs + sweep_configs(thresholds)


@contextmanager
def segment_count(mode: str, segments: int | None) -> Iterator[None]:
    """``SIZES[mode]`` with ``segments`` segments while the block runs (as ``--segments``)."""
    saved = SIZES[mode]
    if segments:
        SIZES[mode] = replace(saved, segments=segments)
    try:
        yield
    finally:
        SIZES[mode] = saved


def run_plugin(
    mode: str,
    model: str,
    out: Path,
    segments: int | None = None,
    configs: Sequence[str] | None = None,
    sweep: Sequence[float] = (),
    seed: int = 0,
) -> dict[str, Any]:
    """``run`` as the report calls it: the mode's configurations (or ``configs`` by name),
    the ``ghostConfidence`` sweep, ``segments`` instead of the mode's count."""
    calibrated = calibrated_threshold(model)
    chosen = plugin_configs(mode, jedi_command() is not None, configs, sweep, calibrated)
    with segment_count(mode, segments):
        data = run(mode, model, Path(out), seed, None, chosen)
    data["calibrated_threshold"] = calibrated
    data["calibrated_rule"] = calibrated_rule(model)
    data["sweep"] = [t for t in sweep if calibrated is None or abs(t - calibrated) > 1e-9]
    (Path(out) / "typing.json").write_text(json.dumps(data, indent=2) + "\n")
    (Path(out) / "typing.md").write_text(plugin_markdown(data))
    return data


def main_runs(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The runs that are not part of the threshold sweep."""
    return {k: v for k, v in data["runs"].items() if not k.startswith(SWEEP_PREFIX)}


def sweep_runs(data: dict[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    """(threshold, run) of the sweep, by threshold."""
    found = []
    for name, run_ in data["runs"].items():
        threshold = sweep_threshold(run_)
        if name.startswith(SWEEP_PREFIX) and threshold is not None:
            found.append((threshold, run_))
    return sorted(found, key=lambda pair: pair[0])


def compared(data: dict[str, Any]) -> tuple[str, dict | None, dict | None]:
    """("paced" | "unpaced", our metrics, jedi's metrics) of the pair the targets read:
    the paced runs when both ran, else the unpaced ones."""
    runs = data["runs"]
    for pace, ours, jedi in (
        ("paced", OURS, JEDI),
        ("unpaced", f"{OURS}, unpaced", f"{JEDI}, unpaced"),
    ):
        if ours in runs:
            other = runs.get(jedi)
            return pace, runs[ours]["metrics"], other["metrics"] if other else None
    return "paced", None, None


def plugin_rows(data: dict[str, Any]) -> list[Row]:
    """Savings against jedi, wrong ghost texts per 100 keys, latency against jedi (the
    issue-13 targets); the share of keys with a ghost text in time for information."""
    pace, ours, jedi = compared(data)
    ours, jedi_m = ours or {}, jedi or {}
    n = f"{ours.get('keys_without_help', '?')} keys, {ours.get('segments', '?')} segments"
    saved, jedi_saved = ours.get("savings"), jedi_m.get("savings")
    ratio = saved / jedi_saved if saved is not None and jedi_saved else None
    p50 = (ours.get("latency_ms") or {}).get("p50")
    jedi_p50 = (jedi_m.get("latency_ms") or {}).get("p50")
    latency = p50 / jedi_p50 if p50 is not None and jedi_p50 else None
    missing = "not installed" if not data.get("jedi") else f"not run {pace}"
    no_jedi = "" if jedi else f"; jedi-language-server {missing}"
    return [
        summary_row(
            f"keystrokes saved, superpose-ls / jedi-language-server ({pace})",
            ratio,
            SAVINGS_VS_JEDI,
            None,
            f"({fmt(saved, '%')} vs {fmt(jedi_saved, '%')}; {n}{no_jedi})",
        ),
        summary_row(
            f"wrong ghost texts per 100 keystrokes ({pace})",
            ours.get("wrong_per_100"),
            WRONG_PER_100,
            None,
            f"({ours.get('wrong', '?')} wrong; {n})",
        ),
        summary_row(
            f"automatic ghost text p50 / jedi completion p50 ({pace})",
            latency,
            LATENCY_VS_JEDI,
            None,
            f"({fmt(p50, 'ms')} vs {fmt(jedi_p50, 'ms')}{no_jedi})",
        ),
        summary_row(
            f"keys with a ghost text in time ({pace})",
            ours.get("shown_in_time"),
            None,
            "%",
            f"({ours.get('requests', '?')} requests)",
        ),
    ]


def plugin_markdown(data: dict[str, Any]) -> str:
    """The typing section: the configurations' table, then the threshold sweep's."""
    text = markdown({**data, "runs": main_runs(data)})
    if not data.get("jedi"):
        text += "\njedi-language-server is not installed: no static baseline in this run.\n"
    sweep = sweep_runs(data)
    if sweep:
        rows = [
            [
                f"{t:g}",
                _pct(m["savings"]),
                m["wrong_per_100"],
                m["accepts"] + m["word_accepts"],
                _pct(m["shown_in_time"]),
                (m["latency_ms"] or {}).get("p50"),
            ]
            for t, m in ((t, r["metrics"]) for t, r in sweep)
        ]
        calibrated = data.get("calibrated_rule")
        if calibrated is None and data.get("calibrated_threshold") is not None:
            calibrated = ("threshold", data["calibrated_threshold"])  # older reports
        text += (
            "\n## ghostConfidence sweep\n\n"
            f"The default configuration runs at the model's calibrated rule "
            f"({rule_text(calibrated)}); these set "
            "`ghostConfidence`, typed at the same pace.\n\n"
            + markdown_table(
                [
                    "ghostConfidence",
                    "keystrokes saved",
                    "wrong / 100 keys",
                    "accepts",
                    "ghost in time",
                    "latency p50 ms",
                ],
                rows,
            )
        )
    return text


CONFIG_COLORS = {OURS: "C0", JEDI: "0.45"}


def _config_color(name: str) -> str:
    if name in CONFIG_COLORS:
        return CONFIG_COLORS[name]
    if name.startswith(JEDI):
        return "0.7"
    if any(name.endswith(ablation) for ablation in ABLATIONS):
        return "C4"
    return "C0"


def figure_configs(data: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """Keystrokes saved, wrong ghost texts per 100 keys and latency key -> suggestion for
    every configuration (ours, its variants and ablations, jedi-language-server), with
    the issue-13 targets."""
    from benchmarks.figures import new_figure, save, target_line

    runs = main_runs(data)
    names = list(runs)
    fig, (ax, bx, cx) = new_figure(
        ctx,
        "Simulated typing of held-out code: what a user saves, and what it costs",
        3,
        width=4.6,
        height=max(3.8, 1.8 + 0.38 * len(names)),
        ratios=(1.2, 1, 1),
    )
    ys = list(range(len(names)))[::-1]  # first configuration on top
    colors = [_config_color(n) for n in names]
    _, ours, jedi = compared(data)
    panels = (
        (ax, lambda m: m.get("savings"), "{:.1f} %", 100.0),
        (bx, lambda m: m.get("wrong_per_100"), "{:.1f}", 1.0),
        (cx, lambda m: (m.get("latency_ms") or {}).get("p50"), "{:.0f} ms", 1.0),
    )
    for axis, value_of, text_format, scale in panels:
        values = [value_of(runs[n]["metrics"]) for n in names]
        axis.barh(ys, [0.0 if v is None else scale * v for v in values], color=colors)
        for y, v in zip(ys, values, strict=True):
            axis.annotate(
                "n/a" if v is None else text_format.format(scale * v),
                (0, y),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
                color="white" if v else "black",
            )
        axis.set_yticks(ys, [""] * len(ys))
        axis.set_ylim(-0.6, len(names) - 0.4 + 0.5)  # room above the bars for target labels
        axis.grid(axis="x", alpha=0.3)
    ax.set_yticks(
        ys,
        [f"{n}\n{runs[n]['metrics'].get('keys_without_help', '?')} keys" for n in names],
        fontsize=7,
    )
    if jedi and jedi.get("savings") is not None:
        at = SAVINGS_VS_JEDI.value * 100 * jedi["savings"]
        label = f"target {SAVINGS_VS_JEDI.text()} jedi = {at:.1f} %"
        target_line(ax, SAVINGS_VS_JEDI, axis="x", value=at, label=label)
    ax.set_xlabel("keystrokes saved, % (higher is better)")
    target_line(bx, WRONG_PER_100, axis="x")
    bx.set_xlabel("wrong suggestions per 100 keys\n(lower is better; jedi: its popup's top item)")
    jedi_p50 = ((jedi or {}).get("latency_ms") or {}).get("p50")
    if jedi_p50 is not None:
        at = LATENCY_VS_JEDI.value * jedi_p50
        label = f"target {LATENCY_VS_JEDI.text()} jedi = {at:.0f} ms"
        target_line(cx, LATENCY_VS_JEDI, axis="x", value=at, label=label)
    cx.set_xlabel("latency key -> answer, p50 ms\n(answered requests; lower is better)")
    segments, pace = len(data.get("cases", [])), data.get("pace", {})
    paced = (
        f"paced: {pace.get('word_ms', 0):.0f} ms in a word, {pace.get('pause_ms', 0):.0f} ms after"
        if any(r["config"].get("paced") for r in runs.values())
        else "unpaced: every key waits for its answer"
    )
    ax.set_title(
        f"{segments} segment(s); {paced}\n"
        "blue: ours (purple: ablations), grey: jedi-language-server",
        fontsize=8,
    )
    bx.set_title(
        f"ours: {fmt((ours or {}).get('wrong_per_100'))} wrong / 100 keys\n"
        f"({(ours or {}).get('wrong', '?')} in {(ours or {}).get('keys', '?')} keys pressed)",
        fontsize=8,
    )
    cx.set_title(
        f"ours: {(ours or {}).get('requests', '?')} requests, "
        f"{fmt((ours or {}).get('shown_in_time'), '%')} of keys\nwith a ghost text in time",
        fontsize=8,
    )
    return save(fig, out / "typing.png")


def figure_sweep(data: dict[str, Any], ctx: dict[str, Any], out: Path) -> str | None:
    """Keystrokes saved against wrong ghost texts per 100 keys, one point per
    ``ghostConfidence`` threshold, the default (calibrated) point, jedi-language-server's
    point and the targets (None when the run had no sweep)."""
    from benchmarks.figures import BASELINE_COLOR, TARGET_COLOR, new_figure, save, target_line

    sweep = sweep_runs(data)
    if not sweep:
        return None
    fig, (ax,) = new_figure(
        ctx, "Ghost text confidence threshold: savings against wrong", 1, width=9.0, height=5.6
    )
    points = [(t, r["metrics"]) for t, r in sweep]
    runs = data["runs"]
    default = runs.get(OURS, {}).get("metrics")
    calibrated = data.get("calibrated_threshold")
    if default is not None and calibrated is not None:
        points.append((calibrated, default))
        points.sort(key=lambda p: p[0])
    xs = [m["wrong_per_100"] for _, m in points]
    ys = [100 * m["savings"] for _, m in points]
    ax.plot(xs, ys, color="C0", marker="o", label="superpose-ls at ghostConfidence τ")
    for (t, _), x, y in zip(points, xs, ys, strict=True):
        ax.annotate(f"τ={t:g}", (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7)
    if default is not None:
        ax.plot(
            [default["wrong_per_100"]],
            [100 * default["savings"]],
            marker="*",
            markersize=14,
            color="C0",
            linestyle="none",
            label=f"default (calibrated τ={'?' if calibrated is None else f'{calibrated:g}'})",
        )
    jedi = runs.get(JEDI, {}).get("metrics")
    if jedi is not None:
        ax.plot(
            [jedi["wrong_per_100"]],
            [100 * jedi["savings"]],
            marker="s",
            markersize=9,
            color=BASELINE_COLOR,
            linestyle="none",
            label="jedi-language-server (popup)",
        )
        ax.annotate(
            "jedi-language-server",
            (jedi["wrong_per_100"], 100 * jedi["savings"]),
            xytext=(6, -10),
            textcoords="offset points",
            fontsize=7,
            color=BASELINE_COLOR,
        )
        at = SAVINGS_VS_JEDI.value * jedi["savings"]
        target_line(
            ax,
            SAVINGS_VS_JEDI,
            value=100 * at,
            label=f"target {SAVINGS_VS_JEDI.text()} jedi's savings",
        )
        ax.fill_between(
            [0, WRONG_PER_100.value],
            [100 * at] * 2,
            [100] * 2,
            color=TARGET_COLOR,
            alpha=0.06,
            linewidth=0,
        )
    target_line(ax, WRONG_PER_100, axis="x", label=f"target {WRONG_PER_100.text()} wrong / 100")
    right = max(xs + [WRONG_PER_100.value]) * 1.15
    ax.set_xlim(left=-0.03 * right, right=right)
    ax.set_ylim(bottom=0, top=max(ys + [100 * (jedi or {}).get("savings", 0) * 1.6]) * 1.15)
    ax.set_xlabel("wrong ghost texts per 100 keys (lower is better)")
    ax.set_ylabel("keystrokes saved, % (higher is better)")
    m0 = points[0][1]
    shaded = "; shaded: both targets met" if jedi is not None else "; no jedi-language-server run"
    ax.set_title(
        f"{m0['segments']} segment(s), {m0['keys_without_help']} keys each run, paced{shaded}",
        fontsize=8,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save(fig, out / "typing_sweep.png")


PLUGIN = Benchmark(
    name="typing",
    title="Simulated typing: keystrokes saved, wrong ghost texts",
    run=run_plugin,
    rows=plugin_rows,
    markdown=plugin_markdown,
    targets=(SAVINGS_VS_JEDI, WRONG_PER_100, LATENCY_VS_JEDI),
    sizes={
        # CI: one segment, unpaced (each key waits for its answer), ours and jedi
        "smoke": {"segments": 1, "configs": (f"{OURS}, unpaced", f"{JEDI}, unpaced")},
        "quick": {},
        "full": {"sweep": SWEEP_THRESHOLDS},
    },
    figures=(figure_configs, figure_sweep),
    # paced typing runs in real time: every configuration types every segment
    timeout_s={"smoke": 240.0, "quick": 3600.0, "full": 12 * 3600.0},
)


if __name__ == "__main__":
    raise SystemExit(main())
