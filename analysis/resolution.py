"""Type resolution of Python receivers and their member sets.

Implements the static side of monitor-guided decoding (Agrawal et al. 2023, "Guiding
Language Models of Code with Global Context using Monitors"): given the expression before a
``.``, which identifiers may follow? The answer is a set of names when the receiver's type
is certain, and None ("open", no constraint) whenever anything is uncertain. Never
over-constrain: a name set, when given, contains every attribute the object can have.

Resolved (the facts come from :mod:`analysis.python_symbols`; modules from a
:class:`ModuleLoader`: the workspace index and/or the standard library, read from source,
never imported; C types and modules from :mod:`analysis.builtin_types`; the types
themselves and the name tables are in :mod:`analysis.python_types`):

- names bound by ``def``/``class``/imports, assignments (also tuple unpacking), annotated
  assignments and parameters, ``for`` and comprehension variables (the element type of
  the iterable), ``with ... as x`` (``__enter__``'s declared or inferred result; the
  ``io`` classes return themselves), ``except T as e`` (a T);
- literals (``"abc"``, ``b""``, ``[]``, ``{}``, sets, tuples, numbers, f-strings,
  comprehensions) and the certain results of builtin methods and functions (``str.split``
  is ``list[str]``, ``dict.items`` gives ``(K, V)`` pairs, ``open(p)`` is a text file);
- annotations: classes, ``list[T]``/``dict[K, V]``/``tuple[...]`` and their ``typing``
  spellings, ``Optional[T]``/``T | None``/``Union`` of one class, ``type[T]``,
  ``Literal``, ``Annotated``/``Final``/``ClassVar``, string (forward) annotations, type
  aliases, ``Self``; ``*args: T`` is a ``tuple[T, ...]``, ``**kw: T`` a ``dict[str, T]``;
- calls: classes (``__new__`` and unknown metaclasses stay open), functions and methods by
  their return annotation, or else by their ``return`` statements when all of them agree
  (``return self`` is the receiver's class), generators (``types.GeneratorType``),
  ``await`` of ``async def`` results, ``super()`` (the class attributes of the classes
  after the current one in the MRO);
- subscripts of typed containers (``xs[0]`` of a ``list[Foo]`` is a ``Foo``);
- dataclass, ``NamedTuple``/``namedtuple()`` and attrs classes, properties (declared or
  inferred getter result), enum members, ``cls`` in classmethods;
- C modules of the interpreter (``sys``, ``math``, ``posix`` behind ``os``, ...).

Open (None): unresolved bases, ``__getattr__``/``__getattribute__``, unknown metaclasses or
class decorators, star imports from unknown modules, modules with a dynamic namespace,
unannotated parameters, names with conflicting bindings, descriptors other than
functions and properties, abstract collection annotations (``Iterable[T]``,
``Sequence[T]``, ``Mapping[K, V]``: the object may be any class with those methods, so
only its *elements* are known), ``Any``, ``Callable``.

Two deliberate readings, shared with type checkers: a declared or inferred class is the
object's class (``p: Foo``, and ``self`` in a method of Foo, are taken as Foo, not a
subclass that could add members), and ``Optional[T]``/``T | None`` receivers mean T: after
``x.`` the code is only valid when x is not None, so the set is T's members plus NoneType's
own (only ``__bool__`` beyond object's) -- the union stays a superset, and the ``x = None``
placeholder beside real bindings is read the same way.
"""

from __future__ import annotations

import collections
import re
import sys
import threading
from dataclasses import dataclass, replace

import tree_sitter

from analysis.annotations import AnnotationReader, Source
from analysis.builtin_types import (
    CONSTRUCTOR_RESULTS,
    ELEMENTS,
    FUNCTION_RESULTS,
    ITEMS,
    METHOD_RESULTS,
    NAMEDTUPLE_NAMES,
    NONE_NAMES,
    SUPER_NAMES,
    TYPE_TYPE,
    WINDOWS_ONLY_MODULES,
    BuiltinClass,
    CModule,
    builtin_class,
    builtin_type,
    c_module,
    parse_spec,
    spec_class,
)
from analysis.languages import parser_for
from analysis.python_symbols import (
    DATACLASS_MEMBERS,
    KNOWN_CLASS_DECORATORS,
    STORE_OPERATOR,
    Binding,
    FunctionScope,
    PyClass,
    PyModule,
    attribute_query,
    captures,
    decorator_name,
    string_value,
    target_identifiers,
)
from analysis.python_types import (
    ABSTRACT_METHODS,
    ATTRS_DECORATORS,
    ATTRS_MEMBERS,
    KNOWN_METACLASSES,
    MAX_DEPTH,
    METACLASS_INJECTED,
    METACLASS_MODULE,
    MODULE_MEMBERS,
    NAMEDTUPLE_BASE,
    OBJECT_MEMBERS,
    STDLIB_ATTRIBUTE_MODULES,
    TRANSPARENT_FUNCTION_DECORATORS,
    TYPE_MEMBERS,
    AbstractType,
    BuiltinFunctionType,
    ClassObjectType,
    FunctionType,
    InstanceType,
    ModuleLoader,
    ModuleType,
    SuperType,
    Type,
    Uncertain,
    builtin_instance,
    join,
    join_all,
    or_none,
    same_type,
)

Node = tree_sitter.Node
_COMPREHENSIONS = frozenset(
    {"list_comprehension", "set_comprehension", "dictionary_comprehension", "generator_expression"}
)
_SEQUENCE_PATTERNS = frozenset(
    {"pattern_list", "tuple_pattern", "list_pattern", "tuple", "list", "expression_list"}
)

__all__ = [
    "AbstractType",
    "BuiltinClass",
    "BuiltinFunctionType",
    "ClassObjectType",
    "FunctionType",
    "InstanceType",
    "ModuleLoader",
    "ModuleType",
    "PythonResolver",
    "SuperType",
    "builtin_class",
    "join",
    "same_type",
    "scope_chain",
]


MAX_STEPS = 4000  # expressions evaluated per top-level resolution


def _within(node: Node, outer: Node) -> bool:
    return outer.start_byte <= node.start_byte and node.end_byte <= outer.end_byte


def _same_node(a: Node, b: Node) -> bool:
    return a.start_byte == b.start_byte and a.end_byte == b.end_byte and a.type == b.type


_Open = Uncertain  # raised internally when a resolution hits something uncertain


@dataclass
class _Arguments:
    """The arguments of one call: positional and keyword nodes (``splat``: ``*``/``**``)."""

    module: PyModule
    positional: list[Node]
    keywords: dict[str, Node]
    splat: bool

    @classmethod
    def of(cls, module: PyModule, node: Node | None) -> _Arguments | None:
        if node is None:
            return None
        if node.type == "generator_expression":
            return cls(module, [node], {}, False)
        positional: list[Node] = []
        keywords: dict[str, Node] = {}
        splat = False
        for child in node.named_children:
            if child.type == "keyword_argument":
                name = child.child_by_field_name("name")
                value = child.child_by_field_name("value")
                if name is not None and value is not None:
                    keywords[module.text(name)] = value
            elif child.type in ("list_splat", "dictionary_splat"):
                splat = True
            elif child.type != "comment":
                positional.append(child)
        return cls(module, positional, keywords, splat)


class ReceiverModule(PyModule):
    """A receiver expression parsed on its own (:meth:`PythonResolver.expression_members`).

    The names it does not bind itself (comprehension variables and lambda parameters
    inside it do) are looked up at node ``at`` of the module ``outer``, where the
    receiver is written.
    """

    def __init__(self, data: bytes, tree: tree_sitter.Tree, outer: PyModule, at: Node):
        super().__init__(data, tree, outer.path, outer.name, outer.is_package, outer.is_stdlib)
        self.outer = outer
        self.at = at


_RECEIVER_TREES: collections.OrderedDict[str, tuple[bytes, tree_sitter.Tree, Node] | None] = (
    collections.OrderedDict()
)
_RECEIVER_LOCK = threading.Lock()


