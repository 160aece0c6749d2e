"""A guest with 100k mapped 4 KiB pages: the tree loads only the tables on the path it
opens, regions fold off the event loop, stepping stays quick."""

from __future__ import annotations

import pytest
from big_machine import GVA, big_machine
from tui_helpers import settle

from npt_explorer.scenario.loader import loads
from npt_explorer.scenario.session import Session
from npt_explorer.tui.app import NptExplorerApp

PAGES = 100_000


def tree_size(node) -> int:
    return 1 + sum(tree_size(child) for child in node.children)


@pytest.mark.slow_tui
async def test_100k_pages_stay_responsive() -> None:
    session = Session(loads('[scenario]\ntitle = "100k pages"\narch = "x86_64"\n'), "demo")
    session.machine = big_machine("x86_64", PAGES)
    assert session.run_line(f"access gva={GVA + 0x1234_5008:#x} access=write").ok
    app = NptExplorerApp(session, theme="textual-dark")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        regions = app.query_one("RegionsPanel").regions
        assert [(r.start, r.pages) for r in regions if r.stage == 1] == [(GVA, PAGES)]
        steps = app.walk.walk.steps
        back = len(steps) - 1 - max(i for i, s in enumerate(steps) if s.stage == 1)
        await pilot.press("end")  # the final gPA: the tree opens the stage-2 path
        await pilot.press(*"p" * back)  # the guest PTE: the tree opens the stage-1 path
        await settle(pilot)
        assert steps[app.walk.index].stage == 1 and steps[app.walk.index].outcome == "leaf"
        node = app.tables.tree.cursor_node
        m, target = session.machine, app.entry.target
        assert m.locate(1, node.data.addr, 3).addr == m.locate(1, target.addr, 3).addr
        # only the tables on the two opened paths were read: far fewer than 100k nodes
        assert tree_size(app.tables.tree.root) < 4 * 512


async def test_a_command_on_a_big_guest_refolds_only_the_tables_it_changed(app_factory):
    """Issue 16, item 4: after each command the Regions panel folded the whole guest again
    (~2.2 s per GiB of 4 KiB pages, holding the interpreter while keys waited). Now an
    `access` (guest A/D bits: the 4 guest tables on its path) refolds 4 tables, not the 128
    leaf tables of 512 MiB mapped at stage 2."""
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for line in (
            "map stage=2 gpa=0x2_0000_0000 size=512M flags=rw hpa=0x20_0000_0000",
            "access gva=0x4000_1008 access=write",
        ):
            await pilot.press("colon")
            app.command_line.input.value = line
            await pilot.press("enter")
            await settle(pilot)
        panel = app.query_one("RegionsPanel")
        assert panel.folder.tables_folded <= 4
        big = [r for r in panel.regions if r.stage == 2 and r.start == 0x2_0000_0000]
        assert [(r.size, r.pages, r.out) for r in big] == [(512 << 20, 131072, 0x20_0000_0000)]
