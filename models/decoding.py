"""Decoding contracts shared by every decoder, and the greedy decoder.

Every decoder (greedy here; superposed, beam and sampling in their own modules)
takes a :class:`DecodeRequest` and returns a :class:`DecodeResult`. Constraints
(monitors, token healing, repetition penalty) are :class:`LogitsConstraint`
objects in the style of transformers' ``LogitsProcessor``: one call
``(input_ids, scores) -> scores`` that returns a new tensor and never mutates
its input. Here ``input_ids`` holds only the *generated* tokens of each row
(shape ``(rows, t)``, possibly ``t == 0``); a constraint is built per request and
knows the prompt text itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from models.hf_compat import cache_length as cache_length  # re-exported for the decoders
from models.hf_compat import model_forward
from models.loader import DEFAULT_NGRAM_WEIGHT, LoadedModel


@runtime_checkable
class LogitsConstraint(Protocol):
    """``(generated_ids (rows, t), scores (rows, V)) -> new scores (rows, V)``."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class ReportingConstraint(LogitsConstraint, Protocol):
    """A constraint that can say what it did along one draft's path."""

    name: str

    def stats(self, draft_ids: tuple[int, ...]) -> dict[str, Any]: ...


# (draft text so far) -> index at which the draft ends, or None to go on
StopCondition = Callable[[str], "int | None"]


@dataclass
class DecodeRequest:
    """What to generate: prompt ids, how many drafts, limits, constraints, stop rules."""

    prompt_ids: list[int]
    max_new_tokens: int = 48
    k: int = 1
    constraints: Sequence[LogitsConstraint] = ()
    stop: StopCondition | None = None
    cancel: threading.Event | None = None
    temperature: float = 1.0
    top_p: float = 0.95
    seed: int | None = None
    ngram: Any = None  # models.ngram.NgramModel or None
    ngram_weight: float = DEFAULT_NGRAM_WEIGHT  # the model's: LoadedModel.ngram_weights
    verify: bool = True
    candidates: int | None = None  # superposed: top-N per step (default 3k)
    # (per-token LM log-probs, n-gram log-probs or None) -> False when a draft is not worth
    # extending (e.g. its confidence can no longer grow what is shown): it is finished
    extend_while: Callable[[Sequence[float], Sequence[float] | None], bool] | None = None
    # models.prompt_cache.PromptCache and the key (document) of this prompt: reuse the KV
    # cache of the key's previous prompt for the prefill, keep this one for the next
    prompt_cache: Any = None
    cache_key: str | None = None
    # called after every step with the texts of the drafts so far (live and finished):
    # what a running request predicts, for a scheduler deciding whether to keep it
    on_step: Callable[[list[str]], None] | None = None

    def __post_init__(self) -> None:
        if not self.prompt_ids:
            raise ValueError("prompt_ids must not be empty")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if self.k < 1:
            raise ValueError("k must be >= 1")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0")

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


@dataclass
class Draft:
    """One completion: its text (after stop rules), tokens, score and statistics."""

    text: str
    token_ids: list[int]
    score: float
    finish: str  # "eos" | "stop" | "length" | "cancelled" | "confidence"
    logprob: float | None = None  # exact model log-probability (verification)
    stats: dict[str, Any] = field(default_factory=dict)
    # the decoder's own ranking score: mean step score per token (None: score / tokens)
    mean_score: float | None = None
    # per kept token: the model's log-probability of it under the distribution it was
    # chosen from (after constraints), and the n-gram table's (None without n-grams)
    token_logprobs: list[float] = field(default_factory=list)
    token_ngram_logprobs: list[float] | None = None

    @property
    def ranking_score(self) -> float:
        """Mean log-probability per token as ranked: exact when verified, else the decoder's."""
        if self.logprob is not None:
            return self.logprob / max(1, len(self.token_ids) + (self.finish == "eos"))
        if self.mean_score is not None:
            return self.mean_score
        return self.score / max(1, len(self.token_ids))


@dataclass
class DecodeResult:
    """Drafts in rank order plus counters for tests, status and benchmarks."""

    drafts: list[Draft]
    forward_calls: int
    prompt_tokens: int
    generated_tokens: int
    seconds: float
    cancelled: bool = False
    timings: dict[str, float] = field(default_factory=dict)


Decoder = Callable[[LoadedModel, DecodeRequest], DecodeResult]


# ------------------------------------------------------------------ helpers


def apply_constraints(
    constraints: Sequence[LogitsConstraint], input_ids: torch.Tensor, scores: torch.Tensor
) -> torch.Tensor:
    """Return ``scores`` after every constraint; a row left all -inf is restored."""
    out = scores
    for constraint in constraints:
        out = constraint(input_ids, out)
    if out is scores:
        return scores
    dead = torch.isneginf(out).all(dim=-1) | torch.isnan(out).any(dim=-1)  # (rows,)
    if bool(dead.any()):
        out = torch.where(dead[:, None], scores, out)
    return out


