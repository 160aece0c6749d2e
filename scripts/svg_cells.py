"""Are two snapshot SVGs the same screen? Compares them cell by cell (character, text style,
background), ignoring how Rich cut each line into segments: a change that only merges or
splits spans rewrites the SVG but not what it shows.

    python scripts/svg_cells.py OLD.svg NEW.svg       # exit 0: same cells, 1: differ
    python scripts/svg_cells.py --git REV FILE.svg... # each file against its version at REV
"""

from __future__ import annotations

import argparse
import html
import re
import subprocess
import sys
from pathlib import Path

#: Rich's export_svg geometry (rich/console.py: char_width = font_size * 0.61, line 1.22)
CHAR_WIDTH, LINE_HEIGHT = 12.2, 24.4

RULE = re.compile(r"\.terminal-(r\d+) \{ ([^}]*)\}")
RECT = re.compile(
    r'<rect fill="([^"]+)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="[\d.]+" '
    r'shape-rendering="crispEdges"/>'
)
TEXT = re.compile(
    r'<text class="terminal-(r\d+)" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#terminal-line-(\d+)\)">([^<]*)</text>'
)

Cells = dict[tuple[int, int], dict[str, str]]


def cells(svg: str) -> Cells:
    """(row, column) → {"bg": fill, "ch": character, "st": CSS of its text style}."""
    rules = {name: css.strip() for name, css in RULE.findall(svg)}
    out: Cells = {}
    for fill, x, y, width in RECT.findall(svg):
        col, row = round(float(x) / CHAR_WIDTH), round((float(y) - 1.5) / LINE_HEIGHT)
        for c in range(col, col + round(float(width) / CHAR_WIDTH)):
            out.setdefault((row, c), {})["bg"] = fill
    for rule, x, line, text in TEXT.findall(svg):
        col = round(float(x) / CHAR_WIDTH)
        for i, ch in enumerate(html.unescape(text)):
            if ch not in " \xa0":  # Rich draws no text for spaces: a styled space is blank
                out.setdefault((int(line), col + i), {}).update(ch=ch, st=rules[rule])
    return out


def differences(old: str, new: str) -> list[str]:
    a, b = cells(old), cells(new)
    return [
        f"row {row} column {col}: {a.get((row, col))} → {b.get((row, col))}"
        for row, col in sorted(set(a) | set(b))
        if a.get((row, col), {}) != b.get((row, col), {})
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--git", metavar="REV", help="compare each file with its version at REV")
    args = parser.parse_args()
    if args.git:
        pairs = [
            (
                subprocess.run(
                    ["git", "show", f"{args.git}:{f}"], capture_output=True, text=True, check=True
                ).stdout,
                f.read_text(encoding="utf-8"),
                str(f),
            )
            for f in args.files
        ]
    elif len(args.files) == 2:
        old, new = args.files
        pairs = [(old.read_text(encoding="utf-8"), new.read_text(encoding="utf-8"), str(new))]
    else:
        parser.error("two files, or --git REV and the files")
    status = 0
    for old_svg, new_svg, name in pairs:
        found = differences(old_svg, new_svg)
        print(f"{'same cells' if not found else f'{len(found)} cells differ'}: {name}")
        for line in found[:10]:
            print(f"  {line}")
        status |= bool(found)
    return status


if __name__ == "__main__":
    sys.exit(main())
