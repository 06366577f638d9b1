"""Prompt building for any causal LM: token-budgeted prefix/suffix windows, FIM, healing.

Windows are trimmed by tokens, not characters, keeping the lines nearest the
cursor; when trimming cuts away the header of the enclosing class/function, the
header lines are put back in front. Models whose tokenizer defines
fill-in-the-middle sentinels get a FIM prompt (Bavarian et al. 2022, "Efficient
Training of Language Models to Fill in the Middle"), PSM or SPM as the model was
trained; others get the prefix only. Token healing (the trailing partial word is
backed off and re-spelled under a prefix constraint) is applied to the prefix part.

While a person types, consecutive prompts should share as many leading tokens as
possible (the KV cache of the last prompt is reused, ``models.prompt_cache``): the
suffix window depends on the suffix alone, and the prefix window starts on a grid of
document characters, moving a step at a time instead of a line per keystroke. Only a
few budgets' worth of characters around the cursor are tokenised per request, and the
last few tokenisations are remembered per tokenizer: while a person types in one place
the suffix window is not tokenised again, and no text twice within one request.

Definitions the code around the cursor refers to (``analysis.definitions``: signatures,
fields and docstring lines of classes and functions defined out of the window's sight)
may take a share of the prefix budget (:data:`DEFINITIONS_SHARE`); they are placed in
front of the prefix window, as repository-level completion puts retrieved context in
front of the in-file code (RepoCoder, Zhang et al. 2023; CrossCodeEval, Ding et al. 2023;
De-Hallucinator's API references, Eghbali & Pradel 2024). Those of the enclosing function
come first and do not depend on the statement being typed (their tokens stay the same
while a person types in one function); the receiver's and the statement's come last,
nearest the code.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from models.healing import heal_prompt
from models.loader import LoadedModel

# Characters looked at before tokenising (bounds work on huge documents).
MAX_PREFIX_CHARS = 24_000
MAX_SUFFIX_CHARS = 6_000
SUFFIX_SHARE = 0.25
CHARS_PER_TOKEN = 6  # a first guess of the characters a token budget spans (then doubled)
WINDOW_QUANTUM = 64  # the prefix window starts on this grid of document characters
DEFINITIONS_SHARE = 0.25  # of the prefix budget, at most, for referenced definitions
STABLE_SHARE = 0.6  # of that, at most, for the enclosing function's (tier-2) definitions
MIN_DEFINITIONS_TOKENS = 16  # a smaller share is not worth a summary


@dataclass(frozen=True)
class Prompt:
    """Token ids for the model plus what constraints need to know about them."""

    ids: list[int]
    prefix_text: str  # the document text the generation continues (after healing)
    removed_text: str  # healed text the draft re-spells first ("" when none)
    fim: bool
    prefix_tokens: int
    suffix_tokens: int
    definitions_tokens: int = 0  # the referenced definitions in front of the prefix
    definitions_text: str = ""


class ContextDefinition(Protocol):
    """A summary of a referenced definition (``analysis.definitions.Definition``)."""

    key: str
    text: str
    tier: int  # 0: the receiver, 1: the statement being typed, 2: the enclosing function


# (visible start, visible end) of the document -> the definitions, ranked
DefinitionsSource = Callable[[int, int], Sequence[ContextDefinition]]


class _Memo:
    """The last few tokenisations of each tokenizer, by text.

    Consecutive keystrokes tokenise the same strings again: the suffix window (it
    depends on the suffix alone), the summaries of referenced definitions, and within
    one request the window whose tokens were just counted. A hit costs a dictionary
    lookup instead of a tokenizer call.
    """

    SIZE = 256

    def __init__(self) -> None:
        self._tables: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[str, str], Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def get(self, tokenizer: Any, kind: str, text: str, compute: Callable[[], Any]) -> Any:
        key = (kind, text)
        with self._lock:
            try:
                table = self._tables.setdefault(tokenizer, OrderedDict())
            except TypeError:  # a tokenizer that cannot be weakly referenced or hashed
                return compute()
            if key in table:
                table.move_to_end(key)
                return table[key]
        value = compute()
        with self._lock:
            table[key] = value
            while len(table) > self.SIZE:
                table.popitem(last=False)
        return value


_MEMO = _Memo()


def _encode(lm: LoadedModel, text: str) -> list[int]:
    """``lm.encode(text)``, remembered for the next few requests."""
    return list(_MEMO.get(lm.tokenizer, "ids", text, lambda: tuple(lm.encode(text))))


def _count(lm: LoadedModel, text: str) -> int:
    return len(_encode(lm, text)) if text else 0


def _token_starts(lm: LoadedModel, text: str) -> list[int] | None:
    """Return the character offset where each token of ``text`` starts (None if unknown)."""

    def compute() -> tuple[int, ...] | None:
        try:
            enc = lm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        except (NotImplementedError, TypeError, ValueError):  # slow tokenizers: no offsets
            return None
        return tuple(start for start, _ in enc["offset_mapping"])

    starts = _MEMO.get(lm.tokenizer, "starts", text, compute)
    return None if starts is None else list(starts)


def _tail_with_tokens(
    lm: LoadedModel, prefix: str, budget: int
) -> tuple[int, str, list[int] | None]:
    """Return (base, prefix[base:], token starts) for the shortest whole-line tail of
    ``prefix`` holding more than ``budget`` tokens (or all of it, at most MAX_PREFIX_CHARS).

    Only that tail is tokenised: a few times the budget in characters, not the whole file.
    """
    span = max(256, budget * CHARS_PER_TOKEN)
    while True:
        base = max(0, len(prefix) - min(span, MAX_PREFIX_CHARS))
        if base:
            base = prefix.find("\n", base) + 1 or base
        tail = prefix[base:]
        starts = _token_starts(lm, tail)
        enough = starts is None or len(starts) > budget
        if base == 0 or enough or span >= MAX_PREFIX_CHARS:
            return base, tail, starts
        span *= 2


def prefix_window(
    lm: LoadedModel, prefix: str, budget: int, headers: list[tuple[int, int]] | None = None
) -> str:
    """Return the tail of ``prefix`` that fits ``budget`` tokens, whole lines first.

    ``headers`` are (start, end) code-point ranges of enclosing header lines within
    ``prefix``; the ones cut away are prepended so the model still sees them. The
    window starts at a line start on a grid of :data:`WINDOW_QUANTUM` characters of the
    document, so while a person types it keeps its start (and consecutive prompts share
    their tokens, which the KV-cache reuse needs) and moves a step at a time.
    """
    return _prefix_window(lm, prefix, budget, headers)[0]


def _prefix_window(
    lm: LoadedModel, prefix: str, budget: int, headers: list[tuple[int, int]] | None = None
) -> tuple[str, int]:
    """:func:`prefix_window` and where its tail starts in ``prefix`` (code points)."""
    if budget <= 0:
        return "", len(prefix)
    base, tail, starts = _tail_with_tokens(lm, prefix, budget)
    line_starts = [0] + [i + 1 for i, ch in enumerate(tail) if ch == "\n" and i + 1 < len(tail)]
    header_counts: dict[tuple[int, int], int] = {}

    def candidate(start: int) -> str:
        kept = [
            prefix[s:e].rstrip("\n") + "\n"
            for s, e in (headers or [])
            if s < base + start and e <= len(prefix)
        ]
        return "".join(kept) + tail[start:]

    def estimate(start: int) -> int:
        count = len(starts) - bisect.bisect_left(starts, start) if starts is not None else None
        if count is None:
            return _count(lm, candidate(start))
        for s, e in headers or []:
            if s < base + start and e <= len(prefix):
                if (s, e) not in header_counts:
                    header_counts[(s, e)] = _count(lm, prefix[s:e].rstrip("\n") + "\n")
                count += header_counts[(s, e)]
        return count

    for index, start in enumerate(line_starts):  # nearest lines kept: drop from the top
        if estimate(start) <= budget:
            # on the grid: the first line start at or after the next grid point
            grid = -(-(base + start) // WINDOW_QUANTUM) * WINDOW_QUANTUM - base
            for later in line_starts[index:]:
                if later >= grid:
                    start = later
                    break
            window = candidate(start)
            if _count(lm, window) <= budget:  # exact check of the estimate
                return window, base + start
    ids = lm.encode(tail[line_starts[-1] :])[-budget:]  # one huge line: keep its end
    window = lm.table.decode(ids)
    return window, max(0, len(prefix) - len(window))


def suffix_window(lm: LoadedModel, suffix: str, budget: int) -> str:
    """Return the head of ``suffix`` that fits ``budget`` tokens, whole lines first.

    The head is tokenised once; token offsets give each line end's token count.
    """
    if budget <= 0 or not suffix:
        return ""
    head = suffix[: min(MAX_SUFFIX_CHARS, max(256, budget * CHARS_PER_TOKEN * 2))]
    starts = _token_starts(lm, head)
    ends = [i + 1 for i, ch in enumerate(head) if ch == "\n"]  # after each newline
    if len(head) == len(suffix) and not head.endswith("\n"):
        ends.append(len(head))  # the document's last line
    for end in reversed(ends):  # the longest window of whole lines that fits
        count = bisect.bisect_left(starts, end) if starts is not None else None
        if count is not None and count > budget + 1:
            continue  # clearly too long: no need to tokenise this window
        if _count(lm, head[:end]) <= budget:  # exact check of the estimate
            return head[:end]
    return ""


def _fit(
    lm: LoadedModel, found: Sequence[ContextDefinition], budget: int, taken: set[str]
) -> tuple[list[str], int]:
    """The summaries of ``found`` that fit ``budget`` tokens in rank order (one that does
    not fit is cut after its last whole line that does, keeping at least two lines or a
    one-line summary), and the tokens they take."""
    chosen: list[str] = []
    used = 0
    for definition in found:
        if definition.key in taken or budget - used < 4:
            continue
        text = definition.text + "\n"  # a blank line after each summary
        count = _count(lm, text)
        if used + count > budget:
            lines = definition.text.splitlines(keepends=True)
            text, count = "", 0
            for end in range(len(lines) - 1, 1, -1):
                cut = "".join(lines[:end]) + "\n"
                cut_count = _count(lm, cut)
                if used + cut_count <= budget:
                    text, count = cut, cut_count
                    break
            if not text:
                continue
        taken.add(definition.key)
        chosen.append(text)
        used += count
    return chosen, used


def definitions_block(lm: LoadedModel, found: Sequence[ContextDefinition], budget: int) -> str:
    """The text put in front of the prefix window: at most ``budget`` tokens of summaries.

    The enclosing function's definitions (tier 2) are chosen first, within
    :data:`STABLE_SHARE` of the budget and independently of the statement being typed;
    then the receiver's and the statement's (tiers 0-1) not chosen yet, in the rest. Each
    part is written least relevant first, so the most relevant summaries sit next to the
    code, and the statement's part (which changes more often) comes last.
    """
    if budget <= 0 or not found:
        return ""
    taken: set[str] = set()
    stable, used = _fit(lm, [d for d in found if d.tier >= 2], int(budget * STABLE_SHARE), taken)
    current, _ = _fit(lm, [d for d in found if d.tier < 2], budget - used, taken)
    return "".join(reversed(stable)) + "".join(reversed(current))


def build_prompt(
    lm: LoadedModel,
    text: str,
    offset: int,
    max_new_tokens: int,
    headers: list[tuple[int, int]] | None = None,
    use_fim: bool = True,
    heal: bool = True,
    max_prompt_tokens: int | None = None,
    definitions: DefinitionsSource | None = None,
    definitions_share: float = DEFINITIONS_SHARE,
) -> Prompt:
    """Return the prompt for a completion at ``offset`` of ``text``.

    ``max_prompt_tokens`` caps the prompt below what the context allows (automatic
    requests trade context for a shorter prefill). ``definitions`` (given the document
    range the windows show) returns summaries of referenced definitions; up to
    ``definitions_share`` of the prefix budget of them go in front of the prefix window
    (:func:`definitions_block`), which gets the tokens they leave.
    """
    budget = max(8, lm.context_length - max_new_tokens - 4)
    if max_prompt_tokens is not None:
        budget = max(8, min(budget, max_prompt_tokens))
    fim = lm.fim if use_fim else None
    suffix = text[offset:]
    # the suffix window depends on the suffix only (with SPM it leads the prompt: while
    # a person types, consecutive prompts then share it), the prefix takes the rest
    suffix_budget = int(budget * SUFFIX_SHARE) if fim is not None and suffix.strip() else 0
    suffix_text = suffix_window(lm, suffix, suffix_budget) if suffix_budget else ""
    suffix_ids = _encode(lm, suffix_text) if suffix_text else []
    prefix_budget = budget - len(suffix_ids)
    block, block_ids, prefix = "", [], None
    share = int(prefix_budget * definitions_share) if definitions is not None else 0
    if definitions is not None and share >= MIN_DEFINITIONS_TOKENS:
        # what the window shows needs no summary: ask with the smallest window it may get
        prefix, start = _prefix_window(lm, text[:offset], prefix_budget - share, headers)
        block = definitions_block(lm, definitions(start, offset + len(suffix_text)), share)
        block_ids = lm.encode(block) if block else []
        if len(block_ids) > share:  # merges across summaries: never over the share
            block, block_ids = "", []
        if len(block_ids) < share:  # the window takes what the summaries leave
            prefix = None
    if prefix is None:
        prefix = prefix_window(lm, text[:offset], prefix_budget - len(block_ids), headers)
    prefix_ids = _encode(lm, prefix) if prefix else []
    removed = ""
    if heal and prefix_ids:
        healed, removed = heal_prompt(lm.table, prefix_ids)
        # a backed-off "." would let the first token straddle the monitor's trigger
        # (").", ".(" ...): keep member accesses at the prompt's token boundary
        if "." in removed:
            removed = ""
        else:
            prefix_ids = healed
    prefix_text = prefix[: len(prefix) - len(removed)] if removed else prefix
    n_block = len(block_ids)
    if fim is not None:
        if lm.fim_mode == "spm":  # StarCoder's SPM: the middle continues the prefix
            ids = [fim.prefix, fim.suffix, *suffix_ids, fim.middle, *block_ids, *prefix_ids]
        else:
            ids = [fim.prefix, *block_ids, *prefix_ids, fim.suffix, *suffix_ids, fim.middle]
        counts = (len(prefix_ids), len(suffix_ids), n_block)
        return Prompt(ids, prefix_text, removed, True, *counts, block)
    if not prefix_ids and not block_ids:  # an empty document still needs one token
        prefix_ids = [next(iter(lm.eos_ids))] if lm.eos_ids else lm.encode("\n")
    ids = [*block_ids, *prefix_ids]
    return Prompt(ids, prefix_text, removed, False, len(prefix_ids), 0, n_block, block)
