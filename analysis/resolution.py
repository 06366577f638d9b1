"""Type resolution of Python receivers and their member sets.

Implements the static side of monitor-guided decoding (Agrawal et al. 2023, "Guiding
Language Models of Code with Global Context using Monitors"): given the expression before a
``.``, which identifiers may follow? The answer is a set of names when the receiver's type
is certain, and None ("open", no constraint) whenever anything is uncertain: unresolved
bases, ``__getattr__``/``__getattribute__``, unknown metaclasses or class decorators, star
imports from unknown modules, modules with ``__getattr__``, unannotated parameters, loop
variables, several conflicting bindings, C-extension modules without source. Never
over-constrain: a name set, when given, contains every attribute the object can have.

Types are small frozen objects: :class:`ModuleType`, :class:`InstanceType`,
:class:`ClassObjectType`, :class:`FunctionType`. Modules come from a :class:`ModuleLoader`
(the workspace index and/or the standard library read from source, never imported).
"""

from __future__ import annotations

import builtins
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import tree_sitter

from analysis.python_symbols import (
    DATACLASS_MEMBERS,
    Binding,
    FunctionScope,
    PyClass,
    PyModule,
    attribute_query,
    captures,
    string_value,
)

Node = tree_sitter.Node

MAX_DEPTH = 24
MAX_STEPS = 4000  # expressions evaluated per top-level resolution

OBJECT_MEMBERS: frozenset[str] = frozenset(dir(object)) | {
    "__dict__",
    "__weakref__",
    "__module__",
    "__annotations__",
    "__slots__",
}
TYPE_MEMBERS: frozenset[str] = frozenset(dir(type)) | {
    "__annotations__",
    "__qualname__",
    "__name__",
    "__module__",
    "__dict__",
    "__doc__",
    "__weakref__",
    "__type_params__",
    "__static_attributes__",
    "__firstlineno__",
    "__orig_bases__",
    "__parameters__",
    "__abstractmethods__",
    "__slots__",
}
MODULE_MEMBERS: frozenset[str] = frozenset(
    {
        "__name__",
        "__doc__",
        "__package__",
        "__loader__",
        "__spec__",
        "__file__",
        "__cached__",
        "__builtins__",
        "__dict__",
        "__path__",
        "__all__",
        "__annotations__",
        "__getattr__",
        "__dir__",
        "__class__",
        "__repr__",
        "__str__",
        "__init__",
        "__new__",
        "__eq__",
        "__hash__",
        "__reduce__",
        "__reduce_ex__",
        "__sizeof__",
        "__subclasshook__",
        "__init_subclass__",
        "__format__",
        "__setattr__",
        "__delattr__",
        "__getattribute__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__getstate__",
        "__warningregistry__",
    }
)
# Metaclasses whose effect we model (by name): what they add to classes and instances.
KNOWN_METACLASSES = frozenset({"type", "ABCMeta", "EnumMeta", "EnumType", "_ProtocolMeta"})
METACLASS_MODULE = {
    "ABCMeta": "abc",
    "EnumMeta": "enum",
    "EnumType": "enum",
    "_ProtocolMeta": "typing",
}
# Attributes implemented in C that these metaclasses put on classes (and so on instances).
METACLASS_INJECTED = {
    "ABCMeta": frozenset({"_abc_impl", "__abstractmethods__"}),
    "_ProtocolMeta": frozenset(
        {
            "_abc_impl",
            "__abstractmethods__",
            "_is_protocol",
            "_is_runtime_protocol",
            "__protocol_attrs__",
            "__non_callable_proto_members__",
        }
    ),
}
# A module attribute that is a platform-chosen module (``import posixpath as path``).
STDLIB_ATTRIBUTE_MODULES = {("os", "path"): os.path.__name__}
# Decorators on functions that keep a function a function (for return annotations).
TRANSPARENT_FUNCTION_DECORATORS = frozenset(
    {
        "staticmethod",
        "classmethod",
        "abstractmethod",
        "override",
        "final",
        "overload",
        "wraps",
        "cache",
        "lru_cache",
    }
)


