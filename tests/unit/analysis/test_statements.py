"""Statement signatures and incremental repetition detection (RPG's grammar side)."""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.statements import (
    StatementRepetition,
    detect_period,
    inline_repetition,
    inline_tokens,
    logical_line,
    statement_signatures,
)


def signatures(source: str, language: str = "python") -> list[str]:
    """Signatures of the units of the first (outermost) block."""
    return statement_signatures(source, language)[0]


def same_shape(a: str, b: str, language: str = "python") -> bool:
    return signatures(a, language) == signatures(b, language)


# ------------------------------------------------------------------ signatures


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("assert f(1) == 2\n", "assert g(7) == 9\n"),
        ("x = 'a'  # note\n", 'y = "bbb"\n'),
        ("self.alpha = 1.5\n", "self.beta = 2\n"),
        ("def f(x): return x\n", "def g(y):\n    a = 1\n    return a\n"),
        ("for i in range(3):\n    pass\n", "for k in range(10):\n    print(k)\n    k += 1\n"),
    ],
)
def test_similar_python_statements_share_a_signature(a, b):
    assert same_shape(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("assert f(1) == 2\n", "assert f(1, 2) == 2\n"),  # arity kept
        ("assert f(1) == 2\n", "assert f(1) != 2\n"),  # operators kept
        ("x = 1\n", "x += 1\n"),
        ("def f(x): return x\n", "def f(x, y): return x\n"),
        ("return x\n", "return\n"),
    ],
)
def test_different_python_statements_differ(a, b):
    assert not same_shape(a, b)


def test_javascript_signatures():
    assert same_shape("a.b(1);\n", "c.d(22);\n", "javascript")
    assert same_shape("const s = `a${b}`;\n", "const t = 'x';\n", "javascript")
    assert not same_shape("a.b(1);\n", "a.b(1, 2);\n", "javascript")
    assert same_shape(
        "function f(a) { return a; }\n", "function g(b) { x(); y(); }\n", "javascript"
    )
    assert same_shape("let x: number = 1;\n", "let y: number = 2;\n", "typescript")


def test_clauses_are_siblings_and_js_else_if_is_flattened():
    py = "if a:\n    x = 1\nelif b:\n    x = 2\nelif c:\n    x = 3\nelse:\n    x = 4\n"
    sigs = signatures(py)
    assert len(sigs) == 4 and sigs[1] == sigs[2] and sigs[0] != sigs[1] != sigs[3]
    js = "if (a) { x(); } else if (b) { y(); } else if (c) { z(); } else { w(); }\n"
    sigs = signatures(js, "javascript")
    assert len(sigs) == 4 and sigs[1] == sigs[2] and sigs[0] != sigs[1] != sigs[3]
    tries = signatures("try:\n    a()\nexcept A:\n    b()\nexcept B:\n    c()\nfinally:\n    d()\n")
    assert len(tries) == 4 and tries[1] == tries[2]


def test_since_keeps_only_units_written_after_it():
    source = "x = 1\ny = 2\nz = 3\n"
    assert statement_signatures(source, "python", since=len("x = 1\n")) == [
        ["expression_statement(assignment(ID = NUM))"] * 2
    ]


def test_unsupported_language_is_refused():
    with pytest.raises(ValueError):
        StatementRepetition("cobol", "")
    with pytest.raises(ValueError):
        statement_signatures("x", "rust")


# ------------------------------------------------------------------ periods


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        ("AAA", (1, 3)),
        ("ABAB", (2, 2)),
        ("ABC", None),
        ("A", None),
        ("", None),
        ("XABABA", (2, 2)),
        ("AAAA", (1, 4)),
        ("ABCABCAB", (3, 2)),
        ("ABCDEFGHABCDEFGH", (8, 2)),
    ],
)
def test_detect_period(seq, expected):
    assert detect_period(list(seq)) == expected


