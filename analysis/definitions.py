"""Definitions the model needs near the cursor, as short source-like summaries (issue 14, item 5).

A small model completing ``shape.`` or ``parse_header(`` guesses names and arguments it
cannot see when their definitions sit outside its prompt window (elsewhere in a long
file, in another workspace file, in an imported standard-library module). Repository-level
completion systems put such context in front of the in-file prompt: RepoCoder (Zhang et
al. 2023, EMNLP) and CrossCodeEval (Ding et al. 2023, NeurIPS Datasets and Benchmarks)
prepend code retrieved from other files, and De-Hallucinator (Eghbali & Pradel 2024)
prepends *API references* -- function signatures with parameters, defaults, annotations
and docstrings, class names with their bases and docstrings, attributes assigned through
``self`` -- for the names the code refers to. This module produces the latter from static
analysis (tree-sitter, the resolver of :mod:`analysis.resolution`; nothing is imported or
run), for the definitions the code *around the cursor* refers to:

* a **class**: its header, the first line of its docstring, its fields (class-level
  assignments and annotations, attributes assigned through ``self``, properties) and its
  method signatures (``def m(self, x: int) -> str: ...``), public members first, members
  the surrounding code uses first of all;
* a **function**: its signature and the first line of its docstring.

Which definitions, ranked (:attr:`Definition.tier`):

0. the type of the receiver at the cursor (``shape.`` with ``shape: Circle``: ``Circle``);
1. names written in the statement being edited, before the cursor;
2. names used in the enclosing function (else class, else the module lines around the
   cursor), nearest to the cursor first; the statement being edited takes no part.

A name counts through its type: a variable or parameter of a class type gives that class,
``self.parser`` gives the class of that attribute, a called function its signature
(``os.path.join`` in the standard library too). Builtin types (``str``, ``dict``) are left
out: every model knows them.

**Stable while a person types.** The tier-2 list is computed on the document with the
statement being edited replaced by ``pass`` (the *canonical* document), cached per
canonical text: every keystroke inside one statement gets the same list (and the prompt
the same tokens in front, which the KV-cache reuse of ``models.prompt_cache`` needs); it
changes only when another line of the function changes. The tier 0/1 entries depend on
the statement and are meant to be placed after the tier-2 ones.

``visible`` (a code-point range of the document the prompt shows anyway) leaves out
definitions of the same file lying inside it, and the members of a class that lie inside
it. Plain data leaves this module: :class:`Definition` holds strings and ints.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import tree_sitter

from analysis import context as context_module
from analysis.context import document_path, read_receiver
from analysis.document import Document
from analysis.languages import parser_for, tree_sitter_language
from analysis.positions import byte_point, encode, str_offset_to_byte
from analysis.python_symbols import (
    FunctionScope,
    PyClass,
    PyModule,
    string_value,
)
from analysis.python_types import ClassObjectType, FunctionType, InstanceType, Type
from analysis.resolution import PythonResolver
from analysis.workspace import WorkspaceIndex, default_stdlib

Node = tree_sitter.Node

MAX_EXPRESSIONS = 32  # distinct names/dotted chains resolved per function (nearest first)
MAX_MEMBERS = 24  # member lines of one class summary
MAX_DOC_CHARS = 80  # first docstring line, cut
MAX_DEFAULT_CHARS = 20  # a longer default value is shown as ``...``
MAX_DECORATOR_CHARS = 40  # class decorators shown (``@dataclass(frozen=True)``), if short
MODULE_REGION_LINES = 60  # at module level: the lines before the cursor that count
MAX_STATEMENT_LINES = 20  # a longer "statement" (an unclosed bracket far above): its line only
CACHE_SIZE = 16  # canonical documents kept (one per open function being edited)
_CHAIN = re.compile(r"(?<![\w.])[^\W\d]\w*(?:\.[^\W\d]\w*)*")
_DOTTED = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*){1,3}")
_STRING_OR_COMMENT = re.compile(r"'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"|#.*")
_KEPT_DUNDERS = frozenset({"__init__", "__call__"})
_QUERY: tree_sitter.Query | None = None


@dataclass(frozen=True)
class Definition:
    """One summary: ``text`` is source-like (complete lines, each ending in a newline).

    ``key`` names the definition (one key per definition, across tiers); ``tier`` is 0
    for the receiver at the cursor, 1 for a name of the statement being edited, 2 for a
    name of the enclosing function; ``origin`` is ``file`` (the document), ``workspace``
    or ``stdlib``.
    """

    key: str
    text: str
    tier: int
    origin: str


@dataclass
class _Item:
    """A definition before rendering: head lines, member chunks with their spans."""

    key: str
    origin: str
    span: tuple[int, int] | None  # canonical bytes of the definition when in the document
    head: list[str]
    members: list[tuple[tuple[int, int] | None, str]] = field(default_factory=list)


@dataclass
class _Canonical:
    """The document with the statement being edited replaced by ``pass``, resolved once."""

    module: PyModule
    resolver: PythonResolver
    anchor: Node  # the ``pass`` statement
    start_byte: int  # where the replaced statement started (bytes; same in both texts)
    shift: int  # canonical byte = document byte - shift, after the statement
    replaced_end: int  # document byte where the replaced text ended
    enclosing: frozenset[tuple[int, int]]  # spans of the functions around the cursor
    own_class: PyClass | None
    used_members: frozenset[str]  # ``.name`` spelled in the region: shown first
    function_items: list[_Item]
    items: dict[tuple[str, int], _Item] = field(default_factory=dict)  # by definition
    chains: dict[str, list[_Item]] = field(default_factory=dict)  # statement chains
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHE: OrderedDict[tuple[Any, ...], _Canonical] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget every canonical document (benchmarks measure cold requests with it)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _query() -> tree_sitter.Query:
    global _QUERY
    if _QUERY is None:
        _QUERY = tree_sitter.Query(
            tree_sitter_language("python"), "(identifier) @name (attribute) @chain"
        )
    return _QUERY


def referenced_definitions(
    document: Document,
    offset: int,
    workspace: WorkspaceIndex | None = None,
    visible: tuple[int, int] | None = None,
    statement_start: int | None = None,
) -> list[Definition]:
    """Return summaries of the definitions the code around ``offset`` refers to, ranked.

    Tier 0 and 1 entries come first (the receiver, then the statement's names nearest to
    the cursor first), then the tier-2 entries of the enclosing function, nearest first. A
    definition may appear in tier 0/1 and again in tier 2 (the tier-2 list does not depend
    on the statement being edited). ``statement_start`` is where the statement holding the
    cursor starts (a code-point offset at a line start; default: the cursor's line).
    Python only; [] for other languages and whenever the analysis fails.
    """
    if document.language != "python":
        return []
    try:
        return _definitions(document, offset, workspace, visible, statement_start)
    except Exception:  # totality: the prompt never fails because of this
        if context_module.STRICT:
            raise
        return []


def _definitions(
    document: Document,
    offset: int,
    workspace: WorkspaceIndex | None,
    visible: tuple[int, int] | None,
    statement_start: int | None,
) -> list[Definition]:
    text, data, tree = document.snapshot()
    if tree is None:
        return []
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    start = line_start
    if statement_start is not None and 0 <= statement_start < line_start:
        if text.count("\n", statement_start, line_start) <= MAX_STATEMENT_LINES:
            start = text.rfind("\n", 0, statement_start) + 1 if statement_start else 0
    canonical = _canonical(document.uri, text, data, tree, start, offset, workspace)
    window = _canonical_window(text, canonical, visible)
    with canonical.lock:
        statement = _statement_items(canonical, text, start, offset)
        ranked = [(0, item) for item in statement[0]] + [(1, item) for item in statement[1]]
        ranked += [(2, item) for item in canonical.function_items]
    out: list[Definition] = []
    seen: set[tuple[int, str]] = set()
    for tier, item in ranked:
        if (tier == 2, item.key) in seen:
            continue
        seen.add((tier == 2, item.key))
        rendered = _render(item, window)
        if rendered:
            out.append(Definition(item.key, rendered, tier, item.origin))
    return out


# ------------------------------------------------------------------ the canonical document


def _canonical(
    uri: str,
    text: str,
    data: bytes,
    tree: tree_sitter.Tree,
    start: int,
    offset: int,
    workspace: WorkspaceIndex | None,
) -> _Canonical:
    """The canonical document of a request (cached per canonical text)."""
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end < 0 else line_end
    indent = _placeholder_indent(text, start, offset)
    start_byte = str_offset_to_byte(text, start)
    end_byte = str_offset_to_byte(text, line_end)
    inserted = encode(indent + "pass")
    new_data = data[:start_byte] + inserted + data[end_byte:]
    key = (uri, id(workspace), new_data)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    old_tree = tree.copy()
    new_end = start_byte + len(inserted)
    old_tree.edit(
        start_byte=start_byte,
        old_end_byte=end_byte,
        new_end_byte=new_end,
        start_point=byte_point(data, start_byte),
        old_end_point=byte_point(data, end_byte),
        new_end_point=byte_point(new_data, new_end),
    )
    new_tree = parser_for("python").parse(new_data, old_tree)
    path = document_path(uri)
    module = PyModule(
        new_data, new_tree, path, None, is_package=path is not None and path.name == "__init__.py"
    )
    resolver = PythonResolver(workspace if workspace is not None else default_stdlib())
    resolver.home = module
    pass_byte = start_byte + len(encode(indent))
    anchor = new_tree.root_node.descendant_for_byte_range(pass_byte, pass_byte + 4)
    while anchor.parent is not None and anchor.type != "pass_statement":
        anchor = anchor.parent
    if anchor.type != "pass_statement":  # the parse lost the placeholder: use the leaf
        anchor = new_tree.root_node.descendant_for_byte_range(pass_byte, pass_byte + 4)
    enclosing, own_class, region = _scopes(module, anchor)
    canonical = _Canonical(
        module=module,
        resolver=resolver,
        anchor=anchor,
        start_byte=start_byte,
        shift=end_byte - new_end,
        replaced_end=end_byte,
        enclosing=enclosing,
        own_class=own_class,
        used_members=frozenset(),
        function_items=[],
    )
    with canonical.lock:
        _fill_function_items(canonical, region, anchor.start_point[0])
    with _CACHE_LOCK:
        _CACHE[key] = canonical
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return canonical


def _placeholder_indent(text: str, start: int, offset: int) -> str:
    """The indentation of the statement at ``start``; for a line without code yet, the
    previous code line's (one level deeper after a ``:``)."""
    line_end = text.find("\n", start)
    line = text[start : len(text) if line_end < 0 else line_end]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    if line.strip():
        return indent
    previous = text[:start].rstrip()
    if not previous:
        return indent
    last = previous[previous.rfind("\n") + 1 :]
    base = last[: len(last) - len(last.lstrip(" \t"))]
    deeper = last.rstrip().endswith(":") and not last.lstrip().startswith("#")
    return base + "    " if deeper and len(base + "    ") >= len(indent) else max(indent, base)


def _scopes(
    module: PyModule, anchor: Node
) -> tuple[frozenset[tuple[int, int]], PyClass | None, tuple[int, int]]:
    """(spans of the functions around the anchor, the class whose method holds it, the
    byte range of the region whose names count)."""
    enclosing: set[tuple[int, int]] = set()
    own_class: PyClass | None = None
    region: tuple[int, int] | None = None
    node = anchor.parent
    while node is not None:
        if node.type == "function_definition":
            enclosing.add((node.start_byte, node.end_byte))
            if region is None:
                region = (node.start_byte, node.end_byte)
            scope = module.function_at(node)
            if own_class is None and scope.class_node is not None:
                own_class = module.class_at(scope.class_node)
        elif node.type == "class_definition" and region is None:
            region = (node.start_byte, node.end_byte)
            own_class = own_class or module.class_at(node)
        node = node.parent
    if region is None:  # module level: the lines before the cursor
        data = module.data
        start = anchor.start_byte
        for _ in range(MODULE_REGION_LINES):
            start = data.rfind(b"\n", 0, max(0, start - 1)) + 1
            if start == 0:
                break
        region = (start, anchor.end_byte)
    return frozenset(enclosing), own_class, region


def _canonical_window(
    text: str, canonical: _Canonical, visible: tuple[int, int] | None
) -> tuple[int, int] | None:
    """``visible`` (document code points) as canonical bytes."""
    if visible is None:
        return None

    def to_canonical(offset: int) -> int:
        byte = str_offset_to_byte(text, offset)
        if byte <= canonical.start_byte:
            return byte
        if byte < canonical.replaced_end:  # inside the replaced statement: its start
            return canonical.start_byte
        return byte - canonical.shift

    return to_canonical(visible[0]), to_canonical(visible[1])


# ------------------------------------------------------------------ names and their definitions


def _fill_function_items(canonical: _Canonical, region: tuple[int, int], row: int) -> None:
    """Resolve the names and dotted chains of the region, nearest to ``row`` first."""
    module = canonical.module
    cursor = tree_sitter.QueryCursor(_query())
    cursor.set_byte_range(region[0], region[1])
    try:
        found = cursor.captures(module.root)
    except Exception:  # noqa: BLE001 - no names: no summaries
        found = {}
    expressions: dict[str, tuple[int, int, Node]] = {}  # text -> (distance, start, node)
    used: set[str] = set()
    for node in found.get("chain", []):
        attribute = node.child_by_field_name("attribute")
        if attribute is not None:
            used.add(module.text(attribute))
        chain = re.sub(r"\s+", "", module.text(node))
        if _DOTTED.fullmatch(chain):
            _remember(expressions, chain, node, row)
    for node in found.get("name", []):
        parent = node.parent
        if parent is not None and parent.type == "attribute":
            if _same(parent.child_by_field_name("attribute"), node):
                continue
        if parent is not None and parent.type == "keyword_argument":
            if _same(parent.child_by_field_name("name"), node):
                continue
        _remember(expressions, module.text(node), node, row)
    canonical.used_members = frozenset(used)
    ranked = sorted(expressions.items(), key=lambda kv: (kv[1][0], kv[1][1]))
    items: list[_Item] = []
    keys: set[str] = set()
    for _text, (_distance, _start, node) in ranked[:MAX_EXPRESSIONS]:
        canonical.resolver.home = module
        item = _item_of(canonical, canonical.resolver.expression_type(module, node))
        if item is not None and item.key not in keys:
            keys.add(item.key)
            items.append(item)
    canonical.function_items = items


def _remember(
    expressions: dict[str, tuple[int, int, Node]], text: str, node: Node, row: int
) -> None:
    distance = abs(node.start_point[0] - row)
    known = expressions.get(text)
    if known is None or (distance, node.start_byte) < known[:2]:
        expressions[text] = (distance, node.start_byte, node)


def _same(a: Node | None, b: Node) -> bool:
    return a is not None and a.start_byte == b.start_byte and a.end_byte == b.end_byte


def _statement_items(
    canonical: _Canonical, text: str, start: int, offset: int
) -> tuple[list[_Item], list[_Item]]:
    """(the receiver's definition, the statement's definitions nearest to the cursor
    first), resolved at the placeholder of the canonical document."""
    word_start = offset
    while word_start > start and (text[word_start - 1].isalnum() or text[word_start - 1] == "_"):
        word_start -= 1
    receiver: list[_Item] = []
    if word_start > start and text[word_start - 1] == ".":
        found = read_receiver(text[start : word_start - 1], True)
        if found is not None:
            (parts, _new), _at = found
            item = _item_of(canonical, _chain_type(canonical, parts))
            if item is not None:
                receiver.append(item)
    code = _STRING_OR_COMMENT.sub(" ", text[start:word_start])
    chains = [m.group(0) for m in _CHAIN.finditer(code)]
    items: list[_Item] = []
    keys = {item.key for item in receiver}
    for chain in reversed(chains):  # nearest to the cursor first
        if chain not in canonical.chains:
            parts = tuple((part, 0) for part in chain.split("."))
            resolved = []
            for end in range(1, len(parts) + 1):
                item = _item_of(canonical, _chain_type(canonical, parts[:end]))
                if item is not None:
                    resolved.append(item)
            canonical.chains[chain] = resolved
        for item in reversed(canonical.chains[chain]):  # the longest chain first
            if item.key not in keys:
                keys.add(item.key)
                items.append(item)
    return receiver, items


def _chain_type(canonical: _Canonical, parts: tuple[tuple[str, int], ...]) -> Type | None:
    """The type of a receiver chain ``a.b().c`` read at the placeholder."""
    resolver, module = canonical.resolver, canonical.module
    resolver.home = module
    typ: Type | None = None
    for index, (name, calls) in enumerate(parts):
        if index == 0:
            typ = resolver.name_type(module, name, canonical.anchor)
        elif typ is not None:
            typ = resolver.attribute_type(typ, name)
        for _ in range(calls):
            typ = resolver.call_type(typ)
        if typ is None:
            return None
    return typ


def _item_of(canonical: _Canonical, typ: Type | None) -> _Item | None:
    """The summary of what ``typ`` is an instance of, or is (a class or a function)."""
    if isinstance(typ, (InstanceType, ClassObjectType)) and isinstance(typ.cls, PyClass):
        cls = typ.cls
        key = ("class", id(cls.module), cls.node.start_byte)
        if key not in canonical.items:
            canonical.items[key] = _class_item(canonical, cls)
        return canonical.items[key]
    if isinstance(typ, FunctionType) and not typ.scope.is_method:
        scope = typ.scope
        node = scope.node
        if scope.module is canonical.module and (node.start_byte, node.end_byte) in (
            canonical.enclosing
        ):
            return None  # the function being edited: its header is in the prompt
        key = ("function", id(scope.module), node.start_byte)
        if key not in canonical.items:
            canonical.items[key] = _function_item(canonical, scope)
        return canonical.items[key]
    return None


# ------------------------------------------------------------------ summaries


def _origin(canonical: _Canonical, module: PyModule) -> str:
    if module is canonical.module:
        return "file"
    return "stdlib" if module.is_stdlib else "workspace"


def _key(module: PyModule, node: Node, origin: str) -> str:
    where = module.name or (module.path.name if module.path is not None else origin)
    return f"{where}:{node.start_byte}"


def _span(canonical: _Canonical, module: PyModule, node: Node | None) -> tuple[int, int] | None:
    if node is None or module is not canonical.module:
        return None
    return node.start_byte, node.end_byte


def _function_item(canonical: _Canonical, scope: FunctionScope) -> _Item:
    module = scope.module
    origin = _origin(canonical, module)
    head = [signature(scope)]
    doc = docstring_line(module, scope.node)
    if doc:
        head[0] = head[0].removesuffix(" ...")
        head.append(f'    """{doc}"""')
    return _Item(
        _key(module, scope.node, origin), origin, _span(canonical, module, scope.node), head
    )


def _class_item(canonical: _Canonical, cls: PyClass) -> _Item:
    module = cls.module
    origin = _origin(canonical, module)
    own = cls is canonical.own_class
    superclasses = cls.node.child_by_field_name("superclasses")
    bases = _squash(module.text(superclasses)) if superclasses is not None else ""
    decorators = [_squash(module.text(d)) for d in cls.decorators]
    head = [d for d in decorators if len(d) <= MAX_DECORATOR_CHARS][:2]
    head.append(f"class {cls.name}{bases}:")
    doc = docstring_line(module, cls.node)
    if doc:
        head.append(f'    """{doc}"""')
    members = class_members(cls, own, canonical.used_members)
    spans = [(_span(canonical, module, node), line) for node, line in members]
    if not spans and not doc:
        head[-1] += " ..."

    return _Item(
        _key(module, cls.node, origin), origin, _span(canonical, module, cls.node), head, spans
    )


def class_members(
    cls: PyClass, own: bool = False, used: frozenset[str] = frozenset()
) -> list[tuple[Node | None, str]]:
    """(node, line) of the members shown for ``cls``: fields, properties and methods in
    source order, the ``used`` ones first; private names only for ``own`` (the class the
    cursor is in) or when used; dunders other than ``__init__``/``__call__`` only when used."""
    module = cls.module
    entries: dict[str, tuple[int, Node | None, str]] = {}

    def wanted(name: str) -> bool:
        if name in used:
            return True
        if name.startswith("__") and name.endswith("__"):
            return name in _KEPT_DUNDERS
        return own or not name.startswith("_")

    for name, bindings in cls.body.names.items():
        if not wanted(name) or name in entries:
            continue
        binding = bindings[0]
        if binding.kind == "def" and binding.node is not None:
            scope = module.function_at(binding.node)
            line = _member_signature(scope)
            if line is not None:
                entries[name] = (binding.node.start_byte, binding.node, line)
        elif binding.kind == "class" and binding.node is not None:
            entries[name] = (binding.node.start_byte, binding.node, f"    class {name}: ...")
        elif binding.kind == "assign":
            anchor = binding.annotation or binding.node
            position = anchor.start_byte if anchor is not None else 0
            if binding.annotation is not None:
                line = f"    {name}: {_squash(module.text(binding.annotation))}"
            else:
                value = _squash(module.text(binding.node)) if binding.node is not None else ""
                line = f"    {name} = {value if 0 < len(value) <= MAX_DEFAULT_CHARS else '...'}"
            entries[name] = (position, anchor, line)
    for name, stores in cls.first_parameter_attributes.items():
        if not wanted(name) or name in entries:
            continue
        annotated = next((b for b, _ in stores if b.annotation is not None), None)
        anchors = [b.annotation or b.node for b, _ in stores if (b.annotation or b.node)]
        anchor = min(anchors, key=lambda n: n.start_byte) if anchors else None
        position = anchor.start_byte if anchor is not None else cls.node.end_byte
        if annotated is not None:
            line = f"    {name}: {_squash(module.text(annotated.annotation))}"
        else:
            line = f"    {name} = ..."
        entries[name] = (position, anchor, line)
    ordered = sorted(entries.items(), key=lambda kv: (kv[0] not in used, kv[1][0]))
    return [(node, line) for _name, (_pos, node, line) in ordered[:MAX_MEMBERS]]


def _member_signature(scope: FunctionScope) -> str | None:
    """The line of a method: a property as a field, others as a signature stub."""
    names = scope.decorator_names
    if any(name in ("setter", "deleter") for name in names):
        return None
    if "property" in names or "cached_property" in names:
        returns = scope.return_annotation
        kind = f": {_squash(scope.module.text(returns))}" if returns is not None else " = ..."
        return f"    {scope.name}{kind}"
    line = "    " + signature(scope)
    for decorator in ("staticmethod", "classmethod"):
        if decorator in names:
            return f"    @{decorator}\n{line}"
    return line


def signature(scope: FunctionScope) -> str:
    """``def name(params) -> ret: ...`` on one line (long defaults shown as ``...``)."""
    module = scope.module
    node = scope.node
    parameters = node.child_by_field_name("parameters")
    parts: list[str] = []
    if parameters is not None:
        for child in parameters.named_children:
            if child.type == "comment":
                continue
            parts.append(_parameter(module, child))
    text = f"{'async ' if scope.is_async else ''}def {scope.name}({', '.join(parts)})"
    returns = node.child_by_field_name("return_type")
    if returns is not None:
        text += f" -> {_squash(module.text(returns))}"
    return text + ": ..."


def _parameter(module: PyModule, node: Node) -> str:
    if node.type in ("default_parameter", "typed_default_parameter"):
        name = _squash(module.text(node.child_by_field_name("name")))
        annotation = node.child_by_field_name("type")
        value = _squash(module.text(node.child_by_field_name("value")))
        if len(value) > MAX_DEFAULT_CHARS or not value:
            value = "..."
        if annotation is not None:
            return f"{name}: {_squash(module.text(annotation))} = {value}"
        return f"{name}={value}"
    return _squash(module.text(node))


def docstring_line(module: PyModule, node: Node) -> str:
    """The first non-empty line of a def/class docstring ("" when none or not plain)."""
    body = node.child_by_field_name("body")
    if body is None:
        return ""
    first = next((c for c in body.named_children if c.type != "comment"), None)
    if first is None or first.type != "expression_statement" or not first.named_children:
        return ""
    value = string_value(module, first.named_children[0])
    if value is None:
        return ""
    line = next((ln.strip() for ln in value.splitlines() if ln.strip()), "")
    if '"""' in line or "\\" in line:
        return ""
    return line if len(line) <= MAX_DOC_CHARS else line[: MAX_DOC_CHARS - 3].rstrip() + "..."


def _squash(text: str) -> str:
    """One line: whitespace runs as one space, none inside brackets' edges."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"([(\[{]) ", r"\1", text)
    return re.sub(r",? ([)\]}])", r"\1", text)


def _render(item: _Item, window: tuple[int, int] | None) -> str:
    """The summary text, leaving out what the prompt shows anyway (``window``)."""

    def shown(span: tuple[int, int] | None) -> bool:
        return (
            window is not None
            and span is not None
            and window[0] <= span[0]
            and (span[1] <= window[1])
        )

    if shown(item.span):
        return ""
    members = [line for span, line in item.members if not shown(span)]
    if item.span is not None and item.members and not members:
        return ""  # a class of this file whose members the prompt shows
    return "".join(line + "\n" for line in item.head + members)
