"""Environments re-parsed over the top-level statements around the edit, or over a class's
header and the body statements around the edit (issue 14: analysis under 5 ms on large
files).

The placeholder takes the length of the text it replaces, so the document tree's own nodes
serve for the rest of the module (:class:`analysis.python_symbols.Surround`). Every answer
must equal the one of the whole document re-parsed, and whatever the module knows from
outside the range -- names bound after it, stores, ``setattr``, ``global`` -- must be seen.
"""

from __future__ import annotations

import re

import pytest
from analysis_testing import strict_analysis  # noqa: F401

import analysis.context
from analysis.context import _padded, member_oracle
from analysis.document import Document
from analysis.python_symbols import _OUTSIDE_FACTS

MODULE = '''"""A module with enough top-level statements that one function is a small part of it."""
import os
from dataclasses import dataclass

LIMIT = 10
if (WALRUS := 3) > 2:
    pass


class Base:
    kind = "base"

    def describe(self):
        return self.kind.upper()


@dataclass
class Point:
    x: int
    y: int = 0

    def norm(self):
        return self.x * self.x + self.y * self.y


class Store(Base):
    def __init__(self):
        self.items = {}
        self.count = 0

    def put(self, key, value):
        self.items[key] = value
        self.count += 1
        return self.describe()

    def first(self):
        point = Point(1, 2)
        return point.norm()


def helper(store: Store) -> Store:
    global SEEN
    SEEN = store
    name = os.path.basename("a/b")
    return store


def pipeline():
    store = helper(Store())
    later = Later()
    return later.run(store.items)


class Later:
    def run(self, items):
        return sorted(items)

    def again(self):
        return self.run([])


AFTER = "text"
store_outside = Store()
store_outside.extra = 1
''' + "".join(f"\n\ndef filler_{i}(a, b):\n    return a + b * {i}\n" for i in range(30))


