"""Load: a request per keystroke at typing speed over several documents (issue 8).

Every request must be answered (results or RequestCancelled for superseded ones),
no other errors, superseded requests never decoded, and bounded memory growth.

A wall-clock scenario, so it is marked slow: the default run covers its parts with faster
tests (supersession and lanes: tests/e2e/test_priority.py; text sync under random edits:
tests/e2e/test_fuzz_sync.py; engine caches: tests/unit/lsp_server).
"""

from __future__ import annotations

import time

import psutil
import pytest

from benchmarks.harness import LspHarness

DOCS = {
    "file:///tmp/superpose_load/a.py": "import os\n\n\ndef main():\n    path = os.getcwd()\n",
    "file:///tmp/superpose_load/b.py": "class Stack:\n    def __init__(self):\n        self.items = []\n",
    "file:///tmp/superpose_load/c.js": "function add(a, b) {\n  return a + b;\n}\n",
}
TYPED = "    value = compute(1, 2)\n"
KEY_INTERVAL = 0.06  # seconds between keystrokes (~16 chars/s)
DURATION = 12.0


@pytest.mark.slow
def test_typing_load_is_served_without_errors():
    with LspHarness() as lsp:
        lsp.initialize({"drafts": 4, "maxNewTokens": 16})
        assert lsp.wait_ready()["state"] == "ready"
        texts = dict(DOCS)
        versions = dict.fromkeys(DOCS, 1)
        for uri, text in texts.items():
            lsp.open(uri, "javascript" if uri.endswith(".js") else "python", text)
        process = psutil.Process(lsp.proc.pid)
        rss_start = process.memory_info().rss
        pending = []
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < DURATION:
            uri = list(DOCS)[(i // len(TYPED)) % len(DOCS)]
            ch = TYPED[i % len(TYPED)]
            text = texts[uri]
            line = text.count("\n")
            col = len(text) - (text.rfind("\n") + 1)
            versions[uri] += 1
            lsp.change(
                uri,
                versions[uri],
                [
                    {
                        "range": {
                            "start": {"line": line, "character": col},
                            "end": {"line": line, "character": col},
                        },
                        "text": ch,
                    }
                ],
            )
            texts[uri] = text + ch
            line = texts[uri].count("\n")
            col = len(texts[uri]) - (texts[uri].rfind("\n") + 1)
            params = {
                "textDocument": {"uri": uri},
                "position": {"line": line, "character": col},
                "context": {"triggerKind": 2},
            }
            pending.append(lsp.request_async("textDocument/inlineCompletion", params))
            if i % 10 == 9:  # an explicit (invoked) request now and then
                pending.append(
                    lsp.request_async(
                        "textDocument/completion",
                        {
                            "textDocument": {"uri": uri},
                            "position": {"line": line, "character": col},
                        },
                    )
                )
            i += 1
            time.sleep(KEY_INTERVAL)
        answered, cancelled, errors = 0, 0, []
        for msg_id in pending:
            response = lsp.wait(msg_id, timeout=120)
            if "error" in response:
                if response["error"]["code"] in (-32800, -32801):
                    cancelled += 1
                else:
                    errors.append(response["error"])
            else:
                answered += 1
        rss_end = process.memory_info().rss
        assert not errors, errors[:3]
        assert answered + cancelled == len(pending)
        assert answered >= 1
        assert rss_end - rss_start < 300 * 2**20, (rss_start, rss_end)
        status = lsp.status()
        assert status["state"] == "ready"
        # superseded requests are dropped, not decoded: the backlog cannot outlive the typing
        decoded = sum(v.get("count", 0) for k, v in status["latency_ms"].items() if k != "cache")
        assert decoded < len(pending), (decoded, len(pending))
        for uri, text in texts.items():
            assert lsp.command_("superpose.debug.documentText", uri)["text"] == text
