"""Grammar-based repetition penalty (RPG, Dong et al. 2025), penalty on vs off.

Two prompt sets from the held-out split of the standard-library corpus
(``models.corpus.split_files()[1]``):

* ``runs``: the file cut right after 2-4 consecutive statements of one block
  that share a signature (``analysis.statements``), at the indentation of the
  next line, where a small model is most tempted to keep repeating;
* ``ordinary``: the file cut at the indentation of a random non-blank line
  (prompts whose prefix parses cleanly only, so the ground-truth line is known).

Each prompt is a document holding the file cut at the cursor (code written at the
end of a file: no suffix to copy from), completed through what ships,
:meth:`lsp_server.pipeline.CompletionPipeline.run` with :class:`PipelineOptions`
flags (``--decoder`` greedy or superposed, ``--k``, ``--multiline``,
``--max-new-tokens``), once with ``repetition_penalty=False`` and once with
``True`` (the pipeline's :class:`models.repetition.RepetitionPenalty` over
``analysis.statements.StatementRepetition``); everything else (monitor, healing,
n-grams, stop rules, cleaning) is the server's. Reported on the top-ranked draft
(and, with k > 1, the tail-loop rate of all drafts), on the completions only, as
in the paper: EGP (share of drafts that end before the token limit: EOS or a
stop rule), TR-S (1 - unique statement signatures / signatures), TR-N (1 - unique
4-grams of signatures / 4-grams, per block), parse-clean rate (no ERROR/MISSING
node in the completed lines), first-line exact match on ordinary prompts; and the
**tail-loop rate**: drafts whose end is at least three generated copies of one
unit of abstract tokens (:func:`tail_loop`, a lexer of its own: names, numbers
and strings abstracted, so ``path.join(os.join(path.join(`` and three more
``self.x = x`` statements both count), next to the same rate on the files' real
continuations of the same length (what people write). The per-step cost of the
constraint (p50/p99) is split into steps whose draft just received a newline
(the oracle may reparse; its first parse of a request starts from the document's
own tree) and the others, plus the one-off constraints' set-up per request (no parse
since the oracle reads the document's tree). TR-S, TR-N and parse-clean use the
completion up to its last newline (complete lines). Finally each prompt's real continuation is replayed through
the penalty without a model, to show how often each detector fires on code
people wrote and how often it lowers the token the file really has.

    python -m benchmarks.repetition --model default --prompts 40 --out /tmp/rep
"""

from __future__ import annotations

import argparse
import json
import keyword
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.document import Document  # noqa: E402
from analysis.languages import parser_for  # noqa: E402
from analysis.statements import StatementRepetition, statement_signatures, statement_units  # noqa: E402
from benchmarks.plugin import Benchmark, Row, Target  # noqa: E402
from benchmarks.plugin import fmt as plugin_fmt  # noqa: E402
from benchmarks.plugin import row as summary_row  # noqa: E402
from lsp_server.pipeline import CompletionPipeline, PipelineOptions  # noqa: E402
from models.corpus import split_files  # noqa: E402
from models.decoding import LogitsConstraint  # noqa: E402
from models.loader import LoadedModel, load_model  # noqa: E402
from models.ngram import NgramModel, WorkspaceNgrams, background_for  # noqa: E402
from models.repetition import DEFAULT_STRENGTH, RepetitionPenalty  # noqa: E402
from models.training import portable_path  # noqa: E402

TAIL_COPIES = 3  # a draft ends in a tail loop: >= 3 generated copies of one unit ...
TAIL_SPAN = 12  # ... covering at least 12 abstract tokens (not `a, b, c`)
TAIL_MAX_PERIOD = 32  # abstract tokens per unit (a statement of ~30 tokens)
DETECTOR_STATS = {  # detector -> the penalty's per-draft statistic
    "structure": "repetition_structural",
    "line": "repetition_lines",
    "tandem": "repetition_tandem",
    "nesting": "repetition_nesting",
    "operands": "repetition_operands",
}


@dataclass
class Prompt:
    """One benchmark prompt: the file prefix, the line it should produce, where from."""

    kind: str  # "runs" | "ordinary"
    source: str
    text: str
    truth_line: str
    continuation: str = ""  # the file's own text after the prompt (next lines)


@dataclass
class Completion:
    """One completion (its top-ranked draft) and the measures taken on it."""

    prompt: Prompt
    penalty: bool
    text: str
    finish: str
    tokens: int
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)  # the other drafts' texts (k > 1)


