"""Receivers resolved with certainty (issue 14, item 2), each with its uncertain neighbours.

Two ways in: the oracle (``oracle_for(...).members(extra)``: the receiver read back from the
code as a chain of names, calls and subscripts -- or, for calls with arguments and
parenthesized heads, as an expression -- as the decoding monitor asks), and the resolver on
a tree node (``node_members``: the receiver expression ending at ``<|>`` followed by a
``.``: literals, subscripts, ``super()``, comprehension variables, ``await``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_testing import oracle_for, strict_analysis, write_files  # noqa: F401

from analysis.context import read_receiver
from analysis.languages import parser_for
from analysis.python_symbols import PyModule, writes_globals
from analysis.resolution import PythonResolver
from analysis.workspace import WorkspaceIndex, default_stdlib

LIST = {"append", "extend", "pop", "sort", "copy", "index"}
NOT_STR = {"append", "decode", "keys"}
DICT = {"items", "keys", "values", "get", "setdefault", "popitem"}
STR = {"upper", "split", "join", "startswith", "encode", "format"}
TUPLE = {"count", "index"}

SHAPES = """
import collections
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterable, Literal, NamedTuple, Optional, Union


@dataclass
class Circle:
    radius: float

    def area(self) -> float:
        return 3.14 * self.radius**2

    def perimeter(self) -> float:
        return 2 * 3.14 * self.radius


class Square:
    def __init__(self, side: int):
        self.side = side

    def scaled(self):
        return self

    def corners(self):
        return [Circle(0.0), Circle(1.0)]


class Color(Enum):
    RED = 1
    GREEN = 2
