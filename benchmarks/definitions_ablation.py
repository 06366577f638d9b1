"""Referenced definitions in the prompt (issue 14, item 5), measured on and off.

Two measurements, each with the ``contextDefinitions`` setting (``PipelineOptions.definitions``)
off and on, nothing else changed:

* ``lines``: line completion on held-out code at end-of-line and mid-line masks, the cases
  of :mod:`benchmarks.heldout_eval` (:func:`benchmarks.common.sample_line_cases`, in the
  style of Code4Me's evaluation: the target cut out of the file, the code after it kept;
  mid-line cases keep the closers an editor auto-closes and the completion is placed the
  way the server places it), completed through what ships,
  :meth:`lsp_server.pipeline.CompletionPipeline.run` (greedy, single line, the server's
  n-grams, monitor, healing and FIM policy). Exact match and edit similarity of the
  completion, and whether its first identifier matches, over all cases and over the cases
  whose prompt received definitions (where the setting can change anything);
* ``typing``: :mod:`benchmarks.typing`'s unpaced configuration (every key waits for its
  answer), once per setting through the real server: keystrokes saved and wrong ghost
  texts per 100 keystrokes.

    python -m benchmarks.definitions_ablation lines --cases 300 --out bench-out/definitions
    python -m benchmarks.definitions_ablation typing --mode quick --out bench-out/definitions
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from analysis.document import Document
from benchmarks.common import (
    LineCase,
    edit_similarity,
    exact_match,
    first_identifier,
    heldout_files,
    machine_info,
    markdown_table,
    percentiles,
    rate,
    sample_line_cases,
    use_threads,
)
from lsp_server.pipeline import CompletionPipeline, PipelineOptions
from models.loader import load_model
from models.ngram import NgramModel, WorkspaceNgrams, background_for

DEFAULT_OUT = Path("bench-out/definitions")
KINDS = ("eol", "mid")


def placed(case: LineCase, text: str, end: int) -> str:
    """What the completion leaves between the cursor and the kept closers (mid-line), or
    the completion (end of line): the draft inserted over ``[offset, end)`` as the server
    places it."""
    if case.kind != "mid":
        return text
    line_end = case.document.find("\n", case.offset)
    line_end = len(case.document) if line_end < 0 else line_end
    line = text + case.document[end:line_end]
    if case.line_suffix and line.endswith(case.line_suffix):
        return line[: -len(case.line_suffix)]
    return line


def line_cases(model_path: Path, n: int, seed: int) -> list[LineCase]:
    """``n`` end-of-line and mid-line cases of the held-out files (heldout_eval's sampler)."""
    texts = [(f.relpath, f.read()) for f in heldout_files(model_path)]
    cases = sample_line_cases(texts, n * 3 // 2 + 3, seed)
    return [c for c in cases if c.kind in KINDS][:n]


def run_lines(
    model: str, out: Path, cases: int, seed: int, max_new_tokens: int, progress: bool
) -> dict[str, Any]:
    """Line completion with definitions off and on; writes lines.json/lines.md."""
    lm = load_model(model, device="cpu")
    use_threads(1)
    background = background_for(lm.path, lm.tokenizer, lm.vocab_size)
    pipeline = CompletionPipeline(lm, NgramModel(background, WorkspaceNgrams(lm.vocab_size)))
    base = PipelineOptions(k=1, decoder="greedy", multiline="never", max_new_tokens=max_new_tokens)
    rows = []
    for index, case in enumerate(line_cases(lm.path, cases, seed)):
        uri = f"file:///heldout/{case.source}"
        pipeline.ngrams.workspace.set_document(uri, lm.encode(case.document))
        row: dict[str, Any] = {"source": case.source, "kind": case.kind, "target": case.target}
        for flag in (False, True):
            doc = Document(uri, case.document, "python")
            result = pipeline.run(doc, case.offset, replace(base, definitions=flag))
            top = result.drafts[0] if result.drafts else None
            text = placed(case, top.text, top.end) if top is not None else ""
            row["on" if flag else "off"] = {
                "completion": text,
                "exact": exact_match(text, case.target),
                "similarity": round(edit_similarity(text, case.target), 4),
                "identifier": first_identifier(text) == first_identifier(case.target),
                "definitions_tokens": result.prompt.definitions_tokens if result.prompt else 0,
                "definitions_ms": result.timings.get("definitions_ms"),
            }
        pipeline.ngrams.workspace.remove_document(uri)
        rows.append(row)
        if progress and (index + 1) % 25 == 0:
            print(f"  lines {index + 1}/{cases}", file=sys.stderr)
    summary = summarise_lines(rows)
    command = (
        f"python -m benchmarks.definitions_ablation lines --model {model} --cases {cases} "
        f"--seed {seed} --max-new-tokens {max_new_tokens}"
    )
    data = {"command": command, "machine": machine_info(), "summary": summary, "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / "lines.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / "lines.md").write_text(lines_markdown(data))
    return data


def summarise_lines(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Exact match, edit similarity, identifier match per setting and case group."""
    groups = {
        "all": rows,
        "with definitions": [r for r in rows if r["on"]["definitions_tokens"] > 0],
        **{kind: [r for r in rows if r["kind"] == kind] for kind in KINDS},
    }
    out: dict[str, Any] = {}
    for name, group in groups.items():
        out[name] = {"n": len(group)}
        for arm in ("off", "on"):
            out[name][arm] = {
                "exact": rate([r[arm]["exact"] for r in group]),
                "similarity": rate([r[arm]["similarity"] for r in group]),
                "identifier": rate([r[arm]["identifier"] for r in group]),
            }
        out[name]["changed"] = sum(r["on"]["completion"] != r["off"]["completion"] for r in group)
    out["definitions_tokens"] = percentiles([r["on"]["definitions_tokens"] for r in rows], (50, 95))
    out["definitions_ms"] = percentiles(
        [r["on"]["definitions_ms"] for r in rows if r["on"]["definitions_ms"] is not None],
        (50, 95),
    )
    return out


def lines_markdown(data: dict[str, Any]) -> str:
    s = data["summary"]
    rows = []
    for name in ("all", "with definitions", *KINDS):
        g = s[name]
        rows.append(
            [name, g["n"], g["changed"]]
            + [
                g[arm][key]
                for key in ("exact", "similarity", "identifier")
                for arm in ("off", "on")
            ]
        )
    return "\n".join(
        [
            "## Line completion, referenced definitions off / on",
            "",
            f"`{data['command']}` on {data['machine']['cpu']}. Definition tokens per prompt "
            f"p50/p95: {s['definitions_tokens'].get('p50')}/{s['definitions_tokens'].get('p95')}; "
            f"definitions time p50/p95 (ms, fresh document): "
            f"{s['definitions_ms'].get('p50')}/{s['definitions_ms'].get('p95')}.",
            "",
            markdown_table(
                [
                    "cases",
                    "n",
                    "completion changed",
                    "EM off",
                    "EM on",
                    "ES off",
                    "ES on",
                    "identifier off",
                    "identifier on",
                ],
                rows,
            ),
        ]
    )


def run_typing(model: str, out: Path, mode: str, seed: int, segments: int | None) -> dict:
    """The typing benchmark's unpaced configuration with the setting off and on."""
    from benchmarks import typing as typing_bench

    configs = [
        typing_bench.RunConfig(
            f"superpose-ls, unpaced, contextDefinitions {'on' if flag else 'off'}",
            paced=False,
            options={"contextDefinitions": flag},
        )
        for flag in (False, True)
    ]
    with typing_bench.segment_count(mode, segments):
        data = typing_bench.run(mode, model, out / "typing", seed, None, configs)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("lines", "typing"))
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=300, help="lines: eol + mid cases")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--mode", default="quick", help="typing: the typing benchmark's mode")
    parser.add_argument("--segments", type=int, default=None, help="typing: segment count")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.what == "lines":
        data = run_lines(args.model, args.out, args.cases, args.seed, args.max_new_tokens, True)
        print(lines_markdown(data))
    else:
        from benchmarks import typing as typing_bench

        data = run_typing(args.model, args.out, args.mode, args.seed, args.segments)
        print(typing_bench.markdown(data))
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
