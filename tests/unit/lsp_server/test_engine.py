"""The engine on a tiny random model: readiness, k, automatic mode, typing-through cache."""

from __future__ import annotations

import threading

import pytest

from lsp_server.engine import CompletionJob, Engine, EngineDraft, exclusive_stages
from lsp_server.settings import Settings

URI = "file:///tmp/engine_test/a.py"
TEXT = "class Foo:\n    def __init__(self):\n        self.alpha = 1\n\n    def run(self):\n        return "


@pytest.fixture
def engine(tiny_lm):
    eng = Engine(Settings(drafts=4, maxNewTokens=6))
    eng.open_document(URI, TEXT, "python")
    eng.attach_model(tiny_lm)
    return eng


def job(offset: int, **kw) -> CompletionJob:
    return CompletionJob(uri=URI, offset=offset, cancel=threading.Event(), **kw)


def test_requests_before_the_model_is_ready_get_an_empty_result():
    eng = Engine()
    eng.open_document(URI, TEXT, "python")
    result = eng.complete(job(len(TEXT)))
    assert result.drafts == [] and "not ready" in result.reason


def test_unknown_document_gets_an_empty_result_with_reason(engine):
    result = engine.complete(CompletionJob(uri="file:///nope.py", offset=0))
    assert result.drafts == [] and "unknown document" in result.reason


def test_invoked_returns_up_to_k_distinct_ranked_drafts(engine):
    result = engine.complete(job(len(TEXT)))
    texts = [d.text for d in result.drafts]
    assert 1 <= len(texts) <= 4 and len(set(texts)) == len(texts)
    assert [d.rank for d in result.drafts] == list(range(len(texts)))
    assert result.timings["forward_calls"] >= 1
    assert all(d.start == len(TEXT) for d in result.drafts)


def test_automatic_returns_at_most_two_short_drafts(engine):
    result = engine.complete(job(len(TEXT), automatic=True))
    assert len(result.drafts) <= 2
    assert result.timings["generated_tokens"] <= 2 * 16 + 2


def test_typing_through_is_served_from_the_cache(engine):
    engine.complete(job(len(TEXT)))  # a real run fills the cache for this position
    entry = engine._cache[URI]
    entry.drafts = [
        EngineDraft("c-a", 0, "value + 1", -0.5, len(TEXT), len(TEXT), "stop"),
        EngineDraft("c-b", 1, "other", -0.7, len(TEXT), len(TEXT), "stop"),
    ]
    engine.change_document(URI, len(TEXT), len(TEXT), "va")
    second = engine.complete(job(len(TEXT) + 2))
    assert second.cached
    assert [(d.text, d.id, d.start) for d in second.drafts] == [("lue + 1", "c-a", len(TEXT) + 2)]
    assert "forward_calls" not in second.timings  # no model call
    # an invoked request is never served from an automatic request's drafts
    entry.automatic = True
    assert not engine.complete(job(len(TEXT) + 2)).cached
    # typing something that no draft continues runs the model again
    engine.change_document(URI, len(TEXT) + 2, len(TEXT) + 2, "\x07")
    assert not engine.complete(job(len(TEXT) + 3)).cached


def test_cancelled_job_costs_nothing(engine):
    cancelled = job(len(TEXT))
    cancelled.cancel.set()
    result = engine.complete(cancelled)
    assert result.cancelled and result.drafts == []


def test_accept_records_rank_statistics(engine):
    result = engine.complete(job(len(TEXT)))
    assert engine.accept(result.drafts[0].id)
    assert not engine.accept("no-such-id")
    status = engine.status()
    assert status["accepted"]["total"] == 1 and status["accepted"]["byRank"] == {0: 1}


def test_greedy_decoder_setting_gives_one_draft(engine):
    engine.apply_settings(Settings(decoder="greedy", maxNewTokens=4))
    result = engine.complete(job(len(TEXT)))
    assert len(result.drafts) <= 1