class ModuleLoader(Protocol):
    """Finds Python modules (parsed, never imported)."""

    def python_module(self, dotted: str, from_path: Path | None, level: int) -> PyModule | None:
        """The module ``dotted`` imported from ``from_path`` with relative ``level``."""
        ...

    def python_submodule(self, package: PyModule, name: str) -> PyModule | None:
        """The submodule ``name`` of a package module, if it exists."""
        ...

    def python_submodule_names(self, package: PyModule) -> frozenset[str]:
        """Names of the submodules/subpackages of a package module."""
        ...


class BuiltinClass:
    """A class from the running interpreter's ``builtins`` (members from ``dir``, C-level)."""

    def __init__(self, name: str, cls: type):
        self.name = name
        self.names: frozenset[str] = frozenset(dir(cls))
        self.mro: list[PyClass | BuiltinClass] = [self]
        for base in cls.__mro__[1:]:
            if base is not object:
                self.mro.append(builtin_class(base.__name__) or self)


_BUILTIN_CLASSES: dict[str, BuiltinClass | None] = {}


def builtin_class(name: str) -> BuiltinClass | None:
    """The builtin class ``name`` (e.g. ``Exception``, ``dict``), or None."""
    if name in _BUILTIN_CLASSES:
        return _BUILTIN_CLASSES[name]
    value = getattr(builtins, name, None)
    result = None
    if isinstance(value, type) and value is not object and value.__module__ == "builtins":
        result = BuiltinClass(name, value)
    _BUILTIN_CLASSES[name] = result
    return result


BUILTIN_TYPE = BuiltinClass("type", type)


@dataclass(frozen=True, eq=False)
class ModuleType:
    module: PyModule


@dataclass(frozen=True, eq=False)
class InstanceType:
    cls: PyClass | BuiltinClass


@dataclass(frozen=True, eq=False)
class ClassObjectType:
    cls: PyClass | BuiltinClass


@dataclass(frozen=True, eq=False)
class FunctionType:
    scope: FunctionScope
    owner: PyClass | None = None  # the class it was looked up on (for ``Self``)


Type = ModuleType | InstanceType | ClassObjectType | FunctionType


def same_type(a: Type | None, b: Type | None) -> bool:
    """Identity of the underlying module/class/function."""
    if a is None or b is None or type(a) is not type(b):
        return False
    if isinstance(a, ModuleType):
        return a.module is b.module
    if isinstance(a, InstanceType | ClassObjectType):
        return a.cls is b.cls
    return a.scope is b.scope


class _Open(Exception):
    """Raised internally when a resolution hits something uncertain."""


def scope_chain(module: PyModule, node: Node) -> list[FunctionScope | PyClass]:
    """Scopes that ``node`` is evaluated in, innermost first (module scope implied last).

    A def/class contributes its scope only when ``node`` is inside its body (decorators,
    bases, defaults and annotations are evaluated in the enclosing scope).
    """
    chain: list[FunctionScope | PyClass] = []
    current = node.parent
    while current is not None:
        if current.type in ("function_definition", "class_definition"):
            body = current.child_by_field_name("body")
            if body is not None and body.start_byte <= node.start_byte <= body.end_byte:
                if current.type == "function_definition":
                    chain.append(module.function_at(current))
                else:
                    chain.append(module.class_at(current))
        current = current.parent
    return chain


