"""The member oracle queried by the decoding monitor (cursor facts: ``analysis.cursor``).

Monitor-guided decoding (Agrawal et al. 2023, "Guiding Language Models of Code with Global
Context using Monitors") asks, while drafts are generated, "the code so far ends here and a
``.`` follows: which identifiers may come next?". :class:`MemberOracle` answers with a set
of names, or None when the dot is not a member access in code (string, comment, number,
``...``, import dots) or when the receiver's type is not certain.

The oracle is built for one document snapshot and cursor. A call ``members(extra, trim)``
means: the code is ``text[:offset - trim] + extra``. It is designed for many calls per
second:

1. answers are cached per ``(trim, extra)``; a draft that does not end in an identifier or
   ``)`` is rejected before anything else;
2. the lexical state (string/comment/brackets) at the end of the code comes from a small
   incremental lexer (:mod:`analysis.lexer`) started from the state at the cursor and cached
   at every line start of ``extra``, so each call lexes at most the current line;
3. the receiver (``a``, ``a.b().c``, ``Foo()``, ``xs[0]``, ``d["k"].v``, ``self``, ``this``,
   ``new Foo()``) is read backwards from the end of the code;
4. its scope comes from an *environment* built once per statement start: the document
   with the draft's complete lines plus a placeholder statement at the receiver's
   indentation in place of the statement being written (with the lines it goes on over
   inside brackets after the cursor's), cached per statement start. Python re-parses
   only the top-level statements around the edit when the placeholder can take the
   length of the text it replaces (every other byte keeps its offset, so the document
   tree's own nodes serve for the rest of the module:
   :class:`analysis.python_symbols.Surround`) and that range is small against the
   document; for an edit inside one statement of a top-level class's body, only the class's
   header and that statement (:class:`analysis.python_symbols.BodySurround`); else the whole
   tree is re-parsed incrementally;
5. resolution results are cached per environment and receiver chain. A Python receiver
   whose type depends on call arguments (``sorted(xs)[0]``, ``d.get(k)``) or with a
   parenthesized head (``(a or b)``) is resolved as an expression parsed from its text, its
   names looked up at the placeholder -- unless the statement around it binds one of them;
6. environments outlive their oracle: the placeholder replaces the statement being written,
   so while a person types within one line, every request's environment has the same text
   byte for byte. The last few are kept (:data:`ENVIRONMENT_CACHE_SIZE`), keyed by that
   text and the workspace's generation, and the next request's oracle reuses one whole --
   tree, symbols and resolved receivers -- instead of re-parsing and re-resolving.
"""

from __future__ import annotations

import bisect
import keyword
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import tree_sitter

from analysis.document import Document
from analysis.languages import parser_for, path_of_uri, tree_sitter_language
from analysis.lexer import (
    CODE_STATE,
    Lexer,
    State,
    at_statement_boundary,
    is_code,
)
from analysis.positions import byte_point, byte_to_str_offset, encode, str_offset_to_byte
from analysis.python_symbols import BodySurround, PyModule, Surround, unwrap_definition
from analysis.resolution import PythonResolver, builtin_class
from analysis.workspace import WorkspaceIndex, default_stdlib

Node = tree_sitter.Node

PLACEHOLDER = "_"  # short, so that it fits in the text it replaces (see _padded)
# re-parse a range of top-level statements (not the whole tree) when it is at most this
# share of the document: tree-sitter parses a range from scratch four to eight times slower
# per byte than it re-parses a whole document incrementally (measured on 2,000-line files)
RANGE_PARSE_SHARE = 1 / 4
# an edit inside one statement of a top-level class's body re-parses the class's header and
# that statement only (the rest of the body read from the document's tree: BodySurround)
BODY_RANGES = True
MAX_SCAN = 4000  # characters scanned backwards for a receiver
MAX_CONTINUATION_LINES = 40  # lines a statement at the cursor is followed over
# a method's own object alone at the start of a line: `self.<new attribute> = ...` may follow
_OWN_OBJECT_LINE = {
    "python": re.compile(r"[ \t]*(self|cls)"),
    "javascript": re.compile(r"[ \t]*this"),
}
ANSWER_CACHE_SIZE = 8192
ENVIRONMENT_CACHE_SIZE = 4  # environments kept across requests (see step 6 above)
# Tests set this to True so that internal errors surface instead of becoming "no constraint".
STRICT = False

JS_KEYWORDS = frozenset(
    {
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "export",
        "extends",
        "finally",
        "for",
        "function",
        "if",
        "import",
        "in",
        "instanceof",
        "let",
        "new",
        "return",
        "super",
        "switch",
        "throw",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
        "await",
        "null",
        "true",
        "false",
        "undefined",
        "enum",
        "static",
        "async",
    }
)
_PY_NO_RECEIVER_WORDS = frozenset({"def", "class", "import", "from", "as", "global", "nonlocal"})
_JS_NO_RECEIVER_WORDS = frozenset(
    {"function", "class", "let", "const", "var", "import", "as", "interface", "type", "enum"}
)
_STATEMENT_CONTAINERS = frozenset(
    {
        "module",
        "block",
        "program",
        "statement_block",
        "class_body",
        "switch_body",
        "class_static_block",
    }
)
_STRINGISH = frozenset(
    {"string", "comment", "template_string", "regex", "string_fragment", "concatenated_string"}
)

Chain = tuple[tuple[tuple[str, int], ...], bool]  # ((name, calls), ...), new


@lru_cache(maxsize=256)
def document_path(uri: str) -> Path | None:
    """The filesystem path of a ``file://`` URI (or a plain path), else None (kept per
    URI: every request asks it)."""
    path = path_of_uri(uri)
    return None if path is None else Path(path)


def _family(language: str | None) -> str | None:
    if language == "python":
        return "python"
    if language in ("javascript", "typescript", "tsx"):
        return "javascript"
    return None


# -- receiver reading -------------------------------------------------------------------------


def _match_open(text: str, close: int, limit: int) -> int | None:
    """Index of the ``(`` matching the ``)`` at ``close`` scanning backwards (naive strings)."""
    depth = 0
    i = close
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    while i >= limit:
        char = text[i]
        if char in pairs:
            stack.append(pairs[char])
            depth += 1
        elif char in "([{":
            if not stack or stack[-1] != char:
                return None
            stack.pop()
            depth -= 1
            if depth == 0:
                return i
        elif char in "'\"`":
            j = i - 1
            while j >= limit and not (text[j] == char and (j == 0 or text[j - 1] != "\\")):
                j -= 1
            if j < limit:
                return None
            i = j
        i -= 1
    return None


def _is_ident_char(char: str, python: bool) -> bool:
    return char.isalnum() or char == "_" or (not python and char == "$")