def _receiver_tree(text: str) -> tuple[bytes, tree_sitter.Tree, Node] | None:
    """``text`` parsed as one expression without errors: (bytes, tree, node), else None
    (cached)."""
    with _RECEIVER_LOCK:
        if text in _RECEIVER_TREES:
            return _RECEIVER_TREES[text]
    data = text.encode("utf-8")
    tree = parser_for("python").parse(data)
    root = tree.root_node
    statements = root.named_children
    result = None
    if (
        not root.has_error
        and len(statements) == 1
        and statements[0].type == "expression_statement"
        and len(statements[0].named_children) == 1
    ):
        node = statements[0].named_children[0]
        if node.start_byte == 0 and node.end_byte == len(data):
            result = (data, tree, node)
    with _RECEIVER_LOCK:
        _RECEIVER_TREES[text] = result
        if len(_RECEIVER_TREES) > 2048:
            _RECEIVER_TREES.popitem(last=False)
    return result


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


class PythonResolver(AnnotationReader):
    """Resolves Python expressions to types and types to member sets, with caches.

    The entry points: :meth:`name_type`, :meth:`attribute_type`, :meth:`call_type` and
    :meth:`members` (a receiver read as a chain of names and calls), and
    :meth:`receiver_members`/:meth:`expression_type` (a receiver given as a tree node:
    literals, subscripts, ``super()``, comprehension variables, ... as well).
    """

    def __init__(self, loader: ModuleLoader):
        self.loader = loader
        self._members: dict[tuple[str, object], frozenset[str] | None] = {}
        self._mro: dict[object, list[PyClass | BuiltinClass] | None] = {}
        self._depth = 0
        self._memo: dict[tuple[int, int, int, str], Type | None] = {}
        self._steps = 0
        self._returns: dict[tuple[int, int], Type | None] = {}
        self._attribute_stack: set[tuple[int, str]] = set()
        # The document being edited: attributes it stores on any object (``obj.x = ...``)
        # may be on instances of any class. Set by the entry points.
        self.home: PyModule | None = None

    # -- entry points for a receiver node ---------------------------------------------------

    def receiver_members(self, module: PyModule, node: Node) -> frozenset[str] | None:
        """The members after ``node.`` where ``node`` is the receiver expression."""
        self.home = module
        return self.members(self.expression_type(module, node))

    def chain_members(
        self, module: PyModule, at: Node, parts: tuple[tuple[str, int], ...]
    ) -> frozenset[str] | None:
        """The members after a receiver chain ``a.b().c`` (``((name, calls), ...)``) read at
        node ``at``; like resolving its parts one by one, with ``super()`` as the head."""
        return self.members(self.chain_type(module, at, parts))

    def chain_declared(
        self, module: PyModule, at: Node, parts: tuple[tuple[str, int], ...]
    ) -> frozenset[str] | None:
        """:meth:`declared_members` of the receiver chain's type (see :meth:`chain_members`)."""
        return self.declared_members(self.chain_type(module, at, parts))

    def chain_type(
        self, module: PyModule, at: Node, parts: tuple[tuple[str, int], ...]
    ) -> Type | None:
        """The type of a receiver chain ``a.b().c`` read at node ``at`` (None: unknown)."""
        if not parts:
            return None
        head, calls = parts[0]
        if head == "super" and calls == 1 and self._is_builtin_name(module, "super", at):
            typ: Type | None = self._super_type(module, at, None)
            calls = 0
        elif head.startswith('"'):  # a literal: an instance of the builtin class itself
            self.home = module
            typ = builtin_instance(head[1:])
        else:
            typ = self.name_type(module, head, at)
        for index, (name, call_count) in enumerate(parts):
            if index > 0:
                if typ is None:
                    return None
                if name.startswith("["):
                    typ = self._chain_item_type(typ, name)
                else:
                    typ = self.attribute_type(typ, name)
            else:
                call_count = calls
            for _ in range(call_count):
                typ = self.call_type(typ)
        return typ

    def expression_members(self, module: PyModule, at: Node, text: str) -> frozenset[str] | None:
        """The members after ``text.``, a receiver expression written at node ``at`` of
        ``module`` (its names looked up there): what :meth:`receiver_members` gives for the
        same expression in the tree, for receivers the code only holds as text (calls with
        arguments: ``sorted(xs)[0]``, ``d.get(k)``, ``open(p, "rb")``)."""
        parsed = _receiver_tree(text)
        if parsed is None:
            return None
        data, tree, node = parsed
        self.home = module
        return self.members(self.expression_type(ReceiverModule(data, tree, module, at), node))

    def _chain_item_type(self, typ: Type, part: str) -> Type | None:
        """``obj[...]`` for a chain part ``[N]`` (integer literal), ``[:]`` (a slice) or
        ``[?]`` (another single index), as :func:`analysis.context.read_receiver` spells it."""
        inside = part[1:-1]
        if inside == ":":
            return self._item_type(typ, True, None)
        position = int(inside) if inside.lstrip("-").isdigit() else None
        return self._item_type(typ, False, position)

    # -- modules ---------------------------------------------------------------------------

    def import_module(self, module: PyModule, dotted: str, level: int) -> PyModule | CModule | None:
        try:
            found = self.loader.python_module(dotted, module.path, level)
        except Exception:
            found = None
        if found is None and level == 0 and dotted:
            return c_module(dotted)
        return found

    def _star_targets(self, module: PyModule) -> list[PyModule | CModule | None]:
        """The modules ``module`` star-imports (None for an unknown one), leaving out
        Windows-only modules imported by the standard library elsewhere."""
        found: list[PyModule | CModule | None] = []
        for dotted, level in module.namespace.stars:
            target = self.import_module(module, dotted, level)
            if target is None and _absent_platform_module(module, dotted, level):
                continue
            found.append(target)
        return found

    def star_modules(self, module: PyModule) -> list[PyModule | CModule] | None:
        """Modules star-imported by ``module``; None if any is unknown."""
        found = []
        for target in self._star_targets(module):
            if target is None or target is module:
                return None
            found.append(target)
        return found

    def exported_names(
        self, module: PyModule | CModule, seen: frozenset[int] = frozenset()
    ) -> frozenset[str] | None:
        """Names a ``from module import *`` binds; None if unknown."""
        if isinstance(module, CModule):
            return module.exported if module.complete else None
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
        self, module: PyModule | CModule, seen: frozenset[int] = frozenset()
    ) -> frozenset[str] | None:
        """All names bound at module level (incl. star imports); None if unknown."""
        if isinstance(module, CModule):
            return module.names if module.complete else None
        if module.dynamic:
            return None
        names = set(module.namespace.names) | (module.getattr_names or frozenset())
        for target in self._star_targets(module):
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
        if typ is None:
            return None
        try:
            if isinstance(typ, ModuleType):
                if isinstance(typ.module, CModule):
                    return typ.module.names | MODULE_MEMBERS if typ.module.complete else None
                return self._module_members(typ.module)
            if isinstance(typ, InstanceType):
                names = self._class_members(typ.cls, instance=True)
                if names is not None and typ.optional:
                    names = names | NONE_NAMES
                if names is not None and self.home is not None and _takes_attributes(typ.cls):
                    names = names | _stored_attribute_names(self.home)
                return names
            if isinstance(typ, ClassObjectType):
                return self._class_members(typ.cls, instance=False)
            if isinstance(typ, SuperType):
                return self._super_members(typ)
        except (_Open, RecursionError):
            return None
        return None  # functions (they take attributes), abstract collections

    def declared_members(self, typ: Type | None) -> frozenset[str] | None:
        """The names an object of type ``typ`` certainly has, for a class whose full member
        set is open although every ancestor is in sight (``__getattr__``, ``setattr``, an
        unknown decorator or metaclass): what the class and its ancestors declare. Names
        beyond these come only from such dynamic means, rarely what code spells on the
        object; a base out of sight (a third-party class) is different -- its names are
        as real as the declared ones, so then nothing is offered. A lower bound, for
        preferring names (never for masking); None when ``typ`` is no instance or class
        object of a class defined in Python source, or an ancestor does not resolve.
        """
        if isinstance(typ, InstanceType):
            instance = True
        elif isinstance(typ, ClassObjectType):
            instance = False
        else:
            return None
        if not isinstance(typ.cls, PyClass):
            return None
        key = ("declared" if instance else "declared class", typ.cls)
        if key in self._members:
            return self._members[key]
        self._members[key] = None  # cycle guard
        result: frozenset[str] | None = None
        try:
            ancestry = self._ancestry(typ.cls)
            if ancestry is not None:
                names = set(OBJECT_MEMBERS if instance else TYPE_MEMBERS)
                for klass in ancestry:
                    names |= self._declared_own(klass, instance)
                result = frozenset(names)
        except RecursionError:
            result = None
        self._members[key] = result
        return result

    def _ancestry(self, cls: PyClass) -> list[PyClass | BuiltinClass] | None:
        """``cls`` and all its ancestors, each once (None when a base does not resolve)."""
        found: list[PyClass | BuiltinClass] = []
        stack: list[PyClass | BuiltinClass] = [cls]
        while stack:
            klass = stack.pop()
            if klass in found:
                continue
            found.append(klass)
            if isinstance(klass, PyClass):
                try:
                    stack.extend(self._base_classes(klass))
                except _Open:
                    return None
        return found

    def _declared_own(self, cls: PyClass | BuiltinClass, instance: bool) -> set[str]:
        """The names one class declares: its body, slots, attributes stored on its first
        parameter in its methods (on instances, or on the class by classmethods)."""
        if isinstance(cls, BuiltinClass):
            return set(cls.names)
        names = set(cls.body_names) | (cls.slots or set())
        for attribute, roles in cls.first_parameter_attribute_roles.items():
            if instance or "class" in roles:
                names.add(attribute)
        if cls.is_dataclass:
            names |= DATACLASS_MEMBERS
        return names | _mangled(cls.name, names)

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

    def _super_members(self, typ: SuperType) -> frozenset[str]:
        names = set(SUPER_NAMES) | OBJECT_MEMBERS
        for klass in typ.classes:
            names |= self._own_members(klass, instance=False)
        return frozenset(names)

    def mro(self, cls: PyClass | BuiltinClass) -> list[PyClass | BuiltinClass] | None:
        """C3 linearisation of ``cls`` over bases resolved with certainty (object implied)."""
        if isinstance(cls, BuiltinClass):
            return cls.mro
        key = cls
        if key in self._mro:
            return self._mro[key]
        self._mro[key] = None  # cycle guard
        linearisations: list[list[PyClass | BuiltinClass]] = []
        direct: list[PyClass | BuiltinClass] = []
        result: list[PyClass | BuiltinClass] | None = None
        try:
            for base_class in self._base_classes(cls):
                base_mro = self.mro(base_class)
                if base_mro is None:
                    raise _Open
                direct.append(base_class)
                linearisations.append(list(base_mro))
            result = [cls] + _c3_merge(linearisations + [direct])
        except (_Open, RecursionError):
            result = None
        self._mro[key] = result
        return result

    def _base_classes(self, cls: PyClass) -> list[PyClass | BuiltinClass]:
        """The classes ``cls`` names as bases (``object`` implied, so left out; a
        ``NamedTuple`` base read as such); raises _Open for a base that does not resolve."""
        found: list[PyClass | BuiltinClass] = []
        for base in cls.bases:
            node = base
            if node.type == "subscript":
                node = node.child_by_field_name("value") or node
            if node.type == "identifier" and cls.module.text(node) in ("object", "type"):
                if cls.module.text(node) == "type":
                    found.append(TYPE_TYPE)
                continue
            typ = self.expression_type(cls.module, node)
            if isinstance(typ, ClassObjectType):
                found.append(typ.cls)
            elif self._typing_origin(Source(cls.module, cls.module.data), node) == (
                "typing",
                "NamedTuple",
            ):
                found.append(NAMEDTUPLE_BASE)
            else:
                raise _Open
        return found

    def _metaclass(self, cls: PyClass) -> tuple[bool, str | None]:
        """(known, name) for the class's explicit metaclass (inherited ones come via bases)."""
        if cls.metaclass is None:
            return True, None
        name = cls.module.text(cls.metaclass).rsplit(".", 1)[-1]
        return name in KNOWN_METACLASSES, name

    def _class_members(self, cls: PyClass | BuiltinClass, instance: bool) -> frozenset[str] | None:
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
        if result is not None and instance and _uses_undeclared(mro or [], result):
            result = None  # a mixin or abstract base: its methods use what others define
        self._members[key] = result
        return result

    def _decorator_names(self, cls: PyClass) -> set[str]:
        """Names the class decorators add (attrs); raises _Open for an unknown decorator."""
        names: set[str] = set()
        for decorator in cls.decorators:
            dotted = decorator_name(cls.module, decorator)
            if dotted.rsplit(".", 1)[-1] in KNOWN_CLASS_DECORATORS:
                continue
            if _is_attrs_decorator(cls.module, dotted) and "these" not in cls.module.text(
                decorator
            ):
                names |= ATTRS_MEMBERS
                continue
            raise _Open
        return names

    def _own_members(self, cls: PyClass | BuiltinClass, instance: bool) -> set[str]:
        """Names one class contributes (raises _Open when it makes the set uncertain)."""
        if isinstance(cls, BuiltinClass):
            return set(cls.names)
        if cls.dynamic_attributes or cls.has_class_keywords:
            raise _Open
        decorated = self._decorator_names(cls)
        known, meta = self._metaclass(cls)
        if not known:
            raise _Open
        slots = cls.slots
        if slots is None:
            raise _Open
        if cls.name in _setattr_targets(cls.module):
            raise _Open  # setattr(ClassName, ...): class attributes out of sight
        names = set(cls.body_names) | slots | cls.error_names | decorated
        names |= _external_class_attributes(cls.module, cls.name)
        for dotted, level in cls.body_stars:
            target = self.import_module(cls.module, dotted, level)
            exported = self.exported_names(target) if target is not None else None
            if exported is None:
                raise _Open
            names |= exported
        for attribute, roles in cls.first_parameter_attribute_roles.items():
            if instance or "class" in roles:
                names.add(attribute)
        if instance:  # ``obj.x = ...`` anywhere in the class's module may add x to instances
            names |= _stored_attribute_names(cls.module)
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
            names |= _assigned_attribute_names(module) | _namespace_keys(module)
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
                            names |= set(klass.body_names) | set(
                                klass.first_parameter_attribute_roles
                            )
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
            return self._call_expression(module, node)
        if kind == "parenthesized_expression" and len(node.named_children) == 1:
            return self.expression_type(module, node.named_children[0])
        literal = self._literal_type(module, node)
        if literal is not None:
            return literal
        if kind == "subscript":
            value = self.expression_type(module, node.child_by_field_name("value"))
            return self.item_type(value, node.children_by_field_name("subscript"), module)
        if kind == "await" and node.named_children:
            return self._await_type(module, node.named_children[0])
        if kind == "conditional_expression" and len(node.named_children) == 3:
            first, _, second = node.named_children
            return join(self.expression_type(module, first), self.expression_type(module, second))
        if kind == "boolean_operator":
            return join(
                self.expression_type(module, node.child_by_field_name("left")),
                self.expression_type(module, node.child_by_field_name("right")),
            )
        if kind == "binary_operator":
            return self._binary_type(module, node)
        if kind == "not_operator":
            return builtin_instance("bool")
        if kind == "named_expression":
            return self.expression_type(module, node.child_by_field_name("value"))
        return None

    def _literal_type(self, module: PyModule, node: Node) -> Type | None:
        """The type of a literal, display or comprehension node, else None."""
        kind = node.type
        if kind in ("string", "concatenated_string"):
            first = node.named_children[0] if kind == "concatenated_string" else node
            start = first.named_children[0] if first.named_children else None
            prefix = module.text(start).lower() if start is not None else ""
            return builtin_instance("bytes" if "b" in prefix else "str")
        if kind in ("integer", "float"):
            text = module.text(node)
            if text[-1:] in ("j", "J"):
                return builtin_instance("complex")
            return builtin_instance("int" if kind == "integer" else "float")
        if kind in ("true", "false"):
            return builtin_instance("bool")
        if kind in ("list", "set", "tuple", "expression_list"):
            elements = [c for c in node.named_children if c.type != "comment"]
            name = "tuple" if kind == "expression_list" else kind
            if any(c.type in ("list_splat", "parenthesized_list_splat") for c in elements):
                return builtin_instance(name)
            types = [self.expression_type(module, c) for c in elements]
            if name == "tuple":
                return builtin_instance("tuple", *types)
            return builtin_instance(name, join_all(types))
        if kind == "dictionary":
            pairs = [c for c in node.named_children if c.type != "comment"]
            if any(c.type != "pair" for c in pairs):
                return builtin_instance("dict")
            keys = [self.expression_type(module, p.child_by_field_name("key")) for p in pairs]
            values = [self.expression_type(module, p.child_by_field_name("value")) for p in pairs]
            return builtin_instance("dict", join_all(keys), join_all(values))
        if kind in _COMPREHENSIONS:
            body = node.child_by_field_name("body")
            if kind == "dictionary_comprehension":
                if body is None or body.type != "pair":
                    return builtin_instance("dict")
                return builtin_instance(
                    "dict",
                    self.expression_type(module, body.child_by_field_name("key")),
                    self.expression_type(module, body.child_by_field_name("value")),
                )
            name = {"list_comprehension": "list", "set_comprehension": "set"}.get(kind)
            element = self.expression_type(module, body)
            return builtin_instance(name or "generator", element)
        return None

    def _binary_type(self, module: PyModule, node: Node) -> Type | None:
        """``a + b`` of two str/bytes/list/tuple values, ``"..." % x``; else None."""
        operator = module.text(node.child_by_field_name("operator"))
        left = self.expression_type(module, node.child_by_field_name("left"))
        if not isinstance(left, InstanceType) or not isinstance(left.cls, BuiltinClass):
            return None
        name = left.cls.name
        if operator == "%" and name in ("str", "bytes") and left.cls is spec_class(name):
            right = node.child_by_field_name("right")
            if right is not None and right.type in ("tuple", "string", "dictionary"):
                return builtin_instance(name)
            return None
        if operator != "+" or name not in ("str", "bytes", "list", "tuple"):
            return None
        right = self.expression_type(module, node.child_by_field_name("right"))
        if not isinstance(right, InstanceType) or right.cls is not left.cls:
            return None
        if name == "tuple" and not left.variadic and not right.variadic:
            return builtin_instance("tuple", *left.args, *right.args)
        return join(replace(left, optional=False), replace(right, optional=False))

    def _call_expression(self, module: PyModule, node: Node) -> Type | None:
        function = node.child_by_field_name("function")
        arguments = _Arguments.of(module, node.child_by_field_name("arguments"))
        callee = self.expression_type(module, function)
        if isinstance(callee, ClassObjectType) and callee.cls is builtin_class("super"):
            return self._super_type(module, node, arguments)
        if isinstance(callee, FunctionType) and callee.scope.module.is_stdlib:
            special = self._stdlib_call(callee.scope, node, arguments)
            if special is not None:
                return special
        return self.call_type(callee, arguments)

    def _stdlib_call(
        self, scope: FunctionScope, node: Node, arguments: _Arguments | None
    ) -> Type | None:
        """``namedtuple(...)``/``NamedTuple(...)`` classes and ``typing.cast``."""
        where = (scope.module.name, scope.name)
        if arguments is None:
            return None
        if where == ("typing", "cast") and len(arguments.positional) == 2:
            return self.annotation_type(arguments.module, arguments.positional[0])
        if where not in (("collections", "namedtuple"), ("typing", "NamedTuple")):
            return None
        module = arguments.module
        if arguments.splat or "rename" in arguments.keywords or not arguments.positional:
            return None
        name = string_value(module, arguments.positional[0])
        fields_node = (
            arguments.positional[1]
            if len(arguments.positional) > 1
            else arguments.keywords.get("field_names" if where[1] == "namedtuple" else "fields")
        )
        if name is None:
            return None
        fields = _namedtuple_fields(module, fields_node, where[1] == "NamedTuple")
        if fields is None and not (where[1] == "NamedTuple" and fields_node is None):
            return None
        cache = module.__dict__.setdefault("_namedtuple_classes", {})
        key = (node.start_byte, node.end_byte)
        cls = cache.get(key)
        if cls is None:
            names = frozenset(fields or ()) | frozenset(arguments.keywords) | NAMEDTUPLE_NAMES
            cls = cache[key] = BuiltinClass(name, names, (builtin_type(tuple),))
        return ClassObjectType(cls)

    def call_type(self, callee: Type | None, arguments: _Arguments | None = None) -> Type | None:
        """The type of calling an object of type ``callee`` (``arguments`` None: unknown)."""
        if isinstance(callee, ClassObjectType):
            return self._instantiate(callee.cls, arguments)
        if isinstance(callee, FunctionType):
            scope = callee.scope
            if any(name not in TRANSPARENT_FUNCTION_DECORATORS for name in scope.decorator_names):
                return None
            if scope.is_async:
                return None  # a coroutine: see _await_type
            return self._function_result(scope, callee.owner)
        if isinstance(callee, BuiltinFunctionType):
            if callee.receiver is None:
                return self._builtin_function_result(callee.name, arguments)
            if callee.spec is not None:
                return self._spec_type(callee.spec, callee.receiver, arguments)
        return None

    def _instantiate(
        self, cls: PyClass | BuiltinClass, arguments: _Arguments | None
    ) -> Type | None:
        mro = self.mro(cls)
        if mro is None:
            return None
        if isinstance(cls, BuiltinClass):
            if cls is TYPE_TYPE:
                return None  # type(x) is x's class, maybe a subclass; type(n, b, d) a new one
            if cls is spec_class("zip") and arguments is not None and not arguments.splat:
                elements = [
                    self.element_type(self.expression_type(arguments.module, node))
                    for node in arguments.positional
                ]
                return InstanceType(cls, tuple(elements))
            spec = CONSTRUCTOR_RESULTS.get(cls.name)
            if spec is not None and arguments is not None and spec_class(cls.name) is cls:
                typ = self._spec_type(spec, None, arguments)
                if typ is not None:
                    return typ
            return InstanceType(cls)
        for klass in mro:
            if isinstance(klass, BuiltinClass):
                continue
            if "__new__" in klass.body_names:
                return None
            known, meta = self._metaclass(klass)
            if not known or meta in ("EnumMeta", "EnumType"):
                return None
        return InstanceType(cls)

    def _function_result(self, scope: FunctionScope, owner: PyClass | BuiltinClass | None):
        """What calling ``scope`` returns: its return annotation, else the inferred result."""
        self_class = owner
        if self_class is None and scope.class_node is not None:
            self_class = scope.module.class_at(scope.class_node)
        if scope.return_annotation is not None:
            pyclass = self_class if isinstance(self_class, PyClass) else None
            return self.annotation_type(scope.module, scope.return_annotation, pyclass)
        key = (id(scope), id(owner))
        if key in self._returns:
            return self._returns[key]
        self._returns[key] = None  # in progress: recursion reads as unknown
        self._depth += 1
        try:
            result = self._inferred_result(scope, self_class)
        except (_Open, RecursionError):
            result = None
        finally:
            self._depth -= 1
        self._returns[key] = result
        return result

    def _inferred_result(
        self, scope: FunctionScope, self_class: PyClass | BuiltinClass | None
    ) -> Type | None:
        """The result of an unannotated function: all ``return`` values agree, or a
        generator of its ``yield`` values; None (no result) when it only returns None."""
        returns, yields, open_end = scope.body_facts
        module = scope.module
        if yields:
            elements = []
            for node in yields:
                value = node.named_children[0] if node.named_children else None
                if value is None:
                    return builtin_instance("generator")
                if any(c.type == "from" for c in node.children):
                    elements.append(self.element_type(self.expression_type(module, value)))
                else:
                    elements.append(self.expression_type(module, value))
            return builtin_instance("generator", join_all(elements))
        optional = open_end
        result: Type | None = None
        for statement in returns:
            value = statement.named_children[0] if statement.named_children else None
            if value is None or value.type == "none":
                optional = True
                continue
            typ = self._returned_type(scope, self_class, value)
            result = typ if result is None else join(result, typ)
            if result is None:
                return None
        return or_none(result) if optional else result

    def _returned_type(
        self, scope: FunctionScope, self_class: PyClass | BuiltinClass | None, value: Node
    ) -> Type | None:
        """A returned value; ``self``/``cls(...)``/``type(self)(...)`` are the receiver's class."""
        module = scope.module
        receiver = scope.first_parameter
        role = scope.first_parameter_role
        if receiver is not None and role is not None and self_class is not None:
            if len(scope.bindings.names.get(receiver, [])) == 1:
                text = module.text(value)
                if role == "instance" and text == receiver:
                    return InstanceType(self_class)
                if value.type == "call":
                    function = module.text(value.child_by_field_name("function"))
                    if (role == "class" and function == receiver) or function in (
                        f"type({receiver})",
                        f"{receiver}.__class__",
                    ):
                        return InstanceType(self_class)
        return self.expression_type(module, value)

    def _await_type(self, module: PyModule, awaited: Node) -> Type | None:
        """``await f()`` for an ``async def f``: its declared or inferred result."""
        if awaited.type != "call":
            return None
        callee = self.expression_type(module, awaited.child_by_field_name("function"))
        if not isinstance(callee, FunctionType) or not callee.scope.is_async:
            return None
        scope = callee.scope
        if any(name not in TRANSPARENT_FUNCTION_DECORATORS for name in scope.decorator_names):
            return None
        return self._function_result(scope, callee.owner)

    def _builtin_function_result(self, name: str, arguments: _Arguments | None) -> Type | None:
        if arguments is not None and arguments.splat:
            return None
        count = len(arguments.positional) if arguments is not None else None
        if name == "open":
            return self._open_type(arguments)
        if name in ("iter", "next", "min", "max") and count == 1 and arguments is not None:
            if arguments.keywords:
                return None
            element = self.element_type(
                self.expression_type(arguments.module, arguments.positional[0])
            )
            return AbstractType("iterator", (element,)) if name == "iter" else element
        spec = FUNCTION_RESULTS.get(name)
        return self._spec_type(spec, None, arguments) if spec is not None else None

    def _open_type(self, arguments: _Arguments | None) -> Type | None:
        """``open(file, mode)``: a text file, or a buffered binary file by mode."""
        if arguments is None:
            return None
        module = arguments.module
        mode_node = (
            arguments.positional[1]
            if len(arguments.positional) > 1
            else arguments.keywords.get("mode")
        )
        mode = "r" if mode_node is None else string_value(module, mode_node)
        if mode is None:
            return None
        if "b" not in mode:
            return builtin_instance("TextIOWrapper")
        if len(arguments.positional) > 2 or "buffering" in arguments.keywords:
            return None
        if "+" in mode:
            return builtin_instance("BufferedRandom")
        return builtin_instance("BufferedReader" if "r" in mode else "BufferedWriter")

    def _spec_type(
        self,
        spec: str,
        receiver: InstanceType | AbstractType | None,
        arguments: _Arguments | None,
    ) -> Type | None:
        """The type a result spec of :mod:`analysis.builtin_types` names for this call."""
        head, args, optional, positional = parse_spec(spec)
        if positional is not None:
            if arguments is None or arguments.splat or arguments.keywords:
                return None
            if len(arguments.positional) != positional:
                return None
        typ = self._spec_node(head, args, receiver, arguments)
        return or_none(typ) if optional else typ

    def _spec_node(
        self,
        head: str,
        args: tuple,
        receiver: InstanceType | AbstractType | None,
        arguments: _Arguments | None,
    ) -> Type | None:
        if head in ("T", "K", "V"):
            index = 1 if head == "V" else 0
            known = receiver.args if receiver is not None else ()
            return known[index] if index < len(known) else None
        if head.startswith("E") and head[1:].isdigit():
            index = int(head[1:])
            if arguments is None or arguments.splat or index >= len(arguments.positional):
                return None
            value = self.expression_type(arguments.module, arguments.positional[index])
            return self.element_type(value)
        if head == "?":
            return None
        if head == "iter":
            element = self._spec_node(*args[0], receiver, arguments) if args else None
            return AbstractType("iterable", (element,))
        if head == "tuple" and args and args[-1][0] == "...":
            element = self._spec_node(*args[0], receiver, arguments)
            return builtin_instance("tuple", element, variadic=True)
        cls = spec_class(head)
        if cls is None:
            return None
        return InstanceType(cls, tuple(self._spec_node(*a, receiver, arguments) for a in args))

    def _super_type(
        self, module: PyModule, node: Node, arguments: _Arguments | None
    ) -> SuperType | None:
        """``super()`` in a method (zero arguments) or ``super(C, obj)``."""
        if arguments is not None and (arguments.splat or arguments.keywords):
            return None
        if arguments is None or not arguments.positional:
            chain = scope_chain(module, node)
            scope = chain[0] if chain else None
            if not isinstance(scope, FunctionScope) or scope.class_node is None:
                return None
            role, receiver = scope.first_parameter_role, scope.first_parameter
            if role is None or receiver is None:
                return None
            if len(scope.bindings.names.get(receiver, [])) != 1:
                return None  # the receiver parameter is rebound
            cls = module.class_at(scope.class_node)
            mro = self.mro(cls)
            if mro is None:
                return None
            return SuperType(cls, tuple(mro[1:]), cls, role == "instance")
        if len(arguments.positional) != 2:
            return None
        first = self.expression_type(module, arguments.positional[0])
        second = self.expression_type(module, arguments.positional[1])
        if not isinstance(first, ClassObjectType) or not isinstance(
            second, InstanceType | ClassObjectType
        ):
            return None
        mro = self.mro(second.cls)
        if mro is None or first.cls not in mro:
            return None
        index = mro.index(first.cls)
        return SuperType(
            first.cls, tuple(mro[index + 1 :]), second.cls, isinstance(second, InstanceType)
        )

    # -- elements, items, context managers --------------------------------------------------

    def element_type(self, typ: Type | None) -> Type | None:
        """The type of the elements iterating over an object of type ``typ`` gives."""
        if typ is None or self._depth > MAX_DEPTH:
            return None
        self._depth += 1
        try:
            return self._element_type(typ)
        except (_Open, RecursionError):
            return None
        finally:
            self._depth -= 1

    def _element_type(self, typ: Type) -> Type | None:
        if isinstance(typ, AbstractType):
            if typ.kind == "items":
                key, value = (typ.args + (None, None))[:2]
                return builtin_instance("tuple", key, value)
            return typ.args[0] if typ.args else None
        if isinstance(typ, ClassObjectType):
            if isinstance(typ.cls, PyClass) and self._is_enum(typ.cls):
                return InstanceType(typ.cls)
            return None
        if not isinstance(typ, InstanceType):
            return None
        if isinstance(typ.cls, BuiltinClass):
            return self._builtin_element(typ)
        mro = self.mro(typ.cls)
        if mro is None:
            return None
        for klass in mro:
            if isinstance(klass, BuiltinClass):
                if "__iter__" in klass.names:
                    return self._builtin_element(InstanceType(klass))
                continue
            if "__iter__" not in klass.body_names:
                continue
            iterator = self.call_type(self.attribute_type(typ, "__iter__"))
            if isinstance(iterator, InstanceType) and iterator.cls is typ.cls:
                return self.call_type(self.attribute_type(typ, "__next__"))
            return self.element_type(iterator)
        return None

    def _builtin_element(self, typ: InstanceType) -> Type | None:
        assert isinstance(typ.cls, BuiltinClass)
        for klass in typ.cls.mro:
            if klass.name == "zip" and klass is spec_class("zip"):
                return builtin_instance("tuple", *typ.args) if typ.args else None
            if klass.name == "tuple" and klass is spec_class("tuple"):
                if typ.variadic:
                    return typ.args[0] if typ.args else None
                return join_all(list(typ.args))
            rule = ELEMENTS.get(klass.name)
            if rule is not None and spec_class(klass.name) in (klass, None):
                receiver = typ if klass is typ.cls else InstanceType(klass)
                return self._spec_type(rule, receiver, None)
        return None

    def item_type(self, typ: Type | None, subscripts: list[Node], module: PyModule) -> Type | None:
        """The type of ``obj[index]`` for ``obj`` of type ``typ`` (one index)."""
        if typ is None or len(subscripts) != 1:
            return None
        index = subscripts[0]
        is_slice = index.type == "slice"
        return self._item_type(typ, is_slice, None if is_slice else _integer_index(module, index))

    def _item_type(self, typ: Type | None, is_slice: bool, position: int | None) -> Type | None:
        """The type of ``obj[index]`` for ``obj`` of type ``typ``: a slice, or one index
        (``position``: its value when it is an integer literal)."""
        if typ is None:
            return None
        if isinstance(typ, AbstractType):
            if is_slice:
                return None
            methods = ABSTRACT_METHODS.get(typ.kind, {})
            spec = methods.get("__getitem__")
            return self._spec_type(spec, typ, None) if spec is not None else None
        if isinstance(typ, ClassObjectType):
            if isinstance(typ.cls, PyClass) and self._is_enum(typ.cls) and not is_slice:
                return InstanceType(typ.cls)  # Color["RED"]
            return None
        if not isinstance(typ, InstanceType):
            return None
        if isinstance(typ.cls, PyClass):
            mro = self.mro(typ.cls) or []
            for klass in mro:
                if isinstance(klass, BuiltinClass):
                    if "__getitem__" in klass.names:
                        return self._item_type(InstanceType(klass), is_slice, position)
                    continue
                if "__getitem__" in klass.body_names:
                    return self.call_type(self.attribute_type(typ, "__getitem__"))
            return None
        for klass in typ.cls.mro:
            name = klass.name
            if klass is not spec_class(name):
                continue
            if name == "tuple":
                if is_slice:
                    element = typ.args[0] if typ.variadic else join_all(list(typ.args))
                    return builtin_instance("tuple", element, variadic=True)
                if typ.variadic:
                    return typ.args[0] if typ.args else None
                if position is not None and -len(typ.args) <= position < len(typ.args):
                    return typ.args[position]
                return join_all(list(typ.args))
            if is_slice and name in ("list", "str", "bytes", "bytearray"):
                return InstanceType(klass, typ.args if klass is typ.cls else ())
            rule = ITEMS.get(name)
            if rule is not None and not is_slice:
                receiver = typ if klass is typ.cls else InstanceType(klass)
                return self._spec_type(rule, receiver, None)
        return None

    def enter_type(self, typ: Type | None) -> Type | None:
        """What ``with obj as x`` binds to ``x``: ``obj.__enter__()``."""
        if not isinstance(typ, InstanceType):
            return None
        for klass in self.mro(typ.cls) or []:
            if isinstance(klass, BuiltinClass):
                if "__enter__" in klass.names:
                    return replace(typ, optional=False) if klass.enter_self else None
                continue
            if "__enter__" in klass.body_names:
                return self.call_type(self.attribute_type(typ, "__enter__"))
        return None

    # -- names ---------------------------------------------------------------------------------

    def _lookup(
        self, module: PyModule, name: str, at: Node
    ) -> tuple[list[Binding], PyClass | FunctionScope | None] | None:
        """The bindings of ``name`` in the innermost function/class/module scope binding it,
        seen from ``at`` (None when only builtins or star imports may bind it)."""
        if isinstance(module, ReceiverModule):
            return self._lookup(module.outer, name, module.at)
        chain = scope_chain(module, at)
        for index, scope in enumerate(chain):
            if isinstance(scope, PyClass):
                if index > 0:
                    continue
                if name in scope.body_names:
                    return scope.body_bindings(name), scope
                continue
            if name in scope.bindings.globals:
                break
            if name in scope.bindings.nonlocals:
                continue
            if name in scope.bindings.names:
                return scope.bindings.names[name], scope
        bindings = module.namespace.names.get(name)
        return (bindings, None) if bindings else None

    def _is_builtin_name(self, module: PyModule, name: str, at: Node) -> bool:
        if isinstance(module, ReceiverModule):
            return self._is_builtin_name(module.outer, name, module.at)
        if self._lookup(module, name, at) is not None or module.dynamic:
            return False
        for target in self._star_targets(module):  # a star import may bind the name
            exported = self.exported_names(target) if target is not None else None
            if exported is None or name in exported:
                return False
        return True

    def name_type(self, module: PyModule, name: str, at: Node) -> Type | None:
        """The certain type of ``name`` as seen from node ``at`` in ``module``."""
        if self._depth == 0:  # called from outside: ``module`` is the document
            self.home = module
        inner = self._comprehension_name(module, name, at)
        if inner is not None:
            found, crossed = inner
            if found is not _NOT_BOUND:
                return found
        else:
            crossed = False
        if isinstance(module, ReceiverModule):  # a free name of a receiver expression
            outer = scope_chain(module.outer, module.at)
            if crossed and outer and isinstance(outer[0], PyClass):
                return None  # a class scope is not visible from a comprehension
            return self.name_type(module.outer, name, module.at)
        chain = scope_chain(module, at)
        for index, scope in enumerate(chain):
            if isinstance(scope, PyClass):
                if index > 0 or crossed:
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

    def _comprehension_name(self, module: PyModule, name: str, at: Node):
        """(type or _NOT_BOUND, crossed a comprehension) for a name bound by a comprehension
        clause or lambda parameter around ``at``; None when there is none."""
        current = at.parent
        crossed = False
        while current is not None and current.type not in (
            "function_definition",
            "class_definition",
            "module",
        ):
            if current.type == "lambda":
                body = current.child_by_field_name("body")
                parameters = current.child_by_field_name("parameters")
                if body is not None and _within(at, body) and parameters is not None:
                    if name in _lambda_parameter_names(module, parameters):
                        return None, crossed  # a lambda parameter: no type
                    crossed = True
            elif current.type in _COMPREHENSIONS:
                clauses = [c for c in current.named_children if c.type == "for_in_clause"]
                first = clauses[0].child_by_field_name("right") if clauses else None
                if first is None or not _within(at, first):
                    crossed = True
                    bound = [
                        (clause, identifier)
                        for clause in clauses
                        if clause.child_by_field_name("left") is not None
                        for identifier in target_identifiers(clause.child_by_field_name("left"))
                        if module.text(identifier) == name
                    ]
                    if len(bound) > 1:
                        return None, crossed
                    if bound:
                        clause, identifier = bound[0]
                        binding = Binding(
                            "loop",
                            clause.child_by_field_name("right"),
                            target=identifier,
                            pattern=clause.child_by_field_name("left"),
                        )
                        return self.binding_type(module, binding), crossed
            current = current.parent
        return (_NOT_BOUND, crossed) if crossed else None

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
        # (attribute access on None fails anyway; see the module docstring).
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
        optional = bool(real) and len(real) < len(bindings)
        if real:
            bindings = real
        if not bindings or any(b.kind == "other" for b in bindings):
            return None
        declared = [b for b in bindings if b.annotation is not None]
        result: Type | None = None
        for i, b in enumerate(declared or bindings):  # stop at the first disagreement
            typ = (
                self._declared_type(module, b, owner)
                if declared
                else self.binding_type(module, b, owner)
            )
            result = typ if i == 0 else join(result, typ)
            if result is None:
                return None
        return or_none(result) if optional else result

    def _declared_type(self, module: PyModule, binding: Binding, owner: PyClass | None):
        typ = self.annotation_type(module, binding.annotation, owner)
        if binding.kind == "param" and binding.param_kind == "*":
            return builtin_instance("tuple", typ, variadic=True)
        if binding.kind == "param" and binding.param_kind == "**":
            return builtin_instance("dict", builtin_instance("str"), typ)
        if (
            typ is None
            and binding.kind == "assign"
            and module.text(binding.annotation).rsplit(".", 1)[-1] == "TypeAlias"
        ):
            return None
        return typ

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
            if source is None or source is module:
                return None
            return self.module_attribute_type(source, binding.name)
        if kind == "assign":
            return self.expression_type(module, binding.node)
        if kind == "param":
            if binding.param_kind == "*":
                return builtin_instance("tuple", None, variadic=True)
            if binding.param_kind == "**":
                return builtin_instance("dict", builtin_instance("str"), None)
            return None
        if kind in ("loop", "with", "unpack") and binding.pattern is not None:
            managed = self._context_manager_yield(module, binding.node) if kind == "with" else None
            value = managed or self.expression_type(module, binding.node)
            if kind == "loop":
                value = self.element_type(value)
            elif kind == "with" and managed is None:
                value = self.enter_type(value)
            target = binding.target
            return self._unpack(value, binding.pattern, target) if target is not None else None
        if kind == "except":
            return self._exception_type(module, binding.node)
        return None

    def _context_manager_yield(self, module: PyModule, node: Node | None) -> Type | None:
        """``with f() as x`` for a ``@contextlib.contextmanager`` generator ``f``: what it
        yields (all its ``yield`` values agree), else None."""
        if node is None or node.type != "call":
            return None
        callee = self.expression_type(module, node.child_by_field_name("function"))
        if not isinstance(callee, FunctionType):
            return None
        scope = callee.scope
        decorators = scope.decorators
        if len(decorators) != 1 or not _is_contextmanager(self, scope.module, decorators[0]):
            return None
        _returns, yields, _open_end = scope.body_facts
        types = []
        for node in yields:
            value = node.named_children[0] if node.named_children else None
            if value is None or any(c.type == "from" for c in node.children):
                return None
            types.append(self._returned_type(scope, callee.owner, value))
        return join_all(types)

    def _unpack(self, typ: Type | None, pattern: Node, target: Node) -> Type | None:
        """The part of a value of type ``typ`` that ``target`` gets in ``pattern = value``."""
        node = pattern
        while typ is not None and not _same_node(node, target):
            children = [c for c in node.named_children if c.type != "comment"]
            if node.type in ("as_pattern_target", "parenthesized_expression"):
                if len(children) != 1:
                    return None
                node = children[0]
                continue
            if node.type not in _SEQUENCE_PATTERNS:
                return None
            if any(c.type in ("list_splat_pattern", "list_splat") for c in children):
                return None
            index = next((i for i, c in enumerate(children) if _within(target, c)), None)
            if index is None:
                return None
            if (
                isinstance(typ, InstanceType)
                and typ.cls is spec_class("tuple")
                and not typ.variadic
                and typ.args
            ):
                typ = typ.args[index] if len(typ.args) == len(children) else None
            else:
                typ = self.element_type(typ)
            node = children[index]
        return typ

    def _exception_type(self, module: PyModule, node: Node | None) -> Type | None:
        """``except T as e``: an instance of T (of the one class a tuple of classes names)."""
        if node is None:
            return None
        parts = node.named_children if node.type == "tuple" else [node]
        types = []
        for part in parts:
            typ = self.expression_type(module, part)
            types.append(InstanceType(typ.cls) if isinstance(typ, ClassObjectType) else None)
        return join_all(types)

    # -- attributes ----------------------------------------------------------------------------

    def module_attribute_type(
        self, module: PyModule | CModule, name: str, builtins: bool = False
    ) -> Type | None:
        """The certain type of ``module.name`` (of a global ``name`` when ``builtins``)."""
        if isinstance(module, CModule):
            return self._c_module_attribute_type(module, name)
        key = (id(module), name)
        if key in self._attribute_stack:
            return None  # imports in a cycle (``from . import x`` through star imports)
        self._attribute_stack.add(key)
        try:
            return self._module_attribute_type(module, name, builtins)
        finally:
            self._attribute_stack.discard(key)

    def _module_attribute_type(self, module: PyModule, name: str, builtins: bool) -> Type | None:
        if module.is_stdlib and (module.name, name) in STDLIB_ATTRIBUTE_MODULES:
            target = self.loader.python_module(
                STDLIB_ATTRIBUTE_MODULES[(module.name, name)], None, 0
            )
            return ModuleType(target) if target is not None else None
        bindings = module.namespace.names.get(name)
        if not bindings and module.is_package and not (module.getattr_names or ()):
            # ``from pkg import sub``: the submodule, unless a known star export binds it
            sub = self.loader.python_submodule(module, name)
            if sub is not None and not any(
                name in (self.exported_names(target) or ())
                for target in filter(None, self.star_modules(module) or [])
            ):
                return ModuleType(sub)
        if module.dynamic:
            return None
        if bindings and module.namespace.stars:
            # a star import may rebind the name: certain only if no star module exports it
            for target in self._star_targets(module):
                exported = self.exported_names(target) if target is not None else None
                if exported is None or name in exported:
                    return None
        if bindings:
            return self.bindings_type(module, bindings)
        for target in self._star_targets(module):
            if target is None:
                return None
            exported = self.exported_names(target)
            if exported is None:
                return None
            if name in exported:
                return self.module_attribute_type(target, name)
        if module.getattr_names and name in module.getattr_names:
            return None
        if module.is_package:
            sub = self.loader.python_submodule(module, name)
            if sub is not None:
                return ModuleType(sub)
        if builtins:  # every star import is known (above) and none binds the name
            builtin = builtin_class(name)
            if builtin is not None:
                return ClassObjectType(builtin)
            if name in BUILTIN_FUNCTIONS:
                return BuiltinFunctionType(name)
        return None

    def _c_module_attribute_type(self, module: CModule, name: str) -> Type | None:
        kind, value = module.attribute_kind(name)
        if kind == "class" and isinstance(value, BuiltinClass):
            return ClassObjectType(value)
        if kind == "constant" and isinstance(value, BuiltinClass):
            return InstanceType(value)
        if kind == "module" and isinstance(value, str):
            found = self.loader.python_module(value, None, 0) or c_module(value)
            return ModuleType(found) if found is not None else None
        return None

    def attribute_type(self, typ: Type, name: str) -> Type | None:
        """The certain type of ``obj.name`` for ``obj`` of type ``typ``."""
        if isinstance(typ, ModuleType):
            return self.module_attribute_type(typ.module, name)
        if isinstance(typ, SuperType):
            return self._super_attribute(typ, name)
        if isinstance(typ, AbstractType):
            spec = ABSTRACT_METHODS.get(typ.kind, {}).get(name)
            return BuiltinFunctionType(name, typ, spec) if spec is not None else None
        if not isinstance(typ, InstanceType | ClassObjectType):
            return None
        instance = isinstance(typ, InstanceType)
        members = self.members(typ)
        if members is None or name not in members:
            return None
        if isinstance(typ.cls, BuiltinClass):
            return self._builtin_attribute(typ, typ.cls, name)
        mro = self.mro(typ.cls) or []
        bindings: list[Binding] = []
        owner_module: PyModule | None = None
        for klass in mro:
            if isinstance(klass, BuiltinClass):
                if name in klass.names:
                    return self._builtin_attribute(typ, klass, name)
                continue
            found = klass.body_bindings(name)
            if found:
                bindings = list(found)
                owner_module = klass.module
                if any(b.kind == "def" for b in found):
                    return self._method_attribute(typ.cls, klass, found, instance)
                if (
                    not instance
                    and self._is_enum(typ.cls)
                    and all(b.kind == "assign" for b in found)
                ):
                    return InstanceType(typ.cls)  # an Enum member
                class_level = self.bindings_type(klass.module, found, owner=typ.cls)
                if _is_descriptor(self, class_level):
                    return None
                break
        if instance:
            for klass in mro:
                if isinstance(klass, BuiltinClass):
                    continue
                for binding, _scope in klass.first_parameter_bindings(name):
                    if owner_module is None:
                        owner_module = klass.module
                    if klass.module is not owner_module:
                        return None
                    bindings.append(binding)
        if not bindings or owner_module is None:
            return None
        return self.bindings_type(owner_module, bindings, owner=typ.cls)

    def _method_attribute(
        self,
        receiver: PyClass | BuiltinClass,
        klass: PyClass,
        found: list[Binding],
        instance: bool,
    ) -> Type | None:
        """A def in a class body looked up on an instance or the class: a method (bound to
        ``receiver`` for ``Self``) or a property's result."""
        function = next(b for b in found if b.kind == "def")
        scope = klass.module.function_at(function.node)
        if "property" in scope.decorator_names or "cached_property" in scope.decorator_names:
            if not instance:
                return None
            return self._function_result(scope, receiver)
        if len(found) == 1 or all(_is_property_accessor(klass.module, b) for b in found[1:]):
            return FunctionType(scope, receiver)
        return None

    def _builtin_attribute(
        self, typ: InstanceType | ClassObjectType, klass: BuiltinClass, name: str
    ) -> Type | None:
        """A method of a builtin class with a known result, bound to an instance."""
        if not isinstance(typ, InstanceType):
            return None
        receiver = typ if typ.cls is klass else InstanceType(klass)
        for base in klass.mro:
            spec = METHOD_RESULTS.get(base.name, {}).get(name)
            if spec is not None and spec_class(base.name) in (base, None):
                return BuiltinFunctionType(name, replace(receiver, optional=False), spec)
        return None

    def _super_attribute(self, typ: SuperType, name: str) -> Type | None:
        if name not in (self.members(typ) or ()):
            return None
        for klass in typ.classes:
            if isinstance(klass, BuiltinClass):
                if name in klass.names and typ.instance:
                    return self._builtin_attribute(InstanceType(klass), klass, name)
                if name in klass.names:
                    return None
                continue
            found = klass.body_bindings(name)
            if not found:
                continue
            if any(b.kind == "def" for b in found):
                return self._method_attribute(typ.owner, klass, found, typ.instance)
            class_level = self.bindings_type(klass.module, found, owner=klass)
            return None if _is_descriptor(self, class_level) else class_level
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


