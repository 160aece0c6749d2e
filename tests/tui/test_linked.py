"""Pilot tests of the linked panels: step → tree and decoder follow; edit bits → the walk
re-runs; flush → the TLB panel; a bad command → an inline error, the app alive.

Each test is one app run that goes through a whole topic (an app start costs most of a
test's time)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.message import Message
from textual.widgets import DataTable, Static
from tui_helpers import settle

from npt_explorer.scenario import load, run
from npt_explorer.tui.app import NptExplorerApp
from npt_explorer.tui.messages import EntrySelected, EntryTarget, StepSelected, step_target
from npt_explorer.tui.palette import NptCommands


def entry_addr(app: NptExplorerApp, target: EntryTarget) -> int:
    return app.session.machine.locate(target.stage, target.addr, target.depth).addr


def tree_cursor_target(app: NptExplorerApp) -> EntryTarget:
    node = app.tables.tree.cursor_node
    assert node is not None and node.data is not None and node.data.target is not None
    return node.data.target


def hint_text(app: NptExplorerApp) -> str:
    return str(app.query_one("#cmd-hint", Static).render())


def unique(seen: list[Message], kind: type) -> list:
    """Each message once (the hook sees a message at every widget it bubbles through)."""
    return list({id(m): m for m in seen if isinstance(m, kind)}.values())


async def type_command(pilot, text: str, *, wait_workers: bool = True) -> None:
    """Type `text` on the command line and press Enter; then let the app settle, its
    workers too unless `wait_workers` is False (a test holding a worker on purpose)."""
    await pilot.press("colon")
    field = pilot.app.command_line.input
    field.value = text
    field.cursor_position = len(text)
    await pilot.press("enter")
    if wait_workers:
        await settle(pilot)
    else:
        await pilot.pause()


def assert_linked(app: NptExplorerApp, index: int) -> None:
    """The decoder shows the entry reference `index` read; the tree's cursor is on it."""
    target = step_target(app.walk.walk, index)
    assert app.walk.index == index
    assert app.entry.target == target
    assert (
        app.entry.decoded.raw
        == app.session.machine.entry(target.stage, target.addr, target.depth)[1].raw
    )
    assert entry_addr(app, tree_cursor_target(app)) == entry_addr(app, target)


async def test_stepping_moves_the_tree_and_the_decoder(app_factory) -> None:
    seen: list[Message] = []
    app = app_factory()
    async with app.run_test(size=(160, 48), message_hook=seen.append) as pilot:
        await settle(pilot)
        walk = app.walk.walk
        assert walk.refs == 24
        for expected in (1, 2, 3, 4, 5):
            await pilot.press("n")
            await settle(pilot)
            assert_linked(app, expected)
        await pilot.press("p")
        await settle(pilot)
        assert_linked(app, 4)
        assert [m.index for m in unique(seen, StepSelected)][-6:] == [1, 2, 3, 4, 5, 4]
        await pilot.press("end")
        await settle(pilot)
        assert_linked(app, 23)
        await pilot.press("home")
        await settle(pilot)
        assert_linked(app, 0)
        await pilot.press("f")  # no fault in this walk: the cursor stays
        await settle(pilot)
        assert app.walk.index == 0 and app.is_running
        # the mouse: a click on a grid cell selects that reference
        grid = app.walk.grid
        x = sum(c.width + grid.gap for c in grid.columns[:3]) + 1  # third stage-2 level
        await pilot.click(grid, offset=(x, 3))  # line 0 is the header: row 2, guest PDE
        await settle(pilot)
        assert_linked(app, 12)  # reference 13 = 2 × (4+1) + 3


@pytest.mark.parametrize(("arch", "refs"), [("aarch64", 19), ("riscv64", 15)])
async def test_stepping_follows_on_every_architecture(app_factory, arch: str, refs: int) -> None:
    app = app_factory(arch=arch)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.walk.walk.refs == refs
        await pilot.press("n", "n", "n", "n")
        await settle(pilot)
        assert_linked(app, 4)  # a stage-1 (guest) entry: its sub-walk came first
        await pilot.press("end")
        await settle(pilot)
        assert_linked(app, refs - 1)


