"""Greedy decoder on a tiny random model: KV cache, limits, stop rules, cancellation."""

from __future__ import annotations

import threading

import torch

from models.decoding import DecodeRequest, greedy_decode


def reference_greedy(lm, prompt: list[int], n: int) -> list[int]:
    """Greedy tokens computed without a KV cache (full recompute per step)."""
    ids = list(prompt)
    out = []
    with torch.no_grad():
        for _ in range(n):
            logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
            tok = int(torch.argmax(logits))
            if tok in lm.eos_ids:
                break
            out.append(tok)
            ids.append(tok)
    return out


def test_greedy_matches_full_recompute(tiny_lm):
    prompt = tiny_lm.encode("def add(a, b):\n")
    result = greedy_decode(tiny_lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=12))
    assert result.drafts[0].token_ids == reference_greedy(tiny_lm, prompt, 12)
    assert result.forward_calls == max(1, result.generated_tokens)


def test_max_new_tokens_is_honoured(tiny_lm):
    prompt = tiny_lm.encode("x = ")
    result = greedy_decode(tiny_lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=5))
    assert result.generated_tokens <= 5
    if result.drafts[0].finish == "length":
        assert result.generated_tokens == 5


def test_stop_condition_cuts_text(tiny_lm):
    prompt = tiny_lm.encode("class Foo:\n")
    req = DecodeRequest(
        prompt_ids=prompt, max_new_tokens=20, stop=lambda t: 1 if len(t) >= 2 else None
    )
    draft = greedy_decode(tiny_lm, req).drafts[0]
    if draft.finish == "stop":
        assert len(draft.text) == 1


def test_cancel_flag_stops_before_generating(tiny_lm):
    cancel = threading.Event()
    cancel.set()
    prompt = tiny_lm.encode("x = ")
    result = greedy_decode(
        tiny_lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=20, cancel=cancel)
    )
    assert result.cancelled and result.generated_tokens == 0


def test_cancel_mid_generation_stops_within_one_token(tiny_lm):
    cancel = threading.Event()
    seen: list[str] = []

    def stop(text: str):
        seen.append(text)
        if len(seen) == 3:
            cancel.set()
        return None

    prompt = tiny_lm.encode("x = ")
    req = DecodeRequest(prompt_ids=prompt, max_new_tokens=30, stop=stop, cancel=cancel)
    result = greedy_decode(tiny_lm, req)
    if result.drafts[0].finish != "eos":
        assert result.cancelled and result.generated_tokens == 3
