"""Clean drafts: fit raw model continuations into the code around the cursor.

A language model continues the text before the cursor; what the editor shows
must also fit the text *after* it. This module is the engine-side, pure-logic
post-processing of completion drafts (no LSP, no model):

* **single or multi-line** (:func:`wants_multiline`): ``multiline`` = ``never``
  or a cursor in the middle of a line gives one line; ``auto`` gives several
  lines only at the end of a line that is blank or opens a block.
* **block-end stop** (:func:`stop_index`, a ``models.decoding.StopCondition``):
  a multi-line draft ends where the enclosing block ends (Python: the first
  line indented below the block; JavaScript/TypeScript: the ``}`` closing the
  enclosing block, kept only when the document does not close that block
  later), at two blank lines in a row, or before it repeats (or, cut short,
  restarts) the document's next line. This generalises the stop sequences of
  Chen et al. 2021, "Evaluating Large Language Models Trained on Code"
  (Codex), which cut samples at the first top-level ``\\ndef``/``\\nclass``/
  ``\\nif``, to any block depth and to brace languages.
* **suffix overlap**: closers the editor auto-inserted after the cursor
  (``)``, ``]``, ``}``, quotes) and any tail of the draft that repeats the rest
  of the line are *overwritten* through :attr:`CleanDraft.replace_end` rather
  than duplicated; the overlap is chosen by comparing the bracket/string
  balance of the line with and without it. A draft that only retypes what
  follows the cursor changes nothing and is dropped.
* **no broken lexical state**: a draft never closes a bracket or string that
  the document closes later, never leaves a string or block comment it opened
  unterminated, and never adds a closer nothing opened.
* **indentation**: later lines keep their relative indentation in the
  document's unit (tabs or n spaces, detected from the document); trailing
  whitespace and trailing blank lines go; empty drafts and duplicates (edits
  that produce the same document) are dropped; CRLF documents get CRLF drafts.

Language awareness comes from the project's one lexer, :mod:`analysis.lexer`
(strings with prefixes and triple quotes, f-string and template interpolations,
comments, regex literals, brackets, backslash continuations), read through
:meth:`analysis.lexer.Lexer.scan`, not from a syntax tree: the code around a
cursor is incomplete by nature, the facts needed are lexical, and the stop
condition runs at every decoding step. Unsupported languages (``None``) get
brackets, double-quoted strings and the indentation rules only. Every public function accepts any input without
raising (the :class:`DraftContext` constructor validates; :func:`draft_context`
is the forgiving way to build one).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from analysis.languages import SUPPORTED_LANGUAGES, language_for
from analysis.lexer import CODE_STATE, Lexer, Scan, State, open_brackets

__all__ = [
    "LANGUAGES",
    "MULTILINE_MODES",
    "CleanDraft",
    "DraftContext",
    "clean_draft",
    "clean_drafts",
    "draft_context",
    "stop_condition",
    "stop_index",
    "wants_multiline",
]

LANGUAGES: tuple[str, ...] = SUPPORTED_LANGUAGES  # the one language table: analysis.languages
MULTILINE_MODES: tuple[str, ...] = ("auto", "never", "always")
_WINDOW = 64_000  # characters analysed on each side of the cursor
_MAX_DRAFT = 20_000  # longer drafts are cut before processing (512 tokens is ~2,000)
_MAX_OVERLAP = 256  # longest line-suffix overlap considered
_MAX_OVERLAP_CANDIDATES = 8
_NEXT_LINE_SCAN = 64  # lines searched for the document's next non-blank line
_LINE_SUFFIX_CLOSERS = frozenset(")]}\"'`;,: \t")  # a suffix of only these is not "mid-line"
_PREFER_OVERWRITE = frozenset(")]}\"'`;,:")
_MULTILINE_QUOTES = frozenset(("'''", '"""', "`", "/*"))
_LINE_COMMENTS = frozenset(("#", "//"))


# --------------------------------------------------------------------------- public data


