"""Statement signatures and incremental detection of structural repetition.

The grammar side of RPG (Dong et al. 2025, "Rethinking Repetition Problems of
LLMs in Code Generation"): small code models repeat the *structure* of a
statement (``assert f(1) == 2``, ``assert g(7) == 9``, ...) long after its
content stopped mattering. The paper reduces generated code to grammar rules
and looks for a repeated tail in that rule sequence; here tree-sitter gives the
rules. Every statement-level unit of a block gets a *signature*: its node types
and leaf template with identifiers, strings, numbers and comments abstracted,
nested bodies collapsed and arity kept. The tail of the generated units of each
enclosing block is then searched for a repeat of period 1..8; the model side
(``models.repetition``) turns the report into a logit penalty on the token that
would begin the next copy.

Units are the named children of a block, except that clauses are siblings:
``elif``/``else``/``except``/``finally`` (Python), ``else``/``catch``/``finally``
(JS/TS, with ``else if`` chains flattened), ``case`` clauses come from their
blocks. Only *generated* units count; where the prompt part of the block
already repeats the same shape one generated copy is free.

Detection is incremental: the draft is reparsed (tree-sitter incremental parse
on top of the prompt's tree) only up to its last statement terminator (newline;
in JS/TS also ``;`` and ``}``), and the analysis is cached by that text, so a
step that appends no terminator costs a string search and a dict lookup.

The same idea applies *inside* one statement, where small models loop just as
often: self-similar nesting (``path.join(os.join(path.join(``, each copy opening
a bracket it does not close) and repeated operand or argument patterns
(``_len(result) or _len(result) and _len(``). The logical line the draft ends in
(newlines inside brackets do not end it) is lexed into token classes (names,
dotted chains included, -> ID; numbers, strings, constants and operators
abstracted; brackets, ``,``, ``.``, ``=`` and keywords kept), and its tail is
searched for a unit of period 1..12 whose copies begin with a name. Like RPG for
statements, only generated copies count; because legitimate code nests and
chains calls a few times (``os.path.join(os.path.dirname(os.path.abspath(``),
a unit is penalised only from its fourth generated copy on and only when its
content repeats too (two copies begin with the same name), and only at the
point where the next copy would begin: right after an opening bracket or a
separator, never on ``(``, ``,`` or an operator themselves.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import tree_sitter

from analysis.document import Document
from analysis.languages import language_for, parser_for
from analysis.positions import encode

MAX_PERIOD = 8
LOOKBACK_UNITS = 3 * MAX_PERIOD  # prompt units looked at for the free copy
_MAX_DEPTH = 64  # signature recursion guard (deeply nested expressions)

_ANCHOR = re.compile(r"@?(?:[^\W\d]|\$)[\w$]*(?:\.(?:[^\W\d]|\$)[\w$]*)*")
_STRING_TYPES = frozenset({"string", "concatenated_string", "template_string", "regex"})
_NUMBER_TYPES = frozenset({"integer", "float", "number"})
_COMMENT_TYPES = frozenset({"comment", "html_comment"})


@dataclass(frozen=True)
class _LanguageSpec:
    """Which node types are blocks, clauses and collapsed bodies in one grammar."""

    containers: frozenset[str]
    clauses: frozenset[str]
    bodies: frozenset[str]
    terminators: str


_PYTHON = _LanguageSpec(
    containers=frozenset({"module", "block"}),
    clauses=frozenset(
        {"elif_clause", "else_clause", "except_clause", "except_group_clause", "finally_clause"}
    ),
    bodies=frozenset({"block"}),
    terminators="\n",
)
_JAVASCRIPT = _LanguageSpec(
    containers=frozenset(
        {
            "program",
            "statement_block",
            "class_body",
            "switch_body",
            "switch_case",
            "switch_default",
            "interface_body",
        }
    ),
    clauses=frozenset({"else_clause", "catch_clause", "finally_clause"}),
    bodies=frozenset(
        {"statement_block", "class_body", "switch_body", "interface_body", "enum_body"}
    ),
    terminators="\n;}",
)
_SPECS = {
    "python": _PYTHON,
    "javascript": _JAVASCRIPT,
    "typescript": _JAVASCRIPT,
    "tsx": _JAVASCRIPT,
}


@dataclass(frozen=True)
class Unit:
    """One statement-level unit of a block: signature, byte span, anchor text."""

    signature: str
    start: int
    end: int
    anchor: str | None  # leading keyword / dotted name ("assert", "self.x"), None if none


@dataclass(frozen=True)
class StatementReport:
    """Tail repetition of generated units (same fields as models.repetition.RepetitionReport).

    ``kind`` says which unit repeats: ``"statement"`` (statements of a block, period in
    statements), ``"nesting"`` or ``"operands"`` (inside one logical line, period in
    abstract tokens)."""

    period: int
    copies: int
    excess: int  # copies beyond the first (and beyond the free one), each penalised
    anchors: tuple[str, ...]  # surface text that began each copy of the next expected unit
    at_unit_start: bool  # the draft ends where the next unit of that block would start
    kind: str = "statement"


@dataclass(frozen=True)
class _Candidate:
    """A repeated tail found in one enclosing block, before the draft's tail is looked at."""

    period: int
    copies: int
    excess: int
    anchors: tuple[str, ...]
    indent: str | None  # leading whitespace of the block's units (None: not at line starts)


