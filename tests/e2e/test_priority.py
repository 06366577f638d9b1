"""Ghost text first, controls, accept feedback and model loading, through the real server.

The real ``superpose-ls`` over stdio with the shipped model (LspHarness, raw JSON-RPC).
Priority is observed from what the server answers and counts (which request was
replaced, which one shared another's drafts, which kind of pass the engine ran), never
from how long anything took.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks.harness import LspError, LspHarness

CONTENT_MODIFIED = -32801
# scheduling and controls are tested here: ghost text shows whole drafts, whatever the
# calibrated confidence of the shipped model would cut
OPTIONS = {"drafts": 4, "maxNewTokens": 12, "ghostConfidence": 0.0}
SOURCE = """import os


class Counter:
    def __init__(self, start):
        self.count = start
        self.history = []

    def increment(self, step):
        self.count += step
        self.history.append(step)
        return self.count


def main():
    counter = Counter(0)
    counter.
"""
LINE = SOURCE.count("\n") - 1
CHARACTER = len("    counter.")


def params(uri: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "textDocument": {"uri": uri},
        "position": {"line": LINE, "character": CHARACTER},
    }
    if context is not None:
        out["context"] = context
    return out


AUTOMATIC_INLINE = {"triggerKind": 2}
INVOKED_INLINE = {"triggerKind": 1}
INVOKED_MENU = {"triggerKind": 1}
TRIGGER_CHARACTER_MENU = {"triggerKind": 2, "triggerCharacter": "."}
RETRIGGER_MENU = {"triggerKind": 3}


def open_doc(lsp: LspHarness, name: str, language: str = "python") -> str:
    uri = f"file:///tmp/superpose_priority/{name}.py"
    lsp.open(uri, language, SOURCE)
    return uri


def latency_counts(lsp: LspHarness) -> dict[str, int]:
    return {kind: v.get("count", 0) for kind, v in lsp.status()["latency_ms"].items()}


def result_of(lsp: LspHarness, msg_id: int) -> Any:
    response = lsp.wait(msg_id)
    if "error" in response:
        raise LspError(response["error"])
    return response["result"]


def settings_change(lsp: LspHarness, **changes: Any) -> None:
    lsp.notify("workspace/didChangeConfiguration", {"settings": {"superpose": changes}})


@pytest.fixture(scope="module")
def lsp():
    with LspHarness() as harness:
        harness.initialize(OPTIONS)
        status = harness.wait_ready()
        assert status["state"] == "ready", status
        yield harness


def test_completion_beside_ghost_text_shares_it_and_never_replaces_it(lsp: LspHarness):
    """VS Code's traffic: a completion request beside every automatic inline request."""
    uri = open_doc(lsp, "beside")
    before = lsp.status()["requests"]
    # the completion request is sent first, as VS Code does, the inline one right after
    menu_id = lsp.request_async("textDocument/completion", params(uri, INVOKED_MENU))
    ghost_id = lsp.request_async("textDocument/inlineCompletion", params(uri, AUTOMATIC_INLINE))
    ghost = result_of(lsp, ghost_id)  # never ContentModified: the menu did not replace it
    menu = result_of(lsp, menu_id)
    after = lsp.status()["requests"]
    assert ghost["items"], "no ghost text"
    assert after.get("ghost_superseded", 0) == before.get("ghost_superseded", 0)
    # the menu shows the ghost text's drafts (after '.', no typed prefix to re-insert)
    assert [i["textEdit"]["newText"] for i in menu["items"]] == [
        i["insertText"] for i in ghost["items"]
    ]
    assert [i["data"] for i in menu["items"]] == [
        i["command"]["arguments"][0] for i in ghost["items"]
    ]
    assert after["menu_shared"] == before.get("menu_shared", 0) + 1


def test_trigger_character_and_retrigger_menus_get_a_cheap_pass(lsp: LspHarness):
    for name, context in (("trigger", TRIGGER_CHARACTER_MENU), ("retrigger", RETRIGGER_MENU)):
        uri = open_doc(lsp, name)
        before = latency_counts(lsp)
        result = lsp.request("textDocument/completion", params(uri, context))
        after = latency_counts(lsp)
        assert result["items"], name
        assert result["isIncomplete"] is True
        # served as an automatic-sized pass (ghost-text budget, no verification) ...
        assert after["automatic"] == before["automatic"] + 1, name
        # ... never as an invoked k=4 verified pass
        assert after["invoked"] == before["invoked"], name
    # an invoked menu with nothing in flight is a full pass
    uri = open_doc(lsp, "invoked")
    before = latency_counts(lsp)
    result = lsp.request("textDocument/completion", params(uri, INVOKED_MENU))
    assert result["items"]
    assert latency_counts(lsp)["invoked"] == before["invoked"] + 1


