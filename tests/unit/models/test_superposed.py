"""Superposed decoding on a tiny random model: the properties DESIGN.md lists, and more."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from models.decoding import DecodeRequest, forward, greedy_decode
from models.ngram import build_table
from models.superposed import SuperposedRequest, SuperposedTrace, superposed_decode

PROMPTS = ["def add(a, b):\n", "class Foo:\n    def __init__(self):\n", "x = ", "import os\n"]
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[3] / "models/default_model/model.safetensors"


def run(lm, prompt: str, trace: SuperposedTrace | None = None, **kw):
    kw.setdefault("verify", False)
    req = SuperposedRequest(prompt_ids=lm.encode(prompt), trace=trace, **kw)
    return superposed_decode(lm, req)


def prefill_logits(lm, prompt: str) -> torch.Tensor:
    with torch.no_grad():
        logits, _ = forward(lm, None, input_ids=torch.tensor([lm.encode(prompt)]))
    return logits[0]


@pytest.fixture
def count_forward(tiny_lm, monkeypatch):
    """Count calls of the model's forward method."""
    calls = [0]
    original = tiny_lm.model.forward

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(tiny_lm.model, "forward", counted)
    return calls


@pytest.mark.parametrize("prompt", PROMPTS)
def test_k1_without_ngrams_equals_greedy(tiny_lm, prompt):
    ids = tiny_lm.encode(prompt)
    greedy = greedy_decode(tiny_lm, DecodeRequest(prompt_ids=ids, max_new_tokens=16))
    sup = run(tiny_lm, prompt, k=1, max_new_tokens=16)
    assert sup.drafts[0].token_ids == greedy.drafts[0].token_ids
    assert sup.drafts[0].score == pytest.approx(greedy.drafts[0].score, abs=1e-4)


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="default model not exported yet")
def test_k1_without_ngrams_equals_greedy_on_the_default_model():
    from models.loader import load_model

    lm = load_model("default", device="cpu")
    for prompt in ("import os\n\ndef ", "class Stack:\n    def push(self, item):\n        self."):
        ids = lm.encode(prompt)
        greedy = greedy_decode(lm, DecodeRequest(prompt_ids=ids, max_new_tokens=20))
        sup = superposed_decode(
            lm, DecodeRequest(prompt_ids=ids, k=1, max_new_tokens=20, verify=False)
        )
        assert sup.drafts[0].token_ids == greedy.drafts[0].token_ids


@pytest.mark.parametrize("k", range(1, 9))
def test_forward_calls_equal_generated_tokens(tiny_lm, count_forward, k):
    result = run(tiny_lm, "def add(a, b):\n", k=k, max_new_tokens=12)
    assert result.generated_tokens >= 1
    assert count_forward[0] == result.forward_calls == result.generated_tokens
    assert max(len(d.token_ids) for d in result.drafts) <= result.generated_tokens


def test_verification_adds_exactly_one_forward(tiny_lm, count_forward):
    result = run(tiny_lm, "def add(a, b):\n", k=4, max_new_tokens=10, verify=True)
    assert count_forward[0] == result.generated_tokens + 1
    means = [d.stats["verified_mean_logprob"] for d in result.drafts]
    assert means == sorted(means, reverse=True)
    assert all(d.logprob is not None for d in result.drafts)


@pytest.mark.parametrize("k", [1, 3, 8])
def test_kv_cache_grows_by_one_position_per_step(tiny_lm, k):
    trace = SuperposedTrace()
    prompt_len = len(tiny_lm.encode("class Foo:\n"))
    result = run(tiny_lm, "class Foo:\n", trace=trace, k=k, max_new_tokens=10)
    expected = [prompt_len + i for i in range(result.generated_tokens)]
    assert trace.cache_lengths == expected


@pytest.mark.parametrize("k", [2, 4, 7])
def test_weights_form_a_distribution_and_drafts_are_distinct_and_sorted(tiny_lm, k):
    trace = SuperposedTrace()
    run(tiny_lm, "for i in range(10):\n", trace=trace, k=k, max_new_tokens=10)
    assert trace.weights, "expected at least one superposed step"
    for weights, drafts in zip(trace.weights, trace.drafts, strict=False):
        assert len(weights) == len(drafts)
        assert all(w >= 0 for w in weights)
        assert sum(weights) == pytest.approx(1.0, abs=1e-9)
    for drafts, scores in zip(trace.drafts, trace.scores, strict=True):
        assert len(set(drafts)) == len(drafts) <= k
        assert scores == sorted(scores, reverse=True)
    # weights are the softmax of the cumulative scores
    probs = torch.softmax(torch.tensor(trace.scores[0], dtype=torch.float64), 0).tolist()
    assert trace.weights[0] == pytest.approx(probs)


