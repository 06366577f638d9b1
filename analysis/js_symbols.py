"""JavaScript/TypeScript symbol extraction: the facts of one file, no resolution.

The JS/TS side of the static analysis behind monitor-guided decoding (Agrawal et al. 2023,
"Guiding Language Models of Code with Global Context using Monitors"), split like the
Python side (:mod:`analysis.python_symbols` extracts, :mod:`analysis.resolution`
resolves): this module reads what a file declares -- classes (fields, methods, getters,
``this.x = ...`` in methods, TS constructor parameter properties, ``extends``), TS
interfaces and type aliases, block bindings (``const``/``let``/``var``, functions, classes,
imports), ES-module exports, ``Name.prototype.x = ...`` assignments and JSDoc type tags.
Types and member sets are computed by :mod:`analysis.js_resolution`.

The resolution names (``JsResolver``, ``JsInstance``, ...) are still importable from here
for callers written before the split.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

import tree_sitter

from analysis.languages import tree_sitter_language

Node = tree_sitter.Node
OBJECT_PROTOTYPE = frozenset(
    {
        "constructor",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "toString",
        "valueOf",
        "__proto__",
        "__defineGetter__",
        "__defineSetter__",
        "__lookupGetter__",
        "__lookupSetter__",
    }
)
FUNCTION_PROTOTYPE = OBJECT_PROTOTYPE | {
    "name",
    "length",
    "prototype",
    "apply",
    "bind",
    "call",
    "arguments",
    "caller",
}
CLASS_TYPES = frozenset({"class_declaration", "abstract_class_declaration", "class"})
FUNCTION_TYPES = frozenset(
    {
        "function_declaration",
        "function_expression",
        "function",
        "generator_function_declaration",
        "generator_function",
    }
)
BLOCK_TYPES = frozenset({"statement_block", "program", "switch_body", "class_static_block"})


def _query(language: str, source: str) -> tree_sitter.Query:
    return tree_sitter.Query(tree_sitter_language(language), source)


_QUERIES: dict[tuple[str, str], tree_sitter.Query] = {}


def js_captures(language: str, source: str, node: Node) -> dict[str, list[Node]]:
    key = (language, source)
    query = _QUERIES.get(key)
    if query is None:
        query = _QUERIES[key] = _query(language, source)
    try:
        return tree_sitter.QueryCursor(query).captures(node)
    except Exception:
        return {}


def has_child(node: Node, kind: str) -> bool:
    return any(child.type == kind for child in node.children)


class JsModule:
    """Facts about one JS/TS file: classes, interfaces, declarations, imports and exports."""

    def __init__(self, data: bytes, tree: tree_sitter.Tree, path: Path | None, language: str):
        self.data = data
        self.tree = tree
        self.root = tree.root_node
        self.path = path
        self.language = language
        self._classes: dict[tuple[int, int], JsClass] = {}

    def text(self, node: Node | None) -> str:
        if node is None:
            return ""
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def class_at(self, node: Node) -> JsClass:
        key = (node.start_byte, node.end_byte)
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = JsClass(self, node)
        return cls

    @cached_property
    def top_level(self) -> dict[str, list[tuple[str, Node | None, Node | None]]]:
        """Top-level value bindings: name -> [(kind, node, extra)], kinds as in block_bindings."""
        return block_bindings(self, self.root)

    @cached_property
    def types(self) -> dict[str, list[Node]]:
        """Top-level type-space declarations (interfaces, type aliases, classes) by name."""
        found: dict[str, list[Node]] = {}
        for child in self.root.named_children:
            node = (
                child.child_by_field_name("declaration")
                if child.type == "export_statement"
                else child
            )
            if node is None:
                continue
            if (
                node.type in ("interface_declaration", "type_alias_declaration")
                or node.type in CLASS_TYPES
            ):
                name = node.child_by_field_name("name")
                if name is not None:
                    found.setdefault(self.text(name), []).append(node)
        return found

    @cached_property
    def exports(self) -> tuple[dict[str, tuple], list[str], bool]:
        """(name -> (kind, ...), star-export specifiers, certain).

        Kinds: ("local", name) a local binding; ("from", specifier, name) a re-export;
        ("namespace", specifier) ``export * as x``; ("value", node) ``export default expr``.
        ``certain`` is False for CommonJS modules (``module.exports``/``exports.x``).
        """
        exports: dict[str, tuple] = {}
        stars: list[str] = []
        for child in self.root.named_children:
            if child.type != "export_statement":
                continue
            source = child.child_by_field_name("source")
            specifier = string_text(self, source) if source is not None else None
            declaration = child.child_by_field_name("declaration")
            value = child.child_by_field_name("value")
            is_default = has_child(child, "default")
            if declaration is not None:
                for name in _declared_names(self, declaration):
                    exports["default" if is_default else name] = ("local", name)
                continue
            if value is not None or is_default:
                exports["default"] = ("value", value)
                continue
            clause = next((c for c in child.named_children if c.type == "export_clause"), None)
            namespace = next(
                (c for c in child.named_children if c.type == "namespace_export"), None
            )
            if clause is not None:
                for spec in clause.named_children:
                    if spec.type != "export_specifier":
                        continue
                    name = self.text(spec.child_by_field_name("name"))
                    alias = self.text(spec.child_by_field_name("alias")) or name
                    if specifier is None:
                        exports[alias] = ("local", name)
                    else:
                        exports[alias] = ("from", specifier, name)
            elif namespace is not None and specifier is not None:
                alias = self.text(namespace.named_children[0]) if namespace.named_children else ""
                if alias:
                    exports[alias] = ("namespace", specifier)
            elif specifier is not None:
                stars.append(specifier)
        certain = not re.search(rb"\bmodule\.exports\b|\bexports\.\w+\s*=|\bexports\[", self.data)
        return exports, stars, certain

    @cached_property
    def external_assignments(self) -> dict[str, set[str]]:
        """``Name.x = ...`` and ``Name.prototype.x = ...`` targets by Name (and Name.prototype)."""
        found: dict[str, set[str]] = {}
        captured = js_captures(
            self.language,
            "(assignment_expression left: (member_expression object: (_) @object"
            " property: (property_identifier) @property))",
            self.root,
        )
        for obj, prop in zip(
            captured.get("object", []), captured.get("property", []), strict=False
        ):
            found.setdefault(self.text(obj), set()).add(self.text(prop))
        return found

    def dynamic_class(self, name: str) -> bool:
        """True when a class's members may be added out of sight (assign/defineProperty)."""
        pattern = (
            rb"Object\.(assign|defineProperty|defineProperties|setPrototypeOf)\(\s*"
            + re.escape(name.encode())
            + rb"\b"
        )
        return bool(re.search(pattern, self.data))


