"""Superposed decoding: k drafts from one autoregressive pass.

Shen et al. 2024, "Superposed Decoding: Multiple Generations from a Single
Autoregressive Inference Pass" (NeurIPS 2024). The prompt is prefilled once;
after that every step feeds ONE input embedding, the superposition

    e_t = Σ_d w_d · E[x_d],      w = softmax(cumulative scores of the live drafts)

of the embeddings of the k drafts' newest tokens (drafts sharing a token add
their weights), taken from the model's own embedding module. From the single
next-token distribution (temperature first) the top N tokens (default 3k) are
candidates for every draft; each (draft, token) pair is scored

    s(d, w) = (1 - a) · log p_LM(w) + a · log p_ngram(w | draft d's own context)

and the best k pairs become the new live drafts (pairwise distinct, sorted).
A candidate that is EOS or meets the stop rule goes to a finished pool instead.
The first step expands the single prefill row, so drafts start with the top-k
tokens. One forward call per generated token whatever k is; the KV cache grows by
one position per step and is never copied per draft.

Constraints (monitor, repetition penalty) act per draft: they see the k drafts'
generated ids ``(k, t)`` and the shared logits expanded to ``(k, V)``, so a draft
whose monitor masks a token never picks it; each draft's candidates are the top
N of its own constrained row (the shared top N whenever no constraint changes
the row). Non-finite scores are guarded: a draft whose candidates are all
vetoed falls back to its LM scores minus a penalty, as the paper's reference
code does when the n-gram interpolation vanishes.

Ranking and stopping (documented choices): drafts are compared by their *mean*
step score per token (length-normalised, the paper's perplexity view) in the
finished pool and in the final ranking; decoding stops at ``max_new_tokens``,
when no draft is alive, or once the pool holds k finished drafts that all rank
above every live draft (beam search's early stopping, judged by mean score;
the live drafts are then dropped). With ``verify`` on, the drafts are then re-ranked by
exact model log-probability (``models.verify``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from models.decoding import (
    DecodeRequest,
    DecodeResult,
    Draft,
    DraftText,
    StopCondition,
    apply_constraints,
    cache_length,
    constraint_stats,
    fit_prompt,
    forward,
    keep_prompt_cache,
    prefill,
)
from models.loader import LoadedModel
from models.ngram import MISSING
from models.verify import prompt_cache, verified_drafts

VETO_PENALTY = 100.0  # nats subtracted from LM scores used as a fallback for vetoed drafts


# ------------------------------------------------------------ observability


@dataclass
class SuperposedTrace:
    """Per-step record of a superposed pass (tests and debugging)."""

    weights: list[list[float]] = field(default_factory=list)  # superposition weights
    tokens: list[list[int]] = field(default_factory=list)  # newest token of each live draft
    scores: list[list[float]] = field(default_factory=list)  # cumulative scores, rank order
    drafts: list[list[tuple[int, ...]]] = field(default_factory=list)  # live drafts per step
    cache_lengths: list[int] = field(default_factory=list)  # KV positions after each forward


@dataclass
class SuperposedRequest(DecodeRequest):
    """A DecodeRequest that can carry a :class:`SuperposedTrace`."""

    trace: SuperposedTrace | None = None


# ------------------------------------------------------- shared by decoders


@dataclass(frozen=True)
class Hypothesis:
    """One draft under construction: ids, incremental text, cumulative score.

    ``lm`` and ``ngram`` keep each kept token's model and n-gram log-probability (the
    evidence a confidence estimate reads); ``score`` sums the interpolated step scores.
    """

    ids: tuple[int, ...]
    text: DraftText
    score: float = 0.0
    steps: int = 0  # scored steps (an EOS step counts, its token is not kept)
    lm: tuple[float, ...] = ()
    ngram: tuple[float, ...] = ()

    def extended(
        self, token: int, step_score: float, lm: float = 0.0, ngram: float = 0.0
    ) -> Hypothesis:
        return Hypothesis(
            self.ids + (token,),
            self.text.extended(token),
            self.score + step_score,
            self.steps + 1,
            self.lm + (lm,),
            self.ngram + (ngram,),
        )

    def ended(self, step_score: float) -> Hypothesis:
        """Return this draft finished by EOS (scored, EOS not kept)."""
        return Hypothesis(
            self.ids, self.text, self.score + step_score, self.steps + 1, self.lm, self.ngram
        )

    @property
    def mean(self) -> float:
        return self.score / self.steps if self.steps else 0.0


@dataclass(frozen=True)
class Finished:
    hyp: Hypothesis
    finish: str
    cut: int | None = None


class DraftPool:
    """The best ``k`` finished drafts by mean score."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.items: list[Finished] = []

    def add(self, hyp: Hypothesis, finish: str, cut: int | None = None) -> None:
        self.items.append(Finished(hyp, finish, cut))
        self.items.sort(key=lambda f: -f.hyp.mean)  # stable: earlier (better-total) first
        del self.items[self.k :]

    @property
    def full(self) -> bool:
        return len(self.items) >= self.k

    def settled(self, live: Sequence[Hypothesis]) -> bool:
        """Return True when the pool is full and beats every live draft by mean score."""
        if not self.full:
            return False
        worst = min(f.hyp.mean for f in self.items)
        return all(h.mean <= worst for h in live)


