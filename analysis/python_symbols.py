"""Python symbol extraction from tree-sitter trees: module, class and function scopes.

Facts only, no cross-module resolution (that is :mod:`analysis.resolution`). A module
records its top-level bindings (defs, classes, assignments incl. tuple targets and
annotations, imports and aliases, names bound under top-level if/try/with/for), star imports
and signs of dynamic namespaces; a class records its body bindings (methods incl.
property/static/class methods, class attributes, ``__slots__``), the attributes assigned
through the first parameter of its methods (``self.x = ...``, ``cls.x = ...``, and through
the instance ``__new__`` creates), its bases, metaclass and decorators. These are the symbols the monitor of Agrawal et al. 2023
("Guiding Language Models of Code with Global Context using Monitors") allows after a dot.

Every name has a list of :class:`Binding` s; a name with several bindings of different
kinds has no certain type. Extraction never raises on broken code: statements inside ERROR
nodes are still visited, and for erroneous classes a textual over-approximation of the
bound names is added (more names allowed is safe, fewer is not).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Generic, TypeVar

import tree_sitter

from analysis.languages import tree_sitter_language

Node = tree_sitter.Node

# A binding with kind "other" binds a name whose value we do not model (augmented
# assignment, ``except*`` targets, walrus, match captures, async for/with targets, ...). "loop",
# "with" and "unpack" bind a name inside a target pattern to an element of a value: the
# iterable of a ``for`` (or comprehension clause), the context manager of a ``with``, the
# value of a tuple assignment; "except" binds ``e`` of ``except T as e`` (``node`` is T).
BINDING_KINDS = (
    "def",
    "class",
    "import",
    "from",
    "assign",
    "param",
    "loop",
    "with",
    "unpack",
    "except",
    "other",
)


@dataclass(frozen=True)
class Binding:
    """One binding of a name in a scope.

    ``node``: the function_definition/class_definition for "def"/"class", the value
    expression for "assign" (None for a bare annotation). ``annotation``: the annotation
    expression of an annotated assignment or parameter. ``module``/``level``/``name``: the
    imported module (dotted, relative ``level``) and, for "from", the imported name.
    ``decorators``: decorator expressions of a def/class. For "loop"/"with"/"unpack",
    ``node`` is the iterable / context manager / assigned value, ``pattern`` the whole
    target and ``target`` the bound identifier (or attribute) inside it. ``param_kind`` of
    a "param": "plain", "*" or "**".
    """

    kind: str
    node: Node | None = None
    annotation: Node | None = None
    module: str | None = None
    level: int = 0
    name: str | None = None
    decorators: tuple[Node, ...] = ()
    target: Node | None = None
    pattern: Node | None = None
    param_kind: str = "plain"


@dataclass
class Bindings:
    """The bindings of one scope: names, star imports and global/nonlocal declarations."""

    names: dict[str, list[Binding]] = field(default_factory=dict)  # a module's: ModuleNames
    stars: list[tuple[str, int]] = field(default_factory=list)
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)

    def add(self, name: str, binding: Binding) -> None:
        self.names.setdefault(name, []).append(binding)


_V = TypeVar("_V")


class TextCache(Generic[_V]):
    """Facts derived from a piece of source text alone, kept across parses (thread-safe,
    least recently used first out, bounded by the text it keeps).

    Every keystroke re-parses the document, so facts on tree nodes do not survive it;
    facts that depend only on a statement's, class's or method's text (its names) do,
    keyed by that text.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, _V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, text: bytes) -> _V | None:
        return self.get_many([text])[0]

    def get_many(self, texts: list[bytes]) -> list[_V | None]:
        """:meth:`get` for each of ``texts`` (one lock for all: a module's statements)."""
        entries = self._entries
        with self._lock:
            found = [entries.get(text) for text in texts]
            for text, value in zip(texts, found, strict=True):
                if value is not None:
                    entries.move_to_end(text)
        return found

    def read_through(
        self, nodes: list[Node], data: bytes, compute: Callable[[int, Node, bytes], _V]
    ) -> list[_V]:
        """For each node: the value kept for its text, else ``compute(index, node, text)``,
        then kept. A node with a syntax error is computed each time and not kept: its
        tree may depend on what surrounds it."""
        texts = [data[node.start_byte : node.end_byte] for node in nodes]
        results: list[_V] = []
        for index, (node, text, found) in enumerate(
            zip(nodes, texts, self.get_many(texts), strict=True)
        ):
            if found is None or node.has_error:
                found = compute(index, node, text)
                if not node.has_error:
                    self.put(text, found)
            results.append(found)
        return results

    def put(self, text: bytes, names: _V) -> None:
        with self._lock:
            if text not in self._entries:
                self._entries[text] = names
                self._bytes += len(text)
            while self._bytes > self.max_bytes and self._entries:
                old, _ = self._entries.popitem(last=False)
                self._bytes -= len(old)


# per method text (decorators included): the attributes stored through its first parameter
# with the method's role, and the ones it uses through ``self`` (see PyClass)
_METHOD_STORES: TextCache[tuple[tuple[str, str], ...]] = TextCache(8_000_000)
_METHOD_USES: TextCache[frozenset[str]] = TextCache(8_000_000)


@dataclass(frozen=True)
class StatementFacts:
    """What one top-level statement binds and stores, read from its text alone."""

    names: tuple[str, ...]  # the names it binds, in order of their first binding
    stars: tuple[tuple[str, int], ...]
    globals: frozenset[str]
    nonlocals: frozenset[str]
    scanned: TextFacts  # what the textual scans find in it (statement_text_facts)
    walrus: tuple[str, ...] = ()  # the walrus targets in it that bind in the module


# per top-level statement text: a module parsed again (every keystroke re-parses it) reads
# only the statements whose text changed (see PyModule.statements)
_STATEMENT_FACTS: TextCache[StatementFacts] = TextCache(16_000_000)


@dataclass
class _Outside:
    """The facts of a document's top-level statements around a re-parsed range
    (:class:`Surround`), and their unions of :class:`TextFacts` fields (filled as asked)."""

    before: list[StatementFacts]
    after: list[StatementFacts]
    unions: dict[str, frozenset] = field(default_factory=dict)

    def union(self, fact: str) -> frozenset:
        if fact not in self.unions:
            self.unions[fact] = frozenset().union(
                *(
                    getattr(facts.scanned, fact)
                    for facts in (*self.before, *self.after)
                    if facts.scanned is not NO_TEXT_FACTS
                )
            )
        return self.unions[fact]