class TimedConstraint:
    """Wraps a reporting constraint and records the wall time of every call."""

    def __init__(self, inner: RepetitionPenalty) -> None:
        self.inner = inner
        self.name = inner.name
        self.table = inner.table
        self.newline_ms: list[float] = []
        self.other_ms: list[float] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        started = time.perf_counter()
        out = self.inner(input_ids, scores)
        elapsed = (time.perf_counter() - started) * 1000.0
        last = int(input_ids[0, -1]) if input_ids.shape[1] else None
        newline = last is not None and bool(self.inner.table.has_newline[last])
        (self.newline_ms if newline else self.other_ms).append(elapsed)
        return out

    def stats(self, draft_ids: tuple[int, ...]) -> dict[str, Any]:
        return self.inner.stats(draft_ids)


# ------------------------------------------------------------------ prompts


def _clean_prefix(text: str) -> bool:
    """True when ``text`` parses without any ERROR/MISSING node."""
    return (
        not parser_for("python").parse(text.encode("utf-8", errors="replace")).root_node.has_error
    )


def run_prompts(sources: list[tuple[str, str]], n: int, rng: random.Random) -> list[Prompt]:
    """Prompts cut after 2-4 consecutive same-signature units, at the next line's indent."""
    found: list[Prompt] = []
    for name, source in sources:
        data = source.encode("utf-8", errors="replace")
        for units in statement_units(source, "python"):
            i = 0
            while i < len(units) - 1:
                j = i
                while j + 1 < len(units) and units[j + 1].signature == units[i].signature:
                    j += 1
                run = j - i + 1
                if run >= 2 and "ERROR" not in units[i].signature:
                    k = rng.randint(2, min(4, run))
                    last = units[i + k - 1]
                    line_end = data.find(b"\n", last.end)
                    line_start = data.rfind(b"\n", 0, units[i].start) + 1
                    indent = data[line_start : units[i].start]
                    if line_end >= 0 and not indent.strip():
                        prefix = data[: line_end + 1].decode("utf-8", errors="replace")
                        rest = data[line_end + 1 :].decode("utf-8", errors="replace")
                        truth = rest.split("\n", 1)[0].strip()
                        if _clean_prefix(prefix):
                            text = prefix + indent.decode()
                            after = (
                                rest[len(indent.decode()) :]
                                if rest.startswith(indent.decode())
                                else rest
                            )
                            follow = "".join(after.splitlines(keepends=True)[:40])
                            found.append(Prompt("runs", name, text, truth, follow))
                i = j + 1
    rng.shuffle(found)
    return found[:n]


def ordinary_prompts(sources: list[tuple[str, str]], n: int, rng: random.Random) -> list[Prompt]:
    """Prompts cut at the indentation of a random non-blank line (clean prefixes only)."""
    found: list[Prompt] = []
    attempts = 0
    while len(found) < n and attempts < 50 * n:
        attempts += 1
        name, source = rng.choice(sources)
        lines = source.splitlines(keepends=True)
        if len(lines) < 20:
            continue
        i = rng.randrange(10, len(lines))
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        prefix = "".join(lines[:i])
        if not _clean_prefix(prefix):
            continue
        indent = line[: len(line) - len(line.lstrip())]
        follow = line[len(indent) :] + "".join(lines[i + 1 : i + 40])
        found.append(Prompt("ordinary", name, prefix + indent, line.strip(), follow))
    return found


# ------------------------------------------------------------------ measures


def complete_lines(text: str) -> str:
    """``text`` up to its last newline (all of it when it has none)."""
    cut = text.rfind("\n")
    return text if cut < 0 else text[: cut + 1]


def tr_s(prompt: str, completion: str) -> float | None:
    sigs = [
        s
        for block in statement_signatures(prompt + completion, "python", len(prompt))
        for s in block
    ]
    return None if not sigs else 1.0 - len(set(sigs)) / len(sigs)


def tr_n(prompt: str, completion: str, n: int = 4) -> float | None:
    grams = [
        tuple(block[i : i + n])
        for block in statement_signatures(prompt + completion, "python", len(prompt))
        for i in range(len(block) - n + 1)
    ]
    return None if not grams else 1.0 - len(set(grams)) / len(grams)


