"""The cost view (`cost`): the session's traces as plots — memory references per access over
the trace, a line per trace (and page size), and references per TLB miss in bars."""

from __future__ import annotations

import pytest
from textual_plotext import PlotextPlot
from tui_helpers import no_blink, settle, typed

from npt_explorer.scenario import load, run
from npt_explorer.tui.panels.cost import CostView, trace_costs

# intel-psc; 1 MiB of 4 KiB pages and one 2 MiB page at both stages
MACHINE = """[scenario]
title = "costs"
arch = "x86_64"
[machine]
walk_caches = "intel-psc"
[[step]]
op = "map"
stage = 2
gpa = "0x4000_0000"
size = "4M"
flags = "rwx"
backend = "linear"
hpa = "0x8000_0000"
huge = true
[[step]]
op = "map"
stage = 1
gva = "0x5000_0000"
gpa = "0x4000_0000"
size = "1M"
flags = "rw"
[[step]]
op = "map"
stage = 1
gva = "0x6000_0000"
gpa = "0x4020_0000"
size = "2M"
flags = "rw"
huge = true
"""
SMALL = "trace gva=0x5000_0000 size=1M count=200000 pattern=random seed=1"
LARGE = "trace gva=0x6000_0000 size=2M count=200000 pattern=random seed=1"


def test_each_trace_step_is_labelled_by_step_file_and_page_sizes(tmp_path):
    (tmp_path / "t.txt").write_text("0x40000000\n0x40001000\n")
    path = tmp_path / "s.toml"
    path.write_text(
        '[scenario]\ntitle = "t"\narch = "x86_64"\n[machine]\nwalk_caches = "intel-psc"\n'
        '[[step]]\nop = "trace"\nfile = "t.txt"\ns1_page = "2M"\n'
        '[[step]]\nop = "trace"\nfile = "t.txt"\nnative = true\n'
    )
    costs = trace_costs(run(load(path)).results)
    assert [c.label for c in costs] == ["step 1 t.txt 2M/4K", "step 2 t.txt 4K/native"]
    # two accesses in one window, all to pages of one size (the TLB entry's: 4 KiB), one line
    assert [c.label for c in costs[0].curves] == ["step 1 t.txt 2M/4K"]
    assert len(costs[0].curves[0].values) == 1
    assert costs[1].refs_per_walk == 4.0  # native: the guest's 4 levels, nothing nested


def costs_app(app_factory, tmp_path):
    path = tmp_path / "costs.toml"
    path.write_text(MACHINE)
    return app_factory(file=path)


async def test_cost_opens_a_plot_of_every_trace_and_escape_closes_it(app_factory, tmp_path):
    app = costs_app(app_factory, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press(*"]]]")  # run the scenario's three maps
        for line in (SMALL, LARGE, "cost"):
            await typed(pilot, line)
        view = app.screen
        assert isinstance(view, CostView)
        assert [c.label for c in view.costs] == ["step 4 random 4K", "step 5 random 2M"]
        # 200,000 accesses: four windows of 65,536 each, so each trace draws a line
        assert [len(c.curves[0].values) for c in view.costs] == [4, 4]
        small, large = view.costs
        # 256 pages over a 64-entry TLB miss nearly always; one 2 MiB page never after the first
        assert small.mem_refs_per_access > 1 > 0.001 > large.mem_refs_per_access
        assert len(view.query(PlotextPlot)) == 2
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, CostView)


async def _plotted(pilot) -> None:
    no_blink(pilot.app)
    await settle(pilot)
    await pilot.press(*"]]]")
    for line in (SMALL, LARGE, "cost"):
        await typed(pilot, line)
    await settle(pilot, for_screenshot=True)


@pytest.mark.snapshot
def test_the_cost_view_snapshot(snap_compare, app_factory, tmp_path) -> None:
    app = costs_app(app_factory, tmp_path)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_plotted)
