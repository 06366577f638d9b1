"""Benchmark: k drafts by superposed decoding against k-draft baselines (issue 4).

Superposed Decoding (Shen et al. 2024, "Superposed Decoding: Multiple Generations
from a Single Autoregressive Inference Pass") claims k drafts for about the cost
of one. This script measures that claim, and the drafts' quality, on held-out
code: files of the standard-library corpus the default model never trained on
(``models.corpus.split_files()[1]``), cut at random end-of-line positions; the
target is the next (non-blank) line, the cursor at the start of it.

Every request is what ships, :meth:`lsp_server.pipeline.CompletionPipeline.run`, with
the server's prompt (healing, FIM policy), constraints (member monitor, repetition
penalty), cleaning and ranking, one line per draft (``multiline="never"``); the methods
differ only in :class:`PipelineOptions` ``decoder``, ``ngram`` and ``verify``
(:data:`METHODS`). The decoders the server offers (superposed, greedy, beam, sampling)
run as the server runs them; the k-sequential-passes baselines
(:func:`models.baselines.sequential_decode`, the cost superposed decoding is compared
with, which the server never serves) are decoder names of this benchmark's backend
(:class:`BenchmarkBackend`, the pipeline's pluggable decoding step), which also sets the
benchmark's temperature, top-p, n-gram weight and per-prompt seed on every request.
For each k, on the same prompts, in one run:

* decoding time per prompt (the pipeline's decoding step; the whole request is
  reported next to it) of superposed decoding (as served: n-grams + verification,
  and "plain": neither), k sequential greedy passes, k sequential nucleus passes,
  batched nucleus sampling (k rows, one forward per step) and beam search (k beams);
* best-of-k exact match of the completed line (the cleaned drafts), mean per-draft
  model perplexity of the decoded drafts (exact, one batched pass per prompt, outside
  the timed region), the number of distinct drafts the pipeline returns; plus greedy's
  single-draft exact match;
* the n-gram overhead per decoding step (measured inside superposed decoding, and in
  isolation for k=4, N=12: the only measurement outside the pipeline).

Writes ``drafts.json`` and ``drafts.md`` into ``--out``. Example::

    python -m benchmarks.drafts --model default --prompts 40 --ks 2,3,4,8 --out bench-out/drafts
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from analysis.document import Document
from benchmarks.common import add_model_arguments, use_threads
from benchmarks.plugin import Benchmark, Row, Target, fmt, row
from lsp_server.backend import DecodeContext, LocalBackend
from lsp_server.pipeline import CompletionPipeline, PipelineOptions
from models.baselines import sequential_decode
from models.corpus import split_files
from models.decoding import Decoder, DecodeRequest, DecodeResult
from models.loader import LoadedModel, ModelLoadError, load_model
from models.ngram import NgramModel, NgramTable, WorkspaceNgrams
from models.verify import token_logprobs


@dataclass(frozen=True)
class Case:
    """One held-out prompt: the code up to an end of line, and the next line."""

    source: str
    prompt: str
    target: str


def heldout_cases(n: int, seed: int, max_prompt_chars: int) -> list[Case]:
    """Return ``n`` prompts cut at random end-of-line positions of held-out files."""
    rng = random.Random(seed)
    files = split_files()[1]
    texts = [(f.relpath, f.read()) for f in files]
    texts = [(p, t) for p, t in texts if t.count("\n") > 20]
    cases: list[Case] = []
    while len(cases) < n:
        relpath, text = rng.choice(texts)
        lines = text.split("\n")
        i = rng.randrange(5, len(lines) - 1)
        target = lines[i]
        if not target.strip() or len(target.strip()) < 3:
            continue
        prompt = "\n".join(lines[:i]) + "\n"
        cases.append(Case(relpath, prompt[-max_prompt_chars:], target))
    return cases


@dataclass(frozen=True)
class Method:
    """One way to get k drafts: a pipeline decoder and its n-gram / verification flags."""

    name: str
    decoder: str  # PipelineOptions.decoder (the server's, or a BenchmarkBackend baseline)
    ngram: bool = False
    verify: bool = False


METHODS = (
    Method("superposed", "superposed", ngram=True, verify=True),  # as served
    Method("superposed-plain", "superposed"),
    Method("sequential-greedy", "sequential-greedy"),
    Method("sequential-nucleus", "sequential-sampling"),
    Method("batched-nucleus", "sampling"),
    Method("beam", "beam"),
)
GREEDY = Method("greedy", "greedy")  # the single draft best-of-k is compared with


def method_options(method: Method, k: int, max_new_tokens: int) -> PipelineOptions:
    """Return the pipeline options of ``method``: the server's, one line per draft."""
    return PipelineOptions(
        k=k,
        max_new_tokens=max_new_tokens,
        decoder=method.decoder,
        ngram=method.ngram,
        verify=method.verify,
        multiline="never",
    )