def parse_clean(prompt: str, completion: str) -> bool:
    """No ERROR/MISSING node reaching into the completion's bytes."""
    data = (prompt + completion).encode("utf-8", errors="replace")
    start = len(prompt.encode("utf-8", errors="replace"))
    stack = [parser_for("python").parse(data).root_node]
    while stack:
        node = stack.pop()
        if not node.has_error and not node.is_missing:
            continue
        if (node.is_error or node.is_missing) and node.end_byte > start:
            return False
        stack.extend(node.children)
    return True


_TRIPLE = r"""\"\"\"(?:[^\\]|\\.)*?(?:\"\"\"|\Z)|'''(?:[^\\]|\\.)*?(?:'''|\Z)"""
_SINGLE = r""""(?:[^"\\\n]|\\.)*(?:"|$)|'(?:[^'\\\n]|\\.)*(?:'|$)"""
_LEX = re.compile(
    rf"(?P<str>[rRbBuUfF]{{0,2}}(?:{_TRIPLE}|{_SINGLE}))"
    r"|(?P<num>\.?\d[\w.]*)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<nl>\n[ \t]*)"
    r"|(?P<space>[ \t\r\\]+)"
    r"|(?P<comment>\#[^\n]*)"
    r"|(?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|\.\.\.|[-+*/%&|^=<>!@]=|[^\s\w])",
    re.DOTALL | re.MULTILINE,
)


_OPERATORS = frozenset(
    "+ - * / // % ** @ | & ^ << >> ~ == != < > <= >=".split()
)  # binary and unary operators -> OP; `=` `(` `,` `.` `:` stay as written
_WORD_OPERATORS = frozenset({"and", "or", "not", "in", "is"})


def abstract_tokens(text: str) -> list[tuple[int, str]]:
    """``(offset, class)`` of the Python tokens of ``text``: names -> ID (keywords kept),
    numbers -> NUM, strings -> STR, operators (``+``, ``==``, ``and``, ...) -> OP, a newline
    with its indentation -> NL (blank lines transparent), brackets and other punctuation as
    written; spaces and comments dropped. A lexer of the benchmark's own
    (neither tree-sitter nor the model's tokens), forgiving of unfinished code."""
    out: list[tuple[int, str]] = []
    for match in _LEX.finditer(text):
        kind = match.lastgroup
        if kind in ("space", "comment"):
            continue
        text = match.group()
        if kind == "name":
            label = ("OP" if text in _WORD_OPERATORS else text) if keyword.iskeyword(text) else "ID"
        elif kind == "op":
            label = "OP" if text in _OPERATORS else text
        else:
            label = {"str": "STR", "num": "NUM", "nl": "NL"}[kind or ""]
        if label == "NL" and out and out[-1][1] == "NL":
            continue  # blank lines are transparent
        out.append((match.start(), label))
    return out


def tail_period(
    classes: list[str], min_copies: int = TAIL_COPIES, min_span: int = TAIL_SPAN
) -> tuple[int, int] | None:
    """(period, full copies) of the longest periodic tail of ``classes`` that has at
    least ``min_copies`` copies and spans ``min_span`` tokens, or None."""
    best: tuple[int, int] | None = None
    best_run = -1
    for period in range(1, TAIL_MAX_PERIOD + 1):
        run = 0
        while run < len(classes) - period and classes[-1 - run] == classes[-1 - run - period]:
            run += 1
        copies = (run + period) // period
        if copies >= min_copies and run + period >= min_span and run > best_run:
            best, best_run = (period, copies), run
    return best


def tail_loop(prompt: str, completion: str) -> bool:
    """True when ``completion`` ends in a loop: its last abstract tokens are at least TAIL_COPIES copies of one unit, all written by the
    completion, spanning at least TAIL_SPAN tokens. Covers repeated statements
    (``self.a = a`` ``self.b = b`` ``self.c = c``), self-similar nesting
    (``path.join(os.join(path.join(``) and repeated operands (``f(x) or f(x) and f(x)``)."""
    head = prompt[prompt.rfind("\n") + 1 :]  # the cursor's line, for lexing context
    tokens = [c for at, c in abstract_tokens(head + completion) if at >= len(head)]
    return tail_period(tokens) is not None


def mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ------------------------------------------------------------------ run


