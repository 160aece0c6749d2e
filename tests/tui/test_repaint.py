"""What a step repaints (benchmarks/README.md "Session 5 (tui)": a frame's cost is the widgets
it repaints). The Entry panel's title changes on every step; only its border row is painted
again, not the panel's 19 rows (Textual's border_title setter repaints the whole widget)."""

from __future__ import annotations

from textual._compositor import Compositor
from tui_helpers import settle

from npt_explorer.tui.panels.entry import EntryPanel


async def test_a_step_repaints_the_entry_panels_border_row_not_the_panel(
    app_factory, monkeypatch
) -> None:
    painted: list[tuple[int, int]] = []  # (height, width) of each region of the Entry panel
    real = Compositor.update_widgets

    def update_widgets(self: Compositor, widgets: set) -> None:
        for widget in widgets:
            if isinstance(widget, EntryPanel):
                painted.extend((r.height, r.width) for r in widget._repaint_regions)
        real(self, widgets)

    monkeypatch.setattr(Compositor, "update_widgets", update_widgets)
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        title = str(app.entry.border_title)
        painted.clear()
        await pilot.press("n")
        await settle(pilot)
        assert str(app.entry.border_title) != title  # the step showed another entry
        width = app.entry.outer_size.width
        assert painted and set(painted) == {(1, width)}


async def test_a_step_onto_a_table_not_shown_before_lays_out_no_screen(
    app_factory, monkeypatch
) -> None:
    """The Page tables tree grows when a step opens a table, and its virtual size is a layout
    reactive: Textual re-laid out every panel for it, then repainted every scrolling panel's
    scrollbars in a second frame (the slow fifth of the demo's steps). Once the tree has
    its scrollbars, no step lays the screen out."""
    layouts = 0
    real = Compositor.reflow

    def reflow(self: Compositor, *args: object) -> object:
        nonlocal layouts
        layouts += 1
        return real(self, *args)

    monkeypatch.setattr(Compositor, "reflow", reflow)
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        tree = app.tables.tree
        while not (tree.show_vertical_scrollbar and tree.show_horizontal_scrollbar):
            await pilot.press("n")
            await settle(pilot)
        layouts, lines, steps = 0, tree.last_line, 0
        while not app.walk.at_end:
            await pilot.press("n")
            await settle(pilot)
            steps += 1
        assert steps > 10 and tree.last_line > lines  # tables were opened on the way
        assert layouts == 0
