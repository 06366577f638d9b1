"""cursor_context: string/comment state, line parts, indentation and enclosing headers."""

from __future__ import annotations

from analysis_testing import CURSOR, strict_analysis  # noqa: F401

from analysis.cursor import cursor_context
from analysis.document import Document


def context_for(source: str, uri: str = "file:///tmp/c.py"):
    offset = source.index(CURSOR)
    text = source[:offset] + source[offset + len(CURSOR) :]
    return text, cursor_context(Document(uri, text), offset)


PY = '''import os


class Outer:
    """Doc."""

    def method(self, a,
               b):
        x = 1
        <|>

    def other(self):
        pass
'''


def test_python_block_indent_and_enclosing_headers():
    text, context = context_for(PY)
    assert context.language == "python"
    assert not context.in_string and not context.in_comment
    assert context.indent == context.block_indent == "        "
    assert context.line_prefix == "        " and context.line_suffix == "" and not context.mid_line
    headers = [text[start:end] for start, end in context.enclosing_headers]
    assert headers == ["class Outer:", "    def method(self, a,\n               b):"]


def test_python_dedented_blank_line_leaves_the_method():
    text, context = context_for(PY.replace("        <|>", "        y = 2\n    <|>"))
    assert context.block_indent == "    "
    assert [text[s:e] for s, e in context.enclosing_headers] == ["class Outer:"]


def test_python_after_a_header_the_block_is_unknown_until_indented():
    _, at_colon = context_for("def f():<|>\n")
    assert at_colon.block_indent is None
    _, indented = context_for("def f():\n    <|>\n")
    assert indented.block_indent == "    "
    assert [h for h in indented.enclosing_headers] == [(0, 8)]


def test_mid_line_strings_and_comments():
    _, context = context_for('x = foo("ab<|>c")\n')
    assert context.in_string and context.mid_line and context.line_suffix == 'c")'
    _, comment = context_for("x = 1  # no<|>te\n")
    assert comment.in_comment and not comment.in_string
    _, fstring = context_for('x = f"{a.<|>}"\n')
    assert not fstring.in_string


def test_emoji_and_cjk_offsets_are_code_points():
    text, context = context_for("def 函数():\n    s = '😀'\n    <|>\n")
    assert [text[s:e] for s, e in context.enclosing_headers] == ["def 函数():"]


def test_javascript_blocks_and_headers():
    source = "class A {\n  m() {\n    const x = `${1}`;\n    <|>\n  }\n}\n"
    text, context = context_for(source, "file:///tmp/c.ts")
    assert context.block_indent == "    "
    assert [text[s:e] for s, e in context.enclosing_headers] == ["class A {", "  m() {"]
    _, in_template = context_for("const s = `abc <|>`;\n", "file:///tmp/c.js")
    assert in_template.in_string


def test_unsupported_language_gives_plain_line_facts():
    _, context = context_for("hello <|>world\n", "file:///tmp/notes.txt")
    assert context.language is None
    assert context.line_prefix == "hello " and context.line_suffix == "world" and context.mid_line
    assert context.block_indent is None and context.enclosing_headers == []
