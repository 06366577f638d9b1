"""End-to-end latency of the server while a user types (issue 8, "Benchmark").

Drives the real server (``python -m lsp_server``) over stdio with the raw
:class:`benchmarks.harness.LspHarness`, the way an editor would, on held-out
files of the standard-library corpus (``models.corpus.split_files()[1]``):

* the simulated user opens a few held-out files, jumps to random end-of-line or
  mid-line cursor positions, deletes the rest of the line there and retypes the
  file's real text one key at a time (80-150 ms between keys, with occasional
  thinking pauses after a non-identifier key; Enter plus the new line's
  indentation is one key, as with auto-indent);
* every key is a ``didChange`` followed by an automatic
  ``textDocument/inlineCompletion``; the previous automatic request, when still
  unanswered, is cancelled with ``$/cancelRequest`` (what VS Code does), and the
  server supersedes it anyway;
* sometimes the user follows the ghost text instead: after a fresh draft
  appears, they type its first few characters (the typing-through cache of
  issue 8 should answer those without running the model);
* now and then, and at the end of every typed segment, the user invokes the
  completion menu (``textDocument/completion``, k=4) and the
  ``superpose.drafts`` command, and waits for the answer.

Latency is measured on the client (send -> response read by the client's reader
thread) and split by what served it: a response is a cache hit when it carries a
draft id the client has already seen (cached drafts keep their id); the
server-side split comes from ``superpose.status`` (``latency_ms``). The peak RSS
of the server process is sampled with psutil during the run (and read from
``VmHWM`` on Linux), and the model's size on disk is reported.

Targets (issue 8): automatic p50 <= 150 ms and p95 <= 300 ms; invoked k=4 p50 <=
500 ms; cache hits p50 <= 5 ms; peak RSS <= 1 GB.

    python -m benchmarks.latency --quick --out bench-out/latency
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import heldout_files, machine_info, model_disk_bytes, percentiles
from benchmarks.harness import LspHarness, server_command
from benchmarks.plugin import Benchmark, Row, Target, fmt, row

# RequestCancelled, ContentModified (superseded by a newer request), ServerCancelled
CANCELLED_CODES = (-32800, -32801, -32802)
# the targets (issue 8; model size: issue 3), declared once: the report, the README
# summary and the figures read these
AUTOMATIC_P50 = Target(
    "latency.automatic_p50", "automatic inline p50", "<=", 150.0, "ms", "issue 8"
)
AUTOMATIC_P95 = Target(
    "latency.automatic_p95", "automatic inline p95", "<=", 300.0, "ms", "issue 8"
)
INVOKED_P50 = Target(
    "latency.invoked_p50", "invoked k=4 completion p50", "<=", 500.0, "ms", "issue 8"
)
CACHE_P50 = Target("latency.cache_p50", "typing-through cache hit p50", "<=", 5.0, "ms", "issue 8")
PEAK_RSS = Target("latency.peak_rss", "server peak RSS", "<=", 1024.0, "MiB", "issue 8")
WEIGHTS = Target("latency.weights", "model weights on disk", "<=", 50.0, "MB", "issue 3")


@dataclass(frozen=True)
class TypingConfig:
    """How much to type, and how fast."""

    files: int
    segments_per_file: int
    max_keys_per_segment: int
    budget_s: float  # typing time budget (new segments stop after it)
    key_gap_ms: tuple[float, float] = (80.0, 150.0)
    pause_prob: float = 0.2
    pause_ms: tuple[float, float] = (300.0, 900.0)
    follow_prob: float = 0.3
    follow_keys: tuple[int, int] = (2, 6)
    invoked_every: tuple[int, int] = (12, 24)
    request_timeout_s: float = 60.0
    seed: int = 0
    server_options: dict[str, Any] = field(default_factory=dict)  # beyond {"drafts": 4}


CONFIGS = {
    "smoke": TypingConfig(
        files=1,
        segments_per_file=2,
        max_keys_per_segment=10,
        budget_s=6.0,
        server_options={"maxNewTokens": 8},  # checks the pipeline, not the numbers
    ),
    "quick": TypingConfig(files=3, segments_per_file=4, max_keys_per_segment=40, budget_s=40.0),
    "full": TypingConfig(files=8, segments_per_file=8, max_keys_per_segment=80, budget_s=600.0),
}


@dataclass(frozen=True)
class Segment:
    """Text the user retypes: ``removed`` is deleted at ``start``, then ``keys`` typed."""

    relpath: str
    start: int
    removed: str
    keys: tuple[str, ...]
    kind: str  # "end-of-line" | "mid-line"


@dataclass
class Sample:
    """One request's outcome as the client saw it."""

    kind: str  # automatic | invoked | drafts
    ms: float | None  # None when cancelled/failed/unanswered
    outcome: str  # answered | cancelled | error | unanswered
    cached: bool = False
    drafts: int = 0
    following: bool = False  # typed while following a shown draft
    server_ms: float | None = None
    error: str | None = None  # the JSON-RPC error, "code: message"


