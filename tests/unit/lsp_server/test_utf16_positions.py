"""UTF-16 <-> code point conversions with emoji and CJK text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lsp_server.positions import (
    codepoints_to_utf16,
    is_past_end,
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
