"""DotPrompts for Python: monitor-guided decoding on held-out member accesses (issue 5).

The benchmark follows the DotPrompts set of Agrawal et al. 2023 ("Guiding Language
Models of Code with Global Context using Monitors", NeurIPS): from held-out code
(standard-library files the model never trained on), take dereference points
``receiver.`` whose receiver our static analysis resolves (``analysis.context.
member_oracle(...).members(...)`` is a non-empty set); the prompt is the file up to
and including the ``.``, the target is the rest of that line. The document the
analysis sees is the file with that rest of line cut out (the code after it stays,
as in an editor).

Each prompt is completed twice with the engine's pieces, greedy and single line:
``build_prompt`` (prefix only unless ``--fim``; token healing as in the engine unless
``--no-heal``, so a trailing ``.`` may be backed off and re-spelled under
:class:`models.healing.HealingConstraint`),
with and without ``MemberMonitor(lm.table, oracle, prompt_tail, lm.eos_ids)``.
Reported per arm: the valid-member rate of the first generated identifier (is it in
the member set, or a new attribute assigned where the analysis allows one, i.e.
``self.new = ...`` starting a statement?), next-identifier exact match, line exact match and edit similarity;
for the monitor arm the per-call cost of the constraint, split into waiting steps
(nothing masked) and constrained steps (a mask applied), with and without the time
spent inside the analysis oracle (p50/p99 ms). Also the rate at which the real
continuation is allowed, its identifier in the member set or a new attribute assigned
(soundness of the analysis: below 1.0 the monitor would forbid code that exists).

Writes ``dotprompts.json`` and ``dotprompts.md`` to ``--out``. Reproduce with::

    python -m benchmarks.dotprompts --model default --prompts 300 --seed 0
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from analysis.context import cursor_context, member_oracle
from analysis.document import Document
from benchmarks.common import (
    add_model_arguments,
    edit_similarity,
    exact_match,
    first_identifier,
    heldout_files,
    machine_info,
    markdown_table,
    percentiles,
    prompt_document,
    rate,
    use_threads,
    with_fim,
    write_outputs,
)
from benchmarks.plugin import Benchmark, Row, Target, fmt
from benchmarks.plugin import row as summary_row
from lsp_server.engine import PROMPT_TAIL_CHARS
from lsp_server.prompt import build_prompt
from models.decoding import DecodeRequest, LogitsConstraint, greedy_decode
from models.healing import HealingConstraint
from models.loader import LoadedModel, load_model
from models.monitor import MemberMonitor, assignment_state
from models.vocab_index import vocab_index

DEFAULT_OUT = Path("bench-out/dotprompts")
FULL_PROMPTS = 300
QUICK_PROMPTS = 40
FULL_NEW_TOKENS = 48
QUICK_NEW_TOKENS = 24
ATTEMPTS_PER_PROMPT = 40  # candidate dots tried per wanted prompt before giving up
ORACLE_TIMEOUT_S = 2.0  # an analysis answer slower than this counts as "unknown"


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


@dataclass(frozen=True)
class DotPrompt:
    """A resolved dereference point: document (rest of line cut), cursor after ``.``, target."""

    source: str
    uri: str
    document: str
    offset: int
    target: str
    members: frozenset[str]
    receiver: str
    assignable: bool = False  # `self.` starting a statement: a new attribute may be assigned


# ------------------------------------------------------------------ prompts


def candidate_dots(text: str) -> list[int]:
    """Return indices of ``.`` that may select a member (identifier after, receiver before)."""
    out = []
    for i in range(1, len(text) - 1):
        if text[i] != "." or not (text[i + 1].isalpha() or text[i + 1] == "_"):
            continue
        before = text[i - 1]
        if before.isalnum() or before in "_)]":
            out.append(i)
    return out


def dot_prompt(source: str, uri: str, text: str, dot: int) -> DotPrompt | None:
    """Return the prompt at ``text[dot] == "."`` when the analysis resolves its receiver."""
    line_end = text.find("\n", dot)
    line_end = len(text) if line_end < 0 else line_end
    target = text[dot + 1 : line_end].rstrip()
    document = text[: dot + 1] + text[line_end:]
    doc = Document(uri, document, "python")
    with deadline(ORACLE_TIMEOUT_S):
        oracle = member_oracle(doc, dot + 1)
        members = oracle.members("", 1)  # the code before the "."
        assignable = bool(members) and oracle.assignable("", 1)
    if not members:
        return None
    line_start = text.rfind("\n", 0, dot) + 1
    receiver = text[line_start : dot + 1].strip()[-40:]
    return DotPrompt(
        source, uri, document, dot + 1, target, frozenset(members), receiver, assignable
    )


def valid_access(completion: str, case: DotPrompt) -> bool:
    """Whether the completion after the ``.`` spells a member, or assigns a new attribute
    where that is allowed (``self.new = ...`` at a statement start)."""
    ident = first_identifier(completion)
    if ident in case.members:
        return True
    rest = completion[len(ident) :]
    return bool(case.assignable and ident and rest.strip() and assignment_state(rest) is True)


def sample_dot_prompts(
    files: Sequence[tuple[str, Path, str]], n: int, seed: int, progress: bool = False
) -> tuple[list[DotPrompt], int, list[str]]:
    """Return ``n`` seeded resolved dot prompts, the dots tried, and analysis time-outs."""
    rng = random.Random(seed)
    pool = [(i, dot) for i, (_, _, text) in enumerate(files) for dot in candidate_dots(text)]
    rng.shuffle(pool)
    prompts: list[DotPrompt] = []
    timeouts: list[str] = []
    tried = 0
    for index, dot in pool[: n * ATTEMPTS_PER_PROMPT]:
        if len(prompts) >= n:
            break
        tried += 1
        name, path, text = files[index]
        try:
            found = dot_prompt(name, path.as_uri(), text, dot)
        except OracleTimeout:
            timeouts.append(f"{name}:{text.count(chr(10), 0, dot) + 1}")
            continue
        if found is not None:
            prompts.append(found)
            if progress and len(prompts) % 20 == 0:
                print(f"  {len(prompts)}/{n} prompts ({tried} dots tried)", file=sys.stderr)
    return prompts, tried, timeouts


# ------------------------------------------------------------------ timing


def _clocks() -> tuple[float, float]:
    """Return (wall, this thread's CPU) seconds; CPU time ignores preemption by other work."""
    return time.perf_counter(), time.thread_time()


@dataclass
class TimedOracle:
    """Wraps a member oracle: accumulates answer time; a too slow answer becomes None."""

    inner: Any
    wall: float = 0.0
    cpu: float = 0.0
    timeouts: int = 0

    def members(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        wall, cpu = _clocks()
        try:
            with deadline(ORACLE_TIMEOUT_S):
                return self.inner.members(extra, trim)
        except OracleTimeout:
            self.timeouts += 1
            return None
        finally:
            wall_end, cpu_end = _clocks()
            self.wall += wall_end - wall
            self.cpu += cpu_end - cpu


@dataclass
class MonitorTimes:
    """Per-call times (ms) of the monitor by step kind ("waiting"/"constrained") and clock."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    oracle_timeouts: int = 0

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


class TimedMonitor:
    """Wraps a :class:`MemberMonitor`; times each call, minus the oracle's share too."""

    def __init__(self, inner: MemberMonitor, oracle: TimedOracle, times: MonitorTimes) -> None:
        self.inner = inner
        self.name = inner.name
        self.oracle = oracle
        self.times = times

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        oracle_wall, oracle_cpu = self.oracle.wall, self.oracle.cpu
        wall, cpu = _clocks()
        out = self.inner(input_ids, scores)
        wall_end, cpu_end = _clocks()
        kind = "waiting" if out is scores else "constrained"  # did the call mask anything?
        self.times.add(
            kind,
            (wall_end - wall) * 1000.0,
            (cpu_end - cpu) * 1000.0,
            (self.oracle.wall - oracle_wall) * 1000.0,
            (self.oracle.cpu - oracle_cpu) * 1000.0,
        )
        return out

    def stats(self, draft_ids: tuple[int, ...]) -> dict[str, Any]:
        return self.inner.stats(draft_ids)


# ------------------------------------------------------------------ completion


def complete(
    lm: LoadedModel,
    case: DotPrompt,
    monitor: bool,
    max_new_tokens: int,
    fim: bool,
    times: MonitorTimes,
    heal: bool = True,
) -> dict[str, Any]:
    """Return the greedy single-line completion of ``case`` with the monitor on or off."""
    started = time.perf_counter()
    # 1. the engine's prompt: enclosing headers, FIM if asked, token healing
    doc = Document(case.uri, case.document, "python")
    headers = cursor_context(doc, case.offset).enclosing_headers
    cut = prompt_document(lm, case.document, case.offset, headers, max_new_tokens)
    prompt = build_prompt(
        with_fim(lm) if fim else lm,
        cut.text,
        cut.offset,
        max_new_tokens,
        headers=cut.headers,
        use_fim=fim,
        heal=heal,
    )
    removed = prompt.removed_text
    # 2. the engine's constraints: healing first, then the monitor on a fresh oracle
    constraints: list[LogitsConstraint] = []
    if removed:
        constraints.append(HealingConstraint(lm.table, removed))
    if monitor:
        oracle = TimedOracle(member_oracle(doc, case.offset - len(removed)))
        tail = prompt.prefix_text[-PROMPT_TAIL_CHARS:]
        inner = MemberMonitor(lm.table, oracle, tail, lm.eos_ids)
        constraints.append(TimedMonitor(inner, oracle, times))

    def stop(draft: str) -> int | None:
        if len(draft) <= len(removed):
            return None
        cut_at = draft.find("\n", len(removed))
        return None if cut_at < 0 else cut_at

    # 3. greedy decoding, single line; the healed text is not part of the completion
    result = greedy_decode(
        lm,
        DecodeRequest(
            prompt_ids=prompt.ids,
            max_new_tokens=max_new_tokens + len(removed),
            constraints=constraints,
            stop=stop,
        ),
    )
    if monitor:
        times.oracle_timeouts += oracle.timeouts
    draft = result.drafts[0]
    text = draft.text[len(removed) :] if draft.text.startswith(removed) else draft.text
    ident = first_identifier(text)
    return {
        "completion": text,
        "identifier": ident,
        "valid_member": valid_access(text, case),
        "identifier_match": ident == first_identifier(case.target),
        "line_match": exact_match(text, case.target),
        "similarity": round(edit_similarity(text, case.target), 4),
        "healed": removed,
        "tokens": result.generated_tokens,
        "constrained_steps": draft.stats.get("monitor_constrained_steps", 0),
        "ms": round((time.perf_counter() - started) * 1000.0, 2),
    }


def summarise_arm(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return the rates and latency of one arm (monitor on or off)."""
    return {
        "n": len(results),
        "valid_member_rate": rate([r["valid_member"] for r in results]),
        "next_identifier_match": rate([r["identifier_match"] for r in results]),
        "line_exact_match": rate([r["line_match"] for r in results]),
        "edit_similarity": rate([r["similarity"] for r in results]),
        "mean_constrained_steps": rate([r["constrained_steps"] for r in results]),
        "completion_ms": percentiles([r["ms"] for r in results], (50, 95)),
    }


# ------------------------------------------------------------------ report


def markdown(report: dict[str, Any]) -> str:
    """Return the short markdown summary of a report."""
    arms, o = report["arms"], report["monitor_overhead_ms"]
    rows = [
        [
            name,
            a["n"],
            a["valid_member_rate"],
            a["next_identifier_match"],
            a["line_exact_match"],
            a["edit_similarity"],
            a["completion_ms"].get("p50"),
        ]
        for name, a in arms.items()
    ]
    overhead = []
    for kind in ("waiting", "constrained"):
        row: list[Any] = [kind, o.get(kind, {}).get("count", 0)]
        for key in (kind, f"{kind}_excluding_analysis", f"{kind}_cpu_excluding_analysis"):
            row += [o.get(key, {}).get("p50"), o.get(key, {}).get("p99")]
        overhead.append(row)
    p = report["prompts"]
    return "\n".join(
        [
            f"## DotPrompts (Python): {report['model']['name']}",
            "",
            f"`{report['command']}` on {report['machine']['cpu']} "
            f"({report['settings']['threads']} torch thread(s)); {p['count']} prompts from "
            f"{p['files']} held-out files ({p['dots_tried']} dots tried); real continuation "
            f"allowed (a member, or a new attribute assigned): {p['target_in_members']}; analysis time-outs "
            f"(> {ORACLE_TIMEOUT_S:g} s, skipped): {len(p['analysis_timeouts'])}.",
            "",
            markdown_table(
                [
                    "monitor",
                    "prompts",
                    "valid member",
                    "next-identifier EM",
                    "line EM",
                    "line ES",
                    "p50 ms",
                ],
                rows,
            ),
            "Monitor cost per constraint call (ms; wall time, wall time without the analysis "
            "oracle's share, and CPU time of the calling thread without it):",
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
                overhead,
            ),
            f"Analysis time-outs while decoding: {o['oracle_timeouts_during_decoding']}.",
        ]
    )


def run(
    model: str = "default",
    quick: bool = False,
    out: Path = DEFAULT_OUT,
    prompts: int | None = None,
    seed: int = 0,
    threads: int = 1,
    max_new_tokens: int | None = None,
    fim: bool = False,
    heal: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the DotPrompts benchmark; write ``dotprompts.json``/``dotprompts.md`` to ``out``."""
    started = time.perf_counter()
    wanted = prompts or (QUICK_PROMPTS if quick else FULL_PROMPTS)
    max_new_tokens = max_new_tokens or (QUICK_NEW_TOKENS if quick else FULL_NEW_TOKENS)
    # 1. the model and its vocabulary index (built once, as the engine does at load)
    lm = load_model(model, device="cpu")
    use_threads(threads)
    vocab_index(lm.table)
    files = [(f.relpath, f.path, f.read()) for f in heldout_files(lm.path)]
    # 2. resolved dereference points of held-out code
    cases, tried, timeouts = sample_dot_prompts(files, wanted, seed, progress)
    # 3. every prompt with the monitor off and on
    times = MonitorTimes()
    rows: list[dict[str, Any]] = []
    for index, case in enumerate(cases):
        rows.append(
            {
                "source": case.source,
                "receiver": case.receiver,
                "target": case.target,
                "members": len(case.members),
                "target_in_members": valid_access(case.target, case),
                "off": complete(lm, case, False, max_new_tokens, fim, times, heal),
                "on": complete(lm, case, True, max_new_tokens, fim, times, heal),
            }
        )
        if progress and (index + 1) % 10 == 0:
            print(f"  completed {index + 1}/{len(cases)}", file=sys.stderr)
    command = f"python -m benchmarks.dotprompts --model {model} --prompts {wanted} --seed {seed}"
    command += " --quick" if quick else ""
    command += " --fim" if fim else ""
    command += "" if heal else " --no-heal"
    report: dict[str, Any] = {
        "benchmark": "dotprompts",
        "command": command,
        "model": {
            "spec": model,
            "name": lm.name,
            "path": str(lm.path),
            "parameters": lm.parameter_count(),
            "vocab_size": lm.vocab_size,
        },
        "machine": machine_info(),
        "settings": {
            "quick": quick,
            "prompts": wanted,
            "seed": seed,
            "threads": torch.get_num_threads(),
            "max_new_tokens": max_new_tokens,
            "fim": fim and with_fim(lm).fim is not None,
            "heal": heal,
        },
        "prompts": {
            "count": len(cases),
            "files": len(files),
            "dots_tried": tried,
            "analysis_timeouts": timeouts,
            "target_in_members": rate([r["target_in_members"] for r in rows]),
            "mean_members": rate([r["members"] for r in rows]),
        },
        "arms": {
            "off": summarise_arm([r["off"] for r in rows]),
            "on": summarise_arm([r["on"] for r in rows]),
        },
        "monitor_overhead_ms": {
            **times.summary(),
            "oracle_timeouts_during_decoding": times.oracle_timeouts,
        },
        "rows": rows,
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_outputs(Path(out), "dotprompts", report, markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(parser, DEFAULT_OUT)
    parser.add_argument("--prompts", type=int, default=None, help="300 (quick: 40)")
    parser.add_argument("--quick", action="store_true", help="40 prompts, short drafts")
    parser.add_argument("--fim", action="store_true", help="FIM prompts (default prefix only)")
    parser.add_argument(
        "--no-heal", action="store_true", help="no token healing (the prompt ends in the '.')"
    )
    parser.add_argument("--max-new-tokens", type=int, default=None, help="48 (quick: 24)")
    args = parser.parse_args(argv)
    if (args.prompts is not None and args.prompts < 1) or args.threads < 0:
        print("dotprompts: --prompts must be >= 1 and --threads >= 0", file=sys.stderr)
        return 2
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        print("dotprompts: --max-new-tokens must be >= 1", file=sys.stderr)
        return 2
    from models.loader import ModelLoadError

    try:
        report = run(
            args.model,
            args.quick,
            args.out,
            prompts=args.prompts,
            seed=args.seed,
            threads=args.threads,
            max_new_tokens=args.max_new_tokens,
            fim=args.fim,
            heal=not args.no_heal,
            progress=True,
        )
    except ModelLoadError as exc:
        print(f"dotprompts: {exc}", file=sys.stderr)
        return 2
    print(markdown(report))
    print(f"wrote {Path(args.out) / 'dotprompts.json'} in {report['seconds']} s", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ plug-in (benchmarks.plugin)

# the targets of issue 5, declared once (report, README summary and figure read them)
VALID = Target(
    "dotprompts.valid_member",
    "valid-member rate after `obj.`, monitor on",
    ">=",
    0.99,
    "%",
    "issue 5",
)
IDENTIFIER = Target(
    "dotprompts.next_identifier_gain",
    "next-identifier match, monitor on minus off",
    ">",
    0.0,
    "pp",
    "issue 5",
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
MONITOR_METRICS = {
    "valid member": "valid_member_rate",
    "next identifier": "next_identifier_match",
    "line exact": "line_exact_match",
    "edit similarity": "edit_similarity",
}
STEP_GROUPS = {  # figure group -> key of monitor_overhead_ms
    "waiting\n(monitor)": "waiting_excluding_analysis",
    "waiting\n(with analysis)": "waiting",
    "constrained\n(monitor)": "constrained_excluding_analysis",
    "constrained\n(with analysis)": "constrained",
}


def plugin_rows(result: dict[str, Any]) -> list[Row]:
    """Valid-member rate, next-identifier gain, and the monitor's cost per step."""
    arms, overhead = result.get("arms", {}), result.get("monitor_overhead_ms", {})
    on, off = arms.get("on", {}), arms.get("off", {})
    n = f"{result.get('prompts', {}).get('count', '?')} prompts"
    ident_on, ident_off = on.get("next_identifier_match"), off.get("next_identifier_match")
    gain = None if ident_on is None or ident_off is None else ident_on - ident_off
    waiting = overhead.get("waiting_excluding_analysis", {})
    constrained = overhead.get("constrained", {})
    valid = on.get("valid_member_rate")
    return [
        summary_row(
            VALID.label, valid, VALID, None, f"(off {fmt(off.get('valid_member_rate'), '%')}; {n})"
        ),
        summary_row(
            IDENTIFIER.label,
            gain,
            IDENTIFIER,
            None,
            f"(on {fmt(ident_on, '%')}, off {fmt(ident_off, '%')}; {n})",
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
    """Quality with the monitor on against off (the baseline), and the monitor's cost per
    decoding step, each with its targets."""
    from benchmarks.figures import (
        BASELINE_COLOR,
        bars,
        legend_below,
        new_figure,
        over,
        save,
        target_line,
    )

    fig, (ax, bx) = new_figure(ctx, "Monitor-guided decoding on DotPrompts: monitor on vs off", 2)
    arms = result.get("arms", {})
    goals = {"valid member": f"on {VALID.text()}", "next identifier": "on > off"}
    groups = [f"{g}\n{goals.get(g, '')}".strip() for g in MONITOR_METRICS]
    series = {
        f"monitor {state}": [arms.get(state, {}).get(key) for key in MONITOR_METRICS.values()]
        for state in ("off", "on")
    }
    colors = {"monitor off": BASELINE_COLOR, "monitor on": "C0"}
    placed = bars(ax, groups, series, pct=True, colors=colors)
    target_line(ax, VALID, span=over(placed[("monitor on", 0)]), label="")
    off_ident = arms.get("off", {}).get("next_identifier_match")
    if off_ident is not None:
        span = over(placed[("monitor on", 1)])
        target_line(ax, IDENTIFIER, value=off_ident, span=span, label="")
    prompts = result.get("prompts", {})
    ax.set_title(
        f"{prompts.get('count', '?')} resolved dereference prompts from "
        f"{prompts.get('files', '?')} files; real continuation allowed: "
        f"{fmt(prompts.get('target_in_members'), '%')}",
        fontsize=8,
    )
    ax.set_ylabel("% of prompts; red dashes: targets")
    legend_below(ax)
    overhead = result.get("monitor_overhead_ms", {})
    goals = {0: f"p50 {WAITING.text()}", 3: f"p50 {CONSTRAINED.text()}"}
    labels = [
        f"{g}\nn={overhead.get(k, {}).get('count', 0)}\n{goals.get(i, '')}".strip()
        for i, (g, k) in enumerate(STEP_GROUPS.items())
    ]
    series = {
        stat: [overhead.get(key, {}).get(stat) for key in STEP_GROUPS.values()]
        for stat in ("p50", "p99")
    }
    placed = bars(bx, labels, series, pct=False)
    target_line(bx, WAITING, span=over(placed[("p50", 0)]), label="")
    target_line(bx, CONSTRAINED, span=over(placed[("p50", 3)]), label="")
    bx.set_yscale("symlog", linthresh=0.01)
    bx.set_ylabel("ms per decoding step (symlog); red dashes: targets")
    bx.set_title("monitor cost per step", fontsize=8)
    legend_below(bx)
    return save(fig, out / "monitor.png")


def run_plugin(
    mode: str, model: str, out: Path, prompts: int | None = None, max_new_tokens: int | None = None
) -> dict[str, Any]:
    """``run`` as the report calls it (quick sizes below full mode)."""
    return run(model, mode != "full", out, prompts=prompts, max_new_tokens=max_new_tokens)


PLUGIN = Benchmark(
    name="dotprompts",
    title="Monitor-guided decoding (DotPrompts)",
    run=run_plugin,
    rows=plugin_rows,
    markdown=markdown,
    targets=(VALID, IDENTIFIER, WAITING, CONSTRAINED),
    sizes={
        "smoke": {"prompts": 3, "max_new_tokens": 8},
        "quick": {"prompts": 16, "max_new_tokens": 16},
        "full": {},
    },
    figures=(figure,),
)


if __name__ == "__main__":
    sys.exit(main())
