"""LSP positions (UTF-16 code units) <-> Python str offsets (code points).

The one place where UTF-16 is handled (str <-> UTF-8 bytes for tree-sitter lives
in ``analysis.positions``). Positions past the end of a line clamp to the line
end, and lines past the end clamp to the document end, as LSP 3.17 prescribes;
a character inside a surrogate pair rounds down to the start of that character.
"""

from __future__ import annotations


def line_starts(text: str) -> list[int]:
    """Return the code-point offset where each line of ``text`` starts."""
    starts = [0]
    find = text.find
    i = find("\n")
    while i >= 0:  # one C-level search per line, not a Python step per character
        starts.append(i + 1)
        i = find("\n", i + 1)
    return starts


def _line_bounds(text: str, line: int) -> tuple[int, int] | None:
    """(start, end) code-point offsets of line ``line`` (end before its newline), or
    None past the last line; reads only up to that line."""
    start = 0
    find = text.find
    for _ in range(line):
        newline = find("\n", start)
        if newline < 0:
            return None
        start = newline + 1
    end = find("\n", start)
    return start, len(text) if end < 0 else end


def _utf16_len(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def utf16_to_codepoints(line: str, character: int) -> int:
    """Return the code-point column of UTF-16 column ``character`` in ``line``."""
    units = 0
    for i, ch in enumerate(line):
        width = _utf16_len(ch)
        if units + width > character:
            return i
        units += width
    return len(line)


def codepoints_to_utf16(line: str, column: int) -> int:
    """Return the UTF-16 column of code-point column ``column`` in ``line``."""
    return sum(_utf16_len(ch) for ch in line[:column])


def position_to_offset(text: str, line: int, character: int) -> int:
    """Return the str offset of LSP position (line, UTF-16 character), clamped."""
    if line < 0 or character < 0:
        raise ValueError(f"negative position ({line}, {character})")
    bounds = _line_bounds(text, line)
    if bounds is None:
        return len(text)
    start, end = bounds
    return start + utf16_to_codepoints(text[start:end], character)


def offset_to_position(text: str, offset: int) -> tuple[int, int]:
    """Return the LSP (line, UTF-16 character) of str offset ``offset``, clamped."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return line, codepoints_to_utf16(text[start:offset], offset - start)


def is_past_end(text: str, line: int, character: int) -> bool:
    """Return True when (line, character) lies beyond the document or its line."""
    bounds = _line_bounds(text, line)
    if bounds is None:
        return True
    line_text = text[bounds[0] : bounds[1]]
    return character > codepoints_to_utf16(line_text, len(line_text))
