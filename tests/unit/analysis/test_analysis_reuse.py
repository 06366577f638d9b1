"""Work the analysis shares or skips per request (issue 14: analysis under 5 ms on large files).

Each shortcut must give the answer the full computation gives: the restart line found
by bisection equals a scan of every statement, one re-parsed environment serves the
answer before the cursor's "." and the drafts' answers after it, and facts cached by
text follow the text.
"""

from __future__ import annotations

import random

from analysis_testing import CURSOR, oracle_for, strict_analysis  # noqa: F401

from analysis import python_symbols
from analysis.context import (
    _STATEMENT_CONTAINERS,
    _STRINGISH,
    clear_environments,
    member_oracle,
    restart_byte,
)
from analysis.document import Document
from analysis.languages import parser_for
from analysis.python_symbols import (
    PyClass,
    PyModule,
    SurroundCache,
    TextCache,
    class_base_names_in,
    has_dynamic_attribute_signs,
)
from analysis.workspace import WorkspaceIndex

PYTHON = '''import os

X = 1; Y = 2
class Store:
    """A store.

    def not_code(self):
    """

    def put(self, key, value):
        if key:
            self.items[key] = value  # a comment
        else:
            raise KeyError(
                key,
            )

    def get(self, key
        return self.items[key]


def helper(a, b):
    for item in a:
        yield item
    return b
'''

JAVASCRIPT = """const a = 1; let b = 2;
class Store {
  put(key, value) {
    if (key) { this.items[key] = value; }
    const s = `template ${key}
    more`;
    return s;
  }
}
function helper(x) {
  return x +
}
"""


def restart_by_full_scan(root, data: bytes, target: int) -> int:
    """The reference: every statement before ``target`` on the way down is a candidate."""
    best = 0
    node = root
    while node is not None and node.type not in _STRINGISH:
        holder = None
        children = node.children
        for index, child in enumerate(children):
            if child.start_byte > target:
                break
            if node.type in _STATEMENT_CONTAINERS and child.is_named:
                if child.type not in ("ERROR", "comment"):
                    start = data.rfind(b"\n", 0, child.start_byte) + 1
                    if not data[start : child.start_byte].strip():
                        best = max(best, start)
                    if child.end_byte <= target and not child.has_error:
                        after = data.find(b"\n", child.end_byte)
                        following = (
                            children[index + 1].start_byte if index + 1 < len(children) else None
                        )
                        if 0 <= after < target and (following is None or following > after):
                            best = max(best, after + 1)
            if child.start_byte <= target < child.end_byte:
                holder = child
        node = holder
    return best


def test_restart_line_by_bisection_equals_the_full_scan_at_every_offset():
    for language, source in (("python", PYTHON), ("javascript", JAVASCRIPT)):
        data = source.encode()
        tree = parser_for(language).parse(data)
        restarts = set()
        for target in range(len(data) + 1):
            expected = restart_by_full_scan(tree.root_node, data, target)
            assert restart_byte(tree.root_node, data, target) == expected, (language, target)
            restarts.add(expected)
        assert len(restarts) > 8  # the sources have many restart lines


def test_restart_line_on_randomly_damaged_code():
    rng = random.Random(7)
    source = PYTHON * 3
    for _ in range(20):
        cut = rng.randrange(len(source) - 30)
        damaged = (source[:cut] + source[cut + rng.randrange(1, 30) :]).encode()
        tree = parser_for("python").parse(damaged)
        for target in rng.sample(range(len(damaged) + 1), 40):
            expected = restart_by_full_scan(tree.root_node, damaged, target)
            assert restart_byte(tree.root_node, damaged, target) == expected


STORE = """
class Store:
    def __init__(self):
        self.items = {}

    def put(self, key, value):
        <|>
"""


def test_one_environment_answers_before_and_after_the_dot():
    oracle = oracle_for(STORE.replace("<|>", "self.<|>"))
    before_dot = oracle.members("", 1)  # the code before the cursor's "."
    assert before_dot is not None and {"items", "put"} <= before_dot
    for draft in ("it", "items", "items.pop(key)"):
        oracle.members(draft)  # what the monitor asks while a draft grows
    assert len(oracle._environments) == 1
    # and the shared environment answers each draft as a fresh oracle would
    clear_environments()
    fresh = oracle_for(STORE.replace("<|>", "self.<|>"))
    assert fresh.members("items.copy()") == oracle.members("items.copy()")


