"""Asked-for completions at held-out end-of-line cursors, at n-gram weights.

Ghost text is measured by simulated typing (``benchmarks.typing``), which sends automatic
requests only. A completion the user asks for shows the k drafts of a manual request
whole, so a setting that helps ghost text can hurt it. Here every end-of-line case of
:func:`benchmarks.common.sample_line_cases` goes through the served pipeline
(:class:`lsp_server.pipeline.CompletionPipeline`) with a manual request's options, one
line. The open document feeds the workspace n-grams, as the engine keeps them. Reported
per n-gram weight (the model's other weights unchanged):

* **top-1 line exact match**: the first draft is the rest of the line;
* **best-of-k line exact match**: one of the k drafts is.

    python -m benchmarks.manual_lines --model default --positions 300 --weights 0.1,0.6
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import (
    add_model_arguments,
    heldout_files,
    run_opened,
    sample_line_cases,
    use_threads,
)


def line_matches(drafts: Sequence[str], target: str) -> tuple[bool, bool]:
    """Return (the first draft is ``target``, one of them is), trailing spaces ignored."""
    lines = [d.rstrip() for d in drafts]
    want = target.rstrip()
    return bool(lines) and lines[0] == want, want in lines


def run(
    model: str, positions: int, seed: int, weights: Sequence[float], threads: int = 1
) -> dict[str, Any]:
    """Return top-1 and best-of-k line exact match of manual requests per n-gram weight."""
    from benchmarks.heldout_eval import case_document
    from lsp_server.pipeline import PipelineOptions
    from lsp_server.settings import Settings
    from models.loader import load_model
    from models.ngram import background_for

    lm = load_model(model, "cpu")
    use_threads(threads)
    background = background_for(lm.path, lm.tokenizer, lm.vocab_size)
    texts = [(f.relpath, f.read()) for f in heldout_files(lm.path)]
    cases = [c for c in sample_line_cases(texts, positions, seed) if c.kind == "eol"]
    options = PipelineOptions.for_request(Settings(), automatic=False)
    options = dataclasses.replace(options, multiline="never")
    rows = []
    for weight in weights:
        weighted = dataclasses.replace(
            lm, ngram_weights=dataclasses.replace(lm.ngram_weights, manual=weight)
        )
        top = best = 0
        for case in cases:
            result = run_opened(weighted, background, case_document(case), case.offset, options)
            first, any_ = line_matches([d.text for d in result.drafts], case.target)
            top, best = top + first, best + any_
        n = max(1, len(cases))
        rows.append({"ngram_weight": weight, "top1_em": top / n, "best_of_k_em": best / n})
    return {"model": lm.name, "cases": len(cases), "k": options.k, "seed": seed, "rows": rows}


def markdown(report: dict[str, Any]) -> str:
    head = (
        f"Manual requests (k = {report['k']}, one line) at {report['cases']} held-out "
        f"end-of-line cursors, model `{report['model']}`, seed {report['seed']}.\n\n"
        "| n-gram weight | top-1 line EM | best-of-k line EM |\n|---|---|---|\n"
    )
    return head + "".join(
        f"| {r['ngram_weight']} | {r['top1_em']:.1%} | {r['best_of_k_em']:.1%} |\n"
        for r in report["rows"]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(parser, "bench-out/manual_lines")
    parser.add_argument("--positions", type=int, default=300, help="line cases (a third EOL)")
    parser.add_argument("--weights", default="0.1", help="comma-separated n-gram weights")
    args = parser.parse_args(argv)
    try:
        weights = [float(w) for w in args.weights.split(",") if w.strip()]
        if not weights or not all(0.0 <= w <= 1.0 for w in weights):
            raise ValueError
    except ValueError:
        print("manual_lines: --weights must be numbers in [0, 1]", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report = run(args.model, args.positions, args.seed, weights, args.threads)
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manual_lines.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "manual_lines.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
