"""JavaScript/TypeScript receiver resolution: types of expressions and their member sets.

The JS/TS side of the member oracle used for monitor-guided decoding (Agrawal et al. 2023,
"Guiding Language Models of Code with Global Context using Monitors"), over the facts that
:mod:`analysis.js_symbols` extracts (the Python side splits the same way:
:mod:`analysis.python_symbols` / :mod:`analysis.resolution`). Resolved: ``this.`` inside
class methods (fields, methods, getters/setters, ``this.x = ...`` in any method, TS
constructor parameter properties, ``extends`` chains resolved in the workspace),
``new Foo().``, ``const f = new Foo(); f.``, TS interfaces, object type aliases and
annotated variables/parameters, and ES-module namespace imports (``import * as ns from
'./mod'``). Everything else is open (None): computed member names, index signatures,
unresolved ``extends``, ``Object.assign``/``defineProperty`` on a class, CommonJS modules,
reassigned ``let``/``var`` variables, unannotated parameters, and ``this`` inside plain
functions. A member set, when given, contains every member the object can have.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import tree_sitter

from analysis.js_symbols import (
    BLOCK_TYPES,
    CLASS_TYPES,
    FUNCTION_PROTOTYPE,
    FUNCTION_TYPES,
    OBJECT_PROTOTYPE,
    JsClass,
    JsModule,
    block_bindings,
    class_node_at,
    has_child,
    js_captures,
    jsdoc_comment,
    jsdoc_tags,
    pattern_identifiers,
    string_text,
    this_owner,
)

Node = tree_sitter.Node
MAX_DEPTH = 24


class JsModuleLoader(Protocol):
    """Finds JS/TS modules by ES-module specifier (parsed, never executed)."""

    def js_module(self, specifier: str, from_file: Path | None) -> object | None: ...


class _Open(Exception):
    """Raised internally when a resolution hits something uncertain."""


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


@dataclass(frozen=True, eq=False)
class JsArray:
    """An array (TS ``T[]``/``Array<T>``, JSDoc ``T[]``): members open (``Array.prototype``
    may be extended anywhere), elements of type ``element``."""

    element: JsType | None


JsType = JsInstance | JsClassObject | JsInterface | JsNamespace | JsFunction | JsArray


def _same(a: JsType | None, b: JsType | None) -> bool:
    if a is None or b is None or type(a) is not type(b):
        return False
    if isinstance(a, JsArray):
        return a.element is None and b.element is None or _same(a.element, b.element)
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
        specifier = source if isinstance(source, str) else string_text(module, source)
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
        if typ is None or depth > MAX_DEPTH or isinstance(typ, JsFunction | JsArray):
            raise _Open
        if isinstance(typ, JsNamespace):
            return self._export_names(typ.module, depth)
        if isinstance(typ, JsInterface):
            return frozenset(self._interface_names(typ, depth) | OBJECT_PROTOTYPE)
        instance = isinstance(typ, JsInstance)
        names: set[str] = set(OBJECT_PROTOTYPE if instance else FUNCTION_PROTOTYPE)
        for cls in self._extends_chain(typ.cls):
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
        return frozenset(names)

    def declared_members(self, typ: JsType | None) -> frozenset[str] | None:
        """The names an instance or class object certainly has when :meth:`members` is open
        although its whole ``extends`` chain resolves (an index signature, a dynamic class):
        what the classes of the chain declare. A lower bound for preferring names, never a
        mask; None for other types, or when a base is out of sight (its names are as real
        as the declared ones)."""
        if not isinstance(typ, JsInstance | JsClassObject):
            return None
        instance = isinstance(typ, JsInstance)
        names: set[str] = set(OBJECT_PROTOTYPE if instance else FUNCTION_PROTOTYPE)
        try:
            for cls in self._extends_chain(typ.cls):
                own_instance, own_static, _, _ = cls.facts
                names |= own_instance if instance else own_static
        except (_Open, RecursionError):
            return None
        return frozenset(names)

    def _extends_chain(self, cls: JsClass) -> Iterator[JsClass]:
        """``cls`` and the classes it extends, nearest first; raises ``_Open`` at a base out
        of sight or a cycle."""
        seen: set[int] = set()
        while True:
            if id(cls) in seen:
                raise _Open
            seen.add(id(cls))
            yield cls
            if cls.extends is None:
                return
            base = self.expression_type(cls.module, cls.extends)
            if not isinstance(base, JsClassObject):
                raise _Open
            cls = base.cls

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
        if kind == "array_type" and node.named_children:
            return JsArray(self.type_annotation(module, node.named_children[0]))
        if kind == "generic_type":
            name = node.child_by_field_name("name")
            if module.text(name) in ("Array", "ReadonlyArray") and not _declares(module, name):
                arguments = node.child_by_field_name("type_arguments")
                first = (
                    arguments.named_children[0] if arguments and arguments.named_children else None
                )
                return JsArray(self.type_annotation(module, first))
            return self.type_annotation(module, name)
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
            classes = [d for d in declarations if d.type in CLASS_TYPES]
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
            cls_node = class_node_at(module, owner[0])
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
        """The declared return type (TS ``): T`` or JSDoc ``@returns``) of a call."""
        if not isinstance(callee, JsFunction):
            return None
        return self._declared_return(callee.module, callee.node)

    def _declared_return(self, module: JsModule, function: Node) -> JsType | None:
        annotation = function.child_by_field_name("return_type")
        if annotation is not None:
            return self.type_annotation(module, annotation)
        returns = jsdoc_tags(module, jsdoc_comment(module, function)).get("returns")
        return self.jsdoc_type(module, returns, function) if returns else None

    def jsdoc_type(self, module: JsModule, text: str, at: Node) -> JsType | None:
        """The type a JSDoc type expression names: ``Foo``, ``ns.Foo``, ``?Foo``/``!Foo``/
        ``Foo=``, ``Foo|null|undefined``, ``Foo[]``/``Array<Foo>``/``Array.<Foo>``; None
        for anything else (records, functions, unions of classes, ``*``)."""
        text = text.strip()
        if self._depth > MAX_DEPTH or not text:
            return None
        while text[:1] in ("?", "!") or text.endswith("="):
            text = text[1:] if text[:1] in ("?", "!") else text[:-1]
            text = text.strip()
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        if "|" in text:
            parts = [p.strip() for p in text.split("|")]
            rest = [p for p in parts if p not in ("null", "undefined")]
            return self.jsdoc_type(module, rest[0], at) if len(rest) == 1 else None
        self._depth += 1
        try:
            if text.endswith("[]"):
                return JsArray(self.jsdoc_type(module, text[:-2], at))
            for prefix in ("Array.<", "Array<"):
                if text.startswith(prefix) and text.endswith(">"):
                    return JsArray(self.jsdoc_type(module, text[len(prefix) : -1], at))
            parts = text.split(".")
            if not all(p.replace("$", "_").isidentifier() for p in parts):
                return None
            if len(parts) == 1:
                return self._named_type(module, parts[0], at)
            namespace = self.name_type(module, parts[0], at)
            for part in parts[1:-1]:
                namespace = self.property_type(namespace, part) if namespace else None
            if isinstance(namespace, JsNamespace):
                return self._exported_type(namespace.module, parts[-1])
            return None
        except (_Open, RecursionError):
            return None
        finally:
            self._depth -= 1

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
                    if not has_child(node, "get"):
                        if len(nodes) != 1:
                            return None
                        return JsFunction(module, node)
                    types.append(self._declared_return(module, node))
                elif node.type == "comment":  # a field's JSDoc ``@type``
                    declared = jsdoc_tags(module, node).get("type")
                    types.append(self.jsdoc_type(module, declared, node) if declared else None)
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
            if kind in BLOCK_TYPES:
                bindings = (
                    module.top_level if kind == "program" else block_bindings(module, current)
                )
                if name in bindings:
                    return [tuple(b) + (current,) for b in bindings[name]]
            elif kind in FUNCTION_TYPES or kind in ("arrow_function", "method_definition"):
                params = current.child_by_field_name("parameters") or current.child_by_field_name(
                    "parameter"
                )
                found = _parameter_binding(module, params, name) if params is not None else None
                if found == ("param", None, None):
                    declared = jsdoc_tags(module, jsdoc_comment(module, current)).get(
                        f"param {name}"
                    )
                    if declared is not None:
                        found = ("jsdoc", current, declared)
                if found is not None:
                    return [found + (current,)]
                if (
                    kind in FUNCTION_TYPES
                    and module.text(current.child_by_field_name("name")) == name
                ):
                    return [("function", current, None, current)]
            elif kind in ("for_statement", "for_in_statement", "catch_clause"):
                head = current.child_by_field_name("left") or current.child_by_field_name(
                    "initializer"
                )
                head = head or current.child_by_field_name("parameter")
                if head is not None and any(
                    module.text(i) == name for i in pattern_identifiers(head)
                ):
                    operator = current.child_by_field_name("operator")
                    declaration = current.child_by_field_name("kind")
                    if (
                        head.type == "identifier"
                        and operator is not None
                        and operator.type == "of"
                        and declaration is not None
                        and not has_child(current, "await")
                    ):
                        return [("of", current, module.text(declaration), current)]
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
        if kind == "function":  # a function declaration, unless reassigned
            if scope is not None and name and _reassigned(module, scope, name):
                return None
            return JsFunction(module, node)
        if kind == "jsdoc":  # a JS parameter typed by ``@param {T} name``: not reassigned
            body = node.child_by_field_name("body")
            if body is not None and _reassigned(module, body, name):
                return None
            return self.jsdoc_type(module, extra, node)
        if kind == "of":  # for (const x of xs): an element of xs
            body = node.child_by_field_name("body")
            if extra != "const" and body is not None and _reassigned(module, body, name):
                return None
            iterable = self.expression_type(module, node.child_by_field_name("right"))
            return iterable.element if isinstance(iterable, JsArray) else None
        if kind in ("const", "let", "var"):
            if kind != "const" and scope is not None and _reassigned(module, scope, name):
                return None
            annotation = node.child_by_field_name("type")
            if annotation is not None:
                return self.type_annotation(module, annotation)
            declared = jsdoc_tags(module, jsdoc_comment(module, node)).get("type")
            if declared is not None:
                return self.jsdoc_type(module, declared, node)
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
        elif any(module.text(i) == name for i in pattern_identifiers(pattern)):
            return ("other", None, None)
    return None


def _declares(module: JsModule, name: Node) -> bool:
    """True when the file declares a type of this name itself (shadowing a global)."""
    return module.text(name) in module.types


def _reassigned(module: JsModule, scope: Node, name: str) -> bool:
    captured = js_captures(
        module.language,
        "[(assignment_expression left: (identifier) @name)"
        " (augmented_assignment_expression left: (identifier) @name)"
        " (update_expression argument: (identifier) @name)]",
        scope,
    )
    return any(module.text(n) == name for n in captured.get("name", []))


def js_members_of_type(resolver: JsResolver, typ: JsType | None) -> frozenset[str] | None:
    """Member names of a JS type (None when open), with the private ``#x`` names kept."""
    return resolver.members(typ)
