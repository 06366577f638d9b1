"""Monitor-guided decoding of member accesses (Agrawal et al. 2023).

"Guiding Language Models of Code with Global Context using Monitors" (Agrawal,
Kanade, Goyal, Lahiri, Rajamani; NeurIPS 2023): a monitor runs beside the
decoder. It *waits* until the text (prompt + draft so far) sits at a trigger —
here ``receiver.`` followed by a possibly empty identifier fragment ``p`` — and
asks static analysis which identifiers may follow the dot. When the analysis
knows (a non-empty set ``M``), the monitor masks the vocabulary so the next
token either continues ``p`` to a prefix of a member of ``M``, or completes a
member exactly and goes on with a non-identifier character (``get(``); once the
identifier ends the monitor is back to waiting. Unknown receivers are never
constrained. Tokens that *cross* the trigger (one token ``.get`` after a
receiver) are checked too, against the members of the text so far.

Calls are checked the same way (Python): where the analysis closes the members of the
text so far and ``__call__`` is not among them (a ``float`` field, a module, an enum
member, a string), the value cannot be called, so no token starting with ``(`` may
follow it (``shape.radius(`` is never written). Classes, callable instances and open
answers (functions, unknown values) are never constrained.

Right after the dot, drafts start with the members people write there
(:func:`preferred_members`: no dunders, and no private names of another object, until
the fragment typed asks for them with ``_``).

Where the analysis cannot close a receiver's members but knows names it certainly has
(``declared``: a class with ``__getattr__`` still declares its own methods and
attributes), nothing is masked: tokens that spell one of those names further get
``prefer_bonus`` added to their logits, so an unsure draft writes ``self._conn`` of its
own class rather than a name from nowhere, and a sure one still writes a name
``__getattr__`` serves.

Assignments create attributes: where the oracle allows a new name
(``assignable``: ``self.``/``cls.`` or ``this.`` starting a statement), any
identifier may be spelled, but one outside ``M`` must be followed by an assignment
(``=``, ``:``, ``+=``, ... or the ``,`` of a tuple target): ``self.total = 0`` is
allowed, ``self.totl()`` is not. With ``steer_new_names`` (asked-for completions, whose
k drafts are read as a list), the tokens spelling a member there get ``prefer_bonus``: a
draft spelling a new name that never reaches its ``=`` is cut away, so unsure drafts are
better spent on the members the object has, while a sure one still writes the new name.
Ghost text does without: simulated typing measured it worse there, where ``__init__``'s
new attributes are the common case.

Analysis stays on the other side of the boundary (DESIGN.md): the monitor only
sees a :class:`MemberOracle` answering with plain strings. Masks are built from
the precomputed :class:`~models.vocab_index.VocabIndex` with vectorised gathers
and cached by remaining-suffix set, so a constrained step costs about a
millisecond and a waiting step almost nothing (see benchmarks/monitor_speed.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import torch

from models.token_table import TokenTable
from models.vocab_index import VocabIndex, is_ident_char, is_ident_start, vocab_index

# characters that may end an expression whose members a following "." selects
_RECEIVER_CLOSERS = frozenset(")]}\"'")
# what may follow a new attribute name at the start of a statement (an assignment target)
ASSIGNMENT_OPERATORS = (
    *("=", ":", ",", "+=", "-=", "*=", "/=", "//=", "%=", "**=", ">>=", "<<=", "&=", "|="),
    *("^=", "@=", ">>>=", "&&=", "||=", "??="),  # the last four: JavaScript
)
# a receiver that is the method's own object: self, cls (Python), this (JavaScript)
_OWN_RECEIVER = re.compile(r"(?<![\w.$])(self|cls|this)\s*$")
# a member access ".name" anywhere in a text
_DOT_NAME = re.compile(r"\.([^\W\d]\w*)")
# text ending in ".name" plus what was typed after it so far (spaces, operator characters)
_AFTER_NAME = re.compile(r"\.([^\W\d]\w*)([ \t]*[^\w\s]*)$")


def assignment_state(after: str) -> bool | None:
    """Classify ``after``, the text typed after a new attribute name at a statement start.

    Returns True when it already holds a complete assignment operator (the check is
    over), False when it can still become one, None when it cannot (``(``, ``==``,
    ``.``, a newline).
    """
    rest = after.lstrip(" \t")
    if not rest:
        return False
    for op in ASSIGNMENT_OPERATORS:
        if rest.startswith(op) and len(rest) > len(op):
            if op == "=" and rest[1] == "=":
                continue  # "==" compares
            if any(o.startswith(rest[: len(op) + 1]) for o in ASSIGNMENT_OPERATORS):
                continue  # "//" of "//=", "**" of "**=": still growing
            return True
    if any(op.startswith(rest) for op in ASSIGNMENT_OPERATORS):
        return False
    return None


@runtime_checkable
class MemberOracle(Protocol):
    """Which identifiers may follow a ``.`` placed after some code?

    The code is ``document_prefix[: len(document_prefix) - trim] + extra``;
    ``None`` means "don't know" (no constraint).
    """

    def members(self, extra: str, trim: int = 0) -> frozenset[str] | None: ...


# logits added to tokens spelling a declared member of an open receiver (see the docstring)
PREFER_BONUS = 2.0


def preferred_members(members: frozenset[str], own: bool) -> frozenset[str]:
    """Return the members a draft may start right after the ``.``, as people use them.

    Dunder names (``__replace__``, ``__class__``) and, on another object, private names
    (``_cache``) are kept for when the typed fragment asks for them (``_``): with the
    fragment empty they would otherwise take every draft after a dataclass instance.
    ``own`` (``self.``, ``cls.``, ``this.``): the object's private names are its own and
    stay. Never empty when ``members`` is not: with nothing else, everything stays.
    """
    if own:
        kept = frozenset(m for m in members if not (m.startswith("__") and m.endswith("__")))
    else:
        kept = frozenset(m for m in members if not m.startswith("_"))
    return kept or members


def trailing_member_access(text: str) -> tuple[int, str] | None:
    """Return (index of the ``.``, identifier fragment after it) when ``text`` ends in one."""
    i = len(text)
    while i > 0 and is_ident_char(text[i - 1]):
        i -= 1
    if i == 0 or text[i - 1] != ".":
        return None
    fragment = text[i:]
    if fragment and not is_ident_start(fragment[0]):
        return None  # "1.5", "x.2": not a member access
    return i - 1, fragment


def may_end_receiver(text: str) -> bool:
    """Return True when a ``.`` after ``text`` could select a member of an expression."""
    if not text:
        return False
    last = text[-1]
    return last in _RECEIVER_CLOSERS or is_ident_char(last)


@dataclass
class _Step:
    """One draft prefix: its bytes and the monitor's decision for the next token."""

    data: bytes
    mask: torch.Tensor | None  # (V,) bool allowed tokens, None = unconstrained
    masked: int  # tokens the mask forbids
    applied: bool = False
    favoured: torch.Tensor | None = None  # (V,) bool tokens given the bonus (no mask)


class MemberMonitor:
    """Logits constraint that keeps member accesses to known members (per draft)."""

    name = "monitor"

    def __init__(
        self,
        table: TokenTable,
        oracle: MemberOracle,
        prompt_tail: str,
        eos_ids: frozenset[int] = frozenset(),
        prefer_bonus: float = PREFER_BONUS,
        steer_new_names: bool = False,
    ) -> None:
        if not isinstance(table, TokenTable):
            raise TypeError("table must be a TokenTable")
        if not callable(getattr(oracle, "members", None)):
            raise TypeError("oracle must have a members(extra, trim) method")
        if not isinstance(prompt_tail, str):
            raise TypeError("prompt_tail must be a str")
        bad = [i for i in eos_ids if not 0 <= int(i) < table.vocab_size]
        if bad:
            raise ValueError(f"eos ids outside the vocabulary: {bad}")
        if not 0.0 <= float(prefer_bonus) < float("inf"):
            raise ValueError(f"prefer_bonus must be a finite number >= 0, got {prefer_bonus}")
        self.prefer_bonus = float(prefer_bonus)
        self.steer_new_names = bool(steer_new_names)
        self.table = table
        self.oracle = oracle
        self.prompt_tail = prompt_tail
        self.index: VocabIndex = vocab_index(table)
        self._has_dot_tokens = len(self.index.dot_ident_ids) > 0
        self._python = getattr(oracle, "family", None) == "python"  # calls are checked
        self._eos = torch.zeros(table.vocab_size, dtype=torch.bool)  # (V,)
        if eos_ids:
            self._eos[torch.tensor(sorted(int(i) for i in eos_ids), dtype=torch.long)] = True
        self._steps: dict[tuple[int, ...], _Step] = {}
        self._answers: dict[tuple, frozenset[str] | bool | None] = {}
        self._member_masks: dict[tuple[frozenset[str], str], tuple[torch.Tensor | None, int]] = {}
        self._suffix_masks: dict[frozenset[str], torch.Tensor | None] = {}
        self._crossing_masks: dict[frozenset[str], torch.Tensor | None] = {}
        self._assignment_masks: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------ constraint

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if scores.dim() != 2 or scores.shape[-1] != self.table.vocab_size:
            raise ValueError(
                f"scores must be (rows, {self.table.vocab_size}), got {tuple(scores.shape)}"
            )
        if input_ids.shape[0] != scores.shape[0]:
            raise ValueError("input_ids and scores disagree on the number of rows")
        # 1. each draft prefix's decision (cached by its generated ids)
        steps = [self._step(tuple(ids)) for ids in input_ids.tolist()]
        out = self._favour(steps, scores)
        rows = [row for row, step in enumerate(steps) if step.mask is not None]
        if not rows:
            return out
        # 2. mask the constrained rows at once
        index = torch.tensor(rows, dtype=torch.long, device=scores.device)  # (R,)
        allowed = torch.stack([steps[row].mask for row in rows]).to(scores.device)  # (R, V)
        masked = out[index].masked_fill(~allowed, float("-inf"))  # (R, V)
        # 3. never leave a row without a finite score: such a row stays as it was
        alive = (masked > float("-inf")).any(dim=-1)  # (R,)
        for row, kept in zip(rows, alive.tolist(), strict=True):
            steps[row].applied = kept
        if not bool(alive.any()):
            return out
        out = out.clone() if out is scores else out  # (rows, V)
        out[index[alive]] = masked[alive]
        return out

    def _favour(self, steps: list[_Step], scores: torch.Tensor) -> torch.Tensor:
        """Return ``scores`` with the bonus added to the favoured tokens of the rows that
        have them (a new tensor; ``scores`` itself when no row has any)."""
        rows = [row for row, step in enumerate(steps) if step.favoured is not None]
        if not rows or self.prefer_bonus == 0.0:
            return scores
        index = torch.tensor(rows, dtype=torch.long, device=scores.device)  # (F,)
        favoured = torch.stack([steps[row].favoured for row in rows]).to(scores.device)  # (F, V)
        out = scores.clone()  # (rows, V)
        out[index] = scores[index] + favoured.to(scores.dtype) * self.prefer_bonus
        return out

    def stats(self, draft_ids: tuple[int, ...]) -> dict[str, Any]:
        """Return how many steps along ``draft_ids`` were masked, and how many tokens."""
        ids = tuple(draft_ids)
        steps = masked = favoured = 0
        for i in range(len(ids) + 1):
            step = self._steps.get(ids[:i])
            if step is not None and step.applied:
                steps += 1
                masked += step.masked
            if step is not None and step.favoured is not None:
                favoured += 1
        return {
            "monitor_constrained_steps": steps,
            "monitor_masked_tokens": masked,
            "monitor_preferred_steps": favoured,
        }

    def unfinished_attribute(self, draft: str) -> int | None:
        """Return where an unfinished new attribute starts in ``draft`` (None if none).

        A name outside the receiver's members may only be spelled where it is assigned
        (``self.total = 0``); a draft that ends before its assignment operator (cut by the
        token limit or by its confidence) leaves a name the program does not have. The
        index is that name's first character in ``draft``: the draft is to be cut there.
        """
        text = self.prompt_tail + draft
        start = len(self.prompt_tail)
        for found in _DOT_NAME.finditer(text, max(0, start - 1)):
            name_at = found.start(1)
            if name_at < start:
                continue
            extra, trim = self._receiver_code(draft, found.start())
            members = self._members(extra, trim)
            if not members or found.group(1) in members:
                continue
            line_end = text.find("\n", found.end(1))
            after = text[found.end(1) : len(text) if line_end < 0 else line_end]
            if assignment_state(after) is not True:  # not (yet) assigned on its line
                return name_at - start
        return None

    # ------------------------------------------------------------ decisions

    def _step(self, ids: tuple[int, ...]) -> _Step:
        """Return the cached step of ``ids``, extending its parent's bytes by one token."""
        step = self._steps.get(ids)
        if step is not None:
            return step
        parent = self._steps.get(ids[:-1]) if ids else None
        if parent is not None:
            data = parent.data + self.table.surfaces[ids[-1]]
        else:
            data = self.table.decode_bytes(ids)
        mask, masked, favoured = self._decision(data.decode("utf-8", errors="replace"))
        step = self._steps[ids] = _Step(data=data, mask=mask, masked=masked, favoured=favoured)
        return step

    def _decision(self, draft: str) -> tuple[torch.Tensor | None, int, torch.Tensor | None]:
        """Return (allowed tokens (V,) or None, masked count, favoured tokens (V,) or None)
        after ``draft``."""
        text = self.prompt_tail + draft
        access = trailing_member_access(text)
        favoured = None
        # 1. inside a member access whose receiver the analysis knows: spell a member
        if access is not None:
            dot, fragment = access
            extra, trim = self._receiver_code(draft, dot)
            members = self._members(extra, trim)
            if members:
                if not fragment:  # right after the dot: the members people write first
                    members = preferred_members(
                        members, _OWN_RECEIVER.search(text[:dot]) is not None
                    )
                mask, masked = self._member_mask(members, fragment)
                if fragment not in members and self._assignable(extra, trim):
                    # `self.` starting a statement: a new attribute may be assigned
                    new = self._new_name_mask(fragment)  # (V,)
                    spelling = mask if self.steer_new_names else None  # a member, further
                    mask = new if mask is None else mask | new
                    return mask, int((~mask).sum()), spelling
                if mask is not None:
                    if fragment in members:
                        # the member is complete: a following ".x" token crosses a new trigger
                        crossing = self._crossing_mask_after(draft, text)
                        if crossing is not None:
                            combined = mask & crossing  # (V,)
                            if bool(combined.any()):
                                mask = combined
                                masked = int((~mask).sum())
                    return mask, masked, None
            else:  # open: prefer what the receiver's class certainly declares
                favoured = self._preference(extra, trim, fragment, text[:dot])
        # 2. just after a new attribute name: only an assignment may follow
        pending = self._pending_assignment(draft, text)
        if pending is not None:
            return pending, int((~pending).sum()), None
        # 3. waiting: only tokens that cross the trigger (".get") are checked; after a
        #    member of an unknown receiver (``log.getE``) there is nothing to check
        if access is not None:
            return None, 0, favoured
        crossing = self._crossing_mask_after(draft, text)
        if crossing is None:
            return None, 0, favoured
        return crossing, int((~crossing).sum()), None

    def _preference(
        self, extra: str, trim: int, fragment: str, before_dot: str
    ) -> torch.Tensor | None:
        """Return the tokens (V,) spelling a declared member of an open receiver further
        after ``.fragment`` (None: nothing to prefer)."""
        if self.prefer_bonus == 0.0:
            return None
        declared = self._declared(extra, trim)
        if not declared:
            return None
        if not fragment:
            declared = preferred_members(declared, _OWN_RECEIVER.search(before_dot) is not None)
        mask, _ = self._member_mask(declared, fragment)
        return mask

    def _declared(self, extra: str, trim: int) -> frozenset[str] | None:
        """The names an open receiver certainly has (memoised; None without an answer)."""
        key = ("declared", extra, trim)
        if key not in self._answers:
            ask = getattr(self.oracle, "declared", None)
            answer = ask(extra, trim) if callable(ask) else None
            self._answers[key] = frozenset(answer) if answer else None
        return self._answers[key]  # type: ignore[return-value]

    def _receiver_code(self, draft: str, dot: int) -> tuple[str, int]:
        """Return the oracle's (extra, trim) for the code before the ``.`` at ``dot`` of the text."""
        start = len(self.prompt_tail)
        return (draft[: dot - start], 0) if dot >= start else ("", start - dot)

    def _assignable(self, extra: str, trim: int) -> bool:
        """Whether the oracle allows a new attribute after this receiver (memoised)."""
        key = ("assignable", extra, trim)
        if key not in self._answers:
            ask = getattr(self.oracle, "assignable", None)
            self._answers[key] = bool(ask(extra, trim)) if callable(ask) else False
        return bool(self._answers[key])

    def _new_name_mask(self, fragment: str) -> torch.Tensor:
        """Return tokens (V,) that spell a new identifier further, or end it with an assignment."""
        if not fragment:
            return self.index.pure_ident_start  # (V,)
        return self.index.token_pure | self._assignment_mask("")  # (V,)

    @cached_property
    def _call_mask(self) -> torch.Tensor:
        """Tokens (V,) whose text starts with ``(``: a call of what precedes them."""
        mask = torch.zeros(self.table.vocab_size, dtype=torch.bool)  # (V,)
        mask[self.index.extension_token_ids(b"(")] = True
        return mask

    def _pending_assignment(self, draft: str, text: str) -> torch.Tensor | None:
        """Return the mask forcing an assignment after a new attribute name, if one is pending."""
        found = _AFTER_NAME.search(text)
        if found is None or not found.group(2):
            return None  # still inside the name (or no name): handled as a member access
        if assignment_state(found.group(2)) is not False:
            return None  # complete, or not an assignment (then the name is a member)
        extra, trim = self._receiver_code(draft, found.start())
        members = self._members(extra, trim)
        if not members or found.group(1) in members or not self._assignable(extra, trim):
            return None
        return self._assignment_mask(found.group(2))

    def _assignment_mask(self, after: str) -> torch.Tensor:
        """Return tokens (V,) after which ``after`` + token can still be an assignment."""
        mask = self._assignment_masks.get(after)
        if mask is None:
            index = self.index
            # tokens led by anything but an operator character all behave like "x"
            mask = index.operator_others & (assignment_state(after + "x") is not None)  # (V,)
            allowed = [
                i
                for i, t in zip(index.operator_ids, index.operator_texts, strict=True)
                if assignment_state(after + t) is not None
            ]
            if allowed:
                mask = mask.clone()
                mask[torch.tensor(allowed, dtype=torch.long)] = True
            self._assignment_masks[after] = mask
        return mask

    def _members(self, extra: str, trim: int) -> frozenset[str] | None:
        """Return the oracle's answer (memoised per request); empty sets mean unknown."""
        key = (extra, trim)
        if key not in self._answers:
            answer = self.oracle.members(extra, trim)
            if answer is not None and not isinstance(answer, frozenset):
                answer = frozenset(answer)
            self._answers[key] = answer or None
        return self._answers[key]

    def _member_mask(
        self, members: frozenset[str], fragment: str
    ) -> tuple[torch.Tensor | None, int]:
        """Return (allowed tokens after ``.fragment``, masked count), cached by (M, p)."""
        key = (members, fragment)
        cached = self._member_masks.get(key)
        if cached is None:
            suffixes = frozenset(m[len(fragment) :] for m in members if m.startswith(fragment))
            mask = self._suffix_mask(suffixes)
            cached = (mask, 0 if mask is None else int((~mask).sum()))
            self._member_masks[key] = cached
        return cached

    def _suffix_mask(self, suffixes: frozenset[str]) -> torch.Tensor | None:
        """Return tokens that spell one of ``suffixes`` further (None if none can)."""
        if suffixes not in self._suffix_masks:
            mask: torch.Tensor | None = None
            if suffixes:
                allowed = self.index.identifier_mask(suffixes)  # (V,)
                if "" in suffixes:
                    allowed = allowed | self._eos  # a complete member may end the draft
                mask = allowed if bool(allowed.any()) else None  # never mask every token
            self._suffix_masks[suffixes] = mask
        return self._suffix_masks[suffixes]

    def _crossing_mask_after(self, draft: str, text: str) -> torch.Tensor | None:
        """Return the mask checking ``.member`` tokens after ``text`` (None: nothing to check)."""
        if not (self._has_dot_tokens or self._python) or not may_end_receiver(text):
            return None
        members = self._members(draft, 0)
        if not members or self._assignable(draft, 0):
            return None
        if members not in self._crossing_masks:
            mask = self.index.crossing_mask(members)  # (V,)
            if self._python and "__call__" not in members:
                mask = mask & ~self._call_mask  # (V,) not callable: no "(" after it
            self._crossing_masks[members] = None if bool(mask.all()) else mask
        return self._crossing_masks[members]