def constraint_stats(
    constraints: Sequence[LogitsConstraint], draft_ids: tuple[int, ...]
) -> dict[str, Any]:
    """Return the merged per-draft statistics of the reporting constraints."""
    stats: dict[str, Any] = {}
    for constraint in constraints:
        if isinstance(constraint, ReportingConstraint):
            stats.update(constraint.stats(draft_ids))
    return stats


def fit_prompt(lm: LoadedModel, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
    """Return the prompt left-trimmed so prompt + generation fits the context."""
    room = max(1, lm.context_length - max_new_tokens)
    return prompt_ids[-room:]


def forward(
    lm: LoadedModel,
    past: Any,
    input_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
) -> tuple[torch.Tensor, Any]:
    """Run one forward pass; return (last-position logits (rows, V) float32, cache).

    The cache keyword and output field are spelled by :mod:`models.hf_compat`.
    """
    logits, cache = model_forward(
        lm.model,
        input_ids=None if input_ids is None else input_ids.to(lm.device),
        inputs_embeds=inputs_embeds,
        cache=past,
    )
    return logits[:, -1, :].float(), cache  # (rows, V)


def prefill(lm: LoadedModel, req: DecodeRequest, prompt: list[int]) -> tuple[torch.Tensor, Any]:
    """Return (next-token logits (1, V), cache) of ``prompt``, through the request's
    prompt cache when it has one."""
    if req.prompt_cache is not None and req.cache_key is not None:
        done = req.prompt_cache.prefill(req.cache_key, prompt)
        return done.logits, done.cache
    return forward(lm, None, input_ids=torch.tensor([prompt]))


def keep_prompt_cache(req: DecodeRequest, prompt: list[int], past: Any) -> None:
    """Hand the cache (holding ``prompt`` first) back to the request's prompt cache."""
    if req.prompt_cache is not None and req.cache_key is not None:
        req.prompt_cache.store(req.cache_key, prompt, past)


class DraftText:
    """Incrementally decoded text of one draft (bytes kept; UTF-8 decoded on demand)."""

    __slots__ = ("_bytes", "_table")

    def __init__(self, lm_table: Any, data: bytes = b"") -> None:
        self._table = lm_table
        self._bytes = data

    def extended(self, token_id: int) -> DraftText:
        return DraftText(self._table, self._bytes + self._table.surfaces[token_id])

    @property
    def text(self) -> str:
        return self._bytes.decode("utf-8", errors="replace")


# ------------------------------------------------------------------ greedy


@torch.no_grad()
def greedy_decode(lm: LoadedModel, req: DecodeRequest) -> DecodeResult:
    """Greedy decoding with KV cache, constraints, stop rules and cancellation."""
    started = time.perf_counter()
    prompt = fit_prompt(lm, req.prompt_ids, req.max_new_tokens)
    # 1. prefill the prompt once (or only its tail after the previous prompt's cache)
    logits, past = prefill(lm, req, prompt)  # (1, V)
    calls = 1
    tokens: list[int] = []
    logprobs: list[float] = []  # of each kept token
    text = DraftText(lm.table)
    score, finish, cut = 0.0, "length", None
    for step in range(req.max_new_tokens):
        # 2. stop within one token when the request is cancelled
        if req.cancelled():
            finish = "cancelled"
            break
        # 3. constraints see the draft so far; pick the best token
        generated = torch.tensor([tokens], dtype=torch.long)  # (1, t)
        scores = apply_constraints(req.constraints, generated, logits / req.temperature)
        logp = torch.log_softmax(scores, dim=-1)  # (1, V)
        tok = int(torch.argmax(logp[0]))
        if tok in lm.eos_ids:
            finish = "eos"
            break
        tokens.append(tok)
        logprobs.append(float(logp[0, tok]))
        score += float(logp[0, tok])
        text = text.extended(tok)
        if req.on_step is not None:
            req.on_step([text.text])
        if req.extend_while is not None and not req.extend_while(logprobs, None):
            finish = "confidence"
            break
        # 4. stop rules on the text (end of block, single line, ...)
        if req.stop is not None:
            cut = req.stop(text.text)
            if cut is not None:
                finish = "stop"
                break
        if step == req.max_new_tokens - 1:
            break
        # 5. one forward pass for the new token; the cache grows by one
        logits, past = forward(lm, past, input_ids=torch.tensor([[tok]]))
        calls += 1
    keep_prompt_cache(req, prompt, past)
    final_text = text.text if cut is None else text.text[:cut]
    draft = Draft(
        text=final_text,
        token_ids=tokens,
        score=score,
        finish=finish,
        stats=constraint_stats(req.constraints, tuple(tokens)),
        token_logprobs=logprobs,
    )
    return DecodeResult(
        drafts=[draft],
        forward_calls=calls,
        prompt_tokens=len(prompt),
        generated_tokens=len(tokens),
        seconds=time.perf_counter() - started,
        cancelled=finish == "cancelled",
    )