@dataclass(frozen=True)
class DraftContext:
    """Where a completion goes: the whole document, the cursor and the settings that matter.

    Build it with :func:`draft_context` (forgiving); the constructor validates.
    Facts derived from the document are computed once per context, lazily.
    """

    text: str  # the whole document
    offset: int  # cursor, code-point offset into text
    language: str | None  # "python" | "javascript" | "typescript" | "tsx" | None
    multiline: str  # "auto" | "never" | "always"
    # a line start <= offset where the code is at top level (nothing open): the lexical
    # state at the cursor is read from there (the analysis knows one from the syntax
    # tree); None: from a bounded window before the cursor
    restart: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError("text must be a str")
        if not isinstance(self.offset, int) or not 0 <= self.offset <= len(self.text):
            raise ValueError(f"offset {self.offset!r} outside the document (0..{len(self.text)})")
        if self.language is not None and self.language not in LANGUAGES:
            raise ValueError(f"unsupported language {self.language!r}; use draft_context()")
        if self.multiline not in MULTILINE_MODES:
            raise ValueError(f"multiline must be one of {MULTILINE_MODES}")
        if self.restart is not None and not (
            isinstance(self.restart, int) and 0 <= self.restart <= self.offset
        ):
            raise ValueError(f"restart {self.restart!r} outside 0..offset ({self.offset})")

    @cached_property
    def _facts(self) -> _Facts:
        return _Facts(self)


@dataclass(frozen=True)
class CleanDraft:
    """An edit: ``text`` replaces ``document[offset:replace_end]`` (usually an insertion)."""

    text: str  # text to insert
    replace_end: int  # code-point offset; > offset when auto-closed characters are overwritten


def draft_context(
    text: str,
    offset: int,
    language: str | None = None,
    multiline: str = "auto",
    restart: int | None = None,
) -> DraftContext:
    """A valid :class:`DraftContext` from loose input: offset clamped, unknown values
    defaulted (a ``restart`` past the cursor or of another type: none)."""
    if not isinstance(text, str):
        text = ""
    try:
        offset = min(max(int(offset), 0), len(text))
    except (TypeError, ValueError, OverflowError):
        offset = 0
    mode = multiline if isinstance(multiline, str) and multiline in MULTILINE_MODES else "auto"
    if not isinstance(restart, int) or not 0 <= restart <= offset:
        restart = None
    return DraftContext(text, offset, _language_name(language), mode, restart)


def wants_multiline(ctx: DraftContext) -> bool:
    """Whether drafts at this cursor may span several lines.

    ``never`` or a cursor mid-line (text after it other than closing brackets,
    quotes and separators): no. ``always``: yes. ``auto``: only at the end of a
    line that is blank or opens a block (``:`` outside brackets in Python,
    ``{``/``(``/``[``/``=>`` in JavaScript, an opening bracket anywhere), never
    inside a line comment or after an unfinished one-line string.
    """
    return ctx._facts.multiline


def stop_index(draft_so_far: str, ctx: DraftContext) -> int | None:
    """Where the draft must end (an index into ``draft_so_far``), or None to go on.

    A ``StopCondition`` for decoders, called after each token: single-line mode
    stops at the first newline; multi-line mode at the end of the enclosing
    block, at two blank lines in a row, or before a line that repeats the
    document's next line. Always: before a closer of a bracket or string that
    the document closes later. Scans only the draft (document facts are cached
    on ``ctx``).
    """
    if not isinstance(draft_so_far, str) or not draft_so_far:
        return None
    cut = _cut_index(draft_so_far[:_MAX_DRAFT], ctx._facts, final=False)
    if cut is not None and cut > 0 and draft_so_far[cut - 1] == "\r":
        cut -= 1  # never leave half of a CRLF behind
    return cut