# ------------------------------------------------------------------ signatures


def _leaf_signature(node: tree_sitter.Node) -> str | None:
    """Abstracted token for identifier/string/number/comment nodes, else None."""
    kind = node.type
    if kind in _COMMENT_TYPES:
        return ""
    if kind.endswith("identifier"):
        return "ID"
    if kind in _STRING_TYPES:
        return "STR"
    if kind in _NUMBER_TYPES:
        return "NUM"
    return None


def node_signature(node: tree_sitter.Node, spec: _LanguageSpec, depth: int = 0) -> str:
    """Signature of a node: types and leaf template, names/literals abstracted, bodies collapsed."""
    abstract = _leaf_signature(node)
    if abstract is not None:
        return abstract
    if node.is_missing:
        return "MISSING"
    if depth > 0 and node.type in spec.bodies:
        return "BODY"
    if node.child_count == 0 or depth >= _MAX_DEPTH:
        return node.type
    return _composite_signature(node.type, node.children, spec, depth)


def _composite_signature(
    kind: str, children: Sequence[tree_sitter.Node], spec: _LanguageSpec, depth: int
) -> str:
    parts = [node_signature(child, spec, depth + 1) for child in children]
    return kind + "(" + " ".join(p for p in parts if p) + ")"


def _anchor(source: bytes, start: int) -> str | None:
    """The keyword or dotted name a unit starts with (its 'key token' surface)."""
    head = source[start : start + 120].decode("utf-8", errors="replace")
    match = _ANCHOR.match(head)
    return match.group(0) if match else None


def _unit(signature: str, start: int, end: int, source: bytes) -> Unit:
    return Unit(signature, start, end, _anchor(source, start))


def _expand(node: tree_sitter.Node, spec: _LanguageSpec, source: bytes) -> list[Unit]:
    """Units of one statement: the statement itself, or its head plus sibling clauses."""
    children = node.children
    clauses = [c for c in children if c.type in spec.clauses]
    if not clauses:
        return [_unit(node_signature(node, spec), node.start_byte, node.end_byte, source)]
    head = [c for c in children if c.type not in spec.clauses]
    end = max((c.end_byte for c in head), default=node.start_byte)
    units = [_unit(_composite_signature(node.type, head, spec, 0), node.start_byte, end, source)]
    for clause in clauses:
        nested = [c for c in clause.children if c.type == "if_statement"]
        if clause.type == "else_clause" and nested and spec is _JAVASCRIPT:
            # flatten `else if`: the clause is `else` + the head of the nested if
            inner = _expand(nested[0], spec, source)
            keyword = [c for c in clause.children if c.type != "if_statement"]
            prefix = " ".join(node_signature(c, spec, 1) for c in keyword)
            first = inner[0]
            units.append(
                _unit(
                    f"else_clause({prefix} {first.signature})",
                    clause.start_byte,
                    first.end,
                    source,
                )
            )
            units.extend(inner[1:])
        else:
            units.append(
                _unit(node_signature(clause, spec), clause.start_byte, clause.end_byte, source)
            )
    return units


