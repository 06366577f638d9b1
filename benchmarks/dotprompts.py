"""DotPrompts for Python: every dereference point of held-out code, through the request path.

The benchmark follows the DotPrompts set of Agrawal et al. 2023 ("Guiding Language
Models of Code with Global Context using Monitors", NeurIPS), measured where people type
(issue 14, item 6): the points are **all** member accesses of the held-out files (every
``.`` of an ``attribute`` node of the tree-sitter tree, as ``scripts/resolution_coverage.py``
counts them), not only those the analysis resolves; the document is the file with the
rest of the line after the ``.`` cut out and **the code after it present**, as when a
person edits a function; the cursor sits after the ``.``; the target is the rest of the
line.

Every request runs what ships, :meth:`lsp_server.pipeline.CompletionPipeline.run`, with
:class:`PipelineOptions` flags per arm (``multiline="never"``; everything else, n-grams,
healing, FIM policy, verification, cleaning, ranking and the ``contextDefinitions``
default, as an invoked request of the server):

* ``greedy, monitor off`` / ``greedy, monitor on`` (k = 1),
* ``superposed k=4, monitor on`` (all drafts are judged),
* optional arms (``--arms``): ``superposed k=4, monitor off``, and the greedy monitored
  arm with the referenced definitions in the prompt flipped (issue 14, item 5).

The pipeline is measured through its own hooks (:class:`MeasuredPipeline`): the member
oracle the monitor asks is wrapped to time every answer, the monitor to time every step
(waiting: nothing masked; constrained: a mask applied); the cursor facts and the
definitions are timed by the pipeline itself (``facts_ms``, ``definitions_ms``). **Per-request
analysis time** = cursor facts + every member-oracle answer of the request + definitions.

**Resolved**: the request's oracle answers a member set for the receiver before the ``.``
(``facts.oracle.members("", 1)``). **Valid** (the first identifier of a draft, or of each
draft), judged per point, never guessed:

* the identifier the file itself spells there is valid (unless that line creates it by
  assignment and the draft does not assign it);
* else, where a member set is known -- the request's oracle, or the *judge*: the
  receiver resolved as a node of the complete original file
  (``PythonResolver.receiver_members``), which also reads literals, subscripts and
  ``super()`` -- the identifier is valid when it is in a set, or when it is a new
  attribute the draft assigns where the monitor allows one (``self.new = ...``), invalid
  otherwise;
* where no member set is known but the receiver's class and all its ancestors are (a
  class with ``__getattr__``), a name one of them declares is valid (``PythonResolver.declared_members`` of the complete file); any
  other identifier there is unknown;
* else the point is **unknown** (no analysis can tell): it counts as valid in no rate.
  "Valid over all points" is therefore a lower bound; the unknown share is reported
  beside it (valid + unknown is the upper bound).

Reported per arm: the valid-member rate over resolved points and over all points
(with the unknown share), next-identifier match (over all and resolved points), for k = 4
the per-draft valid rate, the share of points where every draft is valid and best-of-k
identifier match; per-request analysis time p50/p95 (all requests, and requests on files
of at least 2,000 lines, where ``--large-files`` more points are drawn and asked with the
greedy monitored arm and with superposed k=4, monitor on, the server's default: the
samples of the analysis-cost targets); the monitor's cost per
step. The targets read the points whose receiver is ``self`` or a name of an instance
of a class *fully defined in the file* (every class of its MRO is defined in the file
or is a builtin; decided by the judge) whose member set is closed (a class with
``__getattr__``, ``setattr`` targets, an unknown decorator or metaclass may have any
member, so no identifier can be judged there; such points are counted, not targeted):
the uniform sample's such points plus ``--in-file`` more drawn from them.

    python -m benchmarks.dotprompts --model default --prompts 300 --in-file 150 --seed 0
"""

from __future__ import annotations

import argparse
import contextlib
import random
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from analysis import context as context_module
from analysis import definitions as definitions_module
from analysis.builtin_types import BuiltinClass
from analysis.cursor import CursorFacts, cursor_facts
from analysis.document import Document
from analysis.languages import parser_for
from analysis.python_symbols import PyClass, PyModule
from analysis.python_types import InstanceType
from analysis.resolution import PythonResolver
from analysis.workspace import default_stdlib
from benchmarks.common import (
    add_model_arguments,
    first_identifier,
    heldout_files,
    machine_info,
    markdown_table,
    percentiles,
    rate,
    use_threads,
    write_outputs,
)
from benchmarks.plugin import Benchmark, Row, Target, fmt
from benchmarks.plugin import row as summary_row
from lsp_server.engine import settle_heap
from lsp_server.pipeline import CompletionPipeline, PipelineOptions
from lsp_server.settings import Settings
from models.decoding import LogitsConstraint
from models.loader import LoadedModel, load_model
from models.monitor import MemberMonitor, assignment_state
from models.ngram import NgramModel, WorkspaceNgrams, background_for
from models.training import portable_path

DEFAULT_OUT = Path("bench-out/dotprompts")
FULL_PROMPTS = 300
QUICK_PROMPTS = 40
FULL_IN_FILE = 150
QUICK_IN_FILE = 20
FULL_NEW_TOKENS = 24
QUICK_NEW_TOKENS = 16
LARGE_FILE_LINES = 2000  # the analysis-cost target is on files of this size
FULL_LARGE = 40  # more points in such files, for the analysis-cost targets
QUICK_LARGE = 10
ORACLE_TIMEOUT_S = 2.0  # an oracle answer slower than this counts as "unknown"
GREEDY_OFF, GREEDY_ON = "greedy, monitor off", "greedy, monitor on"
SUPERPOSED_ON, SUPERPOSED_OFF = "superposed k=4, monitor on", "superposed k=4, monitor off"
DEFINITIONS_FLIPPED = (
    f"greedy, monitor on, definitions {'off' if Settings.contextDefinitions else 'on'}"
)
ARMS: dict[str, dict[str, Any]] = {
    GREEDY_OFF: {"k": 1, "decoder": "greedy", "monitor": False},
    GREEDY_ON: {"k": 1, "decoder": "greedy", "monitor": True},
    SUPERPOSED_ON: {"k": 4, "decoder": "superposed", "monitor": True},
    SUPERPOSED_OFF: {"k": 4, "decoder": "superposed", "monitor": False},
    DEFINITIONS_FLIPPED: {
        "k": 1,
        "decoder": "greedy",
        "monitor": True,
        "definitions": not Settings.contextDefinitions,
    },
}
DEFAULT_ARMS = (GREEDY_OFF, GREEDY_ON, SUPERPOSED_ON)
# the arms asked at the large-file points: greedy, and the server's default decoding
LARGE_ARMS = (GREEDY_ON, SUPERPOSED_ON)
FULL_ARMS = (*DEFAULT_ARMS, SUPERPOSED_OFF, DEFINITIONS_FLIPPED)