def stop_condition(ctx: DraftContext) -> Callable[[str], int | None]:
    """:func:`stop_index` bound to ``ctx``: a ``models.decoding.StopCondition`` for DecodeRequest."""

    def stop(draft_so_far: str) -> int | None:
        return stop_index(draft_so_far, ctx)

    return stop


def clean_draft(draft: str, ctx: DraftContext) -> CleanDraft | None:
    """The edit that fits ``draft`` at the cursor, or None when nothing useful remains."""
    if not isinstance(draft, str) or not draft.strip():
        return None
    facts = ctx._facts
    # 1. one newline convention while working; the document's on output
    text = _lf_newlines(draft[:_MAX_DRAFT])
    # 2. stop rules as the decoder would have applied them, the end of the draft counting as a line end
    cut = _cut_index(text, facts, final=True)
    if cut is not None:
        text = text[:cut]
    # 3. indentation in the document's unit, no trailing whitespace, no trailing blank lines
    text = _strip_lines(_reindented(text, facts))
    # a last line that restarts the document's next line (a draft cut short while repeating it)
    text = _without_restarted_next_line(text, facts)
    if not text.strip():
        return None
    # 4. bracket/string balance against the rest of the line: overwrite or trim
    text, overwrite = _fitted(text, facts)
    if not text.strip():
        return None
    replace_end = facts.offset + overwrite
    if text == ctx.text[facts.offset : replace_end]:
        return None
    if facts.newline != "\n":
        text = text.replace("\n", facts.newline)
    return CleanDraft(text, replace_end)


def clean_drafts(drafts: Sequence[str], ctx: DraftContext) -> list[tuple[int, CleanDraft]]:
    """Cleaned drafts in input order as ``(index into drafts, edit)``.

    Drops empty drafts and duplicates: edits that produce the same document.
    """
    suffix = ctx._facts.suffix
    seen: set[str] = set()
    survivors: list[tuple[int, CleanDraft]] = []
    for index, draft in enumerate(drafts):
        cleaned = clean_draft(draft, ctx)
        if cleaned is None:
            continue
        # edits that leave the same line behind are duplicates (`x` and `x)` over `)`)
        effect = cleaned.text + suffix[cleaned.replace_end - ctx.offset :]
        if effect in seen:
            continue
        seen.add(effect)
        survivors.append((index, cleaned))
    return survivors


def _language_name(language: object) -> str | None:
    if not isinstance(language, str):
        return None
    name = language.strip().lower()
    return name if name in LANGUAGES else language_for(name)


# --------------------------------------------------------------------------- syntax


@dataclass(frozen=True)
class _Syntax:
    """The layout rules of one language family; its lexical rules are ``lexer``'s."""

    lexer: Lexer  # the one lexer (analysis.lexer), for this family
    openers: tuple[str, ...]  # line endings that open a block, anywhere
    colon_opens: bool  # Python: a line ending with ':' outside brackets opens a block
    brace_blocks: bool  # a '}' closing the enclosing '{' ends a multi-line draft
    indent_blocks: bool  # a line indented below the block ends a multi-line draft


_PYTHON = _Syntax(
    lexer=Lexer("python"),
    openers=("(", "[", "{"),
    colon_opens=True,
    brace_blocks=False,
    indent_blocks=True,
)
_JAVASCRIPT = _Syntax(
    lexer=Lexer("javascript"),
    openers=("{", "(", "[", "=>"),
    colon_opens=False,
    brace_blocks=True,
    indent_blocks=False,
)
_PLAIN = _Syntax(
    lexer=Lexer("plain"),
    openers=("{", "(", "[", ":"),
    colon_opens=False,
    brace_blocks=False,
    indent_blocks=True,
)
_SYNTAX = {
    "python": _PYTHON,
    "javascript": _JAVASCRIPT,
    "typescript": _JAVASCRIPT,
    "tsx": _JAVASCRIPT,
}


# --------------------------------------------------------------------------- document facts


_LEADING = re.compile(r"[ \t]*")
# the indentation of a non-blank line after a newline (faster than ``^`` in MULTILINE mode)
_INDENTED_LINE = re.compile(r"\n([ \t]*)\S")


