"""What a Python annotation declares: the annotation side of receiver resolution.

Part of the static analysis behind monitor-guided decoding (Agrawal et al. 2023, "Guiding
Language Models of Code with Global Context using Monitors"). :class:`AnnotationReader` is
a part of :class:`analysis.resolution.PythonResolver` (it uses the resolver's name and
expression types): classes, ``list[T]``/``dict[K, V]``/``tuple[...]`` and their ``typing``
spellings, ``Optional[T]``/``T | None``/``Union`` of one class, ``type[T]``, ``Literal``,
``Annotated``/``Final``/``ClassVar``, string (forward) annotations parsed on their own,
type aliases, ``Self``, and the abstract collections (``Iterable[T]``, ``Mapping[K, V]``:
members open, elements known). Anything else is None (``Any``, ``Callable``, unions of
different classes).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import tree_sitter

from analysis.builtin_types import TYPE_TYPE, BuiltinClass, builtin_type, spec_class
from analysis.languages import parser_for
from analysis.python_symbols import PyClass, PyModule, string_value
from analysis.python_types import (
    ABSTRACT_KINDS,
    COLLECTION_CLASSES,
    MAX_DEPTH,
    TYPING_CONCRETE,
    TYPING_MODULES,
    AbstractType,
    ClassObjectType,
    InstanceType,
    ModuleType,
    Type,
    Uncertain,
    builtin_instance,
    join_all,
    or_none,
)

Node = tree_sitter.Node


@dataclass(frozen=True)
class Source:
    """Where annotation nodes come from: the module's own bytes, or a string annotation
    parsed on its own (``at``: the string node, whose scope names are looked up in)."""

    module: PyModule
    data: bytes
    at: Node | None = None

    def text(self, node: Node | None) -> str:
        if node is None:
            return ""
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")


_SNIPPETS: dict[str, tuple[bytes, tree_sitter.Tree, Node] | None] = {}
_SNIPPET_LOCK = threading.Lock()


def _parse_snippet(text: str) -> tuple[bytes, Node] | None:
    """A string annotation parsed as one expression (cached), or None."""
    with _SNIPPET_LOCK:
        if text in _SNIPPETS:
            found = _SNIPPETS[text]
            return (found[0], found[2]) if found is not None else None
    data = text.strip().encode("utf-8")
    tree = parser_for("python").parse(data)
    statements = tree.root_node.named_children
    result = None
    if (
        len(statements) == 1
        and statements[0].type == "expression_statement"
        and len(statements[0].named_children) == 1
        and not tree.root_node.has_error
    ):
        result = (data, tree, statements[0].named_children[0])
    with _SNIPPET_LOCK:
        if len(_SNIPPETS) > 4096:
            _SNIPPETS.clear()
        _SNIPPETS[text] = result
    return (result[0], result[2]) if result is not None else None


class AnnotationReader:
    """The annotation methods of :class:`~analysis.resolution.PythonResolver`.

    They use the resolver's ``expression_type``, ``name_type``, ``attribute_type``,
    ``module_attribute_type``, ``_lookup`` and ``_literal_type``.
    """

    _depth: int
    loader: object

    def annotation_type(
        self, module: PyModule, node: Node | None, self_class: PyClass | None = None
    ) -> Type | None:
        """The type an annotation declares (``Optional[T]``/``T | None`` -> T that may be
        None, see :mod:`analysis.resolution`), or None."""
        return self._annotation(Source(module, module.data), node, self_class)

    def _annotation(self, src: Source, node: Node | None, self_class: PyClass | None):
        if node is None or self._depth > MAX_DEPTH:
            return None
        self._depth += 1
        try:
            return self._annotation_inner(src, node, self_class)
        except (Uncertain, RecursionError):
            return None
        finally:
            self._depth -= 1

    def _annotation_inner(self, src: Source, node: Node, self_class: PyClass | None) -> Type | None:
        kind = node.type
        if kind == "type" and node.named_children:
            return self._annotation(src, node.named_children[0], self_class)
        if kind == "string":
            if src.at is not None:
                return None  # a string inside a string annotation
            text = string_value(src.module, node)
            parsed = _parse_snippet(text) if text is not None else None
            if parsed is None:
                return None
            data, expression = parsed
            return self._annotation(Source(src.module, data, node), expression, self_class)
        if kind == "binary_operator":
            return self._union(src, _union_operands(src, node), self_class)
        if kind in ("subscript", "generic_type"):
            if kind == "subscript":
                head = node.child_by_field_name("value")
                args = node.children_by_field_name("subscript")
            else:
                head = node.named_children[0] if node.named_children else None
                args = []
                for child in node.named_children[1:]:
                    args.extend(child.named_children if child.type == "type_parameter" else [child])
            if head is None:
                return None
            return self._generic_annotation(src, head, args, self_class)
        if kind in ("identifier", "attribute"):
            return self._named_annotation(src, node, self_class)
        return None

    def _union(self, src: Source, operands: list[Node], self_class: PyClass | None):
        """``A | B | None`` and ``Union[...]``: one class (optional when None is a part)."""
        optional = False
        types: list[Type | None] = []
        for operand in operands:
            if _unwrap_type(operand).type == "none" or src.text(operand) == "None":
                optional = True
            else:
                types.append(self._annotation(src, operand, self_class))
        result = join_all(types)
        return or_none(result) if optional else result

    def _generic_annotation(
        self, src: Source, head: Node, args: list[Node], self_class: PyClass | None
    ) -> Type | None:
        origin = self._typing_origin(src, head)
        name = origin[1] if origin is not None else None
        if name == "Optional" and len(args) == 1:
            return or_none(self._annotation(src, args[0], self_class))
        if name == "Union":
            return self._union(src, args, self_class)
        if name in ("Annotated", "Final", "ClassVar", "Required", "NotRequired", "ReadOnly"):
            return self._annotation(src, args[0], self_class) if args else None
        if name == "Literal":
            return self._literal_annotation(src, args)
        if origin is not None and name in ABSTRACT_KINDS and (name != "Set" or origin[0] == "abc"):
            kind = ABSTRACT_KINDS[name]
            return AbstractType(kind, tuple(self._annotation(src, a, self_class) for a in args))
        if origin is not None and origin[0] == "abc" and name == "Set":
            return AbstractType(
                "iterable", tuple(self._annotation(src, a, self_class) for a in args)
            )
        cls: PyClass | BuiltinClass | None = None
        if name == "Type":
            cls = TYPE_TYPE
        elif origin is not None and origin[0] == "typing" and name in TYPING_CONCRETE:
            cls = self._concrete_class(TYPING_CONCRETE[name])
        elif origin is None:
            typ = self._dotted(src, head)
            cls = typ.cls if isinstance(typ, ClassObjectType) else None
        if cls is None:
            return None
        if cls is TYPE_TYPE:
            inner = self._annotation(src, args[0], self_class) if len(args) == 1 else None
            return ClassObjectType(inner.cls) if isinstance(inner, InstanceType) else None
        if isinstance(cls, PyClass):
            return InstanceType(cls)  # a user generic: its type arguments are not tracked
        if cls is spec_class("tuple"):
            values = [_unwrap_type(a) for a in args]
            if len(values) == 2 and values[1].type == "ellipsis":
                return builtin_instance(
                    "tuple", self._annotation(src, values[0], self_class), variadic=True
                )
            if len(values) == 1 and values[0].type == "tuple" and not values[0].named_children:
                return builtin_instance("tuple")  # tuple[()]
            return InstanceType(cls, tuple(self._annotation(src, a, self_class) for a in args))
        return InstanceType(cls, tuple(self._annotation(src, a, self_class) for a in args))

    def _literal_annotation(self, src: Source, args: list[Node]) -> Type | None:
        optional = False
        types: list[Type | None] = []
        for arg in args:
            value = _unwrap_type(arg)
            kind = value.type
            if kind == "unary_operator" and value.named_children:
                value = value.named_children[-1]
                kind = value.type
            if kind == "none":
                optional = True
            elif kind in ("string", "concatenated_string", "integer", "true", "false"):
                if src.at is not None and kind in ("string", "concatenated_string"):
                    types.append(builtin_instance("str"))
                else:
                    types.append(self._literal_type(src.module, value))
            else:
                typ = self._dotted(src, value)
                types.append(typ if isinstance(typ, InstanceType) else None)
        result = join_all(types)
        return or_none(result) if optional else result

    def _named_annotation(self, src: Source, node: Node, self_class: PyClass | None) -> Type | None:
        origin = self._typing_origin(src, node)
        if origin is not None:
            kind, name = origin
            if name == "Self":
                return InstanceType(self_class) if self_class is not None else None
            if kind == "typing" and name in TYPING_CONCRETE:
                cls = self._concrete_class(TYPING_CONCRETE[name])
                return InstanceType(cls) if cls is not None else None
            if name in ABSTRACT_KINDS or (kind == "abc" and name == "Set"):
                return AbstractType(ABSTRACT_KINDS.get(name, "iterable"))
            return None  # Any, Callable, ...: not a class
        text = src.text(node)
        if text.rsplit(".", 1)[-1] == "Self" and self_class is not None:
            return InstanceType(self_class)
        typ = self._dotted(src, node)
        if isinstance(typ, ClassObjectType):
            return InstanceType(typ.cls)
        if node.type == "identifier":
            return self._alias_annotation(src, text, node, self_class)
        return None

    def _alias_annotation(
        self, src: Source, name: str, node: Node, self_class: PyClass | None
    ) -> Type | None:
        """A type alias: ``Vector = list[float]`` / ``Vector: TypeAlias = ...``."""
        found = self._lookup(src.module, name, src.at or node)
        if found is None:
            return None
        bindings, _owner = found
        if len(bindings) != 1 or bindings[0].kind != "assign" or bindings[0].node is None:
            return None
        binding = bindings[0]
        if binding.annotation is not None and not src.module.text(binding.annotation).endswith(
            "TypeAlias"
        ):
            return None
        if binding.node.type not in ("subscript", "binary_operator", "string", "attribute"):
            return None
        return self.annotation_type(src.module, binding.node, self_class)

    def _concrete_class(self, name: str) -> PyClass | BuiltinClass | None:
        if name in COLLECTION_CLASSES:
            return builtin_type(COLLECTION_CLASSES[name])
        found = spec_class(name)
        if found is not None:
            return found
        module = self.loader.python_module("collections", None, 0)
        typ = self.module_attribute_type(module, name) if module is not None else None
        return typ.cls if isinstance(typ, ClassObjectType) else None

    def _dotted(self, src: Source, node: Node | None) -> Type | None:
        """The type of a dotted name in an annotation (looked up where ``src`` says)."""
        if node is None:
            return None
        if src.at is None:
            return self.expression_type(src.module, node)
        if node.type == "identifier":
            return self.name_type(src.module, src.text(node), src.at)
        if node.type == "attribute":
            obj = self._dotted(src, node.child_by_field_name("object"))
            if obj is None:
                return None
            return self.attribute_type(obj, src.text(node.child_by_field_name("attribute")))
        return None

    def _typing_origin(self, src: Source, node: Node) -> tuple[str, str] | None:
        """("typing"|"abc", name) when ``node`` names something from ``typing`` or
        ``collections.abc`` (``List``, ``t.Optional``, ``abc.Sequence``), else None."""
        if node.type == "identifier":
            found = self._lookup(src.module, src.text(node), src.at or node)
            if found is None or len(found[0]) != 1:
                return None
            binding = found[0][0]
            if binding.kind == "from" and binding.level == 0 and binding.name:
                kind = TYPING_MODULES.get(binding.module or "")
                if kind is not None:
                    return kind, binding.name
            return None
        if node.type == "attribute":
            obj = node.child_by_field_name("object")
            if obj is None or obj.type not in ("identifier", "attribute"):
                return None
            typ = self._dotted(src, obj)
            if isinstance(typ, ModuleType) and isinstance(typ.module, PyModule):
                kind = TYPING_MODULES.get(typ.module.name or "")
                if kind is not None and typ.module.is_stdlib:
                    return kind, src.text(node.child_by_field_name("attribute"))
        return None


def _unwrap_type(node: Node) -> Node:
    while node.type == "type" and node.named_children:
        node = node.named_children[0]
    return node


def _union_operands(src: Source, node: Node) -> list[Node]:
    """The operands of ``A | B | C`` (nested ``|`` flattened)."""
    node = _unwrap_type(node)
    if node.type == "binary_operator" and src.text(node.child_by_field_name("operator")) == "|":
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        found: list[Node] = []
        for side in (left, right):
            if side is not None:
                found.extend(_union_operands(src, side))
        return found
    if node.type == "parenthesized_expression" and len(node.named_children) == 1:
        return _union_operands(src, node.named_children[0])
    return [node]
