"""Held-out evaluation of a completion model on standard-library code (issue 3).

Measures a model on the standard-library files it never trained on (the list
recorded next to its weights in ``heldout.txt``, else ``models.corpus.split_files()[1]``):

(a) **next-token accuracy and perplexity** over all held-out tokens, each file
    preceded by EOS (as in training), scored in windows of the model's context
    with stride context/2: the first window counts all its tokens, later windows
    only their second half, so every token is predicted once with at least half
    a context of history; and the same loss **by the context the model had**
    (tokens before the predicted one, bucketed; full non-overlapping windows, so
    every bucket reads the same windows): whether more positions would pay;
(b) **line completion** at N seeded random cursor positions, in the style of the
    Code4Me evaluation (Izadi et al. 2024, "Language Models for Code Completion:
    A Practical Evaluation"): the rest of the line is completed at a random cursor,
    in three kinds of case (see :class:`benchmarks.common.LineCase`), a third each:
    *end-of-line* masks (the rest of the line cut, the cursor ends the line),
    *mid-line* masks (the code up to the closing brackets/quotes that end the line
    is cut and those closers stay after the cursor, as an editor auto-closes them;
    the completion is placed the way the server places it, overwriting closers it
    re-types) and *next-line* cases (cursor at the end of a line, target a newline
    plus the whole next line). The target is cut out of the document (the code after
    it stays, as in an editor) and every completion is what ships,
    :meth:`lsp_server.pipeline.CompletionPipeline.run` on the whole document
    (cursor facts and enclosing headers, prompt windows, healing, cleaning and
    placing as the server does them) with :func:`line_options`: greedy, one draft,
    without the member monitor, the repetition penalty and n-grams (the model
    alone), one line (``multiline="never"``; next-line cases get the server's
    multi-line rules, ``multiline="always"``, cut to two lines, ``max_lines=2``: the
    rest of the cursor's line, normally nothing, and the next line; a next line the
    server would not offer, such as one leaving the block, gives no completion). The
    metrics are exact match and edit similarity (1 - Levenshtein / max length) of the
    completion.
    Four prompt settings on the same cases (``PipelineOptions.fim`` and ``healing``):
    prefix-only vs fill-in-the-middle (Bavarian et al. 2022; only when the tokenizer
    has FIM sentinels, which the FIM settings then use at every cursor, whatever the
    model's served FIM policy) x with vs without token healing (Guidance's "token
    healing"; the re-spelled text is forced by
    :class:`models.healing.HealingConstraint`). Mid-word cursors (inside an
    identifier) are reported on their own, since that is where healing matters;
(c) **latency**: wall time per completion (the whole pipeline run, p50/p95),
    next-token latency (one forward with a KV cache, p50/p95) and prefill time;
    plus model size on disk, parameter count and load time.

(a) and (c)'s forward latency measure the model itself (every token of the held-out
files, one forward pass), not a completion, so they call the model directly; every
completion of (b) goes through the pipeline.

Writes ``heldout.json`` and ``heldout.md`` to ``--out``. Reproduce with::

    python -m benchmarks.heldout_eval --model default --positions 400 --seed 0
    python -m benchmarks.heldout_eval --model checkpoints/default --quick

Numbers are measured with ``--threads`` torch threads (default 1, so runs compare
and other work is left a core); ``--threads 0`` keeps torch's default.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from analysis.document import Document
from benchmarks.common import (
    KINDS,
    LineCase,
    add_model_arguments,
    edit_similarity,
    exact_match,
    heldout_files,
    machine_info,
    markdown_table,
    model_disk_bytes,
    percentiles,
    rate,
    sample_line_cases,
    use_threads,
    with_fim,
    write_outputs,
)
from benchmarks.plugin import Benchmark, Row, Target, fmt
from benchmarks.plugin import row as summary_row
from lsp_server.pipeline import CompletionPipeline, PipelineOptions, PipelineResult
from models.decoding import forward
from models.loader import LoadedModel, load_model
from models.training import portable_path

DEFAULT_OUT = Path("bench-out/heldout")
FULL_POSITIONS = 400
QUICK_POSITIONS = 60
QUICK_TOKENS = 8_192  # next-token evaluation budget of --quick
FULL_NEW_TOKENS = 48  # the engine's maxNewTokens default
QUICK_NEW_TOKENS = 32  # enough for almost every line
MAX_WINDOW = 2048  # cap on the scoring window for models with very long contexts
LOGIT_BUDGET = 64_000_000  # logits held per scoring batch (rows x positions x vocab)
NEXT_TOKEN_STEPS = 64
WARM_RELOAD_MAX_BYTES = 200_000_000


@dataclass(frozen=True)
class Setting:
    """One prompt setting of the line-completion evaluation."""

    name: str
    fim: bool
    heal: bool


# ------------------------------------------------------------------ (a) next token


def scoring_windows(n: int, window: int) -> list[tuple[int, int, int]]:
    """Return (start, end, first counted position) windows over ``n`` tokens, stride window/2.

    Position ``j`` is counted when the model predicts token ``j`` from tokens ``< j``;
    every position ``1..n-1`` is counted exactly once.
    """
    stride = max(1, window // 2)
    out: list[tuple[int, int, int]] = []
    scored_until, start = 1, 0
    while scored_until < n:
        end = min(start + window, n)
        out.append((start, end, max(scored_until, start + 1)))
        scored_until = end
        start += stride
    return out


def scoring_window(lm: LoadedModel) -> int:
    """The window the next-token measures score in: the model's context, capped."""
    return min(lm.context_length, MAX_WINDOW)