class _NotBound:
    """Marker: the name is not bound by a comprehension or lambda around the node."""


_NOT_BOUND = _NotBound()
BUILTIN_FUNCTIONS = frozenset(FUNCTION_RESULTS) | {"open", "iter", "next", "min", "max"}


def _setattr_targets(module: PyModule) -> frozenset[str]:
    """Names ``setattr(NAME, ...)`` is called on in ``module`` (cached per module and per
    top-level statement text)."""
    return module.scanned_union("setattr_targets")


def _uses_undeclared(mro: list[PyClass | BuiltinClass], names: frozenset[str]) -> bool:
    """Whether the object's class is a base its own module extends, whose methods use
    ``self.x`` for an ``x`` no class of ``mro`` declares.

    Such a class is an abstract base (``PurePath`` reads ``self._flavour``, which only
    its subclasses set): the object may be of a subclass that adds members, so its member
    set is open (the names it declares are still preferred). Without a subclass in sight
    an undeclared use is more often the line being rewritten (``self.x = ...`` cut at the
    cursor, ``x`` read elsewhere), and the set stays closed.
    """
    cls = mro[0] if mro else None
    return (
        isinstance(cls, PyClass)
        and _subclassed_in_module(cls)
        and any(isinstance(k, PyClass) and not k.first_parameter_uses <= names for k in mro)
    )


