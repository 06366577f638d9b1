"""Real-editor end-to-end test of the Neovim client (editor-clients/neovim).

Headless Neovim (Debian's `neovim` 0.7.2, installed by editor-clients/install-test-deps.sh)
opens a Python file; the superpose plugin attaches the real `superpose-ls` over stdio; the
driver (neovim_e2e.lua) waits until `superpose.status` says the model is ready, requests
`textDocument/completion` and `textDocument/inlineCompletion` through Neovim's built-in
client, then works as a user: enters insert mode and types, sees the plugin's ghost text
(extmarks read back from the buffer), cycles it, accepts a word, a line and whole drafts with
the plugin's keys, types through it, switches it off; then runs `:SuperposeDrafts` with
`vim.ui.select` picking the first draft, `:SuperposeToggleMonitor` (twice) and
`:SuperposeStatus`. It writes what it saw to a JSON file that the tests below check. Skips
only when `nvim` is not installed.
"""

from __future__ import annotations

import json
import os
import re
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


def word_part(text: str) -> str:
    """The plugin's accept-word piece (superpose.ghost.word_part, ASCII word characters)."""
    part = re.match(r"\s*[^A-Za-z0-9_\s]*[A-Za-z0-9_]*", text).group(0)
    if part.strip() == "":
        part = re.match(r"\s*.?", text, re.DOTALL).group(0)
    return part or text


def line_part(text: str) -> str:
    """The plugin's accept-line piece (superpose.ghost.line_part)."""
    first = text.split("\n", 1)[0]
    if first:
        return first
    return "\n" + text[1:].split("\n", 1)[0] if text.startswith("\n") else text


def with_cursor_line(before: list[str], line: str) -> list[str]:
    """`before` with the cursor line replaced by `line` (which may hold line breaks)."""
    return before[:CURSOR_LINE] + line.split("\n") + before[CURSOR_LINE + 1 :]


def test_ghost_text_appears_while_typing(nvim_run: dict) -> None:
    ghost = nvim_run["ghost"]
    first = ghost["first"]
    assert first, "no ghost text appeared after entering insert mode"
    assert (first["row"], first["col"]) == (CURSOR_LINE, CURSOR_CHARACTER)
    # the extmark shows the plugin's current draft as the server sent it
    assert first["text"] == ghost["items"][0]["ghost"]
    assert first["text"].strip()
    assert ghost["statusline_ready"].startswith("superpose")


def test_suggest_key_and_cycling(nvim_run: dict) -> None:
    ghost = nvim_run["ghost"]
    suggested, items = ghost["suggested"], ghost["suggested_items"]
    assert suggested, "<M-\\> (ask for ghost text) showed nothing"
    assert suggested["text"] == items[0]["ghost"]
    if len(items) < 2:
        pytest.skip("the server sent one distinct draft even when asked: nothing to cycle")
    assert suggested["annotation"] == f" (1/{len(items)})"
    assert ghost["second"]["annotation"] == f" (2/{len(items)})"
    assert ghost["second"]["text"] == items[1]["ghost"]
    assert ghost["back"]["text"] == suggested["text"]


def test_accept_word_then_line(nvim_run: dict) -> None:
    ghost, before = nvim_run["ghost"], nvim_run["before"]
    text = ghost["before_word"]["text"]
    word = word_part(text)
    typed = before[CURSOR_LINE]
    assert ghost["after_word"] == with_cursor_line(before, typed + word)
    rest = text[len(word) :]
    if rest:
        # the rest of the draft stays on screen, right after the accepted word
        assert ghost["shown_after_word"]["text"] == rest
        line = line_part(rest)
        assert ghost["after_line"] == with_cursor_line(before, typed + word + line)
    else:
        assert ghost["shown_after_word"] is None


def test_accept_whole_draft(nvim_run: dict) -> None:
    ghost, before = nvim_run["ghost"], nvim_run["before"]
    shown = ghost["full_shown"]
    assert shown, "no ghost text to accept"
    expected = with_cursor_line(before, before[CURSOR_LINE] + shown["text"])
    assert ghost["after_full"] == expected
    last = expected[CURSOR_LINE + shown["text"].count("\n")]
    assert ghost["cursor_after_full"] == [CURSOR_LINE + 1 + shown["text"].count("\n"), len(last)]


