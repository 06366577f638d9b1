"""Facts about the cursor, computed once per request and read by every step of a completion.

The completion pipeline (``lsp_server.pipeline``) asks the same questions about the cursor
in several places: is it inside a string or comment, in the middle of a line, inside an
identifier or right after a member-access ``.``; which headers enclose it; which names
could the word being typed become. :func:`cursor_facts` answers all of them from one
document snapshot (its incremental tree and one lexer pass, via
:func:`analysis.context.cursor_context`), so the prompt, the FIM policy, the confidence
cut and the identifier floor read the same facts.

The identifier candidates (:meth:`CursorFacts.nearby_identifiers`) are lexical: the names
written in the window of code around the cursor (the file's head, where imports live, and
the code before and after the cursor), Python's builtins and keywords. They are what a
person is most likely to type next (Hellendoorn & Devanbu 2017, "Are deep neural networks
the best choice for modeling source code?", on the locality of identifiers), and never a
constraint: they only decide what ghost text may show when the model is unsure.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from functools import cached_property

from analysis.context import CursorContext, cursor_context
from analysis.document import Document

HEAD_CHARS = 3_000  # the file's head: imports and module constants
BEFORE_CHARS = 12_000  # code before the cursor searched for names
AFTER_CHARS = 4_000  # code after the cursor searched for names
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
PYTHON_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset({"self", "cls"})


@dataclass(frozen=True)
class CursorFacts:
    """What surrounds the cursor at code-point ``offset`` of a document snapshot."""

    text: str
    offset: int
    language: str | None
    context: CursorContext = field(repr=False)

    # -- the line ------------------------------------------------------------------------------

    @property
    def line_prefix(self) -> str:
        return self.context.line_prefix

    @property
    def line_suffix(self) -> str:
        return self.context.line_suffix

    @property
    def mid_line(self) -> bool:
        """Code follows the cursor on its line."""
        return self.context.mid_line

    @property
    def prose(self) -> bool:
        """The cursor is inside a string or a comment."""
        return self.context.in_string or self.context.in_comment

    @property
    def enclosing_headers(self) -> list[tuple[int, int]]:
        return self.context.enclosing_headers

    # -- the word being typed -----------------------------------------------------------------

    @cached_property
    def word_start(self) -> int:
        """Where the identifier ending at the cursor starts (the cursor if none does)."""
        start = self.offset
        while start > 0 and (self.text[start - 1].isalnum() or self.text[start - 1] == "_"):
            start -= 1
        if start < self.offset and self.text[start].isdigit():
            return self.offset  # a number, not a name
        return start

    @property
    def word(self) -> str:
        """The part of an identifier typed before the cursor ("" if none)."""
        return self.text[self.word_start : self.offset]

    @property
    def mid_word(self) -> bool:
        """The cursor is right after identifier characters."""
        return self.word_start < self.offset

    @property
    def after_dot(self) -> bool:
        """The word being typed (possibly empty) follows a member-access ``.``."""
        start = self.word_start
        return start > 0 and self.text[start - 1] == "." and not self.prose

    def nearby_identifiers(self) -> frozenset[str]:
        """Return the names written near the cursor, plus builtins and keywords (Python).

        The occurrence being typed at the cursor is not counted.
        """
        return self._nearby

    @cached_property
    def _nearby(self) -> frozenset[str]:
        text, start, end = self.text, self.word_start, self.offset
        head_end = min(HEAD_CHARS, max(0, start - BEFORE_CHARS))
        pieces = (
            text[:head_end],
            text[max(0, start - BEFORE_CHARS) : start],
            text[end : end + AFTER_CHARS],
        )
        names = {m.group(0) for piece in pieces for m in _IDENTIFIER.finditer(piece)}
        # the word at the cursor continues after it ("sel|f"): that tail is no name
        tail = _IDENTIFIER.match(text, end)
        if tail is not None and self.mid_word and tail.start() == end:
            names.discard(tail.group(0))
        if self.language == "python":
            names |= PYTHON_NAMES
        return frozenset(names)


def cursor_facts(document: Document, offset: int) -> CursorFacts:
    """Return the :class:`CursorFacts` at code-point ``offset`` of ``document`` (never raises)."""
    text = document.text
    offset = max(0, min(offset, len(text)))
    return CursorFacts(text, offset, document.language, cursor_context(document, offset))