class PythonResolver:
    """Resolves Python expressions to types and types to member sets, with caches."""

    def __init__(self, loader: ModuleLoader):
        self.loader = loader
        self._members: dict[tuple[str, object], frozenset[str] | None] = {}
        self._mro: dict[object, list[PyClass | BuiltinClass] | None] = {}
        self._depth = 0
        self._memo: dict[tuple[int, int, int, str], Type | None] = {}
        self._steps = 0

    # -- modules ---------------------------------------------------------------------------

    def import_module(self, module: PyModule, dotted: str, level: int) -> PyModule | None:
        try:
            return self.loader.python_module(dotted, module.path, level)
        except Exception:
            return None

    def star_modules(self, module: PyModule) -> list[PyModule] | None:
        """Modules star-imported by ``module``; None if any is unknown."""
        found = []
        for dotted, level in module.namespace.stars:
            target = self.import_module(module, dotted, level)
            if target is None or target is module:
                return None
            found.append(target)
        return found

    def exported_names(
        self, module: PyModule, seen: frozenset[int] = frozenset()
    ) -> frozenset[str] | None:
        """Names a ``from module import *`` binds; None if unknown."""
        if id(module) in seen or module.dynamic:
            return None
        literal = module.all_names
        if literal is not None:
            return frozenset(literal)
        names = self.namespace_names(module, seen | {id(module)})
        if names is None:
            return None
        return frozenset(n for n in names if not n.startswith("_"))

    def namespace_names(
        self, module: PyModule, seen: frozenset[int] = frozenset()
    ) -> frozenset[str] | None:
        """All names bound at module level (incl. star imports); None if unknown."""
        if module.dynamic:
            return None
        names = set(module.namespace.names)
        for dotted, level in module.namespace.stars:
            target = self.import_module(module, dotted, level)
            if target is None:
                return None
            exported = self.exported_names(target, seen | {id(module)})
            if exported is None:
                return None
            names |= exported
        return frozenset(names)

    # -- member sets -----------------------------------------------------------------------

    def members(self, typ: Type | None) -> frozenset[str] | None:
        """The attribute names an object of type ``typ`` certainly may have; None if open."""
        if typ is None or isinstance(typ, FunctionType):
            return None
        try:
            if isinstance(typ, ModuleType):
                return self._module_members(typ.module)
            if isinstance(typ, InstanceType):
                return self._class_members(typ.cls, instance=True)
            return self._class_members(typ.cls, instance=False)
        except (_Open, RecursionError):
            return None

    def _module_members(self, module: PyModule) -> frozenset[str] | None:
        key = ("module", module)
        if key in self._members:
            return self._members[key]
        self._members[key] = None  # cycle guard
        names = self.namespace_names(module)
        result = None
        if names is not None:
            result = frozenset(names | MODULE_MEMBERS | self.loader.python_submodule_names(module))
            for mod_name, attr in STDLIB_ATTRIBUTE_MODULES:
                if module.is_stdlib and module.name == mod_name:
                    result |= {attr}
        self._members[key] = result
        return result

    def mro(self, cls: PyClass | BuiltinClass) -> list[PyClass | BuiltinClass] | None:
        """C3 linearisation of ``cls`` over bases resolved with certainty (object implied)."""
        if isinstance(cls, BuiltinClass):
            return cls.mro
        key = cls
        if key in self._mro:
            return self._mro[key]
        self._mro[key] = None  # cycle guard
        linearisations: list[list[PyClass]] = []
        direct: list[PyClass] = []
        result: list[PyClass] | None = None
        try:
            for base in cls.bases:
                node = base
                if node.type == "subscript":
                    node = node.child_by_field_name("value") or node
                if node.type == "identifier" and cls.module.text(node) in ("object", "type"):
                    if cls.module.text(node) == "type":
                        direct.append(BUILTIN_TYPE)
                        linearisations.append([BUILTIN_TYPE])
                    continue
                typ = self.expression_type(cls.module, node)
                if not isinstance(typ, ClassObjectType):
                    raise _Open
                base_mro = self.mro(typ.cls)
                if base_mro is None:
                    raise _Open
                direct.append(typ.cls)
                linearisations.append(list(base_mro))
            result = [cls] + _c3_merge(linearisations + [direct])
        except (_Open, RecursionError):
            result = None
        self._mro[key] = result
        return result

    def _metaclass(self, cls: PyClass) -> tuple[bool, str | None]:
        """(known, name) for the class's explicit metaclass (inherited ones come via bases)."""
        if cls.metaclass is None:
            return True, None
        name = cls.module.text(cls.metaclass).rsplit(".", 1)[-1]
        return name in KNOWN_METACLASSES, name

    def _class_members(self, cls: PyClass, instance: bool) -> frozenset[str] | None:
        key = ("instance" if instance else "class", cls)
        if key in self._members:
            return self._members[key]
        self._members[key] = None
        mro = self.mro(cls)
        result: frozenset[str] | None = None
        if mro is not None:
            names: set[str] = set(OBJECT_MEMBERS if instance else TYPE_MEMBERS)
            try:
                for klass in mro:
                    names |= self._own_members(klass, instance)
                result = frozenset(names)
            except _Open:
                result = None
        self._members[key] = result
        return result

    def _own_members(self, cls: PyClass | BuiltinClass, instance: bool) -> set[str]:
        """Names one class contributes (raises _Open when it makes the set uncertain)."""
        if isinstance(cls, BuiltinClass):
            return set(cls.names)
        if cls.unknown_decorators or cls.dynamic_attributes or cls.has_class_keywords:
            raise _Open
        known, meta = self._metaclass(cls)
        if not known:
            raise _Open
        slots = cls.slots
        if slots is None:
            raise _Open
        names = set(cls.body.names) | slots | cls.error_names
        names |= _external_class_attributes(cls.module, cls.name)
        for dotted, level in cls.body.stars:
            target = self.import_module(cls.module, dotted, level)
            exported = self.exported_names(target) if target is not None else None
            if exported is None:
                raise _Open
            names |= exported
        for attribute, assignments in cls.first_parameter_attributes.items():
            if instance or any(scope.first_parameter_role == "class" for _, scope in assignments):
                names.add(attribute)
        if cls.is_dataclass:
            names |= DATACLASS_MEMBERS
        if any(base.type == "subscript" for base in cls.bases):
            names |= {"__orig_bases__", "__parameters__"}
        if meta is not None and meta != "type":
            names |= self._metaclass_names(meta, instance)
        if cls.module.is_stdlib and cls.module.name == "enum" and cls.name in ("Enum", "Flag"):
            names |= self._metaclass_names("EnumType", instance)
        return names | _mangled(cls.name, names)

    def _metaclass_names(self, meta: str, instance: bool) -> set[str]:
        names = set(METACLASS_INJECTED.get(meta, ()))
        module_name = METACLASS_MODULE.get(meta)
        if module_name is None:
            return names
        module = self.loader.python_module(module_name, None, 0)
        if module is None:
            raise _Open
        if module_name == "enum":
            names |= _assigned_attribute_names(module)
        if not instance:
            for binding in module.namespace.names.get(meta, []):
                if binding.kind == "class" and binding.node is not None:
                    # A known metaclass: its own ``__getattr__`` (EnumType's) only serves
                    # names that are already in the class body, so take its names as is.
                    meta_mro = self.mro(module.class_at(binding.node))
                    if meta_mro is None:
                        raise _Open
                    for klass in meta_mro:
                        if isinstance(klass, BuiltinClass):
                            names |= klass.names
                        else:
                            names |= set(klass.body.names) | set(klass.first_parameter_attributes)
        return names

    # -- types of expressions ----------------------------------------------------------------

    def expression_type(self, module: PyModule, node: Node | None) -> Type | None:
        """The certain type of an expression node, or None.

        Within one top-level resolution every expression is evaluated once
        (memoised; a cycle reads as unknown) and at most MAX_STEPS expressions are
        evaluated, so names with several bindings cannot blow up exponentially.
        """
        if node is None or self._depth > MAX_DEPTH:
            return None
        if self._depth == 0:
            self._memo, self._steps = {}, 0
        key = (id(module), node.start_byte, node.end_byte, node.type)
        if key in self._memo:
            return self._memo[key]
        self._steps += 1
        if self._steps > MAX_STEPS:
            return None
        self._memo[key] = None  # in progress: a cyclic definition is unknown
        self._depth += 1
        try:
            result = self._expression_type(module, node)
        except (_Open, RecursionError):
            result = None
        finally:
            self._depth -= 1
        self._memo[key] = result
        return result

    def _expression_type(self, module: PyModule, node: Node) -> Type | None:
        kind = node.type
        if kind == "identifier":
            return self.name_type(module, module.text(node), node)
        if kind == "attribute":
            obj = self.expression_type(module, node.child_by_field_name("object"))
            attr = node.child_by_field_name("attribute")
            if obj is None or attr is None:
                return None
            return self.attribute_type(obj, module.text(attr))
        if kind == "call":
            callee = self.expression_type(module, node.child_by_field_name("function"))
            return self.call_type(callee)
        if kind == "parenthesized_expression" and len(node.named_children) == 1:
            return self.expression_type(module, node.named_children[0])
        return None

    def call_type(self, callee: Type | None) -> Type | None:
        """The type of calling an object of type ``callee``."""
        if isinstance(callee, ClassObjectType):
            mro = self.mro(callee.cls)
            if mro is None:
                return None
            if isinstance(callee.cls, BuiltinClass):
                return InstanceType(callee.cls)
            for klass in mro:
                if isinstance(klass, BuiltinClass):
                    continue
                if "__new__" in klass.body.names:
                    return None
                known, meta = self._metaclass(klass)
                if not known or meta in ("EnumMeta", "EnumType"):
                    return None
            return InstanceType(callee.cls)
        if isinstance(callee, FunctionType):
            scope = callee.scope
            if any(name not in TRANSPARENT_FUNCTION_DECORATORS for name in scope.decorator_names):
                return None
            if scope.return_annotation is None:
                return None
            self_class = callee.owner
            if self_class is None and scope.class_node is not None:
                self_class = scope.module.class_at(scope.class_node)
            return self.annotation_type(scope.module, scope.return_annotation, self_class)
        return None

    def annotation_type(
        self, module: PyModule, node: Node | None, self_class: PyClass | None = None
    ) -> Type | None:
        """The instance type an annotation declares (``Optional[T]``/``T | None`` -> T)."""
        if node is None or self._depth > MAX_DEPTH:
            return None
        self._depth += 1
        try:
            return self._annotation_type(module, node, self_class)
        except (_Open, RecursionError):
            return None
        finally:
            self._depth -= 1

    def _annotation_type(
        self, module: PyModule, node: Node, self_class: PyClass | None
    ) -> Type | None:
        kind = node.type
        if kind == "type" and node.named_children:
            return self.annotation_type(module, node.named_children[0], self_class)
        if kind == "string":
            text = string_value(module, node)
            if text is None:
                return None
            return self._string_annotation(module, node, text.strip(), self_class)
        if kind == "binary_operator":  # T | None
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            operator = node.child_by_field_name("operator")
            if operator is None or module.text(operator) != "|":
                return None
            if right is not None and module.text(right) == "None":
                return self.annotation_type(module, left, self_class)
            if left is not None and module.text(left) == "None":
                return self.annotation_type(module, right, self_class)
            return None
        if kind in ("subscript", "generic_type"):
            if kind == "subscript":
                value = node.child_by_field_name("value")
                args = node.children_by_field_name("subscript")
            else:
                value = node.named_children[0] if node.named_children else None
                args = []
                for child in node.named_children[1:]:
                    args.extend(child.named_children if child.type == "type_parameter" else [child])
            head = module.text(value).rsplit(".", 1)[-1] if value is not None else ""
            if head == "Optional" and len(args) == 1:
                return self.annotation_type(module, args[0], self_class)
            if head == "Union":
                rest = [a for a in args if module.text(a) != "None"]
                if len(rest) == 1:
                    return self.annotation_type(module, rest[0], self_class)
                return None
            if head in ("type", "Type") and len(args) == 1:
                inner = self.annotation_type(module, args[0], self_class)
                return ClassObjectType(inner.cls) if isinstance(inner, InstanceType) else None
            if head in ("Annotated", "Final", "ClassVar") and args:
                return self.annotation_type(module, args[0], self_class)
            typ = self.expression_type(module, value)
            return InstanceType(typ.cls) if isinstance(typ, ClassObjectType) else None
        if kind in ("identifier", "attribute"):
            text = module.text(node)
            if text.rsplit(".", 1)[-1] == "Self" and self_class is not None:
                return InstanceType(self_class)
            typ = self.expression_type(module, node)
            if isinstance(typ, ClassObjectType):
                return InstanceType(typ.cls)
            return None
        return None

    def _string_annotation(
        self, module: PyModule, node: Node, text: str, self_class: PyClass | None
    ) -> Type | None:
        """A forward reference ``"Foo"`` / ``"pkg.Foo"`` / ``"Optional[Foo]"``."""
        if text.startswith("Optional[") and text.endswith("]"):
            text = text[len("Optional[") : -1].strip()
        for suffix in ("| None", "|None"):
            if text.endswith(suffix):
                text = text[: -len(suffix)].strip()
        parts = text.split(".")
        if not parts or not all(p.isidentifier() for p in parts):
            return None
        if parts == ["Self"] and self_class is not None:
            return InstanceType(self_class)
        typ = self.name_type(module, parts[0], node)
        for part in parts[1:]:
            if typ is None:
                return None
            typ = self.attribute_type(typ, part)
        return InstanceType(typ.cls) if isinstance(typ, ClassObjectType) else None

    # -- names ---------------------------------------------------------------------------------

    def name_type(self, module: PyModule, name: str, at: Node) -> Type | None:
        """The certain type of ``name`` as seen from node ``at`` in ``module``."""
        chain = scope_chain(module, at)
        for index, scope in enumerate(chain):
            if isinstance(scope, PyClass):
                if index > 0:
                    continue  # class scopes are not visible from nested functions
                bindings = scope.body
                if name in bindings.names:
                    return self.bindings_type(module, bindings.names[name], owner=scope)
                continue
            bindings = scope.bindings
            if name in bindings.globals:
                break
            if name in bindings.nonlocals:
                continue
            if name in bindings.names:
                return self._function_name_type(scope, name, bindings.names[name])
        return self.module_attribute_type(module, name, builtins=True)

    def _function_name_type(
        self, scope: FunctionScope, name: str, bindings: list[Binding]
    ) -> Type | None:
        role = scope.first_parameter_role
        if role is not None and scope.first_parameter == name:
            if len(bindings) != 1 or scope.class_node is None:
                return None  # the receiver parameter is rebound
            cls = scope.module.class_at(scope.class_node)
            return InstanceType(cls) if role == "instance" else ClassObjectType(cls)
        return self.bindings_type(scope.module, bindings)

    def bindings_type(
        self, module: PyModule, bindings: list[Binding], owner: PyClass | None = None
    ) -> Type | None:
        """The single certain type of a name with these bindings, else None."""
        bindings = [b for b in bindings if not _is_property_accessor(module, b)]
        # ``x = None`` placeholders next to real bindings do not make the type uncertain
        # (attribute access on None fails anyway).
        real = [
            b
            for b in bindings
            if not (
                b.kind == "assign"
                and b.annotation is None
                and b.node is not None
                and b.node.type == "none"
            )
        ]
        if real:
            bindings = real
        if not bindings or any(b.kind == "other" for b in bindings):
            return None
        declared = [b for b in bindings if b.annotation is not None]
        first: Type | None = None
        for i, b in enumerate(declared or bindings):  # stop at the first disagreement
            typ = (
                self.annotation_type(module, b.annotation, owner)
                if declared
                else self.binding_type(module, b, owner)
            )
            if typ is None or (i > 0 and not same_type(first, typ)):
                return None
            first = typ if i == 0 else first
        return first

    def binding_type(
        self, module: PyModule, binding: Binding, owner: PyClass | None = None
    ) -> Type | None:
        kind = binding.kind
        if kind == "def" and binding.node is not None:
            return FunctionType(module.function_at(binding.node), owner)
        if kind == "class" and binding.node is not None:
            return ClassObjectType(module.class_at(binding.node, binding.decorators))
        if kind == "import" and binding.module:
            target = self.import_module(module, binding.module, 0)
            return ModuleType(target) if target is not None else None
        if kind == "from" and binding.name:
            source = self.import_module(module, binding.module or "", binding.level)
            if source is None:
                return None
            if source is module:
                return None
            return self.module_attribute_type(source, binding.name)
        if kind == "assign":
            return self.expression_type(module, binding.node)
        return None

    def module_attribute_type(
        self, module: PyModule, name: str, builtins: bool = False
    ) -> Type | None:
        """The certain type of ``module.name`` (of a global ``name`` when ``builtins``)."""
        if module.is_stdlib and (module.name, name) in STDLIB_ATTRIBUTE_MODULES:
            target = self.loader.python_module(
                STDLIB_ATTRIBUTE_MODULES[(module.name, name)], None, 0
            )
            return ModuleType(target) if target is not None else None
        bindings = module.namespace.names.get(name)
        if module.dynamic:
            return None
        if bindings and module.namespace.stars:
            # a star import may rebind the name: certain only if no star module exports it
            for dotted, level in module.namespace.stars:
                target = self.import_module(module, dotted, level)
                exported = self.exported_names(target) if target is not None else None
                if exported is None or name in exported:
                    return None
        if bindings:
            return self.bindings_type(module, bindings)
        builtin = builtin_class(name) if builtins else None
        for dotted, level in module.namespace.stars:
            target = self.import_module(module, dotted, level)
            if target is None:
                return None
            exported = self.exported_names(target)
            if exported is None:
                return None
            if name in exported:
                return self.module_attribute_type(target, name)
        if module.is_package:
            sub = self.loader.python_submodule(module, name)
            if sub is not None:
                return ModuleType(sub)
        if builtin is not None and not module.namespace.stars:
            return ClassObjectType(builtin)
        return None

    def attribute_type(self, typ: Type, name: str) -> Type | None:
        """The certain type of ``obj.name`` for ``obj`` of type ``typ``."""
        if isinstance(typ, ModuleType):
            return self.module_attribute_type(typ.module, name)
        if isinstance(typ, InstanceType | ClassObjectType):
            instance = isinstance(typ, InstanceType)
            members = self.members(typ)
            if members is None or name not in members:
                return None
            mro = self.mro(typ.cls) or []
            bindings: list[Binding] = []
            owner_module: PyModule | None = None
            for klass in mro:
                if isinstance(klass, BuiltinClass):
                    if name in klass.names:
                        return None
                    continue
                found = klass.body.names.get(name)
                if found:
                    bindings = list(found)
                    owner_module = klass.module
                    if any(b.kind == "def" for b in found):
                        function = next(b for b in found if b.kind == "def")
                        scope = klass.module.function_at(function.node)
                        if (
                            "property" in scope.decorator_names
                            or "cached_property" in scope.decorator_names
                        ):
                            if not instance or scope.return_annotation is None:
                                return None
                            return self.annotation_type(
                                scope.module, scope.return_annotation, typ.cls
                            )
                        if len(found) == 1 or all(
                            _is_property_accessor(klass.module, b) for b in found[1:]
                        ):
                            return FunctionType(scope, typ.cls)
                        return None
                    if (
                        not instance
                        and self._is_enum(typ.cls)
                        and all(b.kind == "assign" for b in found)
                    ):
                        return InstanceType(typ.cls)  # an Enum member
                    break
            if instance:
                for klass in mro:
                    if isinstance(klass, BuiltinClass):
                        continue
                    for binding, _scope in klass.first_parameter_attributes.get(name, []):
                        if owner_module is None:
                            owner_module = klass.module
                        if klass.module is not owner_module:
                            return None
                        bindings.append(binding)
            if not bindings or owner_module is None:
                return None
            return self.bindings_type(owner_module, bindings, owner=typ.cls)
        return None

    def _is_enum(self, cls: PyClass) -> bool:
        for klass in self.mro(cls) or []:
            if (
                isinstance(klass, PyClass)
                and klass.module.is_stdlib
                and klass.module.name == "enum"
            ):
                if klass.name in ("Enum", "Flag", "IntEnum", "StrEnum", "IntFlag", "ReprEnum"):
                    return True
        return False


