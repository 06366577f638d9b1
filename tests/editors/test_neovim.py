"""Real-editor end-to-end test of the Neovim client (editor-clients/neovim).

Headless Neovim (Debian's `neovim`, installed by editor-clients/install-test-deps.sh) opens a
Python file; the superpose plugin attaches the real `superpose-ls` over stdio; the driver
(neovim_e2e.lua) waits until `superpose.status` says the model is ready, requests
`textDocument/completion` and `textDocument/inlineCompletion` through Neovim's built-in
client, runs `:SuperposeDrafts` with `vim.ui.select` picking the first draft, and runs
`:SuperposeToggleMonitor` (twice) and `:SuperposeStatus`. It writes what it saw to a JSON
file that the tests below check. Skips only when `nvim` is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from editor_testing import (
    CURSOR_CHARACTER,
    CURSOR_LINE,
    MODEL_READY_TIMEOUT_S,
    ROOT,
    SETTINGS,
    SOURCE,
    server_command,
)

PLUGIN = ROOT / "editor-clients" / "neovim"
DRIVER = Path(__file__).with_name("neovim_e2e.lua")
# SUPERPOSE_NVIM may name another Neovim binary (e.g. >= 0.12 to cover inline ghost text).
NVIM = os.environ.get("SUPERPOSE_NVIM") or shutil.which("nvim")
RUN_TIMEOUT_S = 240

pytestmark = pytest.mark.skipif(
    NVIM is None,
    reason="nvim is not installed: run editor-clients/install-test-deps.sh (Debian package neovim)",
)


def utf16_to_index(line: str, character: int) -> int:
    """Returns the str index of a UTF-16 column in `line`."""
    units = 0
    for index, char in enumerate(line):
        if units >= character:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(line)


def apply_edit(lines: list[str], lsp_range: dict, new_text: str) -> list[str]:
    """Returns `lines` with the LSP range replaced by `new_text` (what an editor must do)."""
    start, end = lsp_range["start"], lsp_range["end"]
    head = lines[start["line"]][: utf16_to_index(lines[start["line"]], start["character"])]
    tail = lines[end["line"]][utf16_to_index(lines[end["line"]], end["character"]) :]
    middle = (head + new_text + tail).split("\n")
    return lines[: start["line"]] + middle + lines[end["line"] + 1 :]


@pytest.fixture(scope="module")
def nvim_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs the Neovim driver once against the real server; returns its JSON report."""
    workdir = tmp_path_factory.mktemp("nvim-e2e")
    (workdir / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    source = workdir / "demo.py"
    source.write_text(SOURCE)
    result_path = workdir / "result.json"
    env = dict(
        os.environ,
        SUPERPOSE_NVIM_PLUGIN=str(PLUGIN),
        SUPERPOSE_NVIM_CMD=json.dumps(server_command()),
        SUPERPOSE_NVIM_SETTINGS=json.dumps(SETTINGS),
        SUPERPOSE_NVIM_FILE=str(source),
        SUPERPOSE_NVIM_LINE=str(CURSOR_LINE),
        SUPERPOSE_NVIM_CHARACTER=str(CURSOR_CHARACTER),
        SUPERPOSE_NVIM_RESULT=str(result_path),
        SUPERPOSE_NVIM_TIMEOUT_MS=str(MODEL_READY_TIMEOUT_S * 1000),
        XDG_STATE_HOME=str(workdir / "state"),
        XDG_DATA_HOME=str(workdir / "data"),
        XDG_CACHE_HOME=str(workdir / "cache"),
    )
    started = time.monotonic()
    proc = subprocess.run(
        [NVIM, "--headless", "--clean", "-u", str(DRIVER), str(source)],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    elapsed = time.monotonic() - started
    assert result_path.exists(), (
        f"Neovim wrote no result (exit {proc.returncode})\n"
        f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
    )
    report = json.loads(result_path.read_text())
    report["elapsed_s"] = elapsed
    assert report["ok"], (
        f"Neovim driver failed: {report.get('error')}\nmessages: {report['messages']}"
    )
    return report


def test_plugin_attaches_and_model_becomes_ready(nvim_run: dict) -> None:
    assert nvim_run["filetype"] == "python"
    assert nvim_run["server_capabilities"]["completion"]
    assert nvim_run["status"]["state"] == "ready"
    # The plugin sent its settings as initializationOptions.
    assert nvim_run["status"]["settings"]["drafts"] == SETTINGS["drafts"]
    assert nvim_run["status"]["settings"]["maxNewTokens"] == SETTINGS["maxNewTokens"]


def test_completion_returns_drafts_in_rank_order(nvim_run: dict) -> None:
    items = nvim_run["completion"]
    assert 1 <= len(items) <= SETTINGS["drafts"]
    assert [item["sortText"] for item in items] == sorted(item["sortText"] for item in items)
    for item in items:
        assert item["label"]
        assert item["textEdit"]["range"]["start"]["line"] == CURSOR_LINE
        assert item["command"]["command"] == "superpose.accept"
        assert item["command"]["arguments"] == [item["data"]]


def test_inline_completion_returns_one_item_per_draft(nvim_run: dict) -> None:
    assert nvim_run.get("inline_error") is None
    inline = nvim_run["inline"]
    assert 1 <= len(inline) <= SETTINGS["drafts"]
    for item in inline:
        assert isinstance(item["insertText"], (str, dict))
        assert item["command"]["command"] == "superpose.accept"


def test_ghost_text_cycles_and_accepts_on_neovim_012(nvim_run: dict) -> None:
    version = nvim_run["nvim_version"]
    if (version["major"], version["minor"]) < (0, 12):
        pytest.skip(
            f"Neovim {version['major']}.{version['minor']} has no vim.lsp.inline_completion "
            "(needs >= 0.12; point SUPERPOSE_NVIM at a newer nvim)"
        )
    ghost = nvim_run["ghost"]
    assert ghost["first"], "no ghost text appeared in insert mode"
    # <M-n> cycled: Neovim shows " (i/n)" with n = drafts of the automatic request.
    assert ghost["count"] is not None and ghost["count"] >= 1, "<M-n> did not cycle"
    if ghost["count"] >= 2:
        assert ghost["second"] != ghost["first"]
    accepted = ghost["second"]
    after = "\n".join(nvim_run["ghost_after"])
    assert after != "\n".join(nvim_run["before"])
    assert accepted.strip() in after, "<M-l> did not insert the shown draft"


def test_superpose_drafts_inserts_the_chosen_draft(nvim_run: dict) -> None:
    drafts = nvim_run["drafts"]
    assert 1 <= len(drafts) <= SETTINGS["drafts"]
    assert len(nvim_run["picker"]["items"]) == len(drafts)
    first = next(line for line in drafts[0]["text"].split("\n") if line.strip())
    assert nvim_run["picker"]["items"][0].startswith(first)
    chosen = nvim_run["chosen"]
    assert chosen["text"] == drafts[0]["text"]
    assert nvim_run["before"] == SOURCE.split("\n")[:-1]
    expected = apply_edit(nvim_run["before"], chosen["range"], chosen["text"])
    assert nvim_run["after"] == expected
    assert nvim_run["after"] != nvim_run["before"]


def test_toggle_monitor_and_status_commands(nvim_run: dict) -> None:
    toggles = nvim_run["toggle_messages"]
    assert len(toggles) == 2
    assert toggles[0].endswith("off") and toggles[1].endswith("on")
    assert any("state:  ready" in message for message in nvim_run["status_messages"])


def test_plugin_helpers_format_drafts_and_status() -> None:
    """The plugin's pure helpers, run inside Neovim without a server."""
    script = (
        "local s = require('superpose')\n"
        "local out = {\n"
        "  first = s.first_line('\\n    return x\\nmore'),\n"
        "  blank = s.first_line('\\n\\n'),\n"
        "  fmt = s.format_draft({text = 'a = 1\\nb = 2', score = -0.5, rank = 0}),\n"
        "  fmt1 = s.format_draft({text = 'x', rank = 2}),\n"
        "  status = s.status_lines({model = 'default', device = 'cpu', state = 'ready',\n"
        "                           latency_ms = {p95 = 30, p50 = 12}}),\n"
        "  nested = s.status_lines({model = 'm', device = 'cpu', state = 'loading',\n"
        "    last_latency_ms = 99.6, latency_ms = {invoked = {count = 2, p50 = 80},\n"
        "                                          automatic = {count = 0}}}),\n"
        "}\n"
        "io.stdout:write(vim.fn.json_encode(out))\n"
    )
    proc = subprocess.run(
        [
            NVIM,
            "--headless",
            "--clean",
            "--cmd",
            f"set rtp^={PLUGIN}",
            "-c",
            f"lua {script}",
            "-c",
            "qa!",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    out = json.loads(proc.stdout or proc.stderr)
    assert out["first"] == "    return x"
    assert out["blank"] == "⏎"
    assert out["fmt"] == "a = 1  [score -0.50, 2 lines]"
    assert out["fmt1"] == "x  [score n/a]"
    assert out["status"] == [
        "model:  default",
        "device: cpu",
        "state:  ready",
        "latency: p50 12 ms, p95 30 ms",
    ]
    assert out["nested"] == [
        "model:  m",
        "device: cpu",
        "state:  loading",
        "last completion: 100 ms",
        "latency: invoked p50 80 ms",
    ]
