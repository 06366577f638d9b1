"""JavaScript/TypeScript symbols and receiver resolution.

The JS/TS side of the member oracle used for monitor-guided decoding (Agrawal et al. 2023):
``this.`` inside class methods (fields, methods, getters/setters, ``this.x = ...`` in any
method, TS constructor parameter properties, ``extends`` chains resolved in the workspace),
``new Foo().``, ``const f = new Foo(); f.``, TS interfaces, object type aliases and annotated
variables/parameters, and ES-module namespace imports (``import * as ns from './mod'``).
Everything else is open (None): computed member names, index signatures, unresolved
``extends``, ``Object.assign``/``defineProperty`` on a class, CommonJS modules, reassigned
``let``/``var`` variables, unannotated parameters, and ``this`` inside plain functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import tree_sitter

from analysis.languages import tree_sitter_language

Node = tree_sitter.Node
MAX_DEPTH = 24

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
_CLASS_TYPES = frozenset({"class_declaration", "abstract_class_declaration", "class"})
_FUNCTION_TYPES = frozenset(
    {
        "function_declaration",
        "function_expression",
        "function",
        "generator_function_declaration",
        "generator_function",
    }
)
_BLOCK_TYPES = frozenset({"statement_block", "program", "switch_body", "class_static_block"})


class JsModuleLoader(Protocol):
    def js_module(self, specifier: str, from_file: Path | None) -> object | None: ...


class _Open(Exception):
    pass


def _query(language: str, source: str) -> tree_sitter.Query:
    return tree_sitter.Query(tree_sitter_language(language), source)


_QUERIES: dict[tuple[str, str], tree_sitter.Query] = {}


def _captures(language: str, source: str, node: Node) -> dict[str, list[Node]]:
    key = (language, source)
    query = _QUERIES.get(key)
    if query is None:
        query = _QUERIES[key] = _query(language, source)
    try:
        return tree_sitter.QueryCursor(query).captures(node)
    except Exception:
        return {}


def _has_child(node: Node, kind: str) -> bool:
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
                or node.type in _CLASS_TYPES
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
            specifier = _string_text(self, source) if source is not None else None
            declaration = child.child_by_field_name("declaration")
            value = child.child_by_field_name("value")
            is_default = _has_child(child, "default")
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
        captured = _captures(
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


def _string_text(module: JsModule, node: Node) -> str:
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
                    for ident in _pattern_identifiers(name):
                        add(module.text(ident), ("other", None, None))
        elif kind in _FUNCTION_TYPES:
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


def _pattern_identifiers(node: Node) -> list[Node]:
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
        """(instance names, static names, open, instance member -> type/value nodes)."""
        instance: set[str] = set()
        static: set[str] = set()
        types: dict[str, list[Node]] = {}
        is_open = False
        if self.body is None:
            return instance, static, True, types
        module = self.module
        for member in self.body.named_children:
            kind = member.type
            is_static = _has_child(member, "static")
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
                elif not is_static and _has_child(member, "get"):
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
        captured = _captures(
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


def this_owner(node: Node) -> tuple[int, bool] | None:
    """(class start byte, static) whose instance/class ``this`` denotes at ``node``, or None."""
    current = node.parent
    static = False
    while current is not None:
        kind = current.type
        if kind in _FUNCTION_TYPES:
            return None  # a plain function rebinds ``this``
        if kind in (
            "method_definition",
            "field_definition",
            "public_field_definition",
            "class_static_block",
        ):
            static = _has_child(current, "static") or kind == "class_static_block"
        if kind == "class_body":
            cls = current.parent
            return (cls.start_byte, static) if cls is not None else None
        current = current.parent
    return None


@dataclass(frozen=True, eq=False)
class JsInstance:
    cls: JsClass


@dataclass(frozen=True, eq=False)
class JsClassObject:
    cls: JsClass


@dataclass(frozen=True, eq=False)
class JsInterface:
    module: JsModule
    nodes: tuple[Node, ...]  # interface declarations (merged) or an object type


@dataclass(frozen=True, eq=False)
class JsNamespace:
    module: JsModule


@dataclass(frozen=True, eq=False)
class JsFunction:
    module: JsModule
    node: Node  # a function declaration/expression or method definition


JsType = JsInstance | JsClassObject | JsInterface | JsNamespace | JsFunction


def _same(a: JsType | None, b: JsType | None) -> bool:
    if a is None or b is None or type(a) is not type(b):
        return False
    if isinstance(a, JsInstance | JsClassObject):
        return a.cls is b.cls
    if isinstance(a, JsNamespace):
        return a.module is b.module
    return a.nodes == b.nodes


class JsResolver:
    """Resolves JS/TS expressions to types and types to member sets."""

    def __init__(self, loader: JsModuleLoader | None):
        self.loader = loader
        self._depth = 0

    def _load(self, module: JsModule, source: Node | str) -> JsModule | None:
        if self.loader is None:
            return None
        specifier = source if isinstance(source, str) else _string_text(module, source)
        try:
            found = self.loader.js_module(specifier, module.path)
        except Exception:
            return None
        return found if isinstance(found, JsModule) else None

    # -- members ---------------------------------------------------------------------------

    def members(self, typ: JsType | None) -> frozenset[str] | None:
        try:
            return self._members(typ, 0)
        except (_Open, RecursionError):
            return None

    def _members(self, typ: JsType | None, depth: int) -> frozenset[str] | None:
        if typ is None or depth > MAX_DEPTH or isinstance(typ, JsFunction):
            raise _Open
        if isinstance(typ, JsNamespace):
            return self._export_names(typ.module, depth)
        if isinstance(typ, JsInterface):
            return frozenset(self._interface_names(typ, depth) | OBJECT_PROTOTYPE)
        cls = typ.cls
        instance = isinstance(typ, JsInstance)
        names: set[str] = set(OBJECT_PROTOTYPE if instance else FUNCTION_PROTOTYPE)
        seen: set[int] = set()
        while cls is not None:
            if id(cls) in seen:
                raise _Open
            seen.add(id(cls))
            own_instance, own_static, is_open, _ = cls.facts
            if is_open or (cls.name and cls.module.dynamic_class(cls.name)):
                raise _Open
            names |= own_instance if instance else own_static
            external = cls.module.external_assignments
            if cls.name:
                names |= (
                    external.get(f"{cls.name}.prototype", set())
                    if instance
                    else external.get(cls.name, set())
                )
            if cls.extends is None:
                break
            base = self.expression_type(cls.module, cls.extends)
            if not isinstance(base, JsClassObject):
                raise _Open
            cls = base.cls
        return frozenset(names)

    def _export_names(self, module: JsModule, depth: int) -> frozenset[str]:
        exports, stars, certain = module.exports
        if not certain:
            raise _Open
        names = set(exports)
        for specifier in stars:
            target = self._load(module, specifier)
            if target is None:
                raise _Open
            names |= self._export_names(target, depth + 1) - {"default"}
        return frozenset(names)

    def _interface_names(self, typ: JsInterface, depth: int) -> set[str]:
        names: set[str] = set()
        for node in typ.nodes:
            body = (
                node.child_by_field_name("body") if node.type == "interface_declaration" else node
            )
            if body is None:
                raise _Open
            for member in body.named_children:
                if member.type in ("property_signature", "method_signature"):
                    name = member.child_by_field_name("name")
                    if name is None or name.type == "computed_property_name":
                        raise _Open
                    names.add(typ.module.text(name))
                elif member.type == "index_signature":
                    raise _Open
            for clause in node.named_children:
                if clause.type == "extends_type_clause":
                    for base in clause.children_by_field_name("type"):
                        base_type = self.type_annotation(typ.module, base)
                        if base_type is None:
                            raise _Open
                        base_names = self._members(base_type, depth + 1)
                        names |= base_names
        return names

    # -- types -----------------------------------------------------------------------------

    def type_annotation(self, module: JsModule, node: Node | None) -> JsType | None:
        """The instance type a TS annotation names (``Foo``, ``Foo<T>``, ``Foo | null``)."""
        if node is None or self._depth > MAX_DEPTH:
            return None
        self._depth += 1
        try:
            return self._type_annotation(module, node)
        except (_Open, RecursionError):
            return None
        finally:
            self._depth -= 1

    def _type_annotation(self, module: JsModule, node: Node) -> JsType | None:
        kind = node.type
        if kind in ("type_annotation", "parenthesized_type") and node.named_children:
            return self.type_annotation(module, node.named_children[0])
        if kind == "generic_type":
            return self.type_annotation(module, node.child_by_field_name("name"))
        if kind == "union_type":
            rest = [
                c
                for c in node.named_children
                if not (c.type == "literal_type" and module.text(c) in ("null", "undefined"))
                and module.text(c) not in ("null", "undefined")
            ]
            return self.type_annotation(module, rest[0]) if len(rest) == 1 else None
        if kind == "object_type":
            return JsInterface(module, (node,))
        if kind == "type_identifier":
            return self._named_type(module, module.text(node), node)
        if kind == "nested_type_identifier":
            namespace = self.expression_type(module, node.child_by_field_name("module"))
            name = module.text(node.child_by_field_name("name"))
            if isinstance(namespace, JsNamespace):
                return self._exported_type(namespace.module, name)
        return None

    def _named_type(self, module: JsModule, name: str, at: Node) -> JsType | None:
        declarations = module.types.get(name)
        if declarations:
            interfaces = tuple(d for d in declarations if d.type == "interface_declaration")
            classes = [d for d in declarations if d.type in _CLASS_TYPES]
            aliases = [d for d in declarations if d.type == "type_alias_declaration"]
            if interfaces and not classes and not aliases:
                return JsInterface(module, interfaces)
            if classes and len(classes) == 1 and not aliases and not interfaces:
                return JsInstance(module.class_at(classes[0]))
            if aliases and len(aliases) == 1 and not classes and not interfaces:
                return self.type_annotation(module, aliases[0].child_by_field_name("value"))
            return None
        bindings = module.top_level.get(name)
        if bindings and len(bindings) == 1 and bindings[0][0] == "import":
            _, source, imported = bindings[0]
            target = self._load(module, source)
            if target is None or imported in (None, "*"):
                return None
            return self._exported_type(target, imported)
        return None

    def _exported_type(self, module: JsModule, name: str) -> JsType | None:
        exports, stars, _ = module.exports
        entry = exports.get(name)
        if entry is None:
            if name in module.types and not stars:
                return None  # not exported
            return None
        if entry[0] == "local":
            return self._named_type(module, entry[1], module.root)
        if entry[0] == "from":
            target = self._load(module, entry[1])
            return self._exported_type(target, entry[2]) if target is not None else None
        return None

    def expression_type(self, module: JsModule, node: Node | None) -> JsType | None:
        """The certain type of a JS/TS expression, or None."""
        if node is None or self._depth > MAX_DEPTH:
            return None
        self._depth += 1
        try:
            return self._expression_type(module, node)
        except (_Open, RecursionError):
            return None
        finally:
            self._depth -= 1

    def _expression_type(self, module: JsModule, node: Node) -> JsType | None:
        kind = node.type
        if kind == "identifier":
            return self.name_type(module, module.text(node), node)
        if kind == "this":
            owner = this_owner(node)
            if owner is None:
                return None
            cls_node = _class_node_at(module, owner[0])
            if cls_node is None:
                return None
            cls = module.class_at(cls_node)
            return JsClassObject(cls) if owner[1] else JsInstance(cls)
        if kind == "new_expression":
            constructor = self.expression_type(module, node.child_by_field_name("constructor"))
            return JsInstance(constructor.cls) if isinstance(constructor, JsClassObject) else None
        if kind == "member_expression":
            obj = self.expression_type(module, node.child_by_field_name("object"))
            prop = node.child_by_field_name("property")
            return self.property_type(obj, module.text(prop)) if obj is not None else None
        if kind == "call_expression":
            function = node.child_by_field_name("function")
            return self._call_type(module, function)
        if kind in ("parenthesized_expression", "non_null_expression") and node.named_children:
            return self.expression_type(module, node.named_children[0])
        if kind in ("as_expression", "satisfies_expression") and len(node.named_children) == 2:
            return self.type_annotation(module, node.named_children[1])
        if kind == "class":
            return JsClassObject(module.class_at(node))
        if kind in ("function_expression", "arrow_function"):
            return JsFunction(module, node)
        return None

    def _call_type(self, module: JsModule, function: Node | None) -> JsType | None:
        return self.call_type(self.expression_type(module, function))

    def call_type(self, callee: JsType | None) -> JsType | None:
        """The declared return type (TS ``): T``) of calling a function/method."""
        if not isinstance(callee, JsFunction):
            return None
        return self.type_annotation(callee.module, callee.node.child_by_field_name("return_type"))

    def _instance_member_nodes(self, cls: JsClass, name: str) -> list[Node] | None:
        seen: set[int] = set()
        current: JsClass | None = cls
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            nodes = current.facts[3].get(name)
            if nodes:
                return nodes
            if current.extends is None:
                return None
            base = self.expression_type(current.module, current.extends)
            current = base.cls if isinstance(base, JsClassObject) else None
        return None

    def property_type(self, obj: JsType, name: str) -> JsType | None:
        """The certain type of ``obj.name``."""
        if isinstance(obj, JsNamespace):
            return self._exported_value(obj.module, name)
        if isinstance(obj, JsInstance):
            members = self.members(obj)
            if members is None or name not in members:
                return None
            nodes = self._instance_member_nodes(obj.cls, name)
            if not nodes:
                return None
            module = obj.cls.module
            types = []
            for node in nodes:
                if node is None:
                    return None
                if node.type == "assignment_expression":
                    types.append(self.expression_type(module, node.child_by_field_name("right")))
                elif node.type == "method_definition":
                    if not _has_child(node, "get"):
                        if len(nodes) != 1:
                            return None
                        return JsFunction(module, node)
                    types.append(
                        self.type_annotation(module, node.child_by_field_name("return_type"))
                    )
                elif node.type == "type_annotation":
                    types.append(self.type_annotation(module, node))
                else:
                    types.append(self.expression_type(module, node))
            first = types[0]
            return first if first is not None and all(_same(first, t) for t in types[1:]) else None
        if isinstance(obj, JsInterface):
            for node in obj.nodes:
                body = (
                    node.child_by_field_name("body")
                    if node.type == "interface_declaration"
                    else node
                )
                for member in body.named_children if body is not None else []:
                    if (
                        member.type == "property_signature"
                        and obj.module.text(member.child_by_field_name("name")) == name
                    ):
                        return self.type_annotation(obj.module, member.child_by_field_name("type"))
        return None

    def _exported_value(self, module: JsModule, name: str) -> JsType | None:
        exports, _, _ = module.exports
        entry = exports.get(name)
        if entry is None:
            return None
        if entry[0] == "local":
            bindings = module.top_level.get(entry[1])
            return self._bindings_type(module, bindings) if bindings else None
        if entry[0] == "from":
            target = self._load(module, entry[1])
            return self._exported_value(target, entry[2]) if target is not None else None
        if entry[0] == "namespace":
            target = self._load(module, entry[1])
            return JsNamespace(target) if target is not None else None
        if entry[0] == "value" and entry[1] is not None and entry[1].type == "class":
            return JsClassObject(module.class_at(entry[1]))
        return None

    def _lookup(self, module: JsModule, name: str, at: Node) -> list[tuple] | None:
        """The bindings of ``name`` in the innermost scope that declares it, seen from ``at``."""
        current = at.parent
        while current is not None:
            kind = current.type
            if kind in _BLOCK_TYPES:
                bindings = (
                    module.top_level if kind == "program" else block_bindings(module, current)
                )
                if name in bindings:
                    return [tuple(b) + (current,) for b in bindings[name]]
            elif kind in _FUNCTION_TYPES or kind in ("arrow_function", "method_definition"):
                params = current.child_by_field_name("parameters") or current.child_by_field_name(
                    "parameter"
                )
                found = _parameter_binding(module, params, name) if params is not None else None
                if found is not None:
                    return [found + (current,)]
                if (
                    kind in _FUNCTION_TYPES
                    and module.text(current.child_by_field_name("name")) == name
                ):
                    return [("function", current, None, current)]
            elif kind in ("for_statement", "for_in_statement", "catch_clause"):
                head = current.child_by_field_name("left") or current.child_by_field_name(
                    "initializer"
                )
                head = head or current.child_by_field_name("parameter")
                if head is not None and any(
                    module.text(i) == name for i in _pattern_identifiers(head)
                ):
                    return [("other", None, None, current)]
            current = current.parent
        return None

    def name_type(self, module: JsModule, name: str, at: Node) -> JsType | None:
        bindings = self._lookup(module, name, at)
        if not bindings:
            return None
        return self._bindings_type(
            module, [b[:3] for b in bindings], scope=bindings[0][3], name=name
        )

    def _bindings_type(
        self, module: JsModule, bindings: list, scope: Node | None = None, name: str = ""
    ) -> JsType | None:
        if len(bindings) != 1:
            return None
        kind, node, extra = bindings[0]
        if kind == "class":
            return JsClassObject(module.class_at(node))
        if kind == "import":
            target = self._load(module, node)
            if target is None:
                return None
            if extra == "*":
                return JsNamespace(target)
            return self._exported_value(target, extra or "default")
        if kind == "param":
            return self.type_annotation(module, node)
        if kind in ("const", "let", "var"):
            if kind != "const" and scope is not None and _reassigned(module, scope, name):
                return None
            annotation = node.child_by_field_name("type")
            if annotation is not None:
                return self.type_annotation(module, annotation)
            return self.expression_type(module, node.child_by_field_name("value"))
        return None


def _parameter_binding(module: JsModule, params: Node, name: str) -> tuple | None:
    nodes = [params] if params.type == "identifier" else params.named_children
    for param in nodes:
        if param.type == "identifier":
            if module.text(param) == name:
                return ("param", None, None)
            continue
        pattern = param.child_by_field_name("pattern") or param.child_by_field_name("left") or param
        if pattern.type == "identifier":
            if module.text(pattern) == name:
                return ("param", param.child_by_field_name("type"), None)
        elif any(module.text(i) == name for i in _pattern_identifiers(pattern)):
            return ("other", None, None)
    return None


def _reassigned(module: JsModule, scope: Node, name: str) -> bool:
    captured = _captures(
        module.language,
        "[(assignment_expression left: (identifier) @name)"
        " (augmented_assignment_expression left: (identifier) @name)"
        " (update_expression argument: (identifier) @name)]",
        scope,
    )
    return any(module.text(n) == name for n in captured.get("name", []))


def _class_node_at(module: JsModule, start_byte: int) -> Node | None:
    node = module.root.descendant_for_byte_range(start_byte, start_byte)
    while node is not None and not (
        node.is_named and node.type in _CLASS_TYPES and node.start_byte == start_byte
    ):
        node = node.parent
    return node


def js_members_of_type(resolver: JsResolver, typ: JsType | None) -> frozenset[str] | None:
    """Member names of a JS type (None when open), with the private ``#x`` names kept."""
    return resolver.members(typ)
