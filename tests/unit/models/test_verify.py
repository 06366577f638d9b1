"""Verification re-rank: exact log-probabilities in one batched pass, ranking, trimming."""

from __future__ import annotations

import pytest
import torch

from models.decoding import Draft, forward
from models.verify import token_logprobs, verified_drafts, word_end


def full_recompute(lm, prompt: list[int], row: list[int]) -> list[float]:
    """Per-token log-probabilities of ``row`` after ``prompt`` without any cache."""
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([prompt + row])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return [float(logp[len(prompt) - 1 + i, tok]) for i, tok in enumerate(row)]


ROWS = [[5, 17, 40], [5, 17, 41, 60, 61, 62], [99], [7, 8, 9, 10, 11]]


@pytest.mark.parametrize("with_cache", [False, True])
def test_token_logprobs_equal_a_full_recompute(tiny_lm, with_cache):
    prompt = tiny_lm.encode("def add(a, b):\n    return")
    past = None
    if with_cache:  # the decoder's prefill cache of the whole prompt (gets cropped)
        _, past = forward(tiny_lm, None, input_ids=torch.tensor([prompt]))
    got = token_logprobs(tiny_lm, prompt, ROWS, past=past)
    for row, lps in zip(ROWS, got, strict=True):
        assert lps == pytest.approx(full_recompute(tiny_lm, prompt, row), abs=1e-4)


def test_one_token_prompt_works_without_cache(tiny_lm):
    prompt = tiny_lm.encode("x")[:1]
    got = token_logprobs(tiny_lm, prompt, ROWS[:2])
    assert got[1] == pytest.approx(full_recompute(tiny_lm, prompt, ROWS[1]), abs=1e-4)


def make_draft(lm, ids: list[int], finish: str = "length") -> Draft:
    return Draft(
        text=lm.table.decode(ids),
        token_ids=ids,
        score=0.0,
        finish=finish,
        token_logprobs=[-0.1 * (i + 1) for i in range(len(ids))],  # the decoder's, per token
        token_ngram_logprobs=[-1.0 - i for i in range(len(ids))],
    )


def test_drafts_are_ranked_by_exact_mean_logprob(tiny_lm):
    prompt = tiny_lm.encode("for i in range(10):\n")
    drafts = [make_draft(tiny_lm, r) for r in ROWS]
    ranked = verified_drafts(tiny_lm, prompt, drafts, cut_margin=1e9)  # no trimming
    means = []
    for d in ranked:
        exact = full_recompute(tiny_lm, prompt, d.token_ids)
        assert d.logprob == pytest.approx(sum(exact), abs=1e-3)
        assert d.stats["verified_mean_logprob"] == pytest.approx(sum(exact) / len(exact), abs=1e-4)
        means.append(sum(exact) / len(exact))
    assert means == sorted(means, reverse=True)
    assert sorted(map(tuple, (d.token_ids for d in ranked))) == sorted(map(tuple, ROWS))


def test_eos_drafts_are_scored_with_their_eos(tiny_lm):
    prompt = tiny_lm.encode("x = 1\n")
    eos = min(tiny_lm.eos_ids)
    [draft] = verified_drafts(tiny_lm, prompt, [make_draft(tiny_lm, [5, 6], finish="eos")])
    assert draft.logprob == pytest.approx(
        sum(full_recompute(tiny_lm, prompt, [5, 6, eos])), abs=1e-3
    )


def test_far_worse_drafts_are_cut_after_their_first_diverging_token(tiny_lm):
    prompt = tiny_lm.encode("class Foo:\n")
    shared = [30, 31]  # ":;" then "N()" or "X*+,": the cut is right after "N" or "X"
    a = make_draft(tiny_lm, shared + [50, 12, 13])
    b = make_draft(tiny_lm, shared + [60, 14, 15, 16])
    ranked = verified_drafts(tiny_lm, prompt, [a, b], cut_margin=-1e9)  # every tail is "far"
    best, second = ranked
    assert best.finish == "length" and len(best.token_ids) in (5, 6)
    assert second.finish == "trimmed"
    assert second.token_ids == (a if best.token_ids == b.token_ids else b).token_ids[:3]
    assert second.stats["trimmed_from"] in (5, 6)
    assert second.text == tiny_lm.table.decode(second.token_ids)
    exact = full_recompute(tiny_lm, prompt, second.token_ids)
    assert second.logprob == pytest.approx(sum(exact), abs=1e-3)
    # the per-token lists (the ghost-text confidence reads them) follow the kept tokens
    assert second.token_logprobs == pytest.approx([-0.1, -0.2, -0.3])
    assert second.token_ngram_logprobs == [-1.0, -2.0, -3.0]
    assert len(best.token_logprobs) == len(best.token_ids)
    # with a generous margin nothing is cut
    kept = verified_drafts(tiny_lm, prompt, [a, b], cut_margin=1e9)
    assert [d.finish for d in kept] == ["length", "length"]


def test_empty_input_returns_empty(tiny_lm):
    assert verified_drafts(tiny_lm, [1, 2], []) == []


@pytest.mark.parametrize(
    ("text", "cut", "end"),
    [
        ("shape.radius.real + 1", len("shape.radius."), len("shape.radius.real")),  # after "."
        ("x = beta_value + 2", len("x = b"), len("x = beta_value")),  # inside a word
        ("n = a * c", len("n = a *"), len("n = a *")),  # after an operator: as it was
        ("obj.", len("obj."), len("obj.")),  # nothing left to finish it with
    ],
)
def test_word_end_finishes_the_word_or_member_a_cut_would_break(tiny_lm, text, cut, end):
    table, ids = tiny_lm.table, tiny_lm.encode(text)
    # the first cut (in tokens) keeping at least ``cut`` characters
    tokens = next(j for j in range(len(ids) + 1) if len(table.decode(ids[:j])) >= cut)
    assert len(table.decode(ids[: word_end(table, ids, tokens)])) == end


def test_a_trimmed_draft_never_ends_after_a_dot_or_inside_a_word(tiny_lm):
    prompt = tiny_lm.encode("def f(shape):\n    ")
    one, two = "shape.radius(shapes)", "shape.radius.real + 1"
    drafts = [make_draft(tiny_lm, tiny_lm.encode(t)) for t in (one, two)]
    best, second = verified_drafts(tiny_lm, prompt, drafts, cut_margin=-1e9)
    assert second.finish == "trimmed"
    # cut after the first diverging token, "(" or "." (then on to the member's end)
    assert second.text == ("shape.radius(" if best.text == two else "shape.radius.real")
    assert len(second.token_logprobs) == len(second.token_ids)
