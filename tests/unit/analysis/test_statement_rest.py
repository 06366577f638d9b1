"""The lines a statement at the cursor goes on over belong to the statement being written.

The environment replaces the statement being written by a placeholder and takes the
document back from the line after it. A statement that goes on over the lines after the
cursor's, inside brackets, is replaced whole: left in the program, its last lines would be
a syntax error (an unmatched ``)``) that error recovery reads into the class around it.
"""

from __future__ import annotations

import pytest

import analysis.context
from analysis.context import MAX_CONTINUATION_LINES, member_oracle
from analysis.document import Document


@pytest.fixture(autouse=True)
def strict(monkeypatch):
    monkeypatch.setattr(analysis.context, "STRICT", True)
    analysis.context.clear_environments()


def oracle_at(text: str, marker: str):
    offset = text.index(marker) + len(marker)
    return member_oracle(Document("file:///tmp/rest.py", text, "python"), offset), offset


FRAME = """class Frame:
    def __init__(self, name, line):
        self.name = name
        self.line = line

    def __eq__(self, other):
        return (self.name == other.name and
                self.
                self.line == other.line)

    def __repr__(self):
        return f"Frame({self.name})"
"""


def test_a_statement_going_on_after_the_cursor_is_replaced_whole():
    oracle, offset = oracle_at(FRAME, "                self.")
    rest = FRAME[offset : oracle._suffix_start]
    assert rest == "\n                self.line == other.line)\n"
    members = oracle.members("", 1)
    assert members is not None and {"name", "line", "__eq__", "__repr__"} <= members
    # the class's own name is no member: the class is read from a tree without an error,
    # not from a textual over-approximation of a broken one
    assert "Frame" not in members
    clean, _ = oracle_at(FRAME, 'return f"Frame({self.')
    assert clean.members("", 1) == members


def test_a_closing_bracket_at_the_statement_s_indentation_ends_it():
    text = (
        "def check(value: str):\n"
        "    result = compute(\n"
        "        value.\n"
        "        strip(),\n"
        "    )\n"
        "    return result\n"
    )
    oracle, offset = oracle_at(text, "        value.")
    assert text[offset : oracle._suffix_start] == "\n        strip(),\n    )\n"
    assert "upper" in oracle.members("", 1)


def test_a_bracket_the_edit_left_open_keeps_the_lines_after_it():
    text = "def f(a: str):\n    x = foo(a.\n    y = 2\n    return y\n"
    oracle, offset = oracle_at(text, "foo(a.")
    assert oracle._suffix_start == offset + 1  # the next line: a statement of its own
    # a statement of the block after it, even one whose brackets would close it: its own
    stray = "def f(a: str):\n    x = foo(a.\n    y = (1 +\n         2))\n    return y\n"
    oracle, offset = oracle_at(stray, "foo(a.")
    assert oracle._suffix_start == offset + 1
    header = "def f(a: str):\n    if foo(a.\n        run()\n        more()\n    rest()\n"
    oracle, offset = oracle_at(header, "foo(a.")
    assert oracle._suffix_start == offset + 1  # the block after it never closes the bracket
    assert "upper" in oracle.members("", 1)


def test_a_comprehension_after_the_cursor_binds_its_target():
    text = "def f(xs):\n    ys = [x.\n          for x in xs]\n    return ys\n"
    oracle, _ = oracle_at(text, "[x.")
    assert oracle.members("", 1) is None  # ``x`` is the comprehension's, of unknown type


def test_a_statement_longer_than_the_lines_followed_is_left_as_it_was():
    lines = "".join(f"        {i},\n" for i in range(MAX_CONTINUATION_LINES + 5))
    text = f"def f(a: str):\n    x = g(a.\n{lines}    )\n    return x\n"
    oracle, offset = oracle_at(text, "g(a.")
    assert oracle._suffix_start == offset + 1