"""
CIRCLE = {"radius", "area", "perimeter", "__dataclass_fields__"}
SQUARE = {"side", "scaled", "corners"}


def members_at(body: str, extra: str, source: str = SHAPES) -> frozenset[str] | None:
    return oracle_for(source + body).members(extra)


def node_members(
    source: str, path: Path | None = None, workspace: WorkspaceIndex | None = None
) -> frozenset[str] | None:
    """Members of the receiver expression that ends at ``<|>`` (a ``.`` follows it)."""
    offset = source.index("<|>")
    text = source[:offset] + source[offset + 3 :]
    data = text.encode()
    end = len(text[:offset].encode())
    tree = parser_for("python").parse(data)
    node = tree.root_node.descendant_for_byte_range(end - 1, end)
    while not (
        node.parent is not None
        and node.parent.type == "attribute"
        and node.parent.child_by_field_name("object") == node
    ):
        node = node.parent
        assert node is not None and node.end_byte == end, "no receiver ends at <|>"
    module = PyModule(data, tree, path)
    resolver = PythonResolver(workspace if workspace is not None else default_stdlib())
    return resolver.receiver_members(module, node)


def names(members: frozenset[str] | None) -> set[str]:
    assert members is not None, "expected the receiver to be resolved"
    return set(members)


# ------------------------------------------------------------------ parameters, annotations


@pytest.mark.parametrize(
    ("signature", "expected", "absent"),
    [
        ("p: list[Circle]", LIST, CIRCLE),
        ("p: typing.List[Circle]", LIST, CIRCLE),
        ("p: dict[str, Circle]", DICT, CIRCLE),
        ("p: typing.Dict[str, Circle]", DICT, CIRCLE),
        ("p: tuple[int, Circle]", TUPLE, {"append"}),
        ("p: Optional[Circle]", CIRCLE | {"__bool__"}, SQUARE),
        ("p: Circle | None", CIRCLE | {"__bool__"}, SQUARE),
        ("p: None | Circle", CIRCLE, SQUARE),
        ("p: Union[Circle, None]", CIRCLE, SQUARE),
        ("p: 'Optional[Circle]'", CIRCLE, SQUARE),
        ("p: 'list[Circle]'", LIST, CIRCLE),
        ("p: typing.Optional['Circle']", CIRCLE, SQUARE),
        ("p: typing.Annotated[Circle, 'unit: m']", CIRCLE, SQUARE),
        ("p: Literal['a', 'b']", STR, NOT_STR),
        ("p: type[Circle]", {"area", "mro", "__name__"}, {"append"}),
        ("*p: Circle", TUPLE, CIRCLE),  # a tuple of Circles, not a Circle
        ("*p", TUPLE, CIRCLE),
        ("**p: Circle", DICT, CIRCLE),
        ("**p", DICT, CIRCLE),
    ],
)
def test_annotated_parameters(signature, expected, absent):
    members = names(members_at(f"\ndef f({signature}):\n    <|>", "p"))
    assert expected <= members
    assert not absent & members
    assert "nonexistent" not in members


def test_optional_means_the_class_plus_none_own_members():
    # after `p.` the code only runs when p is not None: T's members and NoneType's own
    optional = names(members_at("\ndef f(p: Optional[Square]):\n    <|>", "p"))
    plain = names(members_at("\ndef f(p: Square):\n    <|>", "p"))
    assert optional == plain | {"__bool__"}


def test_type_aliases_resolve_like_their_value():
    body = "\nShapes = list[Circle]\nMaybe: typing.TypeAlias = 'Circle | None'\n"
    assert LIST <= names(members_at(body + "def f(p: Shapes):\n    <|>", "p"))
    assert CIRCLE <= names(members_at(body + "def f(p: Maybe):\n    <|>", "p"))


@pytest.mark.parametrize(
    "signature",
    [
        "p",  # unannotated
        "p=None",
        "p: Any",
        "p: Callable[..., Circle]",
        "p: Union[Circle, Square]",  # two classes: either member set alone could be wrong
        "p: Circle | Square",
        "p: Iterable[Circle]",  # any iterable: only its elements are known
        "p: typing.Sequence[Circle]",
        "p: typing.Mapping[str, Circle]",
        "p: 'Undefined'",
        "p: 'not valid ['",
        "p: Literal[1, 'a']",
    ],
)
def test_uncertain_parameters_stay_open(signature):
    assert members_at(f"\ndef f({signature}):\n    <|>", "p") is None


# ------------------------------------------------------------------ loops and comprehensions


def test_readme_demo_loop_variable_over_an_annotated_list():
    source = SHAPES + "\ndef total_area(shapes: list[Circle]) -> float:\n    total = 0.0\n"
    oracle = oracle_for(source + "    for shape in shapes:\n        total += shape<|>")
    members = names(oracle.members(""))
    assert {"area", "perimeter", "radius"} <= members and "size" not in members


@pytest.mark.parametrize(
    ("loop", "receiver", "expected"),
    [
        ("for k, v in d.items():", "v", CIRCLE),
        ("for k, v in d.items():", "k", STR),
        ("for k in d:", "k", STR),
        ("for k in d.keys():", "k", STR),
        ("for v in d.values():", "v", CIRCLE),
        ("for i, c in enumerate(xs):", "c", CIRCLE),
        ("for i, c in enumerate(xs):", "i", {"bit_length"}),
        ("for c, s in zip(xs, squares):", "s", SQUARE),
        ("for c in sorted(xs):", "c", CIRCLE),
        ("for c in reversed(xs):", "c", CIRCLE),
        ("for c in list(xs):", "c", CIRCLE),
        ("for c in [Circle(1.0), Circle(2.0)]:", "c", CIRCLE),
        ("for n, c in [(1, Circle(1.0))]:", "c", CIRCLE),
        ("for ch in 'abc':", "ch", STR),
        ("for b in b'abc':", "b", {"bit_length"}),
        ("for line in open('f'):", "line", STR),
        ("for c in Color:", "c", {"name", "value"}),
        ("for c in star:", "c", CIRCLE),
        ("for c in it:", "c", CIRCLE),
        ("for c in Square(1).corners():", "c", CIRCLE),
        ("for c in gen():", "c", CIRCLE),
        ("for s in (Square(i) for i in range(3)):", "s", SQUARE),
    ],
)
def test_loop_variables(loop, receiver, expected):
    body = (
        "\ndef gen():\n    yield Circle(1.0)\n"
        "\ndef f(d: dict[str, Circle], xs: list[Circle], squares: list[Square],"
        " it: Iterable[Circle], *star: Circle):\n"
        f"    {loop}\n        <|>"
    )
    assert expected <= names(members_at(body, receiver))


@pytest.mark.parametrize(
    ("loop", "receiver"),
    [
        ("for c in items:", "c"),  # unknown iterable
        ("for c in xs:\n        c = 1\n    for c in xs:", "c"),  # rebound to an int
        ("for c in mixed:", "c"),  # tuple of two classes
        ("for c, rest in xs:", "c"),  # a Circle does not unpack
        ("for c, *rest in pairs:", "c"),  # starred targets are not modelled
        ("async for c in xs:", "c"),
        ("for k, v in d:", "v"),  # the keys are ints: they do not unpack
    ],
)
def test_uncertain_loop_variables_stay_open(loop, receiver):
    body = (
        "\nasync def f(items, xs: list[Circle], mixed: tuple[Circle, Square],"
        " pairs: list[tuple[Circle, Square]], d: dict[int, Circle]):\n"
        f"    {loop}\n        <|>"
    )
    assert members_at(body, receiver) is None


def test_comprehension_variables_are_resolved_on_the_node():
    head = SHAPES + "\ndef f(shapes: list[Circle], grid: list[list[Square]]):\n    s = 1\n"
    assert CIRCLE <= names(node_members(head + "    return [s<|>.area() for s in shapes]\n"))
    assert SQUARE <= names(
        node_members(head + "    return [q<|>.side for row in grid for q in row]\n")
    )
    assert CIRCLE <= names(node_members(head + "    return {s<|>.radius: s for s in shapes}\n"))
    # the first iterable is evaluated outside: there `s` is the function's int
    assert {"bit_length"} <= names(node_members(head + "    return [x for x in s<|>.real]\n"))
    # a lambda parameter shadows everything outside, and has no type
    assert node_members(head + "    g = lambda shapes: shapes<|>.pop()\n") is None


# ------------------------------------------------------------------ calls and returns


@pytest.mark.parametrize(
    ("body", "extra", "expected"),
    [
        ("\n<|>", "Square(1).scaled()", SQUARE),  # return self
        ("\n<|>", "Square(1).scaled().scaled()", SQUARE),
        (
            "\nclass Big(Square):\n    def grow(self):\n        pass\n<|>",
            "Big(1).scaled()",
            {"grow"},
        ),
        ("\ndef make():\n    return Circle(1.0)\n<|>", "make()", CIRCLE),
        (
            "\ndef pick(flag):\n    if flag:\n        return Circle(1.0)\n    return Circle(2.0)\n<|>",
            "pick(True)",
            CIRCLE,
        ),
        (
            "\ndef find(xs: list[Circle]):\n    for x in xs:\n        if x.radius:\n            return x\n<|>",
            "find([])",
            CIRCLE | {"__bool__"},  # may end without a return: Optional
        ),
        ("\ndef gen():\n    yield 1\n<|>", "gen()", {"send", "throw", "close"}),
        ("\nc = Circle(1.0)\n<|>", "c.area()", {"is_integer", "hex"}),  # -> float
        ("\nimport shlex\n<|>", "shlex.split('a b')", LIST),  # stdlib, inferred
    ],
)
def test_call_results(body, extra, expected):
    assert expected <= names(members_at(body, extra))


@pytest.mark.parametrize(
    ("body", "extra"),
    [
        (
            "\ndef pick(flag):\n    if flag:\n        return Circle(1.0)\n    return Square(2)\n<|>",
            "pick(True)",
        ),
        ("\ndef loop():\n    return loop()\n<|>", "loop()"),  # recursion: unknown, no hang
        ("\n@unknown\ndef wrapped():\n    return Circle(1.0)\n<|>", "wrapped()"),
        ("\nasync def coro() -> Circle:\n    pass\n<|>", "coro()"),  # a coroutine
        ("\ndef nothing():\n    pass\n<|>", "nothing()"),
        ("\ndef param(x):\n    return x\n<|>", "param(1)"),
    ],
)
def test_uncertain_call_results_stay_open(body, extra):
    assert members_at(body, extra) is None


def test_await_of_an_async_function_is_its_result():
    source = SHAPES + "\nasync def load() -> Circle:\n    pass\n\nasync def f():\n"
    assert CIRCLE <= names(node_members(source + "    (await load())<|>.area()\n"))
    assert CIRCLE <= names(node_members(source + "    x = await load()\n    x<|>.area()\n"))


def test_workspace_function_results_are_inferred(tmp_path):
    write_files(
        tmp_path,
        {
            "lib.py": "class Engine:\n    def start(self):\n        pass\n\n"
            "def build():\n    return Engine()\n\ndef annotated() -> 'Engine':\n    ...\n",
            "app.py": "",
        },
    )
    workspace = WorkspaceIndex(tmp_path)
    workspace.build()
    oracle = oracle_for(
        "from lib import build, annotated\n<|>", (tmp_path / "app.py").as_uri(), workspace
    )
    assert "start" in names(oracle.members("build()"))
    assert "start" in names(oracle.members("annotated()"))


# ------------------------------------------------------------------ with, except, unpacking


@pytest.mark.parametrize(
    ("statement", "expected", "absent"),
    [
        ("with open('f') as fh:", {"read", "readline", "write", "encoding"}, {"peek"}),
        ("with open('f', mode='w') as fh:", {"write", "encoding"}, {"peek"}),
        ("with open('f', 'rb') as fh:", {"read", "peek", "read1"}, {"encoding"}),
        ("with open('f', 'wb') as fh:", {"write", "flush"}, {"peek"}),
        ("with open('f') as fh, Square(1) as sq:", {"read"}, set()),
        ("with Managed() as fh:", {"managed", "__enter__"}, set()),
        ("with Declared() as fh:", CIRCLE, set()),
    ],
)
def test_with_targets(statement, expected, absent):
    body = (
        "\nclass Managed:\n    managed = 1\n    def __enter__(self):\n        return self\n"
        "    def __exit__(self, *exc):\n        pass\n"
        "\nclass Declared:\n    def __enter__(self) -> Circle:\n        ...\n"
        "    def __exit__(self, *exc):\n        pass\n"
        f"\ndef f(mode):\n    {statement}\n        <|>"
    )
    members = names(members_at(body, "fh"))
    assert expected <= members and not absent & members


@pytest.mark.parametrize(
    "statement",
    [
        "with open('f', mode) as fh:",  # mode unknown
        "with open('f', 'rb', 0) as fh:",  # unbuffered: a FileIO
        "with Other() as fh:",  # __enter__ returns something unknown
        "async with Managed() as fh:",
        "with Square(1) as fh:",  # no __enter__ at all
    ],
)
def test_uncertain_with_targets_stay_open(statement):
    body = (
        "\nclass Managed:\n    def __enter__(self):\n        return self\n"
        "\nclass Other:\n    def __enter__(self):\n        return make_it()\n"
        f"\nasync def f(mode):\n    {statement}\n        <|>"
    )
    assert members_at(body, "fh") is None


def test_with_a_contextmanager_generator_binds_what_it_yields():
    body = (
        "\nimport contextlib\nfrom contextlib import contextmanager\n"
        "\n@contextmanager\ndef opened():\n    c = Circle(1.0)\n    try:\n        yield c\n"
        "    finally:\n        pass\n"
        "\n@contextlib.contextmanager\ndef either(flag):\n    if flag:\n        yield Circle(1.0)\n"
        "    else:\n        yield Square(1)\n"
        "\ndef contextmanager_lookalike(f):\n    return f\n"
        "\n@contextmanager_lookalike\ndef plain():\n    yield Circle(1.0)\n"
        "\nwith opened() as a, either(1) as b, plain() as c:\n    <|>"
    )
    assert CIRCLE <= names(members_at(body, "a"))
    assert members_at(body, "b") is None  # yields two classes
    assert members_at(body, "c") is None  # not contextlib's decorator


def test_except_targets():
    body = "\ntry:\n    pass\nexcept {} as e:\n    <|>"
    assert {"args", "with_traceback"} <= names(members_at(body.format("ValueError"), "e"))
    assert {"args", "errno"} <= names(members_at(body.format("(OSError, OSError)"), "e"))
    assert members_at(body.format("(KeyError, IndexError)"), "e") is None
    assert members_at(body.format("unknown_error"), "e") is None
    group = "\ntry:\n    pass\nexcept* ValueError as e:\n    <|>"
    assert members_at(group, "e") is None  # an ExceptionGroup, not a ValueError


@pytest.mark.parametrize(
    ("assignment", "receiver", "expected"),
    [
        ("a, b = Circle(1.0), Square(2)", "b", SQUARE),
        ("a, b = Circle(1.0), Square(2)", "a", CIRCLE),
        ("(a, b), c = (Circle(1.0), Square(2)), 3", "b", SQUARE),
        ("a, b = [Circle(1.0), Circle(2.0)]", "b", CIRCLE),
        ("a, b = 'xy'", "a", STR),
    ],
)
def test_tuple_unpacking(assignment, receiver, expected):
    assert expected <= names(members_at(f"\n{assignment}\n<|>", receiver))


@pytest.mark.parametrize(
    "assignment",
    ["a, *rest = Circle(1.0), Square(2)", "a, b = Circle(1.0), Square(2), 3", "a, b = unknown"],
)
def test_uncertain_unpacking_stays_open(assignment):
    assert members_at(f"\n{assignment}\n<|>", "a") is None


# ------------------------------------------------------------------ literals and builtins


@pytest.mark.parametrize(
    ("expression", "expected", "absent"),
    [
        ('"abc"<|>', STR, {"decode", "append"}),
        ("'a' 'b'<|>", STR, {"decode"}),
        ('f"{x}"<|>', STR, {"decode"}),
        ('b"abc"<|>', {"decode", "hex", "split"}, {"encode"}),
        ("rb'x'<|>", {"decode"}, {"encode"}),
        ("[]<|>", LIST, STR),
        ("[1, 2]<|>", LIST, STR),
        ("{}<|>", DICT, {"append"}),
        ("{'a': 1}<|>", DICT, {"append"}),
        ("{1, 2}<|>", {"add", "union", "discard"}, DICT),
        ("(1, 2)<|>", TUPLE, {"append"}),
        ("(1)<|>", {"bit_length", "to_bytes"}, STR),
        ("(1.5)<|>", {"is_integer", "hex"}, STR),
        ("(1j)<|>", {"conjugate", "imag"}, {"is_integer"}),
        ("[x for x in 'ab']<|>", LIST, STR),
        ("{x: 1 for x in 'ab'}<|>", DICT, STR),
        ("(x for x in 'ab')<|>", {"send", "throw"}, LIST),
        ('"a,b".split(",")<|>', LIST, STR),
        ('"a,b".split(",")[0]<|>', STR, NOT_STR),
        ('", ".join(["a"])<|>', STR, NOT_STR),
        ('"abc".encode()<|>', {"decode"}, {"encode"}),
        ('"abc".upper().strip()<|>', STR, NOT_STR),
        ('("%s" % (1,))<|>', STR, NOT_STR),
        ('("a" + "b")<|>', STR, NOT_STR),
        ("([1] + [2])<|>", LIST, STR),
        ("len([])<|>", {"bit_length"}, STR),
        ("repr(1)<|>", STR, NOT_STR),
        ("sorted('ba')<|>", LIST, STR),
        ("sorted('ba')[0]<|>", STR, NOT_STR),
        ("dict(a=1)<|>", DICT, {"append"}),
        ("open('f')<|>", {"read", "encoding"}, {"peek"}),
        ("(1 if x else 2)<|>", {"bit_length"}, STR),
        ("(x or [])<|>", {"append"}, STR),
    ],
)
def test_literal_and_builtin_receivers(expression, expected, absent):
    members = names(node_members(f"x = []\ny = {expression}.z\n"))
    assert expected <= members and not absent & members


@pytest.mark.parametrize(
    "expression",
    [
        "(1 if x else 'a')<|>",  # int or str
        "(x or 'a')<|>",  # list or str
        "open('f', mode)<|>",
        "iter([1])<|>",  # an iterator: which class is not certain
        "type(x)<|>",  # x's class, maybe a subclass
        "x.__class__<|>",
        "(lambda: 1)<|>",  # functions take attributes
        "x[0]<|>",  # x = []: the element type is unknown
    ],
)
def test_uncertain_expressions_stay_open(expression):
    assert node_members(f"x = []\nmode = input()\ny = {expression}.z\n") is None


@pytest.mark.parametrize(
    ("head", "expected", "absent"),
    [
        ('sep = ", "', STR, {"decode", "append"}),
        ("return ''", STR, {"decode"}),
        ('data = rb"x"', {"decode", "hex"}, {"encode"}),
        ('text = """doc"""', STR, {"decode"}),
        ('quoted = "a\\"b"', STR, {"decode"}),
        ("items = [1, 2]", LIST, STR),
        ("return [c for c in 'ab']", LIST, STR),
        ("table = {}", DICT, {"append"}),
        ("table = {'a:b': 1}", DICT, {"append"}),
        ("seen = {'a:b', 'c'}", {"add", "discard"}, DICT),
        ('joined = ", ".join(parts)', STR, NOT_STR),
    ],
)
def test_the_oracle_reads_literal_heads_as_their_types_instances(head, expected, absent):
    members = names(members_at("\ndef f(parts):\n    <|>", head))
    assert expected <= members and not absent & members


@pytest.mark.parametrize(
    "head",
    ["first = items[0]", "first = f(x)[0]", "total = (a + b)", "n = 1", "name = x'a'"],
)
def test_the_oracle_leaves_subscripts_and_other_heads_of_unknown_values_open(head):
    assert members_at("\ndef f(items, a, b, x):\n    <|>", head) is None


# ------------------------------------------------------------------ what the oracle reads as text

TYPED = """
async def load() -> Circle:
    return Circle(1.0)