def _is_property_accessor(module: PyModule, binding: Binding) -> bool:
    """True for ``@x.setter``/``@x.deleter``/``@overload`` defs (they do not rebind a type)."""
    if binding.kind != "def" or not binding.decorators:
        return False
    for decorator in binding.decorators:
        text = module.text(decorator).lstrip("@").strip()
        if text.endswith((".setter", ".deleter")) or text.rsplit(".", 1)[-1] == "overload":
            return True
    return False


def _mangled(class_name: str, names: set[str]) -> set[str]:
    """Private names as Python mangles them (``__x`` in class C is ``_C__x``)."""
    stripped = class_name.lstrip("_")
    if not stripped:
        return set()
    return {
        f"_{stripped}{name}" for name in names if name.startswith("__") and not name.endswith("__")
    }


def _external_class_attributes(module: PyModule, class_name: str) -> set[str]:
    """Attributes assigned on a class from outside it: ``ClassName.attr = ...`` anywhere.

    A textual scan (over-approximates: any scope, even inside strings), cached per module.
    """
    cache = module.__dict__.setdefault("_external_class_attributes", {})
    found = cache.get(class_name)
    if found is None:
        name = class_name.encode()
        pattern = (
            re.escape(name)
            + rb"[ \t]*\.[ \t]*([A-Za-z_]\w*)[ \t]*(?:=(?!=)|[-+*/|&^%@]=|//=|\*\*=|>>=|<<=)"
        )
        found = set()
        data = module.data
        if name + b"." in data or re.search(re.escape(name) + rb"[ \t]+\.", data):
            for match in re.finditer(pattern, data):
                before = data[match.start() - 1 : match.start()]
                if before and (before.isalnum() or before in b"_."):
                    continue
                found.add(match.group(1).decode("utf-8", "replace"))
        cache[class_name] = found
    return found


def _assigned_attribute_names(module: PyModule) -> set[str]:
    """Every ``<expr>.name`` that is an assignment target anywhere in ``module``."""
    cached = getattr(module, "_assigned_attribute_names", None)
    if cached is not None:
        return cached
    names: set[str] = set()
    for attribute in captures(attribute_query(), module.root).get("attribute", []):
        parent = attribute.parent
        if parent is not None and parent.type in ("assignment", "augmented_assignment"):
            if parent.child_by_field_name("left") == attribute:
                attr = attribute.child_by_field_name("attribute")
                if attr is not None:
                    names.add(module.text(attr))
    module._assigned_attribute_names = names  # type: ignore[attr-defined]
    return names


def _c3_merge(sequences: list[list[PyClass]]) -> list[PyClass]:
    """C3 merge (Python's MRO algorithm); raises _Open on an inconsistent hierarchy."""
    sequences = [list(s) for s in sequences if s]
    result: list[PyClass] = []
    while sequences:
        for sequence in sequences:
            head = sequence[0]
            if not any(head in s[1:] for s in sequences):
                break
        else:
            raise _Open
        result.append(head)
        for sequence in sequences:
            if sequence and sequence[0] is head:
                del sequence[0]
        sequences = [s for s in sequences if s]
    return result