def _width(whitespace: str, tab: int) -> int:
    return sum(tab if ch == "\t" else 1 for ch in whitespace if ch in " \t")


def _leading(text: str, start: int = 0) -> str:
    match = _LEADING.match(text, start)
    return match.group() if match else ""


class _Facts:
    """Per-context facts about the document, computed once (lazily where costly)."""

    def __init__(self, ctx: DraftContext) -> None:
        text, offset = ctx.text, ctx.offset
        self.text = text
        self.offset = offset
        self.syntax = _SYNTAX.get(ctx.language or "", _PLAIN)
        self.line_start = text.rfind("\n", 0, offset) + 1
        line_end = text.find("\n", offset)
        self.line_end = len(text) if line_end < 0 else line_end
        self.prefix = text[self.line_start : offset].rstrip("\r")
        self.suffix = text[offset : self.line_end].rstrip("\r")
        self.indent = _leading(text, self.line_start)
        # lexical state at the cursor, from the restart line the analysis found (nothing
        # is open there), else from a bounded window before it
        if ctx.restart is not None:
            start = ctx.restart
        else:
            start = max(0, offset - _WINDOW)
            if start > 0:
                newline = text.find("\n", start, offset)
                start = offset if newline < 0 else newline + 1
        self.truncated = start > 0 and ctx.restart is None
        lexer = self.syntax.lexer
        before = lexer.scan(CODE_STATE, text[start:offset], unmatched_ok=self.truncated)
        self.state: State = before.state
        self.stack = open_brackets(self.state)  # open brackets, "${" for interpolations
        self.quote = lexer.quote(self.state)  # the open string or comment's delimiter
        statement_start = 0
        for line_start, nested in before.lines:
            if not nested:
                statement_start = line_start
        self.statement_indent = _leading(text, start + statement_start)
        # the rest of the line as it is now: the reference for balance comparisons
        self.line_scan = lexer.scan(self.state, self.suffix + "\n", unmatched_ok=self.truncated)
        self.line_stack = open_brackets(self.line_scan.state)
        self.line_quote = lexer.quote(self.line_scan.state)
        self.mid_line = any(ch not in _LINE_SUFFIX_CLOSERS for ch in self.suffix)
        self.fresh_line = not self.prefix.strip() and not self.suffix.strip()
        self.opens_block = self._opens_block()
        self.multiline = self._multiline(ctx.multiline)

    def _opens_block(self) -> bool:
        if self.quote is not None:
            return False
        code = self.prefix.rstrip()
        if any(code.endswith(opener) for opener in self.syntax.openers):
            return True
        return self.syntax.colon_opens and code.endswith(":") and not self.stack

    def _multiline(self, mode: str) -> bool:
        if mode == "never" or self.mid_line:
            return False
        if mode == "always":
            return True
        if self.quote in _LINE_COMMENTS:
            return False
        return not self.prefix.strip() or self.opens_block

    @cached_property
    def unit(self) -> tuple[bool, int] | None:
        """The document's indentation unit ``(tabs, width)``, or None when it shows none."""
        window = self.text[max(0, self.offset - _WINDOW) : self.offset + _WINDOW]
        indents = _INDENTED_LINE.findall("\n" + window)  # of each non-blank line
        spaced = [len(whitespace) for whitespace in indents if "\t" not in whitespace]
        tabs = len(indents) - len(spaced)
        spaces = len(spaced) - spaced.count(0)
        # the steps by which indentation grows from one space-indented line to the next
        steps = Counter(b - a for a, b in zip([0, *spaced], spaced, strict=False) if b > a)
        if tabs > spaces:
            return (True, 4)
        steps = Counter({step: count for step, count in steps.items() if 2 <= step <= 8})
        if not steps:
            return None
        return (False, max(steps, key=lambda step: (steps[step], -step)))

    @cached_property
    def tab(self) -> int:
        unit = self.unit
        return unit[1] if unit is not None and not unit[0] else 4

    @cached_property
    def newline(self) -> str:
        window = self.text[max(0, self.offset - _WINDOW) : self.offset + _WINDOW]
        crlf = window.count("\r\n")
        return "\r\n" if crlf and 2 * crlf >= window.count("\n") else "\n"

    @cached_property
    def block_width(self) -> int:
        """Python and plain text: a draft line indented less than this leaves the block."""
        if self.syntax is _PYTHON and self.stack:
            return _width(self.statement_indent, self.tab)
        if not self.prefix.strip():
            return _width(self.prefix, self.tab)
        return _width(self.indent, self.tab) + (1 if self.opens_block else 0)

    @cached_property
    def next_line(self) -> tuple[int, str] | None:
        """The document's next non-blank line after the cursor's, as ``(indent width, text)``."""
        start = self.line_end + 1
        for _ in range(_NEXT_LINE_SCAN):
            if start > len(self.text):
                return None
            end = self.text.find("\n", start)
            end = len(self.text) if end < 0 else end
            line = self.text[start:end].rstrip()
            if line.strip():
                return self.line_key(line)
            start = end + 1
        return None

    def line_key(self, line: str) -> tuple[int, str]:
        whitespace = _leading(line)
        return (_width(whitespace, self.tab), line[len(whitespace) :].rstrip())

    @cached_property
    def _closings(self) -> tuple[dict[int, str], str, str]:
        """Where the document closes what is open at the cursor: per stack position, and the string.

        ``"line"`` (on the cursor's line), ``"later"`` or ``"never"``.
        """
        if not self.stack and self.quote is None:
            return {}, "never", "never"
        tail = self.text[self.offset : self.offset + _WINDOW]
        scan = self.syntax.lexer.scan(self.state, tail, until_settled=True, unmatched_ok=True)
        unknown = self.offset + _WINDOW < len(self.text) and scan.end >= len(tail)
        default = "later" if unknown else "never"
        where = {pos: ("line" if at < len(self.suffix) else "later") for at, pos in scan.pops}
        string = default
        if scan.closed_at is not None:
            string = "line" if scan.closed_at < len(self.suffix) else "later"
        return where, string, default

    def closing(self, position: int) -> str:
        where, _, default = self._closings
        return where.get(position, default)

    @cached_property
    def string_closing(self) -> str:
        if self.quote not in _MULTILINE_QUOTES:
            return "never"
        return self._closings[1]