def test_typing_through_and_accepting_what_was_typed_for(nvim_run: dict) -> None:
    ghost, before = nvim_run["ghost"], nvim_run["before"]
    shown = ghost["typed_shown"]
    assert shown, "no ghost text after typing `inc`"
    through = ghost["through_shown"]
    assert through, "typing the ghost text's next character dropped it"
    assert through["text"] == shown["text"][1:]
    assert ghost["through_requests"] == 0  # kept and trimmed by the plugin, no new request
    typed = before[CURSOR_LINE] + "inc"
    assert ghost["after_typing"] == with_cursor_line(before, typed + shown["text"])


def test_toggle_off_sends_and_shows_nothing(nvim_run: dict) -> None:
    ghost = nvim_run["ghost"]
    assert ghost["statusline_off"] == "superpose: off"
    assert ghost["requests_while_off"] == 0
    assert ghost["shown_while_off"] is None


def test_accepts_reach_the_server_counters(nvim_run: dict) -> None:
    ghost = nvim_run["ghost"]
    before, after = nvim_run["feedback_before"], nvim_run["feedback_after"]
    text = ghost["before_word"]["text"]
    word = word_part(text)
    rest = text[len(word) :]
    line = line_part(rest) if rest else ""
    pieces = [word] + ([line] if rest else [])
    # a piece that reaches the end of the draft is reported as the draft's accept
    full_from_pieces = 1 if (not rest or line == rest) else 0
    expected_accepts = 2 + full_from_pieces  # <M-l> twice (5c, 5d) + a piece that ended one
    assert after["accepts"] - before["accepts"] == expected_accepts
    assert after["partialAccepts"] - before["partialAccepts"] == len(pieces) - full_from_pieces
    accepted = "".join(pieces) + ghost["full_shown"]["text"] + ghost["typed_shown"]["text"][1:]
    assert after["chars"] - before["chars"] == len(accepted)


def test_no_settings_warning_at_start(nvim_run: dict) -> None:
    assert not [m for m in nvim_run["server_messages"] if "settings" in m]


def test_empty_settings_start_without_a_warning(tmp_path: Path) -> None:
    """Neovim 0.7 encodes an empty Lua table as []: the plugin sends {} instead."""
    source = tmp_path / "demo.py"
    source.write_text("x = 1\n")
    script = tmp_path / "init.lua"
    script.write_text(
        f"vim.opt.runtimepath:prepend({json.dumps(str(PLUGIN))})\n"
        "local messages = {}\n"
        "vim.lsp.handlers['window/showMessage'] = function(_, r) table.insert(messages, r.message) end\n"
        "local sp = require('superpose')\n"
        f"sp.setup({{ cmd = vim.fn.json_decode({json.dumps(json.dumps(server_command()))}) }})\n"
        "local config = sp.client_config()\n"
        "local encoded = vim.json.encode({ init = config.init_options, settings = config.settings })\n"
        "local timer = vim.loop.new_timer()\n"
        "local n = 0\n"
        "timer:start(200, 200, vim.schedule_wrap(function()\n"
        "  n = n + 1\n"
        "  if sp.state.server == 'ready' or sp.state.server == 'error' or n > 600 then\n"
        "    timer:stop()\n"
        "    io.stdout:write(vim.json.encode({ encoded = encoded, state = sp.state.server,\n"
        "                                      messages = messages }))\n"
        "    vim.cmd('qa!')\n"
        "  end\n"
        "end))\n"
    )
    proc = subprocess.run(
        [NVIM, "--headless", "--clean", "-u", str(script), str(source)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, XDG_STATE_HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path)),
    )
    out = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert json.loads(out["encoded"]) == {"init": {}, "settings": {"superpose": {}}}
    assert out["state"] == "ready"
    assert out["messages"] == []


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