class MeasuredPipeline(CompletionPipeline):
    """The shipped pipeline; its repetition penalty wrapped to time each call (and given
    ``strength`` when the command line asks for another one)."""

    def __init__(
        self, lm: LoadedModel, ngrams: Any, strength: float | None, end_boost: float | None = None
    ) -> None:
        super().__init__(lm, ngrams)
        self.strength = strength
        self.end_boost = end_boost
        self.timers: list[TimedConstraint] = []
        self.setup_ms: list[float] = []

    def constraints(self, *args: Any, **kwargs: Any) -> list[LogitsConstraint]:
        started = time.perf_counter()
        found = super().constraints(*args, **kwargs)
        out: list[LogitsConstraint] = []
        for constraint in found:
            if isinstance(constraint, RepetitionPenalty):
                # the constraints' set-up time (the oracle parses nothing up front)
                self.setup_ms.append((time.perf_counter() - started) * 1000.0)
                if self.strength is not None:
                    constraint.strength = self.strength
                if self.end_boost is not None:
                    constraint.end_boost = self.end_boost
                constraint = TimedConstraint(constraint)
                self.timers.append(constraint)
            out.append(constraint)
        return out


def new_pipeline(
    lm: LoadedModel, strength: float | None, end_boost: float | None = None
) -> MeasuredPipeline:
    """A pipeline with the model's background n-grams and an empty workspace table."""
    background = background_for(lm.path, lm.tokenizer, lm.vocab_size)
    ngrams = NgramModel(background, WorkspaceNgrams(lm.vocab_size))
    return MeasuredPipeline(lm, ngrams, strength, end_boost)


def decode(
    pipeline: MeasuredPipeline, prompt: Prompt, penalty: bool, options: PipelineOptions
) -> Completion:
    """Complete ``prompt`` (a document ending at the cursor) through the pipeline."""
    uri = f"file:///repetition/{prompt.source}"
    if pipeline.ngrams is not None:  # the document is the workspace, as the engine keeps it
        pipeline.ngrams.workspace.set_document(uri, pipeline.lm.encode(prompt.text))
    doc = Document(uri, prompt.text, "python")
    started = time.perf_counter()
    result = pipeline.run(doc, len(prompt.text), replace(options, repetition_penalty=penalty))
    seconds = time.perf_counter() - started
    if pipeline.ngrams is not None:
        pipeline.ngrams.workspace.remove_document(uri)
    if not result.drafts:
        return Completion(prompt, penalty, "", "empty", 0, seconds)
    top = result.drafts[0]
    return Completion(
        prompt,
        penalty,
        top.text,
        top.finish,
        len(top.source.token_ids),
        seconds,
        top.stats,
        [d.text for d in result.drafts[1:]],
    )


def truth_replay(
    lm: LoadedModel, prompts: list[Prompt], max_new: int, strength: float | None
) -> dict[str, Any]:
    """Feed each prompt's real continuation through the penalty (no model): how often it
    fires on code a human wrote (per detector), and how often it lowers the token the
    file really has; and how often that continuation, cut to the same token budget,
    ends in a tail loop (the rate of code people write)."""
    rows: dict[str, Any] = {}
    for kind in ("runs", "ordinary"):
        steps = fired = lowered = loops = n = 0
        by_kind: dict[str, int] = {}
        for prompt in (p for p in prompts if p.kind == kind):
            ids = lm.encode(prompt.continuation)[:max_new]
            n += 1
            loops += tail_loop(prompt.text, lm.table.decode(ids))
            oracle = StatementRepetition("python", prompt.text)
            penalty = RepetitionPenalty(lm.table, oracle, lm.eos_ids)
            if strength is not None:
                penalty.strength = strength
            scores = torch.zeros(1, lm.vocab_size)  # (1, V)
            scores[0, 0] = 1.0  # a spread to scale by
            for t, token in enumerate(ids):
                generated = torch.tensor([ids[:t]], dtype=torch.long).reshape(1, t)  # (1, t)
                out = penalty(generated, scores)
                steps += 1
                if out is not scores:
                    fired += 1
                    lowered += int(out[0, token] < scores[0, token])
            for name, count in penalty.stats(tuple(ids)).items():
                by_kind[name] = by_kind.get(name, 0) + int(count)
        rows[kind] = {
            "steps": steps,
            "fired": fired / steps if steps else None,
            "truth_lowered": lowered / steps if steps else None,
            "tail_loop": loops / n if n else None,
            "by_detector": by_kind,
        }
    return rows