def string_text(module: JsModule, node: Node) -> str:
    text = module.text(node)
    return text[1:-1] if len(text) >= 2 and text[0] in "'\"`" else text


def _declared_names(module: JsModule, declaration: Node) -> list[str]:
    if declaration.type in ("lexical_declaration", "variable_declaration"):
        return [
            module.text(d.child_by_field_name("name"))
            for d in declaration.named_children
            if d.type == "variable_declarator"
            and d.child_by_field_name("name") is not None
            and d.child_by_field_name("name").type == "identifier"
        ]
    name = declaration.child_by_field_name("name")
    return [module.text(name)] if name is not None else []


def block_bindings(
    module: JsModule, block: Node
) -> dict[str, list[tuple[str, Node | None, Node | None]]]:
    """Value bindings declared directly in a block/program.

    Kinds: ("const"|"let"|"var", declarator, None), ("function", node, None),
    ("class", node, None), ("import", specifier-string node, imported name or None for a
    default import / "*" for a namespace import), ("other", None, None).
    """
    found: dict[str, list[tuple[str, Node | None, Node | None]]] = {}

    def add(name: str, entry: tuple) -> None:
        if name:
            found.setdefault(name, []).append(entry)

    for child in block.named_children:
        node = child
        if child.type == "export_statement":
            node = child.child_by_field_name("declaration") or child.child_by_field_name("value")
            if node is None:
                continue
        kind = node.type
        if kind in ("lexical_declaration", "variable_declaration"):
            keyword = "var" if kind == "variable_declaration" else module.text(node.children[0])
            for declarator in node.named_children:
                if declarator.type != "variable_declarator":
                    continue
                name = declarator.child_by_field_name("name")
                if name is None:
                    continue
                if name.type == "identifier":
                    add(module.text(name), (keyword, declarator, None))
                else:
                    for ident in pattern_identifiers(name):
                        add(module.text(ident), ("other", None, None))
        elif kind in FUNCTION_TYPES:
            add(module.text(node.child_by_field_name("name")), ("function", node, None))
        elif kind in ("class_declaration", "abstract_class_declaration"):
            add(module.text(node.child_by_field_name("name")), ("class", node, None))
        elif kind == "import_statement":
            source = node.child_by_field_name("source")
            clause = next((c for c in node.named_children if c.type == "import_clause"), None)
            if clause is None or source is None:
                continue
            for part in clause.named_children:
                if part.type == "identifier":
                    add(module.text(part), ("import", source, None))
                elif part.type == "namespace_import" and part.named_children:
                    add(module.text(part.named_children[0]), ("import", source, "*"))
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        if spec.type != "import_specifier":
                            continue
                        name = module.text(spec.child_by_field_name("name"))
                        alias = module.text(spec.child_by_field_name("alias")) or name
                        add(alias, ("import", source, name))
    return found


