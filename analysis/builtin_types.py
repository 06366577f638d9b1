"""The interpreter's builtin (C) types and modules: member sets and call results.

Part of the static analysis behind monitor-guided decoding (Agrawal et al. 2023, "Guiding
Language Models of Code with Global Context using Monitors"). Builtin types and C-extension
modules have no ``.py`` source to read, so their members come from introspecting the
running interpreter's own objects (``dir(str)``, ``dir(sys)``): no user code is imported
or run. C modules are introspected only when they are compiled into the interpreter or are
extension files in its own ``lib-dynload`` directory (a ``math.py`` in the user's folder is
never imported), and only from a fixed list without import side effects.

What the C methods return is not introspectable either; :data:`METHOD_RESULTS`,
:data:`FUNCTION_RESULTS`, :data:`ELEMENTS` and :data:`ITEMS` write down the few results
that are certain (``str.split`` returns ``list[str]``, iterating a ``dict`` gives its keys)
as small type specs read by :mod:`analysis.resolution`:

- a builtin type name with optional arguments, ``list[str]``, ``tuple[K,V]``;
- ``T``/``K``/``V``: the receiver's first/first/second type argument (``list[T]``,
  ``dict[K, V]``); ``E0``/``E1``...: the element type of the n-th call argument;
- a leading ``?`` for "or None"; ``?`` alone for an unknown argument;
- a trailing ``@n`` when the spec holds only for calls with exactly n positional arguments.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import io
import os
import sys
import sysconfig
import threading
import types
from collections import namedtuple
from functools import cache

from analysis.platform_names import OTHER_PLATFORM_NAMES as STUB_PLATFORM_NAMES

OBJECT_NAMES: frozenset[str] = frozenset(dir(object))
NONE_NAMES: frozenset[str] = frozenset(dir(None))
SUPER_NAMES: frozenset[str] = frozenset(dir(super))
# what namedtuple()/NamedTuple add to a tuple subclass besides the fields
NAMEDTUPLE_NAMES: frozenset[str] = frozenset(dir(namedtuple("_Probe", ""))) | {
    "__orig_bases__",
    "__annotations__",
}


class BuiltinClass:
    """A class implemented in C: its member names from ``dir`` and its bases.

    ``enter_self`` is True when ``__enter__`` returns the object itself (the ``io``
    classes), ``instance_dict`` when instances have a ``__dict__`` for new attributes.
    """

    def __init__(self, name: str, names: frozenset[str], bases: tuple[BuiltinClass, ...] = ()):
        self.name = name
        self.names = names
        self.bases = bases
        self.enter_self = False
        self.instance_dict = False  # instances take new attributes (exceptions, ...)

    @property
    def mro(self) -> list[BuiltinClass]:
        found: list[BuiltinClass] = [self]
        for base in self.bases:
            for klass in base.mro:
                if klass not in found:
                    found.append(klass)
        return found

    def __repr__(self) -> str:
        return f"BuiltinClass({self.name})"


_LOCK = threading.Lock()
_BY_TYPE: dict[type, BuiltinClass] = {}


def builtin_type(cls: type) -> BuiltinClass:
    """The :class:`BuiltinClass` of a type object of the running interpreter (cached)."""
    with _LOCK:
        found = _BY_TYPE.get(cls)
    if found is not None:
        return found
    bases = tuple(builtin_type(b) for b in cls.__bases__ if b is not object)
    names = frozenset(dir(cls))
    if issubclass(cls, BaseException):
        names |= {"__notes__"}  # added by add_note()
    result = BuiltinClass(cls.__name__, names, bases)
    result.enter_self = issubclass(cls, io.IOBase) or cls is memoryview
    result.instance_dict = getattr(cls, "__dictoffset__", 0) != 0
    with _LOCK:
        return _BY_TYPE.setdefault(cls, result)


@cache
def builtin_class(name: str) -> BuiltinClass | None:
    """The class ``name`` of the ``builtins`` module (``str``, ``ValueError``), or None."""
    value = getattr(builtins, name, None)
    if isinstance(value, type) and value is not object and value.__module__ == "builtins":
        return builtin_type(value)
    return None


NONE_TYPE = builtin_type(type(None))
GENERATOR = builtin_type(types.GeneratorType)
TYPE_TYPE = builtin_type(type)

# Builtin functions whose result type is certain (see the module docstring for specs).
# ``open``, ``type``, ``super``, ``iter``, ``next``, ``min``/``max`` are modelled in code.
FUNCTION_RESULTS: dict[str, str] = {
    **dict.fromkeys(("len", "ord", "hash", "id"), "int"),
    **dict.fromkeys(("repr", "ascii", "hex", "oct", "bin", "chr", "format", "input"), "str"),
    **dict.fromkeys(("isinstance", "issubclass", "callable", "hasattr"), "bool"),
    "sorted": "list[E0]",
    "dir": "list[str]",
    "vars": "dict[str,?]",
    "globals": "dict[str,?]",
    "locals": "dict[str,?]",
}

# Results of calling constructors with arguments: ``list(x)`` is ``list[element of x]``.
CONSTRUCTOR_RESULTS: dict[str, str] = {
    "list": "list[E0]@1",
    "set": "set[E0]@1",
    "frozenset": "frozenset[E0]@1",
    "tuple": "tuple[E0,...]@1",
    "enumerate": "enumerate[E0]@1",
    "filter": "filter[E1]@2",
    "reversed": "iter[E0]@1",
}

_STR_TO_STR = (
    "capitalize casefold center expandtabs format format_map join ljust lower lstrip"
    " removeprefix removesuffix replace rjust rstrip strip swapcase title translate upper"
    " zfill __add__ __mul__ __rmul__ __mod__ __format__"
).split()
_BYTES_TO_BYTES = (
    "capitalize center expandtabs join ljust lower lstrip removeprefix removesuffix replace"
    " rjust rstrip strip swapcase title translate upper zfill __add__ __mul__ __rmul__ __mod__"
).split()
_PREDICATES = (
    "startswith endswith isalnum isalpha isascii isdecimal isdigit isidentifier islower"
    " isnumeric isprintable isspace istitle isupper __contains__"
).split()
_SEARCHES = "count find index rfind rindex __len__".split()
_SET_TO_SET = "union intersection difference symmetric_difference".split()
_SET_PREDICATES = "isdisjoint issubset issuperset __contains__".split()


def _table(*groups: tuple[list[str], str], **single: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for names, spec in groups:
        table.update(dict.fromkeys(names, spec))
    table.update(single)
    return table


METHOD_RESULTS: dict[str, dict[str, str]] = {
    "str": _table(
        (_STR_TO_STR, "str"),
        (_PREDICATES, "bool"),
        (_SEARCHES, "int"),
        (["split", "rsplit", "splitlines"], "list[str]"),
        (["partition", "rpartition"], "tuple[str,str,str]"),
        encode="bytes",
    ),
    "bytes": _table(
        (_BYTES_TO_BYTES, "bytes"),
        ([p for p in _PREDICATES if p != "isidentifier" and p != "isprintable"], "bool"),
        (_SEARCHES, "int"),
        (["split", "rsplit", "splitlines"], "list[bytes]"),
        (["partition", "rpartition"], "tuple[bytes,bytes,bytes]"),
        decode="str",
        hex="str",
        fromhex="bytes",
    ),
    "bytearray": _table(
        (_BYTES_TO_BYTES, "bytearray"),
        (_SEARCHES, "int"),
        (["split", "rsplit", "splitlines"], "list[bytearray]"),
        decode="str",
        hex="str",
        copy="bytearray",
        pop="int",
    ),
    "int": _table(
        (["bit_length", "bit_count", "conjugate", "__index__", "__int__", "__abs__"], "int"),
        to_bytes="bytes",
        as_integer_ratio="tuple[int,int]",
    ),
    "bool": {"to_bytes": "bytes", "bit_length": "int", "as_integer_ratio": "tuple[int,int]"},
    "float": _table(
        (["conjugate", "__float__", "__abs__", "fromhex"], "float"),
        hex="str",
        is_integer="bool",
        as_integer_ratio="tuple[int,int]",
    ),
    "complex": {"conjugate": "complex"},
    "TextIOWrapper": _table(
        (["read", "readline"], "str"), readlines="list[str]", fileno="int", tell="int"
    ),
    "StringIO": _table((["read", "readline", "getvalue"], "str"), readlines="list[str]"),
    # a non-blocking raw stream may make a buffered read return None
    "BufferedReader": _table(
        (["read", "readline", "peek", "read1"], "?bytes"), readlines="list[bytes]"
    ),
    "BufferedRandom": _table(
        (["read", "readline", "peek", "read1"], "?bytes"), readlines="list[bytes]"
    ),
    "BytesIO": _table(
        (["read", "readline", "getvalue", "read1"], "bytes"), readlines="list[bytes]"
    ),
    "list": _table((["index", "count", "__len__"], "int"), copy="list[T]", pop="T"),
    "tuple": _table((["index", "count", "__len__"], "int")),
    "dict": _table(
        keys="dict_keys[K]",
        values="dict_values[V]",
        items="dict_items[K,V]",
        copy="dict[K,V]",
        get="?V@1",
        pop="V@1",
        setdefault="?V@2",  # V, or the default when it is missing
        popitem="tuple[K,V]",
        __len__="int",
    ),
    "set": _table(
        (_SET_TO_SET, "set"), (_SET_PREDICATES, "bool"), copy="set[T]", pop="T", __len__="int"
    ),
    "frozenset": _table(
        (_SET_TO_SET, "frozenset"), (_SET_PREDICATES, "bool"), copy="frozenset[T]", __len__="int"
    ),
}

# Classes named in specs that the ``builtins`` module does not name.
SPEC_TYPES: dict[str, type] = {
    "dict_keys": type({}.keys()),
    "dict_values": type({}.values()),
    "dict_items": type({}.items()),
    "generator": types.GeneratorType,
    "list_iterator": type(iter([])),
    "TextIOWrapper": io.TextIOWrapper,
    "BufferedReader": io.BufferedReader,
    "BufferedWriter": io.BufferedWriter,
    "BufferedRandom": io.BufferedRandom,
    "FileIO": io.FileIO,
}


def spec_class(name: str) -> BuiltinClass | None:
    """The builtin class a spec names (``str``, ``dict_keys``, ``TextIOWrapper``), or None."""
    found = builtin_class(name)
    if found is None and name in SPEC_TYPES:
        found = builtin_type(SPEC_TYPES[name])
    return found


# What iterating an instance of a builtin class gives ("tuple" is modelled in code).
ELEMENTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "list",
            "set",
            "frozenset",
            "dict_keys",
            "dict_values",
            "list_iterator",
            "generator",
            "deque",
            "filter",
        ),
        "T",
    ),
    "dict": "K",
    "defaultdict": "K",
    "dict_items": "tuple[K,V]",
    "str": "str",
    "bytes": "int",
    "bytearray": "int",
    "range": "int",
    "enumerate": "tuple[int,T]",
    **dict.fromkeys(("TextIOWrapper", "StringIO"), "str"),
    **dict.fromkeys(("BufferedReader", "BufferedRandom", "BytesIO", "FileIO"), "bytes"),
}
# What ``x[i]`` gives for an integer index (slices are modelled in code).
ITEMS: dict[str, str] = {
    "list": "T",
    "dict": "V",
    "defaultdict": "V",
    "str": "str",
    "bytes": "int",
    "bytearray": "int",
    "range": "int",
    "deque": "T",
}


def parse_spec(spec: str) -> tuple[str, tuple, bool, int | None]:
    """``(head, args, optional, positional)`` of a type spec (see the module docstring)."""
    positional = None
    if "@" in spec:
        spec, count = spec.rsplit("@", 1)
        positional = int(count)
    optional = spec.startswith("?") and len(spec) > 1
    if optional:
        spec = spec[1:]
    head, _, rest = spec.partition("[")
    args: list = []
    if rest:
        depth, start, inner = 0, 0, rest[:-1]
        for index, char in enumerate(inner + ","):
            if char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
            elif char == "," and depth == 0:
                part = inner[start:index].strip()
                args.append(parse_spec(part)[:2] if part else ("?", ()))
                start = index + 1
    return head, tuple(args), optional, positional


# -- C modules ----------------------------------------------------------------------------

# Extension modules of the interpreter's lib-dynload that are safe to import for ``dir``
# (no terminal, signal or thread side effects); compiled-in modules are always allowed.
SAFE_EXTENSION_MODULES = frozenset(
    {
        "math",
        "cmath",
        "_struct",
        "binascii",
        "select",
        "array",
        "_json",
        "_pickle",
        "_datetime",
        "_random",
        "_bisect",
        "_heapq",
        "unicodedata",
        "zlib",
        "_socket",
        "_csv",
        "_contextvars",
        "_queue",
        "_posixsubprocess",
        "fcntl",
        "grp",
        "resource",
        "mmap",
        "_opcode",
        "_statistics",
        "_md5",
        "_sha1",
        "_sha256",
        "_sha512",
        "_sha3",
        "_blake2",
        "_hashlib",
        "_bz2",
        "_lzma",
        "_uuid",
        "pyexpat",
        "_elementtree",
        "_zoneinfo",
        "_multiprocessing",
        "_posixshmem",
        "_typing",
    }
)
# C modules whose names are the same on every platform: only their member sets are given
# (``sys``, ``posix``/``os``, ``time``, ``errno``, ``signal``, ``select``... differ between
# Linux, macOS and Windows, and cross-platform code names the others' members).
PLATFORM_NEUTRAL_MODULES = frozenset(
    {
        "math",
        "cmath",
        "_struct",
        "binascii",
        "zlib",
        "_json",
        "_pickle",
        "_datetime",
        "_random",
        "_bisect",
        "_heapq",
        "unicodedata",
        "array",
        "_csv",
        "_contextvars",
        "_queue",
        "_md5",
        "_sha1",
        "_sha256",
        "_sha512",
        "_sha3",
        "_blake2",
        "_statistics",
        "_opcode",
        "itertools",
        "_collections",
        "_functools",
        "_operator",
        "_codecs",
        "_weakref",
        "marshal",
        "gc",
        "atexit",
        "_abc",
        "_sre",
        "_string",
        "_symtable",
        "_tokenize",
        "_tracemalloc",
        "_warnings",
        "_ast",
        "_typing",
        "builtins",
    }
)
# Modules whose classes are the same on every platform although the module is not (its
# other names may not be: :data:`OTHER_PLATFORM_NAMES`).
PLATFORM_NEUTRAL_CLASSES = frozenset({"_io", "_thread", "sys", "time"})
# Names typeshed's stubs leave out: private names of the interpreter (``sys._home``) and
# of debug, statistics and Emscripten builds; open flags of the BSDs.
_UNSTUBBED_NAMES = {
    "sys": frozenset(
        {
            "_vpath",
            "_emscripten_info",
            "getobjects",
            "_stats_on",
            "_stats_off",
            "_stats_clear",
            "_stats_dump",
            "_setprofileallthreads",
            "_settraceallthreads",
            "_baserepl",
            "_get_cpu_count_config",
            "_home",
            "_stdlib_dir",
            "_base_executable",
        }
    ),
    "posix": frozenset(
        {"O_TTY_INIT", "O_VERIFY", "O_EMPTY_PATH", "O_RESOLVE_BENEATH", "O_NOSIGPIPE"}
    ),
}
# Every name a platform-dependent C module has on any platform, build or Python version:
# with them, whatever the interpreter here has, its member set is closed (cross-platform
# code may name ``sys.getwindowsversion`` or ``os.O_BINARY`` on Linux, ``sys.abiflags`` on
# Windows). ``errno``, ``signal``, ``select``, ... stay open.
OTHER_PLATFORM_NAMES = {
    name: names | _UNSTUBBED_NAMES.get(name, frozenset())
    for name, names in STUB_PLATFORM_NAMES.items()
}
# Attributes a C module gets only at run time (interactive prompts, last exception, ...).
RUNTIME_MODULE_ATTRIBUTES = {
    "sys": frozenset(
        {
            "ps1",
            "ps2",
            "last_type",
            "last_value",
            "last_traceback",
            "last_exc",
            "tracebacklimit",
            "__interactivehook__",
            "_git",
            "exitfunc",
            # set by freezers (PyInstaller, py2exe), other interpreters and old tools
            "frozen",
            "_MEIPASS",
            "pypy_version_info",
            "pypy_translation_info",
            "real_prefix",
            "_called_from_test",
        }
    )
}
# Windows-only modules: a star import of one in a standard-library module is a branch that
# does not run here (and binds nothing where it would fail).
WINDOWS_ONLY_MODULES = frozenset({"nt", "winreg", "msvcrt", "_winapi", "_overlapped", "winsound"})
# Module attributes whose value is commonly replaced at run time (its type is not certain).
REPLACEABLE_ATTRIBUTES = frozenset(
    {
        ("sys", "stdout"),
        ("sys", "stderr"),
        ("sys", "stdin"),
        ("sys", "displayhook"),
        ("sys", "excepthook"),
        ("sys", "breakpointhook"),
    }
)
_CONSTANT_TYPES = (int, float, str, bytes, bool, complex, tuple, frozenset, list, dict)


class CModule:
    """A C module of the interpreter, seen through ``dir`` (never a user's file).

    ``complete`` is True when :attr:`names` are all its names on every platform (see
    :data:`PLATFORM_NEUTRAL_MODULES`; a module of :data:`OTHER_PLATFORM_NAMES` has those
    names too); its constants are known either way, its classes only where their members
    do not depend on the platform either (:data:`PLATFORM_NEUTRAL_CLASSES`:
    ``os.stat_result`` has ``st_file_attributes`` on Windows only).
    """

    def __init__(self, name: str, module: types.ModuleType):
        self.name = name
        self._module = module
        self.complete = name in PLATFORM_NEUTRAL_MODULES or name in OTHER_PLATFORM_NAMES
        self.classes_known = name in PLATFORM_NEUTRAL_MODULES or name in PLATFORM_NEUTRAL_CLASSES
        self.names: frozenset[str] = (
            frozenset(dir(module))
            | RUNTIME_MODULE_ATTRIBUTES.get(name, frozenset())
            | OTHER_PLATFORM_NAMES.get(name, frozenset())
        )
        exported = getattr(module, "__all__", None)
        if isinstance(exported, list | tuple) and all(isinstance(n, str) for n in exported):
            self.exported: frozenset[str] = frozenset(exported)
        else:
            self.exported = frozenset(n for n in self.names if not n.startswith("_"))

    def attribute_kind(self, name: str) -> tuple[str, object]:
        """("class", BuiltinClass) | ("module", name) | ("constant", BuiltinClass) | ("", None)."""
        if name not in self.names or (self.name, name) in REPLACEABLE_ATTRIBUTES:
            return "", None
        value = getattr(self._module, name, None)
        if isinstance(value, type):
            if not self.classes_known:
                return "", None  # e.g. _socket.socket: its methods differ by platform
            return "class", builtin_type(value)
        if isinstance(value, types.ModuleType):
            return "module", value.__name__
        if type(value) in _CONSTANT_TYPES and not name.startswith("_"):
            return "constant", builtin_type(type(value))
        return "", None

    def __repr__(self) -> str:
        return f"CModule({self.name})"


def _dynload_dirs() -> set[str]:
    """The interpreter's extension-module directories (also seen from inside a venv)."""
    found = {os.path.join(sysconfig.get_paths()["stdlib"], "lib-dynload")}
    shared = sysconfig.get_config_var("DESTSHARED")
    if shared:
        found.add(shared)
    return {os.path.realpath(d) for d in found}


def _is_interpreter_extension(name: str) -> bool:
    """True when importing ``name`` loads the interpreter's own extension file."""
    loaded = sys.modules.get(name)
    origin = getattr(loaded, "__file__", None) if loaded is not None else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return False
        origin = spec.origin if spec is not None else None
    if not origin or not origin.endswith((".so", ".pyd")):
        return False
    return os.path.dirname(os.path.realpath(origin)) in _dynload_dirs()


_C_MODULES: dict[str, CModule | None] = {}


def c_module(name: str) -> CModule | None:
    """The C module ``name`` (compiled in, or a safe lib-dynload extension), else None."""
    with _LOCK:
        if name in _C_MODULES:
            return _C_MODULES[name]
    result = None
    try:
        if name in sys.builtin_module_names or (
            name in SAFE_EXTENSION_MODULES and _is_interpreter_extension(name)
        ):
            module = sys.modules.get(name) or importlib.import_module(name)
            if getattr(module, "__file__", None) is None or name in SAFE_EXTENSION_MODULES:
                result = CModule(name, module)
    except Exception:  # an unavailable module is simply unknown
        result = None
    with _LOCK:
        return _C_MODULES.setdefault(name, result)
