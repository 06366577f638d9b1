"""Token healing: back off a prompt's partial last word and let the model re-spell it.

Token healing comes from Microsoft Guidance ("token healing", Lundberg 2023;
see the guidance README and its `token_healing` implementation, read, not
copied). When the editor's cursor sits inside a word (``def te|``), the prompt
ends in a token boundary the model rarely saw in training (``te`` instead of
``test``), and small models derail. :func:`heal_prompt` removes the trailing
token(s) that end in a partial word or operator, and :class:`HealingConstraint`
masks the first generated tokens so their bytes re-spell the removed text: a
token is allowed while its surface is a prefix of what is left to re-spell, or
what is left is a prefix of it. The model thus picks its own tokenisation
(``test`` in one token). Masks come from the shared byte-prefix index of
:mod:`models.vocab_index` and work on bytes, so byte-level BPE and SentencePiece
byte-fallback tokens both take part.
"""

from __future__ import annotations

from typing import Any

import torch

from models.token_table import TokenTable
from models.vocab_index import VocabIndex, is_ident_char, vocab_index

# characters of multi-character operators (``==``, ``->``, ``**=``, ``.``, ``:=``)
OPERATOR_CHARS = frozenset("=<>!+-*/%&|^~.:@")
_MAX_EXTRA_FOR_UTF8 = 3  # extra tokens allowed to reach a UTF-8 character boundary


def _char_class(c: str) -> str | None:
    """Return 'word' or 'op' for characters a healed tail may end with, else None."""
    if is_ident_char(c):
        return "word"
    if c in OPERATOR_CHARS:
        return "op"
    return None


def _trailing_run_bytes(text: str) -> int:
    """Return the UTF-8 length of the trailing run of word (or operator) characters."""
    if not text:
        return 0
    kind = _char_class(text[-1])
    if kind is None:
        return 0
    i = len(text)
    while i > 0 and _char_class(text[i - 1]) == kind:
        i -= 1
    return len(text[i:].encode("utf-8"))


def _is_char_boundary(data: bytes, at: int) -> bool:
    """Return True when byte offset ``at`` of ``data`` does not split a UTF-8 character."""
    return at >= len(data) or (data[at] & 0xC0) != 0x80


def heal_prompt(
    table: TokenTable, prompt_ids: list[int], max_backoff_tokens: int = 2
) -> tuple[list[int], str]:
    """Return (prompt ids without the partial trailing word's tokens, the removed text).

    Backs off the last token when the prompt ends in identifier or operator
    characters, and further tokens (up to ``max_backoff_tokens``) while they are
    inside the same trailing run; a last token of pure whitespace (indentation, or a
    newline the next line's indentation would merge with) is backed off alone. Otherwise never
    removes special tokens or tokens holding a newline, never empties the prompt,
    and cuts only at UTF-8 character boundaries. Returns ``(prompt_ids, "")`` when there is nothing to heal.
    """
    ids = list(prompt_ids)
    if max_backoff_tokens < 1 or len(ids) < 2:
        return ids, ""
    # 0. trailing whitespace: indentation ("\n        ", "return ") merges with the next
    #    word (" total"), and a bare newline with the next line's indentation ("\n   "),
    #    so a prompt ending in either sits at a boundary the model rarely saw
    last = table.surfaces[ids[-1]]
    if last and not bool(table.special[ids[-1]]) and not last.strip(b" \t\r\n"):
        return ids[:-1], last.decode("utf-8")
    # 1. the trailing run of word/operator characters, measured on the last tokens
    window = ids[-(max_backoff_tokens + _MAX_EXTRA_FOR_UTF8 + 1) :]
    tail = table.decode_bytes(window)
    run = _trailing_run_bytes(tail.decode("utf-8", errors="replace"))
    if run == 0:
        return ids, ""
    # 2. remove whole tokens that end inside the run, stopping at newlines/specials
    cut = len(ids)
    removed = 0
    limit = max_backoff_tokens
    while cut > 1 and cut - 1 >= len(ids) - limit:
        tok = ids[cut - 1]
        surface = table.surfaces[tok]
        if bool(table.special[tok]) or not surface or bool(table.has_newline[tok]):
            break
        cut -= 1
        removed += len(surface)
        at = len(tail) - removed
        if removed >= run and _is_char_boundary(tail, at):
            break
        if not _is_char_boundary(tail, at):
            limit = max_backoff_tokens + _MAX_EXTRA_FOR_UTF8  # finish the character
    at = len(tail) - removed
    if cut == len(ids) or not _is_char_boundary(tail, at):
        return ids, ""
    return ids[:cut], tail[at:].decode("utf-8")


class HealingConstraint:
    """Logits constraint forcing the first tokens to re-spell ``removed_text``."""

    name = "healing"

    def __init__(self, table: TokenTable, removed_text: str) -> None:
        if not isinstance(table, TokenTable):
            raise TypeError("table must be a TokenTable")
        if not isinstance(removed_text, str):
            raise TypeError("removed_text must be a str")
        self.table = table
        self.removed_text = removed_text
        self._target = removed_text.encode("utf-8")
        self.index: VocabIndex = vocab_index(table)
        self._masks: dict[bytes, torch.Tensor | None] = {}
        self._constrained: set[tuple[int, ...]] = set()

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if scores.dim() != 2 or scores.shape[-1] != self.table.vocab_size:
            raise ValueError(
                f"scores must be (rows, {self.table.vocab_size}), got {tuple(scores.shape)}"
            )
        if not self._target or input_ids.shape[1] >= len(self._target):
            return scores  # every healing token spells >= 1 byte: healed by now
        out: torch.Tensor | None = None
        for row, ids in enumerate(input_ids.tolist()):
            # 1. what is left to re-spell along this draft (nothing: unconstrained)
            mask = self._mask_after(ids)
            if mask is None:
                continue
            # 2. mask the row unless that would leave no finite score
            masked = scores[row].masked_fill(~mask.to(scores.device), float("-inf"))  # (V,)
            if not bool((masked > float("-inf")).any()):
                continue
            if out is None:
                out = scores.clone()  # (rows, V)
            out[row] = masked
            self._constrained.add(tuple(ids))
        return scores if out is None else out

    def stats(self, draft_ids: tuple[int, ...]) -> dict[str, Any]:
        """Return how many steps along ``draft_ids`` were constrained to re-spell."""
        ids = tuple(draft_ids)
        steps = sum(1 for i in range(len(ids) + 1) if ids[:i] in self._constrained)
        return {"healing_constrained_steps": steps}

    def _mask_after(self, ids: list[int]) -> torch.Tensor | None:
        """Return allowed tokens (V,) after ``ids``, or None once healed (or off track)."""
        if len(ids) >= len(self._target):
            return None
        done = self.table.decode_bytes(ids)
        if len(done) >= len(self._target) or not self._target.startswith(done):
            return None
        left = self._target[len(done) :]
        if left not in self._masks:
            mask = self.index.prefix_compatible_mask(left)  # (V,)
            self._masks[left] = mask if bool(mask.any()) else None
        return self._masks[left]
