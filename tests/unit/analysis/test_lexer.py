"""The resumable lexer: strings, comments, interpolations, brackets, regexes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.lexer import (
    CODE_STATE,
    Lexer,
    at_statement_boundary,
    in_comment,
    in_string,
    is_code,
    open_brackets,
)

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


PLAIN = Lexer("plain")


def test_scan_reports_lines_begun_in_code_and_whether_they_continue_a_statement():
    text = 'x = f(1,\n  2)\ns = """a\nb"""\ny = 1 + \\\n  2\n# c\nz'
    scan = PY.scan(CODE_STATE, text)
    starts = [(text[start : start + 3], nested) for start, nested in scan.lines]
    # inside brackets, after a backslash: continuations; the line in the string is no code line
    assert starts == [
        ("  2", True),
        ("s =", False),
        ("y =", False),
        ("  2", True),
        ("# c", False),
        ("z", False),
    ]
    # JavaScript: a '{' block does not make its lines continuations, '(' does
    js = JS.scan(CODE_STATE, "if (a) {\n  f(b,\n    c)\n}")
    assert [nested for _, nested in js.lines] == [False, True, False]


def test_scan_reports_closers_of_brackets_from_before_the_text():
    state = PY.lex(CODE_STATE, "f(a, [b")  # stack: ( [
    scan = PY.scan(state, "]) + g(c)")
    assert scan.pops == [(0, 1), (1, 0)]
    assert scan.errors == [] and open_brackets(scan.state) == ()
    # a closer of the outer bracket closes the inner one: an error, both popped
    scan = PY.scan(state, ")")
    assert scan.errors == [0] and scan.pops == [(0, 1), (0, 0)]
    # the same recovery when lexing only
    assert PY.lex(state, ")") == CODE_STATE


def test_scan_reports_unmatched_closers_and_unterminated_one_line_strings():
    assert PY.scan(CODE_STATE, "x)").errors == [1]
    assert PY.scan(CODE_STATE, "x)", unmatched_ok=True).errors == []
    scan = PY.scan(CODE_STATE, "x = 'abc\ny")
    assert scan.errors == [4] and is_code(scan.state)
    assert [start for start, _ in scan.lines] == [9]  # the newline still ends a code line
    assert JS.scan(CODE_STATE, "a = `x\ny`").errors == []  # template literals span lines


def test_scan_reports_where_strings_and_comments_open_and_close():
    scan = PY.scan(CODE_STATE, 'x = """doc')
    assert scan.open_at == 4 and PY.quote(scan.state) == '"""'
    inside = PY.lex(CODE_STATE, '"""doc')
    scan = PY.scan(inside, 'more""" + y')
    assert scan.closed_at == 4 and scan.open_at is None and is_code(scan.state)
    scan = JS.scan(JS.lex(CODE_STATE, "/* a"), " b */ c")
    assert scan.closed_at == 3
    assert JS.quote(JS.lex(CODE_STATE, "x // c")) == "//"
    assert PY.quote(PY.lex(CODE_STATE, "x # c")) == "#"
    assert PY.quote(PY.lex(CODE_STATE, 'f"{x:>')) == '"'  # a format spec is its string's


def test_scan_until_settled_stops_once_everything_from_before_is_closed():
    state = JS.lex(CODE_STATE, "f(`a ${b")  # ( ` ${
    assert open_brackets(state) == ("(", "${")
    text = "} c`) + g(d) + h(e"
    scan = JS.scan(state, text, until_settled=True)
    assert scan.pops == [(0, 1), (text.index(")"), 0)]
    assert scan.closed_at == text.index("`")
    assert scan.end == text.index(")") + 1  # nothing after the settling ')' was read


def test_plain_text_has_brackets_and_double_quoted_strings_only():
    state = PLAIN.lex(CODE_STATE, "it's (a \"b")
    assert PLAIN.quote(state) == '"' and open_brackets(state) == ("(",)
    assert PLAIN.scan(state, '") # no comment').pops == [(1, 0)]


@given(st.text(alphabet=st.sampled_from("ab'\"#{}()[]\\\n f:`$/*"), max_size=60), st.data())
def test_scan_agrees_with_lex_and_resumes_with_the_same_errors(text, data):
    """A scan ends in lex's state, and scanning in two pieces at a line start loses nothing.

    A line start here is a logical one: not the line after a backslash continuation.
    A construct still open at the cut (a string inside brackets) that fails later is
    reported where it opened, which the second piece cannot see: it reports the same
    error at its own position instead.
    """
    lexer = data.draw(st.sampled_from([PY, JS, PLAIN]))
    whole = lexer.scan(CODE_STATE, text)
    assert whole.state == lexer.lex(CODE_STATE, text)
    cut = next((m.end() for m in re.finditer(r"(?<!\\)(?:\\\\)*\n", text)), 0)
    if cut:
        first = lexer.scan(CODE_STATE, text[:cut])
        second = lexer.scan(first.state, text[cut:])
        assert second.state == whole.state
        resumed = first.errors + [cut + at for at in second.errors]
        assert len(resumed) == len(whole.errors)
        assert first.errors == whole.errors[: len(first.errors)]  # found by then: the same
        later = [at for at in resumed if at >= cut]
        assert all(at in later for at in whole.errors if at >= cut)
        lines = first.lines + [(cut + at, nested) for at, nested in second.lines]
        assert lines == whole.lines
