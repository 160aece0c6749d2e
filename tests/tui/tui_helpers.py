"""Helpers shared by the TUI tests (imported by name: tests/tui is on sys.path)."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from npt_explorer.tui.app import NptExplorerApp


async def settle(pilot: Pilot, *, for_screenshot: bool = False) -> None:
    """Let messages and thread workers (the regions fold) finish; before a screenshot also
    let DataTables re-measure (on idle) and repaint."""
    app = pilot.app
    await pilot.pause()
    if app.workers:
        await app.workers.wait_for_complete()
        await pilot.pause()
    if for_screenshot:
        await pilot.pause(0.05)
        await pilot.pause()


def no_blink(app: NptExplorerApp) -> None:
    for field in app.query(Input):
        field.cursor_blink = False
