"""The completion pipeline: options per request kind, one ranking, flags that change the path."""

from __future__ import annotations

import pytest

from analysis.document import Document
from lsp_server.pipeline import (
    AUTOMATIC_MAX_TOKENS,
    AUTOMATIC_PROMPT_TOKENS,
    CompletionPipeline,
    PipelineOptions,
    rank_drafts,
)
from lsp_server.settings import Settings
from models.decoding import Draft

TEXT = (
    "class Foo:\n    def __init__(self):\n        self.alpha = 1\n\n    def go(self):\n        re"
)


def test_options_of_automatic_requests_are_cheaper():
    settings = Settings(drafts=6, maxNewTokens=40)
    invoked = PipelineOptions.for_request(settings)
    assert (invoked.k, invoked.max_new_tokens, invoked.verify) == (6, 40, True)
    assert invoked.max_prompt_tokens is None and not invoked.automatic
    ghost = PipelineOptions.for_request(settings, automatic=True)
    assert ghost.k == 2 and ghost.max_new_tokens == AUTOMATIC_MAX_TOKENS
    assert not ghost.verify and ghost.max_prompt_tokens == AUTOMATIC_PROMPT_TOKENS
    assert PipelineOptions.for_request(settings, drafts=3).k == 3
    assert PipelineOptions.for_request(Settings(decoder="greedy")).k == 1
    flags = PipelineOptions.for_request(Settings(healing=False, fim=False, monitor=False))
    assert (flags.healing, flags.fim, flags.monitor) == (False, False, False)


def draft(text: str, mean: float, logprob: float | None = None) -> Draft:
    return Draft(text, [1, 2], score=2 * mean, finish="length", mean_score=mean, logprob=logprob)


def test_drafts_are_ranked_in_one_place_by_their_typed_score():
    cleaned = [(draft("a", -2.0), "a", 5), (draft("b", -0.5), "b", 5), (draft("c", -1.0), "c", 6)]
    ranked = rank_drafts(cleaned, 5)
    assert [d.text for d in ranked] == ["b", "c", "a"]
    assert [d.rank for d in ranked] == [0, 1, 2]
    assert [d.score for d in ranked] == [-0.5, -1.0, -2.0]  # shown score == ranked score
    assert ranked[1].end == 6
    # an exact (verified) log-probability outranks the decoder's own estimate
    verified = rank_drafts(
        [(draft("x", -0.1, logprob=-8.0), "x", 5), (draft("y", -1.0), "y", 5)], 5
    )
    assert [d.text for d in verified] == ["y", "x"] and verified[1].score == -4.0


@pytest.fixture
def pipeline(tiny_lm):
    return CompletionPipeline(tiny_lm)


def test_healing_and_fim_flags_change_the_prompt(pipeline):
    doc = Document("file:///t.py", TEXT + "\n\nx = 1\n", "python")
    offset = len(TEXT)
    base = PipelineOptions(k=2, max_new_tokens=4)
    healed = pipeline.run(doc, offset, base)
    assert healed.prompt is not None and healed.prompt.removed_text  # "re" backed off
    plain = pipeline.run(doc, offset, PipelineOptions(k=2, max_new_tokens=4, healing=False))
    assert plain.prompt is not None and plain.prompt.removed_text == ""
    assert healed.prompt.fim  # the tiny tokenizer has FIM sentinels
    no_fim = pipeline.run(doc, offset, PipelineOptions(k=2, max_new_tokens=4, fim=False))
    assert no_fim.prompt is not None and not no_fim.prompt.fim


def test_drafts_carry_per_token_evidence_and_stay_ranked(pipeline):
    doc = Document("file:///t.py", TEXT, "python")
    result = pipeline.run(doc, len(TEXT), PipelineOptions(k=3, max_new_tokens=6, verify=False))
    assert result.drafts and result.decoded is not None
    scores = [d.score for d in result.drafts]
    assert scores == sorted(scores, reverse=True)
    for d in result.drafts:
        source = d.source
        assert len(source.token_logprobs) == len(source.token_ids)
        assert all(lp <= 0.0 for lp in source.token_logprobs)
        assert d.start == len(TEXT) and d.text


