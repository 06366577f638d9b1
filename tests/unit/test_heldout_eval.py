"""The held-out evaluation (benchmarks/heldout_eval.py): line completions are what
CompletionPipeline.run gives, mid-line completions are scored as the server places them."""

from __future__ import annotations

import pytest

from analysis.document import Document
from benchmarks.common import LineCase
from benchmarks.heldout_eval import (
    evaluate_cases,
    placed_before_closers,
    settings_for,
)
from lsp_server.pipeline import CompletionPipeline, PipelineOptions


def mid(document: str, cursor: str, target: str, suffix: str) -> LineCase:
    offset = document.index(cursor)
    document = document.replace(cursor, "")
    return LineCase("x.py", document, offset, target, "mid", False, suffix)


@pytest.mark.parametrize(
    ("text", "overwrites", "placed"),
    [
        ("value", 0, "value"),  # inserted before the kept closer
        ("value)", 1, "value"),  # re-typed closer overwritten, as the server places it
        ("value[0]", 0, "value[0]"),  # its own brackets are kept
        ("value, other", 0, "value, other"),
        ("value))", 0, "value))"),  # the line ends in ")))": what precedes the kept ")"
        ("", 0, ""),
    ],
)
def test_mid_line_completion_is_what_precedes_the_kept_closers(text, overwrites, placed):
    case = mid("print(|)\nx = 1\n", "|", "value", ")")
    assert placed_before_closers(text, case.offset + overwrites, case) == placed


def test_mid_line_closers_with_a_block_colon():
    case = mid("if check(|):\n    pass\n", "|", "a, b", "):")
    assert placed_before_closers("a, b):", case.offset + 2, case) == "a, b"
    assert placed_before_closers("a, b", case.offset, case) == "a, b"
    assert placed_before_closers("a, b", case.offset + 1, case) == "a, b:"  # ")" lost


TEXT = "def add(a, b):\n    return a + b\n\n\nvalue = add(1, 2)\nprint(value)\n"


def line_cases() -> list[LineCase]:
    """An end-of-line, a mid-line (mid-word) and a next-line case of ``TEXT``."""
    eol_at = TEXT.index("a + b")
    mid_at = TEXT.index("ue)")
    body = TEXT.index("\n    return")
    return [
        LineCase("t.py", TEXT[:eol_at] + TEXT[eol_at + 5 :], eol_at, "a + b", "eol"),
        LineCase("t.py", TEXT[:mid_at] + TEXT[mid_at + 2 :], mid_at, "ue", "mid", True, ")"),
        LineCase(
            "t.py",
            TEXT[:body] + TEXT[body + len("\n    return a + b") :],
            body,
            "\n    return a + b",
            "next_line",
        ),
    ]


def test_line_completions_are_what_the_pipeline_gives(tiny_lm, monkeypatch):
    runs: list[PipelineOptions] = []
    run = CompletionPipeline.run

    def spy(self, doc, offset, options, *args, **kwargs):
        runs.append(options)
        return run(self, doc, offset, options, *args, **kwargs)

    monkeypatch.setattr(CompletionPipeline, "run", spy)
    cases = line_cases()
    rows, latencies = evaluate_cases(tiny_lm, cases, max_new_tokens=6)
    settings = settings_for(tiny_lm)
    assert [s.name for s in settings] == ["fim+heal", "fim", "prefix+heal", "prefix"]
    reused = sum(r["results"][s.name].get("reused", False) for r in rows for s in settings)
    assert len(runs) == len(cases) * len(settings) - reused  # every completion: one run
    assert {(o.decoder, o.k, o.monitor, o.ngram, o.repetition_penalty) for o in runs} == {
        ("greedy", 1, False, False, False)
    }
    assert all(len(v) for v in latencies.values())
    monkeypatch.setattr(CompletionPipeline, "run", run)
    # the same completions from the server's pipeline with the documented flags
    pipeline = CompletionPipeline(tiny_lm)
    completions = []
    for case, row in zip(cases, rows, strict=True):
        doc = Document(f"file:///heldout/{case.source}", case.document, "python")
        next_line = case.kind == "next_line"
        for setting in settings:
            options = PipelineOptions(
                k=1,
                max_new_tokens=6,
                decoder="greedy",
                monitor=False,
                repetition_penalty=False,
                ngram=False,
                multiline="always" if next_line else "never",
                max_lines=2 if next_line else None,
                healing=setting.heal,
                fim=setting.fim,
            )
            result = pipeline.run(doc, case.offset, options)
            top = result.drafts[0] if result.drafts else None
            expected = "" if top is None else top.text
            if top is not None and case.kind == "mid":
                expected = placed_before_closers(top.text, top.end, case)
            got = row["results"][setting.name]
            assert got["completion"] == expected, (case.kind, setting.name)
            assert got["healed"] == result.prompt.removed_text
            assert got["exact"] == (expected.rstrip() == case.target.rstrip())
            completions.append(expected)
            if next_line:  # the rest of the cursor's line and at most the next line
                assert expected.count("\n") <= 1
    assert any(completions)  # the random model wrote something somewhere


