"""Clean drafts (lsp_server/drafts.py): golden cases from data files, stop rules, fuzzing.

Golden files (``golden_drafts/*.txt``) are plain text::

    # what the case shows
    language: python            (or javascript, typescript, tsx, an LSP id, none)
    multiline: auto             (auto | never | always)
    --- document
    print(<|>)                  (<|> marks the cursor)
    --- draft                   (one or more)
    x)
    --- expected 0              (one per surviving draft, in order: index into the drafts)
    x)
    --- replaces                (optional: document text the edit overwrites)
    )

A section's text is its lines joined by newlines (a final empty line means the
text ends with a newline). Escapes: ``⇥`` tab, ``␠`` space, ``␍`` carriage return.
No ``--- expected`` section means every draft is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lsp_server.drafts import (
    CleanDraft,
    DraftContext,
    clean_draft,
    clean_drafts,
    draft_context,
    stop_condition,
    stop_index,
    wants_multiline,
)

GOLDEN_DIR = Path(__file__).parent / "golden_drafts"
GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.txt"))
CURSOR = "<|>"
_MARKER = re.compile(r"--- (document|draft|expected (\d+)|replaces)")
_ESCAPES = {"⇥": "\t", "␠": " ", "␍": "\r"}


@dataclass
class GoldenCase:
    language: str | None
    multiline: str
    document: str
    offset: int
    drafts: list[str] = field(default_factory=list)
    expected: list[tuple[int, str, str]] = field(default_factory=list)


def _unescape(text: str) -> str:
    for mark, char in _ESCAPES.items():
        text = text.replace(mark, char)
    return text


def load_golden(path: Path) -> GoldenCase:
    """Parse one golden file (format in the module docstring)."""
    raw = path.read_text(encoding="utf-8")
    raw = raw[:-1] if raw.endswith("\n") else raw
    header: dict[str, str] = {}
    sections: list[tuple[str, list[str]]] = []
    for line in raw.split("\n"):
        marker = _MARKER.fullmatch(line)
        if marker:
            sections.append((marker.group(1), []))
        elif sections:
            sections[-1][1].append(line)
        elif line.strip() and not line.startswith("#"):
            key, _, value = line.partition(":")
            header[key.strip()] = value.strip()
    language = header.get("language", "none")
    case = GoldenCase(
        language=None if language == "none" else language,
        multiline=header.get("multiline", "auto"),
        document="",
        offset=0,
    )
    for name, lines in sections:
        text = _unescape("\n".join(lines))
        if name == "document":
            assert text.count(CURSOR) == 1, f"{path.name}: mark the cursor once with {CURSOR}"
            case.offset = text.index(CURSOR)
            case.document = text.replace(CURSOR, "")
        elif name == "draft":
            case.drafts.append(text)
        elif name == "replaces":
            index, inserted, _ = case.expected[-1]
            case.expected[-1] = (index, inserted, text)
        else:
            case.expected.append((int(name.split()[1]), text, ""))
    return case


def golden_context(case: GoldenCase) -> DraftContext:
    return draft_context(case.document, case.offset, case.language, case.multiline)


def test_golden_corpus_is_large_and_covers_languages():
    cases = [load_golden(path) for path in GOLDEN_FILES]
    languages = {golden_context(case).language for case in cases}
    assert len(cases) >= 40
    assert {"python", "javascript", "typescript", "tsx", None} <= languages
    assert sum(not case.expected for case in cases) >= 3  # some cases drop everything


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda path: path.stem)
def test_golden(path: Path):
    case = load_golden(path)
    ctx = golden_context(case)
    cleaned = clean_drafts(case.drafts, ctx)
    got = [(index, edit.text, ctx.text[ctx.offset : edit.replace_end]) for index, edit in cleaned]
    assert got == case.expected


def _decoded(draft: str, ctx: DraftContext) -> str:
    """The draft a decoder produces when it calls stop_index after every character."""
    for end in range(1, len(draft) + 1):
        cut = stop_index(draft[:end], ctx)
        if cut is not None:
            assert 0 <= cut <= end
            return draft[:cut]
    return draft


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda path: path.stem)
def test_golden_stop_while_decoding_agrees_with_cleaning(path: Path):
    """Stopping during decoding, then cleaning, gives what cleaning the whole draft gives."""
    case = load_golden(path)
    ctx = golden_context(case)
    for draft in case.drafts:
        assert clean_draft(_decoded(draft, ctx), ctx) == clean_draft(draft, ctx)


# ------------------------------------------------------------------------------ wants_multiline


def _ctx(marked: str, language: str | None = "python", multiline: str = "auto") -> DraftContext:
    return draft_context(marked.replace(CURSOR, ""), marked.index(CURSOR), language, multiline)


@pytest.mark.parametrize(
    ("marked", "language", "multiline", "expected"),
    [
        ("def f(x):<|>\n", "python", "auto", True),
        ("def f(x):  <|>\n", "python", "auto", True),
        ("def f(x):\n    <|>\n", "python", "auto", True),
        ("<|>", "python", "auto", True),
        ("x = foo(<|>)\n", "python", "auto", True),
        ("x = 1<|>\n", "python", "auto", False),
        ('d = {"a":<|>\n', "python", "auto", False),
        ("# note:<|>\n", "python", "auto", False),
        ('s = "a:<|>\n', "python", "auto", False),
        ("x = foo(<|>) + 1\n", "python", "auto", False),
        ("x = foo(<|>) + 1\n", "python", "always", False),
        ("x = 1<|>\n", "python", "always", True),
        ("def f(x):<|>\n", "python", "never", False),
        ("function f() {<|>}\n", "javascript", "auto", True),
        ("const f = (x) =><|>\n", "typescript", "auto", True),
        ("call([<|>]);\n", "javascript", "auto", True),
        ("const x = 1;<|>\n", "javascript", "auto", False),
        ("// {<|>\n", "javascript", "auto", False),
        ("if x:<|>\n", None, "auto", True),
        ("  <|>foo\n", None, "auto", False),
        ("print(<|>)\r\n", "python", "auto", True),
    ],
)
def test_wants_multiline(marked: str, language: str | None, multiline: str, expected: bool):
    assert wants_multiline(_ctx(marked, language, multiline)) is expected


# ------------------------------------------------------------------------------ stop_index


@pytest.mark.parametrize(
    ("marked", "language", "multiline", "draft", "expected"),
    [
        # single-line mode: the first newline
        ("x = 1<|>\n", "python", "auto", " + 2", None),
        ("x = 1<|>\n", "python", "auto", " + 2\ny", 4),
        ("def f():\n    <|>\n", "python", "never", "a\nb", 1),
        # Python: a line indented below the block, once its first character is known
        ("def f():\n    <|>\n", "python", "auto", "a = 1\n    b = 2\n", None),
        ("def f():\n    <|>\n", "python", "auto", "a = 1\n  ", None),
        ("def f():\n    <|>\n", "python", "auto", "a = 1\nprint", 5),
        ("def f():<|>\n", "python", "auto", "\n    return 1\n\ndef g", 14),
        ("def f():\n    <|>\n", "python", "auto", "a = (\n1,\n)\n    b", None),
        # two blank lines in a row (a single one is fine)
        ("<|>", "python", "auto", "a = 1\n\nb = 2\n", None),
        ("<|>", "python", "auto", "a = 1\n\n\n", 5),
        ("<|>", "python", "auto", "a = 1\n  \n\t\nb", 5),
        # JavaScript: the '}' closing the enclosing block
        ("function f() {<|>\n}\n", "javascript", "auto", "\n  return 1;\n", None),
        ("function f() {<|>\n}\n", "javascript", "auto", "\n  return 1;\n}", 12),
        ("function f() {<|>\n}\n", "javascript", "auto", "\n  if (a) {\n    b();\n  }\n", None),
        ("function f() {<|>}\n", "javascript", "auto", "\n  return 1;\n}", None),
        ("function f() {<|>}\n", "javascript", "auto", "\n  return 1;\n}\nnext", 14),
        ("function f() {<|>", "javascript", "auto", "\n  return 1;\n}\n", 14),
        ('const s = "}"; {<|>\n}\n', "javascript", "auto", '\n  s = "}";\n', None),
        # the document's next line, repeated
        ("def f():\n    <|>\n    return 1\n", "python", "auto", "x = 2\n    return 1", None),
        ("def f():\n    <|>\n    return 1\n", "python", "auto", "x = 2\n    return 1\n", 5),
        # a bracket the document closes on a later line
        ("f(<|>\n  b)\n", "python", "never", "a)", 1),
    ],
)
def test_stop_index(
    marked: str, language: str | None, multiline: str, draft: str, expected: int | None
):
    assert stop_index(draft, _ctx(marked, language, multiline)) == expected


def test_stop_index_is_monotone_over_a_growing_draft():
    ctx = _ctx("def f(xs):\n    <|>\n")
    draft = "total = 0\n    for x in xs:\n        total += x\n    return total\nprint(f([]))\n"
    cuts = [stop_index(draft[:end], ctx) for end in range(len(draft) + 1)]
    first = next(end for end, cut in enumerate(cuts) if cut is not None)
    assert all(cut is None for cut in cuts[:first])
    assert {cuts[end] for end in range(first, len(cuts))} == {draft.index("\nprint")}


def test_stop_index_never_splits_a_crlf():
    ctx = _ctx("x = 1<|>\r\n")
    assert stop_index(" + 2\r\ny = 3", ctx) == 4


def test_stop_condition_is_stop_index_bound_to_the_context():
    ctx = _ctx("def f():\n    <|>\n")
    stop = stop_condition(ctx)
    assert stop("a = 1\n    b") is None
    assert stop("a = 1\nprint()") == stop_index("a = 1\nprint()", ctx) == 5


# ------------------------------------------------------------------------------ contexts


def test_draft_context_is_forgiving():
    ctx = draft_context("abc", 99, "TypeScriptReact", "sometimes")
    assert (ctx.offset, ctx.language, ctx.multiline) == (3, "tsx", "auto")
    assert draft_context("abc", -5, "cobol").offset == 0
    assert draft_context("abc", -5, "cobol").language is None
    assert draft_context(None, "x", 3, None) == DraftContext("", 0, None, "auto")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "args",
    [
        ("abc", 4, None, "auto"),
        ("abc", -1, None, "auto"),
        ("", 0, "ruby", "auto"),
        ("", 0, None, "no"),
    ],
)
def test_draft_context_constructor_validates(args):
    with pytest.raises(ValueError):
        DraftContext(*args)


def test_clean_draft_of_a_huge_draft_stays_bounded():
    ctx = _ctx("def f():\n    <|>\n")
    cleaned = clean_draft("x = 1\n" + "    y = [\n" * 30_000 + "z" * 200_000, ctx)
    assert cleaned is not None and cleaned.text.startswith("x = 1\n    y = [")
    assert len(cleaned.text) <= 20_000


def test_clean_draft_of_deeply_mismatched_brackets():
    ctx = _ctx("x = <|>\n")
    assert clean_draft("[" * 5_000 + ")" * 5_000, ctx) == CleanDraft("[" * 5_000, ctx.offset)


def test_clean_draft_in_a_huge_document():
    body = "def f(x):\n    return x\n\n" * 20_000
    ctx = _ctx(body + "print(<|>)\n" + body)
    assert clean_draft("f(1))", ctx) == CleanDraft("f(1))", ctx.offset + 1)


# ------------------------------------------------------------------------------ fuzzing

_ALPHABET = st.sampled_from(
    list("ab xyz019_:;,.=+-*/\\#`'\"()[]{}<>$\n\t\r") + ["\r\n", "é", "🎉", "名", "\ud800"]
)
_TEXT = st.lists(_ALPHABET, max_size=60).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    document=_TEXT,
    offset=st.integers(min_value=-3, max_value=70),
    language=st.sampled_from([None, "python", "javascript", "typescript", "tsx", "nope"]),
    multiline=st.sampled_from(["auto", "never", "always"]),
    drafts=st.lists(_TEXT, max_size=4),
)
def test_fuzz_never_raises_and_edits_stay_on_the_cursor_line(
    document: str, offset: int, language: str | None, multiline: str, drafts: list[str]
):
    ctx = draft_context(document, offset, language, multiline)
    single = not wants_multiline(ctx)
    line_end = document.find("\n", ctx.offset)
    line_end = len(document) if line_end < 0 else line_end
    results = clean_drafts(drafts, ctx)
    assert [index for index, _ in results] == sorted({index for index, _ in results})
    for index, edit in results:
        assert ctx.offset <= edit.replace_end <= line_end
        assert "\n" not in document[ctx.offset : edit.replace_end]
        assert edit.text.strip()
        assert edit.text == edit.text.rstrip()
        if single:
            assert "\n" not in edit.text
        assert clean_draft(drafts[index], ctx) == edit
    for draft in drafts:
        for end in range(len(draft) + 1):
            cut = stop_index(draft[:end], ctx)
            assert cut is None or 0 <= cut <= end


# --------------------------------------------------------------- the analysis' restart line

RESTART_PYTHON = '''import os


def read(path):
    """Read it.

    Lines of prose, (unbalanced [brackets.
    """
    with open(path) as f:
        data = f.read(
            1024)
    return data.split(
        "\\n")


class Store:
    def put(self, key, value):
        if key:
            self.items[key] = value
'''


def _restart_at(text: str, offset: int, language: str) -> int:
    from analysis.cursor import cursor_facts
    from analysis.document import Document

    return cursor_facts(Document("file:///t", text, language), offset).restart


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_lexing_from_the_analysis_restart_line_changes_no_draft(language):
    # in code that parses, the state at the cursor read from the tree's restart line
    # equals the windowed scan
    text = RESTART_PYTHON if language == "python" else JS_RESTART
    drafts = ["x)", "]\n", "value\n        return", '"""', "1024)\n    x = 1"]
    restarts = set()
    for offset in range(0, len(text) + 1, 3):
        restart = _restart_at(text, offset, language)
        restarts.add(restart)
        for mode in ("auto", "never"):
            plain = draft_context(text, offset, language, mode)
            fast = draft_context(text, offset, language, mode, restart)
            assert fast.restart == restart
            assert wants_multiline(fast) == wants_multiline(plain), offset
            for draft in drafts:
                assert clean_draft(draft, fast) == clean_draft(draft, plain), (offset, draft)
    assert len(restarts) > 3


def test_on_broken_code_the_restart_line_follows_the_tree():
    # ``split(`` is never closed. Grammars recover differently: tree-sitter-python 0.25
    # reads the class below as a new top-level statement, 0.23 folds it into the
    # function's ERROR node. Either way the draft cleaning at the class's line follows
    # the tree: a ``)`` there closes nothing when the class starts a statement, and
    # closes the open ``split(`` when the tree restarts at the ``def``
    from analysis.document import Document

    text = "def f(data):\n    return data.split(\n\n\nclass Store:\n    pass\n"
    offset = text.index("class") + 1
    restart = _restart_at(text, offset, "python")
    tree = Document("file:///t", text, "python").tree
    assert tree is not None
    starts = [child.start_byte for child in tree.root_node.children]
    class_is_a_statement = text.index("class") in starts
    assert restart == (text.index("class") if class_is_a_statement else 0)
    cleaned = clean_draft("x)", draft_context(text, offset, "python", "never", restart)).text
    assert cleaned == ("x" if class_is_a_statement else "x)")
    assert clean_draft("x)", draft_context(text, offset, "python", "never")).text == "x)"


JS_RESTART = """const a = 1;
function f(x) {
  const s = `a ${x} (
  b`;
  return g(x,
    2);
}
"""


def test_a_restart_line_reads_a_string_opened_before_the_window():
    # a docstring longer than the window: the windowed scan starts inside it and reads
    # its lines as code; the tree's restart line is the statement that opens it
    prose = "word (unbalanced\n" * 5000
    text = f'def f():\n    """Docs.\n{prose}'
    offset = len(text) - 3
    restart = _restart_at(text, offset, "python")
    assert restart == text.index("def f")
    fast = draft_context(text, offset, "python", "auto", restart)
    assert fast._facts.quote == '"""' and not fast._facts.truncated
    windowed = draft_context(text, offset, "python", "auto")
    assert windowed._facts.truncated


def test_a_restart_past_the_cursor_is_ignored():
    assert draft_context("abc", 2, "python", "auto", 3).restart is None
    assert draft_context("abc", 2, "python", "auto", "1").restart is None
    with pytest.raises(ValueError):
        DraftContext("abc", 2, "python", "auto", 3)
