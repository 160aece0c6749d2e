"""The snapshot mismatch report CI prints: rows rebuilt from a stored SVG, a changed
character named by row, a re-cut run told apart from a changed screen."""

from __future__ import annotations

from pathlib import Path

from snapshot_diff import rows, screen_diff

SVG = next((Path(__file__).parent / "__snapshots__" / "test_snapshots_formats").glob("*32bit*"))


def test_rows_rebuild_the_screen_from_a_stored_snapshot() -> None:
    screen = rows(SVG.read_text())
    assert len(screen) == 48
    assert "npt-explorer — x86_64 · 32-bit × ept4 · scenario" in screen[0]


def test_a_changed_character_is_named_by_its_row() -> None:
    svg = SVG.read_text()
    changed = svg.replace("32-bit&#160;×", "32-bot&#160;×", 1)
    report = screen_diff(svg, changed)
    assert report.startswith("screen rows differ:")
    assert "row  0 expected:" in report and "32-bot" in report


def _run(x: float, text: str) -> str:
    width = round(len(text) * 12.2, 1)
    return (
        f'<text class="terminal-r2" x="{x:g}" y="20" textLength="{width:g}" '
        f'clip-path="url(#terminal-line-0)">{text}</text>'
    )


def test_a_run_cut_in_two_is_reported_as_same_characters() -> None:
    svg = SVG.read_text()
    whole = _run(671, "npt-explorer")
    assert whole in svg
    report = screen_diff(svg, svg.replace(whole, _run(671, "npt-") + _run(719.8, "explorer")))
    assert report.startswith("same characters; text runs differ")