def test_completion_menu_setting(lsp: LspHarness):
    uri = open_doc(lsp, "menu_setting")
    try:
        settings_change(lsp, completionMenu="off")
        before = latency_counts(lsp)
        for context in (INVOKED_MENU, TRIGGER_CHARACTER_MENU):
            result = lsp.request("textDocument/completion", params(uri, context))
            assert result == {"isIncomplete": False, "items": []}
        assert latency_counts(lsp) == before  # nothing decoded
        settings_change(lsp, completionMenu="invoked")
        result = lsp.request("textDocument/completion", params(uri, TRIGGER_CHARACTER_MENU))
        assert result == {"isIncomplete": False, "items": []}
        result = lsp.request("textDocument/completion", params(uri, INVOKED_MENU))
        assert result["items"] and result["isIncomplete"] is False
        # ghost text is untouched by the menu setting
        assert lsp.request("textDocument/inlineCompletion", params(uri, AUTOMATIC_INLINE))["items"]
    finally:
        settings_change(lsp, completionMenu="always")


def test_debounced_ghost_request_replaced_while_waiting_never_decodes(lsp: LspHarness):
    uri = open_doc(lsp, "debounce")
    settings_change(lsp, debounceMs=1500)
    try:
        before = latency_counts(lsp)
        first = lsp.request_async("textDocument/inlineCompletion", params(uri, AUTOMATIC_INLINE))
        second = lsp.request_async("textDocument/inlineCompletion", params(uri, AUTOMATIC_INLINE))
        assert lsp.wait(first)["error"]["code"] == CONTENT_MODIFIED
        assert result_of(lsp, second)["items"]
        after = latency_counts(lsp)
        assert after["automatic"] + after["cache"] == before["automatic"] + before["cache"] + 1
    finally:
        settings_change(lsp, debounceMs=0)


def test_toggle_modes_snooze_and_disabled_documents(lsp: LspHarness):
    uri = open_doc(lsp, "toggle")

    def served(context: dict[str, Any]) -> bool:
        return bool(lsp.request("textDocument/inlineCompletion", params(uri, context))["items"])

    def drafts() -> bool:
        payload = lsp.command_("superpose.drafts", params(uri))
        return bool(payload["drafts"])

    assert served(AUTOMATIC_INLINE)
    assert lsp.command_("superpose.toggle")["state"] == "off"
    assert not served(AUTOMATIC_INLINE) and not served(INVOKED_INLINE)
    menu = lsp.request("textDocument/completion", params(uri, INVOKED_MENU))
    assert menu["items"] == []
    assert drafts()  # a command-palette action still answers
    assert lsp.command_("superpose.toggle", "manual")["state"] == "manual"
    assert not served(AUTOMATIC_INLINE) and served(INVOKED_INLINE)
    assert lsp.command_("superpose.toggle")["state"] == "off"
    assert lsp.command_("superpose.toggle")["state"] == "on"
    snoozed = lsp.command_("superpose.snooze", 5)
    assert snoozed["state"] == "snoozed" and 0 < snoozed["snoozedSeconds"] <= 300
    assert not served(AUTOMATIC_INLINE) and served(INVOKED_INLINE)
    assert lsp.status()["controls"]["state"] == "snoozed"
    assert lsp.command_("superpose.snooze", 0)["state"] == "on"
    assert served(AUTOMATIC_INLINE)
    settings_change(lsp, disabledLanguages=["python"])
    assert not served(AUTOMATIC_INLINE) and not served(INVOKED_INLINE)
    settings_change(lsp, disabledLanguages=[], disabledGlobs=["**/superpose_priority/toggle.py"])
    assert not served(AUTOMATIC_INLINE)
    settings_change(lsp, disabledGlobs=[])
    assert served(AUTOMATIC_INLINE)
    with pytest.raises(LspError) as info:
        lsp.command_("superpose.toggle", "sideways")
    assert info.value.code == -32602
    with pytest.raises(LspError):
        lsp.command_("superpose.snooze", -3)