def fake_report(acc: float, eol: float, positions: int = 30) -> dict:
    group = {"n": 10, "exact_match": eol, "edit_similarity": 0.5}
    setting = {k: dict(group) for k in ("eol", "mid", "mid_word", "next_line")}
    return {
        "command": f"python -m benchmarks.heldout_eval --positions {positions}",
        "model": {"name": "m"},
        "settings": {"positions": positions, "seed": 0, "quick": False},
        "next_token": {"accuracy": acc, "loss_nats": 3.0},
        "line_completion": {"prefix+heal": setting, "fim+heal": setting},
    }


def test_comparison_has_a_row_per_model_and_setting(tmp_path):
    import json

    from benchmarks.heldout_eval import comparison_markdown, main

    text = comparison_markdown({"first": fake_report(0.4, 0.1), "shipped": fake_report(0.5, 0.2)})
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| first") or line.startswith("| shipped")
    ]
    assert len(rows) == 4
    assert rows[0].startswith("| first | prefix+heal | 0.400")
    assert "different cases" not in text
    assert "different cases" in comparison_markdown(
        {"a": fake_report(0.4, 0.1), "b": fake_report(0.4, 0.1, positions=60)}
    )
    # the command line writes comparison.md, and refuses malformed specs
    a = tmp_path / "a.json"
    a.write_text(json.dumps(fake_report(0.4, 0.1)))
    assert main(["--compare", f"first={a}", f"again={a}", "--out", str(tmp_path)]) == 0
    assert "| again | fim+heal" in (tmp_path / "comparison.md").read_text()
    assert main(["--compare", str(a)]) == 2
    assert main(["--compare", f"x={tmp_path / 'missing.json'}"]) == 2


def test_mixed_setting_takes_fim_on_mid_line_cases_only(tiny_lm):
    import dataclasses

    from benchmarks.heldout_eval import MIXED, with_mixed_setting

    def result(name: str) -> dict:
        return {"completion": name, "ms": 1.0 if name.startswith("fim") else 2.0}

    rows = [
        {"kind": kind, "results": {n: result(n) for n in ("prefix+heal", "fim+heal")}}
        for kind in ("eol", "mid", "next_line")
    ]
    latencies = {"prefix+heal": [2.0] * 3, "fim+heal": [1.0] * 3}
    out = with_mixed_setting(tiny_lm, rows, latencies)
    assert [r["results"][MIXED]["completion"] for r in rows] == [
        "prefix+heal",
        "fim+heal",
        "prefix+heal",
    ]
    assert out[MIXED] == [2.0, 1.0, 2.0] and list(out)[-1] == MIXED
    served = with_mixed_setting(
        dataclasses.replace(tiny_lm, fim_policy="mid-line"), rows, latencies
    )
    assert list(served)[0] == MIXED  # the served setting comes first


def test_loss_by_context_buckets_every_token_of_full_windows_once(tiny_lm):
    import torch

    from benchmarks.heldout_eval import context_curve

    text = "def add(a, b):\n    return a + b\n" * 40
    curve = context_curve(tiny_lm, [("t.py", text)], None)
    window, n = curve["window"], curve["windows"]
    assert window == tiny_lm.context_length and n >= 1
    buckets = curve["buckets"]
    assert buckets[0]["context"][0] == 1 and buckets[-1]["context"][1] == window - 1
    assert all(
        a["context"][1] + 1 == b["context"][0]
        for a, b in zip(buckets[:-1], buckets[1:], strict=True)
    )
    assert sum(b["tokens"] for b in buckets) == n * (window - 1)
    # the buckets' token-weighted loss is the plain loss over the same windows
    ids = [min(tiny_lm.eos_ids)] + tiny_lm.encode(text)
    windows = torch.tensor([ids[s : s + window] for s in range(0, n * window, window)])
    with torch.no_grad():
        logits = tiny_lm.model(input_ids=windows).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    plain = float(-logp.gather(2, windows[:, 1:, None]).mean())
    weighted = sum(b["loss_nats"] * b["tokens"] for b in buckets) / (n * (window - 1))
    assert abs(weighted - plain) < 1e-3
    # a budget keeps fewer windows
    assert context_curve(tiny_lm, [("t.py", text)], window)["windows"] == 1


def test_manual_line_matches_read_the_first_draft_and_any_draft():
    from benchmarks.manual_lines import line_matches, markdown

    assert line_matches(["x + 1  ", "x"], "x + 1") == (True, True)
    assert line_matches(["x", "x + 1"], "x + 1\n") == (False, True)
    assert line_matches(["y"], "x + 1") == (False, False)
    assert line_matches([], "x + 1") == (False, False)  # no draft: no match
    report = {"model": "m", "cases": 2, "k": 4, "seed": 0}
    report["rows"] = [{"ngram_weight": 0.6, "top1_em": 0.5, "best_of_k_em": 1.0}]
    assert "| 0.6 | 50.0% | 100.0% |" in markdown(report)
