"""Python receivers: constrained when the type is certain, open (None) otherwise."""

from __future__ import annotations

import pytest
from analysis_testing import oracle_for, strict_analysis, write_files  # noqa: F401

from analysis.workspace import WorkspaceIndex

CLASSES = """
import json
import os
import os.path as osp
from os import path as ospath
from dataclasses import dataclass
from enum import Enum
from typing import Optional


class Base:
    base_attr = 1

    def base_method(self):
        self.from_base = 2


class Foo(Base):
    alpha = 1
    __slots__ = ("slotted",)

    def __init__(self, x: int):
        self.beta = x
        self.other: "Foo" = None

    @property
    def prop(self) -> "Foo":
        return self

    @staticmethod
    def static_one():
        pass

    @classmethod
    def make(cls) -> "Foo":
        cls.registry = []
        return cls(1)

    def helper(self) -> "Foo":
        return self


@dataclass
class Point:
    x: int
    y: int = 0


class Color(Enum):
    RED = 1
    GREEN = 2


def factory() -> Foo:
    return Foo(1)


def plain():
    return Foo(1)
"""

FOO_INSTANCE = {
    "alpha",
    "beta",
    "other",
    "prop",
    "static_one",
    "make",
    "helper",
    "slotted",
    "base_attr",
    "base_method",
    "from_base",
    "registry",
    "__init__",
    "__class__",
}


def members_at(body: str, extra: str = "", trim: int = 0):
    return oracle_for(CLASSES + body).members(extra, trim)


@pytest.mark.parametrize(
    ("body", "extra"),
    [
        ("\nclass Sub(Foo):\n    def m(self):\n        <|>", "self"),
        ("\nx = Foo(1)\n<|>", "x"),
        ("\nx: Foo = make_it()\n<|>", "x"),
        ("\ndef f(p: Foo):\n    <|>", "p"),
        ("\ndef f(p: Optional[Foo]):\n    <|>", "p"),
        ("\ndef f(p: 'Foo | None'):\n    <|>", "p"),
        ("\n<|>", "factory()"),
        ("\ny = factory()\n<|>", "y"),
        ("\n<|>", "Foo(1)"),
        ("\n<|>", "Foo(1).helper()"),
        ("\n<|>", "Foo(1).prop"),
        ("\n<|>", "Foo.make()"),
        ("\nfor item in [Foo(1)]:\n    <|>", "item"),
        ("\na, b = Foo(1), Foo(2)\n<|>", "a"),
        ("\n<|>", "plain()"),
        ("\ndef f():\n    <|>", "\n    x = Foo(2)\n    x"),
    ],
)
def test_instances_of_a_workspace_class_are_constrained(body, extra):
    members = members_at(body, extra)
    assert members is not None
    assert FOO_INSTANCE <= members
    assert "nonexistent" not in members


def test_self_in_a_method_sees_mro_and_first_parameter_attributes():
    members = members_at(
        "\nclass Sub(Foo):\n    def m(self):\n        self.own = 1\n        <|>", "self"
    )
    assert FOO_INSTANCE | {"own", "m"} <= members


def test_cls_and_class_names_give_class_members_without_instance_attributes():
    by_name = members_at("\n<|>", "Foo")
    assert {"alpha", "make", "helper", "registry", "base_method", "mro", "__name__"} <= by_name
    assert "beta" not in by_name and "from_base" not in by_name
    cls = members_at("\nclass Sub(Foo):\n    @classmethod\n    def c(cls):\n        <|>", "cls")
    assert {"alpha", "make", "c"} <= cls and "beta" not in cls


def test_dataclass_fields_and_enum_members():
    point = members_at("\np = Point(1)\n<|>", "p")
    assert {"x", "y", "__dataclass_fields__", "__match_args__"} <= point
    color = members_at("\n<|>", "Color")
    assert {"RED", "GREEN", "__members__"} <= color
    red = members_at("\n<|>", "Color.RED")
    assert {"name", "value", "RED"} <= red


