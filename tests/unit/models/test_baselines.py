"""Baseline decoders: beam search, batched nucleus sampling, k sequential passes."""

from __future__ import annotations

import math
import threading
from functools import partial

import pytest
import torch

from models.baselines import beam_decode, nucleus_probs, sampling_decode, sequential_decode
from models.decoders import get_decoder
from models.decoding import DecodeRequest, greedy_decode
from models.superposed import superposed_decode


def exact_logprobs(lm, prompt: list[int], row: list[int]) -> list[float]:
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([prompt + row])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return [float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(row)]


def reference_beam(lm, prompt: list[int], k: int, steps: int) -> list[tuple[int, ...]]:
    """Plain beam search by full recompute (no cache, no EOS in this short horizon)."""
    beams: list[tuple[tuple[int, ...], float]] = [((), 0.0)]
    for _ in range(steps):
        pool = []
        for ids, score in beams:
            with torch.no_grad():
                logits = lm.model(input_ids=torch.tensor([prompt + list(ids)])).logits[0, -1]
            logp = torch.log_softmax(logits.float(), -1)
            for tok in torch.topk(logp, 2 * k).indices.tolist():
                if tok not in lm.eos_ids:
                    pool.append((ids + (tok,), score + float(logp[tok])))
        pool.sort(key=lambda x: -x[1])
        beams = pool[:k]
    return [ids for ids, _ in beams]


def test_beam_matches_a_full_recompute_reference(tiny_lm):
    prompt = tiny_lm.encode("class Foo:\n")
    result = beam_decode(tiny_lm, DecodeRequest(prompt_ids=prompt, k=3, max_new_tokens=4))
    assert result.forward_calls == result.generated_tokens == 4
    expected = reference_beam(tiny_lm, prompt, 3, 4)
    assert sorted(tuple(d.token_ids) for d in result.drafts) == sorted(expected)
    for draft in result.drafts:
        assert draft.score == pytest.approx(
            sum(exact_logprobs(tiny_lm, prompt, draft.token_ids)), abs=1e-3
        )


def test_beam_with_one_beam_is_greedy(tiny_lm):
    prompt = tiny_lm.encode("def add(a, b):\n")
    greedy = greedy_decode(tiny_lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=12))
    beam = beam_decode(tiny_lm, DecodeRequest(prompt_ids=prompt, k=1, max_new_tokens=12))
    assert beam.drafts[0].token_ids == greedy.drafts[0].token_ids


def test_nucleus_keeps_the_smallest_set_reaching_top_p():
    logp = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.9, 0.05, 0.03, 0.02]]))
    probs = nucleus_probs(logp, 0.7)
    assert probs[0].tolist() == pytest.approx([0.5 / 0.8, 0.3 / 0.8, 0.0, 0.0])
    assert probs[1].tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])
    assert nucleus_probs(logp, 1.0) == pytest.approx(logp.exp())


def byte_budget(limit: int):
    return lambda text: len(text) if len(text.encode()) >= limit else None


def test_sampling_rows_keep_their_own_cache_when_others_finish(tiny_lm):
    prompt = tiny_lm.encode("x = ")
    req = DecodeRequest(
        prompt_ids=prompt, k=6, max_new_tokens=10, seed=7, top_p=0.9, stop=byte_budget(6)
    )
    result = sampling_decode(tiny_lm, req)
    lengths = {len(d.token_ids) for d in result.drafts}
    assert len(lengths) > 1, "rows should finish at different steps"
    assert result.forward_calls == result.generated_tokens
    for draft in result.drafts:  # scores are the model's own log-probabilities
        exact = exact_logprobs(tiny_lm, prompt, draft.token_ids)
        assert draft.score == pytest.approx(sum(exact), abs=1e-3)


def test_sampling_is_reproducible_per_seed(tiny_lm):
    prompt = tiny_lm.encode("import os\n")

    def texts(seed):
        req = DecodeRequest(prompt_ids=prompt, k=4, max_new_tokens=8, seed=seed)
        return [tuple(d.token_ids) for d in sampling_decode(tiny_lm, req).drafts]

    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


def test_sampling_with_a_tiny_nucleus_is_greedy_on_every_row(tiny_lm):
    prompt = tiny_lm.encode("def add(a, b):\n")
    greedy = greedy_decode(tiny_lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=8))
    req = DecodeRequest(prompt_ids=prompt, k=3, max_new_tokens=8, seed=0, top_p=1e-9)
    result = sampling_decode(tiny_lm, req)
    assert [d.token_ids for d in result.drafts] == [greedy.drafts[0].token_ids]  # deduplicated


def test_sequential_runs_k_independent_passes(tiny_lm):
    prompt = tiny_lm.encode("x = ")
    req = DecodeRequest(prompt_ids=prompt, k=3, max_new_tokens=5, seed=11)
    greedy = sequential_decode(tiny_lm, req, inner="greedy")
    assert len(greedy.drafts) == 3 and len({tuple(d.token_ids) for d in greedy.drafts}) == 1
    assert greedy.forward_calls == 3 * greedy_decode(tiny_lm, req).forward_calls
    sampled = sequential_decode(tiny_lm, req, inner="sampling")
    again = sequential_decode(tiny_lm, req, inner="sampling")
    assert [d.token_ids for d in sampled.drafts] == [d.token_ids for d in again.drafts]
    assert len({tuple(d.token_ids) for d in sampled.drafts}) > 1
    with pytest.raises(ValueError):
        sequential_decode(tiny_lm, req, inner="beam")  # type: ignore[arg-type]


class Forbid:
    """Forbids one token on every row."""

    def __init__(self, token: int) -> None:
        self.token = token

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        out = scores.clone()
        out[:, self.token] = -math.inf
        return out


DECODERS = {
    "superposed": superposed_decode,
    "beam": beam_decode,
    "sampling": sampling_decode,
    "sequential-greedy": partial(sequential_decode, inner="greedy"),
    "sequential-sampling": partial(sequential_decode, inner="sampling"),
}


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_every_decoder_honours_limits_constraints_and_cancel(tiny_lm, name):
    decode = DECODERS[name]
    prompt = tiny_lm.encode("def add(a, b):\n")
    free = decode(tiny_lm, DecodeRequest(prompt_ids=prompt, k=3, max_new_tokens=6, seed=3))
    assert all(len(d.token_ids) <= 6 for d in free.drafts) and free.drafts
    banned = free.drafts[0].token_ids[0]
    constrained = decode(
        tiny_lm,
        DecodeRequest(
            prompt_ids=prompt, k=3, max_new_tokens=6, seed=3, constraints=[Forbid(banned)]
        ),
    )
    assert all(banned not in d.token_ids for d in constrained.drafts)
    cancel = threading.Event()
    cancel.set()
    stopped = decode(
        tiny_lm, DecodeRequest(prompt_ids=prompt, k=3, max_new_tokens=6, cancel=cancel)
    )
    assert stopped.cancelled and stopped.generated_tokens == 0


@pytest.mark.parametrize("name", ["superposed", "beam", "sampling"])
def test_registry_maps_names_to_these_decoders(name):
    assert get_decoder(name) is DECODERS[name]
