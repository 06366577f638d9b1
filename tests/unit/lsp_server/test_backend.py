"""The ``backend`` setting end to end over loopback HTTP (lsp_server/backend.py, issue 19).

* a superpose-ls model service (the real :class:`ModelService`, hosted on 127.0.0.1 by
  ``service_testing.ServiceHost``): the engine's drafts through it equal its local drafts,
  workspace n-grams are synced by document deltas, the auth token is needed, and a service
  that is down gives empty drafts at once with a clear status, then is reconnected;
* an OpenAI-compatible server (``service_testing.OpenAIStub``, a double of vLLM or
  llama.cpp): FIM prompt spelled for the model's family, ``n = k`` or k parallel requests
  where ``n > 1`` is refused, the stop rule applied here, constraints reported off;
* a real LSP client (the server over stdio) pointed at the service.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from service_testing import OpenAIStub, ServiceHost, free_port

from benchmarks.harness import LspHarness
from lsp_server.engine import CompletionJob, Engine
from lsp_server.serving.service import ModelService
from lsp_server.settings import Settings

TOKEN = "team-secret"
SHAPES = Path("examples/shapes.py").resolve()
# (line, character) cursors of examples/shapes.py: the README's, end of lines, mid-line
CURSORS = [(20, 23), (8, 0), (17, 24)]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERPOSE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def service():
    return ModelService.load("default", "cpu", token=TOKEN)


@pytest.fixture(scope="module")
def host(service):
    with ServiceHost(service) as h:
        yield h


def _until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _engine(settings: Settings, text: str, uri: str) -> Engine:
    engine = Engine(settings, root=None)
    engine.open_document(uri, text, "python")
    engine.load()
    engine.refresh_derived()  # count the document now (the completion must not race it)
    workspace = getattr(engine.backend, "workspace", None)
    if workspace is not None:  # ... and, remotely, until the service has it
        assert _until(lambda: workspace.status()["pending"] == 0 and workspace.seq >= 1)
    return engine


def _offset(text: str, line: int, character: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[:line]) + character


# ------------------------------------------------------------------ the model service


def test_drafts_through_the_service_equal_local_drafts(host):
    text = SHAPES.read_text()
    uri = SHAPES.as_uri()
    options = {"drafts": 3, "maxNewTokens": 12}
    local = _engine(Settings(**options), text, uri)
    remote = _engine(Settings(**options, backend=host.url, backendToken=TOKEN), text, uri)
    assert remote.state == "ready" and remote.status()["backend"]["kind"] == "service"
    assert remote.lm.ngram_weights == local.lm.ngram_weights  # the service's model's own
    for line, character in CURSORS:
        offset = _offset(text, line, character)
        for automatic in (False, True):
            want = local.complete(CompletionJob(uri, offset, automatic=automatic))
            got = remote.complete(CompletionJob(uri, offset, automatic=automatic))
            assert [d.text for d in got.drafts] == [d.text for d in want.drafts], (line, automatic)
            # the service decodes in its batched loop (padded rows): the same numbers up
            # to float rounding
            scores = [d.score for d in want.drafts]
            assert [d.score for d in got.drafts] == pytest.approx(scores, abs=1e-3)
            assert got.timings["forward_calls"] == want.timings["forward_calls"]
    status = remote.status()
    assert status["backend"]["service"]["monitor"].startswith("applied")
    assert status["settings"]["backendToken"] is True  # never the token itself
    remote.backend.close()


def test_workspace_documents_reach_the_service_by_deltas(host, service):
    engine = _engine(Settings(backend=host.url, backendToken=TOKEN), "x = 1\n", "file:///w/a.py")
    workspace = engine.backend.workspace
    tables = service.workspaces[workspace.id].table
    assert "file:///w/a.py" in tables
    engine.change_document("file:///w/a.py", 0, 0, "import os\n")
    engine.document_changed("file:///w/a.py", delay=0.0)
    engine.close_document("file:///w/a.py")
    assert _until(lambda: workspace.status()["pending"] == 0 and "file:///w/a.py" not in tables)
    assert workspace.status()["sent"] >= 2
    engine.backend.close()


def test_the_service_rejects_a_missing_token_and_the_status_says_so(host):
    engine = Engine(Settings(backend=host.url), root=None)
    engine.load()
    assert engine.state == "error" and "backendToken" in (engine.error or "")
    engine.backend.close()


def test_a_service_that_is_down_gives_empty_drafts_at_once_then_is_reconnected():
    service = ModelService.load("default", "cpu", token=TOKEN)  # its own event loop
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    engine = Engine(Settings(backend=url, backendToken=TOKEN, drafts=2), root=None)
    engine.open_document("file:///d.py", "def f(x):\n    return ", "python")
    engine.load()  # nothing listens there yet
    assert engine.state == "error" and "unreachable" in (engine.error or "")
    result = engine.complete(CompletionJob("file:///d.py", 22))
    assert result.drafts == [] and "not ready" in (result.reason or "")
    with ServiceHost(service, port=port):
        assert _until(lambda: engine.state == "ready", timeout=60)  # reconnected
        assert engine.complete(CompletionJob("file:///d.py", 22)).drafts
    # the service went away mid-session: empty drafts, a clear status, no hang
    result = engine.complete(CompletionJob("file:///d.py", 21))
    assert result.drafts == []
    status = engine.status()["backend"]
    assert status["state"] == "down" and "unreachable" in status["error"]
    engine.complete(CompletionJob("file:///d.py", 20))  # within the back-off: not even sent
    assert engine.status()["backend"]["requests"]["skipped_down"] >= 1
    engine.backend.close()


def test_a_cancelled_remote_request_returns_at_once(host):
    engine = _engine(Settings(backend=host.url, backendToken=TOKEN), "import os\n", "file:///c.py")
    job = CompletionJob("file:///c.py", 10, drafts=4)
    threading.Timer(0.05, job.cancel.set).start()
    result = engine.complete(job)
    assert result.cancelled or result.drafts  # cancelled in flight, or done before
    engine.backend.close()


# ------------------------------------------------------------------ OpenAI-compatible


def _stub_engine(stub: OpenAIStub, **settings) -> Engine:
    engine = Engine(Settings(backend=stub.url, **settings), root=None)
    engine.open_document("file:///o.py", "def f(x):\n    return compute(x)\n", "python")
    engine.load()
    assert engine.state == "ready", engine.error
    return engine


def test_openai_server_gets_a_fim_prompt_and_n_k(tmp_path):
    stub = OpenAIStub("Qwen/Qwen2.5-Coder-0.5B")
    try:
        engine = _stub_engine(stub, drafts=3)
        result = engine.complete(CompletionJob("file:///o.py", len("def f(x):\n    return ")))
        sent = stub.requests[-1]
        assert sent["n"] == 3 and sent["stop"] == ["\n"]  # mid-line: one line
        assert sent["prompt"].startswith("<|fim_prefix|>def f(x):\n    return")
        assert "<|fim_suffix|>" in sent["prompt"] and sent["prompt"].endswith("<|fim_middle|>")
        assert "compute(x)" in sent["prompt"]  # the code after the cursor
        texts = [d.text for d in result.drafts]
        assert texts and all("\n" not in t for t in texts)  # the stop rule cut them here
        assert texts[0].strip() == "value_0(x)"  # best mean log-probability first
        applied = engine.status()["backend"]["applied"]
        assert applied["monitor"].startswith("off") and applied["fim"] == "qwen2.5-coder"
    finally:
        stub.close()


def test_openai_server_refusing_n_gets_k_parallel_requests():
    stub = OpenAIStub("some-llama-model", refuse_n=True)
    try:
        engine = _stub_engine(stub, drafts=3)
        result = engine.complete(CompletionJob("file:///o.py", len("def f(x):\n    return ")))
        ones = [r for r in stub.requests if r["n"] == 1]
        assert len(ones) == 3 and sorted(r["seed"] for r in ones) == [0, 1, 2]
        assert "<|fim" not in ones[0]["prompt"] and "<fim" not in ones[0]["prompt"]
        assert ones[0]["prompt"].startswith("def f(x):\n    return")  # family unknown: prefix
        assert len(result.drafts) == 3
    finally:
        stub.close()


# ------------------------------------------------------------------ a real LSP client


def test_an_lsp_client_gets_ghost_text_and_drafts_through_the_service(host):
    text = SHAPES.read_text()
    options = {"backend": host.url, "backendToken": TOKEN, "drafts": 2, "maxNewTokens": 8}
    with LspHarness() as lsp:
        lsp.initialize(options)
        status = lsp.wait_ready()
        assert status["backend"]["kind"] == "service" and status["backend"]["state"] == "ready"
        lsp.open(SHAPES.as_uri(), "python", text)
        inline = lsp.inline(SHAPES.as_uri(), 20, 23, automatic=False)
        items = inline["items"] if isinstance(inline, dict) else inline
        assert items and all(item["insertText"] for item in items)
        drafts = lsp.command_(
            "superpose.drafts",
            {"textDocument": {"uri": SHAPES.as_uri()}, "position": {"line": 20, "character": 23}},
        )
        assert drafts["drafts"]
        assert lsp.status()["backend"]["requests"]["sent"] >= 2


# ------------------------------------------------------------------ the command line


def test_complete_with_backend_url_prints_the_services_drafts(host):
    """The headless command through the service (its drafts equal local ones: tested above)."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, SUPERPOSE_BACKEND_TOKEN=TOKEN)
    command = [sys.executable, "-m", "lsp_server", "complete", str(SHAPES), "--line", "20"]
    command += ["--character", "23", "--drafts", "3", "--max-new-tokens", "12", "--json"]
    remote = subprocess.run(
        [*command, "--backend", host.url], capture_output=True, text=True, env=env, timeout=300
    )
    assert remote.returncode == 0, remote.stderr
    drafts = json.loads(remote.stdout)["drafts"]
    assert drafts and all(d["text"] for d in drafts)
    down = subprocess.run(
        [*command, "--backend", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert down.returncode == 2 and "unreachable" in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1