def block_units(
    container: tree_sitter.Node,
    spec: _LanguageSpec,
    source: bytes,
    since: int = 0,
    lookback: int | None = None,
    memo: dict[tuple[int, int, str, int], list[Unit]] | None = None,
) -> list[Unit]:
    """Statement-level units of a block node, clauses as siblings, comments skipped.

    With ``lookback``, only the statements ending after byte ``since`` and the
    ``lookback`` statements before them are expanded (each gives at least one
    unit), so a long prompt block costs nothing per reparse. ``memo`` keeps the
    units of statements that end before ``since`` (the prompt's, unchanged by
    appended text) across reparses.
    """
    if container.type in ("switch_case", "switch_default"):
        children = container.children_by_field_name("body")
    else:
        children = container.named_children
    statements = [c for c in children if c.is_named and c.type not in _COMMENT_TYPES]
    if lookback is not None:
        first = next((i for i, c in enumerate(statements) if c.end_byte > since), len(statements))
        statements = statements[max(0, first - lookback) :]
    units: list[Unit] = []
    for child in statements:
        if memo is None or child.end_byte > since:
            units.extend(_expand(child, spec, source))
            continue
        key = (child.start_byte, child.end_byte, child.type, child.descendant_count)
        known = memo.get(key)
        if known is None:
            known = memo[key] = _expand(child, spec, source)
        units.extend(known)
    return units


def _spec_for(language: str) -> tuple[str, _LanguageSpec]:
    name = language_for(language)
    if name is None or name not in _SPECS:
        raise ValueError(f"unsupported language {language!r} for statement signatures")
    return name, _SPECS[name]


def statement_units(source: str, language: str) -> list[list[Unit]]:
    """Units (byte spans into ``source`` encoded as UTF-8) of every block, outermost first."""
    name, spec = _spec_for(language)
    data = source.encode("utf-8", errors="replace")
    tree = parser_for(name).parse(data)
    blocks: list[list[Unit]] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in spec.containers:
            units = block_units(node, spec, data)
            if units:
                blocks.append(units)
        stack.extend(reversed(node.named_children))
    return blocks


def statement_signatures(source: str, language: str, since: int = 0) -> list[list[str]]:
    """Signatures of the units of every block of ``source`` (units ending after ``since``).

    ``since`` is a character offset: with the prompt's length it keeps only the
    units a completion wrote (the benchmark's TR-S / TR-N).
    """
    since_byte = len(source[:since].encode("utf-8", errors="replace"))
    blocks = (
        [u.signature for u in units if u.end > since_byte]
        for units in statement_units(source, language)
    )
    return [sigs for sigs in blocks if sigs]


# ------------------------------------------------------------------ detection


def _run_length(signatures: Sequence[str], period: int) -> int:
    """Number of trailing positions i with ``signatures[i] == signatures[i - period]``."""
    n = len(signatures)
    run = 0
    while run < n - period and signatures[n - 1 - run] == signatures[n - 1 - run - period]:
        run += 1
    return run


