"""The project's one lexer: a small resumable state machine over strings, comments and brackets.

Monitor-guided decoding (Agrawal et al. 2023) only constrains the token after a ``.`` that
is a member access in code. Whether the end of ``prompt + draft`` is code, a string or a
comment is decided here, by lexing the draft incrementally from the lexical state at the
cursor instead of re-parsing the file on every decoding step. States are immutable tuples,
so they can be cached per line and shared between drafts.

Draft cleaning (``lsp_server.drafts``) reads the same lexer through :meth:`Lexer.scan`,
which also reports what it saw on the way (:class:`Scan`): the lines begun in code and
whether they continue a statement, brackets from before the text that the text closes,
lexical errors (unmatched closers, unterminated one-line strings) and where a string or
comment was opened or closed.

A state is a tuple of frames, outermost first; the first frame is always top-level code:

- ``("c", brackets, prev, continued)`` code; ``brackets`` is the stack of open ``([{``,
  ``prev`` classifies the last significant character for JavaScript regex detection
  (``"v"`` a value, ``""`` an operator or nothing), ``continued`` is True after a Python
  backslash continuation;
- ``("i", brackets, prev, continued)`` code inside an f-string/template interpolation;
- ``("s", quote, raw, formatted)`` a string (``quote`` is ``'``, ``"``, ``'''``, ``\"\"\"`` or a
  backtick);
- ``("fs",)`` a Python f-string format specification (after ``:`` in an interpolation);
- ``("#",)`` a line comment, ``("/*",)`` a block comment, ``("re", in_class)`` a JS regex.

The lexer never raises: unterminated single-line strings and regexes end at the newline, a
closer of an outer bracket closes the inner ones too, other unbalanced closers are ignored
(and reported as errors by :meth:`Lexer.scan`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Frame = tuple
State = tuple

CODE_STATE: State = (("c", "", "", False),)

_PY_PREFIXES = frozenset(
    {"r", "u", "b", "f", "t", "br", "rb", "fr", "rf", "tr", "rt"}
)  # string prefixes, lower-cased
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$\u0080-\U0010ffff]")
_JS_REGEX_KEYWORDS = frozenset(
    {
        "return",
        "typeof",
        "instanceof",
        "in",
        "of",
        "new",
        "delete",
        "void",
        "throw",
        "case",
        "do",
        "else",
        "yield",
        "await",
    }
)
_PAIRS = {")": "(", "]": "[", "}": "{"}

_PY_CODE = re.compile(r"[#'\"()\[\]{}\\\n]")
_PY_INTERP = re.compile(r"[#'\"()\[\]{}:\\\n]")
_JS_CODE = re.compile(r"[/'\"`()\[\]{}\n]")
_PLAIN_CODE = re.compile(r'[()\[\]{}"\n]')
_PY_STRING = {
    (quote, formatted): re.compile(
        "[\\\\" + ("\n" if len(quote) == 1 else "") + ("{}" if formatted else "") + quote[0] + "]"
    )
    for quote in ("'", '"', "'''", '"""')
    for formatted in (False, True)
}
_JS_STRING = {
    "'": re.compile(r"[\\\n']"),
    '"': re.compile(r'[\\\n"]'),
    "`": re.compile(r"[\\`$]"),
}
_FORMAT_SPEC = re.compile(r"[{}\n]")
_BLOCK_COMMENT_END = re.compile(r"\*/")
_REGEX_SPECIAL = re.compile(r"[\\\[\]/\n]")


def is_code(state: State) -> bool:
    """True when the position after ``state`` is code (not in a string or comment)."""
    return state[-1][0] in ("c", "i")


def in_string(state: State) -> bool:
    """True inside a string literal (including an f-string format spec or a regex literal)."""
    return state[-1][0] in ("s", "fs", "re")


def in_comment(state: State) -> bool:
    """True inside a comment."""
    return state[-1][0] in ("#", "/*")


