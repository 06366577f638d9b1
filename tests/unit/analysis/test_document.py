"""Incremental parsing: an edited tree equals a fresh parse of the same text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.document import Document
from analysis.languages import language_for, parser_for
from analysis.positions import encode

PY_SOURCE = 'def f(x):\n    """doc 😀"""\n    return x + 1  # 中文\n\nclass A:\n    y = "é"\n'
TS_SOURCE = "class A {\n  x = '😀';\n  m(): number { return 1; } // 中文\n}\n"
SNIPPETS = [
    "x",
    "😀",
    "中文",
    "\n",
    "    ",
    "(",
    ")",
    ":",
    '"',
    "'",
    "def g():\n    pass\n",
    "{",
    "}",
    "é",
    "#",
]


def tree_signature(tree) -> list[tuple[str, int, int, tuple, tuple]]:
    """Every node with its type and byte/point ranges, in document order."""
    nodes = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        nodes.append((node.type, node.start_byte, node.end_byte, node.start_point, node.end_point))
        stack.extend(reversed(node.children))
    return nodes


def assert_equals_fresh_parse(document: Document) -> None:
    """The edited document's tree is a fresh parse's: node for node where the text is
    valid code. Where it is not, tree-sitter's error recovery may depend on the subtrees
    an incremental parse reused (parsing afresh on every keystroke would cost a full parse
    of the file), so both trees must then span the whole text and both see the errors."""
    fresh = parser_for(document.language).parse(encode(document.text))
    assert document.bytes == encode(document.text)
    if fresh.root_node.has_error:
        assert document.tree.root_node.has_error
        assert document.tree.root_node.end_byte == fresh.root_node.end_byte
        return
    assert str(document.tree.root_node) == str(fresh.root_node)
    assert tree_signature(document.tree) == tree_signature(fresh)


def test_language_for_ids_and_paths():
    assert language_for("python") == "python"
    assert language_for("typescriptreact") == "tsx"
    assert language_for("file:///a/b/c.ts") == "typescript"
    assert language_for("x.jsx") == "javascript"
    assert language_for("rust") is None
    assert language_for("notes.txt") is None


def test_unsupported_language_has_no_tree_but_tracks_text():
    document = Document("file:///a.txt", "hello", None)
    assert document.tree is None and document.language is None
    document.apply_change(5, 5, " world")
    assert document.text == "hello world"


def test_apply_change_uses_code_point_offsets():
    document = Document("file:///a.py", "x = '😀'\ny = 1\n", "python")
    document.apply_change(6, 7, "中")  # replace the closing quote after the emoji
    assert document.text == "x = '😀中\ny = 1\n"
    assert document.version == 1
    assert_equals_fresh_parse(document)


def test_published_trees_are_not_mutated_by_later_edits():
    document = Document("file:///a.py", "x = 1\n", "python")
    tree = document.tree
    before = str(tree.root_node)
    document.apply_change(0, 0, "def f():\n    pass\n")
    assert str(tree.root_node) == before


def test_replace_all_reparses_to_the_same_tree():
    document = Document("file:///a.py", PY_SOURCE, "python")
    document.replace_all(PY_SOURCE.replace("return x + 1", "return '中' * x"), version=7)
    assert document.version == 7
    assert_equals_fresh_parse(document)


@pytest.mark.parametrize(
    ("uri", "source"), [("file:///a.py", PY_SOURCE), ("file:///a.ts", TS_SOURCE)]
)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_edit_sequences_match_a_fresh_parse(uri, source, data):
    document = Document(uri, source)
    reference = source
    for _ in range(data.draw(st.integers(1, 6))):
        start = data.draw(st.integers(0, len(reference)))
        end = data.draw(st.integers(start, min(len(reference), start + 6)))
        new_text = data.draw(st.sampled_from(SNIPPETS))
        document.apply_change(start, end, new_text)
        reference = reference[:start] + new_text + reference[end:]
        assert document.text == reference
    assert_equals_fresh_parse(document)