def _typed(source: str, typed: str, workspace: WorkspaceIndex | None = None):
    """(document, oracle at the ``<|>`` marker, oracle after ``typed`` is typed there)."""
    offset = source.index(CURSOR)
    document = Document("file:///tmp/store.py", source.replace(CURSOR, ""), "python")
    first = member_oracle(document, offset, workspace)
    first.members("", 1)  # the request at the "."
    document.apply_change(offset, offset, typed)
    return document, first, member_oracle(document, offset + len(typed), workspace)


def test_a_keystroke_on_the_same_line_reuses_the_environment_of_the_request_before():
    _, first, after = _typed(STORE.replace("<|>", "self.<|>"), "it")
    assert after.members("", 3) == first.members("", 1)  # ``self`` before the ".it"
    assert list(after._environments.values()) == list(first._environments.values())
    # its answers for drafts are those of an environment built afresh
    reused = after.members("ems.copy()", 0)
    clear_environments()
    _, _, fresh = _typed(STORE.replace("<|>", "self.<|>"), "it")
    assert fresh.members("ems.copy()", 0) == reused is not None
    assert list(fresh._environments.values()) != list(after._environments.values())


def test_an_edit_on_another_line_is_never_answered_from_a_kept_environment():
    document, first, _ = _typed(STORE.replace("<|>", "self.<|>"), "")
    assert "drop" not in first.members("", 1)
    end = len(document.text)
    document.apply_change(end, end, "\n    def drop(self, key):\n        del self.items[key]\n")
    cursor = STORE.replace("<|>", "self.<|>").index(CURSOR)
    again = member_oracle(document, cursor, None)
    assert "drop" in again.members("", 1)


def test_a_changed_workspace_module_is_resolved_afresh(tmp_path):
    (tmp_path / "helpers.py").write_text("def first():\n    pass\n")
    workspace = WorkspaceIndex(tmp_path)
    workspace.build()
    source = "import helpers\n\ndef main():\n    helpers.<|>\n"
    _, first, _ = _typed(source, "", workspace)
    assert {"first"} <= first.members("", 1) and "second" not in first.members("", 1)
    workspace.update_file(
        tmp_path / "helpers.py", "def first():\n    pass\ndef second():\n    pass\n"
    )
    # the document is the same text: only the workspace's generation tells them apart
    _, again, _ = _typed(source, "", workspace)
    assert {"first", "second"} <= again.members("", 1)


def test_base_names_are_read_from_class_headers_at_line_starts():
    data = b"""class A(Base, mod.Mixin, metaclass=Meta):
    class Inner (Other) :
        pass
x = classify(Thing)
s = "class Fake(NotABase)"
class Plain:
    pass
class Multi(
    First,
    Second):
    pass
"""
    names = class_base_names_in(data)
    assert {"Base", "metaclass", "Meta", "Other", "First", "Second"} <= names
    assert "mod" in names  # the text before a dot is a name too (over-approximates)
    # ``mod.Mixin`` names another module's class; calls, strings and plain classes name none
    assert not {"Mixin", "Thing", "NotABase", "Plain"} & names
    # a module reads them per statement (a class's header and each body statement): the same
    module = PyModule(data, parser_for("python").parse(data))
    assert module.scanned_union("class_bases") == names


def test_text_cache_is_least_recently_used_and_bounded_by_bytes():
    cache = TextCache(max_bytes=10)
    cache.put(b"aaaa", frozenset({"a"}))
    cache.put(b"bbbb", frozenset({"b"}))
    assert cache.get(b"aaaa") == {"a"}  # now the most recently used
    cache.put(b"cccc", frozenset({"c"}))  # 12 bytes: the oldest entry goes
    assert cache.get(b"bbbb") is None
    assert cache.get(b"aaaa") == {"a"} and cache.get(b"cccc") == {"c"}
    # many at once: the same answers, and the hits become the most recently used
    assert cache.get_many([b"cccc", b"bbbb", b"aaaa"]) == [{"c"}, None, {"a"}]
    cache.put(b"dddd", frozenset({"d"}))
    assert cache.get(b"cccc") is None and cache.get(b"aaaa") == {"a"}


def _first_class(source: str):
    data = source.encode()
    module = PyModule(data, parser_for("python").parse(data))
    node = next(c for c in module.root.named_children if c.type == "class_definition")
    return module.class_at(node)


