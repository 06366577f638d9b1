"""Verification re-rank: exact model log-probabilities of finished drafts, one batched pass.

Superposed Decoding (Shen et al. 2024, "Superposed Decoding: Multiple Generations
from a Single Autoregressive Inference Pass") scores drafts with the superposed
distribution, which only approximates each draft's own likelihood. This step
(beyond the paper) scores every draft *exactly*: one batched forward over the
rows ``[last prompt token + draft]`` that reuses the prompt's KV cache (expanded
to one row per draft, drafts right-padded under an attention mask), then

* **ranks** drafts by their mean per-token log-probability (``-log`` perplexity).
  The mean, not the sum, because drafts end at different lengths and a sum
  systematically prefers short drafts; the paper also compares drafts by
  perplexity. A draft that ended with EOS is scored including that EOS.
* **trims** a draft that falls far below the best: where its tokens after the
  point it diverges from a better-ranked draft average more than ``cut_margin``
  nats per token below the best draft's mean, the draft is cut right after its
  first diverging token. The cut draft keeps what makes it a distinct
  alternative (its own first token) and drops the improbable tail. A cut never
  ends a draft right after a ``.`` or inside a word: it moves on to the end of
  the word (``shape.radius.`` becomes ``shape.radius.real``, not a dangling
  member access). A cut that would duplicate another draft's text is not made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from models.decoding import Draft, forward
from models.hf_compat import cache_length, crop_cache, model_forward, select_rows
from models.loader import LoadedModel
from models.vocab_index import is_ident_char

DEFAULT_CUT_MARGIN = 2.0  # nats per token below the best draft's mean


def prompt_cache(past: Any, length: int) -> Any:
    """Return ``past`` cropped to its first ``length`` positions, or None if it cannot be.

    The cache object is modified (the decoder no longer needs its later positions);
    ``None`` also when a sliding-window layer already dropped keys (see
    :func:`models.hf_compat.crop_cache`): the prompt is then prefilled again.
    """
    return crop_cache(past, length)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else -math.inf


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@torch.no_grad()
def token_logprobs(
    lm: LoadedModel, prompt_ids: Sequence[int], rows: Sequence[Sequence[int]], past: Any = None
) -> list[list[float]]:
    """Return the exact log-probability of every token of every row given the prompt.

    One batched forward over ``[prompt[L:] + row]`` for all rows, where ``past`` is a KV
    cache holding the first L < len(prompt) prompt positions (e.g. from the decoder's
    prefill; it is consumed). Without a cache the prompt minus its last token is
    prefilled once first.
    """
    prompt = list(prompt_ids)
    if not rows:
        return []
    n_rows = len(rows)
    # 1. a cache over prompt[:L] with L < len(prompt), so every row starts with a real token
    held = cache_length(past) if past is not None else 0
    if past is not None and held >= len(prompt):
        past = prompt_cache(past, len(prompt) - 1)
        held = len(prompt) - 1 if past is not None else 0
    if past is None and len(prompt) > 1:
        _, past = forward(lm, None, input_ids=torch.tensor([prompt[:-1]]))
        held = len(prompt) - 1
    tail = prompt[held:]
    # 2. right-padded batch [tail + row] with its attention mask
    width = len(tail) + max(len(r) for r in rows)
    ids = torch.zeros((n_rows, width), dtype=torch.long)  # (rows, T)
    mask = torch.zeros((n_rows, held + width), dtype=torch.long)  # (rows, L + T)
    mask[:, :held] = 1
    for i, row in enumerate(rows):
        seq = tail + list(row)
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[i, held : held + len(seq)] = 1
    # 3. the prompt cache, one copy per row (index_select makes the batch)
    if past is not None:
        select_rows(past, torch.zeros(n_rows, dtype=torch.long, device=lm.device))
    logits, _ = model_forward(
        lm.model,
        input_ids=ids.to(lm.device),
        attention_mask=mask.to(lm.device),
        cache=past,
        use_cache=past is not None,
    )
    logits = logits.float()  # (rows, T, V)
    # 4. log p(token j | everything before it): logits at j-1 minus their logsumexp
    targets = ids[:, 1:].to(logits.device)  # (rows, T-1)
    picked = logits[:, :-1].gather(-1, targets[..., None])[..., 0]  # (rows, T-1)
    logp = (picked - torch.logsumexp(logits[:, :-1], dim=-1)).cpu()  # (rows, T-1)
    start = len(tail) - 1
    return [logp[i, start : start + len(row)].tolist() for i, row in enumerate(rows)]


def _continues_word(char: str) -> bool:
    return is_ident_char(char) or char == "$"  # "$": JavaScript names


def word_end(table: Any, ids: Sequence[int], end: int) -> int:
    """Return the first cut ``>= end`` of ``ids`` that leaves no ``.`` or word unfinished:
    while the kept text ends in ``.`` or a word character and the next token goes on
    with a word character, the next token is kept too."""
    text = table.decode(list(ids[:end]))
    while end < len(ids) and text and (text[-1] == "." or _continues_word(text[-1])):
        following = table.decode([ids[end]])
        if not following or not _continues_word(following[0]):
            break
        text += following
        end += 1
    return end


def verified_drafts(
    lm: LoadedModel,
    prompt_ids: Sequence[int],
    drafts: Sequence[Draft],
    past: Any = None,
    cut_margin: float = DEFAULT_CUT_MARGIN,
) -> list[Draft]:
    """Return ``drafts`` re-ranked by exact mean log-probability, far-worse tails trimmed.

    Sets ``Draft.logprob`` (sum over the kept tokens, EOS included for EOS drafts) and
    ``stats["verified_mean_logprob"]``; a trimmed draft gets ``finish="trimmed"`` and
    ``stats["trimmed_from"]`` (its former token count).
    """
    if not drafts:
        return []
    eos = min(lm.eos_ids) if lm.eos_ids else None
    rows = [
        list(d.token_ids) + ([eos] if d.finish == "eos" and eos is not None else []) for d in drafts
    ]
    scored = [i for i, r in enumerate(rows) if r]
    per_token: list[list[float]] = [[] for _ in drafts]
    exact = token_logprobs(lm, prompt_ids, [rows[i] for i in scored], past)
    for i, lps in zip(scored, exact, strict=True):
        per_token[i] = lps
    means = [_mean(lps) for lps in per_token]
    order = sorted(range(len(drafts)), key=lambda i: -means[i])  # stable: ties keep rank
    best = means[order[0]]
    result: list[Draft] = []
    texts: set[str] = set()
    for rank, i in enumerate(order):
        draft, lps = drafts[i], per_token[i]
        stats = dict(draft.stats, verified_mean_logprob=means[i])
        kept = replace(draft, logprob=sum(lps), stats=stats)
        if rank > 0 and draft.token_ids and math.isfinite(best):
            # where does this draft leave the better-ranked ones?
            split = max(_common_prefix(draft.token_ids, drafts[j].token_ids) for j in order[:rank])
            tail = lps[split:]
            end = word_end(lm.table, draft.token_ids, split + 1)
            if end < len(draft.token_ids) and _mean(tail) < best - cut_margin:
                ids = list(draft.token_ids[:end])
                text = lm.table.decode(ids)
                if text not in texts:
                    ngram = draft.token_ngram_logprobs
                    kept = replace(
                        kept,
                        text=text,
                        token_ids=ids,
                        finish="trimmed",
                        logprob=sum(lps[:end]),
                        stats=dict(stats, trimmed_from=len(draft.token_ids)),
                        # the per-token lists follow the kept tokens
                        token_logprobs=draft.token_logprobs[:end],
                        token_ngram_logprobs=None if ngram is None else ngram[:end],
                    )
        if kept.text in texts:
            kept = replace(draft, logprob=sum(lps), stats=stats)  # never merge two drafts
        texts.add(kept.text)
        result.append(kept)
    return result