def next_hypotheses(
    live: Sequence[Hypothesis],
    candidates: torch.Tensor,
    step_scores: torch.Tensor,
    k: int,
    pool: DraftPool,
    eos_ids: frozenset[int],
    stop: StopCondition | None,
    evidence: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[tuple[int, Hypothesis]]:
    """Return up to k best (parent row, child) pairs; EOS/stop candidates go to ``pool``.

    ``candidates`` and ``step_scores`` are (rows, N). Pairs are visited by cumulative score
    (ties: lower row, then better candidate first); -inf pairs are never chosen.
    ``evidence`` holds the (rows, N) LM and n-gram log-probabilities kept per token.
    """
    rows, n = candidates.shape
    base = torch.tensor([h.score for h in live], dtype=torch.float64)[:, None]  # (rows, 1)
    totals = torch.nan_to_num(base + step_scores.double().cpu(), nan=-math.inf)  # (rows, N)
    order = torch.argsort(totals.reshape(-1), descending=True, stable=True).tolist()
    flat_total = totals.reshape(-1).tolist()
    flat_tok = candidates.reshape(-1).tolist()
    flat_step = step_scores.reshape(-1).tolist()
    flat_lm = flat_ng = flat_step
    if evidence is not None:
        flat_lm = evidence[0].reshape(-1).tolist()
        flat_ng = evidence[1].reshape(-1).tolist()
    chosen: list[tuple[int, Hypothesis]] = []
    for idx in order:
        if flat_total[idx] == -math.inf:
            break
        row, token, step = idx // n, flat_tok[idx], flat_step[idx]
        if token in eos_ids:
            pool.add(live[row].ended(step), "eos")
            continue
        child = live[row].extended(token, step, flat_lm[idx], flat_ng[idx])
        cut = stop(child.text.text) if stop is not None else None
        if cut is not None:
            pool.add(child, "stop", cut)
            continue
        chosen.append((row, child))
        if len(chosen) == k:
            break
    return chosen


def ranked_drafts(
    req: DecodeRequest,
    pool: DraftPool,
    live: Sequence[Hypothesis],
    live_finish: str,
) -> list[Draft]:
    """Return finished and live drafts merged by mean score, distinct texts, at most k."""
    items = list(pool.items) + [Finished(h, live_finish) for h in live]
    items.sort(key=lambda f: -f.hyp.mean)
    drafts: list[Draft] = []
    seen: set[str] = set()
    for item in items:
        full = item.hyp.text.text
        text = full if item.cut is None else full[: item.cut]
        if text in seen:
            continue
        seen.add(text)
        stats = constraint_stats(req.constraints, item.hyp.ids)
        stats["mean_score"] = item.hyp.mean
        drafts.append(
            Draft(
                text=text,
                token_ids=list(item.hyp.ids),
                score=item.hyp.score,
                finish=item.finish,
                stats=stats,
                mean_score=item.hyp.mean,
                token_logprobs=list(item.hyp.lm),
                token_ngram_logprobs=list(item.hyp.ngram) if req.ngram is not None else None,
            )
        )
        if len(drafts) == req.k:
            break
    return drafts


def ngram_contexts(prompt: Sequence[int], live: Sequence[Hypothesis], width: int) -> np.ndarray:
    """Return each draft's last ``width`` tokens of prompt + draft, left-padded (rows, width)."""
    out = np.full((len(live), width), MISSING, dtype=np.int64)
    if width == 0:
        return out
    for i, hyp in enumerate(live):
        tail = (list(prompt[-width:]) + list(hyp.ids))[-width:]
        out[i, width - len(tail) :] = tail
    return out


def timed_result(
    drafts: list[Draft],
    calls: int,
    prompt: list[int],
    steps: int,
    started: float,
    cancelled: bool,
    timer: StepTimer,
) -> DecodeResult:
    """Return the DecodeResult of a finished pass with its per-phase timings."""
    timings: dict[str, Any] = dict(timer.ms)
    timings["total_ms"] = (time.perf_counter() - started) * 1000.0
    return DecodeResult(
        drafts=drafts,
        forward_calls=calls,
        prompt_tokens=len(prompt),
        generated_tokens=steps,
        seconds=time.perf_counter() - started,
        cancelled=cancelled,
        timings=timings,
    )


class StepTimer:
    """Accumulates milliseconds per named phase."""

    def __init__(self, *names: str) -> None:
        self.ms: dict[str, float] = {name: 0.0 for name in names}

    def add(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.ms[name] = self.ms.get(name, 0.0) + (now - since) * 1000.0
        return now


# ----------------------------------------------------------------- decoder


def _candidate_scores(
    lm: LoadedModel,
    req: DecodeRequest,
    logits: torch.Tensor,
    live: Sequence[Hypothesis],
    prompt: Sequence[int],
    n_cand: int,
    timer: StepTimer,
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Return (candidate tokens (rows, N), step scores (rows, N), (LM, n-gram) log-probs)."""
    rows = len(live)
    scaled = torch.nan_to_num(logits / req.temperature, nan=-math.inf)  # (1, V)
    base_lp = torch.log_softmax(scaled, dim=-1)  # (1, V)
    if req.constraints:
        # per-draft constraints on the shared distribution
        started = time.perf_counter()
        generated = torch.tensor([h.ids for h in live], dtype=torch.long).reshape(rows, -1)
        constrained = apply_constraints(req.constraints, generated, scaled.expand(rows, -1))
        timer.add("constraint_ms", started)
        lp = torch.log_softmax(constrained, dim=-1)  # (rows, V)
        lm_lp, tokens = torch.topk(lp, n_cand, dim=-1)  # (rows, N)
    else:
        lm_lp, tokens = torch.topk(base_lp, n_cand, dim=-1)  # (1, N)
        lm_lp, tokens = lm_lp.expand(rows, -1), tokens.expand(rows, -1)  # (rows, N)
    started = time.perf_counter()
    a = req.ngram_weight if req.ngram is not None else 0.0
    if a > 0.0:
        contexts = ngram_contexts(prompt, live, req.ngram.context_length)  # (rows, L)
        ng = (
            torch.from_numpy(req.ngram.log_probs(contexts, tokens.cpu().numpy()))
            .float()
            .to(lm_lp.device)
        )  # (rows, N)
        scores = (1.0 - a) * lm_lp + a * ng
        timer.add("ngram_ms", started)
    else:
        scores = ng = lm_lp
    # a draft whose every candidate is vetoed/non-finite falls back to penalised LM scores
    finite = torch.isfinite(scores)  # (rows, N)
    dead = ~finite.any(dim=-1, keepdim=True)  # (rows, 1)
    if bool(dead.any()):
        fallback = (1.0 - a) * base_lp[0, tokens] - VETO_PENALTY  # (rows, N)
        fallback = torch.nan_to_num(fallback, nan=-VETO_PENALTY, neginf=-VETO_PENALTY)
        scores = torch.where(dead, fallback, scores)
    return tokens, scores, (lm_lp, ng)


@torch.no_grad()
def superposed_decode(lm: LoadedModel, req: DecodeRequest) -> DecodeResult:
    """Return k drafts computed with one forward call per generated token (see module doc)."""
    started = time.perf_counter()
    trace: SuperposedTrace | None = getattr(req, "trace", None)
    timer = StepTimer("forward_ms", "ngram_ms", "constraint_ms", "select_ms", "verify_ms")
    prompt = fit_prompt(lm, req.prompt_ids, req.max_new_tokens)
    n_cand = min(lm.vocab_size, max(req.candidates or 3 * req.k, req.k))
    embeddings = lm.model.get_input_embeddings()
    # 1. prefill the prompt once, with token ids
    t0 = time.perf_counter()
    logits, past = prefill(lm, req, prompt)  # (1, V), reusing the previous prompt's cache
    timer.add("forward_ms", t0)
    calls, steps = 1, 0
    if trace is not None:
        trace.cache_lengths.append(cache_length(past))
    live: list[Hypothesis] = [Hypothesis((), DraftText(lm.table))]  # one row: the prefill
    pool = DraftPool(req.k)
    cancelled = False
    while True:
        # 2. stop within one step when the request is cancelled
        if req.cancelled():
            cancelled = True
            break
        # 3. top-N candidates of the one distribution, scored per draft (LM + n-gram)
        t0 = time.perf_counter()
        tokens, scores, evidence = _candidate_scores(lm, req, logits, live, prompt, n_cand, timer)
        # 4. best k (draft, token) pairs live on; EOS / stop candidates are finished
        chosen = next_hypotheses(live, tokens, scores, req.k, pool, lm.eos_ids, req.stop, evidence)
        live = [child for _, child in chosen]
        if req.extend_while is not None:  # drafts no longer worth extending are finished
            use_ngram = req.ngram is not None
            worth = [req.extend_while(h.lm, h.ngram if use_ngram else None) for h in live]
            for h, keep in zip(live, worth, strict=True):
                if not keep:
                    pool.add(h, "confidence")
            live = [h for h, keep in zip(live, worth, strict=True) if keep]
        if req.on_step is not None:  # what the request predicts so far
            req.on_step([h.text.text for h in live] + [f.hyp.text.text for f in pool.items])
        timer.add("select_ms", t0)  # includes the constraint and n-gram time
        steps += 1
        if trace is not None:
            trace.drafts.append([h.ids for h in live])
            trace.scores.append([h.score for h in live])
        if not live or pool.settled(live) or steps >= req.max_new_tokens:
            break
        if req.cancelled():
            cancelled = True
            break
        # 5. superpose: weights = softmax of cumulative scores, one mixed embedding
        #    (a token shared by several drafts is summed once per draft: weights add up)
        weights = torch.softmax(torch.tensor([h.score for h in live], dtype=torch.float64), 0)
        newest = torch.tensor([h.ids[-1] for h in live], dtype=torch.long, device=lm.device)
        emb = embeddings(newest)  # (rows, d)
        mixed = (weights.to(emb.dtype).to(emb.device)[:, None] * emb).sum(0)  # (d,)
        if trace is not None:
            trace.weights.append(weights.tolist())
            trace.tokens.append(newest.tolist())
        # 6. one forward pass; the KV cache grows by one position
        t0 = time.perf_counter()
        logits, past = forward(lm, past, inputs_embeds=mixed.view(1, 1, -1))  # (1, V)
        timer.add("forward_ms", t0)
        calls += 1
        if trace is not None:
            trace.cache_lengths.append(cache_length(past))
    drafts = ranked_drafts(req, pool, live, "cancelled" if cancelled else "length")
    # 7. optional exact re-rank in one batched pass over [prompt + draft]
    verifying = req.verify and not cancelled and bool(drafts)
    if not verifying:  # (verification turns the cache into one row per draft)
        keep_prompt_cache(req, prompt, past)
    if verifying:
        t0 = time.perf_counter()
        cache = prompt_cache(past, len(prompt) - 1)
        drafts = verified_drafts(lm, prompt, drafts, past=cache)
        timer.add("verify_ms", t0)
    return timed_result(drafts, calls, prompt, steps, started, cancelled, timer)