def f(xs: list[Circle], d: dict[str, Circle], t: tuple[int, Circle], v: tuple[Circle, ...],
      s: typing.Sequence[Circle], m: typing.Mapping[str, Circle], words: list[str],
      pairs: list[tuple[str, Circle]], grid: dict[str, list[Circle]], c: Circle, sq: Square,
      u, i: int, p: str, mode):
    <|>"""


@pytest.mark.parametrize(
    ("receiver", "expected", "absent"),
    [
        ("xs[0]", CIRCLE, LIST),
        ("xs[i]", CIRCLE, LIST),
        ("xs[-1]", CIRCLE, LIST),
        ("xs[len(xs) - 1]", CIRCLE, LIST),
        ("xs[1:]", LIST, CIRCLE),  # a slice of a list is a list
        ("xs[::2]", LIST, CIRCLE),
        ("xs[1:][0]", CIRCLE, LIST),
        ("d['k']", CIRCLE, DICT),
        ('d["k"]', CIRCLE, DICT),
        ("d[p]", CIRCLE, DICT),
        ("t[1]", CIRCLE, TUPLE),  # a literal index picks the element
        ("t[-1]", CIRCLE, TUPLE),
        ("t[0]", {"bit_length"}, CIRCLE),
        ("t[:1]", TUPLE, CIRCLE),
        ("v[3]", CIRCLE, TUPLE),
        ("v[i]", CIRCLE, TUPLE),
        ("s[0]", CIRCLE, LIST),  # Sequence[T]: its elements are known
        ("m['k']", CIRCLE, DICT),
        ("words[0]", STR, NOT_STR),
        ("words[0][1:]", STR, NOT_STR),
        ("pairs[0][1]", CIRCLE, TUPLE),
        ("pairs[0][0]", STR, CIRCLE),
        ("grid['k'][0]", CIRCLE, LIST),
        ("xs[0].area()", {"is_integer", "hex"}, CIRCLE),
        ("Square(1).corners()[0]", CIRCLE, SQUARE),
        ("'abc'[0]", STR, NOT_STR),
        ("(xs + xs)[0]", CIRCLE, LIST),
    ],
)
def test_the_oracle_reads_subscripts(receiver, expected, absent):
    members = names(members_at(TYPED, receiver))
    assert expected <= members and not absent & members


def test_read_receiver_spells_subscripts_only_when_extended():
    # the default reading is a contract of lsp_server.serving.members (table keys)
    assert read_receiver("x = xs[0]", True) is None
    assert read_receiver("x = ', '.join", True) == (((("str", 1), ("join", 0)), False), 4)
    chain = (("f", 1), ("[0]", 1), ("x", 0), ("[:]", 0), ("[?]", 0))
    assert read_receiver("y = f()[0]().x[1:][k]", True, extended=True) == ((chain, False), 4)
    literal = (('"str', 0), ("join", 0))
    assert read_receiver("y = ', '.join", True, extended=True) == ((literal, False), 4)
    assert read_receiver("y = (a or b)[-1]", True, extended=True) == (
        ((("(", 0), ("[-1]", 0)), False),
        4,
    )
    for text in ("a[1, 2]", "a[i := 0]", "a[]", "print (x)"):
        assert read_receiver(text, True, extended=True) is None, text


def test_the_oracle_reads_subscripts_of_attributes():
    source = SHAPES + (
        "\nclass Scene:\n    def __init__(self):\n        self.shapes: list[Circle] = []\n"
        "        self.index: dict[str, list[Square]] = {}\n\n    def draw(self, i):\n        <|>"
    )
    oracle = oracle_for(source)
    assert CIRCLE <= names(oracle.members("self.shapes[i]"))
    assert SQUARE <= names(oracle.members("self.index['a'][0]"))
    assert LIST <= names(oracle.members("self.shapes[i:]"))


@pytest.mark.parametrize(
    "receiver",
    [
        "t[i]",  # int or Circle: the index is not a literal
        "t[5]",  # out of range
        "u[0]",  # unannotated
        "s[1:]",  # a slice of any Sequence: its class is not known
        "xs[0, 1]",
        "xs[j := 0]",
        "xs[lambda: 0]",
        "c[0]",  # Circle has no __getitem__
        "xs [0]",
    ],
)
def test_uncertain_subscripts_stay_open(receiver):
    assert members_at(TYPED, receiver) is None


@pytest.mark.parametrize(
    ("receiver", "expected", "absent"),
    [
        ("sorted(xs)[0]", CIRCLE, LIST),
        ("sorted(xs)", LIST, CIRCLE),
        ("max(xs)", CIRCLE, LIST),
        ("next(iter(xs))", CIRCLE, LIST),
        ("tuple(xs)[0]", CIRCLE, TUPLE),
        ("list(d.values())[0]", CIRCLE, LIST),
        ("d.get('k')", CIRCLE | {"__bool__"}, DICT),
        ("d.get(p)", CIRCLE | {"__bool__"}, DICT),
        ("open(p, 'rb')", {"read", "peek"}, {"encoding"}),
        ("open(p, encoding='utf-8')", {"read", "encoding"}, {"peek"}),
        ("dict(a=1)", DICT, {"append"}),
        ("p.split(',')[0]", STR, NOT_STR),
        ('", ".join(words)', STR, NOT_STR),
        ("(c)", CIRCLE, SQUARE),
        ("((c))", CIRCLE, SQUARE),
        ("(c or Circle(2.0))", CIRCLE, SQUARE),
        ("(1, 'a')", TUPLE, {"append"}),
        ("return (c)", CIRCLE, SQUARE),
        ("x = not (c)", CIRCLE, SQUARE),
    ],
)
def test_the_oracle_reads_calls_with_arguments_and_parenthesized_heads(receiver, expected, absent):
    members = names(members_at(TYPED, receiver))
    assert expected <= members and not absent & members


def test_the_oracle_reads_an_awaited_parenthesized_call():
    source = TYPED.replace("def f(", "async def f(")
    assert CIRCLE <= names(members_at(source, "(await load())"))


@pytest.mark.parametrize(
    "receiver",
    [
        "d.get('k', 0)",  # Circle or int
        "open(p, mode)",  # text or binary: the mode is not a literal
        "max(xs, key=id)",
        "sorted(u)[0]",
        "(c if u else sq)",  # Circle or Square
        "print (c)",  # a call, not a parenthesized c
        "f (c)",
        "(u)",
        "(j := c)",
        "(lambda: c)()",
    ],
)
def test_uncertain_calls_and_parenthesized_heads_stay_open(receiver):
    assert members_at(TYPED, receiver) is None


@pytest.mark.parametrize(
    "statement",
    [
        # names in the receiver that the statement itself binds: not the parameters
        "for xs in [[sq]]: sorted(xs)[0]",
        "for p, d in [('', {'k': sq})]: d.get(p)",
        "ys = [max(xs) for xs in grid.values()] + [max(xs)",
        "g = lambda xs: sorted(xs)[0]",
        "with open(p) as d: (d)",
        "c = (c)",
    ],
)
def test_receivers_read_as_text_whose_names_the_statement_binds_stay_open(statement):
    assert members_at(TYPED, statement) is None


def test_a_comprehension_after_the_cursor_binds_the_receiver():
    # [c.| for c in ...]: mid-line, the rest of the line binds c (a Square, not the Circle)
    line = "    squares = [c<|> for c in [sq]]\n    return squares\n"
    source = SHAPES + TYPED.replace("    <|>", line)
    assert oracle_for(source).members("") is None
    assert CIRCLE <= names(oracle_for(source.replace(" for c in [sq]", "")).members(""))


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        # what the statement binds is told apart from what only looks like a binding
        ("draw(c, scale=c", CIRCLE),  # a keyword argument binds nothing
        ("draw(c,\n         scale=c", CIRCLE),
        ("c_area = c", CIRCLE),  # another name that starts with c
        ("sizes = [x for x in xs if x is not c] + [c", CIRCLE),  # c is no loop target
        ("total = sum((x.radius for x in [c]), c", CIRCLE),
        ("def g(a=c", CIRCLE),  # defaults are evaluated where the def stands
        ("def g(a: int = 1) -> c", CIRCLE),
        ("class K(c", CIRCLE),
        ("for x in [c, c", CIRCLE),
    ],
)
def test_names_the_statement_does_not_rebind_are_resolved(statement, expected):
    assert expected <= names(members_at(TYPED, statement))


@pytest.mark.parametrize(
    "statement",
    [
        "c = c",
        "c, other = sq, c",
        "(c, other) = sq, c",
        "c += c",
        "c: Circle = c",
        "for c in [sq]: c",
        "for k, c in {'a': sq}.items(): c",
        "ys = [c for c in [sq] if c",
        "g = lambda c: c",
        "def c(a=c",  # the def binds c
        "def g(c): return c",  # the body sees the parameter
        "class c(c",
        "def g[c](a: c",  # a type parameter
        "class K[c](c",
        "with open(p) as c: c",
        "if (c := sq): c",
        "match sq:\n        case c if c",
    ],
)
def test_names_the_statement_rebinds_stay_open(statement):
    assert members_at(TYPED, statement) is None


def test_builtin_names_are_the_builtins_only_when_not_shadowed():
    assert {"bit_length"} <= names(node_members("y = len('a')<|>.z\n"))
    assert STR <= names(node_members("def len(x):\n    return 'n'\ny = len('a')<|>.z\n"))
    assert node_members("from somewhere_unknown import *\ny = len('a')<|>.z\n") is None


@pytest.mark.parametrize(
    ("body", "receiver", "expected"),
    [
        ("x = 'abc'", "x", STR),
        ("x = []", "x", LIST),
        ("x = {}", "x", DICT),
        ("x = None\nx = 'abc'", "x", STR | {"__bool__"}),
        ("line = 'a b'\nparts = line.split()", "parts", LIST),
        ("d: dict[str, Circle] = {}\nc = d.get('k')", "c", CIRCLE | {"__bool__"}),
        ("d: dict[str, list[Circle]] = {}\nc = d.setdefault('k', [])", "c", LIST),
        ("d: dict[str, Circle] = {}\nc = d.pop('k')", "c", CIRCLE),
        ("xs: list[Circle] = []\nc = xs.pop()", "c", CIRCLE),
        ("xs: list[Circle] = []\nc = xs[0]", "c", CIRCLE),
        ("xs: list[Circle] = []\nc = xs[-1]", "c", CIRCLE),
        ("xs: list[Circle] = []\nc = xs[1:]", "c", LIST),
        ("t: tuple[int, Circle] = (1, Circle(1.0))\nc = t[1]", "c", CIRCLE),
        ("t: tuple[Circle, ...] = ()\nc = t[5]", "c", CIRCLE),
        ("c = Color['RED']", "c", {"name", "value"}),
        ("c = next(iter([Circle(1.0)]))", "c", CIRCLE),
        ("c = max([Circle(1.0)])", "c", CIRCLE),
        ("c = typing.cast(Circle, object())", "c", CIRCLE),
    ],
)
def test_assigned_values(body, receiver, expected):
    assert expected <= names(members_at("\n" + body + "\n<|>", receiver))


@pytest.mark.parametrize(
    ("body", "receiver"),
    [
        ("x = 'abc'\nx = 1", "x"),
        ("x = []\nx += other", "x"),
        ("d: dict[str, Circle] = {}\nc = d.get('k', 0)", "c"),  # Circle or int
        ("d: dict[str, Circle] = {}\nc = d.pop('k', None)\nc = d.pop('k', 1)", "c"),
        ("t: tuple[int, Circle] = (1, Circle(1.0))\nc = t[i]", "c"),
        ("xs = []\nc = xs[0]", "c"),  # element type unknown
        ("c = max(Circle(1.0), Square(1))", "c"),
    ],
)
def test_uncertain_assigned_values_stay_open(body, receiver):
    assert members_at("\n" + body + "\n<|>", receiver) is None


# ------------------------------------------------------------------ classes


def test_named_tuples_class_and_functional_forms():
    body = (
        "\nclass Pair(NamedTuple):\n    left: int\n    right: str\n"
        "\nP = collections.namedtuple('P', 'x y')\nQ = collections.namedtuple('Q', ['a', 'b'])\n"
        "T = typing.NamedTuple('T', [('k', int)])\n"
        "\nclass Sub(collections.namedtuple('Base', 'u v')):\n    def m(self):\n        <|>"
    )
    pair = names(members_at(body, "Pair(1, 'a')"))
    assert {"left", "right", "_asdict", "_replace", "_fields", "count", "index"} <= pair
    assert STR <= names(members_at(body, "Pair(1, 'a').right"))
    assert {"x", "y", "_make", "count"} <= names(members_at(body, "P(1, 2)"))
    assert {"a", "b"} <= names(members_at(body, "Q(1, 2)"))
    assert {"k", "_asdict"} <= names(members_at(body, "T(1)"))
    assert {"u", "v", "m", "_replace"} <= names(members_at(body, "self"))
    renamed = "\nR = collections.namedtuple('R', 'x def', rename=True)\n<|>"
    assert members_at(renamed, "R(1, 2)") is None


def test_attrs_classes():
    source = (
        "import attr\nfrom attrs import define\n"
        "\n@attr.s\nclass A:\n    x = attr.ib()\n"
        "\n@define\nclass B:\n    y: int\n"
        "\n@attr.s(these={'z': attr.ib()})\nclass C:\n    pass\n<|>"
    )
    oracle = oracle_for(source)
    assert {"x", "__attrs_attrs__"} <= names(oracle.members("A()"))
    assert {"y", "__attrs_attrs__"} <= names(oracle.members("B()"))
    assert oracle.members("C()") is None  # fields given as data
    fake = "def define(cls):\n    return cls\n\n@define\nclass D:\n    pass\n<|>"
    assert oracle_for(fake).members("D()") is None  # not attrs: an unknown decorator


def test_dataclass_fields_have_their_annotated_types():
    body = "\n@dataclass\nclass Box:\n    items: list[Circle]\n    label: str = ''\n<|>"
    assert LIST <= names(members_at(body, "Box([]).items"))
    assert STR <= names(members_at(body, "Box([]).label"))


def test_properties_declared_inferred_and_descriptors():
    body = (
        "\nclass Holder:\n    def __init__(self):\n        self._items = []\n"
        "    @property\n    def items(self):\n        return self._items\n"
        "    @property\n    def first(self) -> Circle:\n        ...\n"
        "    def _get(self):\n        return 1\n    other = property(_get)\n<|>"
    )
    assert LIST <= names(members_at(body, "Holder().items"))
    assert CIRCLE <= names(members_at(body, "Holder().first"))
    assert members_at(body, "Holder().other") is None  # a descriptor: not the property object


def test_cls_in_classmethods_and_its_instances():
    body = (
        "\nclass Maker:\n    kind = 'm'\n    def __init__(self):\n        self.made = True\n"
        "    @classmethod\n    def create(cls):\n        <|>"
    )
    by_class = names(members_at(body, "cls"))
    assert {"kind", "create", "mro"} <= by_class and "made" not in by_class
    assert {"made", "kind"} <= names(members_at(body, "cls()"))


SUPER = """
class Base:
    base_attr = 1

    def base_method(self):
        self.from_base = 2


