"""What differs between two snapshot SVGs, as text a CI log can show: the screen rows whose
characters differ, or (same characters) the first text runs whose style or cut differ. The
HTML report that pytest-textual-snapshot writes is not kept by CI; this is."""

from __future__ import annotations

import html
import re
from itertools import zip_longest

CELL_WIDTH = 12.2  # Textual's SVG: one terminal cell is 12.2 px wide
_RUN = re.compile(  # a stored snapshot says terminal-line-3, a fresh one terminal-<id>-line-3
    r'<text class="terminal(?:-\d+)?-([^"]*)" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#terminal(?:-\d+)?-line-(\d+)\)">([^<]*)</text>'
)


def runs(svg: str) -> list[tuple[int, int, str, str]]:
    """Every text run of a Textual SVG screenshot: (row, column, style class, text)."""
    found = []
    for style, x, row, text in _RUN.findall(svg):
        found.append((int(row), round(float(x) / CELL_WIDTH), style, html.unescape(text)))
    return found


def rows(svg: str) -> list[str]:
    """The screen's characters, row by row (cells no run covers are blank)."""
    lines: dict[int, list[str]] = {}
    for row, column, _, text in runs(svg):
        line = lines.setdefault(row, [])
        line.extend(" " * (column + len(text) - len(line)))
        line[column : column + len(text)] = text.replace("\xa0", " ")
    return ["".join(lines.get(row, ())).rstrip() for row in range(max(lines, default=-1) + 1)]


def screen_diff(expected: str, actual: str, *, limit: int = 12) -> str:
    """A short account of how `actual` differs from `expected` (both SVG texts)."""
    out = []
    for number, (want, got) in enumerate(zip_longest(rows(expected), rows(actual))):
        if want != got:
            out += [f"row {number:2} expected: {want!r}", f"row {number:2} actual:   {got!r}"]
    if out:
        return "screen rows differ:\n" + "\n".join(out[: 2 * limit])
    mismatched = [
        f"expected {want}\nactual   {got}"
        for want, got in zip_longest(runs(expected), runs(actual))
        if want != got
    ]
    if mismatched:
        return "same characters; text runs differ (style or cut):\n" + "\n".join(mismatched[:limit])
    return "same text runs; the SVGs differ elsewhere (styles, title or size)"
