"""The types Python receivers resolve to, how they combine, and fixed tables of names.

Part of the static analysis behind monitor-guided decoding (Agrawal et al. 2023, "Guiding
Language Models of Code with Global Context using Monitors"): :mod:`analysis.resolution`
computes these types from the facts of :mod:`analysis.python_symbols` and answers with
their member sets. A type is a small frozen object compared by identity of what it names
(:func:`join` is the one type covering two, or None); the tables list the names Python
gives every object, class and module, and the ``typing``/``collections.abc`` names
annotations use.
"""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from analysis.builtin_types import (
    NAMEDTUPLE_NAMES,
    BuiltinClass,
    CModule,
    builtin_type,
    spec_class,
)
from analysis.python_symbols import DATACLASS_MEMBERS, FunctionScope, PyClass, PyModule

MAX_DEPTH = 24  # nesting of one resolution (expressions, annotations, elements)


class Uncertain(Exception):
    """Raised inside a resolution that hits something uncertain (the answer is None)."""


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


ATTRS_DECORATORS = frozenset({"s", "attrs", "define", "frozen", "mutable", "dataclass"})
# What attrs class decorators may add (a superset over attrs versions).
ATTRS_MEMBERS = DATACLASS_MEMBERS | {
    "__attrs_attrs__",
    "__attrs_own_setattr__",
    "__attrs_init__",
    "__attrs_pre_init__",
    "__attrs_post_init__",
    "__attrs_props__",
    "__attrs_resolve_types__",
    "__ne__",
}
# Modules whose names annotations use: "typing" spellings or the "abc" collection ABCs.
TYPING_MODULES = {
    "typing": "typing",
    "typing_extensions": "typing",
    "collections.abc": "abc",
    "_collections_abc": "abc",
}
# typing names for concrete classes (``List[int]`` is a ``list``).
TYPING_CONCRETE = {
    "List": "list",
    "Dict": "dict",
    "Set": "set",
    "FrozenSet": "frozenset",
    "Tuple": "tuple",
    "Text": "str",
    "LiteralString": "str",
    "Deque": "deque",
    "DefaultDict": "defaultdict",
    "Counter": "Counter",
    "ChainMap": "ChainMap",
}
# Abstract collection annotations: members open, elements known (see the module docstring).
ABSTRACT_KINDS = {
    "Iterable": "iterable",
    "Collection": "iterable",
    "Reversible": "iterable",
    "AbstractSet": "iterable",
    "MutableSet": "iterable",
    "KeysView": "iterable",
    "ValuesView": "iterable",
    "Iterator": "iterator",
    "Generator": "iterator",
    "Sequence": "sequence",
    "MutableSequence": "sequence",
    "Mapping": "mapping",
    "MutableMapping": "mapping",
    "ItemsView": "items",
}
# Methods every object of an abstract collection kind has, with their results.
ABSTRACT_METHODS = {
    "mapping": {
        "keys": "iter[K]",
        "values": "iter[V]",
        "items": "iter[tuple[K,V]]",
        "get": "?V@1",
        "__getitem__": "V",
        "__len__": "int",
    },
    "sequence": {"index": "int", "count": "int", "__getitem__": "T", "__len__": "int"},
    "iterator": {"__next__": "T"},
}
COLLECTION_CLASSES = {
    "deque": collections.deque,
    "defaultdict": collections.defaultdict,
}
NAMEDTUPLE_BASE = BuiltinClass("NamedTuple", NAMEDTUPLE_NAMES, (builtin_type(tuple),))


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


@dataclass(frozen=True, eq=False)
class ModuleType:
    module: PyModule | CModule


@dataclass(frozen=True, eq=False)
class InstanceType:
    """An instance of ``cls``; ``args`` the known type arguments of a builtin generic
    (``list[T]``: one, ``dict[K, V]``: two, a fixed ``tuple``: one per element, None for
    an unknown one; empty when unknown), ``variadic`` for ``tuple[T, ...]``, ``optional``
    when the value may also be None."""

    cls: PyClass | BuiltinClass
    args: tuple[Type | None, ...] = ()
    optional: bool = False
    variadic: bool = False