def test_ghost_text_is_cut_where_its_confidence_falls(pipeline, tiny_lm):
    from models.confidence import FEATURES, ConfidenceModel, CursorEvidence

    model = ConfidenceModel((1.0,) + (0.0,) * (len(FEATURES) - 1), 8.0, 0.5)
    base = dict(k=1, max_new_tokens=6, verify=False, automatic=True, healing=False, ngram=False)
    # a cursor where the random tiny model writes a whole-token draft of 3+ tokens
    for tail in ("other = ", "x = add(", "y = ", "z = value + ", "w = [", "q = add"):
        text = "def add(a, b):\n    return a + b\n\nvalue = add(1, 2)\n" + tail
        doc = Document("file:///c.py", text, "python")
        whole = pipeline.run(doc, len(text), PipelineOptions(**base))
        if whole.drafts and len(whole.drafts[0].source.token_ids) >= 3:
            break
    else:
        pytest.fail("no cursor gave a draft of 3 tokens")
    source = whole.drafts[0].source
    conf = model.prefix_confidences(source.token_logprobs, None, CursorEvidence())
    # a threshold between the 2nd and 3rd prefix keeps exactly two tokens
    tau = (conf[1] + conf[2]) / 2
    cut = pipeline.run(
        doc, len(text), PipelineOptions(**base, confidence=model, confidence_threshold=tau)
    )
    two = tiny_lm.table.decode(source.token_ids[:2]).rstrip()
    if len(two.strip()) >= 2:
        assert [d.text for d in cut.drafts] == [two] and cut.drafts[0].finish == "confidence"
    else:  # too short to be worth a Tab: not shown
        assert cut.drafts == []
    kept = pipeline.run(
        doc, len(text), PipelineOptions(**base, confidence=model, confidence_threshold=0.0)
    )
    assert [d.text for d in kept.drafts] == [d.text for d in whole.drafts]
    none = pipeline.run(
        doc, len(text), PipelineOptions(**base, confidence=model, confidence_threshold=1.0)
    )
    assert none.drafts == []


def test_ghost_text_shows_the_prefix_with_the_most_expected_keystrokes_saved(pipeline, tiny_lm):
    from lsp_server.pipeline import visible_chars
    from models.confidence import FEATURES, ConfidenceModel, CursorEvidence, best_prefix

    model = ConfidenceModel((1.0,) + (0.0,) * (len(FEATURES) - 1), 8.0, 0.5, wrong_cost=2.0)
    base = dict(k=1, max_new_tokens=6, verify=False, automatic=True, healing=False, ngram=False)
    text = "def add(a, b):\n    return a + b\n\nvalue = add(1, 2)\nother = "
    doc = Document("file:///c.py", text, "python")
    whole = pipeline.run(doc, len(text), PipelineOptions(**base))
    assert whole.drafts
    source = whole.drafts[0].source
    chars = visible_chars(tiny_lm.table, source, "")
    assert chars == [
        len(tiny_lm.table.decode(source.token_ids[:j]).rstrip())
        for j in range(1, len(source.token_ids) + 1)
    ]
    for cost in (0.0, 2.0, 50.0):
        conf = model.prefix_confidences(source.token_logprobs, None, CursorEvidence())
        n = best_prefix(conf, chars, cost)
        options = PipelineOptions(**base, confidence=model, confidence_wrong_cost=cost)
        shown = [d.text for d in pipeline.run(doc, len(text), options).drafts]
        prefix = tiny_lm.table.decode(source.token_ids[:n]).rstrip()
        if n == 0 or len(prefix.strip()) < 2:
            assert shown == []
        elif n == len(source.token_ids):
            assert shown == [whole.drafts[0].text]
        else:
            assert shown == [prefix]
    # the settings reach the pipeline
    opts = PipelineOptions.for_request(Settings(ghostWrongCost=3.0), True, None, model)
    assert opts.confidence_wrong_cost == 3.0


