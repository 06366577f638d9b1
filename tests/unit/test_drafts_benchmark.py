"""The drafts benchmark (benchmarks/drafts.py): every method is a CompletionPipeline.run
with its decoder flag, and what it records is what the pipeline gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import drafts
from lsp_server.pipeline import CompletionPipeline, PipelineOptions
from models.decoding import DecodeRequest

CASE = drafts.Case(
    "t.py",
    "def add(a, b):\n    return a + b\n\n\nclass Foo:\n    def go(self):\n",
    "        return add(1, 2)",
)


def test_every_method_runs_the_pipeline_and_the_report_keeps_its_keys(
    tiny_lm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[PipelineOptions] = []
    run = CompletionPipeline.run

    def spy(self, doc, offset, options, *args, **kwargs):
        assert (doc.text, offset) == (CASE.prompt, len(CASE.prompt))
        runs.append(options)
        return run(self, doc, offset, options, *args, **kwargs)

    monkeypatch.setattr(CompletionPipeline, "run", spy)
    monkeypatch.setattr(drafts, "load", lambda spec: tiny_lm)
    monkeypatch.setattr(drafts, "heldout_cases", lambda n, seed, chars: [CASE] * n)
    args = ["--model", "tiny", "--prompts", "2", "--ks", "2,3", "--max-new-tokens", "4"]
    assert drafts.main([*args, "--ngram", "none", "--out", str(tmp_path)]) == 0
    # per prompt: greedy once, then every method at every k, each one pipeline run
    per_prompt = 1 + 2 * len(drafts.METHODS)
    assert len(runs) == 2 * per_prompt
    assert [o.decoder for o in runs[:per_prompt]] == ["greedy"] + [
        m.decoder for m in drafts.METHODS
    ] * 2
    assert {o.multiline for o in runs} == {"never"}
    assert all(o.monitor and o.repetition_penalty and o.healing for o in runs)  # as served
    served = runs[1]
    assert (served.decoder, served.k, served.ngram, served.verify) == ("superposed", 2, True, True)
    report = json.loads((tmp_path / "drafts.json").read_text())
    assert {(r["k"], r["method"]) for r in report["results"]} == {
        (k, m.name) for k in (2, 3) for m in drafts.METHODS
    }
    for r in report["results"]:
        assert r["pipeline_ms_per_prompt"] >= r["ms_per_prompt"] > 0
    rows = drafts.rows(report)  # the plug-in's summary rows read the same keys
    assert len(rows) == 3 and "k=3" in rows[0].measure and rows[0].measured is not None
    assert (tmp_path / "drafts.md").read_text().startswith("# Drafts benchmark")


def test_a_method_records_the_drafts_the_pipeline_gives(tiny_lm) -> None:
    backend = drafts.BenchmarkBackend()
    pipeline = CompletionPipeline(tiny_lm, backend=backend)
    doc = drafts.case_document(CASE)
    for method in (drafts.GREEDY, *drafts.METHODS):
        backend.seed = 7
        options = drafts.method_options(method, 3, 5)
        outcome = drafts.run_method(pipeline, CASE, options)
        if method.decoder in ("greedy", "superposed", "beam"):  # the server's own decoders
            expected = CompletionPipeline(tiny_lm).run(doc, len(CASE.prompt), options)
        else:  # seeded sampling, or a baseline only the benchmark's backend knows
            backend.seed = 7
            expected = pipeline.run(doc, len(CASE.prompt), options)
        assert outcome.lines == [d.text.rstrip() for d in expected.drafts], method.name
        assert outcome.forward_calls == expected.decoded.forward_calls
    # k sequential greedy passes: k times greedy's forward calls, one distinct draft
    greedy = drafts.run_method(pipeline, CASE, drafts.method_options(drafts.GREEDY, 1, 5))
    sequential = drafts.run_method(
        pipeline, CASE, drafts.method_options(drafts.METHODS[2], 3, 5), perplexity=False
    )
    assert sequential.forward_calls == 3 * greedy.forward_calls
    assert sequential.lines == greedy.lines


def test_the_backend_sets_the_benchmarks_decoding_parameters(monkeypatch) -> None:
    import models.decoders

    seen: list[DecodeRequest] = []
    monkeypatch.setattr(models.decoders, "get_decoder", lambda name: lambda lm, r: seen.append(r))

    class Ctx:
        options = PipelineOptions(decoder="sampling")

    backend = drafts.BenchmarkBackend(temperature=0.7, top_p=0.5, ngram_weight=0.3)
    backend.seed = 11
    backend.decode(None, DecodeRequest(prompt_ids=[1]), Ctx())  # type: ignore[arg-type]
    request = seen[0]
    assert (request.temperature, request.top_p, request.ngram_weight, request.seed) == (
        0.7,
        0.5,
        0.3,
        11,
    )
