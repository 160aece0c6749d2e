"""A partial frame renders only the widgets its dirty lines touch (tui/compositor.py), and
writes to the terminal exactly what Textual's own partial frame writes. The SVG snapshots
cannot hold this: a screenshot renders the whole screen, never a partial frame."""

from __future__ import annotations

from textual._compositor import Compositor
from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget
from tui_helpers import settle

from npt_explorer.tui.compositor import SpanCompositor
from npt_explorer.tui.frames import PanelsScreen
from npt_explorer.tui.widgets.tree_lines import StateLinesTree


class Frames:
    """Every partial frame of the panels' screen, rendered both ways: (ours, Textual's) as
    the bytes each would write to the terminal."""

    def __init__(self, monkeypatch) -> None:
        self.pairs: list[tuple[str, str]] = []
        self.app: App[object] | None = None  # frames are compared once watched
        ours = SpanCompositor.render_partial_update

        def both(compositor: SpanCompositor):  # type: ignore[no-untyped-def]
            dirty = set(compositor._dirty_regions)
            update = ours(compositor)
            compositor._dirty_regions.update(dirty)  # Textual's from the same dirty regions
            theirs = Compositor.render_partial_update(compositor)
            if self.app is not None and update is not None and theirs is not None:
                console = self.app.console
                self.pairs.append(
                    (update.render_segments(console), theirs.render_segments(console))
                )
            return update

        monkeypatch.setattr(SpanCompositor, "render_partial_update", both)

    def watch(self, pilot: Pilot) -> None:
        self.app = pilot.app
        assert isinstance(self.app.main, PanelsScreen)
        self.pairs.clear()

    def differing(self) -> list[int]:
        return [i for i, (ours, theirs) in enumerate(self.pairs) if ours != theirs]


async def _keys(pilot: Pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


async def test_stepping_the_demo_paints_what_textuals_frames_paint(
    app_factory, monkeypatch
) -> None:
    frames = Frames(monkeypatch)
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        frames.watch(pilot)
        await _keys(pilot, *["n"] * 23, "p", "p", "home", "end")
        assert len(frames.pairs) >= 27
        assert frames.differing() == []


async def test_panels_focus_and_a_typed_command_paint_what_textuals_frames_paint(
    app_factory, monkeypatch
) -> None:
    frames = Frames(monkeypatch)
    app = app_factory(arch="aarch64")
    async with app.run_test(size=(80, 24)) as pilot:  # narrow: one panel at a time
        await settle(pilot)
        frames.watch(pilot)
        await _keys(pilot, "n", "tab", "down", "tab", "tab", "n", "colon")
        await _keys(pilot, *"map stage=1 gva=0x5000 size=4K flags=rw", "enter", "n", "escape")
        assert len(frames.pairs) >= 10
        assert frames.differing() == []


async def test_a_partial_frame_renders_only_the_widgets_its_dirty_lines_touch(
    app_factory, monkeypatch
) -> None:
    """A step dirties lines of the Walk, Page tables and Entry panels; the header, footer,
    command line and the panels below are not rendered for it (Textual's box around the
    dirty regions rendered them all)."""
    rendered: set[str] = set()
    real = Widget.render_lines

    def render_lines(self: Widget, crop):  # type: ignore[no-untyped-def]
        rendered.add(type(self).__name__)
        return real(self, crop)

    app = app_factory(arch="x86_64")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        monkeypatch.setattr(Widget, "render_lines", render_lines)
        await _keys(pilot, "n")
        assert {"WalkGrid", "TableTree", "TextGrid"} <= rendered
        untouched = {"Header", "Footer", "FooterKey", "CommandInput", "LogPanel", "TlbPanel"}
        assert not rendered & untouched


async def _stale_after(pilot: Pilot, keys: list[str]) -> list[int]:
    """The keys (by index) after which the screen as painted differs from a render from
    scratch: every widget's cached lines (scrollbars too) against caches and visuals
    dropped."""
    compositor = pilot.app.main._compositor
    stale: list[int] = []
    for index, key in enumerate(keys):
        await _keys(pilot, key)
        painted = [list(strip) for strip in compositor.render_strips()]
        for widget in compositor.visible_widgets:  # scrollbars too (not DOM children)
            type(widget).refresh(widget)  # every cached line and visual dropped
            if isinstance(widget, StateLinesTree):  # and a tree's own line caches
                widget._line_cache.clear()
                widget._shown.clear()
        fresh = [list(strip) for strip in compositor.render_strips()]
        if painted != fresh:
            stale.append(index)
    return stale


async def test_after_each_step_the_screen_is_what_a_render_from_scratch_shows(
    app_factory,
) -> None:
    """Nothing a step leaves unpainted is stale: a partial frame, or a tree line kept while
    the cursor moved (widgets/tree_lines.py), would show here."""
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert await _stale_after(pilot, ["n"] * 23) == []
        assert app.walk.index == 23


async def test_moving_the_focused_trees_cursor_leaves_no_stale_line(app_factory) -> None:
    """With the Page tables tree focused its cursor also lights the guides below it."""
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await _keys(pilot, "n", "n", "n", "tab")
        assert app.focused is app.tables.tree
        keys = ["down", "down", "up", "enter", "down", "enter", "up", "up", "home", "tab", "n"]
        assert await _stale_after(pilot, keys) == []
