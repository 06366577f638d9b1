"""A small resumable lexer that tracks strings, comments and brackets.

Monitor-guided decoding (Agrawal et al. 2023) only constrains the token after a ``.`` that
is a member access in code. Whether the end of ``prompt + draft`` is code, a string or a
comment is decided here, by lexing the draft incrementally from the lexical state at the
cursor instead of re-parsing the file on every decoding step. States are immutable tuples,
so they can be cached per line and shared between drafts.

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

The lexer never raises: unterminated single-line strings and regexes end at the newline,
unbalanced closing brackets are ignored.
"""

from __future__ import annotations

import re

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
_OPEN = {"(": ")", "[": "]", "{": "}"}

_PY_CODE = re.compile(r"[#'\"()\[\]{}\\\n]")
_PY_INTERP = re.compile(r"[#'\"()\[\]{}:\\\n]")
_JS_CODE = re.compile(r"[/'\"`()\[\]{}\n]")
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


def _with_code(frames: list, brackets: str) -> None:
    kind, _, prev, cont = frames[-1]
    frames[-1] = (kind, brackets, prev, cont)


class Lexer:
    """Lexical state tracker for one language family (``"python"`` or ``"javascript"``)."""

    def __init__(self, language: str):
        self.python = language == "python"

    def lex(self, state: State, text: str) -> State:
        """The state after lexing ``text`` starting in ``state``."""
        try:
            return self._lex(state, text)
        except Exception:  # defensive: lexing must never break the caller
            return CODE_STATE

    def _lex(self, state: State, text: str) -> State:
        frames = list(state) or list(CODE_STATE)
        i, n = 0, len(text)
        python = self.python
        while i < n:
            frame = frames[-1]
            kind = frame[0]
            if kind in ("c", "i"):
                pattern = (_PY_INTERP if kind == "i" else _PY_CODE) if python else _JS_CODE
                match = pattern.search(text, i)
                if match is None:
                    break
                j = match.start()
                char = text[j]
                brackets = frame[1]
                if frame[3] and j > i:
                    frames[-1] = (kind, brackets, frame[2], False)
                    frame = frames[-1]
                if char == "\n":
                    if frame[3]:
                        frames[-1] = (kind, brackets, frame[2], False)
                    i = j + 1
                elif char == "\\":
                    if text.startswith("\n", j + 1) or text.startswith("\r\n", j + 1):
                        frames[-1] = (kind, brackets, frame[2], True)
                        i = j + (2 if text[j + 1] == "\n" else 3)
                    else:
                        i = j + 1
                elif char in "([{":
                    _with_code(frames, brackets + char)
                    i = j + 1
                elif char in ")]":
                    if brackets and _OPEN[brackets[-1]] == char:
                        _with_code(frames, brackets[:-1])
                    i = j + 1
                elif char == "}":
                    if brackets:
                        if brackets[-1] == "{":
                            _with_code(frames, brackets[:-1])
                    elif kind == "i":
                        frames.pop()  # end of the interpolation: back in the string
                    i = j + 1
                elif char == ":":  # Python interpolation only
                    if not brackets:
                        frames[-1] = ("fs",)
                    i = j + 1
                elif char == "#":
                    frames.append(("#",))
                    i = j + 1
                elif char in "'\"`":
                    i = self._open_string(frames, text, j)
                else:  # "/" in JavaScript
                    nxt = text[j + 1 : j + 2]
                    prev = _js_prev_class(text, j, frame[2])
                    if nxt in ("/", "*"):
                        frames[-1] = (kind, brackets, prev, frame[3])
                        frames.append(("#",) if nxt == "/" else ("/*",))
                        i = j + 2
                    elif prev == "":
                        frames[-1] = (kind, brackets, "v", frame[3])  # a regex is a value
                        frames.append(("re", False))
                        i = j + 1
                    else:
                        i = j + 1
            elif kind == "s":
                i = self._in_string(frames, frame, text, i)
            elif kind == "fs":
                match = _FORMAT_SPEC.search(text, i)
                if match is None:
                    break
                j = match.start()
                if text[j] == "{":
                    frames.append(("i", "", "", False))
                elif text[j] == "}":
                    frames.pop()  # the format spec ends the interpolation
                else:  # newline in a format spec: unterminated, recover
                    frames.pop()
                i = j + 1
            elif kind == "#":
                j = text.find("\n", i)
                if j < 0:
                    break
                frames.pop()
                i = j + 1
            elif kind == "/*":
                match = _BLOCK_COMMENT_END.search(text, i)
                if match is None:
                    break
                frames.pop()
                i = match.end()
            else:  # regex literal
                match = _REGEX_SPECIAL.search(text, i)
                if match is None:
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
                else:  # closing "/" or an unterminated regex at the newline
                    frames.pop()
                    i = j + 1
        return self._finish(frames, text)

    def _finish(self, frames: list, text: str) -> State:
        """Record the JavaScript value/operator class of the last significant code character."""
        if not self.python and frames[-1][0] in ("c", "i"):
            kind, brackets, prev, cont = frames[-1]
            frames[-1] = (kind, brackets, _js_prev_class(text, len(text), prev), cont)
        return tuple(frames)

    def _open_string(self, frames: list, text: str, j: int) -> int:
        char = text[j]
        if not self.python:
            kind, brackets, _, cont = frames[-1]
            frames[-1] = (kind, brackets, "v", cont)  # a string is a value
            frames.append(("s", char, False, char == "`"))
            return j + 1
        prefix = _word_before(text, j).lower()
        raw = formatted = False
        if prefix in _PY_PREFIXES:
            raw = "r" in prefix
            formatted = "f" in prefix or "t" in prefix
        quote = char * 3 if text.startswith(char * 3, j) else char
        frames.append(("s", quote, raw, formatted))
        return j + len(quote)

    def _in_string(self, frames: list, frame: Frame, text: str, i: int) -> int:
        _, quote, raw, formatted = frame
        if self.python:
            pattern = _PY_STRING[(quote, formatted)]
        else:
            pattern = _JS_STRING[quote]
        match = pattern.search(text, i)
        if match is None:
            return len(text)
        j = match.start()
        char = text[j]
        if char == "\\":
            return j + 2  # the escaped character (even in raw strings it cannot close)
        if char == "\n":
            if len(quote) == 1 and quote != "`":
                frames.pop()  # unterminated single-line string
            return j + 1
        if char == "{":  # Python f-string
            if text.startswith("{{", j):
                return j + 2
            frames.append(("i", "", "", False))
            return j + 1
        if char == "}":  # Python f-string: "}}" is a literal brace
            return j + 2 if text.startswith("}}", j) else j + 1
        if char == "$":  # JavaScript template substitution
            if text.startswith("${", j):
                frames.append(("i", "", "", False))
                return j + 2
            return j + 1
        if text.startswith(quote, j):
            frames.pop()
            return j + len(quote)
        return j + 1
