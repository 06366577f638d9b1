"""The resumable lexer: strings, comments, interpolations, brackets, regexes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.lexer import CODE_STATE, Lexer, at_statement_boundary, in_comment, in_string, is_code

PY = Lexer("python")
JS = Lexer("javascript")


@pytest.mark.parametrize(
    ("text", "code", "string", "comment"),
    [
        ('x = "abc', False, True, False),
        ('x = "abc" + y', True, False, False),
        ("x = 'a\\'b", False, True, False),
        ('x = """abc\ndef', False, True, False),
        ('x = """abc\n""" + y', True, False, False),
        ('x = "abc\ny', True, False, False),  # unterminated single-line string recovers
        ("x = 1  # note", False, False, True),
        ("x = 1  # note\ny", True, False, False),
        ('f"a{b', True, False, False),
        ('f"a{b}c', False, True, False),
        ('f"{{b', False, True, False),
        ('f"{x:>{w', True, False, False),
        ('f"{x:>10', False, True, False),
        ('rb"\\', False, True, False),
        ('f"{d["k"]}" + z', True, False, False),
        ("'#' + x", True, False, False),
    ],
)
def test_python_states(text, code, string, comment):
    state = PY.lex(CODE_STATE, text)
    assert (is_code(state), in_string(state), in_comment(state)) == (code, string, comment)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("const s = 'abc", False),
        ("const s = `a${this", True),
        ("const s = `a${this.x}b", False),
        ("const s = `a${ {a: 1}.a }b", False),
        ("x = a / b / c", True),
        ("x = /a.b/g; y", True),
        ("x = /a[/]b", False),
        ("return /x", False),
        ("/* block", False),
        ("/* block */ x", True),
        ("// line", False),
    ],
)
def test_javascript_states(text, code):
    assert is_code(JS.lex(CODE_STATE, text)) == code


def test_brackets_and_continuations_mark_statement_boundaries():
    assert at_statement_boundary(PY.lex(CODE_STATE, "x = 1\n"))
    assert not at_statement_boundary(PY.lex(CODE_STATE, "x = foo(1,\n"))
    assert not at_statement_boundary(PY.lex(CODE_STATE, "x = 1 + \\\n"))
    assert at_statement_boundary(JS.lex(CODE_STATE, "function f() {\n"), python=False)
    assert not at_statement_boundary(JS.lex(CODE_STATE, "f(a,\n"), python=False)


@given(st.text(alphabet=st.sampled_from("ab'\"#{}()[]\\\n f:`$/*"), max_size=60), st.data())
def test_lexing_is_resumable_at_line_starts(text, data):
    """Lexing line by line equals lexing at once (the oracle caches states per line)."""
    lexer = data.draw(st.sampled_from([PY, JS]))
    state = CODE_STATE
    for line in text.splitlines(keepends=True):
        state = lexer.lex(state, line)
    assert state == lexer.lex(CODE_STATE, text)