# --------------------------------------------------------------------------- stop rules


def _cut_index(draft: str, facts: _Facts, *, final: bool) -> int | None:
    """The earliest index where a stop rule ends ``draft``; ``final``: the draft is complete."""
    cuts: list[int] = []
    first_newline = draft.find("\n")
    if not facts.multiline and first_newline >= 0:
        cuts.append(first_newline)
    # a fresh line whose draft repeats the document's next line
    if facts.fresh_line and facts.next_line is not None:
        end = first_newline if first_newline >= 0 else (len(draft) if final else -1)
        if end >= 0 and facts.line_key(facts.prefix + draft[:end]) == facts.next_line:
            cuts.append(0)
    scan = facts.syntax.lexer.scan(facts.state, draft, unmatched_ok=facts.truncated)
    # closers of brackets opened before the cursor
    for at, position in scan.pops:
        if facts.closing(position) == "later":
            cuts.append(_cut_before_closer(draft, at, facts))
            break
        if facts.multiline and facts.syntax.brace_blocks and facts.stack[position] == "{":
            # the enclosing block ends here; the document does not close it after this line
            end = draft.find("\n", at)
            if end >= 0:
                cuts.append(end)
            break
    # the closer of a multi-line string or comment the document closes later
    if scan.closed_at is not None and facts.string_closing == "later":
        cuts.append(_cut_before_line(draft, scan.closed_at))
    if facts.multiline:
        block_end = _block_end(draft, scan.lines, facts, final=final)
        if block_end is not None:
            cuts.append(block_end)
    return min(cuts) if cuts else None


