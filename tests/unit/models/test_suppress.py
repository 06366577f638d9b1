"""Special tokens other than EOS are never drafted."""

from __future__ import annotations

import pytest
import torch

from models.decoding import DecodeRequest, greedy_decode
from models.suppress import SuppressSpecialTokens


def test_special_tokens_but_eos_are_masked_without_touching_the_input(tiny_lm):
    table = tiny_lm.table
    eos = sorted(tiny_lm.eos_ids)
    constraint = SuppressSpecialTokens(table, eos)
    scores = torch.zeros(2, table.vocab_size)
    out = constraint(torch.zeros(2, 0, dtype=torch.long), scores)
    special = table.special.nonzero().flatten().tolist()
    assert special and set(eos) <= set(special)
    for i in special:
        expected = 0.0 if i in eos else float("-inf")
        assert out[0, i].item() == expected and out[1, i].item() == expected
    assert torch.equal(scores, torch.zeros(2, table.vocab_size))  # never mutated
    ordinary = [i for i in range(table.vocab_size) if i not in special][:5]
    assert all(out[0, i].item() == 0.0 for i in ordinary)
    with pytest.raises(ValueError):
        SuppressSpecialTokens(table, [table.vocab_size + 3])


def test_a_model_preferring_a_sentinel_drafts_code_instead(tiny_lm):
    sentinel = tiny_lm.fim.middle
    prompt = tiny_lm.encode("x = ")

    class PreferSentinel:
        def __call__(self, ids, scores):
            return scores.index_fill(1, torch.tensor([sentinel]), 1e4)

    req = DecodeRequest(prompt_ids=prompt, max_new_tokens=3, constraints=[PreferSentinel()])
    assert greedy_decode(tiny_lm, req).drafts[0].token_ids == [sentinel] * 3
    suppress = SuppressSpecialTokens(tiny_lm.table, tiny_lm.eos_ids)
    req = DecodeRequest(
        prompt_ids=prompt, max_new_tokens=3, constraints=[PreferSentinel(), suppress]
    )
    assert sentinel not in greedy_decode(tiny_lm, req).drafts[0].token_ids