def test_edits_reach_the_workspace_ngrams_off_the_request_path(engine):
    import time

    engine.refresh_derived()  # the opening count, done
    before = engine.ngrams.workspace.table.unigram.sum()
    engine.change_document(URI, 0, 0, "zebra_quux = 1\n")
    engine.document_changed(URI, delay=60.0)  # the user keeps typing: nothing yet
    engine.complete(job(len(TEXT)))
    assert engine.ngrams.workspace.table.unigram.sum() == before  # never on the request path
    engine.document_changed(URI, delay=0.0)  # quiet now: counted in the background
    deadline = time.monotonic() + 30
    while engine.ngrams.workspace.table.unigram.sum() == before:
        assert time.monotonic() < deadline, "the workspace n-grams were never updated"
        time.sleep(0.02)
    assert URI in engine.ngrams.workspace


@pytest.mark.parametrize(
    ("policy", "end_of_line", "mid_line"), [("always", True, True), ("mid-line", False, True)]
)
def test_fim_policy_decides_the_prompt_layout(tiny_lm, monkeypatch, policy, end_of_line, mid_line):
    import dataclasses

    from lsp_server import pipeline as pipeline_module

    seen: list[bool] = []
    real = pipeline_module.build_prompt

    def recording(*args, **kwargs):
        seen.append(kwargs["use_fim"])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "build_prompt", recording)
    eng = Engine(Settings(drafts=2, maxNewTokens=4))
    text = TEXT + "print()\n"
    eng.open_document(URI, text, "python")
    eng.attach_model(dataclasses.replace(tiny_lm, fim_policy=policy))
    eng.complete(job(len(TEXT)))  # "print()" follows the cursor: mid-line
    eng.complete(job(len(TEXT) + len("print(")))  # ")" follows the cursor: mid-line
    eng.complete(job(len(text)))  # an empty last line: end of line
    assert seen == [mid_line, mid_line, end_of_line]


NEW_ATTRIBUTE_DOC = (
    "class Counter:\n"
    "    def __init__(self, start):\n"
    "        self.count = start\n"
    "\n"
    "    def reset(self):\n"
    "        self."
)


@pytest.mark.parametrize("text", [NEW_ATTRIBUTE_DOC, NEW_ATTRIBUTE_DOC[: -len("self.")]])
def test_self_at_a_statement_start_gets_members_or_new_attribute_assignments(text):
    """With the shipped model: after `self.` each draft spells a member of Counter, or
    assigns a new attribute (`self.total = 0`), never a call of a missing member."""
    from models.loader import load_model
    from models.monitor import assignment_state

    eng = Engine(Settings(drafts=4, maxNewTokens=12, multiline="never"))
    eng.open_document(URI, text, "python")
    eng.attach_model(load_model("default", "cpu"))
    result = eng.complete(job(len(text)))
    assert result.drafts
    allowed = {"count", "reset", "__init__"} | set(dir(object))
    for draft in result.drafts:
        line = text[text.rfind("\n") + 1 :] + draft.text
        access = line.strip().split("\n")[0]
        if not access.startswith("self."):
            assert text.endswith(" "), draft.text  # only a draft of its own may not use self
            continue
        rest = access[len("self.") :]
        name = rest[: len(rest) - len(rest.lstrip("abcdefghijklmnopqrstuvwxyz_0123456789"))]
        assert name, draft.text
        after = rest[len(name) :]
        assert name in allowed or assignment_state(after) is not None, draft.text


