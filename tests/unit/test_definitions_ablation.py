"""The definitions ablation (issue 14 item 5) on the shipped model: both arms run through
CompletionPipeline.run on the same cases, only the setting differs, and what it reports
matches its rows."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import definitions_ablation as ablation
from benchmarks.common import LineCase


def test_both_arms_run_the_same_cases_and_the_summary_counts_them(tmp_path: Path) -> None:
    data = ablation.run_lines(
        "default", tmp_path, cases=4, seed=0, max_new_tokens=6, progress=False
    )
    rows = data["rows"]
    assert len(rows) == 4 and {r["kind"] for r in rows} <= set(ablation.KINDS)
    for row in rows:
        assert row["off"]["definitions_tokens"] == 0  # off: nothing in front of the prefix
        for arm in ("off", "on"):
            assert 0.0 <= row[arm]["similarity"] <= 1.0
            assert row[arm]["exact"] == (row[arm]["completion"].rstrip() == row["target"].rstrip())
    summary = data["summary"]
    assert summary["all"]["n"] == 4
    changed = sum(r["on"]["completion"] != r["off"]["completion"] for r in rows)
    assert summary["all"]["changed"] == changed
    written = json.loads((tmp_path / "lines.json").read_text())
    assert written["summary"] == summary and "--cases 4" in written["command"]
    assert (tmp_path / "lines.md").read_text().startswith("## Line completion")


def test_a_mid_line_completion_is_placed_before_the_kept_closers() -> None:
    case = LineCase("m.py", "print()\n", 6, "x", "mid", line_suffix=")")
    assert ablation.placed(case, "x", 6) == "x"  # the draft left the ")" in place
    assert ablation.placed(case, "x)", 7) == "x"  # it replaced the ")" and wrote it again
    eol = LineCase("m.py", "a = \n", 4, "1", "eol")
    assert ablation.placed(eol, "1", 4) == "1"