def read_receiver(text: str, python: bool, extended: bool = False) -> tuple[Chain, int] | None:
    """The receiver chain ending ``text`` and its start index, or None if there is none.

    Accepts names, dotted chains and calls (``a.b().c``, ``Foo(x)``), ``self``/``cls``/
    ``this`` and ``new Foo()`` (JavaScript, with optional chaining and line breaks around
    dots). A Python string, bytes, list, dict or set literal as the head reads as an
    instance of its type (``", ".join`` as ``str().join``). Numbers, keywords,
    subscripts, other literals and ``..`` give None.

    ``extended`` (Python, what the member oracle reads): subscripts are read too, each as a
    part of its own spelled ``[N]`` (an integer literal index), ``[:]`` (a slice) or
    ``[?]`` (any other single index), followed by its calls (``f()[0]().x`` is ``f``,
    ``[0]``, ``x`` with one call each but ``x``); a subscript with several indices gives
    None. A literal head is spelled ``"str`` (with no call): an instance of the builtin
    class itself, whatever the name ``str`` is bound to. A parenthesized head
    (``(a or b).``, ``(await f()).``) is spelled ``(``: the oracle reads such a receiver
    as an expression (:meth:`analysis.resolution.PythonResolver.expression_members`).
    """
    i = len(text)
    limit = max(0, i - MAX_SCAN)
    parts: list[tuple[str, int]] = []
    extended = extended and python
    while True:
        calls = 0
        # postfix operations after the name, last first: "(" a call, "[..]" a subscript
        operations: list[str] = []
        while i > limit and (text[i - 1] == ")" or (extended and text[i - 1] == "]")):
            j = _match_open(text, i - 1, limit)
            if j is None:
                return None
            if text[i - 1] == ")":
                operations.append("(")
            else:
                if not _subscripted(text, j, limit):
                    break  # a list display: the literal head below
                index = _index_part(text[j + 1 : i - 1])
                if index is None:
                    return None
                operations.append(index)
            i = j
        operations.reverse()
        # the name's own calls, then each subscript with the calls of its result
        leading = 0
        while leading < len(operations) and operations[leading] == "(":
            leading += 1
        segments: list[tuple[str, int]] = []
        for op in operations[leading:]:
            if op == "(":
                segments[-1] = (segments[-1][0], segments[-1][1] + 1)
            else:
                segments.append((op, 0))
        calls = leading
        k = i
        while k > limit and _is_ident_char(text[k - 1], python):
            k -= 1
        name = text[k:i]
        if not name and calls and extended and _parenthesized(text, i, limit):
            # ``(a or b).``, ``(await f()).``: a parenthesized head, read as text
            parts.extend(reversed(segments))
            parts.append(("(", calls - 1))
            break
        if not name and not calls and python:
            literal = _literal_at_end(text, i, limit)
            if literal is None:
                return None
            # a literal head reads as its builtin type's instance: "x". is str().
            kind, i = literal
            parts.extend(reversed(segments))
            parts.append(('"' + kind, 0) if extended else (kind, 1))
            break
        if not name or name[0].isdigit():
            return None
        if not python and k > limit and text[k - 1] == "#":
            k -= 1
            name = "#" + name
        elif not (name.isidentifier() or (not python and name.replace("$", "_").isidentifier())):
            return None
        if segments and keyword.iskeyword(name):
            return None  # ``in[0]``: not a subscript of a name
        parts.extend(reversed(segments))
        parts.append((name, calls))
        i = k
        j = i
        if not python:
            while j > limit and text[j - 1] in " \t\r\n":
                j -= 1
        if j > limit and text[j - 1] == ".":
            if j - 1 > limit and text[j - 2] == ".":
                return None
            j -= 1
            if not python and j > limit and text[j - 1] == "?":
                j -= 1
            if not python:
                while j > limit and text[j - 1] in " \t\r\n":
                    j -= 1
            i = j
            continue
        break
    parts.reverse()
    new = False
    if not python:
        match = re.search(r"(?<![\w$.])new\s+$", text[max(limit, i - 20) : i])
        if match is not None:
            new = True
            i -= len(match.group(0))
    return (tuple(parts), new), i


def _parenthesized(text: str, open_at: int, limit: int) -> bool:
    """True when the ``(`` at ``open_at`` opens a parenthesized expression, not a call
    (``f (x)`` is a call: what precedes the ``(`` is neither a name nor a closing bracket
    or quote, except a keyword such as ``return``)."""
    j = open_at
    while j > limit and text[j - 1] in " \t":
        j -= 1
    return not _ends_value(text, j, limit, _OPERATOR_KEYWORDS)


# keywords after which ``(`` opens an expression (``None (x)`` and the like are calls)
_OPERATOR_KEYWORDS = frozenset(keyword.kwlist) - {"None", "True", "False"}
_KEYWORDS = frozenset(keyword.kwlist)


def _subscripted(text: str, open_at: int, limit: int) -> bool:
    """True when the ``[`` at ``open_at`` subscripts what precedes it (a name, a call's or
    a subscript's result, a literal) rather than opening a list display."""
    return _ends_value(text, open_at, limit, _KEYWORDS)


def _ends_value(text: str, at: int, limit: int, keywords: frozenset[str]) -> bool:
    """True when ``text[limit:at]`` ends in a value a bracket at ``at`` applies to: a
    closing bracket or quote, or a name other than one of ``keywords``."""
    if at <= limit:
        return False
    before = text[at - 1]
    if before in ")]}'\"":
        return True
    if not _is_ident_char(before, True):
        return False
    word = re.search(r"\w+$", text[max(limit, at - 64) : at])
    return word is not None and word.group() not in keywords


_INTEGER = re.compile(r"-?\s*(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0+|[1-9][\d_]*)")


def _index_part(body: str) -> str | None:
    """The part that spells a subscript with the inside ``body``: ``[N]`` for an integer
    literal, ``[:]`` for a slice, ``[?]`` for another single index; None for several
    indices (``a[1, 2]``), a lambda, a walrus or an empty subscript."""
    body = body.strip()
    if not body:
        return None
    separators = _top_level_characters(body)
    if separators is None or "," in separators or "=" in separators:
        return None
    if re.search(r"\blambda\b", body):
        return None
    if ":" in separators:
        return "[:]"
    if _INTEGER.fullmatch(body):
        return f"[{int(body.replace(' ', '').replace('_', ''), 0)}]"
    return "[?]"


def _top_level_characters(body: str) -> set[str] | None:
    """The characters among ``,:=`` that ``body`` holds outside brackets and strings
    (``:=`` counts as ``=``); None when a string or bracket is left open."""
    found: set[str] = set()
    depth = 0
    i = 0
    while i < len(body):
        char = body[i]
        if char in "'\"":
            quote = body[i : i + 3] if body[i : i + 3] == char * 3 else char
            j = i + len(quote)
            while j < len(body) and not body.startswith(quote, j):
                j += 2 if body[j] == "\\" else 1
            if j >= len(body):
                return None
            i = j + len(quote)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and char == ":" and body[i + 1 : i + 2] == "=":
            found.add("=")
        elif depth == 0 and char in ",:":
            found.add(char)
        i += 1
    return found if depth == 0 else None


def _string_start(text: str, end: int, limit: int) -> int | None:
    """Start of the Python string literal (prefix letters included) ending at ``end``."""
    quote = text[end - 1]
    triple = end - 3 > limit and text[end - 3 : end] == quote * 3
    if triple:
        start = text.rfind(quote * 3, limit, end - 3)
        if start < 0:
            return None
    else:
        start = end - 2
        while start >= limit and text[start] != "\n":
            if text[start] == quote:
                backslashes = 0
                while start - 1 - backslashes >= limit and text[start - 1 - backslashes] == "\\":
                    backslashes += 1
                if backslashes % 2 == 0:
                    break
            start -= 1
        if start < limit or text[start] != quote:
            return None
    while start > limit and text[start - 1] in "bBrRuUfF":
        start -= 1
    if start > limit and _is_ident_char(text[start - 1], True):
        return None  # a name glued to the quote: not a literal this reader knows
    return start


def _has_top_level_colon(body: str) -> bool:
    """True when ``body`` (a ``{...}`` literal's inside) has a ``:`` outside brackets and
    strings: a dict display or comprehension, not a set."""
    depth, quote = 0, ""
    for char in body:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == ":" and depth == 0:
            return True
    return False


def _literal_at_end(text: str, end: int, limit: int) -> tuple[str, int] | None:
    """(builtin type, start) of the Python literal ending ``text[:end]``: a string or
    bytes literal, a list or a dict/set display; None for anything else (a subscript
    ``x[0]``, a parenthesised expression, a number)."""
    if end <= limit:
        return None
    last = text[end - 1]
    if last in "'\"":
        start = _string_start(text, end, limit)
        if start is None:
            return None
        prefix = text[start : text.index(last, start)]
        return ("bytes" if "b" in prefix.lower() else "str"), start
    if last not in "]}":
        return None
    start = _match_open(text, end - 1, limit)
    if start is None:
        return None
    before = text[max(limit, start - 64) : start].rstrip()
    word = re.search(r"\w+$", before)
    if word is not None and not keyword.iskeyword(word.group()):
        return None  # a subscript of a name: not a display
    if word is None and before and before[-1] in ")]}'\"":
        return None  # a subscript of a call's result or another subscript
    if last == "]":
        return "list", start
    body = text[start + 1 : end - 1].strip()
    dict_like = not body or body.startswith("**") or _has_top_level_colon(body)
    return ("dict" if dict_like else "set"), start