def detect_period(
    signatures: Sequence[str], max_period: int = MAX_PERIOD
) -> tuple[int, int] | None:
    """(period, full copies) of the repeated tail of ``signatures``, or None.

    The period explaining the longest periodic tail wins (the shorter one on a
    tie); at least two full copies are needed. ``[A, A, A]`` -> (1, 3);
    ``[A, B, A, B]`` -> (2, 2); ``[A, B, A, B, A]`` -> (2, 2); ``[A, B, C]`` -> None.
    """
    best: tuple[int, int] | None = None
    best_run = 0
    for period in range(1, min(max_period, len(signatures) // 2) + 1):
        run = _run_length(signatures, period)
        if run >= period and run > best_run:
            best, best_run = (period, (run + period) // period), run
    return best


def _block_candidate(
    units: Sequence[Unit], gen_start: int, source: bytes, max_period: int
) -> _Candidate | None:
    """The repeated tail among the generated units of one block, with its free copy."""
    first_gen = next((i for i, u in enumerate(units) if u.end > gen_start), len(units))
    generated = [u.signature for u in units[first_gen:]]
    found = detect_period(generated, max_period)
    if found is None:
        return None
    period, copies = found
    gen_run = _run_length(generated, period)
    free = 0
    if gen_run + period >= len(generated):  # the run reaches back to the prompt
        lookback = [u.signature for u in units[max(0, first_gen - LOOKBACK_UNITS) : first_gen]]
        combined_run = _run_length(lookback + generated, period)
        in_prompt = combined_run + period - len(generated)
        free = 1 if in_prompt >= 2 * period else 0
    n = len(units)
    same_phase = range(n - period, n - period - gen_run - 1, -period)
    anchors: list[str] = []
    for i in reversed(same_phase):
        anchor = units[i].anchor if i >= first_gen else None
        if anchor and anchor not in anchors:
            anchors.append(anchor)
    last = units[-1]
    line_start = source.rfind(b"\n", 0, last.start) + 1
    lead = source[line_start : last.start]
    indent = lead.decode("utf-8", errors="replace") if not lead.strip() else None
    return _Candidate(
        period=period,
        copies=copies,
        excess=max(0, copies - 1 - free),
        anchors=tuple(anchors),
        indent=indent,
    )


# ------------------------------------------------------------------ in-line repetition

INLINE_MIN_COPIES = 3  # generated copies of a unit written freely; the next one is penalised
INLINE_MAX_PERIOD = 12  # abstract tokens per copy (`tuple[str, list[str, list[` is 10)
_INLINE_CACHE = 256  # lexed prefixes (complete lines) kept per oracle
_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")
_CONSTANTS = frozenset({"None", "True", "False", "null", "undefined", "true", "false", "NaN"})
_WORD_OPERATORS = frozenset({"and", "or", "not", "in", "is", "instanceof", "typeof"})
_NAME = r"(?:[^\W\d]|\$)[\w$]*"
_COMMON_TOKENS = (
    rf"|(?P<num>\.?\d[\w.]*)"
    rf"|(?P<name>@?{_NAME}(?:\.{_NAME})*)"
    r"|(?P<nl>\n)"
    r"|(?P<space>[ \t\r\f\\]+)"
    r"|(?P<op>\*\*=?|//=?|>>>?=?|<<=?|->|=>|:=|===|!==|\?\?|\?\.|&&|\|\||\.\.\.|[-+*/%&|^=<>!]=|"
    r"[-+*/%&|^~<>!?@])"
    r"|(?P<punct>[^\s\w])"
)
# strings may be unterminated at the end of the text (group ``open``: still inside it)
_PY_LEX = re.compile(
    r"(?P<comment>#[^\n]*)"
    r"|(?P<str>(?i:[rbuf]{0,2})(?:'''(?:[^\\]|\\.)*?'''|\"\"\"(?:[^\\]|\\.)*?\"\"\"))"
    r"|(?P<open>(?i:[rbuf]{0,2})(?:'''|\"\"\")(?:[^\\]|\\.)*\Z)"
    r"|(?P<line_str>(?i:[rbuf]{0,2})(?:'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"))"
    r"|(?P<line_open>(?i:[rbuf]{0,2})(?:'(?:[^'\\\n]|\\.)*|\"(?:[^\"\\\n]|\\.)*)\Z)"
    + _COMMON_TOKENS,
    re.DOTALL,
)
_JS_LEX = re.compile(
    r"(?P<comment>//[^\n]*|/\*(?:[^*]|\*(?!/))*\*/)"
    r"|(?P<str>`(?:[^`\\]|\\.)*`)"
    r"|(?P<open>(?:/\*|`)(?:[^\\]|\\.)*\Z)"
    r"|(?P<line_str>'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")"
    r"|(?P<line_open>(?:'(?:[^'\\\n]|\\.)*|\"(?:[^\"\\\n]|\\.)*)\Z)" + _COMMON_TOKENS,
    re.DOTALL,
)


class InlineToken(NamedTuple):
    """One lexed token of a logical line: where it starts, its abstract class, its text."""

    start: int  # code-point offset into the lexed text
    kind: str  # ID, NUM, STR, CONST, OP, NL, a keyword, or the punctuation itself
    text: str