def pattern_identifiers(node: Node) -> list[Node]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if current.type in ("identifier", "shorthand_property_identifier_pattern"):
            found.append(current)
        stack.extend(current.named_children)
    return found


class JsClass:
    """Facts about a class declaration/expression."""

    def __init__(self, module: JsModule, node: Node):
        self.module = module
        self.node = node
        name = node.child_by_field_name("name")
        if name is None and node.parent is not None and node.parent.type == "variable_declarator":
            name = node.parent.child_by_field_name("name")
        self.name = module.text(name)
        self.extends: Node | None = None
        for child in node.named_children:
            if child.type == "class_heritage":
                for part in child.named_children:
                    if part.type == "extends_clause":
                        self.extends = part.child_by_field_name("value") or (
                            part.named_children[0] if part.named_children else None
                        )
                    elif part.type != "implements_clause":
                        self.extends = part
        self.body = node.child_by_field_name("body")

    @cached_property
    def facts(self) -> tuple[set[str], set[str], bool, dict[str, list[Node]]]:
        """(instance names, static names, open, instance member -> type nodes: a TS
        annotation, a value, or the JSDoc comment of a field typed by ``@type``)."""
        instance: set[str] = set()
        static: set[str] = set()
        types: dict[str, list[Node]] = {}
        is_open = False
        if self.body is None:
            return instance, static, True, types
        module = self.module
        for member in self.body.named_children:
            kind = member.type
            is_static = has_child(member, "static")
            target = static if is_static else instance
            if kind in ("method_definition", "abstract_method_signature", "method_signature"):
                name = member.child_by_field_name("name")
                if name is None or name.type == "computed_property_name":
                    is_open = True
                    continue
                text = module.text(name)
                target.add(text)
                if text == "constructor":
                    self._parameter_properties(member, instance, types)
                elif not is_static and has_child(member, "get"):
                    types.setdefault(text, []).append(member)
                elif not is_static:
                    types.setdefault(text, []).append(member)
            elif kind in ("field_definition", "public_field_definition"):
                name = member.child_by_field_name("property") or member.child_by_field_name("name")
                if name is None or name.type == "computed_property_name":
                    is_open = True
                    continue
                text = module.text(name)
                target.add(text)
                if not is_static:
                    annotation = member.child_by_field_name("type")
                    if annotation is None:  # a JSDoc ``@type`` stands in for it
                        comment = jsdoc_comment(module, member)
                        if "type" in jsdoc_tags(module, comment):
                            annotation = comment
                    value = member.child_by_field_name("value")
                    types.setdefault(text, []).append(
                        annotation if annotation is not None else value
                    )
            elif kind == "index_signature":
                is_open = True
        for prop, assignment in self._this_assignments():
            instance.add(prop)
            types.setdefault(prop, []).append(assignment)
        return instance, static, is_open, types

    def _parameter_properties(self, constructor: Node, instance: set[str], types: dict) -> None:
        params = constructor.child_by_field_name("parameters")
        if params is None:
            return
        for param in params.named_children:
            if param.type not in ("required_parameter", "optional_parameter"):
                continue
            if not any(
                c.type in ("accessibility_modifier", "readonly", "override_modifier")
                for c in param.children
            ):
                continue
            pattern = param.child_by_field_name("pattern")
            if pattern is not None and pattern.type == "identifier":
                name = self.module.text(pattern)
                instance.add(name)
                types.setdefault(name, []).append(param.child_by_field_name("type"))

    def _this_assignments(self) -> list[tuple[str, Node]]:
        """``this.x = v`` in instance methods/field initialisers (``this`` not rebound)."""
        found = []
        captured = js_captures(
            self.module.language,
            "(assignment_expression left: (member_expression object: (this)"
            " property: (_) @property)) @assignment",
            self.body,
        )
        for prop, assignment in zip(
            captured.get("property", []), captured.get("assignment", []), strict=False
        ):
            owner = this_owner(prop)
            if owner is None or owner[0] != self.node.start_byte or owner[1]:
                continue
            found.append((self.module.text(prop), assignment))
        return found


