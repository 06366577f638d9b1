"""UTF-16 <-> code point conversions with emoji and CJK text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lsp_server.positions import (
    codepoints_to_utf16,
    is_past_end,
    line_starts,
    offset_to_position,
    position_to_offset,
    utf16_to_codepoints,
)

TEXT = "a = '😀'\n漢字 = 1\nprint(a)"


def test_emoji_counts_two_utf16_units():
    line = "a = '😀'"
    assert codepoints_to_utf16(line, 6) == 7  # after the emoji
    assert utf16_to_codepoints(line, 7) == 6
    # a character inside the surrogate pair rounds down to the emoji's start
    assert utf16_to_codepoints(line, 6) == 5


def test_cjk_is_one_unit_per_character():
    assert position_to_offset(TEXT, 1, 2) == TEXT.index(" = 1")
    assert offset_to_position(TEXT, TEXT.index(" = 1")) == (1, 2)


def test_positions_past_the_end_clamp():
    assert position_to_offset(TEXT, 1, 999) == TEXT.index("\nprint")
    assert position_to_offset(TEXT, 99, 0) == len(TEXT)
    assert is_past_end(TEXT, 99, 0)
    assert is_past_end(TEXT, 0, 9)
    assert not is_past_end(TEXT, 0, 8)


@given(st.lists(st.sampled_from(["a", "😀", "漢", "\n", " ", "é", "𝄞"]), max_size=40))
def test_round_trip_every_offset(chars):
    text = "".join(chars)
    for offset in range(len(text) + 1):
        line, character = offset_to_position(text, offset)
        assert position_to_offset(text, line, character) == offset


@given(
    st.lists(st.sampled_from(["a", "😀", "\n", "\r", " "]), max_size=30),
    st.integers(0, 12),
    st.integers(0, 12),
)
def test_positions_agree_with_a_plain_line_split(chars, line, character):
    text = "".join(chars)
    lines = text.split("\n")  # the document's lines, "\r" kept as LSP counts it
    assert line_starts(text) == [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
    if line >= len(lines):
        assert position_to_offset(text, line, character) == len(text)
        assert is_past_end(text, line, character)
    else:
        start = sum(len(x) + 1 for x in lines[:line])
        column = utf16_to_codepoints(lines[line], character)
        assert position_to_offset(text, line, character) == start + column
        assert is_past_end(text, line, character) == (
            character > codepoints_to_utf16(lines[line], len(lines[line]))
        )