def inline_tokens(text: str, language: str = "python") -> tuple[list[InlineToken], bool]:
    """Abstract tokens of ``text`` and whether it ends outside strings and comments.

    Names (dotted chains as one, ``os.path.join``) -> ``ID``; numbers -> ``NUM``;
    strings -> ``STR``; ``None``/``true``/... -> ``CONST``; operators (``+``, ``==``,
    ``and``, ``in``) -> ``OP``; newlines -> ``NL``; keywords, brackets, ``,``, ``.``,
    ``:``, ``=`` as written. Comments and spaces are dropped. Never raises.
    """
    python = language == "python" or _spec_for(language)[1] is _PYTHON
    lexer, names = (_PY_LEX, _PY_NAMES) if python else (_JS_LEX, _JS_NAMES)
    out: list[InlineToken] = []
    append = out.append
    for match in lexer.finditer(text):
        group = match.lastgroup
        if group == "space":
            continue
        word = match.group()
        if group == "name":
            kind = names.get(word, "ID")
        elif group == "punct":
            kind = word
        elif group == "op":
            kind = "=" if word == "=" else "OP"
        elif group == "comment":
            if match.end() == len(text) and not word.startswith("/*"):
                return out, False  # the text ends inside a line comment
            continue
        elif group == "open" or group == "line_open":
            return out, False  # ... or inside a string or block comment
        else:
            kind = _GROUP_KINDS[group or ""]
        append(InlineToken(match.start(), kind, word))
    return out, True


_PY_KEYWORDS = frozenset(
    "False None True and as assert async await break class continue def del elif else except "
    "finally for from global if import in is lambda nonlocal not or pass raise return try while "
    "with yield match case".split()
)
_JS_KEYWORDS = frozenset(
    "break case catch class const continue debugger default delete do else export extends "
    "finally for function if import in instanceof let new of return super switch this throw try "
    "typeof var void while with yield async await static get set".split()
)
_GROUP_KINDS = {"str": "STR", "line_str": "STR", "num": "NUM", "nl": "NL"}


def _name_kinds(keywords: frozenset[str]) -> dict[str, str]:
    """Class of each reserved word (operators, constants, keywords); other names are ID."""
    kinds = {word: word for word in keywords}
    kinds.update(dict.fromkeys(_CONSTANTS, "CONST"))
    kinds.update(dict.fromkeys(_WORD_OPERATORS, "OP"))
    return kinds


_PY_NAMES = _name_kinds(_PY_KEYWORDS)
_JS_NAMES = _name_kinds(_JS_KEYWORDS)


_COPY_ENDS = frozenset("([{,=+-*/%&|^~<>!?@")
_TRAILING_WORD = re.compile(r"[\w$]+\Z")


def _may_end_a_copy(text: str) -> bool:
    """False when ``text`` cannot end a copy (its last token is no opener, ``,``, operator
    or ``=``): a cheap test that spares the lexer on most decoding steps."""
    stripped = text.rstrip()
    if not stripped:
        return False
    if stripped[-1] in _COPY_ENDS:
        return True
    word = _TRAILING_WORD.search(stripped)
    return word is not None and word.group() in _WORD_OPERATORS


def logical_line(tokens: Sequence[InlineToken]) -> list[InlineToken]:
    """The tokens after the last newline (or ``;``) outside brackets, newlines inside
    brackets dropped."""
    return extend_logical_line((), 0, tokens)[0]


def extend_logical_line(
    line: Sequence[InlineToken], depth: int, tokens: Sequence[InlineToken]
) -> tuple[list[InlineToken], int]:
    """``(line, depth)`` after ``tokens``: the open logical line and its bracket depth."""
    out = list(line)
    for token in tokens:
        kind = token.kind
        if kind in _OPENERS:
            depth += 1
        elif kind in _CLOSERS:
            depth = max(0, depth - 1)
        elif kind == "NL" or kind == ";":
            if depth == 0:
                out = []
                continue
            if kind == "NL":
                continue
        out.append(token)
    return out, depth


def _unit_shape(kinds: Sequence[str]) -> str | None:
    """``"nesting"`` when a copy opens brackets it does not close (and never closes one it
    did not open) and ends where its argument starts; ``"operands"`` when it is balanced
    and ends with a separator (``,``, an operator, or ``=`` of a chained assignment);
    None otherwise."""
    depth = low = 0
    for kind in kinds:
        if kind in _OPENERS:
            depth += 1
        elif kind in _CLOSERS:
            depth -= 1
            low = min(low, depth)
    if low < 0 or kinds[0] != "ID":
        return None
    last = kinds[-1]
    if depth > 0 and (last in _OPENERS or last == ","):
        return "nesting"
    if depth == 0 and len(kinds) >= 2 and last in (",", "OP", "="):
        return "operands"
    return None


