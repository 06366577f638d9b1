"""Superposed decoding batched across users: one forward call per step for every request.

Shen et al. 2024, "Superposed Decoding: Multiple Generations from a Single
Autoregressive Inference Pass" (NeurIPS 2024): the k drafts of one request cost ONE
sequence, because every step feeds one superposed input embedding. A model service
serving N users therefore runs a batch of N rows, where any decoder that samples k
times per user needs N·k. This module is the step loop such a service runs (no HTTP, no
threads of its own): requests are ordinary :class:`~models.decoding.DecodeRequest`
objects, the contract every decoder takes, and each one is one row of a padded KV cache.

One :meth:`BatchedSuperposed.step`:

1. requests cancelled since the last step leave (their rows are freed);
2. requests that arrived are prefilled, one forward each (with the request's prompt
   cache, as in :func:`models.superposed.superposed_decode`);
3. every active request's candidates are scored at once: its constraints (monitor,
   healing, repetition penalty: per-draft decisions) shape its rows of the logits, then
   ONE log-softmax and top-N over all users' rows, ONE n-gram look-up per table for all
   users' (draft, candidate) pairs, the interpolation per group of requests;
4. each request keeps its best k (draft, token) pairs (:func:`models.superposed.
   next_hypotheses`, the reference code itself); finished requests leave, verified as in
   the reference (one batched exact re-rank each);
5. the continuing requests' superposed embeddings (softmax of cumulative scores, one
   embedding look-up for all users' newest tokens, one weighted ``index_add``) go through
   ONE forward call with per-row positions and an attention mask over the padded cache.

Requests join and leave between steps. Batch rows are padded on the right: every step
appends one column for all rows, a row's own tokens are the columns its mask marks, and
its position ids count only those (GPT-2's learned positions need them exact). When the
cache is much wider than the longest row, the rows are compacted (their real columns
gathered to the left). Host-side work is tensor operations over the whole batch except
where a decision is per draft by nature (constraint decisions, hypothesis bookkeeping).

The same algorithm as :func:`models.superposed.superposed_decode`: one request alone in
the batch gives its drafts token for token; with other rows in the batch the model's
matrix products run at another shape and the logits differ by float rounding (about
1e-5 on the shipped model), measured in ``tests/unit/models/test_batched_superposed.py``.

For comparison (benchmarks) a request may instead be decoded by k-row nucleus sampling
(``mode="sampling"``, :func:`models.baselines.sampling_decode`'s algorithm): it then takes
k rows of the same batch.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from models.baselines import nucleus_probs
from models.decoding import (
    DecodeRequest,
    DecodeResult,
    DraftText,
    apply_constraints,
    fit_prompt,
    keep_prompt_cache,
    prefill,
)
from models.hf_compat import cache_kwarg, cache_length, crop_cache, output_cache
from models.loader import LoadedModel
from models.ngram import NgramModel
from models.superposed import (
    VETO_PENALTY,
    DraftPool,
    Hypothesis,
    StepTimer,
    next_hypotheses,
    ngram_contexts,
    ranked_drafts,
)
from models.verify import verified_drafts

SUPERPOSED, SAMPLING = "superposed", "sampling"
MODES = (SUPERPOSED, SAMPLING)
COMPACT_SLACK = 64  # compact the cache once it is this many columns wider than needed


class BatchingError(RuntimeError):
    """The model's KV cache cannot be batched with per-row padding."""


@dataclass(eq=False)
class Ticket:
    """One request in the batch: its decoding state and, once done, its result."""

    id: int
    req: DecodeRequest
    mode: str
    submitted: float
    prompt: list[int] = field(default_factory=list)
    n_cand: int = 0
    live: list[Hypothesis] = field(default_factory=list)
    pool: DraftPool | None = None
    steps: int = 0
    calls: int = 0
    logits: torch.Tensor | None = None  # (rows, V) next-token logits of the request's rows
    prefix_cache: Any = None  # the single-row prompt cache (verification, prompt-cache reuse)
    row0: int = -1  # first batch row (its rows are row0 .. row0 + rows - 1); -1: not in batch
    rows: int = 0
    generator: torch.Generator | None = None
    timer: StepTimer = field(default_factory=lambda: StepTimer("forward_ms", "select_ms"))
    batch_rows: int = 0  # sum of the batch sizes of the forwards this request was in
    admitted: float | None = None
    result: DecodeResult | None = None
    error: str | None = None  # why the request failed alone (its constraint or stop rule raised)

    @property
    def done(self) -> bool:
        return self.result is not None

    def snapshot(self) -> list[str]:
        """Return the texts of the live drafts, best first (for streaming progress)."""
        return [h.text.text for h in self.live]


