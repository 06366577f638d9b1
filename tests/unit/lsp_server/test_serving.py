"""The model service in process: its ASGI application, wire API and member tables (issue 19).

The same application Ray Serve hosts (``lsp_server/serving/ray_app.py``) is called here
directly as ASGI, with the shipped model: batching across concurrent requests, streaming
and client disconnects, workspaces, auth, and 4xx answers for bad requests that never
stop the replica. The Ray deployment itself is tested over HTTP in
``tests/e2e/test_model_server.py`` (skipped where Ray Serve is not installed).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from analysis.context import member_oracle
from analysis.document import Document
from lsp_server.serving.members import (
    MemberAnswer,
    TableOracle,
    chain_members,
    member_tables,
    oracle_from_wire,
    receiver_key,
    receiver_names,
)
from lsp_server.serving.service import ModelService

TOKEN = "t0ken"
AUTH = [(b"authorization", f"Bearer {TOKEN}".encode())]


@pytest.fixture(scope="module")
def service():
    return ModelService.load("default", "cpu", token=TOKEN)


async def call(
    app,
    method: str,
    path: str,
    body: object = None,
    headers=AUTH,
    raw: bytes | None = None,
    leave_after_chunks: int | None = None,
):
    """Drive the ASGI app like an HTTP server would; return (status, JSON or chunks)."""
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    incoming = [{"type": "http.request", "body": data, "more_body": False}]
    left = asyncio.Event()
    sent: list[dict] = []

    async def receive():
        if incoming:
            return incoming.pop(0)
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        chunks = [m for m in sent if m["type"] == "http.response.body" and m.get("body")]
        if leave_after_chunks is not None and len(chunks) >= leave_after_chunks:
            left.set()  # the client goes away

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    await app(scope, receive, send)
    status = sent[0]["status"]
    bodies = [m.get("body", b"") for m in sent[1:]]
    if dict(sent[0]["headers"]).get(b"content-type") == b"text/event-stream":
        return status, [b for b in bodies if b]
    return status, json.loads(b"".join(bodies))


def completion(service, text: str = "import os\n\ndef read(path):\n    return ", **extra):
    return {"prompt": service.lm.encode(text), "n": 3, "max_tokens": 8, **extra}


# ------------------------------------------------------------------ the API


def test_a_completion_answers_k_drafts_with_their_superpose_blocks(service):
    status, answer = asyncio.run(call(service, "POST", "/v1/completions", completion(service)))
    assert status == 200
    assert answer["object"] == "text_completion" and answer["model"] == "default"
    assert 1 <= len(answer["choices"]) <= 3
    for choice in answer["choices"]:
        ext = choice["superpose"]
        assert service.lm.table.decode(ext["token_ids"]).startswith(choice["text"])
        assert choice["finish_reason"] in ("stop", "length")
        assert len(ext["token_logprobs"]) == len(ext["token_ids"])
    ext = answer["superpose"]
    assert ext["version"] == 1 and ext["forward_calls"] == ext["generated_tokens"]
    assert ext["status"]["ngram"] == "applied" and ext["status"]["verify"] == "applied"


BAD = [
    ("malformed JSON", None, b"{not json", 400, "not valid JSON"),
    ("not an object", [1, 2], None, 400, "JSON object"),
    ("prompt of wrong type", {"prompt": 12}, None, 400, "'prompt'"),
    ("token ids outside the vocabulary", {"prompt": [1, 99999]}, None, 400, "token ids"),
    ("n as a string", {"prompt": [5], "n": "4"}, None, 400, "'n' must be an integer"),
    ("n out of range", {"prompt": [5], "n": 0}, None, 400, "'n' must be between"),
    ("max_tokens too large", {"prompt": [5], "max_tokens": 10**6}, None, 400, "max_tokens"),
    ("oversized prompt", {"prompt": [5] * 600}, None, 400, "context is 512"),
    ("unknown model", {"prompt": [5], "model": "gpt-4"}, None, 404, "not served here"),
    ("future API version", {"prompt": [5], "superpose": {"version": 9}}, None, 400, "version"),
    (
        "monitor table of wrong types",
        {"prompt": [5], "superpose": {"monitor": {"receivers": [{"receiver": 1}]}}},
        None,
        400,
        "monitor",
    ),
    (
        "declared names of wrong type",
        {
            "prompt": [5],
            "superpose": {
                "monitor": {"receivers": [{"receiver": "self", "members": None, "declared": "x"}]}
            },
        },
        None,
        400,
        "declared",
    ),
    (
        "stop window offset",
        {"prompt": [5], "superpose": {"stop": {"text": "ab", "offset": 9}}},
        None,
        400,
        "offset",
    ),  # fmt: skip
    (
        "n-gram weight over 1",
        {"prompt": [5], "superpose": {"ngram_weight": 1.5}},
        None,
        400,
        "ngram_weight",
    ),
    (
        "negative wrong cost",
        {"prompt": [5], "superpose": {"confidence": {"wrong_cost": -2}}},
        None,
        400,
        "wrong_cost",
    ),
    ("body too large", None, b"x" * (4 * 1024 * 1024 + 1), 413, "over"),
]


@pytest.mark.parametrize("name,body,raw,status,message", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_4xx_with_a_message(service, name, body, raw, status, message):
    got, answer = asyncio.run(call(service, "POST", "/v1/completions", body, raw=raw))
    assert got == status
    assert message in answer["error"]["message"]
    assert answer["error"]["type"] == "invalid_request_error"


def test_routing_and_auth_errors_then_the_replica_still_serves(service):
    async def run():
        out = [
            await call(service, "GET", "/v1/nothing"),
            await call(service, "GET", "/v1/completions"),
            await call(service, "POST", "/v1/completions", completion(service), headers=[]),
            await call(
                service,
                "POST",
                "/v1/completions",
                completion(service),
                headers=[(b"authorization", b"Bearer wrong")],
            ),
            await call(service, "GET", "/superpose/v1/health", headers=[]),  # no token needed
            await call(service, "POST", "/v1/completions", completion(service)),
        ]
        return out

    answers = asyncio.run(run())
    assert [status for status, _ in answers] == [404, 405, 401, 401, 200, 200]
    assert "bearer token" in answers[2][1]["error"]["message"]


def test_concurrent_requests_share_forward_calls(service):
    async def run():
        texts = [f"def f{i}(x):\n    return x" for i in range(6)]
        before = dict(service.engine.stats)
        answers = await asyncio.gather(
            *(call(service, "POST", "/v1/completions", completion(service, t)) for t in texts)
        )
        return before, dict(service.engine.stats), answers

    before, after, answers = asyncio.run(run())
    assert all(status == 200 for status, _ in answers)
    calls = after["forward_calls"] - before["forward_calls"]
    rows = after["batched_rows"] - before["batched_rows"]
    per_user = sum(a["superpose"]["forward_calls"] - 1 for _, a in answers)
    assert rows == per_user  # every user's every step was a row of some forward
    assert calls < per_user  # ... and rows shared forward calls: one per step for all


def test_a_client_leaving_a_stream_frees_its_row(service):
    async def run():
        body = completion(service, max_tokens=300, stream=True)
        body["superpose"] = {"ngram": False, "verify": False}
        cancelled = service.counters["cancelled"]
        status, chunks = await call(service, "POST", "/v1/completions", body, leave_after_chunks=2)
        for _ in range(200):  # the row is freed at the next step
            if service.engine.rows == 0:
                break
            await asyncio.sleep(0.01)
        return status, chunks, service.counters["cancelled"] - cancelled, service.engine.rows

    status, chunks, cancelled, rows = asyncio.run(run())
    assert status == 200 and cancelled == 1 and rows == 0
    first = json.loads(chunks[0].decode()[len("data: ") :])
    assert first["object"] == "superpose.step" and first["live"]
    assert b"[DONE]" not in b"".join(chunks)


def test_a_stream_ends_with_the_answer_and_done(service):
    body = completion(service, stream=True)
    status, chunks = asyncio.run(call(service, "POST", "/v1/completions", body))
    events = [c.decode() for c in chunks]
    assert status == 200 and events[-1] == "data: [DONE]\n\n"
    final = json.loads(events[-2][len("data: ") :])
    assert final["object"] == "text_completion.chunk" and final["choices"]


def test_workspace_documents_are_synced_and_reported(service):
    async def run():
        ids = service.lm.encode("def special_helper_name(x):\n    return x\n" * 4)
        put = await call(
            service,
            "PUT",
            "/superpose/v1/workspaces/w-test/documents",
            {"key": "file:///a.py", "ids": ids, "seq": 1},
        )
        known = await call(
            service,
            "POST",
            "/v1/completions",
            completion(service, superpose={"workspace": {"id": "w-test", "seq": 1}}),
        )
        unknown = await call(
            service,
            "POST",
            "/v1/completions",
            completion(service, superpose={"workspace": {"id": "w-other", "seq": 3}}),
        )
        bad = await call(service, "PUT", "/superpose/v1/workspaces/w-test/documents", {"key": 5})
        return put, known, unknown, bad

    put, known, unknown, bad = asyncio.run(run())
    assert put == (200, {"seq": 1, "documents": 1})
    assert known[1]["superpose"]["status"]["workspace"] == {"known": True, "seq": 1}
    assert unknown[1]["superpose"]["status"]["workspace"] == {"known": False, "seq": 0}
    assert bad[0] == 400


def test_info_and_tokenizer_describe_the_served_model(service):
    _, info = asyncio.run(call(service, "GET", "/superpose/v1/info"))
    _, files = asyncio.run(call(service, "GET", "/superpose/v1/tokenizer"))
    assert info["vocab_size"] == service.lm.vocab_size and info["fim"]["family"] == "starcoder"
    assert info["confidence"] is not None and info["auth"] is True
    assert "tokenizer.json" in files["files"] and files["sha"] == info["tokenizer_sha"]


def test_the_ngram_weight_is_the_served_model_s_unless_a_request_names_one(service):
    from lsp_server.serving.protocol import parse_completion

    lm = service.lm
    _, info = asyncio.run(call(service, "GET", "/superpose/v1/info"))
    assert info["ngram_weight"] == lm.ngram_weights.to_dict()

    def spec(**ext):
        body = {"prompt": [5], "superpose": ext}
        return parse_completion(body, lm.vocab_size, lm.context_length)

    assert spec().ngram_weight is None and spec(ngram_weight=0.25).ngram_weight == 0.25
    assert service.build_request(spec(ngram_weight=0.25))[0].ngram_weight == 0.25
    # unnamed: the model's weight for the request's kind (a confidence cut: ghost text)
    assert service.build_request(spec())[0].ngram_weight == lm.ngram_weights.manual
    ghost = spec(confidence={"mid_word": True})
    assert service.build_request(ghost)[0].ngram_weight == lm.ngram_weights.automatic


def test_the_service_builds_each_request_kind_s_monitor_as_the_pipeline_does(service):
    from lsp_server.serving.protocol import parse_completion
    from models.monitor import MemberMonitor

    lm = service.lm
    table = {"language": "python", "prompt_tail": "x = obj", "receivers": []}

    def monitor(**ext) -> MemberMonitor:
        body = {"prompt": [5], "n": 2, "superpose": {"monitor": table, **ext}}
        request = service.build_request(parse_completion(body, lm.vocab_size, lm.context_length))
        (found,) = [c for c in request[0].constraints if isinstance(c, MemberMonitor)]
        return found

    assert monitor().steer_new_names
    assert not monitor(confidence={"mid_word": True}).steer_new_names  # ghost text


# ------------------------------------------------------------------ member tables


def test_receiver_keys_read_receivers_as_the_analysis_does():
    assert receiver_key("x = os.path", "python")[:2] == ("os.path", "os")
    assert receiver_key("y = foo(1).bar", "python")[:2] == ("foo().bar", "foo")
    assert receiver_key("x = 1", "python") is None


def _table() -> TableOracle:
    return TableOracle(
        "python",
        "import os\n\nclass A:\n    def f(self):\n        ",
        {
            "os": MemberAnswer(frozenset({"path", "sep"})),
            "self": MemberAnswer(frozenset({"f", "total"}), assignable=True),
        },
        {0: MemberAnswer(None)},
    )


def test_the_table_oracle_answers_named_receivers_and_nothing_it_cannot_know():
    oracle = _table()
    assert oracle.members("x = os") == {"path", "sep"}
    assert oracle.members("self") == {"f", "total"}
    assert oracle.members("") is None  # the exact answer at the cursor: unknown
    assert oracle.members("x = os.path") is None  # a chain not in the table
    assert oracle.members("print('a', os") is None  # after a quote: maybe in a string
    assert oracle.members("def g(os):\n            os") is None  # the draft binds it
    assert oracle.members("import os") is None
    assert oracle.assignable("self") is True
    assert oracle.assignable("x = self") is False
    assert oracle.assignable("foo(\n        self") is False


def test_member_tables_carry_the_analysis_answers_at_the_cursor():
    text = (
        "names = []\n\n\nclass Stack:\n    def __init__(self):\n        self.items = []\n\n"
        "    def push(self, item):\n        self.it"
    )
    doc = Document("file:///stack.py", text, "python")
    oracle = member_oracle(doc, len(text))
    tail = text[-256:]
    tables = member_tables(oracle, tail, text, "python")
    at = {entry["trim"]: entry for entry in tables["at_cursor"]}
    assert "items" in at[len("it") + 1]["members"]  # self.it|: the members of self
    receivers = {entry["receiver"]: entry for entry in tables["receivers"]}
    assert "items" in receivers["self"]["members"] and receivers["self"]["assignable"]
    assert "append" in receivers["names"]["members"]  # a list
    wire = oracle_from_wire("python", {**tables, "language": "python"})
    assert wire.members("", len("it") + 1) == oracle.members("", len("it") + 1)
    assert wire.members("x = names") == oracle.members("\n        names")


def _tables_at_end(uri: str, text: str):
    """(oracle, member tables, their receivers by name) for a cursor at the end of ``text``."""
    oracle = member_oracle(Document(uri, text, "python"), len(text))
    tables = member_tables(oracle, text[-256:], text, "python")
    return oracle, tables, {entry["receiver"]: entry for entry in tables["receivers"]}


def test_member_tables_carry_the_members_of_the_receiver_at_the_cursor():
    # ``shape.`` then a draft ``radius.real``: the monitor asks about ``shape.radius``,
    # a chain the service can only answer from the tables
    text = (
        "class Circle:\n    def __init__(self, radius: float, name: str):\n"
        "        self.radius = radius\n        self.name = name\n\n\n"
        "def total(shape: Circle):\n    return shape."
    )
    oracle, tables, receivers = _tables_at_end("file:///circle.py", text)
    assert "real" in receivers["shape.radius"]["members"]
    assert "upper" in receivers["shape.name"]["members"]
    wire = oracle_from_wire("python", {**tables, "language": "python"})
    for draft in ("radius", "name"):
        assert wire.members(draft) == oracle.members(draft), draft
    # at most ``limit`` members: the one written nearest before the cursor
    tables = member_tables(oracle, text[-256:], text, "python", limit=1)
    assert [e["receiver"] for e in tables["receivers"] if "." in e["receiver"]] == ["shape.name"]


def test_chain_members_go_from_the_names_used_to_the_public_ones():
    members = {"size", "_cache", "append", "__len__", "zeta"}
    assert chain_members(members, "xs.zeta = 1\nys.size\n", 10) == [
        "size",
        "zeta",
        "append",
        "_cache",
    ]
    assert chain_members(members, "", 2) == ["append", "size"]


def test_member_tables_carry_declared_names_of_open_receivers_to_the_service():
    text = (
        "class Proxy:\n    def __init__(self, inner):\n        self._inner = inner\n\n"
        "    def __getattr__(self, name):\n        return getattr(self._inner, name)\n\n"
        "    def size(self):\n        return self._in"
    )
    oracle, tables, receivers = _tables_at_end("file:///proxy.py", text)
    at = {entry["trim"]: entry for entry in tables["at_cursor"]}
    trim = len("_in") + 1
    assert at[trim]["members"] is None and {"_inner", "size"} <= set(at[trim]["declared"])
    assert receivers["self"]["members"] is None and "_inner" in receivers["self"]["declared"]
    wire = oracle_from_wire("python", {**tables, "language": "python"})
    assert wire.members("", trim) is None
    assert wire.declared("", trim) == oracle.declared("", trim)
    assert wire.declared("x = self") == oracle.declared("\n        self")
    assert wire.declared("x = other") is None
    # an older client sends no "declared": nothing is preferred, nothing breaks
    old = {k: [{**e, "declared": None} for e in v] for k, v in tables.items() if k != "prompt_tail"}
    old_wire = oracle_from_wire("python", {**old, "prompt_tail": tables["prompt_tail"]})
    assert old_wire.declared("", trim) is None


def test_receiver_names_put_the_own_object_first_then_the_nearest_names():
    names = receiver_names("import os\nimport json\nvalue = json.loads(text)\n", "python")
    assert names[:2] == ["self", "cls"]
    assert names.index("text") < names.index("json") < names.index("os")
    assert "import" not in names


def test_model_server_without_ray_is_a_usage_error_naming_the_extra(monkeypatch, capsys):
    import sys

    from lsp_server.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as where the [serve] extra is missing
    assert main(["model-server", "--port", "8111"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'superpose-ls[serve]'" in err and len(err.strip().splitlines()) == 1
