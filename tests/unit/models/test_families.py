"""Every supported Hugging Face family through every decoder and the full engine (issue 18).

Tiny random-weight models of the real transformers classes (tests/unit/models/
model_families_testing.py): GPT-2, Llama (SmolLM2-, Code Llama- and DeepSeek-Coder-style
tokenizers), Qwen2 and Starcoder2 and Mistral with sliding windows, GPTBigCode
(multi-query), GPT-NeoX, Phi, Gemma, CodeGen.
"""

from __future__ import annotations

import threading

import pytest
import torch
from model_families_testing import FAMILIES, FAMILY_NAMES, family_lm

from lsp_server.engine import CompletionJob, Engine
from lsp_server.settings import Settings
from models.baselines import beam_decode, sampling_decode
from models.decoding import DecodeRequest, forward, greedy_decode
from models.hf_compat import cache_length
from models.superposed import SuperposedRequest, SuperposedTrace, superposed_decode
from models.verify import token_logprobs

PROMPT = "class Foo:\n    def __init__(self):\n        self.alpha = 1\n        self.beta = 2\n"
ENGINE_TEXT = (
    "class Foo:\n    def __init__(self):\n        self.alpha = 1\n        self.beta = 2\n\n"
    "    def run(self):\n        return self."
)
MEMBERS = ("alpha", "beta", "run", "__")  # self.: Foo's own members and the dunders


@pytest.fixture(params=FAMILY_NAMES)
def lm(request):
    return family_lm(request.param)


def prompt_ids(lm) -> list[int]:
    ids = lm.encode(PROMPT)
    assert len(ids) > 14  # longer than the sliding windows of the tiny models
    return ids


def exact_logprob(lm, prompt: list[int], tokens: list[int]) -> float:
    """Sum of log p(token) by one full forward without any cache."""
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([prompt + tokens]), use_cache=False).logits[0]
    logp = torch.log_softmax(logits.float(), dim=-1)
    return sum(float(logp[len(prompt) - 1 + j, t]) for j, t in enumerate(tokens))


def test_fim_sentinels_of_each_family_are_detected_and_never_spelled():
    for family in FAMILIES:
        lm = family_lm(family.name)
        if family.fim_family is None:
            assert lm.fim is None, family.name
            continue
        assert lm.fim is not None and lm.fim.family == family.fim_family, family.name
        for sentinel in lm.fim.ids:
            assert lm.table.surfaces[sentinel] == b"" and bool(lm.table.special[sentinel])
        if family.fim_family == "codellama":
            assert lm.fim.end in lm.eos_ids  # <EOT> closes the middle


def test_cached_superposed_embedding_steps_match_a_full_recompute(lm):
    # the decoder's path: prefill ids, then mixed embeddings one position at a time through
    # the family's own embedding module and cache (GQA, rotary, sliding windows)
    prompt = prompt_ids(lm)
    emb = lm.model.get_input_embeddings()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        _, past = forward(lm, None, input_ids=torch.tensor([prompt]))
        embeds = [emb(torch.tensor(prompt))]  # (P, d)
        for step in range(6):
            tokens = torch.randint(0, lm.vocab_size, (3,), generator=gen)
            weights = torch.softmax(torch.randn(3, generator=gen), 0)
            mixed = (weights[:, None] * emb(tokens)).sum(0)  # (d,)
            logits, past = forward(lm, past, inputs_embeds=mixed.view(1, 1, -1))  # (1, V)
            embeds.append(mixed.view(1, -1))
            full = lm.model(inputs_embeds=torch.cat(embeds)[None], use_cache=False).logits
            assert torch.allclose(logits[0], full[0, -1].float(), atol=1e-4), step
            assert cache_length(past) == len(prompt) + step + 1


def test_k1_superposed_equals_greedy_token_for_token(lm):
    prompt = prompt_ids(lm)
    greedy = greedy_decode(lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=14))
    superposed = superposed_decode(
        lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=14, k=1, verify=False)
    )
    assert superposed.drafts[0].token_ids == greedy.drafts[0].token_ids
    assert superposed.forward_calls == greedy.forward_calls


def test_superposed_k4_one_forward_per_token_and_verified_exactly(lm):
    prompt = prompt_ids(lm)
    trace = SuperposedTrace()
    req = SuperposedRequest(prompt_ids=prompt, max_new_tokens=10, k=4, trace=trace)
    result = superposed_decode(lm, req)
    assert result.forward_calls == result.generated_tokens == 10
    assert trace.cache_lengths == list(range(len(prompt), len(prompt) + 10))
    assert all(abs(sum(w) - 1.0) < 1e-9 for w in trace.weights)
    texts = [d.text for d in result.drafts]  # distinct texts (random bytes may coincide)
    assert 2 <= len(texts) <= 4 and len(set(texts)) == len(texts)
    for draft in result.drafts:  # verification scored every draft exactly
        assert draft.logprob == pytest.approx(exact_logprob(lm, prompt, draft.token_ids), abs=2e-3)


def test_beam_and_sampling_scores_are_the_models_log_probabilities(lm):
    prompt = prompt_ids(lm)
    beam = beam_decode(lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=6, k=3))
    sampled = sampling_decode(
        lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=6, k=3, seed=5, top_p=0.9)
    )
    for result in (beam, sampled):
        assert result.drafts
        for draft in result.drafts:
            if draft.finish == "length":
                assert draft.score == pytest.approx(
                    exact_logprob(lm, prompt, draft.token_ids), abs=2e-3
                )
    assert len({d.text for d in beam.drafts}) == len(beam.drafts)
    rows = [d.token_ids for d in beam.drafts]
    exact = token_logprobs(lm, prompt, rows)  # verification without the decoder's cache
    for draft, lps in zip(beam.drafts, exact, strict=True):
        assert sum(lps) == pytest.approx(exact_logprob(lm, prompt, draft.token_ids), abs=2e-3)


def _leading_ident(text: str) -> str:
    i = 0
    while i < len(text) and (text[i].isalnum() or text[i] == "_"):
        i += 1
    return text[:i]


@pytest.mark.parametrize("decoder", ["superposed", "greedy", "beam", "sampling"])
def test_engine_serves_every_family_with_monitor_healing_and_penalty(lm, decoder):
    engine = Engine(Settings(drafts=4, maxNewTokens=6, decoder=decoder))
    uri = "file:///tmp/families/a.py"
    for typed in ("", "al"):
        text = ENGINE_TEXT + typed
        engine.open_document(uri, text, "python")
        engine.attach_model(lm)
        result = engine.complete(CompletionJob(uri=uri, offset=len(text), cancel=threading.Event()))
        assert result.drafts, result.reason
        assert result.timings["forward_calls"] >= 1
        for draft in result.drafts:
            # the monitor: what follows "self." spells (a prefix of) a member of Foo
            word = typed + _leading_ident(draft.text)
            ok = any(m.startswith(word) for m in MEMBERS) or word.startswith("__")
            assert ok, (typed, draft.text)
            assert "repetition_penalties" in draft.stats
            assert "monitor_constrained_steps" in draft.stats
        assert any(d.stats["monitor_constrained_steps"] >= 1 for d in result.drafts)