_CALL_ARGUMENTS = re.compile(r"\(\s*[^\s)]")  # a call with arguments
_PY_STRING = re.compile(
    r"[rRbBuUfF]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'\'\'[\s\S]*?'\'\'|\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*')"
)
_FREE_NAME = re.compile(r"(?<![\w.])[^\W\d]\w*\b(?!\s*=[^=])")


def _free_names(text: str) -> set[str]:
    """Names a Python receiver expression reads (not attributes, keyword-argument names,
    keywords or text inside strings: an f-string is a str whatever it interpolates)."""
    code = _PY_STRING.sub(" ", text)
    return {m.group() for m in _FREE_NAME.finditer(code) if not keyword.iskeyword(m.group())}


def _binds_in_head(head_text: str, name: str, python: bool) -> bool:
    """True when the statement text before the receiver may (re)bind ``name``."""
    if python:
        return _python_binds_in_head(head_text, name)
    quoted = re.escape(name)
    if name == "this":
        return bool(re.search(r"\bfunction\b", head_text))
    if re.search(r"\b(function|class)\b|=>", head_text):
        return True
    patterns = [
        rf"(?<![\w$.]){quoted}\s*(?:[-+*/%&|^]|\*\*|>>>?|<<|\?\?|&&|\|\|)?=(?![=>])",
        rf"\b(let|const|var|for|catch)\b[^;]*(?<![\w$.]){quoted}\b",
        rf"(?<![\w$.]){quoted}\s*(\+\+|--)",
        rf"(\+\+|--)\s*{quoted}\b",
    ]
    return any(re.search(pattern, head_text) for pattern in patterns)


# Binding forms, read without compiling a pattern per name (compiling one costs ~0.1 ms,
# as much as the whole check): each is a fixed pattern plus a test on where the name occurs.
# ``name`` is bound by ...
_NAME_AT = re.compile(r"(?<![\w.])[^\W\d]\w*")  # identifiers not after "." (candidates)
# ... an assignment target list ``a, (b, c) =``, ``a +=`` (an ``=`` outside brackets counts):
_ASSIGNED_AFTER = re.compile(r"[\w\s,()\[\]*]*(?:[-+*/%&|^@]|//|\*\*|>>|<<)?=(?!=)")
_ANNOTATED = re.compile(r"\s*([^\W\d]\w*)\s*:[^=]*=(?!=)")  # ... ``name: T =`` ...
_WALRUS_AFTER = re.compile(r"\s*:=")  # ... a walrus, in any brackets ...
_AS_NAME = re.compile(r"\bas\s+([^\W\d]\w*)")  # ... with/except ... as name ...
# ... or a name between one of these and the end of its region: for/comprehension targets
# (up to `in` or ":"), lambda parameters and ``with ... as (a, b)`` (up to ":")
_FOR, _LAMBDA, _AS_TUPLE = (re.compile(p) for p in (r"\bfor\b", r"\blambda\b", r"\bas\s*[(\[]"))
_FOR_END = re.compile(r":|\bin\b")
_COLON = re.compile(":")
_PY_HEADER = re.compile(r"\s*(?:async\s+)?(?:def|class)\s+([^\W\d]\w*)")


def _name_spans(text: str, name: str) -> list[tuple[int, int]]:
    """Where identifier ``name`` occurs in ``text``, not as an attribute (``x.name``)."""
    if name not in text:
        return []
    return [m.span() for m in _NAME_AT.finditer(text) if m.group() == name]


def _in_region(
    text: str, starts: list[tuple[int, int]], opener: re.Pattern[str], end: re.Pattern[str]
) -> bool:
    """Whether a name starting at one of ``starts`` lies after a match of ``opener`` and
    before the next match of ``end``."""
    for match in opener.finditer(text):
        stop = end.search(text, match.end())
        limit = stop.start() if stop is not None else len(text)
        if any(match.end() <= start < limit for start, _ in starts):
            return True
    return False


def _binds_as_for_target(name: str, text: str) -> bool:
    """True when Python ``text`` has ``name`` as a ``for``/comprehension target."""
    spans = _name_spans(text, name)
    return bool(spans) and _in_region(text, spans, _FOR, _FOR_END)


def _python_binds_in_head(head_text: str, name: str) -> bool:
    """:func:`_binds_in_head` for Python.

    Bindings the environment cannot see because the statement is replaced by the
    placeholder: targets of assignments (an ``=`` outside brackets; inside them it is a
    keyword argument), walruses, ``for`` targets, lambda parameters, ``as`` names, the
    name a ``def``/``class`` header defines and, once its body has begun on the header's
    line, everything (its parameters), ``case`` patterns, imports and global declarations.
    A receiver in a ``def``'s parameter list (defaults, annotations) or a class's bases is
    evaluated in the enclosing scope, where the placeholder stands.
    """
    if not head_text.strip():
        return False  # the receiver begins the statement
    if re.search(r"\b(import|global|nonlocal)\b", head_text) or re.match(r"\s*case\b", head_text):
        return True
    depths: list[int] | None = []  # computed when needed

    def depth(index: int) -> int | None:
        nonlocal depths
        if depths == []:
            depths = _bracket_depths(head_text)
        return None if depths is None else depths[index]

    header = _PY_HEADER.match(head_text)
    if header is not None:
        rest = head_text[header.end() :]
        if header.group(1) == name or rest.lstrip().startswith("["):
            return True  # the name it defines; type parameters ``def f[T](x: T`` bind T
        if re.search(r"\b(def|class)\b", rest):
            return True
        for index in range(header.end(), len(head_text)):
            if head_text[index] == ":" and depth(index) in (0, None):
                return True  # the body has begun: the parameters are bound there
    elif re.search(r"\b(def|class)\b", head_text):
        return True
    spans = _name_spans(head_text, name)
    if not spans:
        return False  # every form below spells the name
    if any(_WALRUS_AFTER.match(head_text, end) for _, end in spans):
        return True
    if any(m.group(1) == name for m in _AS_NAME.finditer(head_text)):
        return True
    regions = ((_FOR, _FOR_END), (_LAMBDA, _COLON), (_AS_TUPLE, _COLON))
    if any(_in_region(head_text, spans, opener, end) for opener, end in regions):
        return True
    annotated = _ANNOTATED.match(head_text)
    ends = [m.end() for _, e in spans if (m := _ASSIGNED_AFTER.match(head_text, e))]
    if annotated is not None and annotated.group(1) == name:
        ends.append(annotated.end())
    return any(depth(end - 1) in (0, None) for end in ends)


def _bracket_depths(text: str) -> list[int] | None:
    """The bracket depth before each character of Python code ``text`` (-1 inside strings
    and comments); None when the code ends inside a string (the scan is unsure)."""
    depths = [0] * len(text)
    depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == "#":
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            depths[i:end] = [-1] * (end - i)
            i = end
            continue
        if char in "'\"":
            quote = text[i : i + 3] if text[i : i + 3] == char * 3 else char
            j = i + len(quote)
            while j < len(text) and not text.startswith(quote, j):
                if len(quote) == 1 and text[j] == "\n":
                    return None
                j += 2 if text[j] == "\\" else 1
            if j >= len(text):
                return None
            end = j + len(quote)
            depths[i:end] = [-1] * (end - i)
            i = end
            continue
        if char in ")]}":
            depth = max(0, depth - 1)
        depths[i] = depth
        if char in "([{":
            depth += 1
        i += 1
    return depths


# -- environments -----------------------------------------------------------------------------


