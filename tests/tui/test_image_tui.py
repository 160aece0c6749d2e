"""The TUI on a memory image (issue #13 item 4, IMAGES.md "Verbs"): the same panels, the
Regions panel is `image ranges`, pokes edit the overlay and re-walk (the file never changes),
map/unmap and the other table-building commands are refused with a message, and `save`
writes a patch file or a new ELF, never over an input. On the committed real Linux dump
(tests/image/data, QEMU `dump-guest-memory`) and on an exported scenario."""

from __future__ import annotations

import hashlib
import json
import lzma
import os
from pathlib import Path

import pytest
from textual.widgets import Button, Input
from tui_helpers import no_blink, settle

from npt_explorer.cli import main
from npt_explorer.image import decode, open_images
from npt_explorer.image.machine import ImageMachine
from npt_explorer.image.ranges import ranges
from npt_explorer.scenario.loader import ScenarioError, load
from npt_explorer.scenario.replay import run
from npt_explorer.scenario.results import walk_json
from npt_explorer.tui.image_source import ImageSession, open_session
from npt_explorer.tui.panels.image_regions import ImageRegionsPanel
from npt_explorer.tui.panels.regions import RegionsPanel
from npt_explorer.tui.panels.tlb import TlbPanel

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "image" / "data"
ANSWERS = json.loads((DATA / "linux_x86_64.qemu.json").read_text())
KERNEL_TEXT = 0xFFFFFFFF81000000  # Linux x86_64 __START_KERNEL_map + 16 MiB


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dump") / "linux.elf"
    path.write_bytes(lzma.decompress((DATA / "linux_x86_64.elf.xz").read_bytes()))
    return path


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _qemu_machine(dump: Path) -> ImageMachine:
    memory, _ = open_images([str(dump)])
    regs = {k: int(v, 16) for k, v in ANSWERS["registers"].items()}
    return ImageMachine.build(memory, decode("x86_64", regs))


async def test_the_real_linux_dump_opens_from_the_command_line_with_image_ranges_as_regions(
    app_factory, dump: Path
) -> None:
    app = app_factory(file=dump)  # no root flags: the QEMU note of vCPU 0 holds CR0/CR3/CR4
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert isinstance(app.session, ImageSession)
        panel = app.query_one(RegionsPanel)
        assert isinstance(panel, ImageRegionsPanel)
        # stage 1 only (no stage-2 root in a plain kernel's dump): `image ranges --stage 1`
        expected, _ = ranges(_qemu_machine(dump), "1")
        assert panel.runs == expected and panel.table.row_count == len(expected) == 119
        gva = next(g for g, a in ANSWERS["gva2gpa"].items() if a.startswith("gpa: 0x"))
        assert app.commands.run_text(f"translate gva={gva}")
        await settle(pilot)
        walk = app.session.walk_result.walk
        assert f"gpa: {walk.gpa:#x}" == ANSWERS["gva2gpa"][gva]  # QEMU's own gva2gpa answer
        assert app.walk.walk is walk  # the Walk panel shows it


async def test_the_image_regions_filter_takes_the_machines_words_and_names_a_bad_one(
    app_factory, dump: Path
) -> None:
    """One filter language on both Regions panels: a machine's words (`ro`, `!x`, an
    address) work on the image's runs as its own (`K:r-`) do; a bad word is named under the
    box."""
    app = app_factory(file=dump)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        panel = app.query_one(RegionsPanel)
        assert isinstance(panel, ImageRegionsPanel) and panel.runs
        app.focus_panel("regions")
        await pilot.press("slash", *"s1 ro !x")
        await settle(pilot)
        shown = panel.shown_runs
        assert shown and len(shown) < len(panel.runs)
        assert all(r.perms == "K:r-- U:---" for r in shown)
        assert shown == [r for r in panel.runs if "k:r--" in r.perms.lower()]
        assert panel.table.row_count == len(shown)
        box = app.query_one("#regions-filter", Input)
        box.value = "s1 ro !x 0xzz"  # at once (typed, "0" alone is an address)
        await settle(pilot)
        note = app.query_one("#regions-error")
        assert note.display and "'0xzz' is not an address" in str(note.render())
        assert panel.shown_runs == shown  # the rows of the last good filter stay
        box.value = f"s1 {KERNEL_TEXT:#x}"
        await settle(pilot)
        assert not note.display
        assert [r.start <= KERNEL_TEXT < r.end for r in panel.shown_runs] == [True]