def test_first_parameter_uses_follow_the_class_text():
    source = "class C:\n    def m(self):\n        return self.a + self.b\n"
    assert _first_class(source).first_parameter_uses == {"a", "b"}
    # the same class elsewhere in another file: the same answer
    assert _first_class("import os\n\n" + source).first_parameter_uses == {"a", "b"}
    # an edit of the class changes it (the cache is keyed by the class's text)
    edited = source.replace("self.b", "self.c")
    assert _first_class(edited).first_parameter_uses == {"a", "c"}
    # a static method's first parameter is no instance
    static = "class C:\n    @staticmethod\n    def m(self):\n        return self.a\n"
    assert _first_class(static).first_parameter_uses == frozenset()


MODULE = """import os, sys as system
from json import *
from collections import OrderedDict as OD
import enum

X = 1; Y = 2
if system.platform == "win32":
    def helper(): pass
else:
    helper = None
try:
    import fast
except ImportError:
    fast = None
if (found := os.environ.get("X")):
    pass

def use():
    global LATE
    LATE = (inner := 1)
    return inner

@enum.global_enum
class Colour(enum.Enum):
    RED = 1

class Box:
    size: int = 0
other.attr = 1
setattr(thing, "made", 2)
X = def broken
"""


def _module(source: str) -> PyModule:
    data = source.encode()
    return PyModule(data, parser_for("python").parse(data))


def _full_namespace(module: PyModule):
    """The namespace as one pass over the module collects it (the reference)."""
    from analysis.python_symbols import Binding, collect_bindings

    bindings = collect_bindings(module, module.root)
    for name in module._global_declarations():
        bindings.add(name, Binding("other"))
    for name in module.global_enum_names:
        bindings.add(name, Binding("other"))
    return bindings


def _described(module: PyModule, bindings: list) -> list[tuple]:
    text = module.text
    return [(b.kind, text(b.node), text(b.annotation), b.module, b.name) for b in bindings]


def test_module_names_equal_one_full_collection_before_and_after_an_edit():
    from analysis.resolution import _stored_attribute_names

    for source in (MODULE, MODULE.replace("class Box:", "class Crate:")):
        for _ in range(2):  # the second module reads every statement's facts from the cache
            module, reference = _module(source), _full_namespace(_module(source))
            names = module.namespace.names
            assert list(names) == list(reference.names) and len(names) == len(reference.names)
            for name in reference.names:
                assert _described(module, names[name]) == _described(module, reference.names[name])
            assert module.namespace.stars == reference.stars == [("json", 0)]
            assert "missing" not in names and names.get("missing") is None
            assert _stored_attribute_names(module) == {"attr", "made"}
    edited = _module(MODULE.replace("class Box:", "class Crate:"))
    assert "Crate" in edited.namespace.names and "Box" not in edited.namespace.names
    # bindings are nodes of the module's own tree, not of the tree the facts came from
    (crate,) = edited.namespace.names["Crate"]
    assert crate.node is not None and edited.text(crate.node).startswith("class Crate")
    assert {"found", "LATE", "RED", "helper", "fast", "OD", "system"} <= set(edited.namespace.names)
    assert "inner" not in edited.namespace.names  # a walrus in a function binds there


def test_a_looked_up_name_reads_only_the_statements_binding_it():
    _module(MODULE).namespace  # noqa: B018 - every statement's facts are now cached
    module = _module(MODULE)
    names = module.namespace.names
    statements = [node for node, _ in module.statements]

    def read() -> set[str]:  # the statements read so far (a syntax error is read each time)
        kept = module._statement_bindings
        return {statements[i].type for i in kept if not statements[i].has_error}

    assert "helper" in names and read() == set()
    assert [b.kind for b in names["helper"]] == ["def", "assign"]
    assert read() == {"if_statement"}  # the statement binding it, and nothing else


CLASS = """class Node:
    def __init__(self, parent):
        self.parent = parent
        self.children = []

    @classmethod
    def make(cls):
        cls.made = True
        return cls(None)

    @staticmethod
    def check(self):
        self.not_an_attribute = 1

    def __new__(cls, *args):
        self = super().__new__(cls)
        self.created = True
        return self

    def walk(self):
        for self.cursor in self.children:
            yield self.cursor.value
"""