def _subclassed_in_module(cls: PyClass) -> bool:
    """Whether a class statement of ``cls``'s module names ``cls`` among its bases (a
    textual scan, kept per statement text)."""
    return cls.name in cls.module.scanned_union("class_bases")


def _takes_attributes(cls: PyClass | BuiltinClass) -> bool:
    """Whether instances may get attributes stored from anywhere (they have a ``__dict__``)."""
    return isinstance(cls, PyClass) or any(k.instance_dict for k in cls.mro)


def _is_contextmanager(resolver: PythonResolver, module: PyModule, decorator: Node) -> bool:
    """True when a decorator is ``contextlib.contextmanager`` (by name and import)."""
    expression = decorator.named_children[0] if decorator.named_children else None
    if expression is None or expression.type not in ("identifier", "attribute"):
        return False
    typ = resolver.expression_type(module, expression)
    return (
        isinstance(typ, FunctionType)
        and typ.scope.name == "contextmanager"
        and typ.scope.module.is_stdlib
        and typ.scope.module.name == "contextlib"
    )


def _is_descriptor(resolver: PythonResolver, typ: Type | None) -> bool:
    """True for a class attribute whose value defines ``__get__`` (instance access calls it)."""
    if not isinstance(typ, InstanceType):
        return False
    members = resolver.members(typ)
    return members is None or "__get__" in members