async def test_a_poke_changes_the_overlay_and_the_walk_never_the_file(
    app_factory, dump: Path
) -> None:
    before = _fingerprint(dump)
    app = app_factory(file=dump)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.commands.run_text(f"translate gva={KERNEL_TEXT:#x}")
        walk = app.session.walk_result.walk
        assert walk.ok and walk.hpa == 0x100_0000 and walk.page_size == 2 << 20
        leaf = walk.steps[-1]  # the kernel text's 2 MiB PDE (depth 2)
        assert app.commands.run_text(f"poke stage=1 gva={KERNEL_TEXT:#x} depth=2 clear=1")  # P = 0
        await settle(pilot)
        assert app.session.machine.pokes == 1
        assert app.commands.run_text(f"translate gva={KERNEL_TEXT:#x}")
        faulted = app.session.walk_result.walk
        assert faulted.fault is not None and faulted.fault.reason == "not-present"
        overlay = app.session.machine.image.memory.overlay
        assert int(overlay[leaf.entry_hpa >> 12][(leaf.entry_hpa & 0xFFF) >> 3]) == leaf.raw & ~1
    assert _fingerprint(dump) == before


@pytest.mark.parametrize(
    ("line", "word"),
    [
        ("map stage=1 gva=0x1000 gpa=0x2000 size=0x1000 flags=rw", "map:"),
        ("unmap stage=1 gva=0xffffffff81000000 size=0x1000", "unmap:"),
        ("protect stage=1 gva=0xffffffff81000000 size=0x1000 flags=r", "protect:"),
        ("flush kind=invlpg addr=0x1000", "flush:"),
        ("handle-fault", "handle-fault:"),
    ],
)
async def test_commands_that_build_tables_are_refused_on_an_image_with_a_message(
    app_factory, dump: Path, line: str, word: str
) -> None:
    app = app_factory(file=dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert not app.commands.run_text(line)
        error = app.session.log[-1].result.error
        assert error is not None and error.message.startswith(word) and "image" in error.message
        assert app.session.machine.pokes == 0


async def test_an_image_shows_no_flush_buttons_and_a_scenario_loaded_after_it_brings_them_back(
    app_factory, dump: Path
) -> None:
    """An image has no TLB (its walks read its tables) and refuses every flush: the TLB
    panel says so and offers no flush button; the next scenario's machine has a TLB again."""
    app = app_factory(file=dump)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        panel = app.query_one(TlbPanel)
        bar = panel.query_one("#tlb-flushes")
        assert "no TLB" in str(panel.query_one("#tlb-stats").render())
        assert not bar.display and not panel.query(".flush")
        assert app.commands.run_text(f"load {ROOT / 'scenarios' / 'x86_06_stale_tlb.toml'}")
        await settle(pilot)
        assert app.session.machine.tlb is not None
        assert bar.display and bar.region.height == 1  # on screen again, under the table
        labels = [str(b.label) for b in panel.query(".flush").results(Button)]
        assert labels == list(app.session.machine.config.spec.flushes) and labels


async def test_save_writes_a_patch_that_reopens_to_the_same_walk_and_never_over_the_input(
    app_factory, dump: Path, tmp_path: Path
) -> None:
    before = _fingerprint(dump)
    app = app_factory(file=dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.commands.run_text(
            f"poke stage=1 gva={KERNEL_TEXT:#x} depth=2 set=0x8000000000000000"
        )
        assert app.commands.run_text(f"translate gva={KERNEL_TEXT:#x} access=exec")
        nx_walk = walk_json(app.session.walk_result.walk)
        assert nx_walk["fault"]["reason"] == "permission"  # XD set by the poke
        assert not app.commands.run_text(f"save {dump}")  # the input: refused
        assert "input" in str(app.command_line.query_one("#cmd-hint").render())
        assert app.commands.run_text(f"save {tmp_path / 'fix.toml'}")
        assert app.commands.run_text(f"save {tmp_path / 'fixed.elf'}")
    assert _fingerprint(dump) == before
    reopened = open_session([str(tmp_path / "fix.toml")])  # the patch: image + commands
    assert walk_json(reopened.walk_result.walk) == nx_walk
    elf = open_session([str(tmp_path / "fixed.elf")])  # the new ELF: roots note, overlay in it
    assert walk_json(elf.machine.translate(KERNEL_TEXT, "exec")) == nx_walk


async def test_the_open_dialog_opens_an_image_with_its_roots(app_factory, dump: Path) -> None:
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        cr3 = ANSWERS["registers"]["cr3"]
        app.screen.query_one("#scenario-filter").value = f"{dump} --cr3 {cr3}"
        app.screen.query_one("#scenario-filter").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.session, ImageSession)
        await settle(pilot)
        assert isinstance(app.query_one(RegionsPanel), ImageRegionsPanel)  # swapped in
        assert app.query_one(RegionsPanel).table.row_count == 119
        await pilot.press("o")
        await settle(pilot)
        app.screen.query_one("#scenario-filter").value = "x86_01"  # back to a scenario
        app.screen.query_one("#scenario-filter").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert type(app.query_one(RegionsPanel)) is RegionsPanel


async def test_an_exported_scenario_walks_in_the_tui_as_replay_translates(
    app_factory, tmp_path: Path
) -> None:
    scenario = ROOT / "scenarios" / "x86_03_ept_dirty_logging.toml"
    out = tmp_path / "x86_03.elf"
    assert main(["image", "export", str(scenario), "-o", str(out)]) == 0
    machine = run(load(scenario)).machine
    steps = [c for c in load(scenario).steps if c.op in ("access", "translate")]
    assert steps
    app = app_factory(file=out)  # the roots note roots both stages: no flags
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.session.machine.table(2) is not None  # the EPT tables are in the tree
        for command in steps:
            gva, access = command.args["gva"], command.args.get("access", "read")
            assert app.commands.run_text(f"translate gva={gva:#x} access={access}")
            expected = walk_json(machine.translate(gva, access))
            assert walk_json(app.session.walk_result.walk) == expected
        await settle(pilot)
        panel = app.query_one(RegionsPanel)
        assert {r.stage for r in panel.runs} == {"1", "2"}


def test_a_bad_image_command_line_exits_2_with_one_line(dump: Path, capsys) -> None:
    assert main([str(dump), "--cr3", "0xzz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--cr3" in err[0] and "not a number" in err[0]


def test_a_scenario_takes_no_image_options() -> None:
    with pytest.raises(ScenarioError, match="takes no options"):
        open_session([str(ROOT / "scenarios" / "x86_01_first_walk.toml"), "--cr3", "0x1000"])


@pytest.mark.snapshot
def test_snapshot_of_the_real_linux_dump(snap_compare, app_factory, dump: Path) -> None:
    async def walked(pilot) -> None:
        no_blink(pilot.app)
        await settle(pilot)
        pilot.app.commands.run_text(f"translate gva={KERNEL_TEXT:#x}")
        await settle(pilot)
        await pilot.press("n", "n")
        await settle(pilot, for_screenshot=True)

    assert snap_compare(app_factory(file=dump), terminal_size=(160, 48), run_before=walked)


def test_a_device_or_a_pipe_is_never_read_as_a_patch_file(tmp_path: Path) -> None:
    """`load /dev/zero` went through the patch-file check, whose readline never ended: the
    process grew until the kernel's OOM killer ended it. Only regular files are read."""
    fifo = tmp_path / "stuck.toml"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes
    for path in ("/dev/zero", str(fifo)):
        with pytest.raises(ScenarioError, match="not a regular file"):
            open_session([path])


@pytest.mark.parametrize("line", ["undo", "goto 0", "redo"])
async def test_time_travel_is_refused_on_an_image_and_the_app_carries_on(
    app_factory, dump: Path, line: str
) -> None:
    """`undo` rebuilt a plain machine from the image's scenario and the next frame crashed
    (the Machine has no overlay); an image keeps no history: refused, with why."""
    app = app_factory(file=dump)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.commands.run_text(f"translate gva={KERNEL_TEXT:#x} access=read")
        session = app.session
        assert not app.commands.run_text(line)
        await settle(pilot)
        assert app.is_running and app.session is session
        assert "keeps no history" in str(app.query_one("#cmd-hint").render())