def test_the_engine_serves_ghost_text_with_the_models_calibration(tiny_lm, tmp_path):
    import dataclasses
    import json

    from lsp_server.engine import CompletionJob, Engine
    from models.confidence import FEATURES, ConfidenceModel

    model = ConfidenceModel((0.0,) * len(FEATURES), -5.0, 0.5)  # p = 0.007: never shown
    (tmp_path / "superpose.json").write_text(json.dumps({"confidence": model.to_dict()}))
    eng = Engine(Settings(drafts=2, maxNewTokens=4))
    eng.open_document("file:///e.py", TEXT, "python")
    eng.attach_model(dataclasses.replace(tiny_lm, path=tmp_path))
    assert eng.confidence == model
    ghost = eng.complete(CompletionJob("file:///e.py", len(TEXT), automatic=True))
    assert ghost.drafts == []
    invoked = eng.complete(CompletionJob("file:///e.py", len(TEXT)))  # asked for: never cut
    assert invoked.drafts
    eng.apply_settings(Settings(drafts=2, maxNewTokens=4, ghostConfidence=0.0))
    shown = eng.complete(CompletionJob("file:///e.py", len(TEXT) - 1, automatic=True))
    assert shown.drafts


def test_ghost_confidence_setting_takes_a_probability_or_null():
    from lsp_server.settings import merge_settings

    settings, messages = merge_settings(Settings(), {"ghostConfidence": 0.3})
    assert settings.ghostConfidence == 0.3 and messages == []
    settings, messages = merge_settings(settings, {"ghostConfidence": None})
    assert settings.ghostConfidence is None and messages == []
    for bad in (1.5, -0.1, "high", True):
        kept, messages = merge_settings(Settings(ghostConfidence=0.4), {"ghostConfidence": bad})
        assert kept.ghostConfidence == 0.4 and "between 0 and 1" in messages[0]
    settings, messages = merge_settings(Settings(), {"ghostWrongCost": 6})
    assert settings.ghostWrongCost == 6.0 and messages == []
    for bad in (-1, 1000, "many", False):
        kept, messages = merge_settings(Settings(ghostWrongCost=2.0), {"ghostWrongCost": bad})
        assert kept.ghostWrongCost == 2.0 and "between 0 and 100" in messages[0]


def test_typing_through_the_engine_gives_the_same_drafts_with_cache_reuse(tiny_lm):
    from lsp_server.engine import CompletionJob, Engine

    def typed(engine: Engine) -> list[list[str]]:
        uri = "file:///typing.py"
        engine.open_document(uri, TEXT, "python")
        shown = []
        for i, ch in enumerate("turn self.alpha"):
            offset = len(TEXT) + i
            engine.change_document(uri, offset, offset, ch)
            # count the edit into the workspace n-grams now: the engine's own refresh
            # timer would race the request (differently in the two engines under load)
            engine.refresh_derived()
            result = engine.complete(CompletionJob(uri, offset + 1, automatic=True))
            shown.append([d.text for d in result.drafts if not d.stats.get("cached")])
        return shown

    reusing = Engine(Settings(drafts=2, maxNewTokens=6))
    reusing.attach_model(tiny_lm)
    fresh = Engine(Settings(drafts=2, maxNewTokens=6))
    fresh.attach_model(tiny_lm)
    fresh.prompt_cache = None
    assert typed(reusing) == typed(fresh)
    stats = reusing.status()["promptCache"]
    assert stats["hits"] > 0 and stats["reusedTokens"] > stats["prefilledTokens"]