def _integer_index(module: PyModule, node: Node) -> int | None:
    text = module.text(node).replace("_", "")
    try:
        return int(text, 0)
    except ValueError:
        return None


def _lambda_parameter_names(module: PyModule, parameters: Node) -> set[str]:
    names = set()
    for child in parameters.named_children:
        node = child
        if node.type in ("default_parameter", "typed_default_parameter"):
            node = node.child_by_field_name("name") or node
        elif node.type in ("list_splat_pattern", "dictionary_splat_pattern"):
            node = node.named_children[0] if node.named_children else node
        if node.type == "identifier":
            names.add(module.text(node))
    return names


def _namedtuple_fields(module: PyModule, node: Node | None, typed: bool) -> list[str] | None:
    """Field names of ``namedtuple(name, "a b")``/``["a", "b"]`` or, ``typed``,
    ``NamedTuple(name, [("a", int), ...])``; None when they are not literal."""
    if node is None:
        return None
    if not typed:
        text = string_value(module, node)
        if text is not None:
            fields = text.replace(",", " ").split()
            return fields if all(f.isidentifier() for f in fields) else None
    if node.type not in ("list", "tuple"):
        return None
    fields = []
    for element in node.named_children:
        if typed:
            if element.type != "tuple" or not element.named_children:
                return None
            element = element.named_children[0]
        text = string_value(module, element)
        if text is None or not text.isidentifier():
            return None
        fields.append(text)
    return fields