class BatchedSuperposed:
    """The step loop: ``submit`` requests, call ``step`` until they are ``done``."""

    def __init__(self, lm: LoadedModel, max_rows: int = 64, compact_slack: int = COMPACT_SLACK):
        if max_rows < 1:
            raise ValueError("max_rows must be >= 1")
        self.lm = lm
        self.max_rows = max_rows
        self.compact_slack = compact_slack
        self.embeddings = lm.model.get_input_embeddings()
        self._pending: deque[Ticket] = deque()
        self._lock = threading.Lock()
        self._next_id = 0
        self.active: list[Ticket] = []  # in batch-row order
        self.cache: Any = None  # KV cache of the batch (rows, heads, W, head_dim) per layer
        self.mask = torch.zeros((0, 0), dtype=torch.long)  # (rows, W) 1 where a row has a token
        self.positions = torch.zeros(0, dtype=torch.long)  # (rows,) next position of each row
        self.stats = {"steps": 0, "forward_calls": 0, "batched_rows": 0, "prefill_calls": 0}

    # ------------------------------------------------------------ requests

    def submit(self, req: DecodeRequest, mode: str = SUPERPOSED) -> Ticket:
        """Queue ``req``; it joins the batch at the next step (thread-safe)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        with self._lock:
            self._next_id += 1
            ticket = Ticket(self._next_id, req, mode, time.perf_counter())
            self._pending.append(ticket)
        return ticket

    @property
    def idle(self) -> bool:
        """True when no request is active or waiting."""
        with self._lock:
            return not self._pending and not self.active

    @property
    def rows(self) -> int:
        """Rows of the batch (one per superposed request, up to k per sampling request)."""
        return int(self.mask.shape[0])

    # ------------------------------------------------------------ the step

    @torch.no_grad()
    def step(self) -> list[Ticket]:
        """Advance every request by one token; return the requests finished in this step."""
        finished: list[Ticket] = []
        # 1. cancelled requests leave; their rows are freed below
        for t in self.active:
            if t.req.cancelled():
                self._finish(t, cancelled=True)
                finished.append(t)
        # 2. arrivals are prefilled (one forward each, through the request's prompt cache)
        arrivals, dropped = self._admit()
        finished.extend(dropped)
        scoring = [t for t in self.active + arrivals if not t.done]
        choices: dict[Ticket, list[tuple[int, Hypothesis]]] = {}
        if scoring:
            self.stats["steps"] += 1
            # 3. every request's candidates, scored in batched tensor operations (a request
            #    whose own constraint raises fails alone)
            t0 = time.perf_counter()
            blocks: list[torch.Tensor] = []
            for t in list(scoring):
                try:
                    blocks.append(self._constrained(t))
                except Exception as exc:  # noqa: BLE001 - one request never fails the batch
                    self._fail(t, exc)
                    finished.append(t)
                    scoring.remove(t)
            scored = self._score(scoring, blocks) if scoring else []
            # 4. best k (draft, token) pairs per request; finished requests leave
            for t, (tokens, scores, evidence) in zip(scoring, scored, strict=True):
                try:
                    chosen = self._select(t, tokens, scores, evidence)
                except Exception as exc:  # noqa: BLE001 - its stop rule or n-gram table
                    self._fail(t, exc)
                    finished.append(t)
                    continue
                over = self._over(t)
                if over is None:
                    choices[t] = chosen
                else:
                    self._finish(t, cancelled=over == "cancelled")
                    finished.append(t)
            elapsed = (time.perf_counter() - t0) * 1000.0
            for t in scoring:
                t.timer.ms["select_ms"] += elapsed
        # 5. the continuing requests' inputs, one forward call for the whole batch
        self._feed([t for t in scoring if t in choices], choices)
        return finished

    # ------------------------------------------------------------ 2. arrivals

    def _admit(self) -> tuple[list[Ticket], list[Ticket]]:
        """Take waiting requests while rows are free and prefill them; return (admitted,
        cancelled while waiting)."""
        admitted: list[Ticket] = []
        dropped: list[Ticket] = []
        used = sum(self._rows_needed(t) for t in self.active if not t.done)
        while True:
            with self._lock:
                if not self._pending:
                    break
                t = self._pending[0]
                need = self._rows_needed(t)
                if used and used + need > self.max_rows and not t.req.cancelled():
                    break
                self._pending.popleft()
            if t.req.cancelled():  # never prefilled: it costs nothing
                self._finish(t, cancelled=True)
                dropped.append(t)
                continue
            used += need
            self._prefill(t)
            admitted.append(t)
        return admitted, dropped

    @staticmethod
    def _rows_needed(t: Ticket) -> int:
        return t.req.k if t.mode == SAMPLING else 1

    def _prefill(self, t: Ticket) -> None:
        """Prefill ``t``'s prompt (as the reference decoder does) and set up its drafts."""
        lm, req = self.lm, t.req
        t.admitted = time.perf_counter()
        t.prompt = fit_prompt(lm, req.prompt_ids, req.max_new_tokens)
        t.n_cand = min(lm.vocab_size, max(req.candidates or 3 * req.k, req.k))
        t0 = time.perf_counter()
        t.logits, t.prefix_cache = prefill(lm, req, t.prompt)  # (1, V)
        t.timer.add("forward_ms", t0)
        t.calls, t.steps = 1, 0
        self.stats["prefill_calls"] += 1
        t.pool = DraftPool(req.k)
        root = Hypothesis((), DraftText(lm.table))
        if t.mode == SAMPLING:
            t.generator = torch.Generator()
            if req.seed is None:
                t.generator.seed()
            else:
                t.generator.manual_seed(req.seed)
            t.live = [root] * req.k
        else:
            t.live = [root]

    # ------------------------------------------------------------ 3. scoring

    def _constrained(self, t: Ticket) -> torch.Tensor:
        """Return ``t``'s rows of the logits after temperature and its constraints (per-draft
        decisions): (rows, V), or (1, V) shared by its drafts when it has no constraint."""
        rows = len(t.live)
        scaled = torch.nan_to_num(t.logits / t.req.temperature, nan=-math.inf)  # (1|rows, V)
        if t.req.constraints or t.mode == SAMPLING:
            generated = torch.tensor([h.ids for h in t.live], dtype=torch.long)
            generated = generated.reshape(rows, -1)  # (rows, t)
            scaled = apply_constraints(t.req.constraints, generated, scaled.expand(rows, -1))
        return scaled

    def _score(
        self, tickets: Sequence[Ticket], blocks: Sequence[torch.Tensor]
    ) -> list[tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]]:
        """Return each request's (candidates (rows, N), step scores (rows, N), evidence)."""
        # one log-softmax over every user's rows
        lp_all = torch.log_softmax(torch.cat(blocks), dim=-1)  # (R, V)
        starts = np.cumsum([0] + [b.shape[0] for b in blocks])
        out: list[Any] = [None] * len(tickets)
        sampling = [i for i, t in enumerate(tickets) if t.mode == SAMPLING]
        for i in sampling:  # k-row nucleus sampling: the request's rows are its distribution
            out[i] = (None, lp_all[starts[i] : starts[i + 1]], None)
        superposed = [i for i, t in enumerate(tickets) if t.mode == SUPERPOSED]
        # one top-N per candidate count (requests of the same k share it)
        picked: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for n in sorted({tickets[i].n_cand for i in superposed}):
            group = [i for i in superposed if tickets[i].n_cand == n]
            index = torch.tensor(
                [r for i in group for r in range(starts[i], starts[i + 1])], dtype=torch.long
            )
            values, tokens = torch.topk(lp_all[index], n, dim=-1)  # (R_n, N)
            at = 0
            for i in group:
                rows = int(starts[i + 1] - starts[i])
                lm_lp, tok = values[at : at + rows], tokens[at : at + rows]
                at += rows
                live = len(tickets[i].live)
                picked[i] = (lm_lp.expand(live, -1), tok.expand(live, -1))  # (rows, N)
        # one n-gram look-up per table for every user's (draft, candidate) pairs
        ngram = self._ngram_scores(tickets, superposed, picked)
        for i in superposed:
            t, (lm_lp, tokens) = tickets[i], picked[i]
            a = t.req.ngram_weight if t.req.ngram is not None else 0.0
            if a > 0.0:
                ng = torch.from_numpy(ngram[i]).float().to(lm_lp.device)  # (rows, N)
                scores = (1.0 - a) * lm_lp + a * ng
            else:
                scores = ng = lm_lp
            # a draft whose every candidate is vetoed falls back to penalised LM scores
            finite = torch.isfinite(scores)  # (rows, N)
            dead = ~finite.any(dim=-1, keepdim=True)  # (rows, 1)
            if bool(dead.any()):
                scaled = torch.nan_to_num(t.logits / t.req.temperature, nan=-math.inf)
                base_lp = torch.log_softmax(scaled, dim=-1)  # (1, V)
                fallback = (1.0 - a) * base_lp[0, tokens] - VETO_PENALTY  # (rows, N)
                fallback = torch.nan_to_num(fallback, nan=-VETO_PENALTY, neginf=-VETO_PENALTY)
                scores = torch.where(dead, fallback, scores)
            out[i] = (tokens, scores, (lm_lp, ng))
        return out

    def _ngram_scores(
        self,
        tickets: Sequence[Ticket],
        indices: Sequence[int],
        picked: dict[int, tuple[torch.Tensor, torch.Tensor]],
    ) -> dict[int, np.ndarray]:
        """Return each request's n-gram log-probabilities (rows, N), batched per table."""
        wanted = [
            i for i in indices if tickets[i].req.ngram is not None and tickets[i].req.ngram_weight
        ]
        items = []
        for i in wanted:
            t = tickets[i]
            contexts = ngram_contexts(t.prompt, t.live, t.req.ngram.context_length)  # (rows, L)
            items.append((t.req.ngram, contexts, picked[i][1].cpu().numpy()))
        return dict(zip(wanted, batched_ngram_log_probs(items), strict=True))

    # ------------------------------------------------------------ 4. selection

    def _select(
        self,
        t: Ticket,
        tokens: torch.Tensor | None,
        scores: torch.Tensor,
        evidence: Any,
    ) -> list[tuple[int, Hypothesis]]:
        """Keep ``t``'s next drafts (the reference decoders' own selection); return them."""
        req, lm = t.req, self.lm
        assert t.pool is not None
        if t.mode == SAMPLING:
            return self._sample(t, scores)
        assert tokens is not None
        chosen = next_hypotheses(
            t.live, tokens, scores, req.k, t.pool, lm.eos_ids, req.stop, evidence
        )
        t.live = [child for _, child in chosen]
        if req.extend_while is not None:  # drafts no longer worth extending are finished
            use_ngram = req.ngram is not None
            worth = [req.extend_while(h.lm, h.ngram if use_ngram else None) for h in t.live]
            for h, keep in zip(t.live, worth, strict=True):
                if not keep:
                    t.pool.add(h, "confidence")
            kept = [(row, h) for (row, h), keep in zip(chosen, worth, strict=True) if keep]
            chosen, t.live = kept, [h for _, h in kept]
        on_step = getattr(req, "on_step", None)
        if on_step is not None:  # what the request predicts so far (as the reference reports)
            on_step([h.text.text for h in t.live] + [f.hyp.text.text for f in t.pool.items])
        t.steps += 1
        return chosen

    def _sample(self, t: Ticket, logp: torch.Tensor) -> list[tuple[int, Hypothesis]]:
        """k-row nucleus sampling (models.baselines.sampling_decode's step)."""
        req, lm = t.req, self.lm
        assert t.pool is not None
        probs = nucleus_probs(logp, req.top_p)  # (rows, V)
        tokens = torch.multinomial(probs.cpu(), 1, generator=t.generator)[:, 0]  # (rows,)
        chosen: list[tuple[int, Hypothesis]] = []
        for row, (hyp, tok) in enumerate(zip(t.live, tokens.tolist(), strict=True)):
            step = float(logp[row, tok])
            if tok in lm.eos_ids:
                t.pool.add(hyp.ended(step), "eos")
                continue
            child = hyp.extended(tok, step)
            cut = req.stop(child.text.text) if req.stop is not None else None
            if cut is not None:
                t.pool.add(child, "stop", cut)
                continue
            chosen.append((row, child))
        t.live = [child for _, child in chosen]
        t.steps += 1
        return chosen

    def _over(self, t: Ticket) -> str | None:
        """Why ``t`` ends after this step ("done", "cancelled"), or None: the reference
        decoders' rules in their order."""
        assert t.pool is not None
        if not t.live or t.steps >= t.req.max_new_tokens:
            return "done"
        if t.mode == SUPERPOSED and t.pool.settled(t.live):
            return "done"
        return "cancelled" if t.req.cancelled() else None

    def _fail(self, t: Ticket, exc: Exception) -> None:
        """End ``t`` alone with an error (its row is freed); the others decode on."""
        t.error = f"{type(exc).__name__}: {exc}"
        now = time.perf_counter()
        t.result = DecodeResult([], t.calls, len(t.prompt), t.steps, now - t.submitted, True)
        t.logits, t.prefix_cache = None, None

    def _finish(self, t: Ticket, cancelled: bool) -> None:
        """Rank (and verify) ``t``'s drafts, as the reference decoder does; set its result."""
        lm, req = self.lm, t.req
        if t.pool is None:  # cancelled before it was prefilled
            t.pool, t.prompt = DraftPool(req.k), fit_prompt(lm, req.prompt_ids, req.max_new_tokens)
        drafts = ranked_drafts(req, t.pool, t.live, "cancelled" if cancelled else "length")
        verifying = t.mode == SUPERPOSED and req.verify and not cancelled and bool(drafts)
        if t.prefix_cache is not None and not verifying:
            keep_prompt_cache(req, t.prompt, t.prefix_cache)
        timings: dict[str, Any] = dict(t.timer.ms)
        if verifying:
            t0 = time.perf_counter()
            cache = crop_cache(t.prefix_cache, len(t.prompt) - 1)
            drafts = verified_drafts(lm, t.prompt, drafts, past=cache)
            timings["verify_ms"] = (time.perf_counter() - t0) * 1000.0
        now = time.perf_counter()
        admitted = t.admitted if t.admitted is not None else now
        timings["queue_ms"] = (admitted - t.submitted) * 1000.0
        timings["total_ms"] = (now - t.submitted) * 1000.0
        timings["mean_batch_rows"] = t.batch_rows / max(1, t.calls - 1)
        t.result = DecodeResult(
            drafts=drafts,
            forward_calls=t.calls,
            prompt_tokens=len(t.prompt),
            generated_tokens=t.steps,
            seconds=now - t.submitted,
            cancelled=cancelled,
            timings=timings,
        )
        t.logits, t.prefix_cache = None, None

    # ------------------------------------------------------------ 5. the batched forward

    def _feed(
        self, continuing: list[Ticket], choices: dict[Ticket, list[tuple[int, Hypothesis]]]
    ) -> None:
        """Lay out the continuing requests' rows and run one forward for all of them."""
        # the batch rows: kept rows of requests already in it, then the arrivals' prompt rows
        keep: list[int] = []
        arrivals: list[tuple[Ticket, int]] = []
        for t in continuing:
            parents = [row for row, _ in choices[t]] if t.mode == SAMPLING else [0]
            if t.row0 >= 0:
                keep.extend(t.row0 + p for p in parents)
            else:
                arrivals.append((t, len(parents)))
        self._layout(keep, arrivals)
        row = 0
        for t in continuing:
            t.row0, t.rows = row, len(choices[t]) if t.mode == SAMPLING else 1
            row += t.rows
        self.active = continuing
        if not continuing:
            return
        # inputs: superposed requests one mixed embedding, sampling requests one per draft
        newest = torch.tensor(
            [h.ids[-1] for t in continuing for h in t.live], dtype=torch.long, device=self.lm.device
        )  # (D,) every live draft's newest token
        emb = self.embeddings(newest)  # (D, d) one look-up for all users
        weights, owner = [], []
        for t in continuing:
            if t.mode == SAMPLING:
                weights.append(torch.ones(len(t.live), dtype=torch.float64))
                owner.extend(range(t.row0, t.row0 + t.rows))
            else:  # weights = softmax of cumulative scores (a shared token adds up)
                scores = torch.tensor([h.score for h in t.live], dtype=torch.float64)
                weights.append(torch.softmax(scores, 0))
                owner.extend([t.row0] * len(t.live))
        w = torch.cat(weights).to(emb.dtype).to(emb.device)  # (D,)
        index = torch.tensor(owner, dtype=torch.long, device=emb.device)  # (D,)
        mixed = torch.zeros(self.rows, emb.shape[-1], dtype=emb.dtype, device=emb.device)
        mixed.index_add_(0, index, w[:, None] * emb)  # (B, d)
        # one forward: per-row positions, the padded cache masked per row
        t0 = time.perf_counter()
        logits = self._forward(mixed[:, None, :])  # (B, V)
        elapsed = time.perf_counter() - t0
        self.stats["forward_calls"] += 1
        self.stats["batched_rows"] += self.rows
        for t in continuing:
            t.logits = logits[t.row0 : t.row0 + t.rows]  # (rows, V)
            t.calls += 1
            t.batch_rows += self.rows
            t.timer.ms["forward_ms"] += elapsed * 1000.0

    def _forward(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        """Run the batch one position further; return last-position logits (B, V) float32."""
        model, device = self.lm.model, self.lm.device
        rows = inputs_embeds.shape[0]
        attention = torch.cat([self.mask, torch.ones(rows, 1, dtype=torch.long)], dim=1)
        kwargs = {
            "inputs_embeds": inputs_embeds,
            "attention_mask": attention.to(device),  # (B, W + 1)
            "position_ids": self.positions[:, None].to(device),  # (B, 1)
            "use_cache": True,
            cache_kwarg(model): self.cache,
        }
        outputs = model(**kwargs)
        self.cache = output_cache(outputs)
        self.mask = attention
        self.positions = self.positions + 1
        return outputs.logits[:, -1, :].float()  # (B, V)

    # ------------------------------------------------------------ the padded KV cache

    def _layout(self, keep: list[int], arrivals: list[tuple[Ticket, int]]) -> None:
        """Make the batch hold old rows ``keep`` (in order), then each arrival's prompt rows."""
        old_rows = self.rows
        if keep == list(range(old_rows)) and not arrivals:
            return  # the same rows in the same order: nothing moves
        layers = _kv(self.cache) if self.cache is not None and keep else []
        index = torch.tensor(keep, dtype=torch.long)
        mask = self.mask[index] if keep else torch.zeros((0, 0), dtype=torch.long)
        positions = self.positions[index] if keep else torch.zeros(0, dtype=torch.long)
        parts = [[(k[index], v[index]) for k, v in layers]] if keep else []
        masks, widths = [mask], [mask.shape[1]]
        position_parts = [positions]
        for t, copies in arrivals:
            prompt_kv = [(k.expand(copies, -1, -1, -1), v.expand(copies, -1, -1, -1))
                         for k, v in _kv(t.prefix_cache)]  # fmt: skip
            length = cache_length(t.prefix_cache)
            parts.append(prompt_kv)
            masks.append(torch.ones(copies, length, dtype=torch.long))
            widths.append(length)
            position_parts.append(torch.full((copies,), length, dtype=torch.long))
        width = max(widths)
        # right-pad every part to the batch width; padded columns are masked
        padded = [[(_pad(k, width), _pad(v, width)) for k, v in part] for part in parts]
        self.mask = torch.cat([torch.nn.functional.pad(m, (0, width - m.shape[1])) for m in masks])
        self.positions = torch.cat(position_parts)
        if not padded:
            self.cache = None
            return
        n_layers = len(padded[0])
        kvs = [
            (
                torch.cat([part[i][0] for part in padded]),
                torch.cat([part[i][1] for part in padded]),
            )
            for i in range(n_layers)
        ]
        kvs = self._compacted(kvs)
        self.cache = _new_cache(self.lm.model, kvs)

    def _compacted(self, kvs: list[tuple[torch.Tensor, torch.Tensor]]) -> list[Any]:
        """Gather each row's real columns to the left when the cache is much wider than needed."""
        counts = self.mask.sum(dim=1)  # (B,)
        need = int(counts.max()) if counts.numel() else 0
        if self.mask.shape[1] - need < self.compact_slack:
            return kvs
        # stable sort: a row's real columns first, in their order
        order = torch.argsort(-self.mask, dim=1, stable=True)[:, :need]  # (B, need)
        self.mask = (torch.arange(need)[None, :] < counts[:, None]).long()  # (B, need)
        out = []
        for k, v in kvs:
            idx = order[:, None, :, None].expand(-1, k.shape[1], -1, k.shape[3]).to(k.device)
            out.append((k.gather(2, idx), v.gather(2, idx)))  # (B, heads, need, head_dim)
        return out


# ------------------------------------------------------------------ KV cache helpers


def _kv(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Return the (keys, values) of every layer (rows, heads, W, head_dim) of a dynamic cache."""
    layers = getattr(cache, "layers", None)
    if layers is None:
        raise BatchingError(f"cannot batch a KV cache of type {type(cache).__name__}")
    out = []
    for layer in layers:
        if getattr(layer, "is_sliding", False):
            raise BatchingError("sliding-window KV caches cannot be batched with padding")
        out.append((layer.keys, layer.values))
    return out


def _pad(x: torch.Tensor, width: int) -> torch.Tensor:
    """Right-pad the position axis of (rows, heads, W, head_dim) to ``width`` with zeros."""
    return torch.nn.functional.pad(x, (0, 0, 0, width - x.shape[2])) if x.shape[2] < width else x


def _new_cache(model: Any, kvs: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    """Return a transformers dynamic cache holding ``kvs``."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    for i, (k, v) in enumerate(kvs):
        cache.update(k.contiguous(), v.contiguous(), i)
    return cache


# ------------------------------------------------------------------ n-grams for many users


def batched_ngram_log_probs(
    items: Sequence[tuple[Any, np.ndarray, np.ndarray]],
) -> list[np.ndarray]:
    """Return ``ngram.log_probs(contexts, candidates)`` of every ``(ngram, contexts,
    candidates)`` item, with ONE look-up per table for all items sharing it.

    :class:`~models.ngram.NgramModel` mixtures sharing a background table (every user of a
    model service) share its look-up; their workspace tables are looked up once per
    workspace. The mixture is the one :meth:`NgramModel.log_probs` computes, element for
    element (the look-ups are per (row, candidate), so stacking rows changes nothing).
    Other n-gram objects are asked one by one.
    """
    out: list[np.ndarray | None] = [None] * len(items)
    mixtures: dict[int, list[int]] = {}
    for i, (ngram, _, _) in enumerate(items):
        if isinstance(ngram, NgramModel) and ngram.background is not None:
            mixtures.setdefault(id(ngram.background), []).append(i)
        else:
            out[i] = ngram.log_probs(items[i][1], items[i][2])
    for group in mixtures.values():
        width = max(items[i][2].shape[1] for i in group)
        # 1. the stacked rows, candidates right-padded to one width (pads are sliced off)
        spans, contexts, candidates = [], [], []
        for i in group:
            _, ctx, cand = items[i]
            spans.append(cand.shape)
            contexts.append(ctx)
            candidates.append(np.pad(cand, ((0, 0), (0, width - cand.shape[1]))))
        ctx_all = np.concatenate(contexts)  # (R, L)
        cand_all = np.concatenate(candidates)  # (R, N)
        # 2. one background look-up for every row
        lp = items[group[0]][0].background.log_probs(ctx_all, cand_all)  # (R, N)
        # 3. each workspace once, over its users' rows, mixed as NgramModel.log_probs mixes
        row_of = np.cumsum([0] + [s[0] for s in spans])
        by_workspace: dict[int, list[int]] = {}
        for j, i in enumerate(group):
            ws = items[i][0].workspace
            if ws is not None and len(ws) > 0:
                by_workspace.setdefault(id(ws), []).append(j)
        for members in by_workspace.values():
            model = items[group[members[0]]][0]
            rows = np.concatenate([np.arange(row_of[j], row_of[j + 1]) for j in members])
            lp_ws, support = model.workspace.log_probs_with_support(ctx_all[rows], cand_all[rows])
            lam = model.max_workspace_weight * support / (support + model.workspace_strength)
            with np.errstate(divide="ignore"):
                log_lam = np.log(lam)[:, None]
                log_rest = np.log1p(-lam)[:, None]
            lp[rows] = np.logaddexp(log_rest + lp[rows], log_lam + lp_ws)
        for j, i in enumerate(group):
            out[i] = lp[row_of[j] : row_of[j + 1], : spans[j][1]]
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]
