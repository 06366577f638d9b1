"""Suppress tokens that never belong in a completion (control and FIM sentinel tokens).

In the style of transformers' ``SuppressTokensLogitsProcessor``: a drafted
``<fim_middle>`` or ``<|im_start|>`` is never code, yet a small or untrained model may
rank one first (a draft of empty surfaces then looks like a finished completion).
Every special token except the end-of-sequence ids is masked at every step.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from models.token_table import TokenTable


class SuppressSpecialTokens:
    """Logits constraint masking special tokens other than EOS: ``(ids, scores) -> scores``."""

    name = "suppress"

    def __init__(self, table: TokenTable, eos_ids: Iterable[int]) -> None:
        if not isinstance(table, TokenTable):
            raise TypeError("table must be a TokenTable")
        banned = table.special.clone()  # (V,)
        for i in eos_ids:
            if not 0 <= int(i) < table.vocab_size:
                raise ValueError(f"eos id {i} outside the vocabulary")
            banned[int(i)] = False
        self.banned = banned
        self.active = bool(banned.any())

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if scores.shape[-1] != self.banned.shape[0]:
            raise ValueError(f"scores must be (rows, {self.banned.shape[0]})")
        if not self.active:
            return scores
        return scores.masked_fill(self.banned.to(scores.device), float("-inf"))  # (rows, V)