class _Environment:
    """The scope at a statement start: an incrementally re-parsed tree with a placeholder.

    It may serve requests after the oracle that built it (see :func:`cached_environment`),
    so it has its own resolvers and its queries take its own lock.
    """

    def __init__(
        self,
        oracle: MemberOracle,
        tree: tree_sitter.Tree,
        data: bytes,
        placeholder_byte: int,
        surround: Surround | None = None,
        program: bytes | None = None,
    ):
        self.surround = surround  # the rest of the module when ``tree`` is a range of it
        self.family = oracle.family
        self.language = oracle.language
        self.path = oracle.path
        self.workspace = oracle.workspace
        self._python_resolver: PythonResolver | None = None
        self._js_resolver = None
        self.lock = threading.RLock()
        self.data = data
        # the program it stands for: ``data`` without the padding of a range parse
        self.program = data if program is None else program
        self.tree = tree
        self.node: Node | None = None
        node = tree.root_node.descendant_for_byte_range(
            placeholder_byte, placeholder_byte + len(PLACEHOLDER)
        )
        if node is not None and data[node.start_byte : node.end_byte] == PLACEHOLDER.encode():
            self.node = node
        self.results: dict[Chain, frozenset[str] | None] = {}
        self.text_results: dict[str, frozenset[str] | None] = {}
        self.declared_results: dict[Chain, frozenset[str] | None] = {}
        self._module = None

    def python_resolver(self) -> PythonResolver:
        if self._python_resolver is None:
            loader = self.workspace if self.workspace is not None else default_stdlib()
            self._python_resolver = PythonResolver(loader)
        return self._python_resolver

    def js_resolver(self):
        if self._js_resolver is None:
            from analysis.js_symbols import JsResolver

            self._js_resolver = JsResolver(self.workspace)
        return self._js_resolver

    def module(self):
        if self._module is None:
            path = self.path
            if self.family == "python":
                self._module = PyModule(
                    self.data,
                    self.tree,
                    path,
                    None,
                    is_package=path is not None and path.name == "__init__.py",
                    surround=self.surround,
                )
            else:
                from analysis.js_symbols import JsModule

                self._module = JsModule(self.data, self.tree, path, self.language or "javascript")
        return self._module

    def resolve(self, chain: Chain) -> frozenset[str] | None:
        with self.lock:
            if chain in self.results:
                return self.results[chain]
            try:
                result = self._resolve(chain)
            except Exception:  # totality: resolution problems mean "no constraint"
                if STRICT:
                    raise
                result = None
            self.results[chain] = result
            return result

    def declared(self, chain: Chain) -> frozenset[str] | None:
        """The names the receiver's class certainly declares when :meth:`resolve` leaves its
        members open (``declared_members`` of the language's resolver), cached per chain."""
        with self.lock:
            if chain in self.declared_results:
                return self.declared_results[chain]
            result = None
            parts, new = chain
            try:
                if self.node is None or parts[0][0] == "(":
                    result = None
                elif self.family == "python":
                    resolver: PythonResolver = self.python_resolver()
                    result = resolver.chain_declared(self.module(), self.node, parts)
                else:
                    typ = self._javascript_type(parts, new)
                    result = self.js_resolver().declared_members(typ)
            except Exception:  # totality: resolution problems mean "nothing preferred"
                if STRICT:
                    raise
            self.declared_results[chain] = result
            return result

    def resolve_text(self, text: str) -> frozenset[str] | None:
        """The members after the Python receiver expression ``text`` (cached per text)."""
        with self.lock:
            if text in self.text_results:
                return self.text_results[text]
            result = None
            try:
                if self.node is not None:
                    resolver: PythonResolver = self.python_resolver()
                    result = resolver.expression_members(self.module(), self.node, text)
            except Exception:  # totality: resolution problems mean "no constraint"
                if STRICT:
                    raise
            self.text_results[text] = result
            return result

    def _resolve(self, chain: Chain) -> frozenset[str] | None:
        if self.node is None:
            return None
        parts, new = chain
        if self.family == "python":
            return self._resolve_python(parts)
        return self._resolve_javascript(parts, new)

    def _resolve_python(self, parts: tuple[tuple[str, int], ...]) -> frozenset[str] | None:
        resolver: PythonResolver = self.python_resolver()
        head, calls = parts[0]
        if head == "(" or (head == "type" and calls):
            return None  # (...) is read as text; type(x) may be a subclass of x's class
        return resolver.chain_members(self.module(), self.node, parts)  # super() included

    def _resolve_javascript(
        self, parts: tuple[tuple[str, int], ...], new: bool
    ) -> frozenset[str] | None:
        return self.js_resolver().members(self._javascript_type(parts, new))

    def _javascript_type(self, parts: tuple[tuple[str, int], ...], new: bool) -> object | None:
        """The JavaScript/TypeScript type of a receiver chain (None: unknown)."""
        from analysis.js_symbols import JsClassObject, JsInstance, this_owner

        resolver = self.js_resolver()
        module = self.module()
        new_at = next((i for i, (_, calls) in enumerate(parts) if calls), None) if new else None
        head, _ = parts[0]
        if head == "this":
            owner = this_owner(self.node)
            if owner is None:
                return None
            from analysis.js_symbols import _class_node_at

            class_node = _class_node_at(module, owner[0])
            if class_node is None:
                return None
            cls = module.class_at(class_node)
            typ = JsClassObject(cls) if owner[1] else JsInstance(cls)
        else:
            typ = resolver.name_type(module, head, self.node)
        for index, (name, call_count) in enumerate(parts):
            if index > 0:
                if typ is None:
                    return None
                typ = resolver.property_type(typ, name)
            remaining = call_count
            if new_at == index:
                typ = JsInstance(typ.cls) if isinstance(typ, JsClassObject) else None
                remaining -= 1
            for _ in range(remaining):
                typ = resolver.call_type(typ)
        return typ


@dataclass
class _Base:
    """Facts about the document text before the cursor for one ``trim``."""

    q: int  # code-point offset where the model's code leaves the document
    line_start: int  # start of the line containing q
    line_state: State  # lexical state at line_start
    statement_start: int  # start of the line where the statement containing q begins
    doc_line_states: list[tuple[int, State]] = field(default_factory=list)

    @property
    def restart(self) -> int:
        """The line start in top-level code where lexing began (nothing is open there)."""
        return self.doc_line_states[0][0] if self.doc_line_states else 0