def test_builtin_classes_and_subclasses_of_builtins():
    error = members_at(
        "\nclass MyError(ValueError):\n    def m(self):\n        self.code = 1\n        <|>", "self"
    )
    assert {"code", "args", "with_traceback", "m"} <= error
    assert {"append", "extend"} <= members_at("\nx = list()\n<|>", "x")


@pytest.mark.parametrize("extra", ["json", "osp", "ospath", "os.path"])
def test_standard_library_modules_resolve_from_source(extra):
    members = members_at("\n<|>", extra)
    assert members is not None
    if extra == "json":
        assert {"dumps", "loads", "JSONDecoder", "decoder", "encoder", "__name__"} <= members
    else:
        assert {"join", "dirname", "basename", "exists", "sep"} <= members


def test_stdlib_module_members_cover_the_real_module():
    import json
    import textwrap

    assert set(dir(json)) <= members_at("\n<|>", "json")
    source = "import textwrap\n<|>"
    assert set(dir(textwrap)) <= oracle_for(source).members("textwrap")


@pytest.mark.parametrize(
    ("body", "extra"),
    [
        ("\nclass Bar(Unknown):\n    def m(self):\n        <|>", "self"),
        (
            "\nclass Bar:\n    def __getattr__(self, name):\n        pass\n    def m(self):\n        <|>",
            "self",
        ),
        (
            "\nclass Bar:\n    def __getattribute__(self, name):\n        pass\n    def m(self):\n        <|>",
            "self",
        ),
        ("\nclass Bar(metaclass=Meta):\n    def m(self):\n        <|>", "self"),
        ("\n@unknown_decorator\nclass Bar:\n    def m(self):\n        <|>", "self"),
        ("\nclass Bar:\n    def m(self):\n        setattr(self, 'x', 1)\n        <|>", "self"),
        ("\ndef f(p):\n    <|>", "p"),
        ("\nx = Foo(1)\nx = Point(1)\n<|>", "x"),
        ("\nx = Foo(1)\nx += 1\n<|>", "x"),
        ("\n<|>", "Foo(1).static_one()"),
        ("\n<|>", "undefined_name"),
        ("\n<|>", "type(x)"),
        ("\nimport numpy_not_installed_anywhere\n<|>", "numpy_not_installed_anywhere"),
        ("\nimport readline\n<|>", "readline"),  # a C module with import side effects
        ("\nclass Sub(Foo):\n    def m(self):\n        <|>", "self.__class__"),  # maybe a subclass
        ("\nwith open('f', 'rb', 0) as fh:\n    <|>", "fh"),  # unbuffered: a FileIO
        ("\n<|>", "for x in items: x"),
        ("\n<|>", "x = Foo(1); x"),
        ("\n<|>", "lambda self: self"),
        ("\nclass Sub(Foo):\n    def m(self):\n        self = other\n        <|>", "self"),
    ],
)
def test_uncertain_receivers_are_open(body, extra):
    assert members_at(body, extra) is None


def test_star_import_from_an_unknown_module_makes_names_open():
    source = "from somewhere_unknown import *\nclass Foo:\n    a = 1\n<|>"
    assert oracle_for(source).members("Foo") is None
    known = "from json import *\nclass Foo:\n    a = 1\n<|>"
    assert "a" in oracle_for(known).members("Foo")


@pytest.mark.parametrize(
    "extra",
    [
        'x = "self',
        "x = 'a' + 'self",
        '"""doc\nself',
        "# self",
        "x = 1  # self",
        "x = 1",
        "x = 3.14",
        "x = 0x1F",
        "x = ...",
        "from .",
        "from . import x\nfrom .",
        "import os",
        "from os",
        "import json as j, os",
        "def self",
        "class Foo",
        "x = (",
        "x = [1][0]",
        "x = self ",
    ],
)
def test_no_member_access_trigger_outside_code(extra):
    oracle = oracle_for(CLASSES + "\nclass Sub(Foo):\n    def m(self):\n        <|>")
    assert oracle.members(extra) is None