class OracleTimeout(BaseException):
    """Raised inside a slow oracle call (a BaseException, so the oracle cannot swallow it)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`OracleTimeout` in the block after ``seconds`` (main thread, POSIX only)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise OracleTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------ points


@dataclass(frozen=True)
class DotPoint:
    """A member access of a held-out file: the ``.`` at code point ``dot`` of ``text``.

    ``judge``: the receiver's members resolved as a node of the complete file (None:
    unknown); ``declared``: where they are unknown, the names the receiver's class and
    its ancestors certainly declare (a lower bound); ``in_file_class``: the receiver is
    ``self`` or a name, of an instance of a class whose MRO is defined in this file (or
    builtin) and whose member set the judge knows; ``open_in_file_class``: such a class
    whose member set is open (``__getattr__``, ``setattr``, an unknown decorator or
    metaclass: any name may exist, so no identifier there can be judged).
    """

    source: str
    uri: str
    text: str = field(repr=False)
    dot: int
    receiver: str
    judge: frozenset[str] | None
    in_file_class: bool
    lines: int
    declared: frozenset[str] | None = None
    open_in_file_class: bool = False

    @property
    def document(self) -> str:
        """The file with the rest of the line after the ``.`` cut out."""
        line_end = self.text.find("\n", self.dot)
        return self.text[: self.dot + 1] + (self.text[line_end:] if line_end >= 0 else "")

    @property
    def offset(self) -> int:
        return self.dot + 1

    @property
    def target(self) -> str:
        line_end = self.text.find("\n", self.dot)
        return self.text[self.dot + 1 : line_end if line_end >= 0 else len(self.text)].rstrip()

    @property
    def target_assigned(self) -> bool:
        """The file's line assigns the name after the ``.`` (``self.x = ...``)."""
        name = first_identifier(self.target)
        rest = self.target[len(name) :]
        return bool(name and rest.strip()) and assignment_state(rest) is True

    @property
    def key(self) -> tuple[str, int]:
        return (self.source, self.dot)


def _fully_in_file(resolver: PythonResolver, module: PyModule, typ: Any) -> bool:
    if not isinstance(typ, InstanceType) or not isinstance(typ.cls, PyClass):
        return False
    if typ.cls.module is not module:
        return False
    mro = resolver.mro(typ.cls)
    return bool(mro) and all(
        isinstance(k, BuiltinClass) or (isinstance(k, PyClass) and k.module is module) for k in mro
    )


def file_points(source: str, path: Path, text: str) -> list[DotPoint]:
    """Every member access of ``text`` with the judge's facts (the complete file resolved)."""
    data = text.encode("utf-8", "surrogatepass")
    tree = parser_for("python").parse(data)
    stdlib = default_stdlib()
    module = PyModule(data, tree, path, stdlib.name_of(path), path.name == "__init__.py", True)
    resolver = PythonResolver(stdlib)
    lines = text.count("\n") + 1
    found: list[tuple[int, Any, str]] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != "attribute":
            continue
        obj = node.child_by_field_name("object")
        dot = next((c for c in node.children if c.type == "."), None)
        if obj is None or dot is None:
            continue
        found.append((dot.start_byte, obj, module.text(obj)))
    points = []
    for byte, obj, receiver in sorted(found, key=lambda item: item[0]):
        try:
            with deadline(ORACLE_TIMEOUT_S):
                judge = resolver.receiver_members(module, obj)
                resolver.home = module
                typ = resolver.expression_type(module, obj)
                in_file = obj.type == "identifier" and _fully_in_file(resolver, module, typ)
                declared = resolver.declared_members(typ) if judge is None else None
        except OracleTimeout:
            judge, in_file, declared = None, False, None
        dot = len(data[:byte].decode("utf-8", "surrogatepass"))
        closed = judge is not None  # an open class: every name may exist, none judged
        points.append(
            DotPoint(
                source,
                path.as_uri(),
                text,
                dot,
                receiver[-40:],
                judge,
                in_file and closed,
                lines,
                declared,
                in_file and not closed,
            )
        )
    return points


def heldout_points(files: Sequence[tuple[str, Path, str]]) -> list[DotPoint]:
    """Every member access of the held-out files, in file order."""
    return [point for source, path, text in files for point in file_points(source, path, text)]


def sample_points(
    points: Sequence[DotPoint], n: int, in_file: int, seed: int
) -> tuple[list[DotPoint], list[DotPoint]]:
    """(``n`` points drawn uniformly, ``in_file`` more in-file-class points not among them)."""
    rng = random.Random(seed)
    uniform = rng.sample(list(points), min(n, len(points)))
    taken = {p.key for p in uniform}
    rest = [p for p in points if p.in_file_class and p.key not in taken]
    extra = rng.sample(rest, min(in_file, len(rest)))
    return uniform, extra


def sample_large(
    points: Sequence[DotPoint], n: int, taken: set[tuple[str, int]], seed: int
) -> list[DotPoint]:
    """``n`` more points of files of at least :data:`LARGE_FILE_LINES` lines, not in ``taken``."""
    rest = [p for p in points if p.lines >= LARGE_FILE_LINES and p.key not in taken]
    return random.Random(f"large:{seed}").sample(rest, min(n, len(rest)))


def arms_at(sample: str, arms: Sequence[str]) -> list[str]:
    """The arms asked at a point of ``sample``: all of them, or at a large-file point those
    of :data:`LARGE_ARMS` (the analysis-cost sample of greedy and of the default decoding)."""
    return [arm for arm in arms if sample != "large" or arm in LARGE_ARMS]