def test_excess_counts_generated_copies_beyond_the_first():
    oracle = StatementRepetition("python", "import os\n")
    line = "assert f(1) == 2\n"
    assert oracle.report(line) is None
    two = oracle.report(line * 2)
    assert (two.period, two.copies, two.excess, two.anchors) == (1, 2, 1, ("assert",))
    three = oracle.report(line * 3)
    assert (three.copies, three.excess, three.at_unit_start) == (3, 2, True)
    abab = oracle.report("x = 1\nassert x\ny = 2\nassert y\n")
    assert (abab.period, abab.copies, abab.excess, abab.anchors) == (2, 2, 1, ("x", "y"))


def test_free_copy_when_the_prompt_block_already_repeats():
    repeated = "def test():\n    assert f(1) == 2\n    assert g(2) == 3\n"
    single = "def test():\n    assert f(1) == 2\n"
    line = "    assert h(3) == 4\n"
    free = StatementRepetition("python", repeated)
    paid = StatementRepetition("python", single)
    assert free.report(line * 2).excess == 0
    assert free.report(line * 3).excess == 1
    assert free.report(line * 4).excess == 2
    assert paid.report(line * 2).excess == 1
    # a different shape after the prompt's run gets no free copy
    other = "    x = h(3)\n"
    assert free.report(other * 2).excess == 1


def test_unit_start_follows_the_block_indentation():
    oracle = StatementRepetition("python", "class A:\n    def a(self):\n        return 1\n")
    body = "    def b(self):\n        return 2\n    def c(self):\n        return 3\n"
    assert oracle.report(body).at_unit_start
    assert oracle.report(body + "   ").at_unit_start
    assert oracle.report(body + "    ").at_unit_start
    assert not oracle.report(body + "        ").at_unit_start  # deeper: the body goes on
    assert not oracle.report(body + "    de").at_unit_start
    assert oracle.report(body).anchors == ("def",)


def test_elif_and_else_if_chains_are_detected():
    py = StatementRepetition("python", "def f(x):\n    if x == 1:\n        return 'a'\n")
    chain = "".join(f"    elif x == {i}:\n        return '{i}'\n" for i in range(2, 5))
    found = py.report(chain)
    assert (found.period, found.copies, found.anchors, found.at_unit_start) == (
        1,
        3,
        ("elif",),
        True,
    )
    js = StatementRepetition("javascript", "function f(x) {\n  if (x === 1) { return 'a'; }")
    chain = "".join(f" else if (x === {i}) {{ return '{i}'; }}" for i in range(2, 5))
    found = js.report(chain)
    assert (found.period, found.copies, found.anchors, found.at_unit_start) == (
        1,
        3,
        ("else",),
        True,
    )


def test_javascript_statements_end_at_semicolons():
    oracle = StatementRepetition("javascript", "function f(a) {\n")
    found = oracle.report("  a.x = 1; a.y = 2; a.z = 3;")
    assert (found.copies, found.anchors, found.at_unit_start) == (3, ("a.x", "a.y", "a.z"), True)
    assert not oracle.report("  a.x = 1; a.y = 2; a.z = 3; a").at_unit_start


def test_steps_without_a_terminator_do_not_reparse():
    oracle = StatementRepetition("python", "import os\n")
    text = "assert f(1) == 2\n" * 2
    oracle.report(text)
    parses = oracle.parses
    for extra in ("a", "as", "ass", "asse", "  ", "assert f(1"):
        oracle.report(text + extra)
    assert oracle.parses == parses
    oracle.report(text + "assert f(1) == 2\n")
    assert oracle.parses == parses + 1


# ------------------------------------------------------------------ incremental == batch


def _stdlib_sources() -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    names = ("textwrap.py", "colorsys.py", "keyword.py", "bisect.py")
    return [(root / n).read_text(encoding="utf-8") for n in names if (root / n).is_file()]


