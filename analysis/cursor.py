"""Facts about the cursor, computed once per request and read by every step of a completion.

The completion pipeline (``lsp_server.pipeline``) asks the same questions about the cursor
in several places: is it inside a string or comment, in the middle of a line, inside an
identifier or right after a member-access ``.``; which headers enclose it; which names
could the word being typed become. :func:`cursor_facts` answers all of them from one
document snapshot: its incremental tree, and one lexer pass lent by the request's
member oracle (:class:`analysis.context.MemberOracle`, built once here and shared with
the monitor), so the prompt, the FIM policy, the confidence cut and the identifier floor
read the same facts.

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
from typing import Any

import tree_sitter

from analysis import context as context_module
from analysis.context import MemberOracle, _family, document_path
from analysis.document import Document
from analysis.lexer import in_comment, in_string
from analysis.positions import byte_to_str_offset, str_offset_to_byte
from analysis.workspace import WorkspaceIndex

Node = tree_sitter.Node

HEAD_CHARS = 3_000  # the file's head: imports and module constants
BEFORE_CHARS = 12_000  # code before the cursor searched for names
AFTER_CHARS = 4_000  # code after the cursor searched for names
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
PYTHON_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset({"self", "cls"})


@dataclass
class CursorContext:
    """Plain facts about the cursor position used by prompt building and stop rules.

    ``block_indent``: indentation of the statements of the innermost block enclosing the
    cursor (Python: a line indented less than this ends the block); None when unknown (e.g.
    right after a block header whose body does not exist yet). ``enclosing_headers``:
    code-point ranges of the def/class/function header lines around the cursor, outermost
    first.
    """

    language: str | None
    in_string: bool = False
    in_comment: bool = False
    line_prefix: str = ""
    line_suffix: str = ""
    mid_line: bool = False
    indent: str = ""
    block_indent: str | None = None
    enclosing_headers: list[tuple[int, int]] = field(default_factory=list)


_HEADER_TYPES = {
    "python": frozenset({"function_definition", "class_definition"}),
    "javascript": frozenset(
        {
            "class_declaration",
            "abstract_class_declaration",
            "class",
            "function_declaration",
            "function_expression",
            "function",
            "generator_function_declaration",
            "generator_function",
            "method_definition",
            "arrow_function",
        }
    ),
}


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def cursor_context(
    document: Document, offset: int, oracle: MemberOracle | None = None
) -> CursorContext:
    """The :class:`CursorContext` at code-point ``offset`` of ``document`` (never raises).

    ``oracle`` (a member oracle of the same snapshot at ``offset``) lends its lexical
    facts, so a request lexes the text before the cursor once.
    """
    if oracle is not None:
        return _context(oracle.text, oracle.data, oracle.tree, document.language, oracle)
    text, data, tree = document.snapshot()
    offset = max(0, min(offset, len(text)))
    oracle = MemberOracle(text, data, tree, document.language, offset, None, None)
    return _context(text, data, tree, document.language, oracle)


def _context(
    text: str, data: bytes, tree: Any, language: str | None, oracle: MemberOracle
) -> CursorContext:
    offset = oracle.offset
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end < 0 else line_end
    line_prefix = text[line_start:offset]
    line_suffix = text[offset:line_end].rstrip("\r")
    context = CursorContext(
        language=language,
        line_prefix=line_prefix,
        line_suffix=line_suffix,
        mid_line=bool(line_suffix.strip()),
        indent=_indent_of(text[line_start:line_end]),
    )
    family = _family(language) if tree is not None else None
    if family is None:
        return context
    try:
        base = oracle.base(0)
        state = oracle.lexer.lex(base.line_state, line_prefix)
        context.in_string = in_string(state)
        context.in_comment = in_comment(state)
        statement_end = text.find("\n", base.statement_start)
        statement_line = text[
            base.statement_start : len(text) if statement_end < 0 else statement_end
        ]
        if base.statement_start == line_start:
            statement_indent = (
                _indent_of(line_prefix) if not line_prefix.strip() else _indent_of(statement_line)
            )
        else:
            statement_indent = _indent_of(statement_line)
        headers = _enclosing_header_nodes(
            text, data, tree, offset, line_prefix, family, statement_indent
        )
        context.enclosing_headers = [
            (byte_to_str_offset(text, start), byte_to_str_offset(text, end))
            for start, end in headers
        ]
        context.block_indent = _block_indent(
            text, data, tree, offset, line_start, line_prefix, statement_indent, family
        )
    except Exception:
        if context_module.STRICT:
            raise
    return context


def _probe_byte(text: str, offset: int) -> int:
    """Byte offset of the last non-whitespace character before ``offset`` (or 0)."""
    probe = offset
    while probe > 0 and text[probe - 1] in " \t\r\n":
        probe -= 1
    return str_offset_to_byte(text, max(0, probe - 1))


def _enclosing_header_nodes(
    text: str,
    data: bytes,
    tree: tree_sitter.Tree,
    offset: int,
    line_prefix: str,
    family: str,
    statement_indent: str,
) -> list[tuple[int, int]]:
    cursor_byte = str_offset_to_byte(text, offset)
    probe = _probe_byte(text, offset)
    node = tree.root_node.descendant_for_byte_range(probe, probe)
    headers: list[tuple[int, int]] = []
    types = _HEADER_TYPES[family]
    while node is not None:
        if node.type in types:
            body = node.child_by_field_name("body")
            header_start = data.rfind(b"\n", 0, node.start_byte) + 1
            if body is not None and body.type in ("block", "statement_block", "class_body"):
                body_start = body.start_byte
            else:
                body_start = node.end_byte if body is None else body.start_byte
            if cursor_byte > body_start or (
                body is not None and cursor_byte >= body_start and family == "python"
            ):
                inside = True
                if family == "python":
                    def_line = data[header_start : node.start_byte].decode("utf-8", "replace")
                    inside = len(_indent_of(def_line).expandtabs()) < len(
                        statement_indent.expandtabs()
                    )
                if inside:
                    header_end = data.find(
                        b"\n",
                        body_start
                        if family == "javascript"
                        else max(body_start - 1, node.start_byte),
                    )
                    if family == "python":
                        colon_line_end = data.find(b"\n", _header_colon(node, body_start))
                        header_end = colon_line_end
                    if header_end < 0:
                        header_end = len(data)
                    headers.append((header_start, header_end))
        node = node.parent
    headers.reverse()
    return headers


def _header_colon(node: Node, body_start: int) -> int:
    """Byte offset of the ``:`` ending a Python def/class header."""
    colon = node.start_byte
    for child in node.children:
        if child.type == ":" and child.start_byte < body_start:
            colon = child.start_byte
    return colon


def _block_indent(
    text: str,
    data: bytes,
    tree: tree_sitter.Tree,
    offset: int,
    line_start: int,
    line_prefix: str,
    statement_indent: str,
    family: str,
) -> str | None:
    if family == "python":
        previous = text[:line_start].rstrip()
        blank_line = not line_prefix.strip()
        if (
            not blank_line
            and line_prefix.rstrip().endswith(":")
            and not text[offset:].split("\n", 1)[0].strip()
        ):
            return None  # at the end of a header line: the body does not exist yet
        if blank_line and previous.endswith(":"):
            header_line = previous[previous.rfind("\n") + 1 :]
            if len(statement_indent.expandtabs()) > len(_indent_of(header_line).expandtabs()):
                return statement_indent
            return None
        return statement_indent
    # JavaScript/TypeScript: the innermost enclosing { } block's statement indentation
    cursor_byte = str_offset_to_byte(text, offset)
    node = tree.root_node.descendant_for_byte_range(cursor_byte, cursor_byte)
    while node is not None and not (
        node.type in ("statement_block", "class_body", "program", "switch_body", "object")
        and (
            node.type == "program"
            or node.start_byte < cursor_byte < node.end_byte
            or node.end_byte <= node.start_byte + 1
        )
    ):
        node = node.parent
    if node is None:
        return statement_indent
    if node.type == "program":
        first = next((c for c in node.named_children), None)
        return (
            ""
            if first is None
            else _indent_of(
                text[byte_to_str_offset(text, data.rfind(b"\n", 0, first.start_byte) + 1) :].split(
                    "\n", 1
                )[0]
            )
        )
    children = [c for c in node.named_children if c.type != "comment"]
    if not children:
        if not line_prefix.strip() and node.start_byte < cursor_byte:
            opener_line_start = data.rfind(b"\n", 0, node.start_byte) + 1
            opener_indent = _indent_of(
                data[opener_line_start : node.start_byte].decode("utf-8", "replace")
            )
            if len(line_prefix) > len(opener_indent):
                return line_prefix
        return None
    first = children[0]
    first_line_start = data.rfind(b"\n", 0, first.start_byte) + 1
    if first_line_start <= node.start_byte:
        return None  # statements on the opener's line
    return _indent_of(data[first_line_start : first.start_byte].decode("utf-8", "replace"))


@dataclass(frozen=True)
class CursorFacts:
    """What surrounds the cursor at code-point ``offset`` of a document snapshot."""

    text: str
    offset: int
    language: str | None
    context: CursorContext = field(repr=False)
    oracle: MemberOracle | None = field(default=None, repr=False)  # members after a "."

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

    @property
    def restart(self) -> int | None:
        """A line start <= the cursor where the code is at top level, nothing open: the
        lexical state at the cursor may be read from there (None without a syntax tree)."""
        if self.oracle is None or self.oracle.tree is None:
            return None
        try:
            return self.oracle.base(0).restart
        except Exception:  # totality: a failure means "not known"
            if context_module.STRICT:
                raise
            return None

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


def cursor_facts(
    document: Document, offset: int, workspace: WorkspaceIndex | None = None
) -> CursorFacts:
    """Return the :class:`CursorFacts` at code-point ``offset`` of ``document`` (never raises).

    One snapshot is read; the member oracle for the cursor (resolving through
    ``workspace``) is built once and kept on the facts for the request's monitor.
    """
    text, data, tree = document.snapshot()
    offset = max(0, min(offset, len(text)))
    path = document_path(document.uri)
    oracle = MemberOracle(text, data, tree, document.language, offset, path, workspace)
    context = _context(text, data, tree, document.language, oracle)
    return CursorFacts(text, offset, document.language, context, oracle)
