"""SVG snapshots of every panel on every architecture.

* 160×48 shows all six panels on one screen: one `snap_compare` per architecture.
* 80×24 shows one panel at a time: one app run per architecture takes a snapshot of each
  panel in turn (stored beside the others, `test_narrow[ARCH][PANEL].svg`, through the same
  SVG extension `snap_compare` uses), so 18 screens cost 3 app starts, not 18.

The theme is pinned, the cursor does not blink, and the walk is stepped to reference 6 so
grid, tree and decoder all show one linked selection. After a deliberate change, look at
the report and run `pytest tests/tui --snapshot-update`."""

from __future__ import annotations

import pytest
from pytest_textual_snapshot import SVGImageExtension
from tui_helpers import no_blink, settle

ARCHES = ("x86_64", "aarch64", "riscv64")
PANELS = ("walk", "tables", "entry", "tlb", "regions", "log")

pytestmark = pytest.mark.snapshot


async def _stepped(pilot) -> None:
    no_blink(pilot.app)
    await settle(pilot)
    await pilot.press(*"nnnnn")
    await settle(pilot, for_screenshot=True)


@pytest.mark.parametrize("arch", ARCHES)
async def test_narrow(snapshot, app_factory, arch: str) -> None:
    svg = snapshot.use_extension(SVGImageExtension)
    app = app_factory(arch=arch)
    async with app.run_test(size=(80, 24)) as pilot:
        await _stepped(pilot)
        for panel in PANELS:
            app.focus_panel(panel)
            await settle(pilot, for_screenshot=True)
            assert svg(name=panel) == app.export_screenshot(), f"{arch}: {panel} panel"


@pytest.mark.parametrize("arch", ARCHES)
def test_wide(snap_compare, app_factory, arch: str) -> None:
    assert snap_compare(app_factory(arch=arch), terminal_size=(160, 48), run_before=_stepped)


@pytest.mark.parametrize("size", [(100, 30), (120, 40)])
async def test_medium(snapshot, app_factory, size: tuple[int, int]) -> None:
    """100–139 columns (a projector with large fonts): the walk grid with the entry ruler
    below it and the whole note; the other panels one at a time (here the TLB)."""
    svg = snapshot.use_extension(SVGImageExtension)
    app = app_factory(arch="x86_64")
    async with app.run_test(size=size) as pilot:
        await _stepped(pilot)
        assert svg(name="walk") == app.export_screenshot()
        app.focus_panel("tlb")
        await settle(pilot, for_screenshot=True)
        assert svg(name="tlb") == app.export_screenshot()


async def test_wide_at_a_fault(snapshot, app_factory) -> None:
    """160×48 on x86_03 at its EPT violation: the detail grows to show the syndrome."""
    svg = snapshot.use_extension(SVGImageExtension)
    app = app_factory(file="scenarios/x86_03_ept_dirty_logging.toml")
    async with app.run_test(size=(160, 48)) as pilot:
        no_blink(app)
        await settle(pilot)
        while app.session.walk_result is None or app.session.walk_result.walk.fault is None:
            await pilot.press("right_square_bracket")
        await settle(pilot, for_screenshot=True)
        log = app.query_one("#log-view")  # the detail grew and the log shrank: still at its end
        assert log.scroll_y == log.max_scroll_y > 0
        assert svg(name="fault") == app.export_screenshot()