def file_ids(lm: LoadedModel, text: str) -> list[int]:
    """A file's token ids, preceded by EOS as in training."""
    return ([min(lm.eos_ids)] if lm.eos_ids else []) + lm.encode(text)


@torch.no_grad()
def token_scores(lm: LoadedModel, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(negative log-likelihood, argmax hit), each (B, T-1), of ``inputs`` (B, T): column
    ``j - 1`` scores token ``j`` from the tokens before it."""
    logits = lm.model(input_ids=inputs.to(lm.device)).logits.float()  # (B, T, V)
    logp = torch.log_softmax(logits[:, :-1], dim=-1)  # (B, T-1, V)
    targets = inputs[:, 1:].to(logp.device)  # (B, T-1)
    nll = -logp.gather(2, targets[..., None])[..., 0]  # (B, T-1)
    return nll, logp.argmax(dim=-1) == targets


def batch_rows(lm: LoadedModel, window: int) -> int:
    """Rows per scoring batch within :data:`LOGIT_BUDGET`."""
    return max(1, min(16, LOGIT_BUDGET // (window * lm.vocab_size)))


def next_token_stats(
    lm: LoadedModel, texts: Sequence[tuple[str, str]], max_tokens: int | None
) -> dict[str, Any]:
    """Return next-token accuracy, loss (nats/token) and perplexity over ``texts``."""
    started = time.perf_counter()
    window = scoring_window(lm)
    # 1. every file's windows with the positions they count, within the token budget
    jobs: list[tuple[list[int], int]] = []  # (window ids, first counted index in window)
    counted = 0
    for _, text in texts:
        ids = file_ids(lm, text)
        for start, end, first in scoring_windows(len(ids), window):
            jobs.append((ids[start:end], first - start))
            counted += end - first
            if max_tokens is not None and counted >= max_tokens:
                break
        if max_tokens is not None and counted >= max_tokens:
            break
    # 2. batched forward passes; right padding cannot change earlier positions (causal)
    rows = batch_rows(lm, window)
    nll, hits, total = 0.0, 0, 0
    for b in range(0, len(jobs), rows):
        batch = jobs[b : b + rows]
        width = max(len(ids) for ids, _ in batch)
        inputs = torch.zeros((len(batch), width), dtype=torch.long)  # (B, T)
        for r, (ids, _) in enumerate(batch):
            inputs[r, : len(ids)] = torch.tensor(ids)
        token_nll, token_hit = token_scores(lm, inputs)  # (B, T-1) each
        for r, (ids, first) in enumerate(batch):
            nll += float(token_nll[r, first - 1 : len(ids) - 1].sum())
            hits += int(token_hit[r, first - 1 : len(ids) - 1].sum())
            total += len(ids) - first
    loss = nll / max(1, total)
    return {
        "tokens": total,
        "files": len(texts),
        "window": window,
        "stride": max(1, window // 2),
        "accuracy": round(hits / max(1, total), 4),
        "loss_nats": round(loss, 4),
        "perplexity": round(math.exp(loss), 3) if total else None,
        "seconds": round(time.perf_counter() - started, 2),
    }


# context lengths at which the loss-by-context curve is cut (tokens before the predicted one)
CONTEXT_EDGES = (1, 16, 32, 64, 128, 192, 256, 320, 384, 448, 512, 768, 1024, 1536)


def context_curve(
    lm: LoadedModel, texts: Sequence[tuple[str, str]], max_tokens: int | None
) -> dict[str, Any]:
    """Return next-token loss and accuracy by the context the model had: token ``j`` of a
    window is predicted from ``j`` tokens, and the buckets of ``j`` cut at
    :data:`CONTEXT_EDGES`. Windows are full-length, non-overlapping pieces of each file
    (the same windows in every bucket, so the buckets differ only by context); the curve
    tells whether more positions would pay (issue 15, item 3)."""
    window = scoring_window(lm)
    # 1. full windows of every file, within the token budget
    windows: list[list[int]] = []
    for _, text in texts:
        if max_tokens is not None and len(windows) * window >= max_tokens:
            break
        ids = file_ids(lm, text)
        for start in range(0, len(ids) - window + 1, window):
            windows.append(ids[start : start + window])
            if max_tokens is not None and len(windows) * window >= max_tokens:
                break
    edges = [e for e in CONTEXT_EDGES if e < window] + [window]
    nll = [0.0] * (len(edges) - 1)
    hits = [0] * (len(edges) - 1)
    # 2. batched forward passes; position j - 1's logits predict token j
    rows = batch_rows(lm, window)
    for b in range(0, len(windows), rows):
        inputs = torch.tensor(windows[b : b + rows], dtype=torch.long)  # (B, W)
        token_nll, token_hit = token_scores(lm, inputs)  # (B, W-1) each
        for i in range(len(edges) - 1):
            lo, hi = edges[i] - 1, edges[i + 1] - 1  # columns of contexts edges[i]..edges[i+1]-1
            nll[i] += float(token_nll[:, lo:hi].sum())
            hits[i] += int(token_hit[:, lo:hi].sum())
    buckets = []
    for i in range(len(edges) - 1):
        n = len(windows) * (edges[i + 1] - edges[i])
        buckets.append(
            {
                "context": [edges[i], edges[i + 1] - 1],
                "tokens": n,
                "loss_nats": round(nll[i] / n, 4) if n else None,
                "accuracy": round(hits[i] / n, 4) if n else None,
            }
        )
    return {"window": window, "windows": len(windows), "buckets": buckets}


def context_markdown(curve: dict[str, Any]) -> str:
    """The loss-by-context table."""
    rows = [
        [f"{b['context'][0]}-{b['context'][1]}", b["loss_nats"], b["accuracy"], b["tokens"]]
        for b in curve["buckets"]
    ]
    return (
        f"Next-token loss by the context the model had ({curve['windows']} full windows of "
        f"{curve['window']} tokens, not overlapping):\n\n"
        + markdown_table(["context tokens", "loss (nats)", "accuracy", "tokens"], rows)
    )


# ------------------------------------------------------------------ (b) line completion


def line_options(setting: Setting, case: LineCase, max_new_tokens: int) -> PipelineOptions:
    """Return the pipeline options of one line completion: greedy, one draft, the model
    alone (no monitor, repetition penalty or n-grams), the setting's prompt, one line.

    Next-line cases ask the server's multi-line rules (the cursor ends a line) for two
    lines (``max_lines=2``): the rest of the cursor's line, normally nothing, and the
    next line; the others for one line (``multiline="never"``).
    """
    next_line = case.kind == "next_line"
    return PipelineOptions(
        k=1,
        max_new_tokens=max_new_tokens,
        decoder="greedy",
        monitor=False,
        repetition_penalty=False,
        ngram=False,
        verify=False,
        multiline="always" if next_line else "never",
        max_lines=2 if next_line else None,
        healing=setting.heal,
        fim=setting.fim,
    )


def line_pipeline(lm: LoadedModel) -> CompletionPipeline:
    """Return the pipeline of the line completions: the model with its tokenizer's FIM
    sentinels at every cursor (``PipelineOptions.fim`` then picks FIM or prefix-only)."""
    fim_lm = with_fim(lm)
    if fim_lm.fim is not None:
        fim_lm = dataclasses.replace(fim_lm, fim_policy="always")
    return CompletionPipeline(fim_lm)


def case_document(case: LineCase) -> Document:
    """Return the editor's document of ``case`` (the target cut out)."""
    return Document(f"file:///heldout/{case.source}", case.document, "python")


def complete_line(
    pipeline: CompletionPipeline,
    case: LineCase,
    setting: Setting,
    max_new_tokens: int,
    doc: Document | None = None,
) -> tuple[str, PipelineResult]:
    """Return (the completion the pipeline gives at the case's cursor, its result).

    ``doc`` is the case's document when already open (:func:`case_document`). The
    completion is the top draft as the pipeline cleans and places it; for mid-line
    cases, what it leaves before the closers kept after the cursor
    (:func:`placed_before_closers`).
    """
    options = line_options(setting, case, max_new_tokens)
    result = pipeline.run(doc or case_document(case), case.offset, options)
    top = result.drafts[0] if result.drafts else None
    if top is None:
        return "", result
    if case.kind == "mid":
        return placed_before_closers(top.text, top.end, case), result
    return top.text, result


def placed_before_closers(text: str, end: int, case: LineCase) -> str:
    """Return what a mid-line draft leaves between the cursor and the kept closers.

    The draft ``text`` replaces ``case.document[case.offset:end]`` (the server's
    placement: closers it re-types are overwritten), the rest of the line after it
    follows; when the line then ends in the case's closers, what precedes them is the
    completion, else the whole placed rest of the line (which cannot match the target).
    """
    line_end = case.document.find("\n", case.offset)
    line_end = len(case.document) if line_end < 0 else line_end
    placed = text + case.document[max(end, case.offset) : line_end]
    if case.line_suffix and placed.endswith(case.line_suffix):
        return placed[: -len(case.line_suffix)]
    return placed


def settings_for(lm: LoadedModel) -> list[Setting]:
    """Return the prompt settings to compare, the engine's default (as served) first."""
    fims = (True, False) if with_fim(lm).fim is not None else (False,)
    out = [
        Setting(("fim" if fim else "prefix") + ("+heal" if heal else ""), fim, heal)
        for fim in fims
        for heal in (True, False)
    ]
    served = lm.fim is not None and lm.fim_policy == "always"
    return sorted(out, key=lambda s: (s.fim != served, not s.heal))


# FIM prompts on mid-line cases only, prefix-only elsewhere (the "mid-line" FIM policy):
# composed from the two healed settings' results, no extra decoding
MIXED = "mid-line fim+heal"


def with_mixed_setting(
    lm: LoadedModel, rows: list[dict[str, Any]], latencies: dict[str, list[float]]
) -> dict[str, list[float]]:
    """Add the :data:`MIXED` setting to ``rows``; return latencies with it (first if served)."""
    if not rows or not all({"fim+heal", "prefix+heal"} <= set(r["results"]) for r in rows):
        return latencies
    mixed: list[float] = []
    for row in rows:
        chosen = row["results"]["fim+heal" if row["kind"] == "mid" else "prefix+heal"]
        row["results"][MIXED] = chosen
        mixed.append(chosen["ms"])
    if lm.fim is not None and lm.fim_policy == "mid-line":
        return {MIXED: mixed, **latencies}
    return {**latencies, MIXED: mixed}


def evaluate_cases(
    lm: LoadedModel, cases: Sequence[LineCase], max_new_tokens: int, progress: bool = False
) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """Return per-case results for every setting, and completion latencies (ms) per setting."""
    settings = settings_for(lm)
    pipeline = line_pipeline(lm)
    latencies: dict[str, list[float]] = {s.name: [] for s in settings}
    rows: list[dict[str, Any]] = []
    for index, case in enumerate(cases):
        # the open document (parsed once, as the server parses it on open, not per request)
        doc = case_document(case)
        row: dict[str, Any] = {
            "source": case.source,
            "kind": case.kind,
            "mid_word": case.mid_word,
            "target": case.target,
            "results": {},
        }
        healed_nothing: dict[bool, dict[str, Any]] = {}  # fim -> result of the healed setting
        for setting in settings:
            # with nothing to heal the prompt is the same without healing: decoded once
            # (settings_for puts each healed setting before its unhealed one)
            if not setting.heal and setting.fim in healed_nothing:
                row["results"][setting.name] = {**healed_nothing[setting.fim], "reused": True}
                continue
            started = time.perf_counter()
            completion, result = complete_line(pipeline, case, setting, max_new_tokens, doc)
            ms = (time.perf_counter() - started) * 1000.0
            latencies[setting.name].append(ms)
            healed = result.prompt.removed_text if result.prompt is not None else ""
            outcome = {
                "completion": completion,
                "exact": exact_match(completion, case.target),
                "similarity": round(edit_similarity(completion, case.target), 4),
                "healed": healed,
                "tokens": result.decoded.generated_tokens if result.decoded else 0,
                "ms": round(ms, 2),
            }
            if setting.heal and not healed:
                healed_nothing[setting.fim] = outcome
            row["results"][setting.name] = outcome
        rows.append(row)
        if progress and (index + 1) % 20 == 0:
            print(f"  line completion {index + 1}/{len(cases)}", file=sys.stderr)
    return rows, with_mixed_setting(lm, rows, latencies)


def summarise_lines(
    rows: Sequence[dict[str, Any]], latencies: dict[str, list[float]]
) -> dict[str, Any]:
    """Return exact match / edit similarity per setting and case group, with latencies."""
    groups = {kind: (lambda r, kind=kind: r["kind"] == kind) for kind in KINDS}
    groups["mid_word"] = lambda r: r["kind"] in ("eol", "mid") and r["mid_word"]
    out: dict[str, Any] = {}
    for name, values in latencies.items():
        entry: dict[str, Any] = {}
        for group, member in groups.items():
            results = [r["results"][name] for r in rows if member(r)]
            entry[group] = {
                "n": len(results),
                "exact_match": rate([x["exact"] for x in results]),
                "edit_similarity": rate([x["similarity"] for x in results]),
            }
        entry["latency_ms"] = percentiles(values, (50, 95))
        tokens = [r["results"][name]["tokens"] for r in rows]
        entry["mean_generated_tokens"] = round(statistics.fmean(tokens), 2) if tokens else None
        out[name] = entry
    return out


# ------------------------------------------------------------------ (c) latency


@torch.no_grad()
def next_token_latency(lm: LoadedModel, text: str, steps: int = NEXT_TOKEN_STEPS) -> dict[str, Any]:
    """Return prefill time and per-token forward latency (KV cache) after half a context."""
    prompt = lm.encode(text)[: max(1, min(lm.context_length, MAX_WINDOW) // 2)]
    steps = max(1, min(steps, lm.context_length - len(prompt) - 1))
    # 1. prefill once (warm-up pass first so allocation is not timed)
    forward(lm, None, input_ids=torch.tensor([prompt[:8]]))
    started = time.perf_counter()
    logits, past = forward(lm, None, input_ids=torch.tensor([prompt]))  # (1, V)
    prefill_ms = (time.perf_counter() - started) * 1000.0
    # 2. one forward per token, feeding the argmax; the cache grows by one each step
    times: list[float] = []
    for _ in range(steps):
        token = int(logits[0].argmax())
        started = time.perf_counter()
        logits, past = forward(lm, past, input_ids=torch.tensor([[token]]))  # (1, V)
        times.append((time.perf_counter() - started) * 1000.0)
    return {
        "prompt_tokens": len(prompt),
        "prefill_ms": round(prefill_ms, 2),
        "next_token_ms": percentiles(times, (50, 95)),
    }


def model_facts(lm: LoadedModel, spec: str) -> dict[str, Any]:
    """Return size on disk, parameters, load times (cold; warm reload for small models)."""
    disk = model_disk_bytes(lm.path)
    facts: dict[str, Any] = {
        "spec": spec,
        "name": lm.name,
        "path": portable_path(str(lm.path)),
        "parameters": lm.parameter_count(),
        "weights_bytes": disk["weights"],
        "weights_mb": round(disk["weights"] / 1e6, 2),
        "directory_mb": round(disk["directory"] / 1e6, 2),
        "context_length": lm.context_length,
        "vocab_size": lm.vocab_size,
        "fim_sentinels": with_fim(lm).fim is not None,
        "fim_served": lm.fim is not None,
        "load_seconds_cold": round(lm.load_seconds, 3),
    }
    if disk["weights"] <= WARM_RELOAD_MAX_BYTES:
        again = load_model(spec, device="cpu")
        facts["load_seconds_warm"] = round(again.load_seconds, 3)
        del again
    return facts


# ------------------------------------------------------------------ report


# case groups of the line-completion tables: (summary key, column label)
LINE_GROUPS = (("eol", "EOL"), ("mid", "mid"), ("mid_word", "mid-word"), ("next_line", "next-line"))


def line_headers() -> list[str]:
    """Return the column labels of :func:`line_cells`."""
    return [f"{label} {metric}" for _, label in LINE_GROUPS for metric in ("EM", "ES")]


def line_cells(summary: dict[str, Any]) -> list[Any]:
    """Return exact match and edit similarity of each case group of one setting's summary."""
    return [
        summary[group][metric]
        for group, _ in LINE_GROUPS
        for metric in ("exact_match", "edit_similarity")
    ]


def markdown(report: dict[str, Any]) -> str:
    """Return the short markdown summary of a report."""
    m, nt, lat = report["model"], report["next_token"], report["latency"]
    lines = [
        f"## Held-out evaluation: {m['name']} ({m['parameters'] / 1e6:.2f} M parameters)",
        "",
        f"`{report['command']}` on {report['machine']['cpu']} "
        f"({report['settings']['threads']} torch thread(s)); {nt['files']} held-out files.",
        "",
        markdown_table(
            ["next-token accuracy", "loss (nats)", "perplexity", "tokens"],
            [[nt["accuracy"], nt["loss_nats"], nt["perplexity"], nt["tokens"]]],
        ),
    ]
    rows = []
    for name, s in report["line_completion"].items():
        rows.append([name, *line_cells(s), s["latency_ms"].get("p50"), s["latency_ms"].get("p95")])
    counts = report["cases"]
    lines += [
        f"Line completion, greedy, single line: {counts['eol']} end-of-line masks, "
        f"{counts['mid']} mid-line masks ({counts['mid_word']} of these two mid-word), "
        f"{counts['next_line']} next-line cases:",
        "",
        markdown_table(
            ["prompt", *line_headers(), "p50 ms", "p95 ms"],
            rows,
        ),
        markdown_table(
            [
                "weights MB",
                "load s (cold)",
                "load s (warm)",
                "next-token p50 ms",
                "prefill ms",
                "completion p50 ms",
                "completion p95 ms",
            ],
            [
                [
                    m["weights_mb"],
                    m["load_seconds_cold"],
                    m.get("load_seconds_warm"),
                    lat["next_token_ms"].get("p50"),
                    lat["prefill_ms"],
                    lat["completion_ms"].get("p50"),
                    lat["completion_ms"].get("p95"),
                ]
            ],
        ),
    ]
    if report.get("context"):
        lines += ["", context_markdown(report["context"])]
    return "\n".join(lines)


def comparison_markdown(reports: dict[str, dict[str, Any]]) -> str:
    """Return one table comparing labelled reports (e.g. first vs shipped model), per setting.

    Reports must come from the same cases (same positions and seed) to be comparable;
    a mismatch is stated under the table.
    """
    rows = []
    for label, report in reports.items():
        nt = report["next_token"]
        for setting, s in report["line_completion"].items():
            rows.append([label, setting, nt["accuracy"], nt["loss_nats"], *line_cells(s)])
    table = markdown_table(["model", "prompt", "next-token acc", "loss", *line_headers()], rows)
    keys = {
        (r["settings"]["positions"], r["settings"]["seed"], r["settings"]["quick"])
        for r in reports.values()
    }
    lines = [table]
    if len(keys) > 1:
        lines.append("\nNote: the reports were run on different cases (positions/seed/quick).")
    for label, report in reports.items():
        lines.append(f"\n* {label}: `{report['command']}`, {report['model']['name']}")
    return "\n".join(lines)


def run(
    model: str = "default",
    quick: bool = False,
    out: Path = DEFAULT_OUT,
    positions: int | None = None,
    seed: int = 0,
    threads: int = 1,
    max_new_tokens: int | None = None,
    max_tokens: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the held-out evaluation; write ``heldout.json``/``heldout.md`` to ``out``."""
    started = time.perf_counter()
    positions = positions or (QUICK_POSITIONS if quick else FULL_POSITIONS)
    max_new_tokens = max_new_tokens or (QUICK_NEW_TOKENS if quick else FULL_NEW_TOKENS)
    if max_tokens is None and quick:
        max_tokens = QUICK_TOKENS
    # 1. the model (load time measured cold, i.e. the first load in this process)
    lm = load_model(model, device="cpu")
    facts = model_facts(lm, model)
    use_threads(threads)
    files = heldout_files(lm.path)
    texts = [(f.relpath, f.read()) for f in files]
    # 2. next-token accuracy and perplexity (quick: a seeded subset of the files)
    scored = list(texts)
    if quick:
        random.Random(seed).shuffle(scored)
    if progress:
        print(f"next-token evaluation on {len(scored)} files", file=sys.stderr)
    tokens = next_token_stats(lm, scored, max_tokens)
    curve = context_curve(lm, scored, max_tokens)
    # 3. line completion at seeded random cursors, every prompt setting on the same cases
    cases = sample_line_cases(texts, positions, seed)
    rows, latencies = evaluate_cases(lm, cases, max_new_tokens, progress)
    lines = summarise_lines(rows, latencies)
    # 4. latency of one token with a KV cache, after half a context of held-out code
    default_setting = settings_for(lm)[0].name
    latency = next_token_latency(lm, max(texts, key=lambda t: len(t[1]))[1])
    latency["completion_ms"] = lines[default_setting]["latency_ms"]
    latency["completion_setting"] = default_setting
    command = (
        f"python -m benchmarks.heldout_eval --model {model} --positions {positions} --seed {seed}"
    )
    if quick:
        command += " --quick"
    report: dict[str, Any] = {
        "benchmark": "heldout",
        "command": command,
        "model": facts,
        "machine": machine_info(),
        "settings": {
            "quick": quick,
            "positions": positions,
            "seed": seed,
            "threads": torch.get_num_threads(),
            "max_new_tokens": max_new_tokens,
            "max_tokens": max_tokens,
            "heldout_files": [name for name, _ in texts],
        },
        "next_token": tokens,
        "context": curve,
        "cases": {
            **{kind: sum(r["kind"] == kind for r in rows) for kind in KINDS},
            "mid_word": sum(r["kind"] in ("eol", "mid") and r["mid_word"] for r in rows),
        },
        "line_completion": lines,
        "latency": latency,
        "rows": rows,
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_outputs(Path(out), "heldout", report, markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(parser, DEFAULT_OUT)
    parser.add_argument("--positions", type=int, default=None, help="line-completion cursors")
    parser.add_argument("--quick", action="store_true", help="~60 cursors, a token subset")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="48 (quick: 32)")
    parser.add_argument("--max-tokens", type=int, default=None, help="next-token budget")
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="LABEL=JSON",
        help="only compare earlier heldout.json reports side by side (writes comparison.md)",
    )
    args = parser.parse_args(argv)
    if args.compare:
        return compare_reports(args.compare, Path(args.out))
    if args.positions is not None and args.positions < 2:
        print("heldout_eval: --positions must be >= 2", file=sys.stderr)
        return 2
    if (args.max_new_tokens is not None and args.max_new_tokens < 1) or args.threads < 0:
        print("heldout_eval: --max-new-tokens must be >= 1, --threads >= 0", file=sys.stderr)
        return 2
    from models.loader import ModelLoadError

    try:
        report = run(
            args.model,
            args.quick,
            args.out,
            positions=args.positions,
            seed=args.seed,
            threads=args.threads,
            max_new_tokens=args.max_new_tokens,
            max_tokens=args.max_tokens,
            progress=True,
        )
    except ModelLoadError as exc:
        print(f"heldout_eval: {exc}", file=sys.stderr)
        return 2
    print(markdown(report))
    print(f"wrote {Path(args.out) / 'heldout.json'} in {report['seconds']} s", file=sys.stderr)
    return 0


def compare_reports(specs: Sequence[str], out: Path) -> int:
    """Write ``comparison.md`` for ``LABEL=path/to/heldout.json`` specs; print it."""
    import json

    reports: dict[str, dict[str, Any]] = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            print(f"heldout_eval: --compare wants LABEL=JSON, got {spec!r}", file=sys.stderr)
            return 2
        try:
            reports[label] = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            print(f"heldout_eval: cannot read {path}: {exc}", file=sys.stderr)
            return 2
    try:
        text = comparison_markdown(reports)
    except KeyError as exc:
        print(f"heldout_eval: {exc} missing: not a heldout.json of this version", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(text + "\n")
    print(text)
    return 0


# ------------------------------------------------------------------ plug-in (benchmarks.plugin)

# the targets of issue 3, declared once (report, README summary and figure read them)
NEXT_TOKEN = Target(
    "heldout.next_token_accuracy", "held-out next-token accuracy", ">=", 0.45, "%", "issue 3"
)
EOL_EXACT = Target(
    "heldout.eol_exact_match", "held-out end-of-line exact match", ">=", 0.15, "%", "issue 3"
)


def served_setting(result: dict[str, Any]) -> str | None:
    """The prompt setting the server uses (the one whose latency is reported)."""
    lines = result.get("line_completion", {})
    served = result.get("latency", {}).get("completion_setting")
    return served if served in lines else next(iter(lines), None)


def plugin_rows(result: dict[str, Any]) -> list[Row]:
    """Next-token accuracy and end-of-line exact match of the served prompt setting."""
    nt = result.get("next_token", {})
    setting = served_setting(result)
    eol = result.get("line_completion", {}).get(setting, {}).get("eol", {})
    tokens, cases = f"({nt.get('tokens', '?')} tokens)", f"({eol.get('n', '?')} cases)"
    return [
        summary_row("held-out next-token accuracy", nt.get("accuracy"), NEXT_TOKEN, None, tokens),
        summary_row(
            f"held-out end-of-line exact match, {setting}",
            eol.get("exact_match"),
            EOL_EXACT,
            None,
            cases,
        ),
    ]


def figure(result: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """Next-token accuracy, then exact match and edit similarity per case kind and prompt
    setting, with the targets (next-token accuracy, served end-of-line exact match)."""
    from benchmarks.figures import bars, legend_below, new_figure, over, save, target_line

    fig, (nx, ax, bx) = new_figure(
        ctx, "Held-out model quality (greedy, single line)", 3, 4.6, ratios=(1, 3, 3)
    )
    nt = result.get("next_token", {})
    sample = f"{nt.get('tokens', '?')} tokens\n{nt.get('files', '?')} files"
    bars(nx, [sample], {"next-token accuracy": [nt.get("accuracy")]}, pct=True)
    target_line(nx, NEXT_TOKEN)
    nx.set_title(f"next-token accuracy; perplexity {fmt(nt.get('perplexity'))}", fontsize=8)
    lines = result.get("line_completion", {})
    cases = result.get("cases", {})
    groups = [g for g, _ in LINE_GROUPS]
    labels = [f"{label}\n(n={cases.get(g, 0)})" for g, label in LINE_GROUPS]
    goal = f"\nserved {EOL_EXACT.text()}"
    served = served_setting(result)
    for axis, metric, name in (
        (ax, "exact_match", "exact match"),
        (bx, "edit_similarity", "edit similarity"),
    ):
        series = {
            (f"{setting} (served)" if setting == served else setting): [
                s.get(g, {}).get(metric) for g in groups
            ]
            for setting, s in lines.items()
        }
        ticks = [labels[0] + (goal if metric == "exact_match" else ""), *labels[1:]]
        placed = bars(axis, ticks, series, pct=True)
        axis.set_ylabel(f"{name}, %" + ("; red dash: target" if metric == "exact_match" else ""))
        axis.set_title(f"line completion: {name}", fontsize=8)
        if metric == "exact_match" and served is not None:
            span = over(placed[(f"{served} (served)", 0)])
            target_line(axis, EOL_EXACT, span=span, label="")
        legend_below(axis, 2)
    return save(fig, out / "heldout.png")


def run_plugin(
    mode: str,
    model: str,
    out: Path,
    positions: int | None = None,
    max_tokens: int | None = None,
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """``run`` as the report calls it (quick sizes below full mode)."""
    return run(
        model,
        mode != "full",
        out,
        positions=positions,
        max_tokens=max_tokens,
        max_new_tokens=max_new_tokens,
    )


PLUGIN = Benchmark(
    name="heldout_eval",
    title="Held-out model quality",
    run=run_plugin,
    rows=plugin_rows,
    markdown=markdown,
    targets=(NEXT_TOKEN, EOL_EXACT),
    sizes={
        "smoke": {"positions": 4, "max_tokens": 1024, "max_new_tokens": 8},
        "quick": {"positions": 60, "max_tokens": 32_768, "max_new_tokens": 24},
        "full": {},
    },
    figures=(figure,),
)


if __name__ == "__main__":
    sys.exit(main())