def _is_attrs_decorator(module: PyModule, dotted: str) -> bool:
    """True for ``@attr.s``/``@attrs.define``/``@define`` (imported from attr/attrs)."""
    parts = dotted.split(".")
    bindings = module.namespace.names.get(parts[0], [])
    if len(bindings) != 1 or len(parts) > 2:
        return False
    binding = bindings[0]
    if len(parts) == 1:
        return (
            binding.kind == "from"
            and binding.module in ("attr", "attrs")
            and binding.name in ATTRS_DECORATORS
        )
    return (
        binding.kind == "import"
        and binding.module in ("attr", "attrs")
        and parts[1] in ATTRS_DECORATORS
    )


def _absent_platform_module(module: PyModule, dotted: str, level: int) -> bool:
    """True for a Windows-only module star-imported by a standard-library module elsewhere."""
    return (
        module.is_stdlib
        and level == 0
        and dotted in WINDOWS_ONLY_MODULES
        and not sys.platform.startswith("win")
    )


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

    A textual scan (over-approximates: any scope, even inside strings), kept per top-level
    statement text (:func:`~analysis.python_symbols.name_stores_in`) and per module.
    """
    if not class_name.isascii():  # the statement facts read ASCII names only
        return _scanned_class_attributes(module, class_name)
    stores = module.__dict__.get("_name_stores")
    if stores is None:
        stores = {}
        for name, attribute in module.scanned_union("name_stores"):
            stores.setdefault(name, set()).add(attribute)
        module.__dict__["_name_stores"] = stores
    return stores.get(class_name, set())


def _scanned_class_attributes(module: PyModule, class_name: str) -> set[str]:
    """:func:`_external_class_attributes` by a scan of the module's bytes for the name."""
    name = class_name.encode()
    pattern = re.escape(name) + rb"[ \t]*\.[ \t]*([A-Za-z_]\w*)[ \t]*" + STORE_OPERATOR
    found = set()
    data = module.data
    for match in re.finditer(pattern, data):
        before = data[match.start() - 1 : match.start()]
        if before and (before.isalnum() or before in b"_."):
            continue
        found.add(match.group(1).decode("utf-8", "replace"))
    return found