def keystroke_percentiles(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95 of the next keystroke's analysis time over the rows that have one."""
    times = [r.get("keystroke_analysis_ms") for r in rows]
    return percentiles([t for t in times if t is not None], (50, 95))


def summarise_large(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-request analysis time on files of at least :data:`LARGE_FILE_LINES` lines."""
    return {
        "n": len(rows),
        "files": sorted({r["source"] for r in rows}),
        "analysis_ms": percentiles([r["analysis_ms"] for r in rows], (50, 95)),
        "keystroke_analysis_ms": keystroke_percentiles(rows),
        "facts_ms": percentiles([r["facts_ms"] for r in rows], (50, 95)),
        "oracle_ms": percentiles([r["oracle_ms"] for r in rows], (50, 95)),
    }


def large_rows(
    rows: Sequence[dict[str, Any]], points: dict[tuple[str, int], DotPoint]
) -> list[dict[str, Any]]:
    """The requests of ``rows`` in files of at least :data:`LARGE_FILE_LINES` lines."""
    return [r for r in rows if points[r["source"], r["dot"]].lines >= LARGE_FILE_LINES]


def resolved_at(point: DotPoint) -> frozenset[str] | None:
    """The request's answer (cursor facts' oracle) for the receiver before the ``.``."""
    doc = Document(point.uri, point.document, "python")
    try:
        with deadline(ORACLE_TIMEOUT_S):
            return cursor_facts(doc, point.offset).oracle.members("", 1)
    except OracleTimeout:
        return None


# ------------------------------------------------------------------ the measured pipeline


def _clocks() -> tuple[float, float]:
    """(wall, this thread's CPU) seconds."""
    return time.perf_counter(), time.thread_time()


@dataclass
class TimedOracle:
    """Wraps the request's member oracle: accumulates answer time; a too slow answer
    becomes None (unknown, no constraint)."""

    inner: Any
    wall: float = 0.0
    cpu: float = 0.0
    timeouts: int = 0

    def _timed(self, call: Any, default: Any) -> Any:
        wall, cpu = _clocks()
        try:
            with deadline(ORACLE_TIMEOUT_S):
                return call()
        except OracleTimeout:
            self.timeouts += 1
            return default
        finally:
            wall_end, cpu_end = _clocks()
            self.wall += wall_end - wall
            self.cpu += cpu_end - cpu

    @property
    def family(self) -> str | None:
        return getattr(self.inner, "family", None)

    def members(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        return self._timed(lambda: self.inner.members(extra, trim), None)

    def assignable(self, extra: str, trim: int = 0) -> bool:
        return self._timed(lambda: self.inner.assignable(extra, trim), False)

    def declared(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        ask = getattr(self.inner, "declared", None)
        return self._timed(lambda: ask(extra, trim), None) if callable(ask) else None


@dataclass
class MonitorTimes:
    """Per-call times (ms) of the monitor by step kind ("waiting"/"constrained") and clock."""

    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(
        self, kind: str, wall_ms: float, cpu_ms: float, wall_analysis: float, cpu_analysis: float
    ) -> None:
        for key, value in (
            (kind, wall_ms),
            (f"{kind}_excluding_analysis", wall_ms - wall_analysis),
            (f"{kind}_cpu", cpu_ms),
            (f"{kind}_cpu_excluding_analysis", cpu_ms - cpu_analysis),
        ):
            self.samples.setdefault(key, []).append(value)

    def summary(self) -> dict[str, Any]:
        return {key: percentiles(values, (50, 99)) for key, values in sorted(self.samples.items())}


class TimedMemberMonitor(MemberMonitor):
    """The pipeline's own monitor, each call timed (the instance's class is swapped, so
    the pipeline still finds it as its :class:`MemberMonitor`)."""

    times: MonitorTimes
    timed_oracle: TimedOracle | None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        oracle = self.timed_oracle
        before = (oracle.wall, oracle.cpu) if oracle is not None else (0.0, 0.0)
        wall, cpu = _clocks()
        out = super().__call__(input_ids, scores)
        wall_end, cpu_end = _clocks()
        after = (oracle.wall, oracle.cpu) if oracle is not None else (0.0, 0.0)
        kind = "waiting" if out is scores else "constrained"  # did the call mask anything?
        self.times.add(
            kind,
            (wall_end - wall) * 1000.0,
            (cpu_end - cpu) * 1000.0,
            (after[0] - before[0]) * 1000.0,
            (after[1] - before[1]) * 1000.0,
        )
        return out


@dataclass
class RequestLog:
    """What the hooks saw during one request."""

    resolved: frozenset[str] | None = None
    assignable: bool = False
    oracle: TimedOracle | None = None


class MeasuredPipeline(CompletionPipeline):
    """The shipped pipeline; its member oracle and monitor timed through its hooks."""

    def __init__(self, lm: LoadedModel, ngrams: Any = None) -> None:
        super().__init__(lm, ngrams)
        self.times = MonitorTimes()
        self.log = RequestLog()

    def member_oracle(self, doc: Document, facts: CursorFacts, removed: str) -> Any:
        inner = super().member_oracle(doc, facts, removed)
        cursor = TimedOracle(facts.oracle) if facts.oracle is not None else None
        if cursor is not None:  # the answer the monitor asks first (then cached)
            self.log.resolved = cursor.members("", 1)
            self.log.assignable = bool(self.log.resolved) and cursor.assignable("", 1)
        timed = TimedOracle(inner) if inner is not None else None
        if timed is not None and cursor is not None:
            timed.wall, timed.cpu = cursor.wall, cursor.cpu
        self.log.oracle = timed or cursor
        return timed

    def constraints(self, *args: Any, **kwargs: Any) -> list[LogitsConstraint]:
        found = super().constraints(*args, **kwargs)
        for constraint in found:
            if isinstance(constraint, MemberMonitor):
                constraint.__class__ = TimedMemberMonitor
                constraint.times = self.times  # type: ignore[attr-defined]
                constraint.timed_oracle = self.log.oracle  # type: ignore[attr-defined]
        return found


def new_pipeline(lm: LoadedModel) -> MeasuredPipeline:
    """A pipeline with the model's background n-grams and a workspace table (the document
    is added to it per request, as the engine keeps open documents)."""
    background = background_for(lm.path, lm.tokenizer, lm.vocab_size)
    pipeline = MeasuredPipeline(lm, NgramModel(background, WorkspaceNgrams(lm.vocab_size)))
    settle_heap()  # as the server does once its model is loaded
    return pipeline


# ------------------------------------------------------------------ judging


def verdict(draft: str, point: DotPoint, resolved: frozenset[str] | None, assignable: bool) -> str:
    """``valid``, ``invalid`` or ``unknown`` for the identifier a draft spells after the ``.``
    (see the module docstring)."""
    ident = first_identifier(draft)
    rest = draft[len(ident) :]
    assigns = bool(ident and rest.strip()) and assignment_state(rest) is True
    closed = [s for s in (resolved, point.judge) if s is not None]
    member = bool(ident) and any(ident in s for s in (*closed, point.declared or ()))
    if ident and ident == first_identifier(point.target):
        if member or not point.target_assigned or assigns:
            return "valid"
    if member:
        return "valid"
    if not closed:
        return "unknown"
    if assignable and assigns:
        return "valid"
    return "invalid"


def complete(
    pipeline: MeasuredPipeline,
    point: DotPoint,
    arm: str,
    options: PipelineOptions,
    keystroke: bool = False,
) -> dict[str, Any]:
    """One request of ``arm`` at ``point`` through the pipeline, with cold caches; the
    drafts judged. With ``keystroke``, the request is followed by the next one a person
    typing would cause (the target's first character typed into the same document, kept
    as the server keeps it), whose analysis time is recorded as ``keystroke_analysis_ms``."""
    document = point.document
    doc = Document(point.uri, document, "python")
    ngrams = pipeline.ngrams
    if ngrams is not None:  # the open document is part of the workspace n-grams
        ngrams.workspace.set_document(point.uri, pipeline.lm.encode(document))
    definitions_module.clear_cache()  # every point is a cold request
    context_module.clear_environments()
    pipeline.log = RequestLog()
    started = time.perf_counter()
    result = pipeline.run(doc, point.offset, options)
    ms = (time.perf_counter() - started) * 1000.0
    log = pipeline.log
    typed_ms = None
    if keystroke and point.target[:1].strip():
        doc.apply_change(point.offset, point.offset, point.target[0])
        pipeline.log = RequestLog()
        after = pipeline.run(doc, point.offset + 1, options).timings
        oracle = pipeline.log.oracle
        typed_ms = after.get("facts_ms", 0.0) + after.get("definitions_ms", 0.0)
        typed_ms = round(typed_ms + (oracle.wall * 1000.0 if oracle is not None else 0.0), 3)
    if ngrams is not None:
        ngrams.workspace.remove_document(point.uri)
    texts = [d.text for d in result.drafts]
    target = first_identifier(point.target)
    verdicts = [verdict(t, point, log.resolved, log.assignable) for t in texts or [""]]
    timings = result.timings
    oracle_ms = (log.oracle.wall * 1000.0) if log.oracle is not None else 0.0
    facts_ms, definitions_ms = timings.get("facts_ms", 0.0), timings.get("definitions_ms", 0.0)
    return {
        "arm": arm,
        "drafts": texts,
        "identifiers": [first_identifier(t) for t in texts],
        "verdicts": verdicts,
        "match": [first_identifier(t) == target for t in texts] or [False],
        "resolved": log.resolved is not None,
        "constrained_steps": sum(
            d.stats.get("monitor_constrained_steps", 0) for d in result.drafts[:1]
        ),
        "definitions_tokens": result.prompt.definitions_tokens if result.prompt else 0,
        "facts_ms": facts_ms,
        "definitions_ms": definitions_ms,
        "oracle_ms": round(oracle_ms, 3),
        "analysis_ms": round(facts_ms + definitions_ms + oracle_ms, 3),
        "keystroke_analysis_ms": typed_ms,
        "oracle_timeouts": log.oracle.timeouts if log.oracle is not None else 0,
        "ms": round(ms, 2),
    }


# ------------------------------------------------------------------ summaries


def _share(flags: Sequence[bool]) -> float | None:
    return rate(list(flags))


def summarise_arm(rows: Sequence[dict[str, Any]], points: dict[tuple[str, int], DotPoint]) -> dict:
    """The rates of one arm over its requests (``rows``), see the module docstring."""
    first = [r["verdicts"][0] for r in rows]
    resolved = [r for r in rows if r["resolved"]]
    drafts = [v for r in rows for v in r["verdicts"]]
    resolved_drafts = [v for r in resolved for v in r["verdicts"]]
    large = large_rows(rows, points)
    return {
        "n": len(rows),
        "resolved": len(resolved),
        "valid_resolved": _share([r["verdicts"][0] == "valid" for r in resolved]),
        "valid_all": _share([v == "valid" for v in first]),
        "invalid_all": _share([v == "invalid" for v in first]),
        "unknown_all": _share([v == "unknown" for v in first]),
        "identifier_match": _share([r["match"][0] for r in rows]),
        "identifier_match_resolved": _share([r["match"][0] for r in resolved]),
        "drafts_per_point": rate([len(r["drafts"]) for r in rows]),
        "draft_valid_resolved": _share([v == "valid" for v in resolved_drafts]),
        "draft_valid_all": _share([v == "valid" for v in drafts]),
        "all_drafts_valid_resolved": _share(
            [all(v == "valid" for v in r["verdicts"]) for r in resolved]
        ),
        "best_of_k_identifier_match": _share([any(r["match"]) for r in rows]),
        "mean_constrained_steps": rate([r["constrained_steps"] for r in rows]),
        "mean_definitions_tokens": rate([r["definitions_tokens"] for r in rows]),
        "analysis_ms": percentiles([r["analysis_ms"] for r in rows], (50, 95)),
        "analysis_ms_large_files": percentiles([r["analysis_ms"] for r in large], (50, 95)),
        "keystroke_analysis_ms": keystroke_percentiles(rows),
        "keystroke_analysis_ms_large_files": keystroke_percentiles(large),
        "facts_ms": percentiles([r["facts_ms"] for r in rows], (50, 95)),
        "oracle_ms": percentiles([r["oracle_ms"] for r in rows], (50, 95)),
        "definitions_ms": percentiles([r["definitions_ms"] for r in rows], (50, 95)),
        "completion_ms": percentiles([r["ms"] for r in rows], (50, 95)),
    }


def summarise_in_file(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Valid rates at the in-file-class points (the issue's target set)."""
    return {
        "n": len(rows),
        "valid_first": _share([r["verdicts"][0] == "valid" for r in rows]),
        "all_drafts_valid": _share([all(v == "valid" for v in r["verdicts"]) for r in rows]),
        "draft_valid": _share([v == "valid" for r in rows for v in r["verdicts"]]),
        "identifier_match": _share([r["match"][0] for r in rows]),
    }


def coverage(points: Sequence[DotPoint], progress: bool = False) -> dict[str, Any]:
    """The resolved share of ``points`` (the request's oracle), analysis only."""
    resolved = 0
    sound = []
    for index, point in enumerate(points):
        members = resolved_at(point)
        if members is not None:
            resolved += 1
            name = first_identifier(point.target)
            sound.append(name in members or point.target_assigned)
        if progress and (index + 1) % 500 == 0:
            print(f"  coverage {index + 1}/{len(points)}", file=sys.stderr)
    return {
        "points": len(points),
        "resolved": resolved,
        "share": round(resolved / max(1, len(points)), 4),
        "target_allowed": rate(sound),
    }


# ------------------------------------------------------------------ report


def markdown(report: dict[str, Any]) -> str:
    """Return the markdown section of a report."""
    arms, o = report.get("arms", {}), report.get("monitor_overhead_ms", {})
    p, cov, inf = report.get("points", {}), report.get("coverage", {}), report.get("in_file", {})
    quality = [
        [
            name,
            a.get("n"),
            fmt(a.get("valid_resolved"), "%"),
            fmt(a.get("valid_all"), "%"),
            fmt(a.get("unknown_all"), "%"),
            fmt(a.get("identifier_match"), "%"),
            fmt(a.get("draft_valid_resolved"), "%"),
            fmt(a.get("all_drafts_valid_resolved"), "%"),
            fmt(a.get("best_of_k_identifier_match"), "%"),
            fmt(inf.get(name, {}).get("valid_first"), "%"),
            fmt(inf.get(name, {}).get("all_drafts_valid"), "%"),
        ]
        for name, a in arms.items()
    ]
    cost = [
        [
            name,
            a.get("analysis_ms", {}).get("p50"),
            a.get("analysis_ms", {}).get("p95"),
            a.get("analysis_ms_large_files", {}).get("p50"),
            a.get("analysis_ms_large_files", {}).get("count", 0),
            a.get("keystroke_analysis_ms", {}).get("p50"),
            a.get("keystroke_analysis_ms_large_files", {}).get("p50"),
            a.get("facts_ms", {}).get("p50"),
            a.get("oracle_ms", {}).get("p50"),
            a.get("definitions_ms", {}).get("p50"),
            a.get("mean_definitions_tokens"),
            a.get("completion_ms", {}).get("p50"),
        ]
        for name, a in arms.items()
    ]
    steps = []
    for kind in ("waiting", "constrained"):
        step: list[Any] = [kind, o.get(kind, {}).get("count", 0)]
        for key in (kind, f"{kind}_excluding_analysis", f"{kind}_cpu_excluding_analysis"):
            step += [o.get(key, {}).get("p50"), o.get(key, {}).get("p99")]
        steps.append(step)
    in_file_n = max((v.get("n", 0) for v in inf.values()), default=0)
    big = report.get("large_files") or {}
    large_line = (
        f"Every greedy monitored request on files of >= {LARGE_FILE_LINES} lines "
        f"({big.get('n', 0)}, {p.get('large_extra', 0)} of them drawn for this; "
        f"{', '.join(big.get('files', [])) or 'none'}): analysis p50 / p95 "
        f"**{fmt(big.get('analysis_ms', {}).get('p50'), 'ms')}** / "
        f"{fmt(big.get('analysis_ms', {}).get('p95'), 'ms')} (cursor facts p50 "
        f"{fmt(big.get('facts_ms', {}).get('p50'), 'ms')}, oracle p50 "
        f"{fmt(big.get('oracle_ms', {}).get('p50'), 'ms')}); next keystroke p50 "
        f"{fmt(big.get('keystroke_analysis_ms', {}).get('p50'), 'ms')}; environments "
        f"re-parse the {report.get('environment_parse', 'whole document')}."
    )
    k4 = report.get("large_files_superposed") or {}
    if k4.get("n"):  # the server's default decoding at the same points
        large_line += (
            f" Superposed k=4, monitor on (the server's default), every request there "
            f"({k4['n']}): analysis p50 / p95 **{fmt(k4['analysis_ms'].get('p50'), 'ms')}** / "
            f"{fmt(k4['analysis_ms'].get('p95'), 'ms')} (oracle p50 "
            f"{fmt(k4['oracle_ms'].get('p50'), 'ms')}: its k drafts ask about more receivers)."
        )
    return "\n".join(
        [
            f"## DotPrompts (Python), every dereference point: {report['model']['name']}",
            "",
            f"`{report['command']}` on {report['machine']['cpu']} "
            f"({report['settings']['threads']} torch thread(s); a loaded machine: times are "
            f"wall times). {p.get('uniform', '?')} points drawn uniformly from all "
            f"{p.get('pool', '?')} member accesses of {p.get('files', '?')} held-out files "
            f"(code after the cursor present), plus {p.get('in_file_extra', 0)} more whose "
            f"receiver is an instance of a class fully defined in the file, with a closed "
            f"member set ({in_file_n} such points in all; "
            f"{p.get('pool_open_in_file_class', '?')} more of the pool are of in-file "
            f"classes whose members are open, e.g. by `__getattr__`, and are not "
            f"judged there). Resolved share (the request's oracle) over "
            f"{cov.get('points', '?')} points: **{fmt(cov.get('share'), '%')}** "
            f"({cov.get('scope', '')}); real continuation allowed at resolved points: "
            f"{fmt(cov.get('target_allowed'), '%')}. Definitions in the prompt (item 5): "
            f"{'on' if report['settings'].get('definitions') else 'off'} by default.",
            "",
            "Valid: the identifier after the `.` is the file's own, or in a member set the "
            "analysis knows (the request's oracle or the complete file's), or a new attribute "
            "the draft assigns where allowed; where no analysis knows the receiver's members "
            "a different identifier is *unknown* and never counted valid (valid over all "
            "points is a lower bound, + unknown the upper bound).",
            "",
            markdown_table(
                [
                    "arm",
                    "points",
                    "valid / resolved",
                    "valid / all",
                    "unknown / all",
                    "next-identifier EM",
                    "drafts valid / resolved",
                    "all drafts valid / resolved",
                    "best-of-k identifier",
                    "valid, in-file class",
                    "all drafts valid, in-file class",
                ],
                quality,
            ),
            "Per-request analysis (cursor facts + member oracle answers + definitions), ms, "
            "on a fresh document (each point a new document, caches cleared); *next "
            "keystroke*: the request after the target's first character is typed into the "
            "same document:",
            "",
            markdown_table(
                [
                    "arm",
                    "p50",
                    "p95",
                    f"p50, files >= {LARGE_FILE_LINES} lines",
                    "requests there",
                    "next keystroke p50",
                    f"next keystroke p50, >= {LARGE_FILE_LINES} lines",
                    "facts p50",
                    "oracle p50",
                    "definitions p50",
                    "definition tokens (mean)",
                    "request p50",
                ],
                cost,
            ),
            large_line,
            "",
            "Monitor cost per constraint call (ms; wall, wall without the oracle's share, "
            "CPU without it):",
            "",
            markdown_table(
                [
                    "step",
                    "calls",
                    "p50",
                    "p99",
                    "p50 excl. analysis",
                    "p99 excl. analysis",
                    "CPU p50 excl. analysis",
                    "CPU p99 excl. analysis",
                ],
                steps,
            ),
        ]
    )


def arm_options(arm: str, max_new_tokens: int) -> PipelineOptions:
    """The invoked request's options with the arm's flags, single line."""
    return replace(PipelineOptions(max_new_tokens=max_new_tokens, multiline="never"), **ARMS[arm])


def run(
    model: str = "default",
    quick: bool = False,
    out: Path = DEFAULT_OUT,
    prompts: int | None = None,
    in_file: int | None = None,
    seed: int = 0,
    threads: int = 1,
    max_new_tokens: int | None = None,
    arms: Sequence[str] | None = None,
    all_coverage: bool | None = None,
    progress: bool = False,
    large: int | None = None,
) -> dict[str, Any]:
    """Run DotPrompts; write ``dotprompts.json``/``dotprompts.md`` to ``out``.

    ``large``: more points of files of at least :data:`LARGE_FILE_LINES` lines, asked with
    the :data:`LARGE_ARMS` among ``arms`` only: the sample of the analysis-cost targets."""
    started = time.perf_counter()
    wanted = prompts if prompts is not None else (QUICK_PROMPTS if quick else FULL_PROMPTS)
    extra = in_file if in_file is not None else (QUICK_IN_FILE if quick else FULL_IN_FILE)
    max_new_tokens = max_new_tokens or (QUICK_NEW_TOKENS if quick else FULL_NEW_TOKENS)
    large = large if large is not None else (QUICK_LARGE if quick else FULL_LARGE)
    arms = list(arms or DEFAULT_ARMS)
    all_coverage = (not quick) if all_coverage is None else all_coverage
    # 1. the model, the held-out files and every member access in them
    lm = load_model(model, device="cpu")
    use_threads(threads)
    files = [(f.relpath, f.path, f.read()) for f in heldout_files(lm.path)]
    pool = heldout_points(files)
    uniform, in_file_extra = sample_points(pool, wanted, extra, seed)
    taken = {p.key for p in (*uniform, *in_file_extra)}
    large_extra = sample_large(pool, large, taken, seed) if arms_at("large", arms) else []
    points = {p.key: p for p in (*uniform, *in_file_extra, *large_extra)}
    # 2. the resolved share: every point (full) or the uniform sample (quick)
    covered = pool if all_coverage else uniform
    cov = coverage(covered, progress)
    cov["scope"] = "every member access" if all_coverage else "the uniform sample"
    # 3. every point through the pipeline, once per arm
    pipeline = new_pipeline(lm)
    rows: list[dict[str, Any]] = []
    for index, point in enumerate([*uniform, *in_file_extra, *large_extra]):
        sample = "uniform" if index < len(uniform) else "in_file"
        if index >= len(uniform) + len(in_file_extra):
            sample = "large"
        for arm in arms_at(sample, arms):
            options = arm_options(arm, max_new_tokens)
            row = complete(pipeline, point, arm, options, keystroke=arm == GREEDY_ON)
            row.update(
                source=point.source,
                dot=point.dot,
                receiver=point.receiver,
                target=point.target,
                judge_known=point.judge is not None,
                in_file_class=point.in_file_class,
                uniform=sample == "uniform",
                sample=sample,
            )
            rows.append(row)
        if progress and (index + 1) % 10 == 0:
            print(f"  completed {index + 1}/{len(points)} points", file=sys.stderr)
    by_arm = {arm: [r for r in rows if r["arm"] == arm] for arm in arms}
    command = (
        f"python -m benchmarks.dotprompts --model {model} --prompts {wanted} "
        f"--in-file {extra} --seed {seed} --max-new-tokens {max_new_tokens}"
        + "".join(f" --arm '{arm}'" for arm in arms if arm not in DEFAULT_ARMS)
        + (" --quick" if quick else "")
        + (" --all-coverage" if all_coverage and quick else "")
        + f" --large-files {large}"
    )
    report: dict[str, Any] = {
        "benchmark": "dotprompts",
        "command": command,
        "model": {
            "spec": model,
            "name": lm.name,
            "path": portable_path(str(lm.path)),
            "parameters": lm.parameter_count(),
            "vocab_size": lm.vocab_size,
        },
        "machine": machine_info(),
        "settings": {
            "quick": quick,
            "prompts": wanted,
            "in_file": extra,
            "seed": seed,
            "threads": torch.get_num_threads(),
            "max_new_tokens": max_new_tokens,
            "arms": arms,
            "definitions": Settings.contextDefinitions,
        },
        "points": {
            "pool": len(pool),
            "pool_in_file_class": sum(p.in_file_class for p in pool),
            "pool_open_in_file_class": sum(p.open_in_file_class for p in pool),
            "pool_judge_known": sum(p.judge is not None for p in pool),
            "files": len(files),
            "uniform": len(uniform),
            "in_file_extra": len(in_file_extra),
            "large_extra": len(large_extra),
        },
        "coverage": cov,
        "arms": {
            arm: summarise_arm([r for r in arm_rows if r["uniform"]], points)
            for arm, arm_rows in by_arm.items()
        },
        "in_file": {
            arm: summarise_in_file(
                [r for r in arm_rows if r["in_file_class"] and r.get("sample") != "large"]
            )
            for arm, arm_rows in by_arm.items()
        },
        # every request of the arm on large files (uniform, in-file and large-file points)
        "large_files": summarise_large(large_rows(by_arm.get(GREEDY_ON, []), points)),
        "large_files_superposed": summarise_large(
            large_rows(by_arm.get(SUPERPOSED_ON, []), points)
        ),
        "monitor_overhead_ms": pipeline.times.summary(),
        "rows": rows,
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["environment_parse"] = environment_parse()
    write_outputs(Path(out), "dotprompts", report, markdown(report))
    return report


def environment_parse() -> str:
    """What each request's analysis environment re-parses (--whole-reparse and
    --statement-ranges: the analysis before each change, for comparisons)."""
    if context_module.RANGE_PARSE_SHARE < 0:
        return "whole document"
    if not context_module.BODY_RANGES:
        return "top-level statements around the edit"
    return (
        "top-level statements around the edit (for an edit in a class's body: the class's "
        "header and the body statements around the edit)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(parser, DEFAULT_OUT)
    parser.add_argument("--prompts", type=int, default=None, help="uniform points: 300 (quick 40)")
    parser.add_argument(
        "--in-file", type=int, default=None, help="more in-file-class points: 150 (quick 20)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer points, short drafts")
    parser.add_argument(
        "--arm",
        action="append",
        choices=sorted(ARMS),
        default=None,
        help=f"add an arm (default: {', '.join(DEFAULT_ARMS)}; --arm full: all of them)",
    )
    parser.add_argument(
        "--all-coverage", action="store_true", help="resolved share over every point (quick too)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=None, help="24 (quick: 16)")
    parser.add_argument(
        "--large-files",
        type=int,
        default=None,
        help=f"more points in files of >= {LARGE_FILE_LINES} lines, asked with the greedy and "
        f"the superposed monitored arms only, for the analysis-cost targets: {FULL_LARGE} "
        f"(quick {QUICK_LARGE})",
    )
    parser.add_argument(
        "--whole-reparse",
        action="store_true",
        help="every analysis environment re-parses the whole document instead of the "
        "top-level statements around the edit (the analysis before; for comparisons)",
    )
    parser.add_argument(
        "--statement-ranges",
        action="store_true",
        help="an edit in a class's body re-parses the whole class, not only its header and "
        "the body statements around the edit (the analysis before; for comparisons)",
    )
    args = parser.parse_args(argv)
    if args.whole_reparse:
        context_module.RANGE_PARSE_SHARE = -1.0
    if args.statement_ranges:
        context_module.BODY_RANGES = False
    if (args.prompts is not None and args.prompts < 1) or args.threads < 0:
        print("dotprompts: --prompts must be >= 1 and --threads >= 0", file=sys.stderr)
        return 2
    if args.large_files is not None and args.large_files < 0:
        print("dotprompts: --large-files must be >= 0", file=sys.stderr)
        return 2
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        print("dotprompts: --max-new-tokens must be >= 1", file=sys.stderr)
        return 2
    from models.loader import ModelLoadError

    arms = list(DEFAULT_ARMS) + [a for a in (args.arm or []) if a not in DEFAULT_ARMS]
    try:
        report = run(
            args.model,
            args.quick,
            args.out,
            prompts=args.prompts,
            in_file=args.in_file,
            seed=args.seed,
            threads=args.threads,
            max_new_tokens=args.max_new_tokens,
            arms=arms,
            all_coverage=True if args.all_coverage else None,
            progress=True,
            large=args.large_files,
        )
    except ModelLoadError as exc:
        print(f"dotprompts: {exc}", file=sys.stderr)
        return 2
    print(markdown(report))
    print(f"wrote {Path(args.out) / 'dotprompts.json'} in {report['seconds']} s", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ plug-in (benchmarks.plugin)

# the targets of issues 5 and 14, declared once (report, README summary and figure read them)
VALID = Target(
    "dotprompts.valid_member",
    "valid first identifier at `self.`/`obj.` of in-file classes, greedy, monitor on",
    ">=",
    0.99,
    "%",
    "issue 14",
)
VALID_DRAFTS = Target(
    "dotprompts.valid_drafts",
    "all k=4 superposed drafts valid at `self.`/`obj.` of in-file classes, monitor on",
    ">=",
    0.99,
    "%",
    "issue 14",
)
IDENTIFIER = Target(
    "dotprompts.next_identifier_gain",
    "next-identifier match at every `.`, monitor on minus off (greedy)",
    ">",
    0.0,
    "pp",
    "issue 5",
)
RESOLVED = Target(
    "dotprompts.resolved_share",
    "resolved share of every `.` of held-out code (39.9 % before issue 14)",
    ">=",
    0.599,
    "%",
    "issue 14 (+20 points)",
)
ANALYSIS = Target(
    "dotprompts.analysis_ms",
    f"analysis per request p50, files of >= {LARGE_FILE_LINES} lines (greedy, monitor on)",
    "<",
    5.0,
    "ms",
    "issue 14",
)
ANALYSIS_DEFAULT = Target(  # the same target for the server's default decoding
    "dotprompts.analysis_ms_superposed",
    f"analysis per request p50, files of >= {LARGE_FILE_LINES} lines "
    "(superposed k=4, monitor on: the server's default)",
    "<",
    5.0,
    "ms",
    "issue 14",
)
WAITING = Target(
    "dotprompts.waiting_step", "monitor waiting step p50 (monitor only)", "<", 0.1, "ms", "issue 5"
)
CONSTRAINED = Target(
    "dotprompts.constrained_step",
    "monitor constrained step p50 (with analysis)",
    "<",
    2.0,
    "ms",
    "issue 5",
)
QUALITY_GROUPS = {  # figure group -> (key of the arm summary or of in_file, from in_file)
    "valid,\nin-file class": ("valid_first", True),
    "all drafts valid,\nin-file class": ("all_drafts_valid", True),
    "valid /\nresolved": ("valid_resolved", False),
    "valid / all\n(lower bound)": ("valid_all", False),
    "next\nidentifier": ("identifier_match", False),
}
STEP_GROUPS = {  # figure group -> key of monitor_overhead_ms
    "waiting\n(monitor)": "waiting_excluding_analysis",
    "constrained\n(with analysis)": "constrained",
}


def plugin_rows(result: dict[str, Any]) -> list[Row]:
    """One row per target, plus the resolved/all-point valid rates."""
    arms, inf = result.get("arms", {}), result.get("in_file", {})
    overhead, cov = result.get("monitor_overhead_ms", {}), result.get("coverage", {})
    on, off, k4 = arms.get(GREEDY_ON, {}), arms.get(GREEDY_OFF, {}), arms.get(SUPERPOSED_ON, {})
    on_in, k4_in = inf.get(GREEDY_ON, {}), inf.get(SUPERPOSED_ON, {})
    ident_on, ident_off = on.get("identifier_match"), off.get("identifier_match")
    gain = None if ident_on is None or ident_off is None else ident_on - ident_off
    n = f"{on.get('n', '?')} points"
    waiting = overhead.get("waiting_excluding_analysis", {})
    constrained = overhead.get("constrained", {})
    sample = result.get("large_files")  # all greedy monitored requests on large files
    large = sample["analysis_ms"] if sample else on.get("analysis_ms_large_files", {})
    keystroke = (sample or {}).get("keystroke_analysis_ms") or on.get(
        "keystroke_analysis_ms_large_files", {}
    )
    default = result.get("large_files_superposed")  # the same for the server's default
    large_k4 = default["analysis_ms"] if default else k4.get("analysis_ms_large_files", {})
    return [
        summary_row(
            VALID.label,
            on_in.get("valid_first"),
            VALID,
            None,
            f"(off {fmt(inf.get(GREEDY_OFF, {}).get('valid_first'), '%')}; "
            f"{on_in.get('n', '?')} points)",
        ),
        summary_row(
            VALID_DRAFTS.label,
            k4_in.get("all_drafts_valid"),
            VALID_DRAFTS,
            None,
            f"(each draft {fmt(k4_in.get('draft_valid'), '%')}; {k4_in.get('n', '?')} points)",
        ),
        summary_row(
            "valid first identifier, greedy, monitor on: resolved points / all points",
            on.get("valid_resolved"),
            None,
            "%",
            f"/ {fmt(on.get('valid_all'), '%')} (unknown {fmt(on.get('unknown_all'), '%')}; "
            f"{on.get('resolved', '?')} of {n} resolved)",
        ),
        summary_row(
            IDENTIFIER.label,
            gain,
            IDENTIFIER,
            None,
            f"(on {fmt(ident_on, '%')}, off {fmt(ident_off, '%')}; {n})",
        ),
        summary_row(
            RESOLVED.label,
            cov.get("share"),
            RESOLVED,
            None,
            f"({cov.get('resolved', '?')} of {cov.get('points', '?')})",
        ),
        summary_row(
            ANALYSIS.label,
            large.get("p50"),
            ANALYSIS,
            None,
            f"(fresh document; p95 {fmt(large.get('p95'), 'ms')}, n={large.get('count', 0)}; next "
            f"keystroke p50 {fmt(keystroke.get('p50'), 'ms')}"
            f"; all files p50 {fmt(on.get('analysis_ms', {}).get('p50'), 'ms')})",
        ),
        summary_row(
            ANALYSIS_DEFAULT.label,
            large_k4.get("p50"),
            ANALYSIS_DEFAULT,
            None,
            f"(fresh document; p95 {fmt(large_k4.get('p95'), 'ms')}, "
            f"n={large_k4.get('count', 0)}; all files p50 "
            f"{fmt(k4.get('analysis_ms', {}).get('p50'), 'ms')})",
        ),
        summary_row(
            "superposed k=4, monitor on: every draft valid / resolved points",
            k4.get("all_drafts_valid_resolved"),
            None,
            "%",
            f"(best-of-4 identifier {fmt(k4.get('best_of_k_identifier_match'), '%')})",
        ),
        summary_row(
            WAITING.label, waiting.get("p50"), WAITING, None, f"(n={waiting.get('count', 0)} steps)"
        ),
        summary_row(
            CONSTRAINED.label,
            constrained.get("p50"),
            CONSTRAINED,
            None,
            f"(n={constrained.get('count', 0)} steps)",
        ),
    ]


def figure(result: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """Validity and identifier match per arm (monitor off is the baseline) with the
    resolved share, and the per-request analysis time and monitor step cost, each with
    its targets."""
    from benchmarks.figures import (
        BASELINE_COLOR,
        bars,
        legend_below,
        new_figure,
        over,
        save,
        target_line,
    )

    fig, (ax, bx) = new_figure(
        ctx, "DotPrompts: every `.` of held-out code, through the request path", 2
    )
    arms, inf, cov = result.get("arms", {}), result.get("in_file", {}), result.get("coverage", {})
    groups = ["resolved\nshare", *QUALITY_GROUPS]
    series = {}
    for arm in arms:
        values: list[float | None] = [cov.get("share") if arm == GREEDY_ON else None]
        for key, in_file in QUALITY_GROUPS.values():
            values.append((inf if in_file else arms).get(arm, {}).get(key))
        series[arm] = values
    colors = {GREEDY_OFF: BASELINE_COLOR, SUPERPOSED_OFF: "0.7"}
    placed = bars(ax, groups, series, pct=True, colors=colors)
    if GREEDY_ON in series:
        target_line(ax, RESOLVED, span=over(placed[(GREEDY_ON, 0)]), label="")
        target_line(ax, VALID, span=over(placed[(GREEDY_ON, 1)]), label="")
        off_ident = arms.get(GREEDY_OFF, {}).get("identifier_match")
        if off_ident is not None:
            span = over(placed[(GREEDY_ON, 5)])
            target_line(ax, IDENTIFIER, value=off_ident, span=span, label="")
    if SUPERPOSED_ON in series:
        target_line(ax, VALID_DRAFTS, span=over(placed[(SUPERPOSED_ON, 2)]), label="")
    points = result.get("points", {})
    ax.set_title(
        f"{points.get('uniform', '?')} uniform points of {points.get('pool', '?')} "
        f"(+{points.get('in_file_extra', 0)} in-file class); resolved share over "
        f"{cov.get('points', '?')}",
        fontsize=8,
    )
    ax.set_ylabel("% of points; red dashes: targets")
    legend_below(ax, ncol=2)
    on, k4 = arms.get(GREEDY_ON, {}), arms.get(SUPERPOSED_ON, {})
    overhead = result.get("monitor_overhead_ms", {})
    labels = [
        f"analysis /\nrequest, files\n>= {LARGE_FILE_LINES} lines",
        "the same,\nsuperposed\nk=4 (default)",
        "analysis /\nrequest, all",
    ] + [f"{g}\nn={overhead.get(k, {}).get('count', 0)}" for g, k in STEP_GROUPS.items()]
    sources = [
        (result.get("large_files") or {}).get("analysis_ms")
        or on.get("analysis_ms_large_files", {}),
        (result.get("large_files_superposed") or {}).get("analysis_ms")
        or k4.get("analysis_ms_large_files", {}),
        on.get("analysis_ms", {}),
        *(overhead.get(key, {}) for key in STEP_GROUPS.values()),
    ]
    series = {
        "p50": [s.get("p50") for s in sources],
        "p95 (steps: p99)": [s.get("p95", s.get("p99")) for s in sources],
    }
    placed = bars(bx, labels, series, pct=False)
    target_line(bx, ANALYSIS, span=over(placed[("p50", 0)]), label="")
    target_line(bx, ANALYSIS_DEFAULT, span=over(placed[("p50", 1)]), label="")
    target_line(bx, WAITING, span=over(placed[("p50", 3)]), label="")
    target_line(bx, CONSTRAINED, span=over(placed[("p50", 4)]), label="")
    bx.set_yscale("symlog", linthresh=0.01)
    bx.set_ylabel("ms (symlog); red dashes: targets")
    bx.set_title("analysis per request (monitor on) and monitor cost per step", fontsize=8)
    legend_below(bx)
    return save(fig, out / "monitor.png")


def run_plugin(
    mode: str,
    model: str,
    out: Path,
    prompts: int | None = None,
    in_file: int | None = None,
    max_new_tokens: int | None = None,
    large: int | None = None,
) -> dict[str, Any]:
    """``run`` as the report calls it (quick sizes below full mode; full mode adds the
    k=4 monitor-off arm and the definitions flip)."""
    arms = FULL_ARMS if mode == "full" else DEFAULT_ARMS
    return run(
        model,
        mode != "full",
        out,
        prompts=prompts,
        in_file=in_file,
        max_new_tokens=max_new_tokens,
        arms=arms,
        large=large,
    )


PLUGIN = Benchmark(
    name="dotprompts",
    title="Monitor-guided decoding (DotPrompts)",
    run=run_plugin,
    rows=plugin_rows,
    markdown=markdown,
    targets=(
        VALID,
        VALID_DRAFTS,
        IDENTIFIER,
        RESOLVED,
        ANALYSIS,
        ANALYSIS_DEFAULT,
        WAITING,
        CONSTRAINED,
    ),
    sizes={
        "smoke": {"prompts": 3, "in_file": 2, "max_new_tokens": 8, "large": 1},
        "quick": {"prompts": 24, "in_file": 16, "max_new_tokens": 16},
        "full": {},
    },
    figures=(figure,),
)


if __name__ == "__main__":
    sys.exit(main())
