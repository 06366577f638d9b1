"""Repetition penalty: structural (grammar-based) and content loops, as one logits constraint.

The structural part follows RPG (Dong et al. 2025, "Rethinking Repetition
Problems of LLMs in Code Generation"): when the generated statements of a block
repeat a shape, the probability of the *key token* that began each copy is
decayed at the point where the next copy would start, more with every further
copy, and ending the completion is favoured. The grammar work (statement
signatures, periods 1..8, the free copy) happens on the analysis side; this
module only sees plain data through :class:`RepetitionOracle` (text in,
:class:`RepetitionReport`-shaped object out), because ``models`` never imports
``analysis``.

The oracle also reports repetition *inside* one logical line, found the same
way at the level of abstract tokens: self-similar nesting
(``path.join(os.join(path.join(``) and repeated operand or argument patterns
(``_len(result) or _len(result) and _len(``); the report's ``kind`` says which,
and the name that began each copy is its anchor, lowered where the next copy
would begin, exactly like a statement's key token.

The same constraint stops the content loops small models fall into without any
oracle: the same line written again and again, and token-level tandem repeats
inside a line (``_color_color_color_``, ``67, 67, 67, 67``).

The penalty is scale-free and works in log space: with ``spread = max - mean``
of the row's finite logits (a temperature-proportional measure of how peaked the
distribution is), a penalised token loses ``strength * excess * spread`` and the
end-of-sequence ids gain the same (a token-level tandem repeat also raises newline
tokens, but only where the draft has no bracket open: a newline inside brackets
carries the loop to the next line instead of ending it). Only the tokens that
would begin the next copy are touched; punctuation such as ``=``, ``(``, ``,``
never is. Rows without a repetition keep their logits bit for bit, and when no
row repeats the input tensor itself is returned.

Per-draft state lives in a dict keyed by the tuple of generated ids and is
extended from the parent tuple, so the constraint works inside greedy, beam,
sampling and superposed decoding, where rows fork and reorder.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from models.token_table import TokenTable

log = logging.getLogger(__name__)

MAX_TANDEM_PERIOD = 8
# what was penalised -> the per-draft statistic counting it
STAT_NAMES = {
    "structure": "repetition_structural",
    "line": "repetition_lines",
    "tandem": "repetition_tandem",
    "nesting": "repetition_nesting",
    "operands": "repetition_operands",
}
_ORACLE_KINDS = {"statement": "structure", "nesting": "nesting", "operands": "operands"}
_AT_LINE_START = frozenset({"structure", "line"})  # ending there leaves complete statements
DEFAULT_END_BOOST = 1.0
DEFAULT_STRENGTH = 0.5
_ANCHOR = re.compile(r"@?(?:[^\W\d]|\$)[\w$]*(?:\.(?:[^\W\d]|\$)[\w$]*)*")
_LOOKUP_ATTR = "_repetition_lookup"


# ------------------------------------------------------------------ plain data across the boundary


@runtime_checkable
class RepetitionSignal(Protocol):
    """What an oracle reports (read-only fields; :class:`RepetitionReport` is one).

    An optional ``kind`` field (``"statement"``, ``"nesting"``, ``"operands"``) says what
    repeats; without it the report is about statements."""

    @property
    def period(self) -> int: ...
    @property
    def copies(self) -> int: ...
    @property
    def excess(self) -> int: ...
    @property
    def anchors(self) -> tuple[str, ...]: ...
    @property
    def at_unit_start(self) -> bool: ...


@dataclass(frozen=True)
class RepetitionReport:
    """Tail repetition of a draft's generated statements or line (plain data).

    ``kind`` is ``"statement"``, ``"nesting"`` or ``"operands"`` (oracles without the
    field report statements)."""

    period: int
    copies: int
    excess: int  # penalised copies beyond the first (and the free one)
    anchors: tuple[str, ...]  # surface text that began each repeated unit ("assert", "self.x")
    at_unit_start: bool  # the draft ends where the next unit of that block would start
    kind: str = "statement"


class RepetitionOracle(Protocol):
    """Reports structural repetition of a draft (e.g. ``analysis.statements.StatementRepetition``)."""

    def report(self, draft_text: str) -> RepetitionSignal | None: ...


# ------------------------------------------------------------------ vocabulary lookups


@dataclass(eq=False)
class _Lookup:
    """Token ids by spelling, built once per :class:`TokenTable` (no per-step vocab loop)."""

    by_text: dict[str, list[int]]  # exact text -> ids
    by_stripped: dict[str, list[int]]  # text without leading whitespace -> ids
    by_lead_word: dict[str, list[int]]  # leading identifier of stripped text + non-word rest
    line_enders: list[int]  # whitespace-only tokens holding a newline
    max_len: int


def _lookup(table: TokenTable) -> _Lookup:
    """Return the (cached) spelling index of ``table``."""
    cached = getattr(table, _LOOKUP_ATTR, None)
    if cached is not None:
        return cached
    by_text: dict[str, list[int]] = {}
    by_stripped: dict[str, list[int]] = {}
    by_lead_word: dict[str, list[int]] = {}
    enders: list[int] = []
    special = table.special.tolist()
    partial = table.partial_utf8.tolist()
    max_len = 0
    for i, text in enumerate(table.texts):
        if special[i] or partial[i] or not text:
            continue
        max_len = max(max_len, len(text))
        by_text.setdefault(text, []).append(i)
        stripped = text.lstrip()
        if not stripped:
            if "\n" in text:
                enders.append(i)
            continue
        by_stripped.setdefault(stripped, []).append(i)
        word = re.match(r"[\w$]+", stripped)
        if word and len(word.group(0)) < len(stripped):
            by_lead_word.setdefault(word.group(0), []).append(i)
    found = _Lookup(by_text, by_stripped, by_lead_word, enders, max_len)
    setattr(table, _LOOKUP_ATTR, found)
    return found


def is_wordish(text: str) -> bool:
    """True when the first non-blank character of ``text`` is a word character (not `=`, `(`)."""
    stripped = text.lstrip()
    return bool(stripped) and (stripped[0].isalnum() or stripped[0] in "_$@")


def anchor_of(line: str) -> str | None:
    """The keyword or dotted name a line starts with (``self.x = 1`` -> ``self.x``)."""
    match = _ANCHOR.match(line.lstrip())
    return match.group(0) if match else None


def tandem_repeat(
    ids: Iterable[int], max_period: int = MAX_TANDEM_PERIOD
) -> tuple[int, int] | None:
    """(period, trailing run) of the longest periodic tail of ``ids``, or None.

    ``run`` counts trailing positions ``i`` with ``ids[i] == ids[i - period]``;
    the repeated region is ``run + period`` tokens long.
    """
    seq = list(ids)
    best: tuple[int, int] | None = None
    for period in range(1, max_period + 1):
        run = 0
        while run < len(seq) - period and seq[-1 - run] == seq[-1 - run - period]:
            run += 1
        if run > 0 and (best is None or run > best[1]):
            best = (period, run)
    return best


def bracket_balance(text: str) -> int:
    """Opening minus closing brackets of ``text`` (a cheap count; strings not excluded)."""
    return sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")


def logit_spread(values: torch.Tensor) -> float | None:
    """``max - mean`` of the finite entries of one row (V,); None when none is finite.

    Proportional to the temperature and blind to additive constants, so a
    penalty measured in spreads is scale-free. Masked (-inf) entries are ignored.
    """
    spread = float(logit_spreads(values.reshape(1, -1))[0])
    return None if math.isnan(spread) else spread


def logit_spreads(values: torch.Tensor) -> torch.Tensor:
    """:func:`logit_spread` of every row of ``values`` (R, V) -> (R,) float64, NaN where none is finite."""
    finite = torch.isfinite(values)  # (R, V)
    count = finite.sum(dim=-1)  # (R,)
    top = torch.where(finite, values, float("-inf")).max(dim=-1).values.double()  # (R,)
    total = torch.where(finite, values, 0.0).sum(dim=-1).double()  # (R,)
    spread = (top - total / count.clamp(min=1)).clamp(min=1e-3)  # (R,)
    return torch.where(count > 0, spread, torch.full_like(spread, float("nan")))


def min_tandem_copies(period: int) -> int:
    """Full copies of a token period needed before the next copy is penalised.

    One- and two-token units legitimately occur twice in a row in code
    (``[0, 0]``, ``x * x``, ``"ab" "ab"``), so they need three copies before the
    fourth is penalised; a unit of three to eight tokens written twice back to
    back inside one line is already a loop in practice (``_color_color``), so the
    third copy is penalised. Only the copy's word token is ever lowered.
    """
    return 3 if period <= 2 else 2


# ------------------------------------------------------------------ per-draft state


@dataclass(eq=False)
class _DraftState:
    """What the constraint knows about one generated-id prefix."""

    parent: _DraftState | None
    ids: tuple[int, ...]
    data: bytes  # generated bytes
    runs: tuple[int, ...]  # runs[p-1]: trailing positions with ids[i] == ids[i-p]
    last_line: str | None  # last complete non-blank generated line
    line_copies: int  # how many times in a row it was written
    # filled when this prefix is scored
    kind: str | None = None  # a key of STAT_NAMES when penalised
    excess: int = 0

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _root_state() -> _DraftState:
    return _DraftState(None, (), b"", (0,) * MAX_TANDEM_PERIOD, None, 0)


class RepetitionPenalty:
    """Grammar-based and content repetition penalty (a LogitsConstraint + ReportingConstraint).

    ``oracle`` reports structural repetition of the draft text (None: content
    loops only). ``strength`` scales the penalty per excess copy in units of the
    row's logit spread; ``max_period`` bounds token-level tandem periods.
    ``end_boost`` multiplies the raise of the end-of-sequence ids where a repeated
    statement or line would start (ending there leaves complete statements; inside a
    line the raise stays ``strength * excess * spread``).
    """

    name = "repetition"

    def __init__(
        self,
        table: TokenTable,
        oracle: RepetitionOracle | None,
        eos_ids: Iterable[int],
        strength: float = DEFAULT_STRENGTH,
        max_period: int = MAX_TANDEM_PERIOD,
        lines: bool = True,
        tandem: bool = True,
        end_boost: float = DEFAULT_END_BOOST,
    ) -> None:
        if not strength > 0:
            raise ValueError("strength must be > 0")
        if not 1 <= max_period <= MAX_TANDEM_PERIOD:
            raise ValueError(f"max_period must be in 1..{MAX_TANDEM_PERIOD}")
        if oracle is not None and not callable(getattr(oracle, "report", None)):
            raise TypeError("oracle must have a report(draft_text) method")
        self.table = table
        self.oracle = oracle
        self.eos_ids = sorted({int(i) for i in eos_ids})
        if any(not 0 <= i < table.vocab_size for i in self.eos_ids):
            raise ValueError("eos id outside the vocabulary")
        self.strength = float(strength)
        if not end_boost > 0:
            raise ValueError("end_boost must be > 0")
        self.end_boost = float(end_boost)
        self.max_period = max_period
        self.lines = lines
        self.tandem = tandem
        self._lookup = _lookup(table)
        self._states: dict[tuple[int, ...], _DraftState] = {(): _root_state()}
        self._anchor_ids: dict[str, tuple[int, ...]] = {}
        self._copy_ids: dict[tuple[str, int], tuple[int, ...]] = {}

    # ------------------------------------------------------------ state

    def _state(self, ids: tuple[int, ...]) -> _DraftState:
        """The state of ``ids``, extended from the longest known prefix."""
        state = self._states.get(ids)
        if state is not None:
            return state
        known = len(ids) - 1
        while ids[:known] not in self._states:
            known -= 1
        state = self._states[ids[:known]]
        for n in range(known + 1, len(ids) + 1):
            state = self._extended(state, ids[:n])
            self._states[ids[:n]] = state
        return state

    def _extended(self, parent: _DraftState, ids: tuple[int, ...]) -> _DraftState:
        """The parent's state after one more token (incremental: O(max_period + token))."""
        token = ids[-1]
        surface = self.table.surfaces[token]
        runs = tuple(
            parent.runs[p - 1] + 1 if len(ids) > p and ids[-1 - p] == token else 0
            for p in range(1, MAX_TANDEM_PERIOD + 1)
        )
        data = parent.data + surface
        last_line, copies = parent.last_line, parent.line_copies
        if b"\n" in surface:
            line_start = parent.data.rfind(b"\n") + 1
            finished = data[line_start : data.rfind(b"\n")].split(b"\n")
            for raw in finished:
                line = raw.decode("utf-8", errors="replace").rstrip("\r")
                if not line.strip():
                    continue  # blank lines are transparent
                if line == last_line:
                    copies += 1
                else:
                    last_line, copies = line, 1
        return _DraftState(parent, ids, data, runs, last_line, copies)

    # ------------------------------------------------------------ detectors

    def _anchor_token_ids(self, anchor: str) -> tuple[int, ...]:
        """Tokens whose text, leading whitespace stripped, spells a prefix of ``anchor``
        or ``anchor`` followed by a non-word character."""
        found = self._anchor_ids.get(anchor)
        if found is None:
            ids: set[int] = set()
            for j in range(1, len(anchor) + 1):
                ids.update(self._lookup.by_stripped.get(anchor[:j], ()))
            ids.update(self._lookup.by_lead_word.get(anchor, ()))
            found = self._anchor_ids[anchor] = tuple(sorted(ids))
        return found

    def _copy_token_ids(self, copy_text: str, first_len: int) -> tuple[int, ...]:
        """Tokens spelling the start of the next tandem copy (at least its first token)."""
        key = (copy_text, first_len)
        found = self._copy_ids.get(key)
        if found is None:
            target = copy_text * 2
            ids: set[int] = set()
            for j in range(first_len, min(len(target), self._lookup.max_len) + 1):
                ids.update(self._lookup.by_text.get(target[:j], ()))
            found = self._copy_ids[key] = tuple(sorted(ids))
        return found

    def _structural(self, state: _DraftState) -> tuple[int, tuple[int, ...], str] | None:
        """(excess, ids to lower, kind) when the oracle says the next unit (a statement, or a
        copy of a nesting or operand pattern inside the line) would be another copy."""
        if self.oracle is None:
            return None
        try:
            report = self.oracle.report(state.text)
        except Exception:  # noqa: BLE001 - an analysis bug must never break decoding
            log.exception("repetition oracle failed; structural penalty disabled")
            self.oracle = None
            return None
        if report is None or not report.at_unit_start or report.excess < 1:
            return None
        ids: set[int] = set()
        for anchor in report.anchors:
            if is_wordish(anchor):
                ids.update(self._anchor_token_ids(anchor))
        kind = _ORACLE_KINDS.get(getattr(report, "kind", "statement"), "structure")
        return report.excess, tuple(sorted(ids)), kind

    def _line(self, state: _DraftState) -> tuple[int, tuple[int, ...]] | None:
        """(excess, ids) when the same line was written twice and a new line is starting."""
        if not self.lines or state.line_copies < 2 or state.last_line is None:
            return None
        partial = state.data[state.data.rfind(b"\n") + 1 :]
        if partial.strip():
            return None  # only where the next line starts
        anchor = anchor_of(state.last_line)
        if anchor is None:
            return None
        return state.line_copies - 1, self._anchor_token_ids(anchor)

    def _tandem(self, state: _DraftState) -> tuple[int, tuple[int, ...]] | None:
        """(excess, ids) when the token tail repeats a unit inside a line and goes on."""
        if not self.tandem:
            return None
        best: tuple[int, int] | None = None  # (period, run)
        for period in range(1, self.max_period + 1):
            run = state.runs[period - 1]
            copies = (run + period) // period
            if copies < min_tandem_copies(period):
                continue
            if best is None or run > best[1]:
                best = (period, run)
        if best is None:
            return None
        period, run = best
        unit = state.ids[-period:]
        if any(bool(self.table.has_newline[i]) for i in unit):
            return None  # whole lines repeating are the line detector's business
        first = self.table.texts[unit[0]]
        if not is_wordish(first):
            return None  # never touch `,` `(` `=`: wait for the copy's word token
        copy_text = "".join(self.table.texts[i] for i in unit)
        ids = self._copy_token_ids(copy_text, len(first))
        excess = (run + period) // period - min_tandem_copies(period) + 1
        return excess, ids

    # ------------------------------------------------------------ constraint

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Lower the tokens that would begin another copy; raise ending. (rows, V) -> (rows, V)."""
        if input_ids.dim() != 2 or scores.dim() != 2 or input_ids.shape[0] != scores.shape[0]:
            raise ValueError("expected input_ids (rows, t) and scores (rows, V)")
        # 1. each draft's penalty, where its tail repeats (cached by its generated ids)
        penalised: list[tuple[int, tuple[str, int, tuple[int, ...], tuple[int, ...]]]] = []
        for row, ids in enumerate(input_ids.tolist()):
            state = self._state(tuple(ids))
            penalty = self._penalty(state)
            if penalty is not None:
                state.kind, state.excess = penalty[0], penalty[1]
                penalised.append((row, penalty))
        if not penalised:
            return scores
        # 2. the logit spread of every penalised row at once
        rows = torch.tensor([row for row, _ in penalised], dtype=torch.long, device=scores.device)
        spreads = logit_spreads(scores[rows]).tolist()  # (R,)
        # 3. one scatter: lower the copy's tokens, raise the enders, in spreads
        at_rows: list[int] = []
        at_ids: list[int] = []
        shifts: list[float] = []
        for (row, (kind, excess, lowered, raised)), spread in zip(penalised, spreads, strict=True):
            if math.isnan(spread):
                continue  # nothing finite to measure a spread on
            delta = self.strength * excess * spread
            boost = self.end_boost if kind in _AT_LINE_START else 1.0
            at_rows += [row] * (len(lowered) + len(raised))
            at_ids += [*lowered, *raised]
            shifts += [-delta] * len(lowered) + [boost * delta] * len(raised)
        out = scores.clone()  # (rows, V)
        if at_rows:
            r = torch.tensor(at_rows, dtype=torch.long, device=scores.device)  # (n,)
            c = torch.tensor(at_ids, dtype=torch.long, device=scores.device)  # (n,)
            out[r, c] = scores[r, c] + torch.tensor(
                shifts, dtype=scores.dtype, device=scores.device
            )
        return out

    def _penalty(
        self, state: _DraftState
    ) -> tuple[str, int, tuple[int, ...], tuple[int, ...]] | None:
        """(kind, excess, ids to lower, ids to raise) for one draft, or None."""
        found: list[tuple[int, str, tuple[int, ...], tuple[int, ...]]] = []
        structural = self._structural(state)
        if structural is not None:
            found.append((structural[0], structural[2], structural[1], tuple(self.eos_ids)))
        line = self._line(state)
        if line is not None and line[1]:
            found.append((line[0], "line", line[1], tuple(self.eos_ids)))
        tandem = self._tandem(state)
        if tandem is not None and tandem[1]:
            enders = tuple(self.eos_ids)
            if bracket_balance(state.text) <= 0:  # a newline would end the statement, not
                enders += tuple(self._lookup.line_enders)  # carry the loop to the next line
            found.append((tandem[0], "tandem", tandem[1], enders))
        if not found:
            return None
        excess, kind, _, _ = max(found, key=lambda f: f[0])
        lowered = tuple(sorted({i for f in found for i in f[2]}))
        raised = tuple(sorted({i for f in found for i in f[3]} - set(lowered)))
        return kind, excess, lowered, raised

    # ------------------------------------------------------------ reporting

    def stats(self, draft_ids: tuple[int, ...]) -> dict[str, Any]:
        """Penalties applied along one draft's path (its prefixes, the final step included)."""
        counts = dict.fromkeys(STAT_NAMES, 0)
        max_excess = 0
        # the last token of a draft cut by the token limit was never scored: extend to it
        state: _DraftState | None = self._state(tuple(int(i) for i in draft_ids))
        while state is not None:
            if state.kind is not None:
                counts[state.kind] += 1
                max_excess = max(max_excess, state.excess)
            state = state.parent
        return {
            "repetition_penalties": sum(counts.values()),
            "repetition_max_excess": max_excess,
            **{STAT_NAMES[kind]: count for kind, count in counts.items()},
        }