def test_the_step_embedding_is_the_weighted_sum_of_draft_embeddings(tiny_lm):
    trace = SuperposedTrace()
    prompt = "x = "
    run(tiny_lm, prompt, trace=trace, k=3, max_new_tokens=2)
    # recompute step 2's logits from the recorded superposition
    emb = tiny_lm.model.get_input_embeddings()(torch.tensor(trace.tokens[0]))
    mixed = (torch.tensor(trace.weights[0], dtype=emb.dtype)[:, None] * emb).sum(0)
    with torch.no_grad():
        _, past = forward(tiny_lm, None, input_ids=torch.tensor([tiny_lm.encode(prompt)]))
        logits, _ = forward(tiny_lm, past, inputs_embeds=mixed.view(1, 1, -1))
    top = torch.topk(torch.log_softmax(logits[0], -1), 9).indices.tolist()
    second_tokens = {d[1] for d in trace.drafts[1]}
    assert second_tokens <= set(top)


@pytest.mark.parametrize("k", [2, 4, 6])
def test_first_step_drafts_start_with_the_top_k_tokens_in_order(tiny_lm, k):
    trace = SuperposedTrace()
    prompt = "import os\n"
    run(tiny_lm, prompt, trace=trace, k=k, max_new_tokens=3)
    ranked = torch.topk(prefill_logits(tiny_lm, prompt), 3 * k).indices.tolist()
    expected = [t for t in ranked if t not in tiny_lm.eos_ids][:k]
    assert [d[0] for d in trace.drafts[0]] == expected


def test_ngram_scores_are_interpolated_per_draft(tiny_lm):
    prompt = "import os\n"
    ids = tiny_lm.encode(prompt)
    logp = torch.log_softmax(prefill_logits(tiny_lm, prompt), -1)
    unlikely = int(torch.argsort(logp, descending=True)[5])  # 6th most likely token
    # a corpus in which `unlikely` always follows the prompt's last two tokens
    corpus = [ids[-2:] + [unlikely]] * 50
    table = build_table(corpus, tiny_lm.vocab_size, orders=(2, 3))
    a = 0.9
    trace = SuperposedTrace()
    run(tiny_lm, prompt, trace=trace, k=3, max_new_tokens=2, ngram=table, ngram_weight=a)
    assert trace.drafts[0][0] == (unlikely,)  # the n-gram pulled it to the top
    for draft, score in zip(trace.drafts[0], trace.scores[0], strict=True):
        ng = table.log_probs(np.array([ids[-2:]]), np.array([[draft[0]]]))[0, 0]
        assert score == pytest.approx((1 - a) * float(logp[draft[0]]) + a * ng, abs=1e-4)


class ForbidTopForRowZero:
    """Forbids, for the first row only, the token its scores rank first; records calls."""

    def __init__(self) -> None:
        self.shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        self.row0: list[tuple[int, ...]] = []
        self.forbidden: list[int] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.shapes.append((tuple(input_ids.shape), tuple(scores.shape)))
        self.row0.append(tuple(input_ids[0].tolist()))
        token = int(torch.argmax(scores[0]))
        self.forbidden.append(token)
        out = scores.clone()
        out[0, token] = -math.inf
        return out


def test_constraints_apply_per_draft(tiny_lm):
    constraint = ForbidTopForRowZero()
    trace = SuperposedTrace()
    run(tiny_lm, "def add(a, b):\n", trace=trace, k=4, max_new_tokens=6, constraints=[constraint])
    # one call per step with the live drafts' generated ids (rows, t) and scores (rows, V)
    for step, ((ids_shape, scores_shape), drafts) in enumerate(
        zip(constraint.shapes, [[()]] + trace.drafts, strict=False)
    ):
        assert ids_shape == (len(drafts), step)
        assert scores_shape == (len(drafts), tiny_lm.vocab_size)
    steps = list(zip(constraint.row0, constraint.forbidden, trace.drafts, strict=True))
    # the draft in row 0 never extends with its forbidden token ...
    for row0, token, children in steps:
        assert all(not (c[:-1] == row0 and c[-1] == token) for c in children)
    # ... while other drafts do pick it (the shared distribution ranks it first)
    assert any(c[-1] == token and c[:-1] != row0 for row0, token, kids in steps for c in kids)


