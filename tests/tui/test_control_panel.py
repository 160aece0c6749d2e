"""The control-state panel: `c` opens it, enter toggles a bit through the `control` command and
re-runs the walk on screen, whose explanation then names the deciding bit."""

from __future__ import annotations

from tui_helpers import settle, typed

from npt_explorer.tui.panels.control import ControlPanel
from npt_explorer.tui.panels.tables import PageTablesPanel


async def test_toggling_smap_re_runs_the_walk_and_the_explanation_names_it(app_factory):
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await typed(pilot, "map stage=1 gva=0x7000_0000 gpa=0x20_0000 size=4K flags=rwu")
        await typed(pilot, "translate gva=0x7000_0000 access=read")
        assert app.session.walk_result.walk.ok
        await pilot.press("escape")  # leave the command line, then `c`
        await pilot.press("c")
        await settle(pilot)
        panel = app.screen
        assert isinstance(panel, ControlPanel)
        smap = next(i for i, (row, _) in enumerate(panel._rows) if row.name == "SMAP")
        panel.query_one("#control-table").move_cursor(row=smap)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause(0.2)
        assert app.session.machine.control.on("cr4", "SMAP")
        fault = app.session.walk_result.walk.fault
        assert fault is not None
        assert "SMAP: supervisor read of a user page with EFLAGS.AC=0" in fault.explanation
        assert panel._rows[smap][1] == 1  # the panel shows the new value
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ControlPanel)
        toggles = [c.args for c in app.session.commands if c.op == "control"]
        assert toggles == [{"register": "cr4", "field": "SMAP", "value": 1}]  # saved, replayable


async def test_a_register_change_re_reads_the_page_tables_labels(app_factory):
    """Clearing EFER.NXE makes a PTE's XD bit reserved (SDM Vol. 3A 4.5): the same words,
    read under the new registers, label the entry misconfigured, not a 4K leaf."""
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await typed(pilot, "map stage=1 gva=0x7000_0000 gpa=0x20_0000 size=4K flags=rw")
        await typed(pilot, "poke stage=1 gva=0x7000_0000 level=pte set=0x8000000000000000")
        await typed(pilot, "translate gva=0x7000_0000 access=read")
        await settle(pilot, for_screenshot=True)
        assert "XD → 0x200000 (4K)" in _pte_label(app)
        await typed(pilot, "control register=efer field=NXE value=0")
        await typed(pilot, "translate gva=0x7000_0000 access=read")  # it faults there now
        await settle(pilot, for_screenshot=True)
        assert "XD misconfigured (reserved)" in _pte_label(app)


def _pte_label(app) -> str:
    """The Page tables tree's line for the PTE that maps gVA 0x7000_0000."""
    stack, found = [app.query_one(PageTablesPanel).tree.root], []
    while stack:
        node = stack.pop()
        label = str(node.label)
        if label.startswith("[  0] 0x8000000000200003"):
            found.append(label)
        stack.extend(node.children)
    assert len(found) == 1, found
    return found[0]