def test_method_facts_follow_each_method_text():
    for _ in range(2):  # the second class reads every method from the cache
        cls = _first_class(CLASS)
        reference = {
            name: {scope.first_parameter_role for _, scope in stores}
            for name, stores in _first_class(CLASS).first_parameter_attributes.items()
        }
        assert (
            cls.first_parameter_attribute_roles
            == reference
            == {
                "parent": {"instance"},
                "children": {"instance"},
                "made": {"class"},
                "created": {"class"},
                "cursor": {"instance"},
            }
        )
        assert cls.first_parameter_uses == {"parent", "children", "cursor"}
    # one method edited: its facts change, the other methods' stay
    edited = _first_class(CLASS.replace("self.children = []", "self.kids = []"))
    assert "kids" in edited.first_parameter_attribute_roles
    assert "children" not in edited.first_parameter_attribute_roles
    assert edited.first_parameter_uses == {"parent", "kids", "children", "cursor"}
    # a method with a syntax error is read from its own tree each time
    source = CLASS.replace("self.parent = parent", "self.parent = (parent +")
    broken, reference = _first_class(source), _first_class(source).first_parameter_attributes
    assert set(broken.first_parameter_attribute_roles) == set(reference) >= {"made", "cursor"}


def test_one_attribute_bindings_read_only_the_methods_storing_it():
    source = CLASS + "\n    def reset(self):\n        self.children = list(self.children)\n"
    whole = _first_class(source).first_parameter_attributes

    def entries(stores):
        return [(b.kind, b.node and b.node.start_byte, s.node.start_byte) for b, s in stores]

    cls = _first_class(source)
    for name in (*whole, "missing", "not_an_attribute"):
        assert entries(cls.first_parameter_bindings(name)) == entries(whole.get(name, []))
    # two stores of "children" in two methods, in source order
    assert [b.node.type for b, _ in cls.first_parameter_bindings("children")] == ["list", "call"]
    # only the methods storing the name were queried: the whole-class query never ran
    assert "first_parameter_attributes" not in cls.__dict__
    # once the whole-class facts exist, the lookup reads them
    done = _first_class(source)
    done.first_parameter_attributes  # noqa: B018
    assert entries(done.first_parameter_bindings("parent")) == entries(whole["parent"])


def test_dynamic_signs_and_global_declarations_are_read_per_statement():
    quiet = "import sys\n\ndef f():\n    global A, B\n    x = 'global C'\n    return vars()\n"
    for _ in range(2):  # the second module reads every statement from the cache
        module = _module(quiet)
        assert module._global_declarations() == {"A", "B"}
        assert not module.dynamic
    signs = {
        "exec(code)\n": True,  # exec( opening the module
        "x = 1\nexec(code)\n": True,  # ... or a line
        "x = 1; exec(code)\n": False,  # not at a line start: as the module-wide scan read it
        "def f():\n    exec(code)\n": False,
        "def f():\n    vars()['x'] = 1\n": True,
        "sys.modules[__name__].x = 1\n": True,
        "E = enum.Enum._convert_('E', __name__, f)\n": True,
        "def f():\n    return globals().get('x')\n": False,  # only read
        "def f(code):\n    exec(code, globals())\n": True,
        "G = globals()\ndef f():\n    G['x'] = 1\n": True,  # an alias written elsewhere
    }
    for source, dynamic in signs.items():
        for _ in range(2):
            assert _module(source).dynamic is dynamic, source


def test_class_attribute_stores_from_outside_are_statement_facts():
    from analysis.resolution import _external_class_attributes, _setattr_targets

    source = (
        "class Shape:\n    pass\n\n"
        "Shape.sides = 4\nShape .area += 1\nother.Shape.not_this = 1\nMyShape.nor_this = 2\n"
        "Shape.compared == 3\nsetattr(Shape, 'x', 1)\n"
        "def f(cls):\n    Shape.inside = 1\n    setattr( cls , 'y', 2)\n"
    )
    for _ in range(2):  # the second module reads every statement from the cache
        module = _module(source)
        assert _external_class_attributes(module, "Shape") == {"sides", "area", "inside"}
        assert _external_class_attributes(module, "MyShape") == {"nor_this"}
        assert _external_class_attributes(module, "Missing") == set()
        assert _setattr_targets(module) == {"Shape", "cls"}
    # a non-ASCII class name is read by a scan of the module
    assert _external_class_attributes(_module("Größe.wert = 1\n"), "Größe") == {"wert"}


