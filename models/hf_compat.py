"""The one place that knows how transformers spells its KV-cache API.

Every decoder (greedy, superposed, beam, sampling), verification and the
benchmarks run the model through :func:`model_forward` and touch caches only
through :func:`cache_length`, :func:`crop_cache` and :func:`select_rows`. The
cache API moved under us twice: transformers 4.x took ``past_key_values=`` and
returned ``outputs.past_key_values`` (legacy tuples for some families before
4.5x); 5.24 renamed both to ``cache`` (the old name warns and goes away in
5.40). Instead of comparing version strings, the spelling is read from the
model itself: its ``forward`` signature names the keyword it takes and its
output class names the field it returns. That also covers remote-code models
and test doubles that still use the old name. Cache objects (``DynamicCache``
with full or sliding-window layers) are the only supported cache type, since
every supported family returns one in the supported transformers range
(pyproject.toml); a legacy tuple is refused with a clear error rather than
silently mis-indexed.

Sliding-window layers (Mistral-style ``DynamicSlidingWindowLayer``) cannot be
cropped once they are past their window (the dropped keys are gone);
:func:`crop_cache` then answers ``None`` and callers recompute instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import torch

NEW_CACHE_KWARG = "cache"  # transformers >= 5.24
OLD_CACHE_KWARG = "past_key_values"  # transformers < 5.24 (removed in 5.40)


# config attributes that some model classes read but some configs of the supported range
# do not define (transformers 5.0's PhiConfig has no pad_token_id; PhiModel reads it)
CONFIG_DEFAULTS: dict[str, Any] = {"pad_token_id": None}


def complete_config(config: Any) -> Any:
    """Return ``config`` with :data:`CONFIG_DEFAULTS` set where it lacks them (in place:
    loaded configs are private to the load)."""
    for name, value in CONFIG_DEFAULTS.items():
        try:
            getattr(config, name)
        except AttributeError:
            setattr(config, name, value)
    return config


class CacheFormatError(TypeError):
    """A model returned a KV cache in a format the decoders do not support."""


@lru_cache(maxsize=64)
def _cache_kwarg_of(forward: Any) -> str:
    """Return the keyword ``forward`` takes its KV cache by (``cache`` or ``past_key_values``)."""
    try:
        params = inspect.signature(forward).parameters  # follows functools.wraps
    except (TypeError, ValueError):
        return OLD_CACHE_KWARG
    if NEW_CACHE_KWARG in params:
        return NEW_CACHE_KWARG
    return OLD_CACHE_KWARG


def cache_kwarg(model: Any) -> str:
    """Return the keyword ``model.forward`` takes its KV cache by."""
    forward = getattr(type(model), "forward", None) or model.forward
    try:
        return _cache_kwarg_of(forward)
    except TypeError:  # unhashable callable: no memo
        return _cache_kwarg_of.__wrapped__(forward)


def output_cache(outputs: Any) -> Any:
    """Return the KV cache of a model's outputs, reading the field the output class declares."""
    declared = getattr(type(outputs), "__dataclass_fields__", None)
    if declared is not None:
        if NEW_CACHE_KWARG in declared:
            return getattr(outputs, NEW_CACHE_KWARG)
        if OLD_CACHE_KWARG in declared:
            return getattr(outputs, OLD_CACHE_KWARG)
        return None
    for name in (NEW_CACHE_KWARG, OLD_CACHE_KWARG):  # plain objects (test doubles)
        if hasattr(outputs, name):
            return getattr(outputs, name)
    return None


def model_forward(
    model: Any,
    *,
    input_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    cache: Any = None,
    use_cache: bool = True,
) -> tuple[torch.Tensor, Any]:
    """Run ``model`` once; return (logits (rows, T, V), the updated cache or None)."""
    kwargs: dict[str, Any] = {"input_ids": input_ids, "inputs_embeds": inputs_embeds}
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask
    if use_cache:
        kwargs["use_cache"] = True
        if cache is not None:
            kwargs[cache_kwarg(model)] = cache
    else:
        kwargs["use_cache"] = False
    outputs = model(**kwargs)
    new_cache = output_cache(outputs) if use_cache else None
    if use_cache and new_cache is not None and isinstance(new_cache, (tuple, list)):
        raise CacheFormatError(
            f"{type(model).__name__} returned a legacy tuple KV cache; this transformers "
            "version is older than the supported range (see pyproject.toml)"
        )
    return outputs.logits, new_cache


def cache_length(cache: Any) -> int:
    """Return the number of positions a KV cache has seen (0 for None)."""
    if cache is None:
        return 0
    if hasattr(cache, "get_seq_length"):
        return int(cache.get_seq_length())
    if isinstance(cache, int):  # counting test doubles
        return cache
    raise CacheFormatError(f"unsupported KV cache type {type(cache).__name__}")


def _layers(cache: Any) -> Iterable[Any]:
    inner = getattr(cache, "self_attention_cache", cache)  # encoder-decoder wrappers
    return getattr(inner, "layers", None) or ()


def croppable(cache: Any) -> bool:
    """Return True when ``cache`` can drop its newest positions (no window overflowed)."""
    if cache is None or not hasattr(cache, "crop"):
        return False
    for layer in _layers(cache):
        if getattr(layer, "is_croppable", True) is False:
            return False
        window = getattr(layer, "sliding_window", None)
        if getattr(layer, "is_sliding", False) and isinstance(window, int):
            if layer.get_seq_length() >= window - 1:
                return False  # the window dropped keys: they cannot come back
    return True


def crop_cache(cache: Any, length: int) -> Any:
    """Return ``cache`` cut to its first ``length`` positions, or None if it cannot be.

    The cache object is modified in place. ``None`` when the cache is shorter than
    ``length``, has no ``crop``, or holds a sliding-window layer that already dropped
    keys (callers then recompute the prefix).
    """
    if cache is None or length < 1:
        return None
    held = cache_length(cache)
    if held < length:
        return None
    if held == length:
        return cache
    if not croppable(cache):
        return None
    try:
        cache.crop(-(held - length))  # negative: remove that many positions (all versions)
    except (RuntimeError, ValueError, TypeError):
        return None
    return cache if cache_length(cache) == length else None


def select_rows(cache: Any, rows: torch.Tensor | list[int]) -> Any:
    """Reorder/duplicate the batch rows of ``cache`` in place (beam parents, verify copies)."""
    index = torch.as_tensor(rows, dtype=torch.long)
    if hasattr(cache, "reorder_cache"):
        cache.reorder_cache(index)
        return cache
    if hasattr(cache, "batch_select_indices"):
        cache.batch_select_indices(index)
        return cache
    raise CacheFormatError(f"cannot reorder a KV cache of type {type(cache).__name__}")
