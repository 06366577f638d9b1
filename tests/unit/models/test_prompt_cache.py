"""KV-cache reuse across requests: identical drafts, fewer prefilled tokens, safe fallbacks."""

from __future__ import annotations

import threading

import pytest

from models.decoding import DecodeRequest, greedy_decode
from models.prompt_cache import MIN_REUSE, PromptCache, common_prefix
from models.superposed import superposed_decode

BASE = "class Foo:\n    def __init__(self):\n        self.alpha = 1\n        self.beta = 2\n\n"
TYPED = "    def total(self):\n        return self.alpha + self.be"


def keystrokes() -> list[str]:
    return [BASE + TYPED[:i] for i in range(len(TYPED) - 12, len(TYPED) + 1)]


def run(lm, text: str, cache: PromptCache | None, decoder=superposed_decode, **kw):
    req = DecodeRequest(
        prompt_ids=lm.encode(text),
        max_new_tokens=6,
        k=kw.pop("k", 2),
        verify=kw.pop("verify", False),
        prompt_cache=cache,
        cache_key="file:///doc.py" if cache is not None else None,
        **kw,
    )
    return decoder(lm, req)


@pytest.mark.parametrize("decoder", [superposed_decode, greedy_decode])
def test_drafts_are_identical_with_and_without_reuse(tiny_lm, decoder):
    cache = PromptCache(tiny_lm)
    for text in keystrokes():
        fresh = run(tiny_lm, text, None, decoder)
        reused = run(tiny_lm, text, cache, decoder)
        assert [d.token_ids for d in reused.drafts] == [d.token_ids for d in fresh.drafts]
        for a, b in zip(reused.drafts, fresh.drafts, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-3)
    assert cache.hits == len(keystrokes()) - 1  # every request after the first reused
    total = sum(len(tiny_lm.encode(t)) for t in keystrokes())
    assert cache.prefilled_tokens < total / 4  # only the tails were prefilled
    assert cache.reused_tokens + cache.prefilled_tokens == total


def test_an_edit_far_back_falls_back_to_a_full_prefill(tiny_lm):
    cache = PromptCache(tiny_lm)
    run(tiny_lm, BASE + TYPED, cache)
    edited = "import os\n" + BASE + TYPED  # the prompt changes at its start
    fresh = run(tiny_lm, edited, None)
    again = run(tiny_lm, edited, cache)
    assert [d.token_ids for d in again.drafts] == [d.token_ids for d in fresh.drafts]
    assert cache.hits == 0


def test_verification_leaves_nothing_to_reuse_and_results_stay_right(tiny_lm):
    cache = PromptCache(tiny_lm)
    texts = keystrokes()
    run(tiny_lm, texts[0], cache, verify=True, k=3)  # the cache becomes one row per draft
    assert cache.stats()["entries"] == 0
    fresh = run(tiny_lm, texts[1], None)
    again = run(tiny_lm, texts[1], cache)
    assert [d.token_ids for d in again.drafts] == [d.token_ids for d in fresh.drafts]
    assert cache.hits == 0 and cache.stats()["entries"] == 1


def test_a_cancelled_request_leaves_a_usable_cache(tiny_lm):
    cache = PromptCache(tiny_lm)
    texts = keystrokes()
    stop = threading.Event()
    stop.set()
    assert run(tiny_lm, texts[0], cache, cancel=stop).cancelled
    fresh = run(tiny_lm, texts[1], None)
    again = run(tiny_lm, texts[1], cache)
    assert [d.token_ids for d in again.drafts] == [d.token_ids for d in fresh.drafts]
    assert cache.hits == 1


def test_documents_are_kept_in_a_bounded_lru(tiny_lm):
    cache = PromptCache(tiny_lm, entries=2)
    prompt = tiny_lm.encode(BASE)
    assert len(prompt) >= MIN_REUSE
    for key in ("a", "b", "c"):
        done = cache.prefill(key, prompt)
        cache.store(key, prompt, done.cache)
    assert cache.stats()["entries"] == 2
    assert cache.prefill("a", prompt).reused == 0  # evicted
    assert cache.prefill("c", prompt).reused == len(prompt) - 1  # one token always runs
    with pytest.raises(ValueError):
        PromptCache(tiny_lm, entries=0)


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2], [1, 2]) == 2