def test_the_identifier_floor_shows_at_least_the_agreed_identifier():
    from analysis.cursor import cursor_facts
    from lsp_server.pipeline import RankedDraft, identifier_floor

    def ranked(*texts: str, finish: str = "length") -> list:
        return [RankedDraft(i, t, -1.0, 0, 0, finish, draft(t, -1.0)) for i, t in enumerate(texts)]

    class Members:
        def members(self, extra, trim=0):
            return frozenset({"count", "step", "counter"})

    text = "obj.\n"
    facts = cursor_facts(Document("file:///f.py", text, "python"), 4)
    uncut = ranked("count == 0:")
    floor = identifier_floor([], uncut, facts, Members())
    assert [(d.text, d.finish) for d in floor] == [("count", "floor")]
    longer = ranked("count == 0")
    assert identifier_floor(longer, uncut, facts, Members()) == longer  # already holds it
    other = ranked("step")
    assert identifier_floor(other, uncut, facts, Members()) == other  # confident elsewhere
    assert identifier_floor([], ranked("countless()"), facts, Members()) == []  # not a member
    assert identifier_floor([], uncut, facts, None) == []  # receiver unknown: no floor
    # inside a word: the names written near the cursor; a single completion is enough
    code = "total_amount = 1\nprint(tot"
    word = cursor_facts(Document("file:///g.py", code, "python"), len(code))
    floor = identifier_floor([], ranked("al_count)"), word, None)
    assert [d.text for d in floor] == ["al_amount"]  # the only name starting with "tot"
    prose = "# total_amount is tot"
    comment = cursor_facts(Document("file:///h.py", prose, "python"), len(prose))
    assert identifier_floor([], ranked("al_amount"), comment, None) == []


def test_drafts_are_cut_before_a_new_attribute_they_never_assign(tiny_lm):
    from lsp_server.pipeline import without_unfinished_attribute
    from models.monitor import MemberMonitor

    class SelfOracle:
        def members(self, extra, trim=0):
            return frozenset({"count"})

        def assignable(self, extra, trim=0):
            return True

    monitor = MemberMonitor(tiny_lm.table, SelfOracle(), "        ", set())
    assert without_unfinished_attribute("self.totl", monitor, "") == "self."
    assert without_unfinished_attribute("self.total = 0", monitor, "") == "self.total = 0"
    assert without_unfinished_attribute("self.count", monitor, "") == "self.count"
    assert without_unfinished_attribute("self.totl", None, "") == "self.totl"  # no monitor


def test_a_running_request_reports_what_it_predicts(pipeline):
    doc = Document("file:///t.py", TEXT, "python")
    seen: list[list[str]] = []
    result = pipeline.run(
        doc, len(TEXT), PipelineOptions(k=2, max_new_tokens=5, verify=False), None, seen.append
    )
    # reported while decoding, every step once the drafts have re-spelled the healed text
    assert result.prompt.removed_text == " re"
    assert len(seen) >= 2 and seen[-1] and all(isinstance(t, str) for s in seen for t in s)


def test_progress_texts_start_after_the_healed_prefix():
    from lsp_server.pipeline import _after_healing

    seen: list[list[str]] = []
    on_step = _after_healing(" re", seen.append)
    on_step([" return x", " r", " rex", " re"])  # " r": still re-spelling, not reported
    assert seen == [["turn x", "x", ""]]
    assert _after_healing(" re", None) is None  # nothing asked: no callback


class FixedBackend:
    """A backend whose decoder writes ``texts`` (and keeps the request it was given)."""

    name = "fixed"
    remote = False

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.request = None

    def decode(self, lm, request, ctx):
        from models.decoding import DecodeResult

        self.request = request
        drafts = [draft(text, -0.5 - i) for i, text in enumerate(self.texts)]
        return DecodeResult(drafts, 1, len(request.prompt_ids), 2, 0.0)


LINES = "def add(a, b):\n    total = a + b\n"


@pytest.mark.parametrize("max_lines", [None, 1, 2, 3])
def test_max_lines_ends_drafts_after_that_many_lines(tiny_lm, max_lines):
    written = "\n    y = 2\n    z = 3\n    return z"
    backend = FixedBackend([written])
    doc = Document("file:///m.py", LINES + "\nprint(add(1, 2))\n", "python")
    offset = len(LINES) - 1  # the end of the block's first line
    options = PipelineOptions(
        k=1, max_new_tokens=8, healing=False, multiline="always", max_lines=max_lines
    )
    result = CompletionPipeline(tiny_lm, backend=backend).run(doc, offset, options)
    expected = {None: written, 1: None, 2: "\n    y = 2", 3: "\n    y = 2\n    z = 3"}[max_lines]
    assert [d.text for d in result.drafts] == ([expected] if expected else [])
    # the decoder's stop rule ends the draft there too
    stop = backend.request.stop
    assert stop(written) == (None if max_lines is None else len(expected or ""))
    assert stop("\n    y") == (0 if max_lines == 1 else None)  # one line: the cursor's