class SetCancelAtStep:
    def __init__(self, event: threading.Event, step: int) -> None:
        self.event, self.step = event, step

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] == self.step:
            self.event.set()
        return scores


def test_cancel_stops_within_one_step(tiny_lm):
    cancel = threading.Event()
    result = run(
        tiny_lm,
        "x = ",
        k=3,
        max_new_tokens=30,
        cancel=cancel,
        constraints=[SetCancelAtStep(cancel, 3)],
        verify=True,
    )
    assert result.cancelled
    assert result.generated_tokens == 4  # the step that saw the flag set still completes
    assert result.forward_calls == 4
    assert all(d.finish == "cancelled" for d in result.drafts)
    assert all(d.logprob is None for d in result.drafts)  # no verification after cancel


def test_cancel_before_the_first_step(tiny_lm):
    cancel = threading.Event()
    cancel.set()
    result = run(tiny_lm, "x = ", k=4, max_new_tokens=10, cancel=cancel)
    assert result.cancelled and result.generated_tokens == 0


class VetoRowZeroNgram:
    """An n-gram model that returns -inf for every candidate of row 0."""

    context_length = 2

    def log_probs(self, contexts: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        out = np.full(candidates.shape, -1.0)
        out[0] = -np.inf
        return out


def test_vetoed_draft_falls_back_to_penalised_lm_scores(tiny_lm):
    trace = SuperposedTrace()
    veto = VetoRowZeroNgram()
    result = run(tiny_lm, "x = ", trace=trace, k=3, max_new_tokens=5, ngram=veto, ngram_weight=0.5)
    assert all(math.isfinite(s) for scores in trace.scores for s in scores)
    assert all(math.isfinite(w) for weights in trace.weights for w in weights)
    assert all(len(drafts) == 3 for drafts in trace.drafts) and result.drafts
    # at step 1 the only row (the prefill) was vetoed: scores carry the penalty
    assert max(trace.scores[0]) < -50


def test_stop_rule_finishes_drafts_with_cut_text(tiny_lm):
    def first_line(text: str):
        return text.index("\n") if "\n" in text else None

    result = run(tiny_lm, "def add(a, b):\n", k=4, max_new_tokens=12, stop=first_line)
    for draft in result.drafts:
        assert "\n" not in draft.text
        if draft.finish == "stop":
            assert "\n" in tiny_lm.table.decode(draft.token_ids)
    texts = [d.text for d in result.drafts]
    assert len(texts) == len(set(texts))
    means = [d.stats["mean_score"] for d in result.drafts]
    assert means == sorted(means, reverse=True)


def test_timings_and_stats_are_reported(tiny_lm):
    table = build_table([tiny_lm.encode(p) for p in PROMPTS], tiny_lm.vocab_size)
    result = run(tiny_lm, "x = ", k=4, max_new_tokens=4, ngram=table, verify=True)
    for key in ("forward_ms", "ngram_ms", "constraint_ms", "verify_ms", "total_ms"):
        assert result.timings[key] >= 0
    assert result.timings["ngram_ms"] > 0 and result.timings["verify_ms"] > 0
    assert all("mean_score" in d.stats for d in result.drafts)


def test_drafts_not_worth_extending_are_finished_early(tiny_lm, count_forward):
    def two_tokens(lm, ngram):
        return len(lm) < 2

    prompt = tiny_lm.encode(PROMPTS[0])
    req = DecodeRequest(
        prompt_ids=prompt, max_new_tokens=12, k=3, verify=False, extend_while=two_tokens
    )
    result = superposed_decode(tiny_lm, req)
    assert result.drafts
    assert all(len(d.token_ids) <= 2 for d in result.drafts)
    assert {d.finish for d in result.drafts} <= {"confidence", "eos", "stop"}
    assert result.forward_calls <= 2 and count_forward[0] == result.forward_calls
    for d in result.drafts:
        assert len(d.token_logprobs) == len(d.token_ids)
    greedy = greedy_decode(
        tiny_lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=12, extend_while=two_tokens)
    )
    assert len(greedy.drafts[0].token_ids) == 2 and greedy.drafts[0].finish == "confidence"
