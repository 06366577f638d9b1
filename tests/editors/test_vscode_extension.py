"""Build, unit-test and package the VS Code extension (editor-clients/vscode) under plain Node.

Runs `npm ci` only when node_modules is missing, then `npm run compile` (tsc, strict) and
`npm test` (node:test over the pure modules settings.ts, launch.ts, status.ts and drafts.ts:
settings mapping, finding the server, status bar states and menu, partial-accept matching, draft
formatting, command arguments), the extension's logic against the real server (found the way
the extension finds it in this checkout), and `npm run package` with no terminal attached. VS
Code itself cannot be downloaded here, so its UI (ghost text rendering, keybindings) is not
exercised. Skips when npm is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from editor_testing import ROOT

EXTENSION = Path(__file__).resolve().parents[2] / "editor-clients" / "vscode"
NPM = shutil.which("npm")

pytestmark = pytest.mark.skipif(
    NPM is None,
    reason="npm is not installed: run editor-clients/install-test-deps.sh (Debian nodejs + npm)",
)


def run_npm(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [NPM, *args],
        cwd=EXTENSION,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (
        f"npm {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def built_extension() -> Path:
    """Runs `npm ci` (only without node_modules) and `npm run compile` once."""
    if not (EXTENSION / "node_modules").is_dir():
        run_npm("ci", "--no-audit", "--no-fund", timeout=300)
    run_npm("run", "compile", timeout=120)
    assert (EXTENSION / "out" / "src" / "extension.js").is_file()
    return EXTENSION / "out"


def test_extension_compiles_and_unit_tests_pass(built_extension: Path) -> None:
    proc = run_npm("test", timeout=120)
    output = proc.stdout + proc.stderr
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", output, re.MULTILINE)
    assert passed and failed, output[-2000:]
    assert int(failed.group(1)) == 0
    assert int(passed.group(1)) >= 40, "the unit tests did not all run"


SOURCE = "class Counter:\n    def __init__(self):\n        self.count = 0\n\n\ncounter = Counter()\ncounter.\n"


def test_extension_logic_against_the_real_server(built_extension: Path, tmp_path: Path) -> None:
    """The extension's settings/arguments/parsers speak the real server's contract."""
    source = tmp_path / "demo.py"
    source.write_text(SOURCE)
    line, character = 5, len("counter.")
    proc = subprocess.run(
        [
            shutil.which("node") or "node",
            str(built_extension / "integration" / "server.integration.js"),
            str(ROOT),
            str(source),
            str(line),
            str(character),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout.strip(), proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["ok"], f"{report.get('error')}\n{proc.stderr[-3000:]}"
    # found as the extension finds it in the README's set-up: this checkout's .venv
    assert report["resolved"]["launch"]["command"] == str(ROOT / ".venv" / "bin" / "superpose-ls")
    assert report["status"]["state"] == "ready"
    assert report["status"]["settings"]["completionMenu"] == "off"  # the extension's default
    assert report["completionWithMenuOff"] == {"isIncomplete": False, "items": []}
    assert report["statusBarReady"] == "$(check) Superpose 120 ms"
    assert report["ghost"], "no ghost text from the server"
    match = report["partialMatch"]
    assert match["id"] == report["ghost"][0]["command"]["arguments"][0]
    assert report["feedback"]["partialAccepts"] == 1
    assert report["feedback"]["chars"] == match["chars"] > 0
    assert report["ghostWhileOff"] == {"items": []}
    assert report["statusBarOff"] == "$(circle-slash) Superpose: off"
    assert report["statusBarManual"] == "$(debug-pause) Superpose: manual"
    assert report["snooze"]["state"] == "snoozed"
    assert report["statusBarSnoozed"] == "$(clock) Superpose: snoozed 15 min"
    assert report["statusBarResumed"] == "$(check) Superpose 120 ms"
    assert report["status"]["settings"]["drafts"] == 3  # initializationOptions arrived
    assert report["inlineCompletionProvider"] is True
    assert report["commandsToForward"] == []  # the server lists superpose.accept
    drafts = report["drafts"]
    assert 1 <= len(drafts) <= 3
    for draft in drafts:
        assert draft["range"]["start"]["line"] == line
        assert draft["range"]["end"] == {"line": line, "character": character}
    assert [item["description"].split(" ")[0] for item in report["pickItems"]] == [
        f"#{i + 1}" for i in range(len(drafts))
    ]
    assert 1 <= len(report["inline"]) <= 3
    assert all(item["command"]["command"] == "superpose.accept" for item in report["inline"])
    assert report["toggleMonitor"] == [
        "Monitor-guided decoding: off",
        "Monitor-guided decoding: on",
    ]
    assert report["toggleRepetitionPenalty"] == [
        "Repetition penalty: off",
        "Repetition penalty: on",
    ]
    assert report["setDrafts"] == {"drafts": 2}
    assert report["statusAfterChange"]["drafts"] == 4  # didChangeConfiguration arrived


def test_extension_manifest_declares_commands_and_settings() -> None:
    manifest = json.loads((EXTENSION / "package.json").read_text())
    titles = {command["title"] for command in manifest["contributes"]["commands"]}
    assert {
        "Show Menu",
        "Accept Next Word of Ghost Text",
        "Accept Next Line of Ghost Text",
        "Turn Ghost Text On/Off",
        "Switch Automatic/Manual Ghost Text",
        "Open Log",
        "Show Drafts",
        "Toggle Monitor",
        "Toggle Repetition Penalty",
        "Set Number of Drafts",
        "Show Status",
        "Reindex Workspace",
    } <= titles
    properties = manifest["contributes"]["configuration"]["properties"]
    design_keys = {
        "model",
        "device",
        "drafts",
        "decoder",
        "maxNewTokens",
        "monitor",
        "repetitionPenalty",
        "ngram",
        "verify",
        "multiline",
    }
    control_keys = {
        "enable",
        "mode",
        "completionMenu",
        "disabledLanguages",
        "disabledGlobs",
        "debounceMs",
    }
    client_keys = {"serverPath", "pythonPath", "tcpPort", "languages"}
    assert {f"superpose.{key}" for key in design_keys | control_keys | client_keys} <= set(
        properties
    )
    assert properties["superpose.completionMenu"]["default"] == "off"
    assert properties["superpose.enable"]["scope"] == "language-overridable"
    assert properties["superpose.languages"]["default"] == ["python"]
    assert properties["superpose.serverPath"]["default"] == ""
    keys = {binding["command"]: binding for binding in manifest["contributes"]["keybindings"]}
    for command in ("superpose.client.acceptWord", "superpose.client.acceptLine"):
        assert "inlineSuggestionVisible" in keys[command]["when"]
    # Command ids must not collide with the server commands the language client registers.
    server_commands = {
        "superpose.drafts",
        "superpose.toggleMonitor",
        "superpose.toggleRepetitionPenalty",
        "superpose.setDrafts",
        "superpose.status",
        "superpose.reindex",
        "superpose.accept",
    }
    ids = {command["command"] for command in manifest["contributes"]["commands"]}
    assert not ids & server_commands
    assert manifest["dependencies"]["vscode-languageclient"].startswith("11.")


def test_npm_run_package_needs_no_terminal(built_extension: Path) -> None:
    """`npm run package` (the documented way) finishes with stdin closed and writes a .vsix."""
    manifest = json.loads((EXTENSION / "package.json").read_text())
    vsix = EXTENSION / f"{manifest['name']}-{manifest['version']}.vsix"
    vsix.unlink(missing_ok=True)
    run_npm("run", "package", timeout=300)
    assert vsix.is_file()
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
    assert "extension/out/src/extension.js" in names
    assert "extension/node_modules/vscode-languageclient/package.json" in names
    assert not any(name.startswith("extension/src/") for name in names)