async def test_editing_a_bit_reruns_the_walk_and_flushes_empty_the_tlb(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        walk = app.walk.walk
        leaf = next(i for i, s in enumerate(walk.steps) if s.stage == 1 and s.outcome == "leaf")
        app.walk.select(leaf)
        app.focus_panel("entry")
        await settle(pilot)
        app.entry.fields_table.move_to(app.entry._rows.index("RW"))
        await pilot.press("enter")
        await settle(pilot)
        # the edit is a recorded poke, and the same access runs again (translate)
        poke, rerun = app.session.commands[-2:]
        assert poke.op == "poke" and poke.args["fields"] == {"RW": 0}
        assert rerun.op == "translate" and rerun.args["gva"] == walk.gva
        new = app.walk.walk
        assert new is not walk and (new.fault.stage, str(new.fault.reason)) == (1, "permission")
        assert app.walk.index == leaf and app.entry.decoded.field("RW") == 0
        assert any("poke stage=1" in line.text for line in app.query_one("#log-view").lines)
        # the TLB still holds the old translation, marked stale
        table = app.query_one("#tlb-table", DataTable)
        panel = app.query_one("TlbPanel")
        assert [e.stale for e in panel.entries if e.base == 0x4000_1000] == [True]
        # an address flush takes its address from the selected entry
        table.move_cursor(row=next(i for i, e in enumerate(panel.entries) if e.base == 0x4000_1000))
        await pilot.click("#flush-invvpid-addr")
        await settle(pilot)
        assert app.session.commands[-1].to_line() == "flush kind=invvpid-addr addr=0x40001000"
        assert table.row_count == 3
        await pilot.click("#flush-invept-global")
        await settle(pilot)
        assert table.row_count == 0 and app.session.machine.tlb.stats.flushes == 2
        assert "flush 2" in str(app.query_one("#tlb-stats", Static).render())


async def test_the_command_line(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        kept, log = len(app.session.commands), len(app.session.machine.log)
        # bad commands: an inline error, nothing run, the app alive
        await type_command(pilot, "map stage=3 gpa=0 size=4K flags=r")
        assert "stage = 3 (allowed: 1, 2)" in hint_text(app)
        assert app.command_line.has_class("-error")
        app.command_line.input.value = ""
        await type_command(pilot, "frobnicate x=1")
        assert "unknown op 'frobnicate'" in hint_text(app)
        app.command_line.input.value = ""
        await type_command(pilot, "map stage=2 gpa=0x20_0000 size=4K flags=r hpa=0x1000")
        assert "AlreadyMapped" in hint_text(app)
        assert (len(app.session.commands), len(app.session.machine.log)) == (kept, log)
        # keys are text on the command line
        app.command_line.input.value = ""
        await pilot.press("n", "p", "f", "q", "space")
        assert app.command_line.input.value == "npfq " and app.walk.index == 0
        # tab completes
        app.command_line.input.value = "acc"
        app.command_line.input.cursor_position = 3
        await settle(pilot)
        await pilot.press("tab")
        assert app.command_line.input.value == "access "
        # a typed access shows its walk; f finds the fault
        app.command_line.input.value = ""
        await type_command(pilot, "access gva=0x5000_0000 access=read")
        walk = app.walk.walk
        assert walk.fault is not None and walk.steps[app.walk.index].outcome == "fault"
        assert app.command_line.input.value == ""
        await pilot.press("escape", "home", "f")
        await settle(pilot)
        assert walk.steps[app.walk.index].outcome == "fault"
        await pilot.press("n")  # the keys work again
        assert app.is_running


async def test_selecting_in_the_tree_and_the_regions(app_factory) -> None:
    seen: list[Message] = []
    app = app_factory(arch="riscv64")
    async with app.run_test(size=(160, 48), message_hook=seen.append) as pilot:
        await settle(pilot)
        # a tree entry: the decoder shows it and the walk cursor jumps to its read
        walk = app.walk.walk
        root_read = next(i for i, s in enumerate(walk.steps) if s.stage == 1)
        tree = app.tables.tree
        app.tables._open((1,))
        await settle(pilot)
        node = tree.root.children[0].children[0]
        tree.select_node(node)
        await settle(pilot)
        assert app.entry.target == node.data.target and app.walk.index == root_read
        # a region: the tree and the decoder follow
        app.focus_panel("regions")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        region = app.query_one("RegionsPanel").shown[0]
        sel = unique(seen, EntrySelected)[-1]
        assert sel.origin == "regions" and sel.target.addr == region.start
        assert app.entry.target == sel.target
        assert entry_addr(app, tree_cursor_target(app)) == entry_addr(app, sel.target)
        # the filter
        await pilot.press("slash", *"s1 ro")
        await settle(pilot)
        panel = app.query_one("RegionsPanel")
        assert [(r.stage, r.flags.letters()) for r in panel.shown] == [(1, "r-x---")]
        await pilot.press("space", *"zz")
        await settle(pilot)
        assert "unknown filter word 'zz'" in str(app.query_one("#regions-error").render())


async def test_scenario_mode_steps_with_captions_and_expectations(
    app_factory, tmp_path: Path
) -> None:
    path = tmp_path / "s.toml"
    text = Path(app_factory().session.scenario.path).read_text()
    path.write_text(
        text.replace(
            'refs = 24, tlb = "miss" }\n\n[[step]]\nop = "note"',
            'refs = 25, tlb = "miss" }\n\n[[step]]\nop = "note"',
        )
    )
    app = app_factory(file=str(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        caption = app.query_one("#caption-text", Static)
        assert "step 0/9" in str(caption.render()) and app.walk.walk is None
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert "step 1/9" in str(caption.render())
        assert "pool at gPA 0x100000" in str(caption.render())  # the note is the caption
        await pilot.press(*["right_square_bracket"] * 6)
        await settle(pilot)
        text = str(caption.render())
        assert "step 7/9" in text and "FAIL: refs expected 25 got 24" in text
        assert app.walk.walk is not None and app.walk.walk.refs == 24
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert app.session.position == 6 and app.walk.walk is None


async def test_save_and_exports(app_factory, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = app_factory(arch="aarch64")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_command(pilot, "map stage=1 gva=0x6000_0000 gpa=0x60_0000 size=8K flags=r")
        await type_command(pilot, "access gva=0x6000_1000 access=read")
        await type_command(pilot, "save mine")
        assert "saved 11 commands to mine.toml" in hint_text(app)
        replay = run(load(tmp_path / "mine.toml"))
        assert replay.passed
        assert [e.base for e in replay.machine.tlb_entries()] == [
            e.base for e in app.session.machine.tlb_entries()
        ]
        assert replay.results[-1].walk.hpa == app.walk.walk.hpa
        await type_command(pilot, "export-walk walk.json")
        doc = json.loads((tmp_path / "walk.json").read_text())
        assert doc["refs"] == 19 and len(doc["walk"]) == 19 and doc["arch"] == "aarch64"
        await type_command(pilot, "screenshot screen.svg")
        assert (tmp_path / "screen.svg").read_text().startswith("<svg")


async def test_arch_switch_and_the_pickers(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await type_command(pilot, "arch riscv64 npt=sv48x4")
        assert app.session.arch == "riscv64" and app.session.machine.config.npt == "sv48x4"
        assert app.walk.walk.refs == 3 * (4 + 1) + 4
        assert "riscv64 · sv39 × sv48x4" in app.sub_title
        await pilot.press("escape", "a")
        await settle(pilot)
        assert type(app.screen).__name__ == "MachinePicker"
        app.screen.query_one("#pick-arch").value = "aarch64"
        await settle(pilot)
        await pilot.click("#apply")
        await settle(pilot)
        assert app.session.arch == "aarch64" and app.walk.walk.refs == 19
        assert [c.label.plain for c in app.walk.grid.columns][1:4] == ["S2 L1", "S2 L2", "S2 L3"]
        await pilot.press("o")
        await settle(pilot)
        picker = app.screen
        assert type(picker).__name__ == "ScenarioPicker"
        demo = next(i for i, s in enumerate(picker.scenarios) if s.path.stem == "x86_64")
        picker.query_one("#scenario-list").highlighted = demo
        await pilot.press("enter")
        await settle(pilot)
        assert app.session.mode == "scenario" and app.session.arch == "x86_64"


async def test_help_tab_play_palette_and_theme(app_factory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # tab moves between panels; a narrow screen shows only the current one
        assert app.current_panel == "walk" and app.screen.has_class("-narrow")
        order = []
        for _ in range(6):
            await pilot.press("tab")
            await settle(pilot)
            order.append(app.current_panel)
            shown = [p.id for p in app.query(".panel") if p.display]
            assert (
                shown == [app.current_panel]
                and app.focused in app.query_one(f"#{app.current_panel}").walk_children()
            )
        assert order == ["tables", "entry", "tlb", "regions", "log", "walk"]
        await pilot.click("#tab-tlb")
        await settle(pilot)
        assert app.current_panel == "tlb"
        # ? shows the focused panel's help, and hides it again
        await pilot.press("question_mark")
        await settle(pilot)
        assert "### TLB" in app.screen.query_one("HelpPanel #widget-help").source
        await pilot.press("question_mark")
        await settle(pilot)
        assert not app.screen.query("HelpPanel")
        # space plays the walk, space pauses it
        app.focus_panel("walk")
        app.play_seconds = 0.1
        await pilot.press("space")
        await pilot.pause(0.35)
        await pilot.press("space")
        played = app.walk.index
        assert played >= 1
        await pilot.pause(0.25)
        assert app.walk.index == played
        # the palette's own entries, and the high-contrast theme
        titles = [t for t, _, _ in NptCommands(app.screen)._commands()]
        for expected in (
            "arch: switch to aarch64",
            "arch: machine options…",
            "scenario: pick…",
            "flush: invvpid-addr",
            "export: SVG screenshot",
            "export: current walk as JSON",
            "theme: high contrast",
        ):
            assert expected in titles
        assert [h async for h in NptCommands(app.screen).search("flush invept")]
        assert "npt-high-contrast" in app.available_themes
        app.theme = "npt-high-contrast"
        await settle(pilot)
        assert app.current_theme.background == "#000000"


UNBACKED_POOL = """
[scenario]
title = "the guest's table pool is backed later"
arch = "riscv64"

[machine]
map_pool = false

[[step]]
op = "expect"
guest_pt_frames = 0

[[step]]
op = "map"
stage = 2
gpa = "0x10_0000"
size = "1M"
flags = "rw"
backend = "alloc"

[[step]]
op = "expect"
guest_pt_frames = 0

[[step]]
op = "map"
stage = 2
gpa = "0x20_0000"
size = "2M"
flags = "rwx"
hpa = "0x8020_0000"

[[step]]
op = "map"
stage = 1
gva = "0x4000_0000"
gpa = "0x20_0000"
size = "4K"
flags = "rw"

[[step]]
op = "expect"
guest_pt_frames = 3

[[step]]
op = "access"
gva = "0x4000_0008"
expect = { result = "ok", refs = 15 }
"""


async def test_looking_never_changes_the_machine(app_factory, tmp_path: Path) -> None:
    """With `map_pool = false` the guest's table is made by its first stage-1 map: the
    panels, reading the machine after every step, must not make it earlier."""
    path = tmp_path / "unbacked.toml"
    path.write_text(UNBACKED_POOL)
    app = app_factory(file=str(path))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        tree = app.tables.tree
        assert "no table yet" in str(tree.root.children[0].label)
        for _ in range(app.session.total):
            await pilot.press("right_square_bracket")
            await settle(pilot)
            await pilot.press("home", "end")
        assert [e.result.passed for e in app.session.log] == [True] * 7
        assert run(load(path)).passed
        assert "levels · root gPA 0x100000" in str(tree.root.children[0].label)