def test_fstring_interpolations_are_code():
    oracle = oracle_for(CLASSES + "\nclass Sub(Foo):\n    def m(self):\n        <|>")
    assert "alpha" in oracle.members('x = f"{self')
    assert "alpha" in oracle.members('x = f"{a:>{self')
    assert "alpha" in oracle.members('x = f"{self.alpha}" + self')
    assert oracle.members('x = f"{{self') is None  # an escaped brace is text
    assert oracle.members('x = f"{a:>10} self') is None


def test_trim_replaces_the_typed_prefix():
    oracle = oracle_for(CLASSES + "\nclass Sub(Foo):\n    def m(self):\n        sel<|>")
    assert "alpha" in oracle.members("self", trim=3)
    assert oracle.members("", trim=0) is None  # "sel" is not a name


def test_document_text_before_the_cursor_is_the_receiver():
    oracle = oracle_for(CLASSES + "\nclass Sub(Foo):\n    def m(self):\n        self<|>")
    assert "alpha" in oracle.members("")


def test_answers_are_cached_and_stable():
    oracle = oracle_for(CLASSES + "\nclass Sub(Foo):\n    def m(self):\n        <|>")
    first = oracle.members("x = self")
    assert oracle.members("x = self") is first
    assert oracle.members("\n        y = self") == first


def test_members_defined_later_in_the_class_and_by_the_draft_are_included():
    source = (
        "class A:\n    def m(self):\n        <|>\n\n    def later(self):\n        self.late = 1\n"
    )
    oracle = oracle_for(source)
    assert {"m", "later", "late"} <= oracle.members("self")
    drafted = oracle.members("self.fresh = 1\n        self")
    assert "fresh" in drafted


def test_draft_that_defines_a_new_class_is_resolved():
    oracle = oracle_for("x = 1\n<|>")
    extra = "\nclass New:\n    def __init__(self):\n        self.value = 1\n\n    def go(self):\n        self"
    assert {"value", "go"} <= oracle.members(extra)


def test_workspace_modules_packages_and_relative_imports(tmp_path):
    write_files(
        tmp_path,
        {
            "pkg/__init__.py": "from .core import Engine\nVERSION = 1\n",
            "pkg/core.py": "from .base import Machine\n\nclass Engine(Machine):\n    def start(self):\n        self.running = True\n",
            "pkg/base.py": "class Machine:\n    def stop(self):\n        pass\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/leaf.py": "def leaf_function():\n    pass\n",
            "pkg/lazy.py": "def __getattr__(name):\n    return 1\n",
            "app.py": "",
        },
    )
    workspace = WorkspaceIndex(tmp_path)
    workspace.build()
    uri = (tmp_path / "app.py").as_uri()
    oracle = oracle_for(
        "import pkg\nimport pkg.sub.leaf\nfrom pkg import core, lazy\nfrom pkg.core import Engine\n<|>",
        uri,
        workspace,
    )
    assert {"Engine", "VERSION", "core", "base", "sub", "lazy"} <= oracle.members("pkg")
    assert {"leaf_function"} <= oracle.members("pkg.sub.leaf")
    assert {"Engine", "Machine"} <= oracle.members("core")
    assert {"start", "stop", "running"} <= oracle.members("Engine()")
    assert {"start", "stop", "running"} <= oracle.members("pkg.Engine()")
    assert oracle.members("lazy") is None  # module __getattr__
    inner_uri = (tmp_path / "pkg" / "sub" / "leaf.py").as_uri()
    inner = oracle_for(
        "from .. import base\nfrom ..core import Engine as E\n<|>", inner_uri, workspace
    )
    assert "Machine" in inner.members("base")
    assert "running" in inner.members("E()")