# ------------------------------------------------------------------ client


class TimedHarness(LspHarness):
    """LspHarness that timestamps every response when its reader thread reads it."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.arrived: dict[Any, float] = {}

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" not in message:
            self.arrived[message.get("id")] = time.perf_counter()
        super()._dispatch(message)

    def take(self, msg_id: Any) -> tuple[dict[str, Any], float] | None:
        """Return (response, arrival time) for ``msg_id`` if it has arrived, without waiting."""
        with self._cond:
            response = self._responses.pop(msg_id, None)
        if response is None:
            return None
        return response, self.arrived.pop(msg_id, time.perf_counter())

    def timed_request(self, method: str, params: Any, timeout: float) -> tuple[dict, float]:
        """Send a request, wait for it, return (response, client-side milliseconds)."""
        sent = time.perf_counter()
        msg_id = self.request_async(method, params)
        response = self.wait(msg_id, timeout)
        return response, (self.arrived.pop(msg_id, time.perf_counter()) - sent) * 1000.0


class RssSampler:
    """Samples the RSS of a process in a background thread; keeps the peak and a series."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.pid = pid
        self.interval_s = interval_s
        self.series: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.process.memory_info().rss
            except Exception:  # noqa: BLE001 - the process is gone
                return
            self.series.append((time.perf_counter() - self._started, rss))
            self._stop.wait(self.interval_s)

    def high_water_mark(self) -> int | None:
        """Return the kernel's peak RSS (VmHWM) of the process, in bytes, on Linux."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def stop(self) -> dict[str, Any]:
        """Stop sampling (call before the process exits); return the peak and the series."""
        hwm = self.high_water_mark()
        self._stop.set()
        self._thread.join(timeout=2)
        sampled = max((rss for _, rss in self.series), default=0)
        return {
            "peak_rss_bytes": max(sampled, hwm or 0),
            "sampled_peak_rss_bytes": sampled,
            "vmhwm_bytes": hwm,
            "rss_series": [[round(t, 2), rss] for t, rss in self.series],
        }


# ------------------------------------------------------------------ text


def lsp_position(text: str, offset: int) -> dict[str, int]:
    """Return the LSP position (UTF-16 column) of code-point ``offset`` in ``text``."""
    line = text.count("\n", 0, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    column = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text[line_start:offset])
    return {"line": line, "character": column}


def key_units(typed: str) -> tuple[str, ...]:
    """Split ``typed`` into keystrokes: Enter plus the next line's indentation is one key."""
    keys: list[str] = []
    i = 0
    while i < len(typed):
        if typed[i] == "\n":
            j = i + 1
            while j < len(typed) and typed[j] in " \t":
                j += 1
            keys.append(typed[i:j])
            i = j
        else:
            keys.append(typed[i])
            i += 1
    return tuple(keys)


def segments_of(
    relpath: str, text: str, n: int, max_keys: int, rng: random.Random
) -> list[Segment]:
    """Return ``n`` segments at random end-of-line / mid-line cursors of distinct lines."""
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    candidates = [i for i in range(5, len(lines) - 1) if len(lines[i].strip()) >= 8]
    rng.shuffle(candidates)
    segments: list[Segment] = []
    for i in candidates[:n]:
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if rng.random() < 0.5:
            column = rng.randint(indent + 1, len(line) - 3)
            start, removed, kind = starts[i] + column, line[column:], "mid-line"
        else:
            start, removed, kind = starts[i] - 1, "\n" + line, "end-of-line"
        keys = key_units(removed)[:max_keys]
        segments.append(Segment(relpath, start, removed, keys, kind))
    return segments


def heldout_texts(model: str, config: TypingConfig, rng: random.Random) -> list[tuple[str, str]]:
    """Return ``config.files`` held-out files of ordinary size (relpath, text)."""
    from models.loader import resolve_model_dir

    files = sorted(heldout_files(resolve_model_dir(model)), key=lambda f: f.relpath)
    texts = [(f.relpath, f.read()) for f in files]
    texts = [(p, t) for p, t in texts if 3_000 <= len(t) <= 40_000 and t.count("\n") >= 60]
    return rng.sample(texts, min(config.files, len(texts)))