_JSDOC_OWNERS = frozenset(
    {"lexical_declaration", "variable_declaration", "export_statement", "expression_statement"}
)
_JSDOC_TAG = re.compile(
    r"@(?P<tag>param|arg|argument|type|returns?)\s*\{(?P<type>[^{}]*)\}"
    r"(?:\s*\[?\s*(?P<name>[\w$]+))?"
)


def jsdoc_comment(module: JsModule, node: Node) -> Node | None:
    """The ``/** ... */`` comment written right before a declaration (function, class
    member, variable declarator, or the statement holding it), else None."""
    current: Node | None = node
    while current is not None:
        previous = current.prev_sibling
        if previous is not None and previous.type == "comment":
            return previous if module.text(previous).startswith("/**") else None
        if previous is not None and previous.type == ",":
            return None  # a later declarator: the comment belongs to the first
        parent = current.parent
        if parent is None or not (
            parent.type in _JSDOC_OWNERS
            or (current.type == "variable_declarator" and parent.type in _JSDOC_OWNERS)
            or (parent.type == "variable_declarator" and current.type in FUNCTION_TYPES)
            or (parent.type == "variable_declarator" and current.type == "arrow_function")
        ):
            return None
        current = parent
    return None


def jsdoc_tags(module: JsModule, comment: Node | None) -> dict[str, str]:
    """The type expressions of a JSDoc comment's tags: ``"type"``, ``"returns"`` and
    ``"param NAME"`` (the text between the braces, e.g. ``"Foo|null"``)."""
    if comment is None:
        return {}
    cache = module.__dict__.setdefault("_jsdoc", {})
    key = comment.start_byte
    found = cache.get(key)
    if found is None:
        found = {}
        for match in _JSDOC_TAG.finditer(module.text(comment)):
            tag = match.group("tag")
            if tag in ("param", "arg", "argument"):
                if match.group("name"):
                    found.setdefault(f"param {match.group('name')}", match.group("type").strip())
            else:
                found.setdefault(
                    "returns" if tag.startswith("return") else tag, match.group("type").strip()
                )
        cache[key] = found
    return found


def this_owner(node: Node) -> tuple[int, bool] | None:
    """(class start byte, static) whose instance/class ``this`` denotes at ``node``, or None."""
    current = node.parent
    static = False
    while current is not None:
        kind = current.type
        if kind in FUNCTION_TYPES:
            return None  # a plain function rebinds ``this``
        if kind in (
            "method_definition",
            "field_definition",
            "public_field_definition",
            "class_static_block",
        ):
            static = has_child(current, "static") or kind == "class_static_block"
        if kind == "class_body":
            cls = current.parent
            return (cls.start_byte, static) if cls is not None else None
        current = current.parent
    return None


def class_node_at(module: JsModule, start_byte: int) -> Node | None:
    node = module.root.descendant_for_byte_range(start_byte, start_byte)
    while node is not None and not (
        node.is_named and node.type in CLASS_TYPES and node.start_byte == start_byte
    ):
        node = node.parent
    return node


# Callers written before the split import these from here (PEP 562 lazy re-export; an
# eager import would be circular).
_RESOLUTION_NAMES = frozenset(
    {
        "JsClassObject",
        "JsFunction",
        "JsInstance",
        "JsInterface",
        "JsModuleLoader",
        "JsNamespace",
        "JsResolver",
        "JsType",
        "js_members_of_type",
    }
)
_class_node_at = class_node_at


def __getattr__(name: str) -> object:
    if name in _RESOLUTION_NAMES:
        from analysis import js_resolution

        return getattr(js_resolution, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