def _cut_before_closer(draft: str, at: int, facts: _Facts) -> int:
    """Cut before a closer the document has later; drop its line when it starts the next line."""
    cut = _cut_before_line(draft, at)
    start = draft.rfind("\n", 0, at) + 1
    if cut == at and start > 0 and facts.next_line is not None:
        width, text = facts.line_key(draft[start:at])
        if width == facts.next_line[0] and facts.next_line[1].startswith(text):
            return start - 1
    return cut


def _cut_before_line(draft: str, at: int) -> int:
    """``at``, or the end of the previous line when only indentation precedes ``at`` on its line."""
    start = draft.rfind("\n", 0, at) + 1
    if start > 0 and not draft[start:at].strip():
        return start - 1
    return at


def _block_end(
    draft: str, lines: list[tuple[int, bool]], facts: _Facts, *, final: bool
) -> int | None:
    """Multi-line rules over the draft's lines begun in code: dedent, blank pair, repetition."""
    n = len(draft)
    blank_end = -2  # index of the newline ending the previous blank line
    for start, nested in lines:
        j = start
        while j < n and draft[j] in " \t\r":
            j += 1
        if j == n:
            break  # the line is still being written
        if draft[j] == "\n":
            if blank_end == start - 1:
                return _previous_line_end(draft, start - 1)
            blank_end = j
            continue
        blank_end = -2
        whitespace = draft[start:j]
        if (
            facts.syntax.indent_blocks
            and not nested
            and _width(whitespace, facts.tab) < facts.block_width
        ):
            return start - 1
        end = draft.find("\n", j)
        if end < 0 and not final:
            break
        if facts.next_line is not None:
            line = draft[start : n if end < 0 else end]
            if facts.line_key(line) == facts.next_line:
                return start - 1
    return None


def _without_restarted_next_line(draft: str, facts: _Facts) -> str:
    """``draft`` without its last line when that line (not the first) begins the document's next."""
    start = draft.rfind("\n") + 1
    if start == 0 or facts.next_line is None:
        return draft
    width, text = facts.line_key(draft[start:])
    if text and width == facts.next_line[0] and facts.next_line[1].startswith(text):
        return _strip_lines(draft[: start - 1])
    return draft


def _previous_line_end(draft: str, newline: int) -> int:
    """For a blank line ending at ``newline``: where the blank run before the draft's text begins."""
    start = draft.rfind("\n", 0, newline)
    return max(start, 0)


# --------------------------------------------------------------------------- text shaping


def _lf_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _strip_lines(text: str) -> str:
    """No trailing whitespace on any line, no trailing blank lines."""
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip()


def _draft_unit(widths: list[int]) -> int | None:
    """The indentation step a draft uses, when its indentations show one clearly."""
    if not widths:
        return None
    step = min(widths)
    if step in (2, 3, 4, 8) and all(width % step == 0 for width in widths):
        return step
    return None


