"""What a step repaints (benchmarks/README.md "Session 5 (tui)": a frame's cost is the widgets
it repaints). The Entry panel's title changes on every step; only its border row is painted
again, not the panel's 19 rows (Textual's border_title setter repaints the whole widget)."""

from __future__ import annotations

from textual._compositor import Compositor
from tui_helpers import settle

from npt_explorer.tui.entry_panel import EntryPanel


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