def at_statement_boundary(state: State, python: bool = True) -> bool:
    """True when ``state`` (taken at a line start) may begin a new statement.

    Python: top-level code, no open bracket and no backslash continuation. JavaScript:
    top-level code whose innermost open bracket, if any, is a ``{`` (a block).
    """
    if len(state) != 1:
        return False
    brackets = state[0][1]
    if python:
        return not brackets and not state[0][3]
    return not brackets or brackets[-1] == "{"


def _word_before(text: str, index: int) -> str:
    start = index
    while start > 0 and _IDENT_CHAR.match(text[start - 1]):
        start -= 1
    return text[start:index]


def _js_prev_class(text: str, index: int, stored: str) -> str:
    """Whether the significant character before ``index`` ends a value ("v") or not ("")."""
    i = index - 1
    while i >= 0 and text[i] in " \t\r\n":
        i -= 1
    if i < 0:
        return stored
    char = text[i]
    if _IDENT_CHAR.match(char):
        return "" if _word_before(text, i + 1) in _JS_REGEX_KEYWORDS else "v"
    if char in ")]}'\"`":
        return "v"
    if char in "+-" and i > 0 and text[i - 1] == char:
        return "v"
    return ""


def open_brackets(state: State | list) -> tuple[str, ...]:
    """The open brackets after ``state``, outermost first, across interpolations.

    An interpolation (``${`` in a template literal, ``{`` in an f-string) counts as one
    entry, ``"${"``, below the brackets opened inside it.
    """
    stack: list[str] = []
    for frame in state:
        if frame[0] == "i":
            stack.append("${")
        if frame[0] in ("c", "i"):
            stack.extend(frame[1])
    return tuple(stack)


@dataclass
class Scan:
    """What one scan of a text saw; indices are relative to that text."""

    state: State  # the state after the text (or where the scan stopped)
    lines: list[tuple[int, bool]]  # (start of a line begun in code, a continuation line)
    pops: list[tuple[int, int]]  # (closer index, stack position) of brackets open before the text
    errors: list[int]  # unmatched/mismatched closers, unterminated one-line strings
    open_at: int | None  # start of the string/comment still open at the end, if opened in text
    closed_at: int | None  # where a string/comment open before the text was closed
    end: int  # where the scan stopped