def test_incremental_reports_equal_batch_reports_on_random_chunkings():
    rng = random.Random(6)
    checked = 0
    for source in _stdlib_sources():
        lines = source.splitlines(keepends=True)
        for _ in range(3):
            cut = rng.randrange(1, max(2, len(lines) - 30))
            prompt = "".join(lines[:cut])
            draft = "".join(lines[cut : cut + 25])
            incremental = StatementRepetition("python", prompt)
            pos = 0
            while pos < len(draft):
                pos = min(len(draft), pos + rng.randint(1, 12))
                text = draft[:pos]
                got = incremental.report(text)
                if rng.random() < 0.2 or pos == len(draft):
                    assert got == StatementRepetition("python", prompt).report(text)
                    checked += 1
    assert checked > 20


def test_incremental_equals_batch_on_a_looping_draft():
    prompt = "class A:\n    def setUp(self):\n        self.a = 1\n        self.b = 2\n"
    draft = "".join(f"        self.x{i} = {i}\n" for i in range(8))
    incremental = StatementRepetition("python", prompt)
    reports = []
    for pos in range(1, len(draft) + 1):
        got = incremental.report(draft[:pos])
        assert got == StatementRepetition("python", prompt).report(draft[:pos])
        reports.append(got)
    assert reports[-1].copies == 8 and reports[-1].excess == 6  # free copy: prompt has two


def test_drafts_parsed_from_the_documents_tree_equal_the_prefix_alone():
    # the oracle of a document parses each draft from the document's own tree (the code
    # after the cursor replaced by the draft): trees and reports equal those of a fresh
    # prefix-only oracle, and the prefix is never parsed on its own
    from analysis.document import Document

    rng = random.Random(3)
    checked = 0
    sources = [*_stdlib_sources()[:2], "def f(s='😀漢字'):\n    x = (1,\n    return s\n"]
    for source in sources:
        doc = Document("file:///t.py", source, "python")
        lines = source.splitlines(keepends=True)
        for _ in range(4):
            cut = rng.randrange(0, len(source) + 1)
            draft = "".join(lines[rng.randrange(len(lines)) :][:6]) + "x = 1\nx = 1\nx = 1\n"
            from_doc = StatementRepetition.for_document(doc, cut)
            alone = StatementRepetition("python", source[:cut])
            for pos in range(0, len(draft) + 1, 7):
                assert from_doc.report(draft[:pos]) == alone.report(draft[:pos])
            data = from_doc._prompt + draft.encode()
            fresh = doc_parser().parse(data)
            assert str(from_doc._parse(data).root_node) == str(fresh.root_node)
            assert from_doc._base is not None and from_doc._base[0] is doc.tree
            checked += 1
    assert checked == 4 * len(sources)


def doc_parser():
    from analysis.languages import parser_for

    return parser_for("python")


def test_a_document_whose_bytes_differ_from_the_prefix_falls_back_to_the_prefix():
    # the document changed under the request: its tree is not used
    oracle = StatementRepetition("python", "x = 1\n", source=(doc_parser().parse(b"y"), b"y"))
    assert oracle._base is None
    assert oracle.report("a = f(1)\n" * 4) is not None
    assert oracle._base is not None and oracle.parses >= 1