def _reindented(draft: str, facts: _Facts) -> str:
    """Lines after the first, begun in code, re-indented in the document's unit."""
    unit = facts.unit
    if unit is None or "\n" not in draft:
        return draft
    scan = facts.syntax.lexer.scan(facts.state, draft, unmatched_ok=True)
    spans: list[tuple[int, int, bool]] = []  # (line start, end of its indentation, continuation)
    for start, nested in scan.lines:
        end = start + len(_leading(draft, start))
        if end < len(draft) and draft[end] != "\n":
            spans.append((start, end, nested))
    if not spans:
        return draft
    tabs, tab = unit[0], facts.tab
    # the draft's own step, from its statement lines indented beyond the cursor's line
    base = _width(facts.indent, tab)
    relative = [_width(draft[s:e], tab) - base for s, e, nested in spans if not nested]
    step = _draft_unit([r for r in relative if r > 0]) or tab

    def indentation(whitespace: str) -> str:
        columns = _width(whitespace, tab)
        extra = columns - base
        if extra > 0 and step != tab:
            columns = base + (extra // step) * tab + extra % step
        if tabs:
            return "\t" * (columns // tab) + " " * (columns % tab)
        return " " * columns

    pieces: list[str] = []
    done = 0
    for start, end, _ in spans:
        pieces.append(draft[done:start])
        pieces.append(indentation(draft[start:end]))
        done = end
    pieces.append(draft[done:])
    return "".join(pieces)


# --------------------------------------------------------------------------- fitting to the line


def _fitted(draft: str, facts: _Facts) -> tuple[str, int]:
    """The draft trimmed of lexical damage, and how many characters after the cursor it overwrites."""
    for _ in range(8):
        overwrite, scan = _overlap(draft, facts)
        problem = _first_problem(draft, scan, facts)
        if problem is None:
            return draft, overwrite
        draft = _strip_lines(draft[:problem])
        if not draft.strip():
            return "", 0
    return draft, _overlap(draft, facts)[0]


def _overlap(draft: str, facts: _Facts) -> tuple[int, Scan]:
    """How much of the line after the cursor the draft should overwrite, and the scan of the result.

    Candidates: none, or a prefix of the rest of the line that the draft ends
    with. Each is scored by the damage to the line's lexical balance compared
    with the line as it is; ties go to overwriting closers, a long repeated
    tail, the whole rest of the line or a draft that only retypes it, and
    otherwise to plain insertion.
    """
    suffix = facts.suffix
    options = [0]
    for m in range(min(len(suffix), _MAX_OVERLAP), 0, -1):
        tail = suffix[:m].lstrip(" \t")
        if tail and draft.endswith(tail):
            options.append(m)
            if len(options) > _MAX_OVERLAP_CANDIDATES:
                break
    best: tuple[tuple[int, int, int], int, Scan] | None = None
    for m in options:
        damage, scan = _damage(draft, m, facts)
        tail = suffix[:m].strip()
        preferred = bool(tail) and (
            set(tail) <= _PREFER_OVERWRITE  # auto-closed brackets and quotes
            or len(tail) >= 3  # a repeated stretch of code
            or m == len(suffix)  # the whole rest of the line
            or draft.strip() == tail  # the draft only retypes what follows
        )
        rank = 0 if preferred else (1 if m == 0 else 2)
        key = (damage, rank, -m)
        if best is None or key < best[0]:
            best = (key, m, scan)
    assert best is not None
    return best[1], best[2]


def _damage(draft: str, overwrite: int, facts: _Facts) -> tuple[int, Scan]:
    """Lexical damage of inserting ``draft`` over ``overwrite`` characters, relative to the line now."""
    lexer = facts.syntax.lexer
    line = draft + facts.suffix[overwrite:] + "\n"
    scan = lexer.scan(facts.state, line, unmatched_ok=facts.truncated)
    damage = len(scan.errors) + (lexer.quote(scan.state) != facts.line_quote)
    return damage + _stack_distance(open_brackets(scan.state), facts.line_stack), scan


def _stack_distance(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return len(a) + len(b) - 2 * common


def _first_problem(draft: str, scan: Scan, facts: _Facts) -> int | None:
    """Where the draft damages the lexical state of the line (an index to cut at), or None."""
    size = len(draft)
    inside = [at for at in scan.errors if at < size]
    if inside:
        return min(inside)
    # the rest of the line lost what it closes to the draft: cut before the draft's closer
    if len(scan.errors) > len(facts.line_scan.errors):
        for at, _ in scan.pops:
            if at < size:
                return at
    # a string or block comment the draft opened and left open
    quote = facts.syntax.lexer.quote(scan.state)
    if quote is not None and quote != facts.line_quote:
        if scan.open_at is not None and scan.open_at < size:
            return scan.open_at
    return None