class Sub(Base):
    def own(self):
        pass

    def method(self):
        return super()<|>.base_method()
"""


def test_super_gives_class_attributes_of_the_following_classes():
    members = names(node_members(SUPER))
    assert {"base_attr", "base_method", "__init__", "__thisclass__"} <= members
    assert "from_base" not in members  # an instance attribute: super() does not see it
    assert "own" not in members  # Sub's own names are skipped
    two = SUPER.replace("super()<|>", "super(Sub, self)<|>")
    assert {"base_attr", "base_method"} <= names(node_members(two))


def test_super_through_the_chain_entry_point():
    source = SUPER.replace("return super()<|>.base_method()", "pass")
    data = source.encode()
    tree = parser_for("python").parse(data)
    module = PyModule(data, tree)
    at = tree.root_node.descendant_for_byte_range(data.rindex(b"pass"), data.rindex(b"pass") + 4)
    resolver = PythonResolver(default_stdlib())
    members = names(resolver.chain_members(module, at, (("super", 1),)))
    assert {"base_method", "base_attr"} <= members and "own" not in members
    assert resolver.chain_members(module, at, (("super", 1), ("base_method", 1))) is None


@pytest.mark.parametrize(
    "source",
    [
        "class A(Unknown):\n    def m(self):\n        super()<|>.x\n",  # unresolved base
        "class A:\n    @staticmethod\n    def m():\n        super()<|>.x\n",
        "def f(self):\n    super()<|>.x\n",  # not in a class
        "class A:\n    def m(self):\n        self = 1\n        super()<|>.x\n",
        "class A:\n    def m(self):\n        super(Unknown, self)<|>.x\n",
        "class A:\n    def m(self):\n        super = lambda: 1\n        super()<|>.x\n",
    ],
)
def test_uncertain_super_stays_open(source):
    assert node_members(source) is None


def test_attributes_stored_from_outside_the_class_are_members():
    source = (
        "class Node:\n    def __init__(self):\n        self.kids = []\n"
        "\ndef link(a: Node, b: Node):\n    a.parent = b\n    b.__weird = 1\n<|>"
    )
    assert {"kids", "parent"} <= names(oracle_for(source).members("Node()"))


# ------------------------------------------------------------------ modules


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("math", {"pi", "sqrt", "floor"}),
        ("itertools", {"chain", "islice", "groupby"}),
        ("io", {"TextIOWrapper", "StringIO", "OpenWrapper"}),  # __getattr__ name table
        ("concurrent.futures", {"ThreadPoolExecutor", "wait", "Future"}),
        ("struct", {"pack", "unpack", "calcsize"}),
    ],
)
def test_modules_with_c_parts(module, expected):
    assert expected <= names(oracle_for(f"import {module}\n<|>").members(module))


@pytest.mark.parametrize("module", ["errno", "signal", "select"])
def test_modules_whose_names_depend_on_the_platform_stay_open(module):
    # cross-platform code names other platforms' members (signal.CTRL_C_EVENT, errno.WSAEINTR)
    assert oracle_for(f"import {module}\n<|>").members(module) is None


def test_sys_time_and_os_are_closed_with_the_names_they_have_on_other_platforms():
    source = "import os\nimport sys\nimport time as _time\nimport posix\n<|>"
    oracle = oracle_for(source)
    sys_names, time_names = names(oracle.members("sys")), names(oracle.members("_time"))
    assert {"argv", "exit", "platform", "exception"} <= sys_names  # here
    assert {"getwindowsversion", "winver", "dllhandle"} <= sys_names  # Windows
    assert {"abiflags", "getdlopenflags"} <= sys_names  # not on Windows
    assert {"ps1", "last_traceback", "frozen", "_MEIPASS"} <= sys_names  # set at run time
    assert "argvv" not in sys_names and "maxint" not in sys_names  # Python 2's
    assert {"monotonic", "perf_counter", "tzset", "CLOCK_REALTIME"} <= time_names
    assert {"CLOCK_UPTIME_RAW", "CLOCK_PROF", "CLOCK_HIGHRES"} <= time_names  # BSD, Solaris
    assert "clock" not in time_names  # removed in 3.8
    os_names = names(oracle.members("os"))
    assert {"getcwd", "listdir", "walk", "makedirs", "environ", "path", "sep"} <= os_names
    assert {"O_BINARY", "startfile", "add_dll_directory"} <= os_names  # Windows
    assert {"chflags", "O_EXLOCK", "memfd_create", "O_TTY_INIT"} <= os_names  # BSDs, Linux
    assert "getcwdu" not in os_names and "errno" not in os_names
    assert {"O_BINARY", "fork"} <= names(oracle.members("posix"))
    # a name of another platform is allowed, but its value here is unknown; the classes
    # of a platform-dependent module are open (os.stat_result: st_file_attributes on
    # Windows, st_birthtime on macOS)
    assert oracle.members("sys.getwindowsversion()") is None
    assert oracle.members("os.stat_result") is None and oracle.members("os.stat(p)") is None
    assert {"tm_zone", "tm_year"} <= names(oracle.members("_time.struct_time"))


def test_c_module_attribute_types():
    oracle = oracle_for("import sys\nimport math\n<|>")
    assert LIST <= names(oracle.members("sys.argv"))
    assert {"is_integer"} <= names(oracle.members("math.pi"))
    assert oracle.members("sys.stdout") is None  # commonly replaced at run time
    assert oracle.members("math.sqrt(2)") is None  # C function results are unknown


def test_workspace_module_shadows_a_c_module(tmp_path):
    write_files(tmp_path, {"math.py": "def mine():\n    pass\n", "app.py": ""})
    workspace = WorkspaceIndex(tmp_path)
    workspace.build()
    oracle = oracle_for("import math\n<|>", (tmp_path / "app.py").as_uri(), workspace)
    members = names(oracle.members("math"))
    assert "mine" in members and "sqrt" not in members


def test_only_reads_of_globals_keep_a_module_namespace_static():
    assert not writes_globals(b"def f(n):\n    return n in globals()\n")
    assert not writes_globals(b"g = globals()\nx = g['a'] if 'a' in g else 1\ndel g\n")
    assert not writes_globals(b"names = [n for n in globals() if n[0] != '_']\n")
    assert writes_globals(b"globals()['x'] = 1\n")
    assert writes_globals(b"globals().update(d)\n")
    assert writes_globals(b"exec(code, globals())\n")
    assert writes_globals(b"g = globals()\ng['x'] = 1\n")


def test_a_module_that_may_write_its_globals_is_open(tmp_path):
    write_files(
        tmp_path,
        {
            "reads.py": "X = 1\ndef has(n):\n    return n in globals()\n",
            "writes.py": "X = 1\ndef load(code):\n    exec(code, globals())\n",
            "app.py": "",
        },
    )
    workspace = WorkspaceIndex(tmp_path)
    workspace.build()
    oracle = oracle_for("import reads, writes\n<|>", (tmp_path / "app.py").as_uri(), workspace)
    assert {"X", "has"} <= names(oracle.members("reads"))
    assert oracle.members("writes") is None


def test_attributes_the_document_stores_on_foreign_objects_are_members(tmp_path):
    write_files(
        tmp_path,
        {"lib.py": "class Engine:\n    def start(self):\n        pass\n", "app.py": ""},
    )
    workspace = WorkspaceIndex(tmp_path)
    workspace.build()
    source = (
        "from lib import Engine\n\ne = Engine()\ne.extra = 1\nsetattr(e, 'label', 'x')\ns = 'a'\n"
        "try:\n    pass\nexcept ValueError as err:\n    err.code = 2\n    <|>"
    )
    oracle = oracle_for(source, (tmp_path / "app.py").as_uri(), workspace)
    assert {"start", "extra", "label"} <= names(oracle.members("e"))
    assert {"args", "code", "__notes__"} <= names(oracle.members("err"))
    assert "extra" not in names(oracle.members("s"))  # a str takes no attributes


def test_setattr_on_a_class_makes_it_open():
    source = "class Flags:\n    a = 1\n\nfor n in 'bc':\n    setattr(Flags, n, 1)\n<|>"
    assert oracle_for(source).members("Flags") is None
    assert oracle_for(source).members("Flags()") is None


# ------------------------------------------------------------------ the rest of the file after the cursor

EDITED = (
    "class F:\n    def __init__(self):\n        self._name = None\n        self._mode = 'r'\n\n"
)


@pytest.mark.parametrize(
    "method",
    [
        # the line after the "." is cut (the person is writing it); its block stays below,
        # and an else: follows it
        "    def next(self):\n        if self.<|>\n            self._name = '<stdin>'\n"
        "            return 1\n        else:\n            return 2\n\n"
        "    def other(self):\n        return 3\n",
        # an assignment expression opening a block
        "    def fmt(self, record):\n        if named := self.<|>\n            return named\n"
        "        return 1\n",
        # the statement continues on the next lines
        "    def open(self, name):\n        if name:\n            self._file = open(name, self.<|>\n"
        "                              encoding=None)\n        else:\n            self._file = None\n",
        "    def each(self):\n        yield from self.<|>\n",
    ],
)
def test_self_resolves_mid_file_with_the_rest_of_the_method_below(method):
    members = names(oracle_for(EDITED + method).members("", 1))
    assert {"_name", "_mode", "__init__"} <= members


# -- declared names of open receivers: preferred by the monitor, never a mask -------------

PROXY = """
from elsewhere import Base