def test_the_status_profiles_where_decoded_requests_spend_their_time(engine):
    first = engine.complete(job(len(TEXT), automatic=True))
    engine.complete(job(len(TEXT)))
    profile = engine.status()["profile_ms"]
    assert profile["automatic"]["requests"] == 1 and profile["invoked"]["requests"] == 1
    stages = profile["automatic"]["mean_ms"]
    assert {"cursor facts", "prompt", "model forward", "cleaning, ranking"} <= set(stages)
    assert all(ms >= 0 for ms in stages.values())
    # exclusive stages add up to the request's total (rounding aside)
    assert sum(stages.values()) == pytest.approx(first.timings["total_ms"], abs=0.2)
    # a typing-through cache hit decodes nothing: it is not profiled
    engine.change_document(URI, len(TEXT), len(TEXT), "x")
    engine._cache[URI].drafts = [EngineDraft("c", 0, "xyz", -0.5, len(TEXT), len(TEXT), "stop")]
    assert engine.complete(job(len(TEXT) + 1, automatic=True)).cached
    assert engine.status()["profile_ms"]["automatic"]["requests"] == 1


def test_nested_decoder_phases_are_counted_once():
    superposed = {"prompt_ms": 2.0, "facts_ms": 0.5, "decode_ms": 20.0, "forward_ms": 10.0}
    superposed |= {"select_ms": 6.0, "ngram_ms": 3.0, "constraint_ms": 1.0, "total_ms": 23.0}
    stages = exclusive_stages(superposed)
    assert stages["selection"] == 2.0 and stages["decoder, other"] == 4.0
    assert sum(stages.values()) == 23.0
    beam = {"prompt_ms": 2.0, "decode_ms": 20.0, "forward_ms": 15.0, "constraint_ms": 1.0}
    stages = exclusive_stages(beam | {"total_ms": 22.5})
    assert stages["decoder, other"] == 4.0 and "selection" not in stages
    assert sum(stages.values()) == 22.5


def test_the_cache_is_asked_without_decoding(engine):
    assert engine.cached(job(len(TEXT), automatic=True)) is None  # nothing remembered yet
    engine.complete(job(len(TEXT)))
    engine._cache[URI].drafts = [EngineDraft("c", 0, "xyz", -0.5, len(TEXT), len(TEXT), "stop")]
    engine.change_document(URI, len(TEXT), len(TEXT), "x")
    hit = engine.cached(job(len(TEXT) + 1))
    assert hit is not None and hit.cached and [d.text for d in hit.drafts] == ["yz"]
    cancelled = job(len(TEXT) + 1)
    cancelled.cancel.set()
    assert engine.cached(cancelled) is None
    assert engine.cached(CompletionJob(uri="file:///nope.py", offset=0)) is None


def test_settled_heap_keeps_the_long_lived_objects_out_of_collections(engine):
    import gc

    from lsp_server.engine import YOUNG_COLLECTION_ALLOCATIONS, settle_heap, unsettle_heap

    thresholds = gc.get_threshold()
    try:
        settle_heap()
        # the model's objects are no longer walked by any collection
        frozen = gc.get_freeze_count()
        assert frozen > 0 and gc.get_threshold()[0] == YOUNG_COLLECTION_ALLOCATIONS
        assert not any(o is engine.lm.model for o in gc.get_objects())
        assert engine.complete(job(len(TEXT))).drafts  # the engine serves as before
        unsettle_heap()  # a replaced model can be collected again
        assert gc.get_freeze_count() == 0
        assert any(o is engine.lm.model for o in gc.get_objects())
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_a_quiet_document_has_its_statement_and_method_facts_remembered(engine):
    from analysis.python_symbols import _METHOD_STORES, _STATEMENT_FACTS

    statement = b"class Quiet:\n    def m(self):\n        self.quietly = 2"
    method = b"def m(self):\n        self.quietly = 2"
    assert _STATEMENT_FACTS.get(statement) is None and _METHOD_STORES.get(method) is None
    engine.replace_document(URI, TEXT + "1\n\n" + statement.decode() + "\n")
    engine.document_changed(URI)
    engine.refresh_derived()  # what the refresh timer runs once the document is quiet
    assert _STATEMENT_FACTS.get(statement).names == ("Quiet",)
    assert _METHOD_STORES.get(method) == (("quietly", "instance"),)
