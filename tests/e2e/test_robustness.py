"""Bad input never kills the server and always gets a clear answer (issue 8)."""

from __future__ import annotations

import json
import time

import pytest

from benchmarks.harness import LspError

URI = "file:///tmp/superpose_robust/a.py"


def error_code(lsp, msg_id) -> int | None:
    response = lsp.wait(msg_id, timeout=60)
    return response.get("error", {}).get("code")


def test_malformed_json_gets_parse_error(lsp):
    lsp.send_raw(b'{"jsonrpc": "2.0", "id": 99, "method": ')
    response = lsp.wait(None, timeout=30)
    assert response["error"]["code"] == -32700
    assert lsp.status()["state"] == "ready"


def test_unknown_method_gets_method_not_found(lsp):
    msg_id = lsp.request_async("textDocument/doesNotExist", {})
    assert error_code(lsp, msg_id) == -32601


def test_wrong_param_types_get_invalid_params(lsp):
    msg_id = lsp.request_async(
        "textDocument/completion",
        {"textDocument": {"uri": URI}, "position": {"line": "zero", "character": []}},
    )
    assert error_code(lsp, msg_id) == -32602
    msg_id = lsp.request_async(
        "workspace/executeCommand", {"command": "superpose.setDrafts", "arguments": ["x"]}
    )
    assert error_code(lsp, msg_id) == -32602
    assert lsp.status()["state"] == "ready"


def test_invalid_request_object_is_answered(lsp):
    lsp.send({"id": 4242, "method": 17, "params": {}})
    assert error_code(lsp, 4242) in (-32600, -32601, -32602)


def test_unknown_uri_and_unopened_changes(lsp):
    with pytest.raises(LspError) as info:
        lsp.completion("file:///never/opened.py", 0, 0)
    assert info.value.code == -32602
    lsp.change("file:///never/opened.py", 2, [{"text": "x"}])
    assert lsp.status()["state"] == "ready"


@pytest.mark.parametrize(
    ("language", "text", "line", "character"),
    [
        ("python", "s = '😀'\nx = ", 0, 6),  # inside the surrogate pair of the emoji
        ("python", "def f(:\n    return ((\n", 1, 13),  # syntax errors
        ("python", "x = 1\n", 500, 500),  # past the end
        ("cobol", "IDENTIFICATION DIVISION.\n", 1, 0),  # unsupported language
        ("python", "\x00\x01\ufffd binary\x7f\n", 0, 3),  # binary-ish content
        ("python", "x = 1\n" * 40_000, 39_999, 5),  # huge document
    ],
)
def test_odd_documents_get_answers(lsp, language, text, line, character):
    uri = f"file:///tmp/superpose_robust/{language}_{abs(hash(text)) % 10_000}.txt"
    lsp.open(uri, language, text)
    result = lsp.completion(uri, line, character)
    assert isinstance(result, dict) and isinstance(result["items"], list)
    assert lsp.status()["state"] == "ready"


def test_bad_settings_are_reported_and_ignored(lsp):
    before = len(lsp.notifications)
    lsp.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"superpose": {"drafts": "lots", "colour": 1}}},
    )
    status = lsp.status()
    assert status["settings"]["drafts"] == 2
    shown = [n for n in lsp.notifications[before:] if n.get("method") == "window/showMessage"]
    assert len(shown) >= 2, json.dumps(lsp.notifications[before:])[:500]


def test_missing_model_path_keeps_serving(lsp, tmp_path):
    before = len(lsp.notifications)
    lsp.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"superpose": {"model": str(tmp_path / "no-such-model")}}},
    )
    status = lsp.wait_ready()
    assert status["state"] == "ready" and status["model"] == "default"

    def reported() -> bool:
        shown = [n for n in lsp.notifications[before:] if n.get("method") == "window/showMessage"]
        return any("no-such-model" in m["params"]["message"] for m in shown)

    # the message comes from the loading thread: it may follow the first "ready" status
    deadline = time.monotonic() + 60
    while not reported() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reported()
    lsp.open(URI, "python", "import os\nx = os.")
    assert isinstance(lsp.completion(URI, 1, 7)["items"], list)