# ------------------------------------------------------------------ session


def _draft_ids(result: Any) -> list[str]:
    """Return the draft ids of an inline/completion list (kept by cached drafts)."""
    items = result.get("items", []) if isinstance(result, dict) else (result or [])
    ids: list[str] = []
    for item in items:
        command = item.get("command") or {}
        args = command.get("arguments") or []
        ident = item.get("data") or (args[0] if args else None)
        if isinstance(ident, str):
            ids.append(ident)
    return ids


def _items(result: Any) -> list[dict[str, Any]]:
    return result.get("items", []) if isinstance(result, dict) else (result or [])


@dataclass
class Session:
    """The simulated user: one server, one document at a time, the measured samples."""

    lsp: TimedHarness
    config: TypingConfig
    rng: random.Random
    deadline: float
    samples: list[Sample] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    pending: dict[Any, tuple[float, bool]] = field(default_factory=dict)  # id -> (sent, following)
    cancel_requests: int = 0
    keys: int = 0
    follow_keys: int = 0
    segments: int = 0
    files: list[str] = field(default_factory=list)
    shown: str | None = None  # the freshest draft shown (ghost text or menu)
    uri: str = ""
    text: str = ""
    version: int = 1

    # -------------------------------------------------------------- responses

    def _record(self, kind: str, response: dict[str, Any], ms: float, following: bool) -> Sample:
        error = response.get("error")
        if error is not None:
            outcome = "cancelled" if error.get("code") in CANCELLED_CODES else "error"
            message = f"{error.get('code')}: {error.get('message')}"
            sample = Sample(kind, None, outcome, following=following, error=message)
        elif kind == "drafts":
            result = response.get("result") or {}
            drafts = result.get("drafts", [])
            cached = bool(result.get("cached")) or any(
                d.get("stats", {}).get("cached") for d in drafts
            )
            server = (result.get("timings") or {}).get("total_ms")
            self.seen_ids.update(d["id"] for d in drafts if isinstance(d.get("id"), str))
            sample = Sample(kind, ms, "answered", cached, len(drafts), following, server)
            if drafts and not cached:
                self.shown = drafts[0].get("text") or None
        else:
            ids = _draft_ids(response.get("result"))
            cached = bool(ids) and any(i in self.seen_ids for i in ids)
            self.seen_ids.update(ids)
            sample = Sample(kind, ms, "answered", cached, len(ids), following)
        self.samples.append(sample)
        return sample

    def collect(self) -> None:
        """Record every automatic response that has arrived; remember a fresh shown draft."""
        for msg_id in list(self.pending):
            got = self.lsp.take(msg_id)
            if got is None:
                continue
            response, arrived = got
            sent, following = self.pending.pop(msg_id)
            sample = self._record("automatic", response, (arrived - sent) * 1000.0, following)
            items = _items(response.get("result"))
            if sample.outcome == "answered" and items and not sample.cached:
                text = items[0].get("insertText")
                self.shown = text if isinstance(text, str) and text.strip() else None

    def drain(self, timeout: float) -> int:
        """Wait for every pending automatic request; return how many never got an answer."""
        end = time.perf_counter() + timeout
        while self.pending and time.perf_counter() < end:
            self.collect()
            time.sleep(0.005)
        unanswered = len(self.pending)
        for _ in range(unanswered):
            self.samples.append(Sample("automatic", None, "unanswered"))
        self.pending.clear()
        return unanswered

    def idle(self, seconds: float) -> None:
        """Let ``seconds`` pass, recording responses as they arrive."""
        end = time.perf_counter() + seconds
        while True:
            self.collect()
            left = end - time.perf_counter()
            if left <= 0:
                return
            time.sleep(min(0.005, left))

    # -------------------------------------------------------------- actions

    def edit(self, start: int, end: int, new_text: str) -> None:
        """Apply one incremental didChange replacing ``text[start:end]`` by ``new_text``."""
        rng = {"start": lsp_position(self.text, start), "end": lsp_position(self.text, end)}
        self.version += 1
        self.lsp.change(self.uri, self.version, [{"range": rng, "text": new_text}])
        self.text = self.text[:start] + new_text + self.text[end:]

    def type_key(self, cursor: int, key: str, following: bool) -> int:
        """Type ``key`` at ``cursor``, cancel the older automatic request, send a new one."""
        self.edit(cursor, cursor, key)
        cursor += len(key)
        for msg_id in self.pending:  # an editor cancels what it no longer shows
            self.lsp.notify("$/cancelRequest", {"id": msg_id})
            self.cancel_requests += 1
        params = {
            "textDocument": {"uri": self.uri},
            "position": lsp_position(self.text, cursor),
            "context": {"triggerKind": 2},  # Automatic
        }
        sent = time.perf_counter()
        self.pending[self.lsp.request_async("textDocument/inlineCompletion", params)] = (
            sent,
            following,
        )
        self.keys += 1
        self.follow_keys += int(following)
        return cursor

    def invoke(self, cursor: int, with_drafts: bool) -> None:
        """The user asks for the completion menu (k=4), optionally also superpose.drafts."""
        params = {"textDocument": {"uri": self.uri}, "position": lsp_position(self.text, cursor)}
        timeout = self.config.request_timeout_s
        try:
            response, ms = self.lsp.timed_request("textDocument/completion", params, timeout)
            self._record("invoked", response, ms, False)
        except TimeoutError:
            self.samples.append(Sample("invoked", None, "unanswered"))
        if with_drafts:
            try:
                response, ms = self.lsp.timed_request(
                    "workspace/executeCommand",
                    {"command": "superpose.drafts", "arguments": [params]},
                    timeout,
                )
                self._record("drafts", response, ms, False)
            except TimeoutError:
                self.samples.append(Sample("drafts", None, "unanswered"))

    def gap(self, key: str) -> float:
        low, high = self.config.key_gap_ms
        seconds = self.rng.uniform(low, high) / 1000.0
        if (
            not (key[-1:].isalnum() or key[-1:] == "_")
            and self.rng.random() < self.config.pause_prob
        ):
            seconds += self.rng.uniform(*self.config.pause_ms) / 1000.0
        return seconds

    def follow(self, cursor: int, following_text: str) -> int:
        """Type the first few characters of a shown draft (the typing-through cache's case)."""
        n = self.rng.randint(*self.config.follow_keys)
        if following_text.startswith("\n"):  # a draft that opens a new line: Enter + indent
            head = "\n" + following_text[1:].split("\n", 1)[0]
        else:
            head = following_text.split("\n", 1)[0]
        for key in key_units(head if head.strip() else "")[:n]:
            cursor = self.type_key(cursor, key, following=True)
            self.idle(self.gap(key))
        return cursor

    def type_segment(self, segment: Segment) -> None:
        """Delete the segment's text, retype it as a user would, then restore the file.

        1. jump there; 2. type the real keys (an automatic request each, the menu now and
        then; maybe switch to typing through a fresh ghost-text draft); 3. stop and wait
        for the ghost text; 4. invoke the menu (k=4) and ``superpose.drafts``; 5. type
        through the first characters of the best draft just shown; 6. restore.
        """
        self.segments += 1
        start = segment.start
        self.edit(start, start + len(segment.removed), "")
        self.idle(self.rng.uniform(0.3, 0.6))  # 1. the cursor jump
        self.shown = None
        cursor = start
        next_invoke = self.rng.randint(*self.config.invoked_every)
        for i, key in enumerate(segment.keys):  # 2. typing the file's real text
            if time.perf_counter() >= self.deadline + 5.0:
                break
            cursor = self.type_key(cursor, key, following=False)
            self.idle(self.gap(key))
            shown, self.shown = self.shown, None
            if shown and self.rng.random() < self.config.follow_prob:
                cursor = self.follow(cursor, shown)
                break
            next_invoke -= 1
            if next_invoke <= 0 and i + 1 < len(segment.keys):
                self.invoke(cursor, with_drafts=False)
                next_invoke = self.rng.randint(*self.config.invoked_every)
        self.drain(self.config.request_timeout_s)  # 3. the user stops: ghost text shows
        self.idle(self.rng.uniform(0.2, 0.5))
        self.shown = None
        self.invoke(cursor, with_drafts=True)  # 4. menu and drafts
        if self.shown:  # 5. typing through the best draft just shown
            cursor = self.follow(cursor, self.shown)
            self.drain(self.config.request_timeout_s)
        self.edit(start, cursor, segment.removed)  # 6. restore the file's real text
        self.shown = None

    def run_file(self, relpath: str, text: str, index: int) -> None:
        self.uri = f"file:///heldout/{index}/{relpath}"
        self.files.append(relpath)
        self.text, self.version = text, 1
        self.lsp.open(self.uri, "python", text, self.version)
        segments = segments_of(
            relpath, text, self.config.segments_per_file, self.config.max_keys_per_segment, self.rng
        )
        for segment in segments:
            if time.perf_counter() >= self.deadline:
                break
            self.type_segment(segment)
        self.lsp.notify("textDocument/didClose", {"textDocument": {"uri": self.uri}})


