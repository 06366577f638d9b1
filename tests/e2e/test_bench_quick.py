"""CI smoke test of ``superpose-ls bench`` (issues 9, 16): the report is produced and well-formed.

Runs every benchmark plug-in of the "smoke" mode (a handful of prompts each; the latency
and typing benchmarks against the real server over stdio, typing also against
jedi-language-server) into a temporary directory and checks the report's structure, the
figures and the raw JSON. The numbers are not checked: they depend on the machine and the
model. Rendering details (targets, rows, figures) are tested without running anything in
tests/unit/test_report_plugins.py.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from benchmarks.plugin import MET, MISSED, NAMES, NOT_MEASURED, load
from benchmarks.report import run_in_subprocess, run_report
from benchmarks.typing import jedi_command

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED_FIGURES = {
    "latency.png",
    "memory.png",
    "typing.png",
    "drafts.png",
    "heldout.png",
    "monitor.png",
    "repetition.png",
}
SMOKE = [name for name in NAMES if load(name).runs_in("smoke")]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    assert run_report(quick=True, model="default", out=out, smoke=True) == 0
    return out


def test_results_json_holds_every_benchmark_result(report_dir: Path) -> None:
    data = json.loads((report_dir / "results.json").read_text())
    assert set(data["benchmarks"]) == set(NAMES)
    assert "model_families" not in SMOKE  # full mode only: recorded as skipped
    assert data["benchmarks"]["model_families"]["status"] == "skipped"
    for name in SMOKE:
        record = data["benchmarks"][name]
        detail = record.get("traceback") or record.get("log_tail") or record.get("error")
        assert record["status"] == "ok", f"{name} failed:\n{detail}"
        assert isinstance(record["result"], dict) and record["result"], name
        assert not record.get("figure_errors"), record.get("figure_errors")
    context = data["context"]
    assert context["machine"]["cpu"] and context["machine"]["cores"] >= 1
    assert context["model"]["weights_bytes"] > 0 and context["dataset"]["files"] > 0
    latency = data["benchmarks"]["latency"]["result"]
    assert latency["keys"] > 0 and latency["memory"]["peak_rss_bytes"] > 0
    typing = data["benchmarks"]["typing"]["result"]
    ours = typing["runs"]["superpose-ls, unpaced"]["metrics"]
    assert ours["keys_without_help"] > 0 and ours["requests"] > 0
    # where the server's time went: the decoded automatic requests, by exclusive stage
    profile = typing["runs"]["superpose-ls, unpaced"]["server_profile_ms"]["automatic"]
    assert profile["requests"] > 0 and profile["mean_ms"]["model forward"] > 0
    if jedi_command() is not None:  # the static baseline typed the same segment
        jedi = typing["runs"]["jedi-language-server, unpaced"]["metrics"]
        assert jedi["keys_without_help"] == ours["keys_without_help"]


def test_report_md_has_summary_table_and_every_section(report_dir: Path) -> None:
    text = (report_dir / "report.md").read_text()
    assert text.startswith("# superpose-ls benchmark report\n")
    summary = text.split("## Summary\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in summary.splitlines() if line.startswith("|")]
    assert rows[0] == "| measure | value | target | met |" and rows[1] == "|---|---|---|---|"
    measures = [r for r in rows[2:] if r.count(" | ") == 3 and not r.startswith("| benchmark")]
    verdicts = {r.rstrip(" |").rsplit("| ", 1)[1] for r in measures}
    assert verdicts <= {MET, MISSED, NOT_MEASURED, "-"}, verdicts
    targets = sum(len(load(name).targets) for name in SMOKE)
    assert len([r for r in measures if not r.endswith("| - | - |")]) >= targets
    assert any(r.startswith("| wrong ghost texts per 100 keystrokes (unpaced) |") for r in measures)
    for name in SMOKE:
        assert re.search(rf"^\| {name} \| ok \| [\d.]+ \|$", summary, re.M), name
    assert "| model_families | skipped: not run in smoke mode (runs in: full) | - |" in summary
    headings = re.findall(r"^## (.+)$", text, re.M)
    expected = [load(name).title for name in NAMES]
    assert [h for h in headings if h in expected] == expected
    header = text.split("## Summary", 1)[0]
    assert "Machine:" in header and "cores" in header and "Dataset:" in header


def test_every_figure_is_referenced_and_a_valid_png(report_dir: Path) -> None:
    text = (report_dir / "report.md").read_text()
    referenced = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert EXPECTED_FIGURES <= set(referenced)
    assert "typing_sweep.png" not in referenced  # the sweep runs in full mode only
    for name in referenced:
        caption = text.split(f"]({name})", 1)[1].lstrip().split("\n", 1)[0]
        assert "cores" in caption and "model" in caption and "data:" in caption, caption
        data = (report_dir / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE, name
        assert data[12:16] == b"IHDR", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 200 and height > 200, (name, width, height)
        assert data.rstrip(b"\x00")[-8:-4] == b"IEND", name


def test_a_failing_benchmark_is_recorded_with_its_error(tmp_path: Path) -> None:
    record = run_in_subprocess("drafts", "smoke", str(tmp_path / "no-such-model"), tmp_path)
    assert record["status"] == "failed"
    assert "no-such-model" in record["error"]
    assert record["seconds"] >= 0