def summarise(
    completions: list[Completion], timers: list[TimedConstraint], setup_ms: list[float]
) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for kind in ("runs", "ordinary"):
        for penalty in (False, True):
            group = [c for c in completions if c.prompt.kind == kind and c.penalty == penalty]
            if not group:
                continue
            lines = [complete_lines(c.text) for c in group]
            loops = [tail_loop(c.prompt.text, c.text) for c in group]
            every = [tail_loop(c.prompt.text, t) for c in group for t in [c.text, *c.others]]
            row = {
                "n": len(group),
                "tail_loop": mean([1.0 if loop else 0.0 for loop in loops]),
                "tail_loop_all_drafts": mean([1.0 if loop else 0.0 for loop in every]),
                "drafts": len(every),
                "egp": mean([1.0 if c.finish in ("eos", "stop") else 0.0 for c in group]),
                "tr_s": mean([tr_s(c.prompt.text, t) for c, t in zip(group, lines, strict=True)]),
                "tr_n": mean([tr_n(c.prompt.text, t) for c, t in zip(group, lines, strict=True)]),
                "parse_clean": mean(
                    [
                        1.0 if parse_clean(c.prompt.text, t) else 0.0
                        for c, t in zip(group, lines, strict=True)
                    ]
                ),
                "line_exact": mean(
                    [
                        1.0 if c.text.split("\n", 1)[0].strip() == c.prompt.truth_line else 0.0
                        for c in group
                    ]
                ),
                "mean_tokens": mean([float(c.tokens) for c in group]),
                "penalties_per_completion": mean(
                    [float(c.stats.get("repetition_penalties", 0)) for c in group]
                ),
                "penalties_by_detector": {
                    name: mean([float(c.stats.get(key, 0)) for c in group])
                    for name, key in DETECTOR_STATS.items()
                },
            }
            rows[f"{kind}/{'on' if penalty else 'off'}"] = row
    newline = [ms for t in timers for ms in t.newline_ms]
    other = [ms for t in timers for ms in t.other_ms]
    overhead = {
        "newline_steps": len(newline),
        "newline_p50_ms": percentile(newline, 0.5),
        "newline_p99_ms": percentile(newline, 0.99),
        "other_steps": len(other),
        "other_p50_ms": percentile(other, 0.5),
        "other_p99_ms": percentile(other, 0.99),
        "setup_requests": len(setup_ms),
        "setup_p50_ms": percentile(setup_ms, 0.5),
        "setup_p99_ms": percentile(setup_ms, 0.99),
    }
    return {"groups": rows, "overhead": overhead}


def fmt(value: Any, pct: bool = True) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}" if pct else f"{value:.1f}"