def test_a_class_is_scanned_one_body_statement_at_a_time():
    from analysis import python_symbols
    from analysis.python_symbols import statement_text_facts, text_facts_in

    source = (
        "@decorate\nclass Config(Base):\n"
        "    exec('x = 1')\n"  # not a module-level exec: no dynamic sign
        "    def load(self, other):\n        other.seen = 1\n        Config.count += 1\n"
        "    def save(self):\n        global STATE\n        setattr(self, 'saved', True)\n"
    )

    def facts(text: str):
        data = text.encode()
        node = parser_for("python").parse(data).root_node.children[0]
        return statement_text_facts(node, data), text_facts_in(data)

    cache = python_symbols._CLASS_PART_FACTS
    cache._entries.clear()  # what an earlier test read is not this test's to count
    cache._bytes = 0
    for _ in range(2):  # the second read takes every body statement from the cache
        chunked, whole = facts(source)
        assert chunked == whole
        assert chunked.signs == frozenset()
        assert chunked.name_stores == {("other", "seen"), ("Config", "count")}
        assert chunked.declared_global == {"STATE"} and chunked.setattr_targets == {"self"}
    # an edited method is scanned again; the others come from the cache
    edited = source.replace("other.seen = 1", "other.known = 1")
    before = len(cache._entries)
    chunked, whole = facts(edited)
    assert chunked == whole and ("other", "known") in chunked.name_stores
    assert len(cache._entries) == before + 1  # only the edited method was new


def test_surround_cache_finds_the_text_around_a_range_by_a_memory_compare():
    cache: SurroundCache[str] = SurroundCache(max_bytes=20)
    data = b"head|middle|tail"
    cache.put(data, 5, 11, "facts")
    assert cache.get(data, 5, 11) == "facts"
    assert cache.get(b"head|MIDDLE|tail", 5, 11) == "facts"  # the range itself may change
    assert cache.get(b"HEAD|middle|tail", 5, 11) is None  # the text before it did
    assert cache.get(b"head|middle|TAIL", 5, 11) is None  # the text after it did
    assert cache.get(b"head|middle|tail!", 5, 11) is None  # longer after it
    assert cache.get(data, 4, 11) is None
    cache.put(b"HEAD|middle|tail", 5, 11, "other")  # the same place in another text
    assert cache.get(data, 5, 11) is None
    assert cache.get(b"HEAD|xx|tail", 5, 7) == "other"
    cache.put(b"0123456789abcdef", 2, 4, "big")  # 14 bytes kept: the oldest entry goes
    assert cache.get(b"HEAD|middle|tail", 5, 11) is None
    assert cache.get(b"01..456789abcdef", 2, 4) == "big"
    cache.clear()
    assert cache.get(b"01..456789abcdef", 2, 4) is None


def test_dynamic_attribute_signs_are_writes_by_name_to_self_or_cls():
    for text in (
        b"setattr(self, name, value)",
        b"setattr( cls ,'x', 1)",
        b"self.__dict__[key] = value",
        b"self.__dict__.update(kwargs)",
        b"cls.__dict__.setdefault('a', 1)",
        b"vars(self)[key] = value",
        b"vars(self).update(kwargs)",
    ):
        assert has_dynamic_attribute_signs(text), text
    for text in (
        b"setattr(other, name, value)",
        b"self.__dict__[key] == value",
        b"return self.__dict__",
        b"vars(other).update(kwargs)",
        b"variables = 1",
    ):
        assert not has_dynamic_attribute_signs(text), text


def test_class_names_are_kept_per_body_statement_text(monkeypatch):
    source = b"""class Store:
    kind = "store"

    def put(self, key, value):
        self.items[key] = value

    def get(self, key):
        return self.items[key]
"""
    read: list[bytes] = []
    original = PyClass._part_facts

    def part_facts(self, index, node, text):
        read.append(text)
        return original(self, index, node, text)

    monkeypatch.setattr(PyClass, "_part_facts", part_facts)
    monkeypatch.setattr(python_symbols, "_CLASS_PARTS", TextCache(1_000_000))  # none kept yet
    parser = parser_for("python")

    def store(data: bytes) -> PyClass:
        module = PyModule(data, parser.parse(data))
        (binding,) = module.namespace.names["Store"]
        return module.class_at(binding.node)

    first = store(source)
    assert {"kind", "put", "get"} <= first.body_names
    edited = source.replace(b"return self.items[key]", b"return self.items.get(key)")
    edited = edited.replace(b"def get(self, key)", b"def fetch(self, key)")
    read.clear()
    second = store(edited)
    assert second.body_names == {"kind", "put", "fetch"}
    assert len(read) == 1 and read[0].startswith(b"def fetch")  # the edited method alone
    # a statement with a syntax error is read each time, never kept
    broken = edited.replace(b"def fetch(self, key):", b"def fetch(self, key:")
    read.clear()
    store(broken).body_names  # noqa: B018
    store(broken).body_names  # noqa: B018
    assert len(read) == 2
