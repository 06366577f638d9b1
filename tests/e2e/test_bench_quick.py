"""CI smoke test of ``superpose-ls bench`` (issue 9): the report is produced and well-formed.

Runs every benchmark in "smoke" mode (a handful of prompts each, the latency
benchmark against the real server over stdio) into a temporary directory and
checks the report's structure, the figures and the raw JSON. The numbers are not
checked: they depend on the machine and the model.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from benchmarks.report import BENCHMARKS, SECTIONS, run_in_subprocess, run_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED_FIGURES = {
    "latency.png",
    "memory.png",
    "drafts.png",
    "heldout.png",
    "monitor.png",
    "repetition.png",
}


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    assert run_report(quick=True, model="default", out=out, smoke=True) == 0
    return out


def test_results_json_holds_every_benchmark_result(report_dir: Path) -> None:
    data = json.loads((report_dir / "results.json").read_text())
    assert set(data["benchmarks"]) == set(BENCHMARKS)
    for name, record in data["benchmarks"].items():
        detail = record.get("traceback") or record.get("log_tail") or record.get("error")
        assert record["status"] == "ok", f"{name} failed:\n{detail}"
        assert isinstance(record["result"], dict) and record["result"], name
        assert not record.get("figure_errors"), record.get("figure_errors")
    context = data["context"]
    assert context["machine"]["cpu"] and context["machine"]["cores"] >= 1
    assert context["model"]["weights_bytes"] > 0 and context["dataset"]["files"] > 0
    latency = data["benchmarks"]["latency"]["result"]
    assert latency["keys"] > 0 and latency["memory"]["peak_rss_bytes"] > 0


def test_report_md_has_summary_table_and_every_section(report_dir: Path) -> None:
    text = (report_dir / "report.md").read_text()
    assert text.startswith("# superpose-ls benchmark report\n")
    summary = text.split("## Summary\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in summary.splitlines() if line.startswith("|")]
    assert rows[0] == "| measure | value | target | met |" and rows[1] == "|---|---|---|---|"
    measures = [r for r in rows[2:] if r.count("|") == 5 and not r.startswith("| benchmark")]
    assert len(measures) >= 5, summary
    for name in BENCHMARKS:
        assert re.search(rf"^\| {name} \| ok \| [\d.]+ \|$", summary, re.M), name
    headings = re.findall(r"^## (.+)$", text, re.M)
    expected = [SECTIONS[name][0] for name in BENCHMARKS] + ["Memory and model size"]
    assert [h for h in headings if h in expected] == expected
    header = text.split("## Summary", 1)[0]
    assert "Machine:" in header and "cores" in header and "Dataset:" in header


def test_every_figure_is_referenced_and_a_valid_png(report_dir: Path) -> None:
    text = (report_dir / "report.md").read_text()
    referenced = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert EXPECTED_FIGURES <= set(referenced)
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