def test_full_and_partial_accepts_feed_the_status_counters(lsp: LspHarness):
    uri = open_doc(lsp, "accept")
    before = lsp.status()["feedback"]
    items = lsp.request("textDocument/inlineCompletion", params(uri, INVOKED_INLINE))["items"]
    assert items
    first = items[0]
    draft_id, text = first["command"]["arguments"][0], first["insertText"]
    # a word of the draft, then the rest of it with Tab: counted once in total
    word = lsp.command_(
        "superpose.accepted", {"chars": 1, "lines": 0, "kind": "word", "id": draft_id}
    )
    assert word["recorded"]
    assert lsp.command_("superpose.accept", draft_id) == {"accepted": True}
    # a client that inserted something else than the draft as served says how much
    line = lsp.command_("superpose.accepted", {"chars": 20, "lines": 1, "kind": "line"})
    assert line["recorded"]
    after = lsp.status()["feedback"]
    assert after["accepts"] == before["accepts"] + 1
    assert after["partialAccepts"] == before["partialAccepts"] + 2
    assert after["chars"] == before["chars"] + len(text) + 20
    assert after["lines"] == before["lines"] + text.count("\n") + 1 + 1
    assert after["byKind"]["word"] == before["byKind"].get("word", 0) + 1
    if len(items) > 1:
        other = items[1]["command"]["arguments"][0]
        lsp.command_("superpose.accept", other, {"chars": 7, "lines": 1})
        assert lsp.status()["feedback"]["chars"] == after["chars"] + 7
    for bad in (
        ["superpose.accepted"],
        ["superpose.accepted", {"chars": -1, "lines": 0}],
        ["superpose.accepted", {"chars": 1, "lines": 0, "kind": "all"}],
        ["superpose.accept", draft_id, {"chars": "many", "lines": 0}],
    ):
        with pytest.raises(LspError) as info:
            lsp.command_(*bad)
        assert info.value.code == -32602


def test_explicit_requests_wait_for_the_loading_model_automatic_ones_do_not():
    """Issue 13 item 5: nothing explicit comes back empty because the model is loading."""
    with LspHarness() as lsp:
        lsp.initialize(OPTIONS)
        a, b, c, d, e = (open_doc(lsp, f"loading_{x}") for x in "abcde")
        # every request leaves before the model can have loaded (loading takes seconds)
        ghost = lsp.request_async("textDocument/inlineCompletion", params(a, AUTOMATIC_INLINE))
        trigger = lsp.request_async("textDocument/completion", params(a, TRIGGER_CHARACTER_MENU))
        state = lsp.request_async(
            "workspace/executeCommand", {"command": "superpose.status", "arguments": []}
        )
        # one document each: explicit requests for one document replace each other
        invoked = lsp.request_async("textDocument/inlineCompletion", params(b, INVOKED_INLINE))
        menu = lsp.request_async("textDocument/completion", params(c, INVOKED_MENU))
        drafts = lsp.request_async(
            "workspace/executeCommand", {"command": "superpose.drafts", "arguments": [params(d)]}
        )
        # two explicit requests for one document both wait: the newer one wins, as it would
        # have without the wait
        older = lsp.request_async("textDocument/inlineCompletion", params(e, INVOKED_INLINE))
        newer = lsp.request_async(
            "workspace/executeCommand", {"command": "superpose.drafts", "arguments": [params(e)]}
        )
        assert result_of(lsp, ghost) == {"items": []}
        assert result_of(lsp, trigger)["items"] == []
        assert result_of(lsp, state)["state"] == "loading"
        assert result_of(lsp, invoked)["items"]
        assert result_of(lsp, menu)["items"]
        assert result_of(lsp, drafts)["drafts"]
        assert result_of(lsp, newer)["drafts"]
        assert lsp.wait(older)["error"]["code"] == CONTENT_MODIFIED
        waits = [
            n
            for n in lsp.notifications
            if n.get("method") == "$/progress"
            and n["params"]["value"].get("title") == "superpose-ls: waiting for the model"
        ]
        assert waits, json.dumps(lsp.notifications)[:2000]
        tokens = {n["params"]["token"] for n in waits}
        ends = [
            n
            for n in lsp.notifications
            if n.get("method") == "$/progress"
            and n["params"]["token"] in tokens
            and n["params"]["value"]["kind"] == "end"
        ]
        assert len(ends) == len(tokens)  # every wait's progress was ended


def test_menu_beside_ghost_traffic_never_runs_a_full_pass(lsp: LspHarness):
    """Once a client asks for ghost text in a document, its menu requests stay cheap."""
    uri = open_doc(lsp, "companion")
    assert lsp.request("textDocument/inlineCompletion", params(uri, AUTOMATIC_INLINE)) is not None
    before = latency_counts(lsp)
    # an invoked menu elsewhere in the document, with no inline request beside it
    elsewhere = {
        "textDocument": {"uri": uri},
        "position": {"line": LINE - 1, "character": len("    counter = Counter(0)")},
        "context": INVOKED_MENU,
    }
    result = lsp.request("textDocument/completion", elsewhere)
    after = latency_counts(lsp)
    assert result["isIncomplete"] is True  # served (the menu setting is `always`)
    assert after["invoked"] == before["invoked"]  # no k-draft verified pass
    assert after["automatic"] + after["cache"] == before["automatic"] + before["cache"] + 1