# ------------------------------------------------------------------ measures


def distribution(values: list[float]) -> dict[str, Any]:
    """Count, mean, p50/p95/p99 (nearest rank) and max of ``values`` in ms."""
    out = percentiles(values)
    out.setdefault("mean", None)
    for key in ("p50", "p95", "p99"):
        out.setdefault(key, None)
    out["max"] = max(values) if values else None
    return out


def model_size(model: str) -> dict[str, Any]:
    """Return the model directory and its size on disk (all files, and weights only)."""
    from models.loader import resolve_model_dir
    from models.training import portable_path

    path = resolve_model_dir(model)
    disk = model_disk_bytes(path)
    return {
        "model_path": portable_path(str(path)),
        "model_dir_bytes": disk["directory"],
        "weights_bytes": disk["weights"],
    }


def summarise(samples: list[Sample]) -> dict[str, Any]:
    """Client-side latency distributions, split by kind and by what served the request."""

    def ms(kind: str, cached: bool | None = None, following: bool | None = None) -> list[float]:
        return [
            s.ms
            for s in samples
            if s.kind == kind
            and s.outcome == "answered"
            and s.ms is not None
            and (cached is None or s.cached == cached)
            and (following is None or s.following == following)
        ]

    cache = [s.ms for s in samples if s.cached and s.outcome == "answered" and s.ms is not None]
    automatic = [s for s in samples if s.kind == "automatic"]
    follow = [s for s in automatic if s.following]
    typing = [s for s in automatic if not s.following]
    return {
        "automatic": distribution(ms("automatic", cached=False)),
        "automatic_all": distribution(ms("automatic")),
        "invoked": distribution(ms("invoked", cached=False)),
        "drafts": distribution(ms("drafts", cached=False)),
        "cache": distribution(cache),
        "counts": {
            "automatic_sent": len(automatic),
            "automatic_answered": sum(s.outcome == "answered" for s in automatic),
            "automatic_cancelled": sum(s.outcome == "cancelled" for s in automatic),
            "automatic_errors": sum(s.outcome == "error" for s in automatic),
            "unanswered": sum(s.outcome == "unanswered" for s in samples),
            "errors": sum(s.outcome == "error" for s in samples),
            "invoked": sum(s.kind == "invoked" for s in samples),
            "invoked_cached": sum(s.kind == "invoked" and s.cached for s in samples),
            "drafts": sum(s.kind == "drafts" for s in samples),
            "drafts_cached": sum(s.kind == "drafts" and s.cached for s in samples),
            "cache_hits": len(cache),
            "follow_keys": len(follow),
            "follow_cache_hits": sum(s.cached for s in follow),
            "typing_cache_hits": sum(s.cached for s in typing),
            "invoked_mean_drafts": statistics.fmean(
                [s.drafts for s in samples if s.kind == "invoked" and s.outcome == "answered"]
            )
            if any(s.kind == "invoked" and s.outcome == "answered" for s in samples)
            else None,
        },
    }