def test_workspace_edits_are_seen_after_update_file(tmp_path):
    write_files(tmp_path, {"lib.py": "class K:\n    a = 1\n", "app.py": ""})
    workspace = WorkspaceIndex(tmp_path)
    workspace.build()
    uri = (tmp_path / "app.py").as_uri()
    assert "b" not in oracle_for("from lib import K\n<|>", uri, workspace).members("K")
    workspace.update_file(tmp_path / "lib.py", "class K:\n    a = 1\n    b = 2\n")
    assert "b" in oracle_for("from lib import K\n<|>", uri, workspace).members("K")


def test_unsupported_language_is_open():
    oracle = oracle_for("self<|>", uri="file:///tmp/notes.txt")
    assert oracle.members("") is None


def test_lexical_state_at_the_cursor_comes_from_the_document():
    after_string = 's = """doc\nmore\n"""\nclass A:\n    x = 1\n\n<|>'
    assert "x" in oracle_for(after_string).members("A")
    assert oracle_for(after_string).members('y = "A') is None
    inside_string = 'class A:\n    x = 1\n\ns = """doc\n<|>'
    assert oracle_for(inside_string).members("A") is None
    assert "x" in oracle_for(inside_string).members('"""\nA')
    inside_comment = "class A:\n    x = 1\n\n# note <|>"
    assert oracle_for(inside_comment).members("A") is None
    assert "x" in oracle_for(inside_comment).members("\nA")


def test_names_with_many_bindings_resolve_without_exponential_blow_up():
    # x_i has two bindings, each naming x_{i-1}: without memoisation the number of
    # evaluations doubles per level (2**20 here); with it the chain resolves at once.
    lines = ["class Foo:\n    def alpha(self):\n        pass\n", "x0 = Foo()"]
    for i in range(1, 21):
        lines.append(f"if cond:\n    x{i} = x{i - 1}\nelse:\n    x{i} = x{i - 1}")
    source = "\n".join(lines) + "\nx20<|>"
    members = oracle_for(source).members("")
    assert members is not None and "alpha" in members


# ------------------------------------------------------------------ new attributes


CLASS = "class Shape:\n    def __init__(self):\n        self.width = 1\n\n    def grow(self):\n"


@pytest.mark.parametrize(
    ("line", "extra", "expected"),
    [
        ("        self<|>", "", True),  # statement start: `self.new = ...` is valid
        ("        cls<|>", "", True),
        ("        x = self<|>", "", False),  # an expression: only members
        ("        print(self<|>", "", False),
        ("        other<|>", "", False),  # not the method's own object
        ("        values = [\n            self<|>", "", False),  # inside brackets
        ("        x = 1 + \\\n            self<|>", "", False),  # backslash continuation
        ("        s = '''\n        self<|>", "", False),  # inside a string
        ("        # self<|>", "", False),
        ("<|>", "        pass\n        self", True),  # the code ends in generated text
        ("<|>", "        f(\n            self", False),
    ],
)
def test_assignable_only_where_a_statement_starts_with_self(line, extra, expected):
    oracle = oracle_for(CLASS + line)
    assert oracle.assignable(extra) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("class A {\n  grow() {\n    this<|>", True),  # a statement inside a block
        ("class A {\n  grow() {\n    x = this<|>", False),
        ("class A {\n  grow() {\n    f(\n      this<|>", False),  # inside call parentheses
        ("class A {\n  grow() {\n    self<|>", False),  # not JavaScript's own object
    ],
)
def test_assignable_in_javascript(source, expected):
    assert oracle_for(source, uri="file:///tmp/a.js").assignable("") is expected


def test_assignable_needs_a_supported_language():
    assert oracle_for("self<|>", uri="file:///tmp/a.txt").assignable("") is False


def test_super_gives_the_members_of_the_classes_after_the_current_one():
    found = members_at("\nclass Sub(Foo):\n    def m(self):\n        <|>", "super()")
    assert found is not None
    assert {"alpha", "prop", "static_one", "make", "helper", "base_method", "__init__"} <= found
    # attributes stored on instances are not reached through super() (no instance dict)
    assert not {"beta", "other", "from_base"} & found