class BenchmarkBackend(LocalBackend):
    """The local backend with the benchmark's decoding parameters on every request
    (temperature, top-p, the n-gram weight if one is given (else the model's own), the
    current prompt's ``seed``), and the k-sequential-passes baselines as decoder names
    (the server offers none of them)."""

    name = "benchmark"
    BASELINES: ClassVar[dict[str, Decoder]] = {
        "sequential-greedy": partial(sequential_decode, inner="greedy"),
        "sequential-sampling": partial(sequential_decode, inner="sampling"),
    }

    def __init__(
        self, temperature: float = 1.0, top_p: float = 0.95, ngram_weight: float | None = None
    ) -> None:
        self.temperature = temperature
        self.top_p = top_p
        self.ngram_weight = ngram_weight
        self.seed: int | None = None

    def decode(self, lm: LoadedModel, request: DecodeRequest, ctx: DecodeContext) -> DecodeResult:
        request = replace(
            request,
            temperature=self.temperature,
            top_p=self.top_p,
            ngram_weight=request.ngram_weight if self.ngram_weight is None else self.ngram_weight,
            seed=self.seed,
        )
        baseline = self.BASELINES.get(ctx.options.decoder)
        if baseline is not None:
            return baseline(lm, request)
        return super().decode(lm, request, ctx)


@dataclass
class Outcome:
    """What one method gave on one prompt."""

    lines: list[str]  # the pipeline's drafts, in rank order
    decode_seconds: float  # the pipeline's decoding step
    seconds: float  # the whole pipeline run
    forward_calls: int
    generated_tokens: int
    timings: dict[str, float] = field(default_factory=dict)  # the decoder's own
    perplexities: list[float] = field(default_factory=list)


def case_document(case: Case) -> Document:
    """Return the editor's document of ``case``: the code before the cursor."""
    return Document(f"file:///heldout/{case.source}", case.prompt, "python")


def run_method(
    pipeline: CompletionPipeline, case: Case, options: PipelineOptions, perplexity: bool = True
) -> Outcome:
    """Return what :meth:`CompletionPipeline.run` gives at the end of ``case.prompt``."""
    started = time.perf_counter()
    result = pipeline.run(case_document(case), len(case.prompt), options)
    seconds = time.perf_counter() - started
    decoded = result.decoded
    assert decoded is not None and result.prompt is not None
    return Outcome(
        lines=[d.text.rstrip() for d in result.drafts],
        decode_seconds=result.timings["decode_ms"] / 1000.0,
        seconds=seconds,
        forward_calls=decoded.forward_calls,
        generated_tokens=decoded.generated_tokens,
        timings=dict(decoded.timings),
        perplexities=(
            draft_perplexities(pipeline.lm, result.prompt.ids, decoded) if perplexity else []
        ),
    )


def draft_perplexities(lm: LoadedModel, prompt_ids: list[int], result: DecodeResult) -> list[float]:
    """Return the exact model perplexity of every non-empty draft (one batched pass)."""
    rows = [d.token_ids for d in result.drafts if d.token_ids]
    if not rows:
        return []
    from models.decoding import fit_prompt

    prompt = fit_prompt(lm, prompt_ids, max(len(r) for r in rows))
    return [math.exp(-sum(lp) / len(lp)) for lp in token_logprobs(lm, prompt, rows)]


def ngram_microbenchmark(table: Any, vocab: int, reps: int = 2000) -> float:
    """Return milliseconds per look-up of k=4 drafts x N=12 candidates."""
    rng = np.random.default_rng(0)
    contexts = rng.integers(0, vocab, size=(4, table.context_length))
    cands = rng.integers(0, vocab, size=(4, 12))
    table.log_probs(contexts, cands)
    started = time.perf_counter()
    for _ in range(reps):
        table.log_probs(contexts, cands)
    return (time.perf_counter() - started) * 1000.0 / reps