class Lexer:
    """Lexical state tracker for one language family.

    ``"python"``, ``"plain"`` (brackets and double-quoted strings only: unsupported
    languages) or anything else for JavaScript/TypeScript.
    """

    def __init__(self, language: str):
        self.family = language if language in ("python", "plain") else "javascript"
        self.python = self.family == "python"

    def lex(self, state: State, text: str) -> State:
        """The state after lexing ``text`` starting in ``state``."""
        try:
            return self._run(
                state, text, until_settled=False, unmatched_ok=True, record=False
            ).state
        except Exception:  # defensive: lexing must never break the caller
            return CODE_STATE

    def scan(
        self, state: State, text: str, *, until_settled: bool = False, unmatched_ok: bool = False
    ) -> Scan:
        """Lex ``text`` from ``state`` and return what was seen on the way.

        ``until_settled``: stop once everything open before the text is closed.
        ``unmatched_ok``: a closer with nothing open is no error (the text before ``state``
        was cut, so its opener may be missing).
        """
        try:
            return self._run(state, text, until_settled=until_settled, unmatched_ok=unmatched_ok)
        except Exception:  # defensive: lexing must never break the caller
            return Scan(CODE_STATE, [], [], [], None, None, len(text))

    def quote(self, state: State) -> str | None:
        """The delimiter of the string, comment or regex open after ``state`` (None in code)."""
        kind = state[-1][0]
        if kind in ("c", "i"):
            return None
        if kind == "s":
            return state[-1][1]
        if kind == "fs":  # a format spec belongs to its f-string
            return state[-2][1] if len(state) > 1 else None
        if kind == "#":
            return "#" if self.python else "//"
        return "/*" if kind == "/*" else "/"

    def _nested(self, frames: list) -> bool:
        """Whether a line begun now continues a statement (inside brackets that nest)."""
        for frame in frames:
            if frame[0] == "i":
                return True
            if frame[0] == "c" and frame[1]:
                if self.python or frame[1].strip("{"):
                    return True
        return False

    def _run(
        self,
        state: State,
        text: str,
        *,
        until_settled: bool,
        unmatched_ok: bool,
        record: bool = True,
    ) -> Scan:
        frames = list(state) or list(CODE_STATE)
        opened: list[int | None] = [0] + [None] * (len(frames) - 1)  # None: open before text
        depth = floor = len(open_brackets(frames))  # stack entries now / from before still open
        inherited = len(frames) - 1  # frames from before the text still open
        lines: list[tuple[int, bool]] = []
        pops: list[tuple[int, int]] = []
        errors: list[int] = []
        closed_at: int | None = None
        family, python = self.family, self.python
        i, n = 0, len(text)

        def popped(at: int) -> None:
            # one stack entry closed at ``at``: remember when it was open before the text
            nonlocal depth, floor
            depth -= 1
            if depth < floor:
                floor = depth
                pops.append((at, depth))

        def close_frame(at: int, closes: bool = False) -> None:
            # the innermost frame ends at ``at``; ``closes``: by its own closing delimiter
            nonlocal inherited, closed_at
            frame = frames.pop()
            if opened.pop() is None:
                inherited -= 1
                if closes and closed_at is None and frame[0] in ("s", "/*"):
                    closed_at = at

        def push(frame: Frame, at: int) -> None:
            frames.append(frame)
            opened.append(at)

        while i < n:
            if until_settled and floor == 0 and inherited == 0:
                break
            frame = frames[-1]
            kind = frame[0]
            if kind in ("c", "i"):
                if family == "plain":
                    pattern = _PLAIN_CODE
                else:
                    pattern = (_PY_INTERP if kind == "i" else _PY_CODE) if python else _JS_CODE
                match = pattern.search(text, i)
                if match is None:
                    i = n
                    break
                j = match.start()
                char = text[j]
                brackets = frame[1]
                if frame[3] and j > i:
                    frames[-1] = frame = (kind, brackets, frame[2], False)
                if char == "\n":
                    if frame[3]:
                        frames[-1] = (kind, brackets, frame[2], False)
                    i = j + 1
                    if record:
                        lines.append((i, self._nested(frames)))
                elif char == "\\":
                    if text.startswith("\n", j + 1) or text.startswith("\r\n", j + 1):
                        frames[-1] = (kind, brackets, frame[2], True)
                        i = j + (2 if text[j + 1] == "\n" else 3)
                        if record:
                            lines.append((i, True))  # a backslash continuation line
                    else:
                        i = j + 1
                elif char in "([{":
                    frames[-1] = (kind, brackets + char, frame[2], frame[3])
                    depth += 1
                    i = j + 1
                elif char in ")]}":
                    opener = _PAIRS[char]
                    if brackets and brackets[-1] == opener:
                        frames[-1] = (kind, brackets[:-1], frame[2], frame[3])
                        popped(j)
                    elif char == "}" and kind == "i" and not brackets:
                        close_frame(j)  # end of the interpolation: back in the string
                        popped(j)
                    elif opener in brackets:  # closes an outer bracket: the inner ones end too
                        errors.append(j)
                        cut = brackets.rindex(opener)
                        for _ in range(len(brackets) - cut):
                            popped(j)
                        frames[-1] = (kind, brackets[:cut], frame[2], frame[3])
                    elif depth > 0 or not unmatched_ok:
                        errors.append(j)
                    i = j + 1
                elif char == ":":  # Python interpolation only: a format spec follows
                    if not brackets:
                        frames[-1] = ("fs",)
                        popped(j)
                    i = j + 1
                elif char == "#":
                    push(("#",), j)
                    i = j + 1
                elif char in "'\"`":
                    if family == "javascript":
                        frames[-1] = (kind, brackets, "v", frame[3])  # a string is a value
                    push(self._string_frame(text, j), j)
                    i = j + len(frames[-1][1])
                else:  # "/" in JavaScript
                    nxt = text[j + 1 : j + 2]
                    prev = _js_prev_class(text, j, frame[2])
                    if nxt in ("/", "*"):
                        frames[-1] = (kind, brackets, prev, frame[3])
                        push(("#",) if nxt == "/" else ("/*",), j)
                        i = j + 2
                    elif prev == "":
                        frames[-1] = (kind, brackets, "v", frame[3])  # a regex is a value
                        push(("re", False), j)
                        i = j + 1
                    else:
                        i = j + 1
            elif kind == "s":
                _, quote, _, formatted = frame
                if family == "javascript":
                    pattern = _JS_STRING[quote]
                else:
                    pattern = _PY_STRING[(quote, formatted)]
                match = pattern.search(text, i)
                if match is None:
                    i = n
                    break
                j = match.start()
                char = text[j]
                if char == "\\":
                    i = j + 2  # the escaped character (even in raw strings it cannot close)
                elif char == "\n":  # an unterminated one-line string ends at the newline
                    errors.append(j if opened[-1] is None else opened[-1])
                    close_frame(j)
                    i = j  # the newline ends a code line
                elif char == "{":  # Python f-string
                    if text.startswith("{{", j):
                        i = j + 2
                    else:
                        push(("i", "", "", False), j)
                        depth += 1
                        i = j + 1
                elif char == "}":  # Python f-string: "}}" is a literal brace
                    i = j + 2 if text.startswith("}}", j) else j + 1
                elif char == "$":  # JavaScript template substitution
                    if text.startswith("${", j):
                        push(("i", "", "", False), j)
                        depth += 1
                        i = j + 2
                    else:
                        i = j + 1
                elif text.startswith(quote, j):
                    close_frame(j, closes=True)
                    i = j + len(quote)
                else:
                    i = j + 1
            elif kind == "fs":
                match = _FORMAT_SPEC.search(text, i)
                if match is None:
                    i = n
                    break
                j = match.start()
                if text[j] == "{":
                    push(("i", "", "", False), j)
                    depth += 1
                    i = j + 1
                elif text[j] == "}":
                    close_frame(j)  # the format spec ends the interpolation
                    i = j + 1
                else:  # newline in a format spec: unterminated, the string sees the newline
                    close_frame(j)
                    i = j
            elif kind == "#":
                j = text.find("\n", i)
                if j < 0:
                    i = n
                    break
                close_frame(j)
                i = j  # the newline ends a code line
            elif kind == "/*":
                match = _BLOCK_COMMENT_END.search(text, i)
                if match is None:
                    i = n
                    break
                close_frame(match.start(), closes=True)
                i = match.end()
            else:  # regex literal
                match = _REGEX_SPECIAL.search(text, i)
                if match is None:
                    i = n
                    break
                j = match.start()
                char = text[j]
                if char == "\\":
                    i = j + 2
                elif char == "[":
                    frames[-1] = ("re", True)
                    i = j + 1
                elif char == "]":
                    frames[-1] = ("re", False)
                    i = j + 1
                elif char == "/" and frame[1]:
                    i = j + 1
                elif char == "/":
                    close_frame(j)
                    i = j + 1
                else:  # an unterminated regex ends at the newline
                    close_frame(j)
                    i = j
        top = frames[-1][0]
        if top in ("c", "i"):
            open_at = None
        else:
            open_at = opened[-2] if top == "fs" and len(opened) > 1 else opened[-1]
        state = self._finish(frames, text, min(i, n))
        return Scan(state, lines, pops, errors, open_at, closed_at, min(i, n))

    def _finish(self, frames: list, text: str, end: int) -> State:
        """Record the JavaScript value/operator class of the last significant code character."""
        if self.family == "javascript" and frames[-1][0] in ("c", "i"):
            kind, brackets, prev, cont = frames[-1]
            frames[-1] = (kind, brackets, _js_prev_class(text, end, prev), cont)
        return tuple(frames)

    def _string_frame(self, text: str, j: int) -> Frame:
        """The frame of the string literal whose opening quote is ``text[j]``."""
        char = text[j]
        if not self.python:
            return ("s", char, False, char == "`")
        prefix = _word_before(text, j).lower()
        raw = formatted = False
        if prefix in _PY_PREFIXES:
            raw = "r" in prefix
            formatted = "f" in prefix or "t" in prefix
        quote = char * 3 if text.startswith(char * 3, j) else char
        return ("s", quote, raw, formatted)
