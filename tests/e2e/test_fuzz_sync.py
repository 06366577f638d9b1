"""Random edit/request sequences through the real server (hypothesis).

After every edit the server's copy of the document must equal a reference text
computed here with the same UTF-16 semantics an editor uses; interleaved
completion requests must be answered and the server must stay up.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.harness import LspError, LspHarness

ALPHABET = st.sampled_from(["a", "b", " ", "\n", "(", ")", ".", "😀", "漢", "é", "\t", "x = 1\n"])


def offset_of(text: str, line: int, character: int) -> int:
    """Reference: code-point offset of an LSP position, clamped like the server."""
    lines = text.split("\n")
    if line >= len(lines):
        return len(text)
    start = sum(len(x) + 1 for x in lines[:line])
    units = 0
    for i, ch in enumerate(lines[line]):
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > character:
            return start + i
        units += width
    return start + len(lines[line])


@st.composite
def edits(draw):
    n = draw(st.integers(1, 12))
    out = []
    for _ in range(n):
        out.append(
            (
                draw(st.integers(0, 6)),
                draw(st.integers(0, 12)),
                draw(st.integers(0, 6)),
                draw(st.integers(0, 12)),
                "".join(draw(st.lists(ALPHABET, max_size=4))),
                draw(st.booleans()),
            )
        )
    return out


@pytest.fixture(scope="module")
def server():
    with LspHarness() as harness:
        harness.initialize({"drafts": 1, "maxNewTokens": 2, "decoder": "greedy"})
        harness.wait_ready()
        yield harness


COUNTER = iter(range(10**9))


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(initial=st.text(st.sampled_from("ab \n😀漢(."), max_size=30), steps=edits())
def test_random_edits_keep_text_in_sync(server, initial, steps):
    uri = f"file:///tmp/superpose_fuzz/f{next(COUNTER)}.py"
    server.open(uri, "python", initial)
    text = initial
    for version, (l1, c1, l2, c2, new, ask) in enumerate(steps, start=2):
        a, b = offset_of(text, l1, c1), offset_of(text, l2, c2)
        start, end = min(a, b), max(a, b)
        (sl, sc), (el, ec) = ((l1, c1), (l2, c2)) if a <= b else ((l2, c2), (l1, c1))
        server.change(
            uri,
            version,
            [
                {
                    "range": {
                        "start": {"line": sl, "character": sc},
                        "end": {"line": el, "character": ec},
                    },
                    "text": new,
                }
            ],
        )
        text = text[:start] + new + text[end:]
        if ask:
            try:
                result = server.completion(uri, l1, c1, timeout=60)
                assert isinstance(result["items"], list)
            except LspError as exc:  # superseded requests may be cancelled
                assert exc.code in (-32800, -32801)
        got = server.command_("superpose.debug.documentText", uri)
        assert got["text"] == text
    assert server.alive()