def table(summary: dict[str, Any]) -> str:
    head = (
        "| set / penalty | n | tail loop % | TR-S % | TR-N % | EGP % | parse-clean % | "
        "line exact % | tokens | penalties |"
    )
    out = [head, "|" + "---|" * 10]
    for key, r in summary["groups"].items():
        out.append(
            f"| {key} | {r['n']} | {fmt(r.get('tail_loop'))} | {fmt(r['tr_s'])} | "
            f"{fmt(r['tr_n'])} | {fmt(r['egp'])} | {fmt(r['parse_clean'])} | "
            f"{fmt(r['line_exact'])} | {fmt(r['mean_tokens'], False)} | "
            f"{fmt(r['penalties_per_completion'], False)} |"
        )
    if any(r.get("drafts", 0) > r["n"] for r in summary["groups"].values()):
        out += ["", "| set / penalty | drafts | tail loop %, all drafts |", "|---|---|---|"]
        for key, r in summary["groups"].items():
            out.append(f"| {key} | {r.get('drafts')} | {fmt(r.get('tail_loop_all_drafts'))} |")
    o = summary["overhead"]
    out.append("")
    out.append("| constraint cost | count | p50 ms | p99 ms |")
    out.append("|---|---|---|---|")
    labels = {
        "newline": "step after a newline (may reparse)",
        "other": "step without a newline",
        "setup": "constraints' set-up, per request",
    }
    for name, label in labels.items():
        p50, p99 = o[f"{name}_p50_ms"], o[f"{name}_p99_ms"]
        count = o[f"{name}_steps"] if name != "setup" else o["setup_requests"]
        out.append(
            f"| {label} | {count} | "
            f"{'-' if p50 is None else f'{p50:.3f}'} | {'-' if p99 is None else f'{p99:.3f}'} |"
        )
    replay = summary.get("truth_replay")
    if replay:
        out += [
            "",
            "| real continuation replayed | steps | penalty fires % | true token lowered % | "
            "tail loop % (same budget) | fired: structure / line / tandem / nesting / operands |",
        ]
        out.append("|---|---|---|---|---|---|")
        for kind, r in replay.items():
            by = r.get("by_detector", {})
            fired = " / ".join(str(by.get(key, 0)) for key in DETECTOR_STATS.values())
            out.append(
                f"| {kind} | {r['steps']} | {fmt(r['fired'])} | {fmt(r['truth_lowered'])} | "
                f"{fmt(r.get('tail_loop'))} | {fired} |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="default", help="'default' or a local HF model directory"
    )
    parser.add_argument("--prompts", type=int, default=40, help="prompts per set")
    parser.add_argument("--out", type=Path, default=None, help="directory for repetition.json/.md")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument(
        "--strength", type=float, default=None, help="penalty strength (default: what ships)"
    )
    parser.add_argument(
        "--end-boost", type=float, default=None, help="EOS raise at line starts, x strength"
    )
    parser.add_argument("--decoder", default="greedy", choices=("greedy", "superposed"))
    parser.add_argument("--k", type=int, default=None, help="drafts (superposed; default 4)")
    parser.add_argument("--multiline", default="auto", choices=("auto", "always", "never"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.prompts < 1 or args.max_new_tokens < 1 or (args.strength or 1) <= 0:
        parser.error("--prompts, --max-new-tokens and --strength must be positive")
    k = 1 if args.decoder == "greedy" else (args.k or 4)
    if k < 1:
        parser.error("--k must be positive")
    options = PipelineOptions(
        k=k,
        max_new_tokens=args.max_new_tokens,
        decoder=args.decoder,
        multiline=args.multiline,
    )

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    lm = load_model(args.model, device=args.device)
    rng = random.Random(args.seed)
    sources = [(f.relpath, f.read()) for f in split_files()[1]]
    prompts = run_prompts(sources, args.prompts, rng) + ordinary_prompts(sources, args.prompts, rng)
    print(
        f"model {lm.name}: {sum(p.kind == 'runs' for p in prompts)} run prompts, "
        f"{sum(p.kind == 'ordinary' for p in prompts)} ordinary prompts",
        file=sys.stderr,
    )

    pipeline = new_pipeline(lm, args.strength, args.end_boost)
    completions: list[Completion] = []
    started = time.perf_counter()
    for i, prompt in enumerate(prompts):
        for penalty in (False, True):
            completions.append(decode(pipeline, prompt, penalty, options))
        if (i + 1) % 10 == 0:
            print(
                f"  {i + 1}/{len(prompts)} prompts, {time.perf_counter() - started:.0f}s",
                file=sys.stderr,
            )
    summary = summarise(completions, pipeline.timers, pipeline.setup_ms)
    summary["truth_replay"] = truth_replay(lm, prompts, args.max_new_tokens, args.strength)
    strength = DEFAULT_STRENGTH if args.strength is None else args.strength
    summary["config"] = {
        "model": portable_path(str(lm.path)),
        "prompts_per_set": args.prompts,
        "max_new_tokens": args.max_new_tokens,
        "strength": strength,
        "decoder": args.decoder,
        "k": k,
        "multiline": args.multiline,
        "seed": args.seed,
        "seconds": time.perf_counter() - started,
    }
    report = table(summary)
    print(report)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "repetition.json").write_text(json.dumps(summary, indent=2))
        (args.out / "repetition.md").write_text(
            "# Repetition penalty (RPG), penalty off vs on\n\n"
            f"`python -m benchmarks.repetition --model {args.model} --prompts {args.prompts} "
            f"--max-new-tokens {args.max_new_tokens} --strength {strength} "
            f"--decoder {args.decoder} --k {k} --multiline {args.multiline}`\n\n" + report + "\n"
        )
        samples = [
            {
                "kind": c.prompt.kind,
                "source": c.prompt.source,
                "penalty": c.penalty,
                "finish": c.finish,
                "tail_loop": tail_loop(c.prompt.text, c.text),
                "prompt_tail": c.prompt.text[-200:],
                "completion": c.text,
                "others": c.others,
                "truth": c.prompt.continuation[:400],
                "stats": c.stats,
            }
            for c in completions
        ]
        (args.out / "repetition_samples.json").write_text(json.dumps(samples, indent=1))
    return 0


# ------------------------------------------------------------------ plug-in (benchmarks.plugin)

# the targets, declared once (report, README summary and figure read them)
TRS_RATIO = Target(
    "repetition.trs_ratio",
    "TR-S after repeated statements, penalty on / off",
    "<=",
    0.7,  # "at least 30 % lower"
    "x",
    "issue 13",
)
TAIL_LOOPS = Target(
    "repetition.tail_loop_ratio",
    "drafts ending in a loop after repeated statements, penalty on / off",
    "<=",
    0.5,  # "tail loops at most half of the unpenalised rate"
    "x",
    "issue 13",
)
LINE_EXACT = Target(
    "repetition.ordinary_line_exact",
    "line exact match on ordinary prompts, penalty on minus off",
    ">=",
    -0.01,  # "must not drop by more than 1 point"
    "pp",
    "issue 6",
)
STEP_COST = Target(
    "repetition.step_cost",
    "penalty step p50 without a newline",
    "<",
    1.0,
    "ms",
    "issue 6",
)
FIGURE_METRICS = {  # key -> label (all rates)
    "tail_loop": "tail loop\n(lower better)",
    "tr_s": "TR-S\n(lower better)",
    "tr_n": "TR-N\n(lower better)",
    "egp": "EGP\n(higher better)",
    "parse_clean": "parse-clean",
    "line_exact": "line exact",
}


def plugin_rows(result: dict[str, Any]) -> list[Row]:
    """TR-S reduction after repeated statements, line exact match kept on ordinary
    prompts, the penalty's cost per step; EGP for information."""
    groups, overhead = result.get("groups", {}), result.get("overhead", {})
    on, off = groups.get("runs/on", {}), groups.get("runs/off", {})
    plain_on, plain_off = groups.get("ordinary/on", {}), groups.get("ordinary/off", {})
    trs_on, trs_off = on.get("tr_s"), off.get("tr_s")
    ratio = trs_on / trs_off if trs_on is not None and trs_off else None
    loops_on, loops_off = on.get("tail_loop"), off.get("tail_loop")
    loops = loops_on / loops_off if loops_on is not None and loops_off else None
    exact_on, exact_off = plain_on.get("line_exact"), plain_off.get("line_exact")
    drop = None if exact_on is None or exact_off is None else exact_on - exact_off
    runs, plain = f"{on.get('n', 0)} prompts", f"{plain_on.get('n', 0)} prompts"
    loops_detail = f"(on {plugin_fmt(loops_on, '%')}, off {plugin_fmt(loops_off, '%')}; {runs})"
    return [
        summary_row(TAIL_LOOPS.label, loops, TAIL_LOOPS, None, loops_detail),
        summary_row(
            "TR-S after repeated statements, penalty on / off",
            ratio,
            TRS_RATIO,
            None,
            f"(on {plugin_fmt(trs_on, '%')}, off {plugin_fmt(trs_off, '%')}; {runs})",
        ),
        summary_row(
            "line exact match on ordinary prompts, on minus off",
            drop,
            LINE_EXACT,
            None,
            f"(on {plugin_fmt(exact_on, '%')}, off {plugin_fmt(exact_off, '%')}; {plain})",
        ),
        summary_row(
            "penalty step p50 without a newline",
            overhead.get("other_p50_ms"),
            STEP_COST,
            None,
            f"(n={overhead.get('other_steps', 0)} steps)",
        ),
        summary_row(
            "EGP after repeated statements, penalty on",
            on.get("egp"),
            None,
            "%",
            f"(off {plugin_fmt(off.get('egp'), '%')}; {runs})",
        ),
    ]


def section(result: dict[str, Any]) -> str:
    """The report's repetition section (as repetition.md)."""
    c = result.get("config", {})
    command = (
        f"python -m benchmarks.repetition --model {portable_path(c.get('model'))} --prompts "
        f"{c.get('prompts_per_set')} --max-new-tokens {c.get('max_new_tokens')} "
        f"--strength {c.get('strength')}"
    )
    for key in ("decoder", "k", "multiline"):  # recorded since the pipeline runs the decoding
        if key in c:
            command += f" --{key} {c[key]}"
    return f"# Repetition penalty (RPG), penalty off vs on\n\n`{command}`\n\n{table(result)}\n"


def figure(result: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """TR-S, TR-N, EGP, parse-clean and line exact match with the penalty on vs off (the
    baseline), after repeated statements and on ordinary prompts, with the targets."""
    from benchmarks.figures import (
        BASELINE_COLOR,
        bars,
        legend_below,
        new_figure,
        over,
        save,
        target_line,
    )

    fig, axes = new_figure(
        ctx, "Grammar-based repetition penalty (RPG): on vs off", 3, 4.8, ratios=(3, 3, 1.6)
    )
    groups = result.get("groups", {})
    colors = {"penalty off": BASELINE_COLOR, "penalty on": "C0"}
    for ax, kind in zip(axes[:2], ("runs", "ordinary"), strict=True):
        off, on = groups.get(f"{kind}/off", {}), groups.get(f"{kind}/on", {})
        series = {
            "penalty off": [off.get(m) for m in FIGURE_METRICS],
            "penalty on": [on.get(m) for m in FIGURE_METRICS],
        }
        labels = list(FIGURE_METRICS.values())
        index = {key: i for i, key in enumerate(FIGURE_METRICS)}
        if kind == "runs":
            labels[index["tail_loop"]] += f"\non {TAIL_LOOPS.text()} off"
            labels[index["tr_s"]] += f"\non {TRS_RATIO.text()} off"
        else:
            labels[index["line_exact"]] += f"\non >= off {plugin_fmt(LINE_EXACT.value, 'pp')}"
        placed = bars(ax, labels, series, pct=True, colors=colors)
        relative = (("tail_loop", TAIL_LOOPS), ("tr_s", TRS_RATIO)) if kind == "runs" else ()
        for key, target in relative:  # on <= ratio x off: the line at that product
            if off.get(key) is not None:
                span = over(placed[("penalty on", index[key])])
                target_line(ax, target, value=100 * target.value * off[key], span=span, label="")
        if kind == "ordinary" and off.get("line_exact") is not None:
            at = off["line_exact"] + LINE_EXACT.value
            span = over(placed[("penalty on", index["line_exact"])])
            target_line(ax, LINE_EXACT, value=at, span=span, label="")
        ax.set_ylabel("% of completions; red dashes: targets")
        ax.set_title(
            f"{kind} prompts (n={on.get('n', 0)}): "
            + ("cut after repeated statements" if kind == "runs" else "random lines"),
            fontsize=8,
        )
        legend_below(ax)
    cost, overhead = axes[2], result.get("overhead", {})
    labels = [
        f"without a newline\nn={overhead.get('other_steps', 0)}\np50 {STEP_COST.text()}",
        f"after a newline\nn={overhead.get('newline_steps', 0)}",
    ]
    series = {
        stat: [overhead.get(f"{kind}_{stat}_ms") for kind in ("other", "newline")]
        for stat in ("p50", "p99")
    }
    placed = bars(cost, labels, series, pct=False)
    target_line(cost, STEP_COST, span=over(placed[("p50", 0)]), label="")
    cost.set_ylabel("ms per decoding step; red dash: target")
    cost.set_title("penalty cost per step", fontsize=8)
    legend_below(cost)
    return save(fig, out / "repetition.png")


def run_plugin(
    mode: str, model: str, out: Path, prompts: int, max_new_tokens: int | None = None
) -> dict[str, Any]:
    """``main`` as the report calls it (same command line); returns repetition.json."""
    args = ["--model", model, "--out", str(out), "--prompts", str(prompts)]
    if max_new_tokens is not None:
        args += ["--max-new-tokens", str(max_new_tokens)]
    code = main(args)
    if code:
        raise RuntimeError(f"repetition exited with {code}")
    return json.loads((Path(out) / "repetition.json").read_text())


PLUGIN = Benchmark(
    name="repetition",
    title="Repetition penalty (RPG)",
    run=run_plugin,
    rows=plugin_rows,
    markdown=section,
    targets=(TAIL_LOOPS, TRS_RATIO, LINE_EXACT, STEP_COST),
    sizes={
        "smoke": {"prompts": 1, "max_new_tokens": 12},
        "quick": {"prompts": 6, "max_new_tokens": 32},
        "full": {"prompts": 40},
    },
    figures=(figure,),
)


if __name__ == "__main__":
    raise SystemExit(main())