CODE_ALPHABET = st.sampled_from(
    list("abcdefxyz_019 \n\t()[]{}:;,.=+-*/'\"#@`$\\<>!&|?") + ["def ", "if ", "else", "😀", "漢字"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prompt=st.lists(CODE_ALPHABET, max_size=30).map("".join),
    draft=st.lists(CODE_ALPHABET, max_size=40).map("".join),
    language=st.sampled_from(["python", "javascript", "typescript", "tsx"]),
)
def test_fuzzed_text_never_raises(prompt, draft, language):
    oracle = StatementRepetition(language, prompt)
    for pos in range(0, len(draft) + 1, 3):
        found = oracle.report(draft[:pos])
        assert found is None or found.copies >= 2
    statement_signatures(prompt + draft, language, since=len(prompt))


def test_partial_prefixes_of_a_real_file_never_raise():
    source = _stdlib_sources()[0]
    rng = random.Random(1)
    reports = 0
    for _ in range(25):
        a = rng.randrange(len(source))
        b = min(len(source), a + rng.randrange(1, 400))
        oracle = StatementRepetition("python", source[:a])
        found = oracle.report(source[a:b])
        if found is not None:
            reports += 1
            longest = 8 if found.kind == "statement" else 12
            assert found.copies >= 2 and 1 <= found.period <= longest and found.excess >= 0
            assert all(isinstance(anchor, str) for anchor in found.anchors)
        blocks = statement_signatures(source[:b], "python", since=a)
        assert all(isinstance(sig, str) and sig for block in blocks for sig in block)
    assert reports < 25  # real code is not reported as a loop everywhere


# ------------------------------------------------------------------ in-line repetition


def kinds_of(text: str, language: str = "python") -> list[str]:
    tokens, clean = inline_tokens(text, language)
    assert clean
    return [t.kind for t in tokens]


def test_inline_tokens_abstract_names_literals_and_operators():
    assert kinds_of("x = os.path.join(a, 'b', 1.5) or None") == (
        ["ID", "=", "ID", "(", "ID", ",", "STR", ",", "NUM", ")", "OP", "CONST"]
    )
    assert kinds_of('if not a in b: return f"{c}"  # note\n') == (
        ["if", "OP", "ID", "OP", "ID", ":", "return", "STR", "NL"]
    )
    assert kinds_of("s = '''a\nb''' + x") == ["ID", "=", "STR", "OP", "ID"]
    assert kinds_of("const s = `a${b}` /* c */ + f(null);", "javascript") == (
        ["const", "ID", "=", "STR", "OP", "ID", "(", "CONST", ")", ";"]
    )
    # the text ends inside a string or a comment: not clean
    for text, language in [
        ("x = 'abc", "python"),
        ('x = """abc\n', "python"),
        ("x = 1  # os.join(", "python"),
        ("x = `a", "javascript"),
        ("x = 1 // a(", "javascript"),
        ("x = /* a(", "javascript"),
    ]:
        assert inline_tokens(text, language)[1] is False


def test_logical_line_keeps_bracketed_newlines_and_ends_at_others():
    tokens, _ = inline_tokens("a = 1\nf(x,\n  y,\n  z")
    assert [t.text for t in logical_line(tokens)] == ["f", "(", "x", ",", "y", ",", "z"]
    tokens, _ = inline_tokens("a(1); b = c", "javascript")
    assert [t.text for t in logical_line(tokens)] == ["b", "=", "c"]


def test_self_similar_nesting_is_reported_where_the_next_copy_starts():
    oracle = StatementRepetition("python", "import os\n\ndef where(name):\n    return ")
    loop = "path.join(os.join(path.join(os.join(path.join("
    assert oracle.report("path.join(os.join(") is None  # two copies: ordinary
    three = oracle.report("path.join(os.join(path.join(")
    assert (three.kind, three.period, three.copies, three.excess) == ("nesting", 2, 3, 1)
    assert three.anchors == ("path.join", "os.join") and three.at_unit_start
    five = oracle.report(loop)
    assert (five.copies, five.excess) == (5, 3)
    # not where the draft ends inside a copy: after a name or a dot, nothing is said
    for partial in (loop + "pa", loop + "path", loop + "path.", loop + "path.join"):
        assert oracle.report(partial) is None
    # the example: the first copy began in the prompt ("return pa|th.join(")
    cut = StatementRepetition("python", "def where(name):\n    return pa")
    assert cut.report("th.join(os.join(path.join(") is None  # two generated copies
    found = cut.report("th.join(os.join(path.join(path.dirname(")
    assert found.kind == "nesting" and found.copies == 3
    assert found.anchors == ("os.join", "path.join", "path.dirname")
    js = StatementRepetition("javascript", "const p = ")
    assert js.report("wrap(wrap(wrap(").kind == "nesting"
    # a longer copy: `tuple[str, list[str, list[` is 10 abstract tokens
    types = StatementRepetition("python", "d = {}\n")
    found = types.report("d[" + "tuple[str, list[str, list[" * 3)
    assert (found.kind, found.period, found.anchors) == ("nesting", 10, ("tuple",))


def test_repeated_operands_are_reported_before_the_next_name():
    oracle = StatementRepetition("python", "def f(result):\n    if ")
    loop = "_len(result) or _len(result) and _len(result) or "
    found = oracle.report(loop)
    assert (found.kind, found.period, found.copies, found.excess) == ("operands", 5, 3, 1)
    assert found.anchors == ("_len",)
    assert oracle.report(loop + "_len(result) and ").excess == 2
    # inside a copy (after `_len(`, `result`, `)`) nothing is said: `(` `,` are never the start
    for partial in ("_len(", "_len(result", "_len(result)", "_len(result) o"):
        assert oracle.report(loop + partial) is None
    # repeated arguments across continuation lines
    args = StatementRepetition("python", "class A:\n    def __init__(self, ")
    found = args.report("file=None, file=None,\n                 file=None,\n                 ")
    assert (found.kind, found.anchors) == ("operands", ("file",))
    # chained assignments of the same name
    chain = StatementRepetition("python", "def f(self):\n    self.h = ")
    found = chain.report("self.g = self.g = self.g = ")
    assert (found.kind, found.anchors) == ("operands", ("self.g",))


LEGITIMATE_LINES = [
    "path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')\n",
    "result = int(float(str(value)))\n",
    "if isinstance(x, int) or isinstance(x, float):\n",
    "call(a, b, c, d, e, f, g, h)\n",
    "total = a + b + c + d + e + f\n",
    "row = [int(a), int(b), int(c)]\n",
    "table = {'a': 1, 'b': 2, 'c': 3, 'd': 4, 'e': 5}\n",
    "self.assertEqual(self.assertEqual, self.x)\n",
    "names = sorted(set(map(str.lower, items)))\n",
    "value = x[0][1][2] + y[0][1][2]\n",
    "a = b = c = d = None\n",
]


@pytest.mark.parametrize("line", LEGITIMATE_LINES)
def test_legitimate_lines_are_never_reported_at_any_prefix(line):
    prompt = "import os\n\ndef f(a, b, c, d, e, f, g, h, x, y, value, items):\n    "
    oracle = StatementRepetition("python", prompt)
    for end in range(1, len(line) + 1):
        found = oracle.report(line[:end])
        assert found is None or found.kind == "statement", (line[:end], found)


def test_copies_written_in_the_prompt_are_free():
    prompt = "def f(a):\n    return isinstance(a, int) or isinstance(a, str) or "
    oracle = StatementRepetition("python", prompt)
    assert oracle.report("isinstance(a, bytes) or ") is None  # one generated copy
    assert oracle.report("isinstance(a, bytes) or isinstance(a, bytes) or ") is None
    found = oracle.report("isinstance(a, bytes) or " * 3)
    assert found.kind == "operands" and found.copies == 3


def test_loops_inside_strings_and_comments_are_not_code():
    oracle = StatementRepetition("python", "x = ")
    assert oracle.report("'path.join(os.join(path.join(os.join(") is None
    assert oracle.report("1  # path.join(os.join(path.join(os.join(") is None
    assert oracle.report('"""\npath.join(os.join(path.join(os.join(') is None


def test_inline_repetition_helper_counts_generated_copies_only():
    tokens = logical_line(inline_tokens("x = f(f(f(f(")[0])
    assert inline_repetition(tokens, 0).copies == 4
    assert inline_repetition(tokens, len("x = f(")).copies == 3
    assert inline_repetition(tokens, len("x = f(f(")) is None
    assert inline_repetition(tokens, 0, min_copies=5) is None


def test_incremental_inline_reports_equal_batch_reports():
    prompt = "def f(result):\n    data = [\n        "
    draft = "g(x), g(x),\n        g(x), g(x), g(x),\n        g(x), g("
    incremental = StatementRepetition("python", prompt)
    seen = set()
    for pos in range(1, len(draft) + 1):
        got = incremental.report(draft[:pos])
        assert got == StatementRepetition("python", prompt).report(draft[:pos])
        if got is not None:
            seen.add(got.kind)
    assert seen == {"operands"}
