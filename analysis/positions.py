"""Conversions between str offsets (code points), UTF-8 byte offsets and line/column pairs.

Python strings index code points; tree-sitter indexes UTF-8 bytes. This module is the one
place in ``analysis`` that converts between the two (UTF-16, spoken by LSP, is converted in
``lsp_server``). Every function is total: out-of-range inputs are clamped, never raised on.
Lone surrogates (which a str may carry) are encoded with ``surrogatepass`` (3 bytes each),
the same encoding :func:`encode` uses for the whole text.
"""

from __future__ import annotations

ENCODING = "utf-8"
ERRORS = "surrogatepass"


def encode(text: str) -> bytes:
    """The UTF-8 bytes tree-sitter sees for ``text``."""
    return text.encode(ENCODING, ERRORS)


def _clamp(value: int, low: int, high: int) -> int:
    return low if value < low else high if value > high else value


def str_offset_to_byte(text: str, offset: int) -> int:
    """The UTF-8 byte offset of code-point ``offset`` in ``text`` (clamped to the text)."""
    offset = _clamp(offset, 0, len(text))
    if text.isascii():
        return offset
    return len(text[:offset].encode(ENCODING, ERRORS))


def byte_to_str_offset(text: str, byte: int) -> int:
    """The code-point offset of UTF-8 ``byte`` in ``text``.

    A byte inside a multi-byte character maps to the start of that character; out-of-range
    bytes are clamped.
    """
    if byte <= 0:
        return 0
    if text.isascii():
        return min(byte, len(text))
    return bytes_to_str_offset(encode(text), byte)


def bytes_to_str_offset(data: bytes, byte: int) -> int:
    """The code-point offset of ``byte`` in the UTF-8 ``data`` (rounding down inside a char)."""
    byte = _clamp(byte, 0, len(data))
    # Step back over continuation bytes (0b10xxxxxx) to a character boundary.
    while byte > 0 and byte < len(data) and (data[byte] & 0xC0) == 0x80:
        byte -= 1
    return len(data[:byte].decode(ENCODING, ERRORS))


def line_col_to_offset(text: str, line: int, col_codepoints: int) -> int:
    """The code-point offset of (0-based ``line``, code-point column) in ``text``.

    Lines are separated by ``\\n``. A line past the end maps to the end of the text; a column
    past the end of its line maps to the end of that line (before its ``\\n``).
    """
    if line < 0:
        return 0
    start = 0
    for _ in range(line):
        newline = text.find("\n", start)
        if newline < 0:
            return len(text)
        start = newline + 1
    end = text.find("\n", start)
    if end < 0:
        end = len(text)
    return start + _clamp(col_codepoints, 0, end - start)


def offset_to_line_col(text: str, offset: int) -> tuple[int, int]:
    """The (0-based line, code-point column) of code-point ``offset`` in ``text`` (clamped)."""
    offset = _clamp(offset, 0, len(text))
    line = text.count("\n", 0, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    return line, offset - line_start


def byte_point(data: bytes, byte: int) -> tuple[int, int]:
    """The tree-sitter point (row, byte column) of ``byte`` in UTF-8 ``data`` (clamped)."""
    byte = _clamp(byte, 0, len(data))
    row = data.count(b"\n", 0, byte)
    return row, byte - (data.rfind(b"\n", 0, byte) + 1)