class SurroundCache(Generic[_V]):
    """Values kept per text around a re-parsed range, the bytes before its start and from
    its end on (thread-safe, least recently used first out, bounded by the text it keeps).

    That text is most of a document, tens of kilobytes: hashing it, or copying it into a
    key, would cost a request more than the facts it finds. An entry is found by the
    range's start and the length after it, and checked with a memory compare.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, int], tuple[bytes, bytes, _V]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, data: bytes, start: int, end: int) -> _V | None:
        """The value kept for ``data[:start]`` and ``data[end:]``, if any."""
        key = (start, len(data) - end)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not (data.startswith(entry[0]) and data.endswith(entry[1])):
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def put(self, data: bytes, start: int, end: int, value: _V) -> None:
        key = (start, len(data) - end)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[0]) + len(old[1])
            self._entries[key] = (data[:start], data[end:], value)
            self._bytes += key[0] + key[1]
            while self._bytes > self.max_bytes and self._entries:
                _, (before, after, _) = self._entries.popitem(last=False)
                self._bytes -= len(before) + len(after)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


# per text around a re-parsed range: the requests made while a person edits one function
# read the rest of the module once
_OUTSIDE_FACTS: SurroundCache[_Outside] = SurroundCache(4_000_000)

_STORED_ATTRIBUTE = re.compile(rb"\.[ \t]*([^\W\d]\w*)[ \t]*(?:[-+*/%&|^@<>]{1,3})?=(?!=)")
_OWN_RECEIVER = re.compile(rb"(?<![\w.])(?:self|cls)[ \t]*$")
_SETATTR_NAME = re.compile(rb"\bsetattr\([^,()]+,\s*[rbuRBU]?[\'\"]([^\W\d]\w*)[\'\"]")


_GLOBAL_DECLARATION = re.compile(rb"global[ \t]+([\w, \t]+)")
_VARS_WRITE = re.compile(rb"vars\(\)\s*(\[|\.update)")
_SYS_MODULES_NAME = re.compile(rb"sys\.modules\[\s*__name__\s*\]")


def global_declarations_in(chunk: bytes) -> frozenset[str]:
    """Names of the ``global`` declarations starting a line of ``chunk`` (a textual scan)."""
    if b"global" not in chunk:
        return frozenset()
    names: set[str] = set()
    for match in _GLOBAL_DECLARATION.finditer(chunk):
        line_start = chunk.rfind(b"\n", 0, match.start()) + 1
        if chunk[line_start : match.start()].strip():
            continue
        for name in match.group(1).decode("utf-8", "replace").split(","):
            if name.strip().isidentifier():
                names.add(name.strip())
    return frozenset(names)


def dynamic_signs_in(chunk: bytes) -> frozenset[str]:
    """Which textual signs of a namespace we cannot see ``chunk`` has (see
    :attr:`PyModule.dynamic`): ``globals()``, an enum ``_convert_``, ``exec(`` at a line
    start (``exec-first``: at the chunk's start), a ``vars()`` write,
    ``sys.modules[__name__]``."""
    signs = set()
    if b"globals()" in chunk:
        signs.add("globals()")
    if b"._convert_(" in chunk:
        signs.add("_convert_")
    if b"\nexec(" in chunk:
        signs.add("exec")
    if chunk.startswith(b"exec("):
        signs.add("exec-first")
    if b"vars()" in chunk and _VARS_WRITE.search(chunk):
        signs.add("vars")
    if b"sys.modules[" in chunk and _SYS_MODULES_NAME.search(chunk):
        signs.add("sys.modules")
    return frozenset(signs)


_SETATTR_TARGET = re.compile(rb"\bsetattr\(\s*([^\W\d]\w*)\s*,")
# `.attr =` (or augmented): anchored at the dot, so the scan skips to dots quickly
STORE_OPERATOR = rb"(?:=(?!=)|[-+*/|&^%@]=|//=|\*\*=|>>=|<<=)"  # `=` or an augmented one
_DOT_STORE = re.compile(rb"\.[ \t]*([A-Za-z_]\w*)[ \t]*" + STORE_OPERATOR)
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def setattr_targets_in(chunk: bytes) -> frozenset[str]:
    """The NAME of each ``setattr(NAME, ...)`` in ``chunk`` (a textual scan)."""
    if b"setattr" not in chunk:
        return frozenset()
    return frozenset(m.group(1).decode("utf-8", "replace") for m in _SETATTR_TARGET.finditer(chunk))


def name_stores_in(chunk: bytes) -> frozenset[tuple[str, str]]:
    """(NAME, attr) of each ``NAME.attr = ...`` (or augmented) in ``chunk`` whose NAME is
    not itself an attribute (a textual scan: strings count too)."""
    if b"=" not in chunk:
        return frozenset()
    found = set()
    for match in _DOT_STORE.finditer(chunk):
        end = match.start()
        while end > 0 and chunk[end - 1] in b" \t":
            end -= 1
        start = end
        while start > 0 and chunk[start - 1] in _WORD_BYTES:
            start -= 1
        if start == end or chunk[start] in b"0123456789":
            continue  # no name before the dot, or a number
        if start > 0 and chunk[start - 1] == ord("."):
            continue  # NAME is itself an attribute
        found.add((chunk[start:end].decode("ascii"), match.group(1).decode("ascii")))
    return frozenset(found)


_CLASS_HEADER = re.compile(rb"class[ \t]+\w+[ \t]*\(([^)]*)")
_BASE_NAME = re.compile(rb"(?<![\w.])\w+")


def class_base_names_in(chunk: bytes) -> frozenset[str]:
    """Every name in the base list of a ``class`` statement of ``chunk`` (a textual scan:
    ``bytes.find`` for the keyword, then the header at a line start)."""
    names: set[str] = set()
    at = chunk.find(b"class")
    while at >= 0:
        line_start = chunk.rfind(b"\n", 0, at) + 1
        header = _CLASS_HEADER.match(chunk, at)
        if header is not None and not chunk[line_start:at].strip(b" \t"):
            names.update(name.decode() for name in _BASE_NAME.findall(header.group(1)))
        at = chunk.find(b"class", at + 5)
    return frozenset(names)


@dataclass(frozen=True)
class TextFacts:
    """What the textual scans of :class:`StatementFacts` find in a piece of source."""

    stored: frozenset[str]
    declared_global: frozenset[str]
    signs: frozenset[str]
    setattr_targets: frozenset[str]
    name_stores: frozenset[tuple[str, str]]
    class_bases: frozenset[str] = frozenset()  # class_base_names_in

    def __or__(self, other: TextFacts) -> TextFacts:
        return union_of_text_facts([self, other])


def union_of_text_facts(facts: Sequence[TextFacts]) -> TextFacts:
    """The field-wise union of ``facts`` (:data:`NO_TEXT_FACTS` for none)."""
    found = [f for f in facts if f is not NO_TEXT_FACTS]
    if len(found) < 2:
        return found[0] if found else NO_TEXT_FACTS
    return TextFacts(
        *(frozenset().union(*(getattr(f, name) for f in found)) for name in _TEXT_FACT_FIELDS)
    )


NO_TEXT_FACTS = TextFacts(*(frozenset(),) * 6)  # most statements' (checked by identity)
_TEXT_FACT_FIELDS = tuple(f.name for f in fields(TextFacts))


def text_facts_in(chunk: bytes) -> TextFacts:
    """Every textual scan of ``chunk``."""
    facts = TextFacts(
        stored_attribute_names_in(chunk),
        global_declarations_in(chunk),
        dynamic_signs_in(chunk),
        setattr_targets_in(chunk),
        name_stores_in(chunk),
        class_base_names_in(chunk),
    )
    return NO_TEXT_FACTS if facts == NO_TEXT_FACTS else facts


# per statement text inside a class body: an edited class is re-scanned one statement
# (method) at a time, not whole (see statement_text_facts)
_CLASS_PART_FACTS: TextCache[TextFacts] = TextCache(8_000_000)


def statement_text_facts(node: Node, data: bytes, parts: Sequence[Node] | None = None) -> TextFacts:
    """The textual facts of top-level statement ``node``: a class's from its header and
    each statement of its body (kept per text, so an edit re-scans one method); anything
    else scanned whole. Equal to scanning the whole text: every pattern lies within one
    statement, and a body statement does not start a line (``exec(`` there is not a
    module-level call). ``parts``: the class's body statements, when its tree holds only
    some of them (:class:`BodySurround`)."""
    if parts is None:
        definition = unwrap_definition(node)[0]
        is_class = definition.type == "class_definition"
        body = definition.child_by_field_name("body") if is_class else None
        parts = body.named_children if body is not None else []
    if len(parts) < 2:
        return text_facts_in(data[node.start_byte : node.end_byte])
    header = text_facts_in(data[node.start_byte : parts[0].start_byte])
    body = _CLASS_PART_FACTS.read_through(parts, data, lambda _i, _n, text: text_facts_in(text))
    body = [
        replace(part, signs=part.signs - {"exec-first"}) if "exec-first" in part.signs else part
        for part in body
    ]
    return union_of_text_facts([header, *body])


# signs that instances get attributes out of sight: ``setattr(self, ...)``, a write to
# ``self.__dict__`` or ``vars(self)`` (see PyClass.dynamic_attributes)
_DYNAMIC_ATTRIBUTES = re.compile(
    rb"\bsetattr\(\s*(self|cls)\b"
    rb"|\b(self|cls)\.__dict__\s*(\[[^\]\n]*\]\s*=(?!=)|\.update|\.setdefault|\.__setitem__)"
    rb"|\bvars\(\s*(self|cls)\s*\)\s*(\[[^\]\n]*\]\s*=(?!=)|\.update)"
)


def has_dynamic_attribute_signs(chunk: bytes) -> bool:
    """Whether ``chunk`` sets attributes of ``self``/``cls`` by name (a textual scan)."""
    if b"setattr" not in chunk and b"__dict__" not in chunk and b"vars" not in chunk:
        return False  # none of the signs (a substring test costs microseconds)
    return _DYNAMIC_ATTRIBUTES.search(chunk) is not None


@dataclass(frozen=True)
class ClassPartFacts:
    """What one statement of a class body binds in the class, read from its text alone."""

    names: tuple[str, ...]  # the names it binds in the class scope
    stars: tuple[tuple[str, int], ...]
    dynamic: bool  # has_dynamic_attribute_signs


# per class body statement text: a class's member names are read again only for the
# statements whose text changed (a request re-parses the document, so its class facts are
# new objects; see PyClass.body_names)
_CLASS_PARTS: TextCache[ClassPartFacts] = TextCache(8_000_000)


def stored_attribute_names_in(chunk: bytes) -> frozenset[str]:
    """Names stored as ``<expr>.name = ...`` (or ``+=``, ``setattr(obj, "name", v)``) in
    ``chunk``, a textual scan (strings count too); stores through a plain ``self``/``cls``
    are left to :attr:`PyClass.first_parameter_attributes`."""
    if b"=" not in chunk and b"setattr" not in chunk:
        return frozenset()
    return frozenset(
        match.group(1).decode("utf-8", "replace")
        for match in _STORED_ATTRIBUTE.finditer(chunk)
        if not _OWN_RECEIVER.search(chunk, max(0, match.start() - 8), match.start())
    ) | frozenset(
        match.group(1).decode("utf-8", "replace") for match in _SETATTR_NAME.finditer(chunk)
    )


class ModuleNames(Mapping[str, list[Binding]]):
    """A module namespace's names, each name's bindings collected on its first lookup.

    Which top-level statements bind which names is known from their facts (kept per
    statement text), so a request reads the trees of only the statements binding the names
    it asks about. The bindings of a name: its statements' in source order, then ``extra``
    (walrus targets, ``global`` declarations, ``global_enum`` members), as
    :func:`collect_bindings` gives them.
    """

    def __init__(self, module: PyModule, extra: dict[str, list[Binding]]) -> None:
        self._module = module
        self._extra = extra
        owners: dict[str, list[int]] = {}
        for index, (_, facts) in enumerate(module.statements):
            for name in facts.names:
                owners.setdefault(name, []).append(index)
        for name in extra:
            owners.setdefault(name, [])
        self._owners = owners
        self._bindings: dict[str, list[Binding]] = {}

    def __getitem__(self, name: str) -> list[Binding]:
        found = self._bindings.get(name)
        if found is None:
            found = []
            for index in self._owners[name]:
                found.extend(self._module.statement_bindings(index).names.get(name, ()))
            found.extend(self._extra.get(name, ()))
            self._bindings[name] = found
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._owners

    def __iter__(self) -> Iterator[str]:
        return iter(self._owners)

    def __len__(self) -> int:
        return len(self._owners)


_COMPOUND = frozenset(
    {
        "if_statement",
        "elif_clause",
        "else_clause",
        "for_statement",
        "while_statement",
        "try_statement",
        "except_clause",
        "except_group_clause",
        "finally_clause",
        "with_statement",
        "match_statement",
        "case_clause",
        "block",
        "ERROR",
        "module",
    }
)
_PATTERNS = frozenset(
    {"pattern_list", "tuple_pattern", "list_pattern", "tuple", "list", "parenthesized_expression"}
)
_SCOPE_TYPES = frozenset({"function_definition", "class_definition", "lambda"})
_COMPREHENSIONS = frozenset(
    {"list_comprehension", "set_comprehension", "dictionary_comprehension", "generator_expression"}
)


def _query(source: str) -> tree_sitter.Query:
    return tree_sitter.Query(tree_sitter_language("python"), source)


_ATTRIBUTE_QUERY = None


_STORED_ATTRIBUTE_QUERY = None


def stored_attribute_query() -> tree_sitter.Query:
    """Attribute nodes ``NAME.attr`` in assignment-target positions (captured as @target)."""
    global _STORED_ATTRIBUTE_QUERY
    if _STORED_ATTRIBUTE_QUERY is None:
        attribute = "(attribute object: (identifier) attribute: (identifier)) @target"
        _STORED_ATTRIBUTE_QUERY = _query(
            f"(assignment left: {attribute}) (augmented_assignment left: {attribute})"
            f" (pattern_list {attribute}) (tuple_pattern {attribute}) (list_pattern {attribute})"
            f" (for_statement left: {attribute}) (as_pattern_target {attribute})"
        )
    return _STORED_ATTRIBUTE_QUERY


def attribute_query() -> tree_sitter.Query:
    global _ATTRIBUTE_QUERY
    if _ATTRIBUTE_QUERY is None:
        _ATTRIBUTE_QUERY = _query("(attribute object: (identifier) @object) @attribute")
    return _ATTRIBUTE_QUERY


def captures(
    query: tree_sitter.Query, node: Node, span: tuple[int, int] | None = None
) -> dict[str, list[Node]]:
    """Query captures under ``node`` (empty on any failure); with ``span``, only nodes
    within those bytes [start, end)."""
    try:
        cursor = tree_sitter.QueryCursor(query)
        if span is None:
            return cursor.captures(node)
        cursor.set_byte_range(*span)
        found = cursor.captures(node)
    except Exception:
        return {}
    start, end = span
    return {
        name: [n for n in nodes if start <= n.start_byte and n.end_byte <= end]
        for name, nodes in found.items()
    }


def decorator_name(module: PyModule, decorator: Node) -> str:
    """The dotted name a decorator expression calls or names (``""`` if not a plain name)."""
    node = decorator
    if node.type == "decorator":
        node = node.named_children[0] if node.named_children else node
    if node.type == "call":
        node = node.child_by_field_name("function") or node
    if node.type in ("identifier", "attribute"):
        return module.text(node)
    return ""


def unwrap_definition(node: Node) -> tuple[Node, tuple[Node, ...]]:
    """(definition, decorators) for a decorated_definition, else (node, ())."""
    if node.type == "decorated_definition":
        definition = node.child_by_field_name("definition")
        decorators = tuple(c for c in node.named_children if c.type == "decorator")
        if definition is not None:
            return definition, decorators
    return node, ()


def remember_text_facts(data: bytes, tree: tree_sitter.Tree) -> None:
    """Read a module's statement facts and its classes' body and method facts into the text
    caches.

    The server does it off the request path when a document opens or goes quiet: a request
    then re-reads only the statements and methods the user has edited since (the analysis
    of each request works on a tree of its own, re-parsed with a placeholder at the cursor,
    whose other statements have the same text).
    """
    module = PyModule(data, tree)
    for node, _ in module.statements:
        definition, decorators = unwrap_definition(node)
        if definition.type == "class_definition":
            cls = module.class_at(definition, decorators)
            cls.first_parameter_attribute_roles  # noqa: B018 - computed for the cache
            cls.first_parameter_uses  # noqa: B018
            cls.dynamic_attributes  # noqa: B018 - and the body's names with it


@dataclass(frozen=True)
class BodySurround:
    """The rest of a class body around the statements of it that a tree re-parsed.

    When an edit lies inside one statement of a top-level class's body (a method), the
    re-parsed tree holds the class's header and that statement only (tree-sitter's included
    ranges); the class's other body statements are the document tree's own nodes, over the
    same bytes at the same offsets. The class is the tree's class (:meth:`PyModule.class_at`
    reads the document's class node as it), with all the statements.
    """

    document_class: Node  # the document tree's class_definition
    parsed_class: Node  # the re-parsed tree's class_definition (same start byte)
    start: int  # the re-parsed body bytes [start, end)
    end: int
    before: tuple[Node, ...]  # the document's body statements before the range
    after: tuple[Node, ...]  # and after it

    def statements(self) -> list[Node]:
        """The class's body statements (named children, comments included), in order."""
        body = self.parsed_class.child_by_field_name("body")
        parsed = body.named_children if body is not None else []
        return [*self.before, *parsed, *self.after]

    def spans(self) -> list[tuple[Node, int, int]]:
        """(block, start byte, end byte): the parts of the body and the block each is read
        from."""
        document = self.document_class.child_by_field_name("body")
        parsed = self.parsed_class.child_by_field_name("body")
        assert document is not None and parsed is not None
        return [
            (document, document.start_byte, self.start),
            (parsed, self.start, self.end),
            (document, self.end, document.end_byte),
        ]


@dataclass(frozen=True)
class Surround:
    """The rest of a document around the range of it that a tree re-parsed.

    A request's analysis re-parses only the top-level statements around its cursor (with
    a placeholder the length of the text it replaces, so every other byte keeps its
    offset); the other top-level statements are the document tree's own nodes, over the
    same bytes at the same offsets.
    """

    root: Node  # the document tree's root
    start: int  # the re-parsed byte range [start, end)
    end: int
    before: tuple[Node, ...]  # the document's top-level statements before the range
    after: tuple[Node, ...]  # and after it
    body: BodySurround | None = None  # the tree holds only part of the range's class


class PyModule:
    """Facts about one Python source file (parsed tree + bytes).

    ``name`` is the dotted module name when known (stdlib/workspace), ``path`` the file,
    ``is_package`` True for an ``__init__.py``. With ``surround``, ``tree`` covers only
    a range of ``data`` and the rest of the module's top-level statements come from the
    document's tree (:class:`Surround`).
    """

    def __init__(
        self,
        data: bytes,
        tree: tree_sitter.Tree,
        path: Path | None = None,
        name: str | None = None,
        is_package: bool = False,
        is_stdlib: bool = False,
        surround: Surround | None = None,
    ):
        self.data = data
        self.tree = tree
        self.root = tree.root_node
        self.surround = surround
        self.path = path
        self.name = name
        self.is_package = is_package
        self.is_stdlib = is_stdlib
        self._classes: dict[tuple[int, int], PyClass] = {}
        self._functions: dict[tuple[int, int], FunctionScope] = {}
        self._statement_bindings: dict[int, Bindings] = {}  # by top-level statement index

    def text(self, node: Node | None) -> str:
        """The source text of ``node``."""
        if node is None:
            return ""
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")

    @cached_property
    def namespace(self) -> Bindings:
        """Module-level bindings, plus names declared ``global`` inside functions (each
        name's bindings collected when it is first looked up: :class:`ModuleNames`)."""
        extra = Bindings()
        facts = [f for _, f in self.statements]
        for name in (name for f in facts for name in f.walrus):  # kept with their text
            extra.add(name, Binding("other"))
        for name in self._global_declarations():
            extra.add(name, Binding("other"))
        for name in self.global_enum_names:
            extra.add(name, Binding("other"))
        return Bindings(
            ModuleNames(self, extra.names),  # type: ignore[arg-type]  # read-only, lazy
            [star for f in facts for star in f.stars],
            set().union(*(f.globals for f in facts)),
            set().union(*(f.nonlocals for f in facts)),
        )

    @cached_property
    def _parsed(self) -> list[Node]:
        """The top-level statements of this module's own tree (its root's children)."""
        return self.root.children

    @cached_property
    def top_level(self) -> list[Node]:
        """The module's top-level statements, in source order (with a :class:`Surround`,
        the document's around those of this tree)."""
        surround = self.surround
        if surround is None:
            return self._parsed
        return [*surround.before, *self._parsed, *surround.after]

    @property
    def spans(self) -> list[tuple[Node, int, int]]:
        """(root, start byte, end byte): the parts of the module and the root each is read
        from (one part without a :class:`Surround`)."""
        surround = self.surround
        if surround is None:
            return [(self.root, self.root.start_byte, self.root.end_byte)]
        # with a class body around the range, the class's header is read from the document
        body = surround.body
        start, end = (surround.start, surround.end) if body is None else (body.start, body.end)
        return [
            (surround.root, 0, start),
            (self.root, start, end),
            (surround.root, end, len(self.data)),
        ]

    @cached_property
    def statements(self) -> list[tuple[Node, StatementFacts]]:
        """Each top-level statement with its facts, read from the cache when its text was
        seen before (:meth:`TextCache.read_through`; with a :class:`Surround`, the facts of
        the statements around the re-parsed range are read as one)."""
        if self.surround is None:
            facts = self._facts_of(self._parsed, 0)
        else:
            outside = self._outside
            first = len(outside.before)
            if self.surround.body is None:
                inner = self._facts_of(self._parsed, first)
            else:  # the tree's text is not its class's: not kept
                inner = [
                    self._statement_facts(first + index, node, b"")
                    for index, node in enumerate(self._parsed)
                ]
            facts = [*outside.before, *inner, *outside.after]
        return list(zip(self.top_level, facts, strict=True))

    def _facts_of(self, nodes: Sequence[Node], first: int) -> list[StatementFacts]:
        """The facts of ``nodes``, the top-level statements ``first``, ``first + 1``, ...
        (:meth:`TextCache.read_through`)."""
        return _STATEMENT_FACTS.read_through(
            list(nodes),
            self.data,
            lambda index, node, text: self._statement_facts(first + index, node, text),
        )

    @cached_property
    def _outside(self) -> _Outside:
        """The facts of the statements around the re-parsed range (kept per their text)."""
        surround = self.surround
        assert surround is not None
        found = _OUTSIDE_FACTS.get(self.data, surround.start, surround.end)
        before, after = surround.before, surround.after
        if found is not None and (len(found.before), len(found.after)) == (
            len(before),
            len(after),
        ):
            return found
        found = _Outside(
            self._facts_of(before, 0), self._facts_of(after, len(before) + len(self._parsed))
        )
        if not any(node.has_error for node in (*before, *after)):
            _OUTSIDE_FACTS.put(self.data, surround.start, surround.end, found)
        return found

    def _statement_facts(self, index: int, node: Node, text: bytes) -> StatementFacts:
        bindings = self.statement_bindings(index, node)
        body = self.surround.body if self.surround is not None else None
        parts = None
        if body is not None and unwrap_definition(node)[0] == body.parsed_class:
            parts = body.statements()
        walrus = Bindings()
        if node.parent is not None:  # the root: targets binding in the module
            _collect_walrus_targets(self, node.parent, walrus, node.start_byte, node.end_byte)
        return StatementFacts(
            tuple(bindings.names),
            tuple(bindings.stars),
            frozenset(bindings.globals),
            frozenset(bindings.nonlocals),
            statement_text_facts(node, self.data, parts),
            tuple(name for name, found in walrus.names.items() for _ in found),
        )

    def statement_bindings(self, index: int, node: Node | None = None) -> Bindings:
        """The bindings top-level statement ``index`` makes (collected once per module)."""
        bindings = self._statement_bindings.get(index)
        if bindings is None:
            bindings = self._statement_bindings[index] = Bindings()
            try:
                if node is None:
                    node = self.statements[index][0]
                if node.is_named:
                    _collect_statement(self, node, bindings)
            except Exception:  # defensive: never raise on odd trees
                pass
        return bindings

    def scanned_union(self, fact: str) -> frozenset:
        """One :class:`TextFacts` field (``stored``, ``setattr_targets``, ...) of the whole
        module: the union over its statements, each kept with its text (memoised)."""
        unions = self.__dict__.setdefault("_scanned_unions", {})
        if fact not in unions:
            if self.surround is None:
                unions[fact] = frozenset().union(
                    *(
                        getattr(facts.scanned, fact)
                        for _, facts in self.statements
                        if facts.scanned is not NO_TEXT_FACTS
                    )
                )
            else:  # the statements around the re-parsed range: one union, kept with them
                first = len(self.surround.before)
                inner = self.statements[first : first + len(self._parsed)]
                unions[fact] = self._outside.union(fact).union(
                    *(getattr(facts.scanned, fact) for _, facts in inner)
                )
        return unions[fact]

    def _global_declarations(self) -> set[str]:
        """Names declared ``global`` on a line of their own anywhere in the module."""
        return set(self.scanned_union("declared_global"))

    @cached_property
    def global_enum_names(self) -> set[str]:
        """Names injected into the module by ``@enum.global_enum`` classes."""
        names: set[str] = set()
        if b"global_enum" not in self.data:
            return names
        for child in self.top_level:
            definition, decorators = unwrap_definition(child)
            if definition.type != "class_definition":
                continue
            if any(decorator_name(self, d).endswith("global_enum") for d in decorators):
                names.update(self.class_at(definition, decorators).body_names)
        return names

    @cached_property
    def dynamic(self) -> bool:
        """True when the namespace may hold names we cannot see (module ``__getattr__``, ...).

        Textual signs (over-approximate): a ``globals()`` that is not only read (see
        :func:`writes_globals`), ``vars()`` writes, ``sys.modules[__name__]``, enum
        ``_convert_``, a module-level ``exec(`` and a module ``__getattr__`` that is not a
        plain table of names (:attr:`getattr_names`).
        """
        if "__getattr__" in self.namespace.names and self.getattr_names is None:
            return True
        # each statement's signs are kept with its text; ``globals()`` needs the module
        signs = set(self.scanned_union("signs"))
        if "exec-first" in signs:
            for node, facts in self.statements:
                if "exec-first" in facts.scanned.signs:  # `exec(` starting a line
                    start = node.start_byte
                    if start == 0 or self.data[start - 1 : start] == b"\n":
                        signs.add("exec")
        if "globals()" in signs and writes_globals(self.data):
            return True
        return bool(signs & {"_convert_", "exec", "vars", "sys.modules"})

    @cached_property
    def getattr_names(self) -> frozenset[str] | None:
        """The names a module ``__getattr__`` (PEP 562) serves, if it is a plain table.

        A table: the body (after a docstring) is ``if name == "x":``/``if name in ("x",
        "y"):`` statements (``elif`` too, no ``else``; ``global`` statements allowed) and ends
        with ``raise AttributeError(...)``, so every other name raises. Else None.
        """
        bindings = self.namespace.names.get("__getattr__", [])
        if len(bindings) != 1 or bindings[0].kind != "def" or bindings[0].node is None:
            return None
        scope = self.function_at(bindings[0].node)
        if len(scope.parameters) != 1:
            return None
        parameter = scope.parameters[0].name
        body = scope.node.child_by_field_name("body")
        statements = [c for c in body.named_children if c.type != "comment"] if body else []
        if statements and statements[0].type == "expression_statement":
            first = statements[0].named_children
            if first and first[0].type == "string":
                statements = statements[1:]
        if not statements or statements[-1].type != "raise_statement":
            return None
        raised = statements[-1].named_children
        if not raised or not self.text(raised[0]).startswith("AttributeError"):
            return None
        names: set[str] = set()
        for statement in statements[:-1]:
            if statement.type == "global_statement":
                continue
            if statement.type != "if_statement":
                return None
            clauses = [statement] + [
                c for c in statement.named_children if c.type in ("elif_clause", "else_clause")
            ]
            for clause in clauses:
                if clause.type == "else_clause":
                    return None
                found = _compared_names(self, clause.child_by_field_name("condition"), parameter)
                if found is None:
                    return None
                names |= found
        return frozenset(names)

    def class_at(self, node: Node, decorators: tuple[Node, ...] | None = None) -> PyClass:
        """The (cached) class facts for a class_definition node (the document's node of a
        class whose body surrounds the re-parsed range reads as the tree's:
        :class:`BodySurround`)."""
        body = self.surround.body if self.surround is not None else None
        if body is not None and node.start_byte == body.parsed_class.start_byte:
            if node.type == "class_definition" and node != body.parsed_class:
                node, decorators = body.parsed_class, None
        key = (node.start_byte, node.end_byte)
        cls = self._classes.get(key)
        if cls is None:
            if decorators is None:
                parent = node.parent
                decorators = (
                    unwrap_definition(parent)[1]
                    if parent is not None and parent.type == "decorated_definition"
                    else ()
                )
            surrounded = body if body is not None and node == body.parsed_class else None
            cls = self._classes[key] = PyClass(self, node, decorators, surrounded)
        return cls

    def function_at(self, node: Node) -> FunctionScope:
        """The (cached) scope facts for a function_definition node."""
        key = (node.start_byte, node.end_byte)
        scope = self._functions.get(key)
        if scope is None:
            scope = self._functions[key] = FunctionScope(self, node)
        return scope

    @cached_property
    def all_names(self) -> set[str] | None:
        """The literal ``__all__`` strings, or None if ``__all__`` is absent or computed."""
        bindings = self.namespace.names.get("__all__")
        if not bindings or re.search(rb"__all__\s*\.\s*(append|extend|insert|remove)", self.data):
            return None
        names: set[str] = set()
        for binding in bindings:
            if binding.kind != "assign" or binding.node is None:
                return None
            if binding.node.type not in ("list", "tuple", "expression_list"):
                return None
            for element in binding.node.named_children:
                if element.type != "string":
                    return None
                value = string_value(self, element)
                if value is None:
                    return None
                names.add(value)
        return names


def _compared_names(module: PyModule, condition: Node | None, parameter: str) -> set[str] | None:
    """The literals of ``name == "x"`` / ``name in ("x", "y")`` (``or``-joined), else None."""
    if condition is None:
        return None
    if (
        condition.type == "boolean_operator"
        and module.text(condition.child_by_field_name("operator")) == "or"
    ):
        left = _compared_names(module, condition.child_by_field_name("left"), parameter)
        right = _compared_names(module, condition.child_by_field_name("right"), parameter)
        return None if left is None or right is None else left | right
    if condition.type != "comparison_operator" or len(condition.named_children) != 2:
        return None
    subject, other = condition.named_children
    operators = [c.type for c in condition.children if not c.is_named]
    if module.text(subject) != parameter or operators not in (["=="], ["in"]):
        return None
    values = [other] if operators == ["=="] else None
    if operators == ["in"] and other.type in ("tuple", "list", "set"):
        values = other.named_children
    if values is None:
        return None
    names = set()
    for value in values:
        text = string_value(module, value)
        if text is None:
            return None
        names.add(text)
    return names


_READ_ONLY_GLOBALS = (
    rb"\bin\s+{g}(?![\w.\[(])",
    rb"{g}\s*\.\s*(?:get|keys|items|values|copy|__contains__)\s*\(",
    rb"{g}\s*\[[^\]\n]*\](?!\s*(?:=(?!=)|[-+*/%&|^@]=|//=|\*\*=|>>=|<<=))",
)


def _count(pattern: bytes, subject: bytes, data: bytes) -> int:
    return len(re.findall(pattern.replace(b"{g}", subject), data))


def writes_globals(data: bytes) -> bool:
    """True unless every ``globals()`` in ``data`` is only read.

    Read: ``x in globals()``, ``globals().get(...)``/``.keys()``..., ``globals()[k]`` not
    assigned to, and ``alias = globals()`` whose alias is only read the same ways (or
    deleted).
    Anything else (``exec(code, globals())``, ``globals().update(...)``, ...) may write.
    """
    if b"globals()" not in data:
        return False
    call = re.escape(b"globals()")
    total = len(re.findall(call, data))
    reads = sum(_count(p, call, data) for p in _READ_ONLY_GLOBALS)
    aliases = re.findall(rb"(?m)^[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*globals\(\)[ \t]*$", data)
    for alias in set(aliases):
        name = rb"(?<![\w.])" + re.escape(alias) + rb"\b"
        uses = len(re.findall(name, data))
        alias_reads = sum(_count(p, name, data) for p in _READ_ONLY_GLOBALS)
        assignments = len(re.findall(rb"(?m)^[ \t]*" + name + rb"[ \t]*=[ \t]*globals\(\)", data))
        deletions = len(re.findall(rb"\bdel[ \t]+" + name, data))
        if uses != alias_reads + assignments + deletions:
            return True
    return reads + len(aliases) < total


def string_value(module: PyModule, node: Node) -> str | None:
    """The value of a plain (non-f, non-concatenated) string literal node, else None."""
    if node.type != "string":
        return None
    parts = [c for c in node.named_children if c.type not in ("string_start", "string_end")]
    if any(c.type != "string_content" for c in parts):
        return None
    start = node.named_children[0] if node.named_children else None
    if start is not None and start.type == "string_start" and "f" in module.text(start).lower():
        return None
    return "".join(module.text(c) for c in parts)


def _target_names(module: PyModule, node: Node, out: list[str]) -> None:
    """Identifiers bound by an assignment target pattern (attributes/subscripts bind none)."""
    if node.type == "identifier":
        out.append(module.text(node))
    elif node.type in _PATTERNS or node.type in ("list_splat_pattern", "as_pattern_target"):
        for child in node.named_children:
            _target_names(module, child, out)


def target_identifiers(node: Node) -> list[Node]:
    """Identifier nodes bound by an assignment target pattern (attributes/subscripts bind none)."""
    if node.type == "identifier":
        return [node]
    found: list[Node] = []
    if node.type in _PATTERNS or node.type in ("list_splat_pattern", "as_pattern_target"):
        for child in node.named_children:
            found.extend(target_identifiers(child))
    return found


def bind_pattern(
    module: PyModule, kind: str, value: Node | None, pattern: Node | None, bindings: Bindings
) -> None:
    """Bind every name of a target ``pattern`` to (an element of) ``value`` by ``kind``."""
    if pattern is None:
        return
    for identifier in target_identifiers(pattern):
        bindings.add(
            module.text(identifier), Binding(kind, value, target=identifier, pattern=pattern)
        )


def _bind_targets(module: PyModule, target: Node | None, bindings: Bindings) -> None:
    if target is None:
        return
    names: list[str] = []
    _target_names(module, target, names)
    for name in names:
        bindings.add(name, Binding("other"))


def _collect_assignment(module: PyModule, node: Node, bindings: Bindings) -> None:
    """Bindings of ``a = b = value``, ``a: T = v``, ``a, b = ...`` and augmented assignments."""
    if node.type == "augmented_assignment":
        _bind_targets(module, node.child_by_field_name("left"), bindings)
        return
    targets: list[Node] = []
    current: Node | None = node
    annotation = None
    while current is not None and current.type == "assignment":
        left = current.child_by_field_name("left")
        if left is not None:
            targets.append(left)
        type_node = current.child_by_field_name("type")
        if type_node is not None:
            annotation = type_node.named_children[0] if type_node.named_children else None
        current = current.child_by_field_name("right")
    value = current
    for target in targets:
        if target.type == "identifier":
            kind_annotation = annotation if len(targets) == 1 else None
            bindings.add(module.text(target), Binding("assign", value, kind_annotation))
        else:
            bind_pattern(module, "unpack", value, target, bindings)


def _collect_import(module: PyModule, node: Node, bindings: Bindings) -> None:
    if node.type == "import_statement":
        for child in node.children_by_field_name("name"):
            if child.type == "aliased_import":
                dotted = module.text(child.child_by_field_name("name"))
                alias = module.text(child.child_by_field_name("alias"))
                if alias:
                    bindings.add(alias, Binding("import", module=dotted))
            elif child.type == "dotted_name":
                dotted = module.text(child)
                top = dotted.split(".")[0]
                bindings.add(top, Binding("import", module=top))
        return
    if node.type == "future_import_statement":
        for child in node.children_by_field_name("name"):
            name_node = (
                child.child_by_field_name("alias") if child.type == "aliased_import" else child
            )
            bindings.add(module.text(name_node), Binding("other"))
        return
    # import_from_statement
    module_node = node.child_by_field_name("module_name")
    level, dotted = 0, ""
    if module_node is not None:
        if module_node.type == "relative_import":
            for part in module_node.named_children:
                if part.type == "import_prefix":
                    level = module.text(part).count(".")
                elif part.type == "dotted_name":
                    dotted = module.text(part)
        else:
            dotted = module.text(module_node)
    if any(c.type == "wildcard_import" for c in node.named_children):
        bindings.stars.append((dotted, level))
        return
    for child in node.children_by_field_name("name"):
        if child.type == "aliased_import":
            name = module.text(child.child_by_field_name("name"))
            alias = module.text(child.child_by_field_name("alias"))
        else:
            name = alias = module.text(child)
        if alias and name:
            bindings.add(alias, Binding("from", module=dotted, level=level, name=name))


def _collect_statement(module: PyModule, node: Node, bindings: Bindings) -> None:
    kind = node.type
    if kind in ("function_definition", "class_definition", "decorated_definition"):
        definition, decorators = unwrap_definition(node)
        name = definition.child_by_field_name("name")
        if name is not None and definition.type in ("function_definition", "class_definition"):
            binding_kind = "def" if definition.type == "function_definition" else "class"
            bindings.add(
                module.text(name), Binding(binding_kind, definition, None, decorators=decorators)
            )
        return
    if kind == "expression_statement":
        for child in node.named_children:
            if child.type in ("assignment", "augmented_assignment"):
                _collect_assignment(module, child, bindings)
        return
    if kind in ("import_statement", "import_from_statement", "future_import_statement"):
        _collect_import(module, node, bindings)
        return
    if kind == "global_statement":
        bindings.globals.update(module.text(c) for c in node.named_children)
        return
    if kind == "nonlocal_statement":
        bindings.nonlocals.update(module.text(c) for c in node.named_children)
        return
    if kind == "type_alias_statement":
        for child in node.named_children[:1]:
            _bind_targets(
                module, child.named_children[0] if child.named_children else child, bindings
            )
        return
    if kind in ("for_statement", "for_in_clause"):
        if is_async(node):
            _bind_targets(module, node.child_by_field_name("left"), bindings)
        else:
            bind_pattern(
                module,
                "loop",
                node.child_by_field_name("right"),
                node.child_by_field_name("left"),
                bindings,
            )
    elif kind == "with_statement":
        for clause in node.named_children:
            if clause.type != "with_clause":
                continue
            for item in clause.named_children:
                value = item.child_by_field_name("value")
                if value is not None and value.type == "as_pattern":
                    alias = value.child_by_field_name("alias")
                    if is_async(node) or not value.named_children:
                        _bind_targets(module, alias, bindings)
                    else:
                        bind_pattern(module, "with", value.named_children[0], alias, bindings)
    elif kind in ("except_clause", "except_group_clause"):
        group = kind == "except_group_clause" or any(c.type == "*" for c in node.children)
        for child in node.named_children:
            if child.type == "as_pattern":
                alias = child.child_by_field_name("alias")
                if group or not child.named_children:  # ``except*`` binds an ExceptionGroup
                    _bind_targets(module, alias, bindings)
                else:
                    bind_pattern(module, "except", child.named_children[0], alias, bindings)
            elif child.type == "identifier" and child.prev_sibling is not None:
                if child.prev_sibling.type == "as":
                    bindings.add(module.text(child), Binding("other"))
    elif kind == "case_clause":
        for child in node.named_children:
            if child.type == "case_pattern":
                for identifier in _identifiers(child):
                    bindings.add(module.text(identifier), Binding("other"))
    if kind in _COMPOUND:
        for child in node.named_children:
            if kind == "ERROR" and child.type == "identifier":
                _collect_error_identifier(module, child, bindings)
            else:
                _collect_statement(module, child, bindings)


def is_async(node: Node) -> bool:
    """True for ``async def``/``async for``/``async with`` nodes."""
    return any(child.type == "async" for child in node.children[:2])


def _collect_error_identifier(module: PyModule, node: Node, bindings: Bindings) -> None:
    """Over-approximate bindings in broken code: ``def NAME``, ``class NAME``, ``NAME =``."""
    prev, nxt = node.prev_sibling, node.next_sibling
    if (prev is not None and prev.type in ("def", "class", "import", "as")) or (
        nxt is not None and nxt.type in ("=", ":")
    ):
        bindings.add(module.text(node), Binding("other"))


def _identifiers(node: Node) -> list[Node]:
    found: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "identifier":
            found.append(current)
        else:
            stack.extend(current.named_children)
    return found


def collect_bindings(module: PyModule, block: Node) -> Bindings:
    """Bindings made directly in ``block`` (not inside nested functions/classes/lambdas)."""
    return collect_statement_bindings(module, block.named_children, [(block, None, None)])


def collect_statement_bindings(
    module: PyModule,
    statements: Sequence[Node],
    spans: Sequence[tuple[Node, int | None, int | None]],
) -> Bindings:
    """Bindings made directly by ``statements``, one block's, whose walrus targets are
    looked for in ``spans`` ((block, start byte, end byte), the block's parts: the block
    may be read from two trees, :class:`BodySurround`)."""
    bindings = Bindings()
    try:
        for child in statements:
            _collect_statement(module, child, bindings)
        for block, start, end in spans:
            _collect_walrus_targets(module, block, bindings, start, end)
    except Exception:  # defensive: never raise on odd trees
        pass
    return bindings


def _collect_walrus_targets(
    module: PyModule,
    block: Node,
    bindings: Bindings,
    start: int | None = None,
    end: int | None = None,
) -> None:
    """Walrus targets bind in the enclosing (non-comprehension) scope: look at each ``:=``
    of the block's text, or of its bytes [start, end) (a query over the whole block costs
    milliseconds)."""
    data = module.data
    start = block.start_byte if start is None else max(start, block.start_byte)
    end = block.end_byte if end is None else min(end, block.end_byte)
    position = data.find(b":=", start, end)
    if position >= 0:
        scope = enclosing_scope_node_of_block(block)
        while position >= 0:
            node = _walrus_name_at(block, position)
            if node is not None and enclosing_scope_node(node) == scope:
                bindings.add(module.text(node), Binding("other"))
            position = data.find(b":=", position + 2, end)


def _walrus_name_at(block: Node, position: int) -> Node | None:
    """The target identifier of the ``named_expression`` whose ``:=`` is at ``position``."""
    node = block.descendant_for_byte_range(position, position + 2)
    while node is not None and node.type != "named_expression":
        if node == block:
            return None
        node = node.parent
    if node is None:
        return None
    name = node.child_by_field_name("name")
    return name if name is not None and name.type == "identifier" else None


def enclosing_scope_node(node: Node) -> tuple[int, int] | None:
    """The (start, end) of the function/class/lambda whose scope ``node`` binds in."""
    current = node.parent
    while current is not None:
        if current.type in _SCOPE_TYPES:
            return (current.start_byte, current.end_byte)
        current = current.parent
    return None


def enclosing_scope_node_of_block(block: Node) -> tuple[int, int] | None:
    if block.type in _SCOPE_TYPES:
        return (block.start_byte, block.end_byte)
    if block.parent is not None and block.parent.type in _SCOPE_TYPES:
        return (block.parent.start_byte, block.parent.end_byte)
    return enclosing_scope_node(block) if block.type != "module" else None


@dataclass(frozen=True)
class Parameter:
    """A function parameter: name, annotation expression, kind ("plain", "*", "**")."""

    name: str
    annotation: Node | None
    kind: str = "plain"


class FunctionScope:
    """Facts about a function_definition: parameters, local bindings, method role."""

    def __init__(self, module: PyModule, node: Node):
        self.module = module
        self.node = node
        name = node.child_by_field_name("name")
        self.name = module.text(name)
        parent = node.parent
        self.decorators: tuple[Node, ...] = ()
        if parent is not None and parent.type == "decorated_definition":
            self.decorators = unwrap_definition(parent)[1]
            parent = parent.parent
        # A method is a function directly in a class body.
        self.class_node: Node | None = None
        if parent is not None and parent.type == "block":
            grand = parent.parent
            if grand is not None and grand.type == "class_definition":
                self.class_node = grand
        self.decorator_names = frozenset(
            decorator_name(module, d).rsplit(".", 1)[-1] for d in self.decorators
        )
        self.return_annotation: Node | None = None
        return_type = node.child_by_field_name("return_type")
        if return_type is not None:
            self.return_annotation = (
                return_type.named_children[0] if return_type.named_children else return_type
            )

    @cached_property
    def parameters(self) -> list[Parameter]:
        params: list[Parameter] = []
        node = self.node.child_by_field_name("parameters")
        if node is None:
            return params
        for child in node.named_children:
            kind = child.type
            if kind == "identifier":
                params.append(Parameter(self.module.text(child), None))
            elif kind in ("typed_parameter",):
                ident = next((c for c in child.named_children if c.type == "identifier"), None)
                splat = next(
                    (
                        c
                        for c in child.named_children
                        if c.type in ("list_splat_pattern", "dictionary_splat_pattern")
                    ),
                    None,
                )
                type_node = child.child_by_field_name("type")
                annotation = (
                    type_node.named_children[0] if type_node and type_node.named_children else None
                )
                if ident is not None:
                    params.append(Parameter(self.module.text(ident), annotation))
                elif splat is not None:
                    inner = splat.named_children[0] if splat.named_children else None
                    star = "*" if splat.type == "list_splat_pattern" else "**"
                    params.append(Parameter(self.module.text(inner), annotation, star))
            elif kind in ("default_parameter", "typed_default_parameter"):
                name = child.child_by_field_name("name")
                type_node = child.child_by_field_name("type")
                annotation = (
                    type_node.named_children[0] if type_node and type_node.named_children else None
                )
                params.append(Parameter(self.module.text(name), annotation))
            elif kind in ("list_splat_pattern", "dictionary_splat_pattern"):
                inner = child.named_children[0] if child.named_children else None
                star = "*" if kind == "list_splat_pattern" else "**"
                if inner is not None:
                    params.append(Parameter(self.module.text(inner), None, star))
        return params

    @property
    def is_method(self) -> bool:
        return self.class_node is not None

    @cached_property
    def first_parameter(self) -> str | None:
        """The name of the first plain positional parameter (``self``), else None."""
        node = self.node.child_by_field_name("parameters")
        first = node.named_children[0] if node is not None and node.named_children else None
        if first is None:
            return None
        if first.type in ("typed_parameter", "default_parameter", "typed_default_parameter"):
            first = first.child_by_field_name("name") or (
                first.named_children[0] if first.named_children else None
            )
        if first is None or first.type != "identifier":
            return None
        return self.module.text(first)

    @property
    def first_parameter_role(self) -> str | None:
        """ "instance", "class" or None: what the first parameter of this method is bound to."""
        if not self.is_method or self.first_parameter is None:
            return None
        if "staticmethod" in self.decorator_names:
            return None
        if "classmethod" in self.decorator_names or self.name in (
            "__new__",
            "__init_subclass__",
            "__class_getitem__",
        ):
            return "class"
        return "instance"

    @cached_property
    def bindings(self) -> Bindings:
        body = self.node.child_by_field_name("body")
        bindings = collect_bindings(self.module, body) if body is not None else Bindings()
        for param in self.parameters:
            if param.name:
                bindings.names.setdefault(param.name, []).insert(
                    0, Binding("param", annotation=param.annotation, param_kind=param.kind)
                )
        return bindings

    @cached_property
    def is_async(self) -> bool:
        return is_async(self.node)

    @cached_property
    def body_facts(self) -> tuple[list[Node], list[Node], bool]:
        """(return statements, yield expressions, may end without ``return``) of the body.

        Nested functions, classes and lambdas are not part of this function's body. The
        function may end without a return statement unless the body's last statement is a
        ``return`` or ``raise``.
        """
        returns: list[Node] = []
        yields: list[Node] = []
        body = self.node.child_by_field_name("body")
        if body is None:
            return returns, yields, True
        stack = list(body.named_children)
        while stack:
            node = stack.pop()
            kind = node.type
            if kind in ("function_definition", "class_definition", "lambda"):
                continue
            if kind == "decorated_definition":
                continue
            if kind == "return_statement":
                returns.append(node)
            elif kind == "yield":
                yields.append(node)
            stack.extend(node.named_children)
        statements = [c for c in body.named_children if c.type != "comment"]
        last = statements[-1] if statements else None
        open_end = last is None or last.type not in ("return_statement", "raise_statement")
        returns.sort(key=lambda n: n.start_byte)
        return returns, yields, open_end


# Decorators on classes whose effect we model (by last dotted component).
KNOWN_CLASS_DECORATORS = frozenset(
    {
        "dataclass",
        "total_ordering",
        "final",
        "runtime_checkable",
        "unique",
        "global_enum",
        "verify",
        "dataclass_transform",
        "type_check_only",
        "disjoint_base",
    }
)
DATACLASS_MEMBERS = frozenset(
    {
        "__dataclass_fields__",
        "__dataclass_params__",
        "__match_args__",
        "__slots__",
        "__weakref__",
        "__init__",
        "__repr__",
        "__eq__",
        "__hash__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__setattr__",
        "__delattr__",
        "__getstate__",
        "__setstate__",
        "__replace__",
    }
)


class PyClass:
    """Facts about one class_definition."""

    def __init__(
        self,
        module: PyModule,
        node: Node,
        decorators: tuple[Node, ...],
        surround: BodySurround | None = None,
    ):
        self.module = module
        self.node = node
        self.decorators = decorators
        self.surround = surround  # body statements outside ``node``'s tree
        self.name = module.text(node.child_by_field_name("name"))
        self.bases: list[Node] = []
        self.metaclass: Node | None = None
        self.has_class_keywords = False
        superclasses = node.child_by_field_name("superclasses")
        if superclasses is not None:
            for child in superclasses.named_children:
                if child.type == "keyword_argument":
                    key = module.text(child.child_by_field_name("name"))
                    if key == "metaclass":
                        self.metaclass = child.child_by_field_name("value")
                    else:
                        self.has_class_keywords = True
                elif child.type in ("list_splat", "dictionary_splat"):
                    self.bases.append(child)  # unresolvable on purpose
                elif child.type != "comment":
                    self.bases.append(child)
        self.decorator_names = [decorator_name(module, d).rsplit(".", 1)[-1] for d in decorators]
        self.body_node = node.child_by_field_name("body")
        self._bindings_by_name: dict[str, list[tuple[Binding, FunctionScope]]] = {}
        self._body_bindings: dict[str, list[Binding]] = {}

    @property
    def key(self) -> tuple[str, int]:
        return (str(self.module.path or self.module.name), self.node.start_byte)

    @cached_property
    def statements(self) -> list[Node]:
        """The body's statements (named children, comments included), in source order."""
        if self.surround is not None:
            return self.surround.statements()
        return self.body_node.named_children if self.body_node is not None else []

    @cached_property
    def body(self) -> Bindings:
        if self.body_node is None:
            return Bindings()
        if self.surround is None:
            return collect_bindings(self.module, self.body_node)
        return collect_statement_bindings(self.module, self.statements, self.surround.spans())

    @cached_property
    def body_names(self) -> frozenset[str]:
        """The names :attr:`body` binds, read per body statement text (no tree walked for
        a statement seen before)."""
        return frozenset(name for part in self._parts for name in part.names)

    def body_bindings(self, name: str) -> list[Binding]:
        """``body.names.get(name, [])``, reading the trees of only the body statements that
        bind ``name`` (which ones do is kept with their text: :attr:`body_names`)."""
        if "body" in self.__dict__:
            return self.body.names.get(name, [])
        found = self._body_bindings.get(name)
        if found is None:
            if name not in self.body_names:
                found = []
            else:
                statements = [
                    node
                    for node, part in zip(self.statements, self._parts, strict=True)
                    if name in part.names
                ]
                spans = [(node.parent, node.start_byte, node.end_byte) for node in statements]
                found = collect_statement_bindings(self.module, statements, spans).names[name]
            self._body_bindings[name] = found
        return found

    @cached_property
    def body_stars(self) -> list[tuple[str, int]]:
        """The star imports of :attr:`body` (module, level), read like :attr:`body_names`."""
        return [star for part in self._parts for star in part.stars]

    @cached_property
    def _parts(self) -> list[ClassPartFacts]:
        """Each body statement's :class:`ClassPartFacts`, kept per statement text."""
        return _CLASS_PARTS.read_through(self.statements, self.module.data, self._part_facts)

    def _part_facts(self, _index: int, node: Node, text: bytes) -> ClassPartFacts:
        """The facts of body statement ``node`` (walrus targets: those in its bytes)."""
        block = node.parent
        spans = [(block, node.start_byte, node.end_byte)] if block is not None else []
        bindings = collect_statement_bindings(self.module, [node], spans)
        return ClassPartFacts(
            tuple(bindings.names), tuple(bindings.stars), has_dynamic_attribute_signs(text)
        )

    @cached_property
    def is_dataclass(self) -> bool:
        return "dataclass" in self.decorator_names

    @cached_property
    def unknown_decorators(self) -> bool:
        return any(name not in KNOWN_CLASS_DECORATORS for name in self.decorator_names)

    @cached_property
    def methods(self) -> dict[str, list[FunctionScope]]:
        """Functions defined directly in the class body, by name."""
        found: dict[str, list[FunctionScope]] = {}
        for bindings in self.body.names.values():
            for binding in bindings:
                if binding.kind == "def" and binding.node is not None:
                    scope = self.module.function_at(binding.node)
                    found.setdefault(scope.name, []).append(scope)
        return found

    @cached_property
    def slots(self) -> set[str] | None:
        """Literal ``__slots__`` names (empty set if absent), None if computed."""
        bindings = self.body_bindings("__slots__")
        if not bindings:
            return set()
        names: set[str] = set()
        for binding in bindings:
            value = binding.node
            if binding.kind != "assign" or value is None:
                return None
            elements = value.named_children if value.type in ("list", "tuple", "set") else [value]
            if value.type == "dictionary":
                elements = [
                    p.child_by_field_name("key") for p in value.named_children if p.type == "pair"
                ]
            for element in elements:
                text = string_value(self.module, element) if element is not None else None
                if text is None:
                    return None
                names.add(text)
        return names

    @cached_property
    def first_parameter_attributes(self) -> dict[str, list[tuple[Binding, FunctionScope]]]:
        """Attributes assigned through the first parameter of any method (``self.x = ...``).

        Each assignment is a Binding ("assign" with value/annotation, or "other") together with
        the method scope it appears in (for resolving the value). Assignments in functions
        nested inside a method count for that method's receiver.
        """
        found: dict[str, list[tuple[Binding, FunctionScope]]] = {}
        for part in [self.body_node] if self.surround is None else self.statements:
            if part is not None:
                for name, store in self._stores_under(part):
                    found.setdefault(name, []).append(store)
        return found

    def first_parameter_bindings(self, name: str) -> list[tuple[Binding, FunctionScope]]:
        """``first_parameter_attributes.get(name, [])``, reading the trees of only the
        methods that store ``name`` (which names a method stores is kept per method text,
        :attr:`first_parameter_attribute_roles`)."""
        if "first_parameter_attributes" in self.__dict__:  # every store is read already
            return self.first_parameter_attributes.get(name, [])
        found = self._bindings_by_name.get(name)
        if found is None:
            stores = self._per_method(_METHOD_STORES, self._method_stores)
            found = [
                store
                for (_, function), names in zip(self._method_nodes, stores, strict=True)
                if any(stored == name for stored, _ in names)
                for stored, store in self._stores_under(function)
                if stored == name
            ]
            self._bindings_by_name[name] = found
        return found

    def _stores_under(self, node: Node) -> Iterator[tuple[str, tuple[Binding, FunctionScope]]]:
        """(name, (binding, method)) of each attribute store through a method's first
        parameter (or the instance its ``__new__`` creates) under ``node``, in source order."""
        targets = captures(stored_attribute_query(), node).get("target", [])
        for attribute in sorted(targets, key=lambda target: target.start_byte):
            method = self._method_of(attribute)
            if method is None or method.first_parameter_role is None:
                continue
            obj = attribute.child_by_field_name("object")
            attr = attribute.child_by_field_name("attribute")
            if obj is None or attr is None:
                continue
            receiver = self.module.text(obj)
            if receiver != method.first_parameter and receiver not in _new_instances(method):
                continue
            binding = _attribute_store(self.module, attribute)
            if binding is not None:
                yield self.module.text(attr), (binding, method)

    @cached_property
    def first_parameter_attribute_roles(self) -> dict[str, frozenset[str]]:
        """The names of :attr:`first_parameter_attributes`, each with the roles ("instance",
        "class") of the methods storing it: all a member set needs. Read per method text, so
        only a method whose text changed is looked at again (the same names and roles as
        :attr:`first_parameter_attributes`: a store belongs to the method it is in)."""
        found: dict[str, set[str]] = {}
        for stores in self._per_method(_METHOD_STORES, self._method_stores):
            for name, role in stores:
                found.setdefault(name, set()).add(role)
        return {name: frozenset(roles) for name, roles in found.items()}

    @cached_property
    def first_parameter_uses(self) -> frozenset[str]:
        """Attribute names used through the first parameter of an instance method
        (``self.x``), read or written; read per method text like
        :attr:`first_parameter_attribute_roles`."""
        return frozenset().union(*self._per_method(_METHOD_USES, self._method_uses))

    @cached_property
    def _method_nodes(self) -> list[tuple[Node, Node]]:
        """Each method (a function directly in the class body, as
        :attr:`FunctionScope.class_node` decides): (its definition with decorators, its
        function_definition)."""
        found: list[tuple[Node, Node]] = []
        for child in self.statements:
            definition = unwrap_definition(child)[0]
            if definition.type == "function_definition":
                found.append((child, definition))
        return found

    def _per_method(self, cache: TextCache[_V], compute: Callable[[Node], _V]) -> list[_V]:
        """``compute(function)`` for every method, kept per method text (decorators
        included: :meth:`TextCache.read_through`)."""
        methods = self._method_nodes
        return cache.read_through(
            [outer for outer, _ in methods],
            self.module.data,
            lambda index, _outer, _text: compute(methods[index][1]),
        )

    def _method_stores(self, function: Node) -> tuple[tuple[str, str], ...]:
        """(attribute, role) of each store through the method's first parameter (or the
        instance ``__new__`` creates), nested functions included."""
        scope = self.module.function_at(function)
        role = scope.first_parameter_role
        if role is None:
            return ()
        receivers = {scope.first_parameter} | _new_instances(scope)
        found: dict[tuple[str, str], None] = {}
        for attribute in captures(stored_attribute_query(), function).get("target", []):
            obj = attribute.child_by_field_name("object")
            attr = attribute.child_by_field_name("attribute")
            if obj is None or attr is None or self.module.text(obj) not in receivers:
                continue
            if _attribute_store(self.module, attribute) is not None:
                found[(self.module.text(attr), role)] = None
        return tuple(found)

    def _method_uses(self, function: Node) -> frozenset[str]:
        """Attribute names the method uses through ``self``, its first parameter, if it is
        an instance method (a cheap filter: instance methods almost always name it so)."""
        scope = self.module.function_at(function)
        if scope.first_parameter_role != "instance" or scope.first_parameter != "self":
            return frozenset()
        names: set[str] = set()
        for attribute in captures(attribute_query(), function).get("attribute", []):
            obj = attribute.child_by_field_name("object")
            attr = attribute.child_by_field_name("attribute")
            if obj is None or attr is None or attr.type != "identifier":
                continue
            if self.module.text(obj) == "self":
                names.add(self.module.text(attr))
        return frozenset(names)

    def _method_of(self, node: Node) -> FunctionScope | None:
        """The method of this class (outermost function in its body) containing ``node``."""
        method = None
        current = node.parent
        while current is not None and not self._is_own_node(current):
            if current.type == "function_definition":
                method = current
            elif current.type == "class_definition":
                method = None  # inside a nested class: its own receiver
            current = current.parent
        if method is None:
            return None
        scope = self.module.function_at(method)
        own = scope.class_node is not None and self._is_own_node(scope.class_node)
        return scope if own else None

    def _is_own_node(self, node: Node) -> bool:
        """Whether ``node`` is this class's class_definition (the re-parsed tree's or, for
        the statements of a :class:`BodySurround`, the document's)."""
        return node.type == "class_definition" and node.start_byte == self.node.start_byte

    def _text(self) -> bytes:
        """The class's source bytes (to the end of its last body statement when some of
        them are outside its tree)."""
        end = self.node.end_byte
        if self.surround is not None and self.statements:
            end = max(end, self.statements[-1].end_byte)
        return self.module.data[self.node.start_byte : end]

    @cached_property
    def dynamic_attributes(self) -> bool:
        """True when instances may get attributes we cannot see.

        ``__getattr__``/``__getattribute__`` in the body, ``setattr(self, ...)``,
        ``self.__dict__``/``vars(self)`` writes in a method (scanned per body statement,
        kept with its text, and in the header).
        """
        names = self.body_names
        if "__getattr__" in names or "__getattribute__" in names:
            return True
        if any(part.dynamic for part in self._parts):
            return True
        header_end = self.statements[0].start_byte if self.statements else self.node.end_byte
        return has_dynamic_attribute_signs(self.module.data[self.node.start_byte : header_end])

    @cached_property
    def error_names(self) -> set[str]:
        """For a class containing syntax errors: a textual over-approximation of its names."""
        has_error = self.node.has_error or (
            self.surround is not None and any(part.has_error for part in self.statements)
        )
        if not has_error:
            return set()
        text = self._text().decode("utf-8", "replace")
        names = set(re.findall(r"\bdef\s+([A-Za-z_]\w*)", text))
        names.update(re.findall(r"\bclass\s+([A-Za-z_]\w*)", text))
        names.update(re.findall(r"\.\s*([A-Za-z_]\w*)\s*(?:=(?!=)|:|\+=|-=)", text))
        names.update(re.findall(r"^\s*([A-Za-z_]\w*)\s*(?:=(?!=)|:)", text, re.M))
        return names


def _attribute_store(module: PyModule, attribute: Node) -> Binding | None:
    """The binding an attribute node makes if it is an assignment target, else None."""
    parent = attribute.parent
    if parent is None:
        return None
    if parent.type == "assignment" and parent.child_by_field_name("left") == attribute:
        type_node = parent.child_by_field_name("type")
        annotation = type_node.named_children[0] if type_node and type_node.named_children else None
        value = parent.child_by_field_name("right")
        while value is not None and value.type == "assignment":
            value = value.child_by_field_name("right")
        # a chained target (x = self.a = v) is still a plain assignment of v
        return Binding("assign", value, annotation)
    if parent.type == "augmented_assignment" and parent.child_by_field_name("left") == attribute:
        return Binding("other")
    if (
        parent.type in ("for_statement", "for_in_clause")
        and parent.child_by_field_name("left") == attribute
    ):
        if parent.type == "for_statement" and not is_async(parent):
            value = parent.child_by_field_name("right")
            return Binding("loop", value, target=attribute, pattern=attribute)
        return Binding("other")
    if parent.type in _PATTERNS or parent.type in ("as_pattern_target", "list_splat_pattern"):
        pattern = parent
        while pattern.parent is not None and (
            pattern.parent.type in _PATTERNS or pattern.parent.type == "list_splat_pattern"
        ):
            pattern = pattern.parent
        owner = pattern.parent
        if owner is not None and owner.child_by_field_name("left") == pattern:
            if owner.type == "assignment" and owner.child_by_field_name("type") is None:
                value = owner.child_by_field_name("right")
                while value is not None and value.type == "assignment":
                    value = value.child_by_field_name("right")
                return Binding("unpack", value, target=attribute, pattern=pattern)
            if owner.type == "for_statement" and not is_async(owner):
                value = owner.child_by_field_name("right")
                return Binding("loop", value, target=attribute, pattern=pattern)
        return Binding("other")
    return None


def scope_nodes(node: Node) -> list[Node]:
    """Enclosing function_definition/class_definition nodes of ``node``, innermost first."""
    found: list[Node] = []
    current = node.parent
    while current is not None:
        if current.type in ("function_definition", "class_definition"):
            found.append(current)
        current = current.parent
    return found


def _new_instances(method: FunctionScope) -> frozenset[str]:
    """In ``__new__``: local names bound to the new instance (``self = X.__new__(cls)``)."""
    if method.name != "__new__":
        return frozenset()
    found = set()
    for name, bindings in method.bindings.names.items():
        if len(bindings) != 1 or bindings[0].kind != "assign" or bindings[0].node is None:
            continue
        value = bindings[0].node
        if value.type == "call":
            function = method.module.text(value.child_by_field_name("function"))
            if function.endswith(".__new__"):
                found.add(name)
    return frozenset(found)
