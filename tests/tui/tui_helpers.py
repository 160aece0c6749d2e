"""Helpers shared by the TUI tests (imported by name: tests/tui is on sys.path)."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable

from textual import events
from textual.app import App
from textual.keys import _character_to_key, _get_unicode_name_from_key
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from npt_explorer.tui.app import NptExplorerApp
from npt_explorer.tui.panels.tables import PageTablesPanel


def _screen_painted(app: App[object]) -> bool:
    """The screen has no layout, scroll, repaint or after-refresh callback still to do
    (Textual 8.2.8's Screen flags: the next frame would change nothing)."""
    screen = app.screen
    return not (
        screen._layout_required
        or screen._scroll_required
        or screen._repaint_required
        or screen._dirty_widgets
        or screen._callbacks
    )


STILL: dict[str, Callable[[App[object]], bool]] = {
    # the Page tables panel reads a walk's tables ahead, one a frame: a screenshot taken
    # while it does may cut the tree's lines into other segments (same cells)
    "page tables read ahead": lambda app: (
        not any(p.reading_ahead for p in app.query(PageTablesPanel))
    ),
    # a DataTable measures its columns when the app is idle: a busy CI machine once shot
    # the image regions table with header-wide columns
    "data tables measured": lambda app: (
        not any(getattr(t, "_require_update_dimensions", False) for t in app.query(DataTable))
    ),
    "workers done": lambda app: not any(w.is_running for w in app.workers),
    "screen painted": _screen_painted,
}


async def settle(pilot: Pilot, *, for_screenshot: bool = False) -> None:
    """Let messages and thread workers (the regions fold) finish; before a screenshot wait
    until everything in STILL holds on two looks in a row (up to 10 s, then say what did
    not), so a screenshot never depends on the host's speed."""
    app = pilot.app
    await pilot.pause()
    for _ in range(2):  # the regions fold starts only after the next refresh (regions_panel)
        if app.workers:
            await app.workers.wait_for_complete()
        await pilot.pause(0.01)
    if not for_screenshot:
        return
    await pilot.pause(0.05)
    calm = 0
    for _ in range(500):
        unsettled = [name for name, holds in STILL.items() if not holds(app)]
        calm = 0 if unsettled else calm + 1
        if calm == 2:
            return
        await pilot.pause(0.02)
    raise AssertionError(f"the app did not settle in 10 s: {', '.join(unsettled)}")


def no_blink(app: NptExplorerApp) -> None:
    for field in app.query(Input):
        field.cursor_blink = False


def key_event(key: str) -> events.Key:
    """The Key event a terminal sends for `key` (a Textual key name or one character),
    built as `Pilot.press` builds it."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        char: str | None = unicodedata.lookup(_get_unicode_name_from_key(key))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


async def burst(pilot: Pilot, *keys: str, text: str = "") -> None:
    """Several keys in one write, as a paste without bracketed-paste mode, an SSH double tap
    or a fast typist on a busy machine deliver them: every event is queued before the app
    handles the first (`Pilot.press` waits for the app to go idle after each key). `text`
    adds one key per character after `keys`."""
    driver = pilot.app._driver
    assert driver is not None
    for key in (*keys, *text):
        event = key_event(key)
        event.set_sender(pilot.app)
        driver.send_message(event)
    await drained(pilot)


async def drained(pilot: Pilot) -> None:
    """Wait until every queued event, and what it posted (a dialog's answer loading a
    scenario), has been handled: a test must not end with keys still in flight."""
    app = pilot.app
    for _ in range(50):
        await settle(pilot)
        busy = [app, app.screen, *app.screen.walk_children()]
        if not any(node._message_queue.qsize() for node in busy):
            break
        await pilot.pause(0.02)
    await settle(pilot)


async def paste(pilot: Pilot, text: str) -> None:
    """A bracketed paste: one `Paste` event to the focused widget."""
    driver = pilot.app._driver
    assert driver is not None
    event = events.Paste(text)
    event.set_sender(pilot.app)
    driver.send_message(event)
    await drained(pilot)


def plain(renderable: object, width: int = 200) -> str:
    """A Rich renderable (a Static's content, a log block) as plain text."""
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def shown(app: NptExplorerApp, selector: str) -> str:
    """The text a Static shows."""
    return plain(app.query_one(selector).content)


async def typed(pilot: Pilot, line: str) -> None:
    """`:`, the line, Enter, and everything it caused settled."""
    app = pilot.app
    await pilot.press("colon")
    app.command_line.input.value = line
    await pilot.press("enter")
    await settle(pilot)


def screen_lines(app: NptExplorerApp) -> list[str]:
    """The screen as plain text, one string per terminal row (what a user reads)."""
    compositor = app.screen._compositor
    return ["".join(segment.text for segment in strip) for strip in compositor.render_strips()]
