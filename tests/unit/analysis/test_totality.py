"""Every public analysis function is total on broken and partial code (fuzzed prefixes)."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from analysis_testing import strict_analysis  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.context import member_oracle
from analysis.cursor import cursor_context
from analysis.document import Document
from analysis.workspace import default_stdlib

PYTHON_SOURCE = (Path(sysconfig.get_paths()["stdlib"]) / "json" / "decoder.py").read_text()
TS_SOURCE = """import * as path from './path';
export interface Point { x: number; y: number }
export class Grid<T> extends Base implements Shape {
  private cells: T[] = [];
  static readonly empty = new Grid<number>();
  constructor(public width: number, height = 2) { super(); this.height = height; }
  get size(): number { return this.width * this.height; }
  at(p: Point): T | undefined { return this.cells[p.y * this.width + p.x]; }
  render() {
    const label = `grid ${this.width}x${this.height} /* not a comment */`;
    return label.replace(/x+/g, (m) => m.toUpperCase()); // done
  }
}
function plain(this: Grid<number>, n = 1) { return this.size + n; }
"""
EXTRAS = [
    "",
    "self",
    "self.",
    "x = self",
    "\n        y = JSONDecoder()\n        y",
    'f"{self',
    "'",
    '"""',
    "# self",
    "1",
    "(",
    ")",
    "foo(bar)",
    "this",
    "new Grid()",
    "`${this",
    "/* this",
    "\n",
    "\\",
    "😀中文",
    "json",
    "a.b().c",
]


def _check(source: str, uri: str, data) -> None:
    cut = data.draw(st.integers(0, len(source)))
    text = source[:cut]
    document = Document(uri, text)
    offset = data.draw(st.integers(0, len(text)))
    context = cursor_context(document, offset)
    assert context.line_prefix == text[text.rfind("\n", 0, offset) + 1 : offset]
    oracle = member_oracle(document, offset, None)
    for extra in data.draw(st.lists(st.sampled_from(EXTRAS), min_size=1, max_size=4)):
        trim = data.draw(st.integers(0, 3))
        result = oracle.members(extra, trim)
        assert result is None or all(isinstance(name, str) for name in result)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_python_prefixes_never_raise(data):
    default_stdlib().module("json")
    _check(PYTHON_SOURCE, "file:///tmp/fuzz.py", data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_typescript_prefixes_never_raise(data):
    _check(TS_SOURCE, "file:///tmp/fuzz.ts", data)


@given(st.text(max_size=80), st.integers(-5, 100), st.text(max_size=20), st.integers(-3, 10))
@settings(max_examples=80, deadline=None)
def test_arbitrary_text_never_raises(text, offset, extra, trim):
    # strict analysis: an internal error raises here instead of meaning "no constraint"
    for uri in ("file:///tmp/a.py", "file:///tmp/a.tsx"):
        document = Document(uri, text)
        clamped = max(0, min(offset, len(text)))
        context = cursor_context(document, offset)
        assert context.line_prefix == text[text.rfind("\n", 0, clamped) + 1 : clamped]
        assert all(0 <= s <= e <= len(text) for s, e in context.enclosing_headers)
        members = member_oracle(document, offset, None).members(extra, trim)
        assert members is None or all(name.isidentifier() for name in members)
        document.apply_change(offset, offset + 2, extra)
        start = clamped
        assert (
            document.text == text[:start] + extra + text[min(len(text), max(start, offset + 2)) :]
        )
        document.replace_all(extra + text)
