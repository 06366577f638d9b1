"""Referenced definitions near the cursor (issue 14, item 5): what is summarised, how it is
ranked, what the prompt already shows, and stability while a person types."""

from __future__ import annotations

import pytest

from analysis import context
from analysis.definitions import clear_cache, referenced_definitions
from analysis.document import Document
from analysis.workspace import WorkspaceIndex

SHAPES = '''"""Shapes."""

import math
from dataclasses import dataclass


@dataclass
class Circle:
    """A round shape."""

    radius: float
    _cache: dict

    def area(self) -> float:
        """Area of the circle."""
        return math.pi * self.radius**2

    def scaled(self, factor: float = 1.0, label: str = "a very long default label") -> "Circle":
        return Circle(self.radius * factor)

    def _private(self):
        return 0

    def __repr__(self):
        return "Circle"


def make_circle(radius: float) -> Circle:
    """Build a circle of the given radius.

    More text.
    """
    return Circle(radius)


def total_area(shapes: list[Circle]) -> float:
    total = 0.0
    for shape in shapes:
        total += shape.
    return total
'''


@pytest.fixture(autouse=True)
def strict():
    context.STRICT = True  # analysis errors surface instead of becoming "no summary"
    clear_cache()
    yield
    context.STRICT = False


def at(text: str, marker: str, delta: int = 0, uri: str = "file:///tmp/shapes.py"):
    offset = text.index(marker) + len(marker) + delta
    return Document(uri, text, "python"), offset


def by_tier(found, tier):
    return [d for d in found if d.tier == tier]


def test_the_receivers_class_is_summarised_first_with_fields_and_signatures():
    doc, offset = at(SHAPES, "total += shape.")
    found = referenced_definitions(doc, offset)
    first = found[0]
    assert first.tier == 0 and first.origin == "file"
    assert first.text.splitlines()[:3] == [
        "@dataclass",
        "class Circle:",
        '    """A round shape."""',
    ]
    assert "    radius: float\n" in first.text
    assert "    def area(self) -> float: ...\n" in first.text
    # a long default is elided, a short one kept; the return annotation is kept
    assert (
        '    def scaled(self, factor: float = 1.0, label: str = ...) -> "Circle": ...\n'
        in first.text
    )
    # another class's private members and dunders (but __init__/__call__) are left out
    assert "_private" not in first.text and "__repr__" not in first.text
    assert "_cache" not in first.text


def test_function_summaries_are_a_signature_and_the_docstrings_first_line():
    text = SHAPES.replace("        total += shape.", "        c = make_circle(2.0)\n        c.")
    doc, offset = at(text, "        c.")
    found = referenced_definitions(doc, offset)
    function = next(d for d in found if "make_circle" in d.text)
    assert function.text == (
        'def make_circle(radius: float) -> Circle:\n    """Build a circle of the given radius."""\n'
    )
    # the receiver `c` is a Circle (make_circle's return annotation)
    assert found[0].tier == 0 and "class Circle:" in found[0].text
    # the function being edited is never summarised (its header is in the prompt)
    assert not any("def total_area" in d.text for d in found)


def test_the_own_class_shows_its_private_members():
    text = SHAPES.replace(
        '    def __repr__(self):\n        return "Circle"\n',
        "    def __repr__(self):\n        return self.\n",
    )
    doc, offset = at(text, "return self.")
    own = referenced_definitions(doc, offset)[0]
    assert own.tier == 0 and "class Circle:" in own.text
    assert "    def _private(self): ...\n" in own.text and "    _cache: dict\n" in own.text


def test_what_the_prompt_shows_is_not_repeated():
    doc, offset = at(SHAPES, "total += shape.")
    everything = (0, len(SHAPES))
    assert referenced_definitions(doc, offset, visible=everything) == []
    # the window starts inside the class: the members above it are summarised, not the rest
    start = SHAPES.index("    def scaled")
    found = referenced_definitions(doc, offset, visible=(start, len(SHAPES)))
    circle = next(d for d in found if "class Circle:" in d.text)
    assert "def area" in circle.text and "radius: float" in circle.text
    assert "def scaled" not in circle.text