def inline_repetition(
    tokens: Sequence[InlineToken],
    generated_from: int,
    min_copies: int = INLINE_MIN_COPIES,
    max_period: int = INLINE_MAX_PERIOD,
) -> StatementReport | None:
    """Repeated nesting or operands at the end of a logical line's ``tokens``, or None.

    Copies count only where they begin at or after offset ``generated_from`` (the text
    the model wrote). A unit is reported when at least ``min_copies`` generated copies
    end the line, the line ends where the next copy would begin (its first token is a
    name), and two copies of the run (the prompt's included) begin with the same name
    (the content repeats, not only the shape). ``excess`` is the copies beyond ``min_copies - 1``.
    """
    kinds = [t.kind for t in tokens]
    n = len(kinds)
    best: StatementReport | None = None
    for period in range(1, min(max_period, n // max(1, min_copies)) + 1):
        shape = _unit_shape(kinds[n - period :])
        if shape is None:
            continue
        run = _run_length(kinds, period)
        starts = [n - j * period for j in range(1, (run + period) // period + 1)]
        generated = [i for i in starts if tokens[i].start >= generated_from]
        if len(generated) < min_copies:
            continue
        names = [tokens[i].text for i in starts]  # the prompt's copies count for content
        if len(set(names)) == len(names):
            continue  # the shape repeats with new names each time: ordinary code
        excess = len(generated) - min_copies + 1
        if best is None or excess > best.excess:
            anchors = tuple(dict.fromkeys(tokens[i].text for i in reversed(generated)))
            best = StatementReport(period, len(generated), excess, anchors, True, shape)
    return best


def _end_point(data: bytes) -> tuple[int, int]:
    """The tree-sitter point (row, byte column) just past ``data``."""
    return data.count(b"\n"), len(data) - (data.rfind(b"\n") + 1)


class StatementRepetition:
    """Repetition oracle for one request: ``report(draft_text)`` -> tail repetition or None.

    Satisfies ``models.repetition.RepetitionOracle`` structurally. ``prompt_prefix``
    is the text before the cursor; drafts are the generated text after it. ``source``,
    when given, is the open document's ``(tree, bytes)`` whose bytes start with the
    prefix's: each draft is then parsed incrementally from that tree with the part after
    the cursor replaced by the draft, and the prefix is never parsed on its own (a whole
    re-parse per request, 3-8 ms on a 2,000-line file). Without it (or when the bytes do
    not start with the prefix), the prefix is parsed once, at the first draft that needs
    a tree.
    """

    def __init__(
        self,
        language: str,
        prompt_prefix: str,
        max_period: int = MAX_PERIOD,
        cache_size: int = 1024,
        source: tuple[tree_sitter.Tree, bytes] | None = None,
    ) -> None:
        if max_period < 1:
            raise ValueError("max_period must be >= 1")
        if cache_size < 1:
            raise ValueError("cache_size must be >= 1")
        self.language, self._spec = _spec_for(language)
        self.max_period = max_period
        self._prompt = encode(prompt_prefix)
        self._prompt_point = _end_point(self._prompt)
        self._base: tuple[tree_sitter.Tree, int, tuple[int, int]] | None = None
        if source is not None and source[1].startswith(self._prompt):
            tree, data = source
            self._base = (tree, len(data), _end_point(data))
        self._prompt_units: dict[tuple[int, int, str, int], list[Unit]] = {}
        self._cache: OrderedDict[str, tuple[_Candidate, ...]] = OrderedDict()
        self._line_head = prompt_prefix[prompt_prefix.rfind("\n") + 1 :]
        self._lexed: OrderedDict[str, tuple[list[InlineToken], int] | None] = OrderedDict()
        self._cache_size = cache_size
        self.parses = 0  # reparses done (tests, benchmark)

    @classmethod
    def for_document(cls, document: Document, offset: int) -> StatementRepetition:
        """The oracle for drafts generated at code point ``offset`` of ``document``, parsed
        incrementally from the document's tree."""
        text, data, tree = document.snapshot()
        if document.language is None:
            raise ValueError(f"unsupported language for statement signatures: {document.uri}")
        source = (tree, data) if tree is not None else None
        return cls(document.language, text[:offset], source=source)

    def statement_end(self, draft_text: str) -> int:
        """Character offset just after the draft's last statement terminator (0 if none)."""
        return max(draft_text.rfind(t) for t in self._spec.terminators) + 1

    def report(self, draft_text: str) -> StatementReport | None:
        """Tail repetition where the draft ends: of the generated statements of its block
        when the draft ends where the next statement would start, else of nesting or
        operands inside its last logical line (:meth:`inline_report`), else the block's
        (not at a unit start), or None."""
        found = self.statement_report(draft_text)
        if found is not None and found.at_unit_start:
            return found
        return self.inline_report(draft_text) or found

    def inline_report(self, draft_text: str) -> StatementReport | None:
        """Repeated nesting or operands ending the draft's logical line (the prompt's line
        before the cursor included, its copies not counted), or None."""
        if not _may_end_a_copy(draft_text):
            return None  # most steps: the draft ends inside a name, a literal, after `)`
        text = self._line_head + draft_text
        cut = text.rfind("\n") + 1
        prefix = text[:cut]
        if prefix not in self._lexed:  # once per line: the open logical line after it
            tokens, clean = inline_tokens(prefix, self.language)
            self._lexed[prefix] = extend_logical_line((), 0, tokens) if clean else None
            if len(self._lexed) > _INLINE_CACHE:
                self._lexed.popitem(last=False)
        known = self._lexed[prefix]
        if known is None:  # the complete lines end inside a string: lex the whole text
            tokens, clean = inline_tokens(text, self.language)
            line = logical_line(tokens)
        else:
            tail, clean = inline_tokens(text[cut:], self.language)
            shifted = [InlineToken(t.start + cut, t.kind, t.text) for t in tail]
            line = extend_logical_line(known[0], known[1], shifted)[0]
        if not clean:
            return None
        return inline_repetition(line, len(self._line_head))

    def statement_report(self, draft_text: str) -> StatementReport | None:
        """Tail repetition of the generated units in the block where the draft ends."""
        cut = self.statement_end(draft_text)
        if cut == 0:
            return None
        key = draft_text[:cut]
        candidates = self._cache.get(key)
        if candidates is None:
            candidates = self._candidates(key)
            self._cache[key] = candidates
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        if not candidates:
            return None
        tail = draft_text[cut:]
        starting = [c for c in candidates if self._at_unit_start(c, tail)]
        pool = starting or list(candidates)
        best = max(pool, key=lambda c: c.excess)  # first (innermost) on ties
        return StatementReport(
            period=best.period,
            copies=best.copies,
            excess=best.excess,
            anchors=best.anchors,
            at_unit_start=bool(starting),
        )

    def _at_unit_start(self, candidate: _Candidate, tail: str) -> bool:
        """True when ``tail`` (text after the last terminator) could precede the next unit."""
        if tail.strip():
            return False
        if self._spec is _PYTHON:
            return candidate.indent is not None and candidate.indent.startswith(tail)
        return True

    def _parse(self, data: bytes) -> tree_sitter.Tree:
        """Incremental parse of prompt + draft: the base tree (the document's, or the
        prompt's own) with everything after the prompt replaced by the draft."""
        parser = parser_for(self.language)
        if self._base is None:  # once per request, and only when a draft needs a tree
            self._base = (parser.parse(self._prompt), len(self._prompt), self._prompt_point)
        tree, base_end, base_end_point = self._base
        old = tree.copy()
        old.edit(
            start_byte=len(self._prompt),
            old_end_byte=base_end,
            new_end_byte=len(data),
            start_point=self._prompt_point,
            old_end_point=base_end_point,
            new_end_point=_end_point(data),
        )
        self.parses += 1
        return parser.parse(data, old)

    def _candidates(self, key: str) -> tuple[_Candidate, ...]:
        """Repeated tails of every block enclosing the draft's last generated statement."""
        data = self._prompt + encode(key)
        gen_start = len(self._prompt)
        pos = len(data.rstrip())
        if pos <= gen_start:
            return ()
        tree = self._parse(data)
        node: tree_sitter.Node | None = tree.root_node.descendant_for_byte_range(pos - 1, pos)
        found: list[_Candidate] = []
        while node is not None:
            if node.type in self._spec.containers:
                units = block_units(
                    node, self._spec, data, gen_start, LOOKBACK_UNITS, self._prompt_units
                )
                candidate = _block_candidate(units, gen_start, data, self.max_period)
                if candidate is not None:
                    found.append(candidate)
            node = node.parent
        return tuple(found)