def targets(summary: dict[str, Any], server: dict[str, Any], memory: dict[str, Any]) -> list[dict]:
    """Each issue-8 target with the measured value (client side, end to end) and a verdict."""

    def check(name: str, value: float | None, target: Target) -> dict[str, Any]:
        ok = target.met(value)
        return {
            "metric": name,
            "value": value,
            "target": target.value,
            "unit": target.unit,
            "ok": ok,
        }

    cache_server = (server.get("cache") or {}).get("p50")
    return [
        check("automatic inline p50", summary["automatic"]["p50"], AUTOMATIC_P50),
        check("automatic inline p95", summary["automatic"]["p95"], AUTOMATIC_P95),
        check("invoked k=4 p50", summary["invoked"]["p50"], INVOKED_P50),
        check("cache hit p50 (client)", summary["cache"]["p50"], CACHE_P50),
        check("cache hit p50 (server)", cache_server, CACHE_P50),
        check("peak RSS", memory["peak_rss_bytes"] / 2**20, PEAK_RSS),
    ]


def markdown(result: dict[str, Any]) -> str:
    """A short markdown table of the latency run."""
    s = result["client_ms"]

    def f(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        f"# Latency while typing ({result['model']}, {result['mode']} mode)",
        "",
        f"{result['keys']} keys typed in {len(result['files'])} held-out files "
        f"({result['segments']} segments, {result['follow_keys']} keys following a shown draft), "
        f"{result['seconds']:.0f} s.",
        "",
        "| request (client side, end to end) | n | p50 ms | p95 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|---|",
    ]
    labels = {
        "automatic": "automatic inline (generated)",
        "automatic_all": "automatic inline (all answered)",
        "invoked": "invoked completion k=4 (generated)",
        "drafts": "superpose.drafts (generated)",
        "cache": "typing-through cache hits",
    }
    for key, label in labels.items():
        d = s[key]
        lines.append(
            f"| {label} | {d['count']} | {f(d['p50'])} | {f(d['p95'])} | {f(d['p99'])} | "
            f"{f(d['mean'])} |"
        )
    lines += ["", "| server side (superpose.status) | n | p50 ms | p95 ms |", "|---|---|---|---|"]
    for key, d in result["server_ms"].items():
        lines.append(f"| {key} | {d.get('count', 0)} | {f(d.get('p50'))} | {f(d.get('p95'))} |")
    lines += ["", "| target | measured | target | ok |", "|---|---|---|---|"]
    for t in result["targets"]:
        ok = "-" if t["ok"] is None else ("yes" if t["ok"] else "no")
        lines.append(
            f"| {t['metric']} | {f(t['value'])} {t['unit']} | <= {t['target']:.0f} | {ok} |"
        )
    c = s["counts"]
    lines += [
        "",
        f"Automatic requests: {c['automatic_sent']} sent, {c['automatic_answered']} answered, "
        f"{c['automatic_cancelled']} cancelled (superseded or $/cancelRequest), "
        f"{c['automatic_errors']} errors; {c['unanswered']} requests never answered. "
        f"Cache hits: {c['follow_cache_hits']}/{c['follow_keys']} keys following a draft, "
        f"{c['typing_cache_hits']} while typing the real file. "
        f"Peak RSS {result['memory']['peak_rss_bytes'] / 2**20:.0f} MiB; "
        f"model weights {result['model_size']['weights_bytes'] / 2**20:.1f} MiB on disk.",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ run


def run(model: str = "default", quick: bool = True, out: Path | None = None, **kw: Any) -> dict:
    """Run the typing simulation against a fresh server; return (and write) the results.

    ``kw``: ``mode`` ("smoke" | "quick" | "full", default from ``quick``), ``seed``,
    ``budget_s`` (typing time budget), ``files``, ``segments_per_file``, ``command``
    (server command line).
    """
    mode = kw.get("mode") or ("quick" if quick else "full")
    config = CONFIGS[mode]
    overrides = {k: kw[k] for k in ("seed", "budget_s", "files", "segments_per_file") if k in kw}
    if overrides:
        config = TypingConfig(**{**asdict(config), **overrides})
    rng = random.Random(config.seed)
    texts = heldout_texts(model, config, rng)
    load_before = os.getloadavg()  # other work on the machine skews every number
    started = time.perf_counter()
    lsp = TimedHarness(command=kw.get("command") or server_command())
    lsp.start()
    assert lsp.proc is not None
    sampler = RssSampler(lsp.proc.pid).start()
    try:
        lsp.initialize({"model": model, "drafts": 4, **config.server_options})
        status = lsp.wait_ready()
        if status["state"] != "ready":
            raise RuntimeError(f"server not ready: {status.get('state')} {status.get('error')}")
        load_s = time.perf_counter() - started
        session = Session(lsp, config, rng, deadline=time.perf_counter() + config.budget_s)
        for index, (relpath, text) in enumerate(texts):
            if time.perf_counter() >= session.deadline:
                break
            session.run_file(relpath, text, index)
        status = lsp.status()
    finally:
        memory = sampler.stop()
        lsp.stop()
    summary = summarise(session.samples)
    server = status.get("latency_ms", {})
    result = {
        "name": "latency",
        "mode": mode,
        "model": status.get("model") or model,
        "parameters": status.get("parameters"),
        "device": status.get("device"),
        "settings": status.get("settings"),
        "config": asdict(config),
        "files": session.files,
        "segments": session.segments,
        "keys": session.keys,
        "follow_keys": session.follow_keys,
        "cancel_requests_sent": session.cancel_requests,
        "server_load_s": load_s,
        "seconds": time.perf_counter() - started,
        "client_ms": summary,
        "server_ms": server,
        "samples": [asdict(s) for s in session.samples],
        "memory": memory,
        "model_size": model_size(model),
        "machine": {
            **machine_info(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
    }
    result["targets"] = targets(summary, server, memory)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "latency.json").write_text(json.dumps(result, indent=1))
        (out / "latency.md").write_text(markdown(result))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="'default' or a local HF model dir")
    parser.add_argument("--mode", choices=sorted(CONFIGS), default=None)
    parser.add_argument("--quick", action="store_true", help="same as --mode quick")
    parser.add_argument("--out", type=Path, default=Path("bench-out/latency"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    mode = args.mode or ("quick" if args.quick else "full")
    result = run(args.model, mode != "full", args.out, mode=mode, seed=args.seed)
    print(markdown(result))
    return 0


# ------------------------------------------------------------------ plug-in (benchmarks.plugin)


def rows(result: dict[str, Any]) -> list[Row]:
    """The summary rows of a latency run, one per target."""
    client, server = result["client_ms"], result["server_ms"]

    def n(kind: str) -> str:
        return f"(n={client[kind].get('count', 0)})"

    cache_server = (server.get("cache") or {}).get("p50")
    rss = result["memory"]["peak_rss_bytes"] / 2**20
    engine_n = f"(n={(server.get('cache') or {}).get('count', 0)})"
    return [
        row(
            "automatic inline p50", client["automatic"]["p50"], AUTOMATIC_P50, None, n("automatic")
        ),
        row(
            "automatic inline p95", client["automatic"]["p95"], AUTOMATIC_P95, None, n("automatic")
        ),
        row(
            "invoked k=4 completion p50", client["invoked"]["p50"], INVOKED_P50, None, n("invoked")
        ),
        row(
            "typing-through cache hit p50 (client)",
            client["cache"]["p50"],
            CACHE_P50,
            None,
            n("cache"),
        ),
        row("cache hit p50 (in the engine)", cache_server, CACHE_P50, None, engine_n),
        row("server peak RSS", rss, PEAK_RSS),
        row("model weights on disk", result["model_size"]["weights_bytes"] / 1e6, WEIGHTS),
    ]


def section(result: dict[str, Any]) -> str:
    """The report's latency section: the run's tables, then memory and model size."""
    memory, size = result["memory"], result["model_size"]
    hwm = (memory.get("vmhwm_bytes") or 0) / 2**20
    return markdown(result) + "\n".join(
        [
            "",
            "## Memory and model size",
            "",
            f"Peak RSS of the server process during the run: "
            f"{fmt(memory['peak_rss_bytes'] / 2**20, 'MiB')} (target {PEAK_RSS.text()}; "
            f"kernel high-water mark {fmt(hwm, 'MiB')}). Model on disk: "
            f"{fmt(size['weights_bytes'] / 1e6, 'MB')} of weights (target {WEIGHTS.text()}), "
            f"{fmt(size['model_dir_bytes'] / 1e6, 'MB')} with tokenizer and n-gram table.",
            "",
        ]
    )


CDF_KINDS = {  # kind -> (label, [(target, quantile)]) of the CDF figure
    "automatic": ("automatic inline (generated)", [(AUTOMATIC_P50, 0.5), (AUTOMATIC_P95, 0.95)]),
    "invoked": ("invoked k=4 completion (generated)", [(INVOKED_P50, 0.5)]),
    "drafts": ("superpose.drafts (generated)", []),
    "cache": ("typing-through cache hit", [(CACHE_P50, 0.5)]),
}


def figure_latency(result: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """CDFs of client-side latency per request kind with the targets as marked points;
    client p50/p95 and server p50 per kind beside them, each target over its bar."""
    import numpy as np

    from benchmarks.figures import (
        bars,
        legend_below,
        new_figure,
        over,
        save,
        target_line,
        target_mark,
    )

    fig, (ax, bx) = new_figure(ctx, "Latency while typing (end to end over LSP stdio)", 2)
    samples = result.get("samples", [])
    colors = ("C0", "C1", "C2", "C4")  # red is the targets' colour
    for color, (kind, (label, marks)) in zip(colors, CDF_KINDS.items(), strict=True):
        values = [
            s["ms"]
            for s in samples
            if s["ms"] is not None
            and (s["cached"] if kind == "cache" else s["kind"] == kind and not s["cached"])
        ]
        if values:
            xs = np.sort(np.asarray(values))
            ys = np.arange(1, len(xs) + 1) / len(xs)
            xs, ys = np.concatenate([xs[:1], xs]), np.concatenate([[0.0], ys])  # from 0
            ax.step(xs, ys, where="post", color=color, label=f"{label} (n={len(values)})")
        for target, quantile in marks:
            stat = "p50" if quantile == 0.5 else "p95"
            target_mark(ax, target, target.value, quantile, f"{stat} {target.text()}")
    ax.set_xscale("log")
    slowest = max([s["ms"] for s in samples if s["ms"] is not None] + [INVOKED_P50.value])
    ax.set_xlim(right=1.8 * slowest)
    ax.set_xlabel("client-side latency, ms (log); red X: targets (p50 at 0.5, p95 at 0.95)")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1.08)
    ax.grid(alpha=0.3)
    legend_below(ax, 2)
    client, server = result.get("client_ms", {}), result.get("server_ms", {})
    groups = ["automatic", "invoked", "cache"]
    series = {
        "client p50": [client.get(g, {}).get("p50") for g in groups],
        "client p95": [client.get(g, {}).get("p95") for g in groups],
        "server p50": [server.get(g, {}).get("p50") for g in groups],
    }
    placed = (  # (bar, target) pairs: each target over the bar it is about
        (("client p50", 0), AUTOMATIC_P50),
        (("client p95", 0), AUTOMATIC_P95),
        (("client p50", 1), INVOKED_P50),
        (("client p50", 2), CACHE_P50),
    )
    labels = []
    for g, group in enumerate(groups):
        goals = ", ".join(
            f"{'p95' if 'p95' in bar[0] else 'p50'} {t.text()}" for bar, t in placed if bar[1] == g
        )
        labels.append(f"{group} (n={client.get(group, {}).get('count', 0)})\n{goals}")
    positions = bars(
        bx, labels, series, pct=False, colors=dict(zip(series, colors[:3], strict=True))
    )
    for bar, target in placed:
        target_line(bx, target, span=over(positions[bar]), label="")
    bx.set_yscale("symlog", linthresh=1.0)
    bx.set_ylabel("ms (symlog); red dashes: targets")
    c = client.get("counts", {})
    bx.set_title(
        f"automatic: {c.get('automatic_sent', 0)} sent, {c.get('automatic_cancelled', 0)} "
        f"cancelled; {c.get('unanswered', 0)} unanswered",
        fontsize=8,
    )
    legend_below(bx)
    return save(fig, out / "latency.png")


def figure_memory(result: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """Server RSS over the latency run with the RSS target; the model's size on disk
    against its target."""
    from benchmarks.figures import legend_below, new_figure, save, target_line

    fig, (ax, bx) = new_figure(ctx, "Server memory while typing, and model size", 2)
    memory, size = result.get("memory", {}), result.get("model_size", {})
    series = memory.get("rss_series", [])
    if series:
        ax.plot([t for t, _ in series], [b / 2**20 for _, b in series], label="server RSS")
    peak = memory.get("peak_rss_bytes", 0) / 2**20
    ax.axhline(peak, color="C1", linestyle=":", label=f"peak {peak:.0f} MiB")
    target_line(ax, PEAK_RSS)
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since server start")
    ax.set_ylabel("MiB")
    ax.set_ylim(0, max(PEAK_RSS.value * 1.1, peak * 1.1))
    ax.set_title(f"{len(series)} RSS samples, {result.get('keys', '?')} keys typed", fontsize=8)
    ax.grid(alpha=0.3)
    legend_below(ax)
    weights = size.get("weights_bytes", 0) / 1e6
    whole = size.get("model_dir_bytes", 0) / 1e6
    names = ["weights", "model directory\n(tokenizer, n-grams)"]
    drawn = bx.bar(names, [weights, whole], color=["C2", "0.6"])
    for bar, value in zip(drawn, (weights, whole), strict=True):
        x = bar.get_x() + bar.get_width() / 2
        bx.annotate(f"{value:.1f}", (x, value), ha="center", va="bottom", fontsize=7)
    target_line(bx, WEIGHTS, span=(-0.4, 0.4), label=f"weights {WEIGHTS.text()}")
    bx.set_ylabel("MB on disk")
    bx.set_ylim(0, max(WEIGHTS.value, whole) * 1.15)
    return save(fig, out / "memory.png")


def run_plugin(mode: str, model: str, out: Path) -> dict[str, Any]:
    """``run`` as the report calls it: the mode picks the typing configuration."""
    return run(model, mode != "full", out, mode=mode)


PLUGIN = Benchmark(
    name="latency",
    title="Latency while typing",
    run=run_plugin,
    rows=rows,
    markdown=section,
    targets=(AUTOMATIC_P50, AUTOMATIC_P95, INVOKED_P50, CACHE_P50, PEAK_RSS, WEIGHTS),
    sizes={"smoke": {}, "quick": {}, "full": {}},
    figures=(figure_latency, figure_memory),
)


if __name__ == "__main__":
    sys.exit(main())