def test_the_decoder_mixes_n_grams_at_the_model_s_weight_for_the_request_kind(tiny_lm):
    from dataclasses import replace

    from models.loader import NgramWeights

    backend = FixedBackend(["total"])
    doc = Document("file:///m.py", LINES, "python")
    lm = replace(tiny_lm, ngram_weights=NgramWeights(automatic=0.6, manual=0.2))
    pipeline = CompletionPipeline(lm, backend=backend)
    for automatic, weight in ((True, 0.6), (False, 0.2)):
        options = PipelineOptions.for_request(Settings(), automatic=automatic)
        pipeline.run(doc, len(LINES), options)
        assert backend.request.ngram_weight == weight


def test_each_request_kind_gets_its_monitor(tiny_lm):
    from models.monitor import MemberMonitor

    backend = FixedBackend(["total"])
    doc = Document("file:///m.py", LINES, "python")
    pipeline = CompletionPipeline(tiny_lm, backend=backend)
    for automatic, steer in ((True, False), (False, True)):
        options = PipelineOptions.for_request(Settings(), automatic=automatic)
        pipeline.run(doc, len(LINES), options)
        (monitor,) = [c for c in backend.request.constraints if isinstance(c, MemberMonitor)]
        # asked-for drafts are steered to members where a new attribute may be assigned
        assert monitor.steer_new_names is steer


def test_the_stop_rule_counts_lines_after_the_healed_text():
    from lsp_server.drafts import draft_context
    from lsp_server.pipeline import healed_stop, lines_end, within_lines

    text = "x = 1\nif x:\n    na"
    dctx = draft_context(text, len(text), "python", "always")
    stop = healed_stop("na", dctx, max_lines=2)
    assert stop("na") is None  # still re-spelling the healed text
    assert stop("name = 1\n    other") is None
    assert stop("name = 1\n    other = 2\n    more") == len("name = 1\n    other = 2")
    assert healed_stop("na", dctx)("name = 1\n    other = 2\n    more") is None  # no limit
    assert lines_end("a\nb\nc", 1) == 1 and lines_end("a\nb\nc", 2) == 3
    assert lines_end("a\nb", 2) is None and lines_end("a\nb", 0) == 1  # at least one line
    assert within_lines("\nnext\nafter", 2) == "\nnext" and within_lines("one", 1) == "one"


def test_a_draft_stopped_before_it_re_spells_the_healed_text_is_dropped(tiny_lm, monkeypatch):
    """A draft cut (by its confidence) inside the healed word says nothing after the cursor:
    it must not be shown as if it followed the cursor."""
    from lsp_server import pipeline as pipeline_module

    seen: list[list[str]] = []
    original = pipeline_module.clean_drafts

    def spy(drafts, ctx):
        seen.append(list(drafts))
        return original(drafts, ctx)

    monkeypatch.setattr(pipeline_module, "clean_drafts", spy)
    text = "def f(values):\n    return val"
    doc = Document("file:///f.py", text, "python")
    pipeline = CompletionPipeline(tiny_lm)
    options = PipelineOptions(k=2, max_new_tokens=1, monitor=False, repetition_penalty=False)
    result = pipeline.run(doc, len(text), options)
    removed = result.prompt.removed_text
    assert removed  # "val" (or a part of it) was healed
    for d, raw in zip(result.decoded.drafts, seen[0], strict=True):
        if not d.text.startswith(removed):
            assert raw == ""
        else:
            assert raw == d.text[len(removed) :]
