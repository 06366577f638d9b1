"""str offsets <-> UTF-8 bytes <-> line/column, with emoji and CJK text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from analysis.positions import (
    byte_point,
    byte_to_str_offset,
    encode,
    line_col_to_offset,
    offset_to_line_col,
    str_offset_to_byte,
)

TEXT = "a = '😀'\n中文 = 1\né"


def test_str_offset_to_byte_counts_utf8_bytes():
    assert str_offset_to_byte(TEXT, 0) == 0
    assert str_offset_to_byte(TEXT, 5) == 5  # before the emoji
    assert str_offset_to_byte(TEXT, 6) == 9  # the emoji is 4 bytes
    assert str_offset_to_byte(TEXT, 8) == 11  # 中, after "'\n"
    assert str_offset_to_byte(TEXT, 9) == 14  # 中 is 3 bytes
    assert str_offset_to_byte(TEXT, len(TEXT)) == len(TEXT.encode())


def test_byte_to_str_offset_inverts_and_rounds_down_inside_characters():
    assert byte_to_str_offset(TEXT, 9) == 6
    for inside in (6, 7, 8):
        assert byte_to_str_offset(TEXT, inside) == 5
    assert byte_to_str_offset(TEXT, 12) == 8  # inside 中
    assert byte_to_str_offset(TEXT, 10_000) == len(TEXT)
    assert byte_to_str_offset(TEXT, -3) == 0


def test_out_of_range_offsets_are_clamped():
    assert str_offset_to_byte(TEXT, -1) == 0
    assert str_offset_to_byte(TEXT, 999) == len(encode(TEXT))


def test_line_col_round_trip_with_cjk_and_emoji():
    assert line_col_to_offset(TEXT, 1, 2) == TEXT.index(" = 1")
    assert offset_to_line_col(TEXT, TEXT.index(" = 1")) == (1, 2)
    assert line_col_to_offset(TEXT, 0, 99) == TEXT.index("\n")  # clamped to the line
    assert line_col_to_offset(TEXT, 9, 0) == len(TEXT)
    assert offset_to_line_col(TEXT, len(TEXT)) == (2, 1)


def test_byte_point_is_row_and_byte_column():
    data = encode(TEXT)
    assert byte_point(data, str_offset_to_byte(TEXT, TEXT.index("= 1"))) == (1, 7)


def test_lone_surrogates_do_not_raise():
    text = "x\ud800y"
    assert str_offset_to_byte(text, 2) == 4
    assert byte_to_str_offset(text, 4) == 2


@given(st.text(alphabet=st.sampled_from("ab\n é中😀\t"), max_size=40), st.data())
def test_round_trip_at_every_character_boundary(text, data):
    offset = data.draw(st.integers(0, len(text)))
    byte = str_offset_to_byte(text, offset)
    assert byte == len(text[:offset].encode())
    assert byte_to_str_offset(text, byte) == offset
    line, col = offset_to_line_col(text, offset)
    assert line_col_to_offset(text, line, col) == offset
