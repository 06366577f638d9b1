"""How the held-out evaluation scores mid-line completions (benchmarks/heldout_eval.py)."""

from __future__ import annotations

import pytest

from benchmarks.common import LineCase
from benchmarks.heldout_eval import line_stop, placed_before_closers


def mid(document: str, cursor: str, target: str, suffix: str) -> LineCase:
    offset = document.index(cursor)
    document = document.replace(cursor, "")
    return LineCase("x.py", document, offset, target, "mid", False, suffix)


@pytest.mark.parametrize(
    ("completion", "placed"),
    [
        ("value", "value"),  # stops before the kept closer
        ("value)", "value"),  # re-typed closer overwritten, as the server places it
        ("value[0]", "value[0]"),  # its own brackets are kept
        ("value, other", "value, other"),
        ("", ""),
    ],
)
def test_mid_line_completion_is_what_precedes_the_kept_closers(completion, placed):
    case = mid("print(|)\nx = 1\n", "|", "value", ")")
    assert placed_before_closers(completion, case) == placed


def test_mid_line_closers_with_a_block_colon():
    case = mid("if check(|):\n    pass\n", "|", "a, b", "):")
    assert placed_before_closers("a, b):", case) == "a, b"
    assert placed_before_closers("a, b", case) == "a, b"


def test_line_stop_ends_at_the_first_newline_after_the_healed_text():
    stop = line_stop("na", leading_newline=False)
    assert stop("na") is None
    assert stop("name = 1\nnext") == len("name = 1")
    next_line = line_stop("", leading_newline=True)
    assert next_line("\n    return x") is None
    assert next_line("\n    return x\n") == len("\n    return x")


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