def load(spec: str) -> LoadedModel:
    return load_model(spec, device="cpu")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(parser, "bench-out/drafts")
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--ks", default="2,3,4,8")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--max-prompt-chars", type=int, default=2000)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--ngram", default="auto", help="'auto' (model dir), 'none' or a .npz")
    parser.add_argument(
        "--ngram-weight", type=float, default=None, help="default: the model's own (as served)"
    )
    args = parser.parse_args(argv)
    try:
        ks = [int(k) for k in args.ks.split(",") if k.strip()]
        if not ks or min(ks) < 1:
            raise ValueError
    except ValueError:
        print("drafts: --ks must be a comma-separated list of positive integers", file=sys.stderr)
        return 2
    try:
        lm = load(args.model)
    except ModelLoadError as exc:
        print(f"drafts: {exc}", file=sys.stderr)
        return 2
    use_threads(args.threads)
    # background n-gram table: shipped next to the model unless told otherwise
    background: NgramTable | None = None
    if args.ngram != "none":
        path = lm.path / "ngram.npz" if args.ngram == "auto" else Path(args.ngram)
        if path.is_file():
            background = NgramTable.load(path)
    cases = heldout_cases(args.prompts, args.seed, args.max_prompt_chars)
    backend = BenchmarkBackend(args.temperature, args.top_p, args.ngram_weight)
    # the open document is the workspace: its text so far feeds the workspace table
    workspace = WorkspaceNgrams(lm.vocab_size)
    ngram = NgramModel(background, workspace)
    pipeline = CompletionPipeline(lm, ngram, backend=backend)
    per: dict[tuple[int, str], dict[str, list[float]]] = {}
    greedy_hits: list[float] = []
    greedy_seconds: list[float] = []
    ngram_step_ms: list[float] = []
    started = time.perf_counter()
    uri = ""
    for ci, case in enumerate(cases):
        workspace.remove_document(uri)  # the previous prompt's (the last stays for the look-ups)
        uri = case_document(case).uri
        workspace.set_document(uri, lm.encode(case.prompt))
        backend.seed = args.seed * 1000 + ci
        target = case.target.rstrip()
        greedy = run_method(pipeline, case, method_options(GREEDY, 1, args.max_new_tokens), False)
        greedy_hits.append(float(greedy.lines[:1] == [target]))
        greedy_seconds.append(greedy.decode_seconds)
        for k in ks:
            for method in METHODS:
                outcome = run_method(pipeline, case, method_options(method, k, args.max_new_tokens))
                stats = per.setdefault((k, method.name), {})
                stats.setdefault("seconds", []).append(outcome.decode_seconds)
                stats.setdefault("pipeline_seconds", []).append(outcome.seconds)
                stats.setdefault("forward_calls", []).append(outcome.forward_calls)
                stats.setdefault("hit", []).append(float(target in outcome.lines))
                stats.setdefault("distinct", []).append(len(set(outcome.lines)))
                stats.setdefault("ppl", []).extend(outcome.perplexities)
                if method.name == "superposed" and k == 4 and outcome.generated_tokens:
                    ngram_step_ms.append(outcome.timings["ngram_ms"] / outcome.generated_tokens)
        print(f"[{ci + 1}/{len(cases)}] {time.perf_counter() - started:.0f}s", file=sys.stderr)

    summary = summarise(per, ks, greedy_hits, greedy_seconds)
    micro = ngram_microbenchmark(ngram, lm.vocab_size) if cases else float("nan")
    report = {
        "command": "python -m benchmarks.drafts " + " ".join(argv or sys.argv[1:]),
        "model": lm.name,
        "parameters": lm.parameter_count(),
        "prompts": len(cases),
        "config": {**vars(args), "out": str(args.out)},
        "torch_threads": torch.get_num_threads(),
        "pipeline_options": {
            m.name: {"decoder": m.decoder, "ngram": m.ngram, "verify": m.verify}
            for m in (GREEDY, *METHODS)
        },
        "background_ngram": background is not None,
        "greedy": {
            "exact_match": statistics.fmean(greedy_hits) if greedy_hits else None,
            "ms_per_prompt": 1000 * statistics.fmean(greedy_seconds) if greedy_seconds else None,
        },
        "ngram_ms_per_step_k4": statistics.fmean(ngram_step_ms) if ngram_step_ms else None,
        "ngram_lookup_ms_k4_n12": micro,
        "results": summary,
        "seconds": time.perf_counter() - started,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "drafts.json").write_text(json.dumps(report, indent=1))
    (out / "drafts.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def summarise(
    per: dict[tuple[int, str], dict[str, list[float]]],
    ks: list[int],
    greedy_hits: list[float],
    greedy_seconds: list[float],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for (k, name), stats in per.items():
        sup = per[(k, "superposed")]["seconds"]
        rows.append(
            {
                "k": k,
                "method": name,
                "ms_per_prompt": 1000 * statistics.fmean(stats["seconds"]),
                "pipeline_ms_per_prompt": 1000 * statistics.fmean(stats["pipeline_seconds"]),
                "time_vs_superposed": statistics.fmean(stats["seconds"]) / statistics.fmean(sup),
                "forward_calls": statistics.fmean(stats["forward_calls"]),
                "best_of_k_exact_match": statistics.fmean(stats["hit"]),
                "mean_draft_perplexity": statistics.fmean(stats["ppl"]) if stats["ppl"] else None,
                "median_draft_perplexity": statistics.median(stats["ppl"])
                if stats["ppl"]
                else None,
                "distinct_drafts": statistics.fmean(stats["distinct"]),
            }
        )
    rows.sort(key=lambda r: (r["k"], r["method"]))
    return rows


def markdown(report: dict[str, Any]) -> str:
    g = report["greedy"]
    lines = [
        f"# Drafts benchmark ({report['model']}, {report['prompts']} held-out prompts)",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Greedy single draft: exact match {g['exact_match']:.3f}, "
        f"{g['ms_per_prompt']:.1f} ms/prompt. "
        f"N-gram cost per superposed step (k=4): {report['ngram_ms_per_step_k4'] or 0:.3f} ms "
        f"in situ, {report['ngram_lookup_ms_k4_n12']:.3f} ms per isolated look-up (4x12).",
        "",
        "| k | method | ms/prompt | time / superposed | forward calls | best-of-k EM "
        "| mean ppl | median ppl | distinct |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        mean_ppl = (
            "-" if r["mean_draft_perplexity"] is None else f"{r['mean_draft_perplexity']:.1f}"
        )
        med_ppl = (
            "-" if r["median_draft_perplexity"] is None else f"{r['median_draft_perplexity']:.1f}"
        )
        lines.append(
            f"| {r['k']} | {r['method']} | {r['ms_per_prompt']:.1f} | "
            f"{r['time_vs_superposed']:.2f}x | {r['forward_calls']:.1f} | "
            f"{r['best_of_k_exact_match']:.3f} | {mean_ppl} | {med_ppl} | "
            f"{r['distinct_drafts']:.2f} |"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ plug-in (benchmarks.plugin)

# the targets of issue 4, declared once (report, README summary and figure read them)
SPEED = Target(
    "drafts.speed_vs_sequential",
    "time of k greedy passes / one superposed pass (k >= 3)",
    ">=",
    2.4,
    "x",
    "issue 4",
)
VS_SAMPLING = Target(
    "drafts.speed_vs_sampling", "time of batched sampling / superposed", ">", 1.0, "x", "issue 4"
)
QUALITY = Target(
    "drafts.best_of_k_vs_greedy",
    "best-of-k exact match, superposed minus greedy (1 draft)",
    ">",
    0.0,
    "pp",
    "issue 4",
)


METHOD_COLORS = {  # the same method has the same colour in both panels; red marks targets
    "superposed": "C0",
    "superposed-plain": "C9",
    "sequential-greedy": "C2",
    "sequential-nucleus": "C1",
    "batched-nucleus": "C4",
    "beam": "C5",
}


def headline_k(result: dict[str, Any]) -> int | None:
    """The k the summary reports: 4 when measured, else the largest k >= 3 (None: none)."""
    ks = {r["k"] for r in result.get("results", []) if r["method"] == "superposed"}
    return 4 if 4 in ks else max((k for k in ks if k >= 3), default=None)


def rows(result: dict[str, Any]) -> list[Row]:
    """Speed against k greedy passes and batched sampling, quality against greedy."""
    by = {(r["k"], r["method"]): r for r in result.get("results", [])}
    k = headline_k(result)
    n = f"({result.get('prompts', '?')} prompts)"
    if k is None:
        return [
            row(f"{target.label} (no k >= 3 measured)", None, target)
            for target in (SPEED, VS_SAMPLING, QUALITY)
        ]
    sup = by[(k, "superposed")]
    greedy = (result.get("greedy") or {}).get("exact_match")

    def ratio(method: str) -> float | None:
        other = by.get((k, method))
        return None if other is None else other["ms_per_prompt"] / sup["ms_per_prompt"]

    em = sup["best_of_k_exact_match"]
    gain = None if greedy is None else em - greedy
    both = f"(superposed {fmt(em, '%')}, greedy {fmt(greedy, '%')}; {n[1:-1]})"
    return [
        row(
            f"time of {k} greedy passes / superposed k={k}",
            ratio("sequential-greedy"),
            SPEED,
            None,
            n,
        ),
        row(
            f"time of batched sampling / superposed k={k}",
            ratio("batched-nucleus"),
            VS_SAMPLING,
            None,
            n,
        ),
        row(f"best-of-{k} exact match, superposed minus greedy", gain, QUALITY, None, both),
    ]


def figure(result: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """Time of each method relative to superposed at the same k, and best-of-k exact
    match against greedy's single draft, both against k, targets drawn."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from benchmarks.figures import BASELINE_COLOR, legend_below, new_figure, save, target_line

    fig, (ax, bx) = new_figure(ctx, "k drafts: superposed vs k passes, batched sampling, beam", 2)
    results = result.get("results", [])
    methods = sorted({r["method"] for r in results})
    for method in methods:
        mine = sorted((r for r in results if r["method"] == method), key=lambda r: r["k"])
        ks = [r["k"] for r in mine]
        style = {"color": METHOD_COLORS.get(method), "marker": "o", "label": method}
        if method == "superposed":
            style["linewidth"] = 2.5
        else:
            ax.plot(ks, [r["time_vs_superposed"] for r in mine], **style)
        bx.plot(ks, [100 * r["best_of_k_exact_match"] for r in mine], **style)
    ax.axhline(1.0, color=METHOD_COLORS["superposed"], linewidth=2.5, label="superposed (= 1)")
    target_line(ax, SPEED, label=f"target: k greedy passes {SPEED.text()} (k >= 3)")
    target_line(ax, VS_SAMPLING, label=f"target: batched sampling {VS_SAMPLING.text()}")
    ks = sorted({r["k"] for r in results})
    greedy = (result.get("greedy") or {}).get("exact_match")
    if greedy is not None:
        bx.axhline(100 * greedy, color=BASELINE_COLOR, linestyle=":", label="greedy, 1 draft")
        target_line(bx, QUALITY, value=greedy, label="target: superposed above greedy")
    for a in (ax, bx):
        a.set_xticks(ks)
        a.set_xlabel("k (drafts)")
        a.grid(alpha=0.3)
    ax.set_ylabel("time / superposed at the same k (x, log)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    low, high = ax.get_ylim()
    ax.set_yticks([t for t in (0.25, 0.5, 1, 2, 3, 4, 6, 8, 16, 32) if low <= t <= high])
    n = result.get("prompts", "?")
    ax.set_title(f"{n} held-out prompts, single-line drafts; above 1: slower", fontsize=8)
    top = max([100 * r["best_of_k_exact_match"] for r in results] + [100 * (greedy or 0)])
    bx.set_ylim(0, max(5.0, 1.2 * top))
    bx.set_ylabel("best-of-k exact match of the line, %")
    bx.set_title(f"{n} held-out prompts: the next line, exactly", fontsize=8)
    legend_below(ax, 3)
    legend_below(bx, 3)
    return save(fig, out / "drafts.png")


def run_plugin(
    mode: str, model: str, out: Path, prompts: int, ks: str, max_new_tokens: int | None = None
) -> dict[str, Any]:
    """``main`` as the report calls it (same command line); returns drafts.json."""
    args = ["--model", model, "--out", str(out), "--prompts", str(prompts), "--ks", ks]
    if max_new_tokens is not None:
        args += ["--max-new-tokens", str(max_new_tokens)]
    code = main(args)
    if code:
        raise RuntimeError(f"drafts exited with {code}")
    return json.loads((Path(out) / "drafts.json").read_text())


PLUGIN = Benchmark(
    name="drafts",
    title="Drafts: superposed decoding vs baselines",
    run=run_plugin,
    rows=rows,
    markdown=markdown,
    targets=(SPEED, VS_SAMPLING, QUALITY),
    sizes={
        "smoke": {"prompts": 1, "ks": "2,4", "max_new_tokens": 6},
        "quick": {"prompts": 3, "ks": "1,2,4,8", "max_new_tokens": 12},
        "full": {"prompts": 60, "ks": "1,2,3,4,8"},
    },
    figures=(figure,),
)


if __name__ == "__main__":
    raise SystemExit(main())