def _stored_attribute_names(module: PyModule) -> frozenset[str]:
    """Names stored as ``<expr>.name = ...`` (or ``+=``, ``setattr(obj, "name", v)``)
    anywhere in ``module``.

    A textual scan (over-approximates: strings count too), cached per module and per
    top-level statement text (an edited document rescans only the statement that changed):
    an instance may get such an attribute from code outside its class (``te.x = ...`` on a
    local alias). Stores through a plain ``self``/``cls`` are left to each class's own
    :attr:`~analysis.python_symbols.PyClass.first_parameter_attributes`.
    """
    return module.scanned_union("stored")


def _namespace_keys(module: PyModule) -> set[str]:
    """String keys a metaclass of ``module`` writes into a class namespace
    (``classdict['_member_map_'] = {}``): class attributes its classes get."""
    cached = getattr(module, "_namespace_keys", None)
    if cached is not None:
        return cached
    found = re.findall(rb"\b\w+\[\s*['\"](\w+)['\"]\s*\]\s*=(?!=)", module.data)
    names = {key.decode() for key in found}
    module._namespace_keys = names  # type: ignore[attr-defined]
    return names


def _assigned_attribute_names(module: PyModule) -> set[str]:
    """Every ``<expr>.name`` that is an assignment target anywhere in ``module``."""
    cached = getattr(module, "_assigned_attribute_names", None)
    if cached is not None:
        return cached
    names: set[str] = set()
    for root, start, end in module.spans:
        for attribute in captures(attribute_query(), root, (start, end)).get("attribute", []):
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
