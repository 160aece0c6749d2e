"""Issue 16, items 6-11: what the TUI says is right (each test failed before its fix)."""

from __future__ import annotations

import json
from pathlib import Path

from tui_helpers import plain, settle, shown, typed

from npt_explorer.tui.panels.log import entry_block

#: x86 demo: gVA 0x4010_0000 is mapped read/execute, so a write faults at the guest PTE —
#: reference 20 of a 4×4 walk (4 guest levels × (4 EPT reads + 1)), where the walk stops
RX_PAGE = "0x4010_0000"


async def test_a_faulting_access_is_shown_as_a_fault_at_its_faulting_reference(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await typed(pilot, f"access gva={RX_PAGE} access=write")
        hint = shown(app, "#cmd-hint")
        assert hint.startswith("✗ access gva=0x40100000 access=write")
        assert "fault: stage 1 permission" in hint
        assert app.command_line.has_class("-fault")
        walk = app.walk.walk
        assert walk.fault is not None and len(walk.steps) == 20
        assert app.walk.index == 19
        assert shown(app, "#walk-detail").startswith("reference 20 of 20")


async def test_translate_and_the_rewalk_after_a_poke_do_not_say_tlb_off(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await typed(pilot, "translate gva=0x4000_1008 access=read")
        await pilot.press("escape", "end")
        detail = shown(app, "#walk-detail")
        log = plain(entry_block(app.session.log[-1]))
        for text in (detail, log):
            assert "TLB off" not in text
            assert "TLB not looked up (translate)" in text
        await typed(pilot, "access gva=0x4000_0008 access=read")
        assert "TLB miss" in plain(entry_block(app.session.log[-1]))


async def test_a_machine_without_a_tlb_says_tlb_off(app_factory, tmp_path):
    file = tmp_path / "no_tlb.toml"
    file.write_text(
        '[scenario]\ntitle = "t"\narch = "x86_64"\n[machine]\ntlb = false\n'
        '[[step]]\nop = "map"\nstage = 2\ngpa = "0x20_0000"\nsize = "2M"\nflags = "rwx"\n'
        'hpa = "0x8020_0000"\n'
        '[[step]]\nop = "map"\nstage = 1\ngva = "0x4000_0000"\ngpa = "0x20_0000"\n'
        'size = "4K"\nflags = "rw"\n'
        '[[step]]\nop = "access"\ngva = "0x4000_0008"\n'
    )
    app = app_factory(file=file)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press(*"]]]")
        await settle(pilot)
        assert "TLB off (tlb = false)" in plain(entry_block(app.session.log[-1]))


async def test_ept_bits_8_and_9_are_ignored_without_ept_ad(app_factory):
    """x86 demo (no ept-ad): set bits 8/9 of the final gPA's EPT PTE; the decoder calls them
    ignored, not accessed/dirty (SDM §29.3.5: A/D flags only with EPTP[6]=1)."""
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await typed(pilot, "poke stage=2 gpa=0x20_1008 depth=3 set=0x300")
        await pilot.press("escape", "end")
        rows = {str(r[1]): str(r[3]) for r in app.entry.fields_table.rows}
        assert rows["A"] == rows["D"] == "ignored (EPT A/D off: EPTP[6]=0)"


def test_decode_ept_names_bits_8_and_9_by_the_ept_ad_feature(capsys):
    from npt_explorer.cli import main

    def meanings(*extra: str) -> dict[str, str]:
        assert (
            main(["decode", "--format", "ept", "--depth", "3", *extra, "0x80000337", "--json"]) == 0
        )
        doc = json.loads(capsys.readouterr().out)
        return {f["name"]: f["meaning"] for f in doc["fields"] if f["name"] in ("A", "D")}

    assert meanings() == {
        "A": "ignored (EPT A/D off: EPTP[6]=0)",
        "D": "ignored (EPT A/D off: EPTP[6]=0)",
    }
    assert meanings("--features", "ept-ad") == {"A": "accessed", "D": "dirty"}


def test_every_role_on_screen_has_its_own_colour():
    """Stage 2 was ANSI magenta (red in Textual's dark palette), attributes magenta and a
    set reserved bit red: MEMTYPE=6 looked like an error."""
    from rich.style import Style

    from npt_explorer.engine.formats import Role
    from npt_explorer.scenario import colours

    shown_roles = {r: colours.ROLE[r] for r in colours.SHOWN_ROLES}
    palette = [*colours.STAGE.values(), colours.FAULT, colours.RESERVED_SET, *shown_roles.values()]
    looks = [(Style.parse(c.style).color, Style.parse(c.style).bgcolor) for c in palette]
    assert len(set(looks)) == len(looks)
    names = [c.name for c in palette if c is not colours.ROLE[Role.VALID]]
    assert len(set(names)) == len(names)  # the key's words tell them apart too
    for c in palette:  # truecolour: no theme or terminal palette remaps it
        assert Style.parse(c.style).color.triplet is not None


async def test_the_fault_cell_under_the_cursor_keeps_the_fault_colour(app_factory):
    from rich.style import Style

    from npt_explorer.scenario.colours import FAULT_STYLE

    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await typed(pilot, f"access gva={RX_PAGE} access=write")
        grid = app.walk.grid
        row = grid.row
        strip = grid.render_line(row + 1 - grid.scroll_offset.y)
        fault = Style.parse(FAULT_STYLE).color
        cell = [seg for seg in strip if "20" in seg.text]
        assert cell and cell[0].style.color == fault


async def test_the_help_colour_key_names_the_colours_the_screen_uses(app_factory):
    from npt_explorer.scenario.colours import colour_key
    from npt_explorer.tui.panels.walk import WalkPanel

    assert colour_key() in WalkPanel.HELP.replace("\n", " ")
    assert "magenta" not in WalkPanel.HELP and "stage 2 violet" in colour_key()


def test_replay_json_gives_syndrome_addresses_as_hex_strings_and_the_whole_esr(capsys):
    """arm_03: a guest write to a read-only stage-2 page. ESR_EL2 = EC 0x24 << 26 | IL << 25
    | WnR << 6 | DFSC 0x0f (permission, level 3) = 0x9200004f; FAR is the gVA 0x1000_0010."""
    from npt_explorer.cli import main

    assert main(["replay", "scenarios/arm_03_s2ap_read_only.toml", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    syndrome = next(s for s in doc["steps"] if s.get("fault"))["fault"]["syndrome"]
    assert syndrome["far"] == "0x10000010" and syndrome["esr"] == "0x9200004f"
    assert (syndrome["ec"], syndrome["fsc"], syndrome["el"]) == (0x24, 0x0F, 2)


async def test_the_log_and_the_walk_panel_decode_the_syndrome_bit_by_bit(app_factory):
    """x86_03 (dirty logging): a write to a write-protected EPT page exits with reason 48;
    its exit qualification 0x18a = write (1) | readable (3) | GLA valid (7) | GLA final (8).
    The Log printed exit_reason=0x30 and the Walk panel showed no syndrome at all."""
    app = app_factory(file="scenarios/x86_03_ept_dirty_logging.toml")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        while app.session.walk_result is None or app.session.walk_result.walk.fault is None:
            await pilot.press("right_square_bracket")
        await settle(pilot)
        log = plain(entry_block(app.session.log[-1]))
        detail = shown(app, "#walk-detail")
        for text in (log, detail):
            assert "exit reason 48: EPT violation" in text
            assert "exit qualification 0x18a" in text
            assert "bit 1  write = 1" in text and "bit 7  GLA valid = 1" in text
            assert "0x30" not in text and "None" not in text


async def test_the_log_prints_result_fields_as_words_not_python(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await typed(pilot, "query stage=1 gva=0x4000_0000")
        await typed(pilot, "expect tlb_entries=2")
        data = [plain(entry_block(e)).splitlines()[1] for e in app.session.log[-2:]]
        assert "flags=READ|WRITE" in data[0] and "tlb.combined=" in data[1]
        assert not any(c in line for line in data for c in "[]{}'")


async def test_aarch64_calls_the_last_row_final_ipa(app_factory):
    app = app_factory(arch="aarch64")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        labels = [str(row[0]) for row in app.walk.grid.rows]
        assert labels[-1] == "final IPA" and "final gPA" not in labels


def test_x86_01_points_at_what_the_walk_view_shows():
    from pathlib import Path

    text = Path("scenarios/x86_01_first_walk.toml").read_text()
    assert "'wrote' column" not in text and "+A/D" in text


def test_sizes_and_arch_names_read_as_words():
    from npt_explorer.engine import PagingError
    from npt_explorer.engine.config import MachineConfig
    from npt_explorer.scenario.report import size_words

    assert [size_words(n) for n in (4096, 2 << 20, 1 << 30, 0x1800)] == [
        "4 KiB",
        "2 MiB",
        "1 GiB",
        "6 KiB",
    ]
    try:
        MachineConfig(arch="aarch64", guest="sv39")
    except PagingError as err:
        assert "a aarch64" not in err.message and "aarch64's stage-1 modes" in err.message
    else:
        raise AssertionError("sv39 is not an aarch64 guest mode")


async def test_an_amd_machine_names_its_tlb_tags_asid_and_ncr3(app_factory):
    # AMD APM Vol. 2 §15.16: the guest's TLB entries are tagged by the VMCB's ASID; nCR3
    # (§15.25.3) names the nested table where Intel's EPTP would
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "x86_10_amd_npt_walk.toml"
    app = app_factory(file=scenario)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.query_one("#tlb-table")
        labels = [str(column.label) for column in table.columns.values()]
        assert "ASID" in labels and "nCR3" in labels and "EPTP" not in labels
        root = app.session.machine.npt.root
        assert f"now nCR3 {root:#x} ASID" in shown(app, "#tlb-stats")


async def test_a_pae_walk_starts_from_its_pdpte_register_not_an_empty_row(app_factory):
    # SDM Vol. 3A §4.4.1: the four PDPTEs are loaded with CR3; a walk reads none of them, so
    # the PDPTE row names the register gVA bits 31:30 pick and holds no reference
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "x86_11_pae_guest.toml"
    app = app_factory(file=scenario)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for _ in range(7):  # to the cold read of gVA 0x4000_1008 (PDPTE 1)
            await pilot.press("]")
            await settle(pilot)
        walk = app.walk
        assert walk.count == 14
        assert walk._register_name() == "PDPTE1 reg"
        cells = [walk._cell_text(0, col).plain for col in range(5)]
        assert cells == ["—", "—", "—", "—", "register"]
        assert walk._cell_text(1, 4).plain.strip() == "5 table"  # the PDE is the first read
