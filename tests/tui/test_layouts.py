"""Issue 16, items 12-14: the layouts a classroom needs (each test failed before its fix)."""

from __future__ import annotations

from tui_helpers import settle, shown

from npt_explorer.tui.app import NptExplorerApp
from npt_explorer.tui.messages import MachineChanged


def panels_on_screen(app: NptExplorerApp) -> set[str]:
    return {str(w.id) for w in app.query(".panel") if w.display}


async def test_the_whole_note_is_readable_at_80x24(app_factory):
    """The demo's note ended before "= 24" at 80×24: the caption bar was 3 rows."""
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, for_screenshot=True)
        caption = app.query_one("#caption")
        assert "4×(4+1)+4 = 24" in shown(app, "#caption-text")
        assert caption.virtual_size.height <= caption.scrollable_content_region.height


async def test_a_long_note_scrolls_in_the_caption(app_factory):
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.session.caption = "word " * 200
        app.query_one("CaptionBar").show(app.session)
        await settle(pilot, for_screenshot=True)
        caption = app.query_one("#caption")
        assert caption.max_scroll_y > 0  # readable by scrolling, not cut


async def test_the_walk_detail_grows_to_the_whole_syndrome(app_factory):
    """x86_03's EPT violation: fault line, explanation, exit reason, qualification with its
    four set bits, both addresses. The detail was 5 rows: the syndrome never showed."""
    app = app_factory(file="scenarios/x86_03_ept_dirty_logging.toml")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        while app.session.walk_result is None or app.session.walk_result.walk.fault is None:
            await pilot.press("right_square_bracket")
        await settle(pilot, for_screenshot=True)
        box = app.query_one("#walk-detail-box")
        detail = app.query_one("#walk-detail")
        assert "guest-linear address" in shown(app, "#walk-detail")
        assert detail.size.height >= 12 and box.max_scroll_y == 0


async def test_100_columns_show_the_walk_grid_and_the_entry_ruler_together(app_factory):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, for_screenshot=True)
        assert panels_on_screen(app) == {"walk", "entry"}
        ruler = app.query_one("#entry-ruler")
        assert ruler.region.height == 2 and app.walk.grid.region.height == 6
        await pilot.press("n")
        assert app.entry.target is not None  # the entry follows the walk cursor
        app.focus_panel("tlb")
        await settle(pilot)
        assert panels_on_screen(app) == {"tlb"}
        app.focus_panel("entry")
        await settle(pilot)
        assert panels_on_screen(app) == {"walk", "entry"}


async def test_the_six_panel_layout_scrolls_to_every_tlb_entry(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for i in range(8):
            app.session.run_line(f"access gva={0x4000_0000 + i * 0x1000:#x} access=read")
        app.post_message(MachineChanged())
        await settle(pilot, for_screenshot=True)
        table = app.query_one("#tlb-table")
        entries = len(app.session.machine.tlb_entries())
        assert table.row_count == entries
        assert table.max_scroll_y >= entries + 1 - table.scrollable_content_region.height