def dereferences(text: str) -> list[tuple[int, str]]:
    """(offset just after the ``.``, the member written there) of each ``name.member``."""
    found = []
    for match in re.finditer(r"\b[A-Za-z_]\w*\.([A-Za-z_]\w*)", text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        if text[line_start : match.start()].lstrip().startswith(("import", "from", '"""')):
            continue
        found.append((match.start(1), match.group(1)))
    return found


def answers(text: str, offset: int, member: str, share: float, monkeypatch) -> tuple:
    """The oracle's answers at ``offset`` (the member removed) with environments parsed as
    ``share`` says, and whether a range environment answered."""
    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", share)
    analysis.context.clear_environments()
    document = Document("file:///tmp/module.py", text[:offset] + text[offset + len(member) :])
    oracle = member_oracle(document, offset)
    found = (
        oracle.members("", 1),
        oracle.assignable("", 1),
        oracle.declared("", 1),
        oracle.members(member, 0),
        oracle.members(member + "()", 0),
        oracle.members(member + "(x).y\n    z = self", 0),
    )
    ranged = any(e is not None and e.surround is not None for e in oracle._environments.values())
    return found, ranged


@pytest.mark.parametrize("offset,member", dereferences(MODULE))
def test_a_range_environment_answers_as_the_whole_document_re_parsed(offset, member, monkeypatch):
    whole, whole_ranged = answers(MODULE, offset, member, -1.0, monkeypatch)
    ranged, used = answers(MODULE, offset, member, 1 / 4, monkeypatch)
    assert not whole_ranged and used  # the document is large enough against one function
    assert ranged == whole


def test_names_from_outside_the_range_are_seen(monkeypatch):
    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", 1 / 4)
    at = MODULE.index("return later.run(") + len("return later.")
    document = Document("file:///tmp/module.py", MODULE[:at] + MODULE[at + 3 :])
    oracle = member_oracle(document, at)
    assert {"run", "again"} <= oracle.members("", 1)  # a class defined after the range
    at = MODULE.index("return self.describe()") + len("return self.")
    document = Document("file:///tmp/module.py", MODULE[:at] + MODULE[at + 8 :])
    members = member_oracle(document, at).members("", 1)
    # a base class before the range, and what is stored on instances after it
    assert {"describe", "kind", "items", "count", "extra"} <= members


def test_setattr_outside_the_range_leaves_the_class_open(monkeypatch):
    text = MODULE.replace('AFTER = "text"', 'setattr(Base, "added", 1)\nAFTER = "text"')
    at = text.index("return self.describe()") + len("return self.")
    for share in (-1.0, 1 / 4):
        monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", share)
        analysis.context.clear_environments()
        document = Document("file:///tmp/module.py", text[:at] + text[at + 8 :])
        assert member_oracle(document, at).members("", 1) is None


def test_a_syntax_error_in_the_range_re_parses_the_whole_document(monkeypatch):
    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", 1.0)
    broken = MODULE.replace("point = Point(1, 2)", "point = Point(1, 2")  # after the cursor
    at = broken.index("return self.describe()") + len("return self.")
    document = Document("file:///tmp/module.py", broken[:at] + broken[at + 8 :])
    oracle = member_oracle(document, at)
    oracle.members("", 1)
    (environment,) = oracle._environments.values()
    assert environment.surround is None
    assert "describe" in oracle.members("", 1)


def test_a_range_large_against_the_document_re_parses_the_whole_document(monkeypatch):
    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", 1 / 4)
    text = "import os\n\n\nclass Only:\n    def go(self):\n        self.\n        return 1\n"
    at = text.index("self.") + len("self.")
    oracle = member_oracle(Document("file:///tmp/only.py", text), at)
    assert oracle.members("", 1) is not None
    (environment,) = oracle._environments.values()
    assert environment.surround is None


def test_a_keystroke_reuses_a_range_environment_whatever_its_padding(monkeypatch):
    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", 1 / 4)
    at = MODULE.index("return self.describe()") + len("return self.")
    document = Document("file:///tmp/module.py", MODULE[:at] + MODULE[at + 8 :])
    first = member_oracle(document, at)
    before = first.members("", 1)
    (environment,) = first._environments.values()
    assert environment.surround is not None
    document.apply_change(at, at, "de")  # the line grows: a range parse would pad less
    after = member_oracle(document, at + 2)
    assert after.members("", 3) == before
    assert list(after._environments.values()) == [environment]


def test_the_facts_around_a_range_are_read_once_per_their_text(monkeypatch):
    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", 1 / 4)
    _OUTSIDE_FACTS.clear()
    at = MODULE.index("return self.describe()") + len("return self.")
    document = Document("file:///tmp/module.py", MODULE[:at] + MODULE[at + 8 :])
    first = member_oracle(document, at)
    first.members("", 1)
    ((_, _, kept),) = _OUTSIDE_FACTS._entries.values()
    # another statement of the same class: the same text around it
    other = MODULE.index("self.items[key] = value") + len("self.")
    again = member_oracle(Document("file:///tmp/module.py", MODULE), other)
    assert again.members("", 1) == first.members("", 1)
    (environment,) = again._environments.values()
    assert environment.module()._outside is kept
    # an edit outside the range is a different text: read afresh, and its names are seen
    edited = MODULE.replace('    kind = "base"\n', '    kind = "base"\n    shade = 1\n')
    other = edited.index("self.items[key] = value") + len("self.")
    fresh = member_oracle(Document("file:///tmp/module.py", edited), other)
    assert "shade" in fresh.members("", 1)
    (environment,) = fresh._environments.values()
    assert environment.module()._outside is not kept


def test_padding_keeps_the_length_and_the_lines():
    assert _padded(b"    _\n", b"    self.items\n") == b"    _" + b" " * 9 + b"\n"
    assert _padded(b"    _\n", b"    f(a,\n      b\n") == b"    _" + b" " * 10 + b"\n\n"
    assert _padded(b"    if _:\n", b"    x.\n") is None  # longer: the whole document
    assert _padded(b"a\nb\n", b"abcdef\n") is None  # more lines
    for inserted, replaced in ((b"_\n", b"self.x\n"), (b"  _\n", b"  (a,\n   b)\n")):
        padded = _padded(inserted, replaced)
        assert len(padded) == len(replaced) and padded.count(b"\n") == replaced.count(b"\n")


def test_a_module_around_a_range_has_the_facts_of_the_whole_module(monkeypatch):
    from dataclasses import fields

    from analysis.languages import parser_for
    from analysis.python_symbols import PyModule, TextFacts
    from analysis.resolution import _assigned_attribute_names

    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", 1 / 4)
    text = MODULE.replace(
        "    name = os.path.basename",
        "    if (inner := 1):\n        exec('y = 1')\n    name = os.path.basename",
    ).replace('AFTER = "text"', 'AFTER = "text"\nif (LATE := 2):\n    globals()["Z"] = 1')
    at = text.index("global SEEN")
    document = Document("file:///tmp/module.py", text)
    oracle = member_oracle(document, at + len("global SEEN\n    SEEN = store"))
    oracle.members("", 1)  # ``store.``: its environment
    (environment,) = oracle._environments.values()
    ranged = environment.module()
    assert ranged.surround is not None
    whole = PyModule(environment.data, parser_for("python").parse(environment.data))
    assert [n.start_byte for n in ranged.top_level] == [n.start_byte for n in whole.top_level]
    assert set(ranged.namespace.names) == set(whole.namespace.names)
    assert {"WALRUS", "LATE", "SEEN", "AFTER", "Later"} <= set(ranged.namespace.names)
    for fact in (f.name for f in fields(TextFacts)):
        assert ranged.scanned_union(fact) == whole.scanned_union(fact), fact
    assert ranged.dynamic == whole.dynamic
    assert _assigned_attribute_names(ranged) == _assigned_attribute_names(whole)
    assert "extra" in _assigned_attribute_names(ranged)


# -- an edit inside a class's body: the class's header and the edited statement ----------

CLASSES = '''"""Classes whose methods are edited one at a time."""
import os
import threading


class Base:
    registry = {}

    def describe(self):
        return self.kind.upper()


class Widget(Base):
    """A class with members from all over its body."""

    kind = "widget"
    limit = (cap := 10)

    def __init__(self, name):
        self.name = name
        self._lock = threading.Lock()
        self.children = []

    @property
    def label(self):
        return self.name.upper()

    def add(self, child):
        self.children.append(child)
        self.count = len(self.children)
        return child.describe()

    if os.name == "nt":

        def native(self):
            return self.name

    class Inner:
        def __init__(self):
            self.depth = 0

        def deeper(self):
            return self.depth + 1

    @classmethod
    def build(cls, name):
        cls.built = True
        return cls(name)

    def late(self):
        self.tail = os.path.join(self.name, "x")
        return self.tail.upper()

    def last(self):
        other = Widget("b")
        other.extra = 1
        return other.children


def use(widget: Widget):
    return widget.label
'''


def body_environment(text: str, offset: int, member: str, monkeypatch):
    """The oracle at ``offset`` (the member removed) with body ranges, and its environment."""
    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", 1.0)
    monkeypatch.setattr(analysis.context, "BODY_RANGES", True)
    analysis.context.clear_environments()
    document = Document("file:///tmp/classes.py", text[:offset] + text[offset + len(member) :])
    oracle = member_oracle(document, offset)
    oracle.members("", 1)
    environments = [e for e in oracle._environments.values() if e is not None]
    return oracle, environments[0] if environments else None


def in_method(text: str, offset: int) -> bool:
    """Whether ``offset`` is inside a method of a top-level class (a statement of a class
    body indented deeper than the body)."""
    line = text[text.rfind("\n", 0, offset) + 1 : offset]
    before = text[:offset]
    top = max(before.rfind("\nclass "), before.rfind("\ndef "))
    return before[top:].startswith("\nclass ") and len(line) - len(line.lstrip()) > 4


@pytest.mark.parametrize("offset,member", dereferences(CLASSES))
def test_a_body_environment_answers_as_the_whole_document_re_parsed(offset, member, monkeypatch):
    whole, _ = answers(CLASSES, offset, member, -1.0, monkeypatch)
    monkeypatch.setattr(analysis.context, "BODY_RANGES", True)
    ranged, _ = answers(CLASSES, offset, member, 1.0, monkeypatch)
    assert ranged == whole
    _, environment = body_environment(CLASSES, offset, member, monkeypatch)
    if in_method(CLASSES, offset):
        assert environment.surround.body is not None


def test_a_class_read_from_two_trees_has_the_facts_of_the_whole_class(monkeypatch):
    from analysis.languages import parser_for
    from analysis.python_symbols import PyModule
    from analysis.resolution import _assigned_attribute_names

    at = CLASSES.index("self.count = len") + len("self.")
    _, environment = body_environment(CLASSES, at, "count", monkeypatch)
    body = environment.surround.body
    assert body is not None and body.before and body.after  # the method "add" alone
    parsed = environment.data[body.start : body.end].decode()
    assert "def add(" in parsed and "def late(" not in parsed and "def __init__" not in parsed
    ranged = environment.module()
    whole = PyModule(environment.data, parser_for("python").parse(environment.data))
    # the document's class node reads as the re-parsed one
    assert ranged.class_at(body.document_class) is ranged.class_at(body.parsed_class)
    classes = {}
    for name, module in (("ranged", ranged), ("whole", whole)):
        (binding,) = module.namespace.names["Widget"]
        classes[name] = module.class_at(binding.node, binding.decorators)
    ranged_class, whole_class = classes["ranged"], classes["whole"]
    assert ranged_class.surround is body and whole_class.surround is None
    assert set(ranged_class.body.names) == set(whole_class.body.names)
    assert {"kind", "limit", "cap", "label", "native", "Inner", "build", "late"} <= set(
        ranged_class.body.names
    )
    assert set(ranged_class.methods) == set(whole_class.methods)
    assert (
        ranged_class.first_parameter_attribute_roles == whole_class.first_parameter_attribute_roles
    )
    assert set(ranged_class.first_parameter_attributes) == set(
        whole_class.first_parameter_attributes
    )
    assert {"name", "children", "tail", "built"} <= set(ranged_class.first_parameter_attributes)
    assert ranged_class.first_parameter_uses == whole_class.first_parameter_uses
    assert ranged_class.first_parameter_bindings("tail") and not ranged_class.dynamic_attributes
    for fact in ("stored", "setattr_targets", "signs", "name_stores", "declared_global"):
        assert ranged.scanned_union(fact) == whole.scanned_union(fact), fact
    assert "extra" in ranged.scanned_union("stored")  # a store in a method after the range
    assert _assigned_attribute_names(ranged) == _assigned_attribute_names(whole)
    assert {"extra", "built"} <= _assigned_attribute_names(ranged)


def test_a_class_s_names_are_read_per_body_statement_as_from_its_whole_body(monkeypatch):
    from analysis.languages import parser_for
    from analysis.python_symbols import PyClass, PyModule

    at = CLASSES.index("self.count = len") + len("self.")
    _, environment = body_environment(CLASSES, at, "count", monkeypatch)
    ranged = environment.module()
    whole = PyModule(environment.data, parser_for("python").parse(environment.data))
    names = {}
    for label, module in (("ranged", ranged), ("whole", whole)):
        (binding,) = module.namespace.names["Widget"]
        walked = module.class_at(binding.node, binding.decorators)
        fresh = PyClass(module, walked.node, walked.decorators, walked.surround)
        names[label] = fresh.body_names
        bindings = {name: fresh.body_bindings(name) for name in fresh.body_names}
        assert fresh.body_bindings("missing") == []
        assert fresh.slots == set() and not fresh.dynamic_attributes
        assert "body" not in fresh.__dict__  # no statement's tree was walked for them all
        # the same names, and for each the same bindings in the same order, as the body's
        assert fresh.body_names == set(walked.body.names)
        assert bindings == walked.body.names
        assert fresh.body_stars == walked.body.stars
    assert names["ranged"] == names["whole"]
    assert {"kind", "limit", "cap", "label", "native", "Inner", "build", "late"} <= names["whole"]


def test_a_store_in_another_method_and_setattr_are_seen(monkeypatch):
    at = CLASSES.index("self.count = len") + len("self.")
    oracle, _ = body_environment(CLASSES, at, "count", monkeypatch)
    assert {"name", "children", "tail", "built", "label", "kind", "describe"} <= oracle.members(
        "", 1
    )
    # ``setattr(self, ...)`` in a method after the range leaves instances open
    text = CLASSES.replace("        other.extra = 1\n", "        setattr(self, other, 1)\n")
    at = text.index("self.count = len") + len("self.")
    oracle, environment = body_environment(text, at, "count", monkeypatch)
    assert environment.surround.body is not None
    assert oracle.members("", 1) is None


def test_a_syntax_error_elsewhere_in_the_class_is_not_read_from_the_document(monkeypatch):
    broken = CLASSES.replace("        return self.tail.upper()", "        return self.tail.upper(")
    at = broken.index("self.count = len") + len("self.")
    oracle, environment = body_environment(broken, at, "count", monkeypatch)
    assert environment.surround is None  # the whole document, as its re-parse has the error
    assert {"name", "children", "tail"} <= oracle.members("", 1)


def test_a_class_header_moved_into_the_edited_method_is_not_read_as_the_class(monkeypatch):
    text = (
        "class First:\n"
        "    def __init__(self):\n"
        "        self.a = 1\n\n"
        "    def do(self, text):\n"
        "        self.b = text.get(self.a, self.\n"  # the cursor: the bracket stays open
        "        return self.a\n\n\n"
        "class Second:\n"
        "    # a comment\n"
        "    def __init__(self):\n"
        "        self.cmds = []\n\n"
        "    def append(self, cmd):\n"
        "        self.cmds.append(cmd)\n"
    )
    at = text.index("self.a, self.") + len("self.a, self.")
    document = Document("file:///tmp/two.py", text)
    # the document's tree: the open bracket draws the second class into the first
    (first,) = document.tree.root_node.children
    assert "append" in first.text.decode()
    oracle, environment = body_environment(text, at, "", monkeypatch)
    members = oracle.members("", 1)
    assert {"a", "do"} <= members and not {"cmds", "append"} & members
    assert environment.surround is not None and environment.surround.body is None
    whole, _ = answers(text, at, "", -1.0, monkeypatch)
    assert answers(text, at, "", 1.0, monkeypatch)[0] == whole


def test_a_new_statement_between_methods_and_an_edit_of_the_header(monkeypatch):
    # a class attribute at the end of the body
    text = CLASSES.replace(
        "        return other.children\n",
        "        return other.children\n\n    shade = threading.\n",
    )
    at = text.index("shade = threading.") + len("shade = threading.")
    oracle, environment = body_environment(text, at, "", monkeypatch)
    assert environment.surround.body is not None
    assert environment.surround.body.after == ()
    assert {"Lock", "Thread", "local"} <= oracle.members("", 1)
    # before a method: error recovery draws the method's first line into the new statement
    # and its other lines are no statements of the body: the whole class is re-parsed
    text = CLASSES.replace(
        "    def late(self):\n", "    shade = threading.\n\n    def late(self):\n"
    )
    at = text.index("shade = threading.") + len("shade = threading.")
    oracle, environment = body_environment(text, at, "", monkeypatch)
    assert environment.surround is not None and environment.surround.body is None
    assert {"Lock", "Thread", "local"} <= oracle.members("", 1)
    text = CLASSES.replace("class Widget(Base):", "class Widget(threading.Thread):")
    at = text.index("threading.Thread") + len("threading.")
    oracle, environment = body_environment(text, at, "Thread", monkeypatch)
    assert environment.surround.body is None
    assert "Thread" in oracle.members("", 1)


def test_statements_error_recovery_broke_after_the_edit_are_re_parsed_with_it(monkeypatch):
    text = MODULE.replace("import os\n", "import os\nimport threading\n").replace(
        "def helper(", "SHARED = threading.\n\n\ndef helper(", 1
    )
    at = text.index("SHARED = threading.") + len("SHARED = threading.")
    document = Document("file:///tmp/module.py", text)
    children = document.tree.root_node.children
    # the dangling "." draws the next line into the statement: the body of that function
    # is left at the top level, indented
    (edited,) = [c for c in children if c.start_byte < at <= c.end_byte]
    following = children[children.index(edited) + 1]
    assert edited.has_error and following.start_point[1] > 0
    ranged, used = answers(text, at, "", 1 / 4, monkeypatch)
    whole, _ = answers(text, at, "", -1.0, monkeypatch)
    assert used and ranged == whole and {"Lock", "Thread"} <= ranged[0]


def test_a_document_broken_elsewhere_is_re_parsed_whole(monkeypatch):
    broken = MODULE.replace("    return a + b * 20\n", "    return a + (b * 20\n")
    at = broken.index("return later.run(") + len("return later.")
    ranged, used = answers(broken, at, "run", 1 / 4, monkeypatch)
    assert not used  # the document's tree is not kept where error recovery reached
    assert ranged == answers(broken, at, "run", -1.0, monkeypatch)[0]
    assert {"run", "again"} <= ranged[0]