def test_names_are_ranked_receiver_then_statement_then_function_nearest_first():
    text = SHAPES.replace(
        "        total += shape.",
        "        helper = make_circle(1.0)\n        total += shape.area() + make_circle(2).",
    )
    doc, offset = at(text, "make_circle(2).")
    found = referenced_definitions(doc, offset)
    tiers = [d.tier for d in found]
    assert tiers == sorted(tiers)
    assert found[0].tier == 0 and "class Circle:" in found[0].text  # make_circle(2) is a Circle
    statement = by_tier(found, 1)
    assert any("def make_circle" in d.text for d in statement)
    function = by_tier(found, 2)
    # `helper` (one line above) and the `shapes: list[Circle]` parameter both give Circle,
    # `make_circle` is used on the line above too
    assert {d.key for d in function} >= {found[0].key}
    assert any("def make_circle" in d.text for d in function)


def test_the_functions_summaries_do_not_change_while_a_statement_is_typed():
    base = SHAPES.replace("        total += shape.\n", "        total += \n")
    doc, offset = at(base, "total += ")
    before = by_tier(referenced_definitions(doc, offset), 2)
    assert before
    typed = "make_circle(shape.radius).area"
    for index, char in enumerate(typed):  # one keystroke at a time, the server's way
        doc.apply_change(offset + index, offset + index, char)
        found = referenced_definitions(doc, offset + index + 1)
        assert by_tier(found, 2) == before
    # ... while the statement's own names are picked up as they are typed
    assert any("def make_circle" in d.text for d in by_tier(found, 1))
    # on the next line, the finished statement is part of the function's names
    end = offset + len(typed)
    doc.apply_change(end, end, "\n        ")
    after = by_tier(referenced_definitions(doc, end + 9), 2)
    assert after != before and any("def make_circle" in d.text for d in after)


def test_incomplete_code_with_the_rest_of_the_file_after_the_cursor():
    text = SHAPES.replace(
        "        total += shape.\n",
        "        if shape.\n        total += shape.radius\n",
    )
    doc, offset = at(text, "if shape.")
    found = referenced_definitions(doc, offset)
    assert found and found[0].tier == 0 and "class Circle:" in found[0].text


def test_standard_library_definitions_are_read_from_source():
    text = "from pathlib import Path\n\n\ndef main(path: Path):\n    path.\n"
    doc, offset = at(text, "    path.")
    receiver = referenced_definitions(doc, offset)[0]
    assert receiver.tier == 0 and receiver.origin == "stdlib"
    assert receiver.text.startswith("class Path(PurePath):\n")
    assert "    def exists(self" in receiver.text or "    def read_text(self" in receiver.text


def test_workspace_definitions_are_summarised(tmp_path):
    (tmp_path / "models.py").write_text(
        "class Account:\n"
        '    """A bank account."""\n\n'
        "    def __init__(self, owner: str):\n"
        "        self.owner = owner\n"
        "        self.balance = 0\n\n"
        "    def deposit(self, amount: int) -> None:\n"
        "        self.balance += amount\n"
    )
    main = tmp_path / "main.py"
    text = "from models import Account\n\n\ndef run():\n    account = Account('me')\n    account.\n"
    main.write_text(text)
    workspace = WorkspaceIndex(tmp_path)
    workspace.build()
    doc, offset = at(text, "account.", uri=main.as_uri())
    found = referenced_definitions(doc, offset, workspace)
    assert found[0].tier == 0 and found[0].origin == "workspace"
    assert found[0].text == (
        "class Account:\n"
        '    """A bank account."""\n'
        "    def __init__(self, owner: str): ...\n"
        "    owner = ...\n"
        "    balance = ...\n"
        "    def deposit(self, amount: int) -> None: ...\n"
    )


def test_unknown_receivers_and_other_languages_give_no_summary():
    doc, offset = at("def f(x):\n    x.\n", "    x.")
    assert referenced_definitions(doc, offset) == []
    js = Document("file:///tmp/a.js", "class A { m() { this. } }", "javascript")
    assert referenced_definitions(js, js.text.index("this.") + 5) == []