class MemberOracle:
    """Answers "which identifiers may follow a ``.`` here?" for one document snapshot.

    See the module docstring for the protocol of :meth:`members` and the caching strategy.
    """

    def __init__(
        self,
        text: str,
        data: bytes,
        tree: tree_sitter.Tree | None,
        language: str | None,
        offset: int,
        path: Path | None,
        workspace: WorkspaceIndex | None,
    ):
        self.text = text
        self.data = data
        self.tree = tree
        self.language = language
        self.family = _family(language) if tree is not None else None
        self.offset = max(0, min(offset, len(text)))
        self.path = path
        self.workspace = workspace
        self.lexer = Lexer(self.family or "python")
        self._lock = threading.RLock()
        self._answers: OrderedDict[tuple[int, str], frozenset[str] | None] = OrderedDict()
        # open answers whose receiver resolved to a place: (environment, chain) per key
        self._open: OrderedDict[tuple[int, str], tuple[_Environment, Chain]] = OrderedDict()
        self._bases: dict[int, _Base] = {}
        self._line_states: dict[tuple[int, str], State] = {}
        self._environments: dict[tuple, _Environment] = {}
        self._children: list[tree_sitter.Node] | None = None  # the tree's top-level statements
        self._broken: list[int] | None = None  # and those error recovery broke
        # after the cursor: the document resumes at the start of the next line, or after
        # the lines the statement at the cursor goes on over (see _resume_offset)
        self._suffix_start = self._resume_offset()
        self._line_suffix = text[self.offset : self._suffix_start]

    def _resume_offset(self) -> int:
        """Where the document resumes after the statement being written: the start of the
        line after the cursor's; for a Python statement that goes on over the lines after it
        inside brackets (``x = f(",".`` then ``join(names))``), the start of the line after
        its last one, so the placeholder replaces all of it.

        The lines followed are those indented deeper than the statement's first line, or
        starting with a closing bracket, and the statement ends where its brackets close: a
        bracket the edit left open (``x = f(a.`` before the next statement) is never closed
        by the lines after it, so they stay.
        """
        text = self.text
        newline = text.find("\n", self.offset)
        resume = len(text) if newline < 0 else newline + 1
        if self.family != "python" or self.tree is None or resume >= len(text):
            return resume
        base = self._base(0)
        state = self.lexer.lex(base.line_state, text[base.line_start : resume])
        first_line = text[base.statement_start : text.find("\n", base.statement_start)]
        width = len(first_line) - len(first_line.lstrip(" \t"))
        end = resume
        for _ in range(MAX_CONTINUATION_LINES):
            if at_statement_boundary(state, True) or end >= len(text):
                break
            newline = text.find("\n", end)
            following = len(text) if newline < 0 else newline + 1
            line = text[end:following]
            code = line.lstrip(" \t")
            if code.strip() and len(line) - len(code) <= width and code[0] not in ")]}":
                break  # a line of the enclosing block: the statement did not go on
            state = self.lexer.lex(state, line)
            end = following
        return end if end > resume and at_statement_boundary(state, True) else resume

    # -- the public query ---------------------------------------------------------------------

    def members(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        """Identifiers that may follow a ``.`` after ``text[:offset - trim] + extra``.

        None means no constraint: not a member access in code, or the receiver is uncertain.
        """
        trim = max(0, trim)
        key = (trim, extra)
        answers = self._answers
        if key in answers:
            return answers[key]
        if self.family is None:
            return None
        # Step 1: cheap rejection: the code must end in an identifier character or ")"
        # (Python: or a literal's closing quote or bracket).
        last = (
            extra[-1]
            if extra
            else (
                self.text[self.offset - trim - 1]
                if 0 < self.offset - trim <= len(self.text)
                else ""
            )
        )
        python = self.family == "python"
        if not last or not (
            last == ")" or _is_ident_char(last, python) or (python and last in "'\"]}")
        ):
            return None
        with self._lock:
            try:
                result = self._members(extra, trim)
            except Exception:  # totality: never raise into the decoder
                if STRICT:
                    raise
                result = None
            answers[key] = result
            if len(answers) > ANSWER_CACHE_SIZE:
                answers.popitem(last=False)
            if len(self._open) > ANSWER_CACHE_SIZE:
                self._open.popitem(last=False)
        return result

    def declared(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        """Names the receiver certainly has where :meth:`members` is open (None: none known).

        For an object of a class the analysis cannot close although all its ancestors
        are in sight (``__getattr__``, ``setattr``): the names they declare. None when a
        base is out of sight. A preference, never a constraint: other names stay possible.
        """
        trim = max(0, trim)
        if self.members(extra, trim) is not None:
            return None
        found = self._open.get((trim, extra))
        if found is None:
            return None
        environment, chain = found
        with self._lock:
            return environment.declared(chain)

    def assignable(self, extra: str, trim: int = 0) -> bool:
        """True when a ``.name`` after the code may create a new attribute by assignment.

        The code's last line is just ``self`` or ``cls`` (Python) or ``this``
        (JavaScript/TypeScript) and starts a statement (no open bracket or
        continuation; in JavaScript, a ``{`` block is fine), so ``self.new_name =
        value`` is valid code there even though ``new_name`` is no member yet.
        """
        pattern = _OWN_OBJECT_LINE.get(self.family or "")
        if pattern is None:
            return False
        with self._lock:
            try:
                state, last_line = self._last_line(trim, extra)
            except Exception:  # totality: never raise into the decoder
                if STRICT:
                    raise
                return False
        return bool(pattern.fullmatch(last_line)) and at_statement_boundary(
            state, self.family == "python"
        )

    def _last_line(self, trim: int, extra: str) -> tuple[State, str]:
        """(lexical state at the start of the code's last line, that line), where the
        code is ``text[:offset - trim] + extra``."""
        base = self._base(trim)
        newline = extra.rfind("\n")
        if newline >= 0:
            return self._extra_line_state(trim, base, extra[: newline + 1]), extra[newline + 1 :]
        return base.line_state, self.text[base.line_start : base.q] + extra

    def _members(self, extra: str, trim: int) -> frozenset[str] | None:
        base = self._base(trim)
        python = self.family == "python"
        q = base.q
        # Step 2: lexical state at the end of the code (lex only its last line).
        line_state, last_line = self._last_line(trim, extra)
        end_state = self.lexer.lex(line_state, last_line)
        if not is_code(end_state):
            return None
        # Step 3: the receiver, read backwards over the tail of the code.
        tail_start = max(0, q - MAX_SCAN)
        tail = self.text[tail_start:q] + extra
        found = read_receiver(tail, python, extended=True)
        if found is None:
            return None
        chain, start_in_tail = found
        receiver_start = tail_start + start_in_tail  # offset in code = text[:q] + extra
        head = chain[0][0][0]
        if python and keyword.iskeyword(head):
            return None
        if not python and head in JS_KEYWORDS:
            return None
        # Step 4: the statement the receiver belongs to, and its environment.
        statement_start = self._statement_start(trim, base, extra, receiver_start)
        code_head = self._code_slice(q, extra, statement_start, receiver_start)
        cut = statement_start
        if not python and len(end_state) == 1:
            # JavaScript: a statement may start mid-line, after ``;``, ``{`` or ``}``.
            split = max(code_head.rfind(";"), code_head.rfind("{"), code_head.rfind("}"))
            if split >= 0:
                cut = statement_start + split + 1
                code_head = code_head[split + 1 :]
        if python and re.match(r"\s*(from|import)\b", code_head):
            return None
        words = code_head.split()
        if words and words[-1] in (_PY_NO_RECEIVER_WORDS if python else _JS_NO_RECEIVER_WORDS):
            if not (python and words[-2:] == ["yield", "from"]):
                return None
        if _binds_in_head(code_head, head, python):
            return None
        if python and _binds_as_for_target(head, self._line_suffix):
            return None  # ``[x.| for x in xs]``: a comprehension after the cursor binds it
        environment = self._environment(trim, base, extra, cut, cut == statement_start)
        if environment is None:
            return None
        # Step 5: resolve (cached per environment and chain).
        result = environment.resolve(chain)
        if result is None:
            self._open[(trim, extra)] = (environment, chain)
        if result is None and python and head != "super":
            # a call with arguments whose result depends on them (``sorted(xs)[0]``,
            # ``d.get(k)``): the receiver's text as an expression, when no name in it is
            # bound by the statement around it
            text = tail[start_in_tail:]
            if _CALL_ARGUMENTS.search(text) and ":=" not in text:
                if not any(
                    _binds_in_head(code_head, name, True)
                    or _binds_as_for_target(name, self._line_suffix)
                    for name in _free_names(text)
                ):
                    result = environment.resolve_text(text)
        return result

    # -- lexical states ----------------------------------------------------------------------

    def base(self, trim: int) -> _Base:
        """Lexical facts about the document before ``offset - trim`` (cached per trim)."""
        return self._base(trim)

    def _base(self, trim: int) -> _Base:
        base = self._bases.get(trim)
        if base is not None:
            return base
        q = max(0, min(self.offset - trim, len(self.text)))
        line_start = self.text.rfind("\n", 0, q) + 1
        restart = self._restart_offset(q)
        anchor = self.text.rfind("\n", 0, restart) + 1
        state: State = CODE_STATE
        states: list[tuple[int, State]] = [(anchor, state)]
        position = anchor
        while position < line_start:
            newline = self.text.find("\n", position, line_start)
            end = line_start if newline < 0 else newline + 1
            state = self.lexer.lex(state, self.text[position:end])
            position = end
            states.append((position, state))
        statement_start = anchor
        for start, line_state in reversed(states):
            if at_statement_boundary(line_state, self.family == "python"):
                statement_start = start
                break
        base = _Base(q, line_start, state, statement_start, states)
        self._bases[trim] = base
        return base

    def _restart_offset(self, q: int) -> int:
        """A line start <= q known to be in top-level code (lexing restarts there).

        Descends the tree through statement containers towards ``q``; candidates are line
        starts where a statement begins and the line after a complete statement. Never
        descends into strings or comments.
        """
        if self.tree is None:
            return 0
        target = str_offset_to_byte(self.text, q)
        best = restart_byte(self.tree.root_node, self.data, target, self._top_level())
        return byte_to_str_offset(self.text, best) if best else 0

    def _extra_line_state(self, trim: int, base: _Base, prefix: str) -> State:
        """Lexical state after ``text[:q] + prefix`` where ``prefix`` ends with a newline."""
        key = (trim, prefix)
        state = self._line_states.get(key)
        if state is not None:
            return state
        previous = prefix.rfind("\n", 0, len(prefix) - 1)
        if previous < 0:
            state = self.lexer.lex(base.line_state, self.text[base.line_start : base.q] + prefix)
        else:
            before = self._extra_line_state(trim, base, prefix[: previous + 1])
            state = self.lexer.lex(before, prefix[previous + 1 :])
        self._line_states[key] = state
        return state

    def _statement_start(self, trim: int, base: _Base, extra: str, receiver: int) -> int:
        """Start (offset in the code) of the line where the receiver's statement begins."""
        q = base.q
        position = receiver
        while position > q:  # lines that start inside ``extra``
            newline = extra.rfind("\n", 0, position - q)
            if newline < 0:
                break
            state = self._extra_line_state(trim, base, extra[: newline + 1])
            if at_statement_boundary(state, self.family == "python"):
                return q + newline + 1
            position = q + newline
        start = self.text.rfind("\n", 0, min(position, q)) + 1
        for line_start, state in reversed(base.doc_line_states):
            if line_start <= start and at_statement_boundary(state, self.family == "python"):
                return line_start
        return base.doc_line_states[0][0]

    def _code_slice(self, q: int, extra: str, start: int, end: int) -> str:
        """``(text[:q] + extra)[start:end]``."""
        if end <= q:
            return self.text[start:end]
        if start >= q:
            return extra[start - q : end - q]
        return self.text[start:q] + extra[: end - q]

    def _environment(
        self, trim: int, base: _Base, extra: str, cut: int, at_line_start: bool
    ) -> _Environment | None:
        """The environment for a statement starting at ``cut`` (an offset in the code)."""
        q = base.q
        prefix = extra[: cut - q] if cut > q else ""
        if at_line_start:
            line = self._code_slice(q, extra, cut, cut + 200)
            indent = line[: len(line) - len(line.lstrip(" \t"))]
        else:
            indent = " "
        closers = ""
        if self.family != "python":
            closers = self._closers(trim, base, extra, cut)
        # The tree depends on the code kept before the statement, the draft's text in it,
        # and (JavaScript) the closers: not on ``trim`` itself, so the answer before the
        # cursor's "." and the drafts' answers after it share one re-parse and its symbols.
        key = (min(cut, q), prefix, indent, closers)
        environment = self._environments.get(key)
        if environment is not None:
            return environment
        environment = self._build_environment(base, prefix, min(cut, q), indent, closers)
        if len(self._environments) > 256:
            self._environments.clear()
        self._environments[key] = environment
        return environment

    def _state_at(self, trim: int, base: _Base, extra: str, position: int) -> State:
        """Lexical state at ``position`` (an offset in the code ``text[:q] + extra``)."""
        q = base.q
        if position > q:
            newline = extra.rfind("\n", 0, position - q)
            if newline >= 0:
                state = self._extra_line_state(trim, base, extra[: newline + 1])
                return self.lexer.lex(state, extra[newline + 1 : position - q])
            return self.lexer.lex(
                base.line_state, self.text[base.line_start : q] + extra[: position - q]
            )
        line_start = self.text.rfind("\n", 0, position) + 1
        for start, state in reversed(base.doc_line_states):
            if start <= line_start:
                return self.lexer.lex(state, self.text[start:position])
        return self.lexer.lex(CODE_STATE, self.text[:position])

    def _closers(self, trim: int, base: _Base, extra: str, cut: int) -> str:
        """Closing brackets for those the draft opened before ``cut`` and left open.

        Brackets already open at the cursor are closed by the document after the cursor.
        """
        at_cursor = self._state_at(trim, base, "", base.q)[0][1]
        at_cut = self._state_at(trim, base, extra, cut)[0][1]
        common = 0
        while common < min(len(at_cursor), len(at_cut)) and at_cursor[common] == at_cut[common]:
            common += 1
        pairs = {"(": ")", "[": "]", "{": "}"}
        return "".join(pairs[b] for b in reversed(at_cut[common:]))

    def _build_environment(
        self, base: _Base, prefix: str, cut: int, indent: str, closers: str = ""
    ) -> _Environment | None:
        """Tree of ``text[:cut] + prefix + indent + PLACEHOLDER + the document after the cursor``.

        Python resumes the document at the next line (the rest of the cursor's line belongs to
        the statement being written); JavaScript resumes right at the cursor, after closing
        the brackets the draft left open.
        """
        if self.tree is None or self.language is None:
            return None
        opener = ""
        if self.family == "python":
            resume = self._suffix_start
            at_line_start = (
                prefix.endswith("\n") if prefix else cut == 0 or self.text[cut - 1] == "\n"
            )
            if at_line_start and self._indented_deeper(resume, indent):
                # the lines after the cursor continue the statement being written or are
                # its block: a block opener keeps them from breaking the enclosing scopes
                opener = "if "
            middle = prefix + indent + opener + PLACEHOLDER + (":" if opener else "") + "\n"
        else:
            middle = prefix + indent + PLACEHOLDER + ";" + closers + " "
            resume = self.offset
        start_byte = str_offset_to_byte(self.text, cut)
        old_end_byte = str_offset_to_byte(self.text, resume)
        inserted = encode(middle)
        data = self.data[:start_byte] + inserted + self.data[old_end_byte:]
        placeholder_byte = start_byte + len(encode(prefix + indent + opener))
        key = (self.language, self.path, placeholder_byte, self.workspace, _generation(self))
        # the program is ``data``; the padding of a range parse (to the length of the text
        # replaced, which grows as a person types) does not tell environments apart
        reused = cached_environment(key, data)
        if reused is not None:
            return reused
        found = None
        python = self.family == "python"
        padded = _padded(inserted, self.data[start_byte:old_end_byte]) if python else None
        span = self._statement_span(start_byte, old_end_byte) if padded is not None else None
        if padded is not None and span is not None:
            padded_data = self.data[:start_byte] + padded + self.data[old_end_byte:]
            found = self._range_tree(padded_data, start_byte, old_end_byte, *span)
        if found is not None:
            tree, surround = found
            environment = _Environment(
                self, tree, padded_data, placeholder_byte, surround, program=data
            )
        else:
            new_end_byte = start_byte + len(inserted)
            old_tree = self.tree.copy()
            old_tree.edit(
                start_byte=start_byte,
                old_end_byte=old_end_byte,
                new_end_byte=new_end_byte,
                start_point=byte_point(self.data, start_byte),
                old_end_point=byte_point(self.data, old_end_byte),
                new_end_point=byte_point(data, new_end_byte),
            )
            tree = parser_for(self.language).parse(data, old_tree)
            environment = _Environment(self, tree, data, placeholder_byte)
        keep_environment(key, environment)
        return environment

    def _statement_span(
        self, start_byte: int, old_end_byte: int
    ) -> tuple[int, int, int, int] | None:
        """(start, stop, first, end): the bytes [start, stop) to re-parse for an edit of
        the bytes [start_byte, old_end_byte), which replace the document's top-level
        statements ``first`` to ``end`` (exclusive), as :func:`_replaced_statements` finds
        them. None when the statement before them has a syntax error or the range does not
        start and end at line starts."""
        children = self._top_level()
        found = _replaced_statements(
            self.data, children, start_byte, old_end_byte, b"", top_level=True
        )
        if found is None:
            return None
        first, end = found
        if any(index < first or index >= end for index in self._broken_statements()):
            return None  # error recovery reached further: the document's tree is not kept
        start = min(children[first].start_byte, start_byte) if first < end else start_byte
        stop = children[end].start_byte if end < len(children) else len(self.data)
        if not _at_line_start(self.data, start) or not _at_line_start(self.data, stop):
            return None
        return start, stop, first, end

    def _body_span(
        self, start_byte: int, old_end_byte: int, statement: tree_sitter.Node, stop: int
    ) -> _BodySpan | None:
        """The ranges to re-parse when the edit of the bytes [start_byte, old_end_byte)
        lies in the body of the top-level class ``statement`` (which ends before ``stop``):
        its header, and the body statements the edit replaces (:class:`_BodySpan`). None when the edit touches the header or the statements around it
        cannot be trusted (as :meth:`_statement_span`, and: any other body statement with a
        syntax error, or not at the body's indentation)."""
        definition = unwrap_definition(statement)[0]
        block = definition.child_by_field_name("body")
        if definition.type != "class_definition" or block is None:
            return None
        parts = block.named_children
        data = self.data
        header_end = data.rfind(b"\n", 0, block.start_byte) + 1
        if len(parts) < 2 or header_end <= statement.start_byte or start_byte < header_end:
            return None
        indent = _indentation(data, parts[0].start_byte)
        if indent is None:
            return None
        found = _replaced_statements(data, parts, start_byte, old_end_byte, indent, top_level=False)
        if found is None:
            return None
        first, end = found
        start = start_byte
        if first < end:
            start = min(start, _line_start(data, parts[first].start_byte))
        stop = _line_start(data, parts[end].start_byte) if end < len(parts) else stop
        if (first and start < parts[first - 1].end_byte) or (
            end > first and stop < parts[end - 1].end_byte
        ):
            return None  # statements sharing a line with those replaced
        before, after = tuple(parts[:first]), tuple(parts[end:])
        if not all(_whole(data, part, indent) for part in (*before, *after)):
            return None  # error recovery around the edit moved a statement
        return _BodySpan(header_end, start, stop, definition, before, after)

    def _top_level(self) -> list[tree_sitter.Node]:
        """The document tree's top-level statements (read once per oracle)."""
        if self._children is None:
            self._children = self.tree.root_node.children if self.tree is not None else []
        return self._children

    def _broken_statements(self) -> list[int]:
        """The indices of the document's top-level statements with a syntax error, all of
        them when error recovery left a token at the top level (read once per oracle: the
        cheap part of :func:`_whole`, as it is asked of every statement)."""
        if self._broken is None:
            children = self._top_level()
            root = self.tree.root_node if self.tree is not None else None
            if root is not None and root.child_count != root.named_child_count:
                self._broken = list(range(len(children)))
            else:
                self._broken = [i for i, c in enumerate(children) if c.has_error]
        return self._broken

    def _range_tree(
        self,
        data: bytes,
        start_byte: int,
        old_end_byte: int,
        start: int,
        stop: int,
        first: int,
        end: int,
    ) -> tuple[tree_sitter.Tree, Surround] | None:
        """``data`` (the document with a placeholder of the same length as the text it
        replaced, the bytes [start_byte, old_end_byte)) parsed only over its bytes
        [start, stop), in place of the document's top-level statements ``first`` to ``end``
        (exclusive), and the rest of the module around it; when the edit is in the body of
        one class, only the class's header and the body statements around the edit
        (:meth:`_body_span`). None when the range is not small against the document
        (:data:`RANGE_PARSE_SHARE`) or has a syntax error: then the whole tree is
        re-parsed, as error recovery may reach past the range."""
        children = self._top_level()
        tree = surrounded = None
        body = None
        if BODY_RANGES and end == first + 1:
            body = self._body_span(start_byte, old_end_byte, children[first], stop)
        if body is not None:
            tree, surrounded = self._body_tree(data, start, stop, body)
            if tree is None:
                return None  # a syntax error in the range
            if surrounded is None:
                tree = None  # not the class alone: the top-level range instead
        if tree is None:
            tree = self._parsed_ranges(data, [(start, stop)])
            if tree is None:
                return None
        surround = Surround(
            self.tree.root_node,
            start,
            stop,
            tuple(children[:first]),
            tuple(children[end:]),
            surrounded,
        )
        return tree, surround

    def _body_tree(
        self, data: bytes, start: int, stop: int, body: _BodySpan
    ) -> tuple[tree_sitter.Tree | None, BodySurround | None]:
        """``data`` parsed over the class's header and the body statements around the edit,
        with the rest of the class's body (:class:`BodySurround`). (None, None) when the
        range has a syntax error. No surround when the tree is not the class alone, or
        (when the body range reaches the end of the top-level range [start, stop)) followed
        by the statements error recovery had drawn into the document's class: then the
        document's body statements are not the class's (error recovery moved a class header
        into the edited method)."""
        tree = self._parsed_ranges(data, [(start, body.header_end), (body.start, body.stop)])
        if tree is None:
            return None, None
        parsed = [c for c in tree.root_node.named_children if c.type != "comment"]
        parsed_class = unwrap_definition(parsed[0])[0] if parsed else None
        if (
            parsed_class is None
            or parsed_class.start_byte != body.document_class.start_byte
            or (len(parsed) > 1 and body.stop != stop)
        ):
            return tree, None
        surround = BodySurround(
            body.document_class, parsed_class, body.start, body.stop, body.before, body.after
        )
        return tree, surround

    def _parsed_ranges(self, data: bytes, ranges: list[tuple[int, int]]) -> tree_sitter.Tree | None:
        """``data`` parsed over its byte ranges ``ranges`` only; None when they are not
        small against the document (:data:`RANGE_PARSE_SHARE`) or have a syntax error."""
        if sum(b - a for a, b in ranges) > RANGE_PARSE_SHARE * len(data):
            return None
        parser = _range_parser(self.language or "python")
        parser.included_ranges = [
            tree_sitter.Range(byte_point(data, a), byte_point(data, b), a, b) for a, b in ranges
        ]
        tree = parser.parse(data)
        return None if tree.root_node.has_error else tree

    def _indented_deeper(self, start: int, indent: str) -> bool:
        """True when the first code line of ``text[start:]`` is indented deeper than
        ``indent`` (blank and comment-only lines skipped; a tab counts 8 columns)."""
        width = len(indent.expandtabs(8))
        for line in self.text[start : start + 4000].splitlines():
            code = line.lstrip(" \t")
            if code and not code.startswith("#"):
                return len(line[: len(line) - len(code)].expandtabs(8)) > width
        return False


class _BodySpan(NamedTuple):
    """What to re-parse for an edit inside a class's body: the class's header (its bytes
    up to ``header_end``) and the bytes [start, stop), in place of the document's body
    statements between ``before`` and ``after``."""

    header_end: int
    start: int
    stop: int
    document_class: tree_sitter.Node
    before: tuple[tree_sitter.Node, ...]
    after: tuple[tree_sitter.Node, ...]


def _replaced_statements(
    data: bytes,
    statements: list[tree_sitter.Node],
    start_byte: int,
    old_end_byte: int,
    indent: bytes,
    top_level: bool,
) -> tuple[int, int] | None:
    """(first, end): the statements (of one block, indented by ``indent``) an edit of the
    bytes [start_byte, old_end_byte) replaces, from the statement it starts in (or
    continues, when indented deeper) to the first statement after its end, exclusive.
    That statement must be whole (:func:`_whole`): at the top level, the statements
    error recovery broke after the edit (a dangling ``.`` at the cursor joins the
    document's next lines) are replaced too, as a statement at column 0 starts one
    whatever came before; in a block, where error recovery may have moved another
    class's statements into this one, there is no answer (None). None when the statement
    before them is not whole."""
    first = bisect.bisect_right(statements, start_byte, key=_start_byte)
    after_indent = start_byte + len(indent)
    deeper = data[after_indent : after_indent + 1] in (b" ", b"\t")
    if first and (statements[first - 1].end_byte > start_byte or deeper):
        first -= 1  # the edit is inside that statement, or continues its block
    end = max(first, bisect.bisect_left(statements, old_end_byte, key=_start_byte))
    while end < len(statements) and not _whole(data, statements[end], indent):
        if not top_level:
            return None
        end += 1
    if first and not _whole(data, statements[first - 1], indent):
        return None
    return first, end


def _whole(data: bytes, node: tree_sitter.Node, indent: bytes) -> bool:
    """Whether ``node``, a statement of a block indented by ``indent``, is one a parse of
    its text alone would give: no syntax error, a statement (not a token left over by error
    recovery), at the block's indentation (a comment may be anywhere)."""
    if node.has_error or node.type == "ERROR" or not node.is_named:
        return False
    return node.type == "comment" or _indentation(data, node.start_byte) == indent


def _line_start(data: bytes, byte: int) -> int:
    return data.rfind(b"\n", 0, byte) + 1


def _indentation(data: bytes, byte: int) -> bytes | None:
    """The whitespace before ``byte`` on its line; None when code precedes it there."""
    start = _line_start(data, byte)
    indent = data[start:byte]
    return indent if not indent.strip(b" \t") else None


def _padded(inserted: bytes, replaced: bytes) -> bytes | None:
    """``inserted`` (ending with a newline) padded to the length and line count of
    ``replaced``: spaces before its last newline, blank lines after it. None when it is
    longer or has more lines."""
    lines = replaced.count(b"\n") - inserted.count(b"\n")
    spaces = len(replaced) - len(inserted) - lines
    if lines < 0 or spaces < 0 or not inserted.endswith(b"\n"):
        return None
    return inserted[:-1] + b" " * spaces + b"\n" * (1 + lines)


def _at_line_start(data: bytes, byte: int) -> bool:
    return byte == 0 or data[byte - 1 : byte] == b"\n"


def _range_parser(language: str) -> tree_sitter.Parser:
    """A parser of this thread for ranges of a document (its own, as it keeps the ranges)."""
    parsers: dict[str, tree_sitter.Parser] | None = getattr(_RANGE_PARSERS, "parsers", None)
    if parsers is None:
        parsers = _RANGE_PARSERS.parsers = {}
    if language not in parsers:
        parsers[language] = tree_sitter.Parser(tree_sitter_language(language))
    return parsers[language]


_RANGE_PARSERS = threading.local()


# -- environments kept across requests (step 6 of the module docstring) -----------------------

_KEPT: OrderedDict[tuple, _Environment] = OrderedDict()
_KEPT_LOCK = threading.Lock()


def _generation(oracle: MemberOracle) -> int | None:
    """The workspace's generation, apart from the oracle's own file: an edit to another
    file may change what a receiver resolves to (None: a loader that cannot tell)."""
    workspace = oracle.workspace
    if workspace is None:
        return 0  # the standard library's sources do not change
    generation_without = getattr(workspace, "generation_without", None)
    return generation_without(oracle.path) if generation_without is not None else None


def cached_environment(key: tuple, data: bytes) -> _Environment | None:
    """The kept environment for ``key`` whose placeholder text is ``data`` (padding aside:
    :attr:`_Environment.program`), if any."""
    if key[-1] is None:
        return None
    with _KEPT_LOCK:
        environment = _KEPT.get(key)
        if environment is None or environment.program != data:
            return None
        _KEPT.move_to_end(key)
        return environment


def keep_environment(key: tuple, environment: _Environment) -> None:
    """Keep ``environment`` for later requests (the least recently used one goes)."""
    if key[-1] is None:
        return
    with _KEPT_LOCK:
        _KEPT[key] = environment
        _KEPT.move_to_end(key)
        while len(_KEPT) > ENVIRONMENT_CACHE_SIZE:
            _KEPT.popitem(last=False)


def clear_environments() -> None:
    """Forget the kept environments (benchmarks measure cold requests with it)."""
    with _KEPT_LOCK:
        _KEPT.clear()


def restart_byte(
    root: tree_sitter.Node,
    data: bytes,
    target: int,
    root_children: list[tree_sitter.Node] | None = None,
) -> int:
    """The latest line start (a byte offset <= ``target``) where a statement of a statement
    container on the way from ``root`` down to ``target`` begins, or the line after a
    complete one; 0 if none. Never descends into strings or comments.

    Only the children around ``target`` are read: the child holding it is found by
    bisection, and the scan for a candidate goes backwards from it and stops at the first
    statement that gives one (a later statement's candidates are never smaller).
    ``root_children``: the root's children when the caller has read them already.
    """
    best = 0
    node: tree_sitter.Node | None = root
    while node is not None and node.type not in _STRINGISH:
        children = root_children if node is root and root_children is not None else node.children
        # the children that start at or before the target: children[:last]
        last = bisect.bisect_right(children, target, key=_start_byte)
        holder = children[last - 1] if last and target < children[last - 1].end_byte else None
        if node.type in _STATEMENT_CONTAINERS:
            for index in range(last - 1, -1, -1):
                found = _restart_candidate(children, index, data, target)
                if found:
                    best = max(best, found)
                    break
        node = holder
    return best


def _start_byte(node: tree_sitter.Node) -> int:
    return node.start_byte


def _restart_candidate(
    children: list[tree_sitter.Node], index: int, data: bytes, target: int
) -> int:
    """The latest restart line a statement ``children[index]`` gives (0: none): its own
    line when it begins one, or the line after it when it is complete before ``target``
    and nothing follows it on its last line."""
    child = children[index]
    if not child.is_named or child.type in ("ERROR", "comment"):
        return 0
    found = 0
    start = data.rfind(b"\n", 0, child.start_byte) + 1
    if not data[start : child.start_byte].strip():
        found = start
    if child.end_byte <= target and not child.has_error:
        after = data.find(b"\n", child.end_byte)
        following = children[index + 1].start_byte if index + 1 < len(children) else None
        if 0 <= after < target and (following is None or following > after):
            found = max(found, after + 1)
    return found


def member_oracle(
    document: Document, offset: int, workspace: WorkspaceIndex | None = None
) -> MemberOracle:
    """A :class:`MemberOracle` for ``document`` (a snapshot) with the cursor at ``offset``."""
    text, data, tree = document.snapshot()
    return MemberOracle(
        text, data, tree, document.language, offset, document_path(document.uri), workspace
    )


__all__ = [
    "MemberOracle",
    "PLACEHOLDER",
    "document_path",
    "member_oracle",
    "read_receiver",
    "builtin_class",
]


def __getattr__(name: str):
    """``cursor_context``/``CursorContext`` moved to :mod:`analysis.cursor` (old imports work)."""
    if name in ("cursor_context", "CursorContext"):
        from analysis import cursor

        return getattr(cursor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ShiftedOracle:
    """A member oracle asked from ``shift`` characters before its cursor.

    Token healing moves the point where generation starts back over the prompt's
    partial last token; the monitor then asks about ``text[:offset - shift - trim]``.
    Answers and caches are the wrapped oracle's.
    """

    def __init__(self, oracle: MemberOracle, shift: int) -> None:
        if shift < 0:
            raise ValueError("shift must be >= 0")
        self.oracle = oracle
        self.shift = shift

    @property
    def family(self) -> str | None:
        return getattr(self.oracle, "family", None)

    def members(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        return self.oracle.members(extra, trim + self.shift)

    def assignable(self, extra: str, trim: int = 0) -> bool:
        return self.oracle.assignable(extra, trim + self.shift)

    def declared(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        return self.oracle.declared(extra, trim + self.shift)
