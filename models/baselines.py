"""Baseline decoders behind the same interface as superposed decoding.

* :func:`beam_decode` — beam search with k beams (Lowerre 1976; the standard
  length-normalised variant, cf. Wu et al. 2016), one batched forward per step
  for all beams, the KV cache reordered by parent beam.
* :func:`sampling_decode` — k drafts by nucleus sampling (Holtzman et al. 2020,
  "The Curious Case of Neural Text Degeneration"), temperature first, seeded
  generator, one batched forward per step for all k rows.
* :func:`sequential_decode` — k independent single-draft passes (greedy or
  nucleus), the cost Superposed Decoding (Shen et al. 2024) is compared with.

All honour cancellation (checked every step), ``max_new_tokens``, stop rules and
per-row constraints (each row's generated ids are passed, so constraints keyed by
draft prefix follow reordered beams). Drafts are ranked by mean score per token,
like the superposed decoder; ``verify`` is not applied to baselines (their scores
are already the model's own log-probabilities).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import torch

from models.decoding import (
    DecodeRequest,
    DecodeResult,
    Draft,
    DraftText,
    apply_constraints,
    fit_prompt,
    forward,
    greedy_decode,
)
from models.hf_compat import select_rows
from models.loader import LoadedModel
from models.superposed import (
    DraftPool,
    Hypothesis,
    StepTimer,
    next_hypotheses,
    ranked_drafts,
    timed_result,
)


def _row_log_probs(
    req: DecodeRequest, logits: torch.Tensor, live: Sequence[Hypothesis]
) -> torch.Tensor:
    """Return per-row log-probabilities (rows, V) after temperature and constraints."""
    rows = len(live)
    scaled = torch.nan_to_num(logits / req.temperature, nan=-math.inf)  # (1 or rows, V)
    scaled = scaled.expand(rows, -1)  # (rows, V)
    if req.constraints:
        generated = torch.tensor([h.ids for h in live], dtype=torch.long).reshape(rows, -1)
        scaled = apply_constraints(req.constraints, generated, scaled)
    return torch.log_softmax(scaled, dim=-1)  # (rows, V)


# -------------------------------------------------------------------- beam


@torch.no_grad()
def beam_decode(lm: LoadedModel, req: DecodeRequest) -> DecodeResult:
    """Return the k best beams (finished beams pooled; stop once k finished beams beat the rest)."""
    started = time.perf_counter()
    timer = StepTimer("forward_ms", "constraint_ms")
    prompt = fit_prompt(lm, req.prompt_ids, req.max_new_tokens)
    width = min(lm.vocab_size, 2 * req.k)
    # 1. prefill the prompt once; the first step expands its single row
    t0 = time.perf_counter()
    logits, past = forward(lm, None, input_ids=torch.tensor([prompt]))  # (1, V)
    timer.add("forward_ms", t0)
    calls, steps, cancelled = 1, 0, False
    live: list[Hypothesis] = [Hypothesis((), DraftText(lm.table))]
    pool = DraftPool(req.k)
    while True:
        # 2. stop within one step when cancelled
        if req.cancelled():
            cancelled = True
            break
        # 3. each beam's best 2k extensions under its own constraints
        t0 = time.perf_counter()
        logp = _row_log_probs(req, logits, live)  # (rows, V)
        step_scores, tokens = torch.topk(logp, width, dim=-1)  # (rows, 2k)
        timer.add("constraint_ms", t0)
        # 4. best k (beam, token) pairs live on; EOS / stop beams are finished
        chosen = next_hypotheses(live, tokens, step_scores, req.k, pool, lm.eos_ids, req.stop)
        live = [child for _, child in chosen]
        steps += 1
        if not live or pool.settled(live) or steps >= req.max_new_tokens:
            break
        # 5. reorder the batched cache by parent beam; one forward for all beams
        select_rows(past, torch.tensor([row for row, _ in chosen], device=lm.device))
        newest = torch.tensor([[h.ids[-1]] for h in live], dtype=torch.long)  # (rows, 1)
        t0 = time.perf_counter()
        logits, past = forward(lm, past, input_ids=newest)  # (rows, V)
        timer.add("forward_ms", t0)
        calls += 1
    drafts = ranked_drafts(req, pool, live, "cancelled" if cancelled else "length")
    return timed_result(drafts, calls, prompt, steps, started, cancelled, timer)


# ---------------------------------------------------------------- sampling


def nucleus_probs(logp: torch.Tensor, top_p: float) -> torch.Tensor:
    """Return the renormalised top-p distribution of each row of ``logp`` (rows, V)."""
    probs = logp.exp()  # (rows, V)
    if top_p >= 1.0:
        top_p = 2.0  # keep everything, still guard NaN rows below
    sorted_p, order = torch.sort(probs, dim=-1, descending=True)  # (rows, V)
    before = torch.cumsum(sorted_p, dim=-1) - sorted_p  # mass strictly above each token
    keep_sorted = before < top_p  # always keeps the most likely token
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = torch.nan_to_num(torch.where(keep, probs, torch.zeros_like(probs)), nan=0.0)
    total = kept.sum(dim=-1, keepdim=True)  # (rows, 1); 0 only for a NaN/-inf row
    return torch.where(
        total > 0, kept / total.clamp_min(1e-30), torch.ones_like(kept) / kept.shape[-1]
    )


@torch.no_grad()
def sampling_decode(lm: LoadedModel, req: DecodeRequest) -> DecodeResult:
    """Return k nucleus-sampled drafts, all rows in one batched forward per step."""
    started = time.perf_counter()
    timer = StepTimer("forward_ms", "constraint_ms")
    prompt = fit_prompt(lm, req.prompt_ids, req.max_new_tokens)
    generator = torch.Generator()
    if req.seed is None:
        generator.seed()
    else:
        generator.manual_seed(req.seed)
    # 1. prefill once; the first step samples k rows from its single distribution
    t0 = time.perf_counter()
    logits, past = forward(lm, None, input_ids=torch.tensor([prompt]))  # (1, V)
    timer.add("forward_ms", t0)
    calls, steps, cancelled = 1, 0, False
    live: list[Hypothesis] = [Hypothesis((), DraftText(lm.table))] * req.k
    pool = DraftPool(req.k)
    while True:
        # 2. stop within one step when cancelled
        if req.cancelled():
            cancelled = True
            break
        # 3. every row's distribution (temperature, constraints), then top-p sampling
        t0 = time.perf_counter()
        logp = _row_log_probs(req, logits, live)  # (rows, V); the prefill row is shared
        probs = nucleus_probs(logp, req.top_p)  # (rows, V)
        timer.add("constraint_ms", t0)
        tokens = torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0]  # (rows,)
        # 4. finished rows leave the batch
        continuing: list[int] = []
        next_live: list[Hypothesis] = []
        for row, (hyp, tok) in enumerate(zip(live, tokens.tolist(), strict=True)):
            step = float(logp[row, tok])
            if tok in lm.eos_ids:
                pool.add(hyp.ended(step), "eos")
                continue
            child = hyp.extended(tok, step)
            cut = req.stop(child.text.text) if req.stop is not None else None
            if cut is not None:
                pool.add(child, "stop", cut)
                continue
            continuing.append(row)
            next_live.append(child)
        live = next_live
        steps += 1
        if not live or steps >= req.max_new_tokens:
            break
        # 5. keep the cache rows of the continuing drafts (first: copies of the prefill row)
        keep = [0] * len(continuing) if steps == 1 else continuing
        select_rows(past, torch.tensor(keep, device=lm.device))
        newest = torch.tensor([[h.ids[-1]] for h in live], dtype=torch.long)  # (rows, 1)
        t0 = time.perf_counter()
        logits, past = forward(lm, past, input_ids=newest)  # (rows, V)
        timer.add("forward_ms", t0)
        calls += 1
    drafts = ranked_drafts(req, pool, live, "cancelled" if cancelled else "length")
    return timed_result(drafts, calls, prompt, steps, started, cancelled, timer)


# -------------------------------------------------------------- sequential


def _mean_score(draft: Draft) -> float:
    if "mean_score" in draft.stats:
        return float(draft.stats["mean_score"])
    return draft.score / len(draft.token_ids) if draft.token_ids else -math.inf


def sequential_decode(
    lm: LoadedModel, req: DecodeRequest, inner: Literal["greedy", "sampling"] = "greedy"
) -> DecodeResult:
    """Return k drafts from k independent single-draft passes (duplicates kept).

    ``inner="sampling"`` seeds pass i with ``seed + i`` (fresh random seeds without a seed).
    """
    if inner not in ("greedy", "sampling"):
        raise ValueError(f"inner must be 'greedy' or 'sampling', not {inner!r}")
    started = time.perf_counter()
    decode = greedy_decode if inner == "greedy" else sampling_decode
    drafts: list[Draft] = []
    calls = steps = prompt_tokens = 0
    cancelled = False
    for i in range(req.k):
        if req.cancelled():
            cancelled = True
            break
        seed = None if req.seed is None else req.seed + i
        one = decode(lm, replace(req, k=1, seed=seed, verify=False))
        drafts.extend(one.drafts)
        calls += one.forward_calls
        steps += one.generated_tokens
        prompt_tokens = one.prompt_tokens
        if one.cancelled:
            cancelled = True
            break
    drafts.sort(key=lambda d: -_mean_score(d))
    return DecodeResult(
        drafts=drafts,
        forward_calls=calls,
        prompt_tokens=prompt_tokens,
        generated_tokens=steps,
        seconds=time.perf_counter() - started,
        cancelled=cancelled,
        timings={"total_ms": (time.perf_counter() - started) * 1000.0},
    )
