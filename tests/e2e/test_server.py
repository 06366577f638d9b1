"""End to end: the real server over stdio (pytest-lsp), with the shipped default model."""

from __future__ import annotations

import asyncio
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

URI = "file:///tmp/superpose_e2e/shapes.py"
SOURCE = (
    "import math\n"
    "\n"
    "\n"
    "class Circle:\n"
    "    def __init__(self, radius):\n"
    "        self.radius = radius\n"
    "\n"
    "    def area(self):\n"
    "        return math.pi * self.radius ** 2\n"
    "\n"
    "\n"
    "def total_area(shapes):\n"
    "    total = 0\n"
    "    for shape in shapes:\n"
    "        "
)
OPTIONS = {"drafts": 4, "maxNewTokens": 12}


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "lsp_server"]),
    scope="module",
    loop_scope="module",
)
async def client(lsp_client: LanguageClient):
    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options=OPTIONS,
    )
    lsp_client.init_result = await lsp_client.initialize_session(params)
    await wait_ready(lsp_client)
    lsp_client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=URI, language_id="python", version=1, text=SOURCE)
        )
    )
    yield
    await lsp_client.shutdown_session()


async def wait_ready(client: LanguageClient, timeout: float = 120.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="superpose.status")
        )
        if status["state"] in ("ready", "error") or asyncio.get_running_loop().time() > deadline:
            return status
        await asyncio.sleep(0.2)


def end_position(text: str) -> types.Position:
    lines = text.split("\n")
    return types.Position(line=len(lines) - 1, character=len(lines[-1]))


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_capabilities_are_advertised(client: LanguageClient):
    caps = client.init_result.capabilities
    assert caps.completion_provider is not None
    assert caps.inline_completion_provider is not None
    commands = set(caps.execute_command_provider.commands)
    assert {"superpose.drafts", "superpose.status", "superpose.accept"} <= commands
    status = await wait_ready(client)
    assert status["state"] == "ready" and status["model"] == "default"


async def test_completion_returns_ranked_drafts_with_ranges(client: LanguageClient):
    pos = end_position(SOURCE)
    result = await client.text_document_completion_async(
        types.CompletionParams(types.TextDocumentIdentifier(URI), pos)
    )
    items = result.items
    assert 1 <= len(items) <= 4
    assert [i.sort_text for i in items] == sorted(i.sort_text for i in items)
    for item in items:
        rng = item.text_edit.range
        assert rng.start.line == pos.line and rng.start.character <= pos.character
        assert item.text_edit.new_text
        assert item.command.command == "superpose.accept"
    texts = [i.text_edit.new_text for i in items]
    assert len(set(texts)) == len(texts)


async def test_inline_completion_returns_drafts(client: LanguageClient):
    pos = end_position(SOURCE)
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked
            ),
            text_document=types.TextDocumentIdentifier(URI),
            position=pos,
        )
    )
    assert result.items
    for item in result.items:
        assert item.range.start == pos
        assert item.insert_text


async def test_drafts_command_reports_metadata_and_accept(client: LanguageClient):
    pos = end_position(SOURCE)
    payload = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="superpose.drafts",
            arguments=[
                {
                    "textDocument": {"uri": URI},
                    "position": {"line": pos.line, "character": pos.character},
                }
            ],
        )
    )
    assert payload["drafts"], payload
    first = payload["drafts"][0]
    assert {"text", "score", "rank", "id", "range", "stats"} <= set(first)
    assert "total_ms" in payload["timings"]
    accepted = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="superpose.accept", arguments=[first["id"]])
    )
    assert accepted == {"accepted": True}


async def test_did_change_is_seen_by_completion(client: LanguageClient):
    # append a class with two members and ask for a completion after `Point().`
    addition = "pass\n\n\nclass Point:\n    def alpha(self):\n        return 1\n\n    def beta(self):\n        return 2\n\n\nvalue = Point()."
    start = end_position(SOURCE)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start, start), text=addition
                )
            ],
        )
    )
    new_text = SOURCE + addition
    result = await client.text_document_completion_async(
        types.CompletionParams(types.TextDocumentIdentifier(URI), end_position(new_text))
    )
    assert result.items
    for item in result.items:
        word = ""
        for ch in item.text_edit.new_text:
            if not (ch.isalnum() or ch == "_"):
                break
            word += ch
        # the monitor only lets real members of Point (and of object) be spelled
        assert word in {"alpha", "beta"} | set(dir(object)), item.text_edit.new_text


async def test_cancel_request_is_answered_with_request_cancelled(client: LanguageClient):
    pos = end_position(SOURCE)
    params = types.CompletionParams(types.TextDocumentIdentifier(URI), pos)
    future = client.protocol.send_request(
        types.TEXT_DOCUMENT_COMPLETION, params, msg_id="cancel-me"
    )
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
    with pytest.raises(JsonRpcException) as info:
        await asyncio.wait_for(asyncio.wrap_future(future), 60)
    assert info.value.code == -32800


async def test_newer_request_supersedes_older(client: LanguageClient):
    pos = end_position(SOURCE)
    params = types.CompletionParams(types.TextDocumentIdentifier(URI), pos)
    first = client.text_document_completion_async(params)
    second = client.text_document_completion_async(params)
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert isinstance(results[1], types.CompletionList)
    assert isinstance(results[0], (types.CompletionList, JsonRpcException))
    if isinstance(results[0], JsonRpcException):
        assert results[0].code == -32801  # ContentModified: superseded


async def test_position_past_the_end_gets_an_answer(client: LanguageClient):
    result = await client.text_document_completion_async(
        types.CompletionParams(types.TextDocumentIdentifier(URI), types.Position(9999, 0))
    )
    assert isinstance(result, types.CompletionList)
    status = await wait_ready(client)
    assert status["state"] == "ready"


async def test_unknown_document_gets_a_clear_error(client: LanguageClient):
    with pytest.raises(JsonRpcException) as info:
        await client.text_document_completion_async(
            types.CompletionParams(
                types.TextDocumentIdentifier("file:///nope.py"), types.Position(0, 0)
            )
        )
    assert info.value.code == -32602