@dataclass(frozen=True, eq=False)
class ClassObjectType:
    cls: PyClass | BuiltinClass


@dataclass(frozen=True, eq=False)
class FunctionType:
    scope: FunctionScope
    owner: PyClass | BuiltinClass | None = None  # the class it was looked up on (``Self``)


@dataclass(frozen=True, eq=False)
class BuiltinFunctionType:
    """A builtin function (``receiver`` None) or a method bound to a builtin instance or an
    abstract collection; ``spec`` its result (:mod:`analysis.builtin_types`)."""

    name: str
    receiver: InstanceType | AbstractType | None = None
    spec: str | None = None


@dataclass(frozen=True, eq=False)
class AbstractType:
    """An object declared by an abstract collection annotation: members open, elements
    known. ``kind``: "iterable", "iterator", "sequence", "mapping" or "items"."""

    kind: str
    args: tuple[Type | None, ...] = ()


@dataclass(frozen=True, eq=False)
class SuperType:
    """``super()``: class attributes of ``classes`` (the MRO after ``current``)."""

    current: PyClass | BuiltinClass
    classes: tuple[PyClass | BuiltinClass, ...]
    owner: PyClass | BuiltinClass  # the class of the object super() is bound to
    instance: bool


Type = (
    ModuleType
    | InstanceType
    | ClassObjectType
    | FunctionType
    | BuiltinFunctionType
    | AbstractType
    | SuperType
)


def join(a: Type | None, b: Type | None) -> Type | None:
    """The one type covering ``a`` and ``b`` when they are the same class/module/function
    (type arguments that differ become unknown), else None."""
    if a is None or b is None or type(a) is not type(b):
        return None
    if a is b:
        return a
    if isinstance(a, InstanceType):
        if a.cls is not b.cls:
            return None
        args: tuple[Type | None, ...] = ()
        if len(a.args) == len(b.args) and a.variadic == b.variadic:
            args = tuple(join(x, y) for x, y in zip(a.args, b.args, strict=True))
        variadic = a.variadic and b.variadic and bool(args)
        return InstanceType(a.cls, args, a.optional or b.optional, variadic)
    if isinstance(a, ClassObjectType):
        return a if a.cls is b.cls else None
    if isinstance(a, ModuleType):
        return a if a.module is b.module else None
    if isinstance(a, FunctionType):
        if a.scope is not b.scope:
            return None
        return a if a.owner is b.owner else FunctionType(a.scope)
    if isinstance(a, AbstractType):
        if a.kind != b.kind:
            return None
        if len(a.args) != len(b.args):
            return AbstractType(a.kind)
        return AbstractType(a.kind, tuple(join(x, y) for x, y in zip(a.args, b.args, strict=True)))
    return None


def same_type(a: Type | None, b: Type | None) -> bool:
    """True when ``a`` and ``b`` are the same class/module/function."""
    return join(a, b) is not None


def or_none(typ: Type | None) -> Type | None:
    """``typ`` that may also be None: after ``x.`` the code only runs when x is not None, so
    the members are T's plus NoneType's own (see :mod:`analysis.resolution`)."""
    return replace(typ, optional=True) if isinstance(typ, InstanceType) else typ


def builtin_instance(name: str, *args: Type | None, variadic: bool = False) -> InstanceType | None:
    """An instance of the builtin class ``name`` (``str``, ``dict_keys``) with type arguments."""
    cls = spec_class(name)
    return InstanceType(cls, tuple(args), variadic=variadic) if cls is not None else None


def join_all(types: list[Type | None]) -> Type | None:
    """The one type covering all of ``types`` (None if they differ or there are none)."""
    if not types:
        return None
    result = types[0]
    for typ in types[1:]:
        result = join(result, typ)
    return result