class Proxy:
    kind = "proxy"

    def __init__(self, conn):
        self._conn = conn

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def call(self):
        return 1


class Foreign(Base):
    def own(self):
        return 1


class Child(Proxy):
    __slots__ = ("extra",)

    @classmethod
    def make(cls, other: "Child", foreign: Foreign):
        cls.registry = {}
        return <|>
"""


@pytest.mark.parametrize(
    ("receiver", "declared", "absent"),
    [
        ("Proxy(1)", {"_conn", "call", "kind", "__init__", "__class__"}, {"registry"}),
        # what Child and the class it inherits __getattr__ from declare
        ("other", {"extra", "make", "call", "_conn", "registry"}, set()),
        # the class object: class attributes and those classmethods store on cls
        ("Child", {"make", "registry", "call", "kind", "mro"}, {"_conn"}),
        ("cls", {"make", "registry", "call", "kind"}, {"_conn"}),
    ],
)
def test_open_receivers_declare_what_their_visible_classes_define(receiver, declared, absent):
    oracle = oracle_for(PROXY.replace("<|>", receiver + "<|>"))
    assert oracle.members("") is None  # open: __getattr__
    names = oracle.declared("")
    assert names is not None and declared <= names and not absent & names


@pytest.mark.parametrize(
    "source",
    [
        "class Foo:\n    a = 1\n\nFoo().<|>",  # closed: the members themselves apply
        "def f(x):\n    return x<|>",  # unannotated parameter: nothing is known
        "import os\nos<|>",  # a module
        "x = [1]\nx<|>",  # a builtin class is always closed
    ],
)
def test_declared_is_none_where_members_decide_or_nothing_is_known(source):
    oracle = oracle_for(source.replace(".<|>", "<|>"))
    assert oracle.declared("") is None


def test_a_base_out_of_sight_offers_nothing_to_prefer():
    # Base's names are as real as Foreign's own: preferring "own" would push them out
    oracle = oracle_for(PROXY.replace("<|>", "foreign<|>"))
    assert oracle.members("") is None and oracle.declared("") is None


def test_declared_names_read_through_the_healing_shift():
    from analysis.context import ShiftedOracle

    source = PROXY.replace("<|>", "Proxy(1).ca<|>")
    oracle = oracle_for(source)
    shifted = ShiftedOracle(oracle, 3)  # the cursor after ".ca", asked for the code before "."
    assert shifted.declared("") == oracle.declared("", 3)
    assert "call" in (shifted.declared("") or ())


ABSTRACT = """
class Shape:
    def area(self):
        return self._w * self._h

    def describe(self):
        return <|>


