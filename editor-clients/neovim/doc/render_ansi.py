"""Render a terminal capture (`tmux capture-pane -e -p`, ANSI SGR colours) to a PNG.

Used by make_screenshot.sh for the README picture of Neovim; needs Pillow and the DejaVu
Sans Mono font (Debian's fonts-dejavu-core).
Usage: python render_ansi.py SCREEN.ansi OUT.png [COLUMNS]
"""

from __future__ import annotations

import re
import sys

from PIL import Image, ImageDraw, ImageFont

Color = tuple[int, int, int]
Cell = tuple[str, Color, Color, bool]  # character, foreground, background, bold

PALETTE: list[Color] = [
    (0, 0, 0),
    (205, 49, 49),
    (13, 188, 121),
    (229, 229, 16),
    (36, 114, 200),
    (188, 63, 188),
    (17, 168, 205),
    (229, 229, 229),
    (102, 102, 102),
    (241, 76, 76),
    (35, 209, 139),
    (245, 245, 67),
    (59, 142, 234),
    (214, 112, 214),
    (41, 184, 219),
    (255, 255, 255),
]
FOREGROUND: Color = (220, 220, 220)
BACKGROUND: Color = (30, 30, 36)
FONT_DIR = "/usr/share/fonts/truetype/dejavu"
SGR = re.compile(r"(\x1b\[[0-9;:]*m)")


def xterm256(n: int) -> Color:
    """Returns the RGB colour of xterm-256 colour index `n`."""
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    grey = 8 + (n - 232) * 10
    return grey, grey, grey


def cells_of(line: str) -> list[Cell]:
    """Returns the coloured cells of one captured line."""
    fg, bg, bold, reverse = FOREGROUND, BACKGROUND, False, False
    cells: list[Cell] = []
    for part in SGR.split(line):
        match = SGR.fullmatch(part)
        if match is None:
            cells.extend((ch, bg if reverse else fg, fg if reverse else bg, bold) for ch in part)
            continue
        codes = [int(c) if c else 0 for c in re.split(r"[;:]", match.group(1)[2:-1])] or [0]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code == 0:
                fg, bg, bold, reverse = FOREGROUND, BACKGROUND, False, False
            elif code in (1, 22):
                bold = code == 1
            elif code in (7, 27):
                reverse = code == 7
            elif 30 <= code <= 37 or 90 <= code <= 97:
                fg = PALETTE[code - 30 if code < 90 else code - 90 + 8]
            elif 40 <= code <= 47 or 100 <= code <= 107:
                bg = PALETTE[code - 40 if code < 100 else code - 100 + 8]
            elif code == 39:
                fg = FOREGROUND
            elif code == 49:
                bg = BACKGROUND
            elif code in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5:
                    color = xterm256(codes[i + 2])
                    i += 2
                else:
                    red, green, blue = codes[i + 2 : i + 5]
                    color = (red, green, blue)
                    i += 4
                if code == 38:
                    fg = color
                else:
                    bg = color
            i += 1
    return cells


def render(src: str, dst: str, columns: int = 100) -> None:
    """Writes the PNG of the capture in `src` to `dst`."""
    with open(src, encoding="utf-8") as file:
        rows = [cells_of(line) for line in file.read().rstrip("\n").split("\n")]
    regular = ImageFont.truetype(f"{FONT_DIR}/DejaVuSansMono.ttf", 15)
    bold = ImageFont.truetype(f"{FONT_DIR}/DejaVuSansMono-Bold.ttf", 15)
    width, height, margin = 9, 19, 8
    image = Image.new(
        "RGB", (columns * width + 2 * margin, len(rows) * height + 2 * margin), BACKGROUND
    )
    draw = ImageDraw.Draw(image)
    for y, cells in enumerate(rows):
        for x, (char, fg, bg, is_bold) in enumerate(cells):
            left, top = margin + x * width, margin + y * height
            if bg != BACKGROUND:
                draw.rectangle([left, top, left + width, top + height], fill=bg)
            if char != " ":
                draw.text((left, top), char, font=bold if is_bold else regular, fill=fg)
    image.save(dst)


if __name__ == "__main__":
    render(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 100)
