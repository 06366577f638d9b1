"""Reuse of the prompt's KV cache across requests: consecutive keystrokes share their prompt.

While a person types, every keystroke asks for ghost text with a prompt that differs
from the previous one only at its end (with the SPM fill-in-the-middle layout the
suffix comes first and the prefix only grows). :class:`PromptCache` keeps, per document,
the KV cache of the last prompt; the next prefill crops it to the longest common token
prefix and runs only the tokens after it (the idea of prefix caching in serving systems
such as vLLM's automatic prefix caching, here for one user's successive requests).

A cache is used by one request at a time (it is taken out while a request runs and
put back after), bounded by an LRU over documents, and only ever cropped, never copied.
Anything unusual (a sliding-window layer that dropped keys, several batch rows after
verification, a different model) falls back to a full prefill: reuse changes cost,
never results.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from models.decoding import forward
from models.hf_compat import cache_length, crop_cache
from models.loader import LoadedModel

MIN_REUSE = 8  # shorter common prefixes are not worth keeping a cache for


@dataclass
class _Entry:
    ids: list[int]  # the prompt the cache was filled with (it may hold fewer positions now)
    cache: Any


@dataclass(frozen=True)
class Prefill:
    """The prefill of one prompt: next-token logits (1, V), the cache, positions reused."""

    logits: torch.Tensor
    cache: Any
    reused: int


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Return the length of the longest common prefix of two id sequences."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def cache_rows(cache: Any) -> int | None:
    """Return the batch size of a KV cache (None when it cannot be read)."""
    inner = getattr(cache, "self_attention_cache", cache)
    for layer in getattr(inner, "layers", None) or ():
        keys = getattr(layer, "keys", None)
        if isinstance(keys, torch.Tensor) and keys.dim() >= 1:
            return int(keys.shape[0])
    return None


class PromptCache:
    """Per-key (document) KV caches of the last prompt, LRU-bounded."""

    def __init__(self, lm: LoadedModel, entries: int = 8) -> None:
        if entries < 1:
            raise ValueError("entries must be >= 1")
        self.lm = lm
        self.entries = entries
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.reused_tokens = 0
        self.prefilled_tokens = 0

    def prefill(self, key: str, prompt: Sequence[int]) -> Prefill:
        """Return the prefill of ``prompt``, reusing the cache stored under ``key``."""
        with self._lock:
            entry = self._items.pop(key, None)  # in use by this request until stored again
        prompt = list(prompt)
        reused, cache = 0, None
        if entry is not None and cache_rows(entry.cache) == 1:
            held = min(cache_length(entry.cache), len(entry.ids))
            # keep at least one prompt token to run: its logits start the draft
            common = min(common_prefix(entry.ids[:held], prompt), len(prompt) - 1)
            if common >= MIN_REUSE:
                cache = crop_cache(entry.cache, common)
                reused = common if cache is not None else 0
        rest = prompt[reused:]
        logits, cache = forward(self.lm, cache, input_ids=torch.tensor([rest]))  # (1, V)
        self.hits += reused > 0
        self.reused_tokens += reused
        self.prefilled_tokens += len(rest)
        return Prefill(logits, cache, reused)

    def store(self, key: str, prompt: Sequence[int], cache: Any) -> None:
        """Keep ``cache`` (which holds ``prompt`` first) for the next request of ``key``.

        The cache may have grown past the prompt (decoding) and may still be cropped by
        the caller (verification): what it holds is read when it is next used.
        """
        if cache is None or cache_rows(cache) != 1 or cache_length(cache) < MIN_REUSE:
            return
        if cache_length(cache) > len(prompt) and crop_cache(cache, len(prompt)) is None:
            return
        with self._lock:
            self._items[key] = _Entry(list(prompt), cache)
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def stats(self) -> dict[str, int]:
        with self._lock:
            held = len(self._items)
        return {
            "entries": held,
            "hits": self.hits,
            "reusedTokens": self.reused_tokens,
            "prefilledTokens": self.prefilled_tokens,
        }