class Rect(Shape):
    def __init__(self):
        self._w = self._h = 1
"""


def test_a_class_using_attributes_it_does_not_declare_is_open_and_prefers_its_own():
    # Shape's methods read self._w, which only subclasses set: self may be a Rect
    oracle = oracle_for(ABSTRACT.replace("<|>", "self<|>"))
    assert oracle.members("") is None
    assert {"area", "describe"} <= (oracle.declared("") or set())
    # the subclass declares what its base uses: closed, and exact
    oracle = oracle_for(ABSTRACT.replace("<|>", "Rect()<|>"))
    assert {"_w", "_h", "area", "describe"} <= names(oracle.members(""))
    # no use of undeclared names: closed
    oracle = oracle_for(ABSTRACT.replace("self._w * self._h", "1").replace("<|>", "self<|>"))
    assert {"area", "describe"} <= names(oracle.members(""))
    # no subclass in sight: the use is more likely the line being rewritten, closed
    lone = ABSTRACT[: ABSTRACT.index("class Rect")]
    oracle = oracle_for(lone.replace("<|>", "self<|>"))
    assert {"area", "describe"} <= names(oracle.members(""))


def test_declared_names_read_object_and_type_bases_as_the_mro_does():
    source = (
        "class Lazy(object):\n    size = 1\n\n    def __getattr__(self, name):\n        return 0\n\n"
        "    def get(self):\n        return self<|>\n"
    )
    oracle = oracle_for(source)
    assert oracle.members("") is None and {"size", "get"} <= (oracle.declared("") or set())
