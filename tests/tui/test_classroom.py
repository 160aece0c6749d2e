"""Pilot tests of the classroom in the TUI: quiz mode hides the answer until it is typed,
scores right and wrong answers and runs the step that explains them; the diff view; time
travel to any point of the session."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_textual_snapshot import SVGImageExtension
from tui_helpers import no_blink, settle

from npt_explorer.classroom.diff import diff_lines
from npt_explorer.classroom.quiz import generate
from npt_explorer.tui.classroom import QuizBar, TimelineBar
from npt_explorer.tui.messages import EntryTarget
from npt_explorer.tui.panels.diff import DiffPanel
from npt_explorer.tui.panels.regions import RegionsPanel
from npt_explorer.tui.panels.tlb import TlbPanel

X86_03 = Path(__file__).resolve().parents[2] / "scenarios" / "x86_03_ept_dirty_logging.toml"


async def type_command(pilot, text: str) -> None:
    await pilot.press("colon")
    field = pilot.app.command_line.input
    field.value = text
    field.cursor_position = len(text)
    await pilot.press("enter")
    await settle(pilot)


def bar_text(app) -> str:
    return str(app.query_one(QuizBar).render())


async def test_a_right_answer_scores_and_shows_its_walk(app_factory):
    [problem] = generate(seed=3, count=1, arch="x86_64", topic="walk")
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_command(pilot, "quiz topic=walk arch=x86_64 seed=3 count=1")
        part = problem.parts[0]
        # hidden: the asked step has not run, so no panel shows its walk yet
        assert app.session.position == problem.premise == part.step - 1
        assert app.session.walk_result is None
        assert part.prompt.split("?")[0] in bar_text(app)
        await type_command(pilot, f":answer {part.shown()}")  # the colon typed again: fine
        quiz = app.classroom.quiz
        assert quiz is not None and (quiz.score, quiz.asked) == (1, 1)
        assert "score 1/1" in app.query_one(QuizBar).border_title
        assert "✓ right" in bar_text(app)
        # explained with the same panels: the walk panel now holds the asked access
        shown = app.session.walk_result
        assert shown is not None and shown.index == part.step
        assert app.walk.walk is shown.walk


async def test_a_wrong_answer_is_marked_with_the_right_one_and_the_quiz_moves_on(app_factory):
    problems = generate(seed=8, count=2, arch="aarch64", topic="faults")
    app = app_factory(arch="aarch64")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_command(pilot, "quiz topic=faults arch=aarch64 seed=8 count=2")
        first = problems[0].parts[0]  # the faulting stage: 1 or 2
        wrong = 3 - int(first.answer)
        await type_command(pilot, f"answer {wrong}")
        quiz = app.classroom.quiz
        assert quiz is not None and (quiz.score, quiz.asked) == (0, 1)
        text = bar_text(app)
        assert f"✗ wrong (you said {wrong}): {first.answer}" in text
        assert problems[0].parts[1].prompt in text  # the next part is open
        assert app.session.walk_result is not None  # the faulting access ran: its walk shows
        assert app.session.walk_result.walk.fault is not None
        for part in problems[0].parts[1:]:
            await type_command(pilot, f"answer {part.shown()}")
        assert ":next" in bar_text(app)
        await type_command(pilot, "next")
        assert app.classroom.quiz.index == 1
        assert "problem 2/2" in app.query_one(QuizBar).border_title
        assert app.session.position == problems[1].premise


async def test_a_quiz_in_other_paging_modes_runs_on_that_machine(app_factory):
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_command(pilot, "quiz topic=huge guest=pae npt=npt4 seed=2 count=1")
        config = app.session.machine.config
        assert (config.arch, config.guest, config.npt) == ("x86_64", "pae", "npt4")
        assert "pae × npt4" in app.sub_title  # the header names the quiz machine's modes
        await type_command(pilot, "quiz arch=aarch64 npt=ept4")
        assert "unknown aarch64 npt mode 'ept4'" in hint(app)


async def test_answers_without_a_quiz_are_an_inline_error(app_factory):
    app = app_factory(arch="riscv64")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await type_command(pilot, "answer 0x1000")
        assert "no quiz open" in str(app.command_line.query_one("#cmd-hint").render())
        await type_command(pilot, "quiz topic=nope")
        assert "topic=nope (allowed:" in str(app.command_line.query_one("#cmd-hint").render())


async def test_goto_returns_to_any_point_and_redo_goes_forward_again(app_factory):
    app = app_factory(file=str(X86_03))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press(*"]]]]]]]")  # seven scenario steps: the protect is the last
        await type_command(pilot, "access gva=0x40000010 access=read")
        assert len(app.session.log) == 8
        await type_command(pilot, "goto 6")  # nothing is lost going back: no warning
        assert len(app.session.log) == 6 and app.session.position == 6
        leaf = app.session.machine.entry(2, 0x20_0000, 3)[1]
        assert leaf.field("W") == 1  # before the protect of step 7
        bar = str(app.query_one(TimelineBar).render())
        assert "at point 6 of 8" in bar and "a new command here drops points 7..8" in bar
        await type_command(pilot, "undo")
        assert len(app.session.log) == 5
        await type_command(pilot, "redo")
        assert len(app.session.log) == 6 and app.session.position == 6
        await type_command(pilot, "redo 2")  # the protect (a scenario step) and the typed access
        assert len(app.session.log) == 8 and app.session.position == 7
        assert app.session.log[-1].by_hand and app.session.unsaved == 1
        assert app.session.machine.entry(2, 0x20_0000, 3)[1].field("W") == 0
        assert not app.query(TimelineBar)  # no later point: the bar is gone
        await type_command(pilot, "redo")
        assert "nothing to redo" in hint(app)
        await type_command(pilot, "goto 3")
        await type_command(pilot, "goto 7")  # goto forward is a redo too
        assert len(app.session.log) == 7 and app.query(TimelineBar)


async def test_a_new_command_after_going_back_drops_the_later_points_and_says_so(app_factory):
    app = app_factory(file=str(X86_03))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press(*"]]]]]]]")
        await type_command(pilot, "goto 4")
        await pilot.press("escape", "]")  # the scenario's next step is point 5: the same future
        assert len(app.session.log) == 5 and "point 5 of 7" in str(
            app.query_one(TimelineBar).render()
        )
        await type_command(pilot, "access gva=0x40000000 access=read")  # not point 6
        assert not app.query(TimelineBar)
        assert any("2 later point(s) dropped" in str(n.message) for n in app._notifications)
        await type_command(pilot, "redo")
        assert "nothing to redo" in hint(app)


def hint(app) -> str:
    return str(app.command_line.query_one("#cmd-hint").render())


async def open_diff(pilot, text: str) -> DiffPanel:
    await type_command(pilot, text)
    await settle(pilot)
    return pilot.app.query_one(DiffPanel)


async def test_diff_rows_are_linked_to_the_entry_tables_regions_and_tlb_panels(app_factory):
    app = app_factory(file=str(X86_03))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press(*"]]]]]]]]")  # to point 8: after the INVEPT
        panel = await open_diff(pilot, "diff 6 7")  # the protect; the panels go to point 7
        assert len(app.session.log) == 7
        assert "the panels show point 7" in str(panel.border_title)
        rows = panel.rows
        # 16 EPT PTEs W 1→0, one range in each permission view, two stale TLB entries (6→7)
        assert [r.entry is not None for r in rows].count(True) == 16
        assert all("W 1→0" in str(r.cells[5]) for r in rows[:16])
        labels = ["± leaf grants", "± effective", "± gVA S1 / S2", "! TLB stale", "! TLB stale"]
        assert [str(r.cells[0]) for r in rows[16:]] == labels
        assert app.focused is panel.table
        # the first row (under the cursor) is the EPT PTE for gPA 0x200000: decoded and
        # found in the page-table tree
        assert app.entry.target == EntryTarget(2, 0x20_0000, 3)
        tree = app.tables.tree
        assert tree.cursor_node is not None and tree.cursor_node.data.target == app.entry.target
        await pilot.press("down")
        assert app.entry.target == EntryTarget(2, 0x20_1000, 3)
        tlb = app.query_one(TlbPanel)
        await pilot.press(*["down"] * 19)  # the last row, the stale stage-2 TLB entry
        await settle(pilot)
        assert app.entry.target == EntryTarget(2, 0x20_0000, 3)
        assert (tlb.selected_entry().kind, tlb.selected_entry().base) == ("stage2", 0x20_0000)
        await pilot.press("up")  # the stale combined entry: the guest's leaf for its gVA
        await settle(pilot)
        assert app.entry.target == EntryTarget(1, 0x4000_0000, 3)
        assert (tlb.selected_entry().kind, tlb.selected_entry().base) == ("combined", 0x4000_0000)
        regions = app.query_one(RegionsPanel)
        await pilot.press("up")  # the gVA range through both stages: its stage-1 range
        await settle(pilot)
        r = regions.shown[regions.table.cursor_row]
        assert (r.stage, r.start) == (1, 0x4000_0000)
        await pilot.press("up")  # the effective stage-2 range: the regions panel's range
        await settle(pilot)
        r = regions.shown[regions.table.cursor_row]
        assert (r.stage, r.start) == (2, 0x20_0000)
        await pilot.press("escape")
        assert not app.query(DiffPanel)


async def test_the_diff_view_says_where_a_nested_range_lands_and_what_controls_it_assumes(
    app_factory,
):
    """The headless diff's words: a range through both stages lands at gPA → hPA, and the
    effective labels are read under the control state shown over the rows."""
    app = app_factory(file=str(X86_03))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press(*"]]]]]]]")
        panel = await open_diff(pilot, "diff 6 7")
        text = diff_lines(panel.diff)
        cells = [[c.plain for c in r.cells] for r in panel.rows]
        nested = next(c for c in cells if c[0] == "± gVA S1 / S2")
        assert nested[5] == "→ gPA 0x200000 → hPA 0x80200000"
        assert any(f"0x40010000 {nested[5]}: rw- s / rw- → rw- s / r--" in t for t in text)
        assert all(c[5] == "" for c in cells if c[0] in ("± leaf grants", "± effective"))
        note = str(panel.query_one("#diff-assuming").render())
        assert note == "(assuming stage 1: CR0.WP=1 CR4.SMEP=0 CR4.SMAP=0 CR4.PKE=0 EFLAGS.AC=0)"
        assert text.count(f"  {note}") == 2  # the text heads both effective groups with it


@pytest.mark.snapshot
async def test_the_diff_view_after_the_dirty_logging_protect(app_factory, snapshot):
    svg = snapshot.use_extension(SVGImageExtension)
    app = app_factory(file=str(X86_03))
    async with app.run_test(size=(160, 50)) as pilot:
        no_blink(app)
        await settle(pilot)
        await pilot.press(*"]]]]]]]")
        panel = await open_diff(pilot, "diff 6 7")
        assert len(panel.rows) == 21
        await pilot.press(*["down"] * 19)  # the stale combined TLB entry: linked to its S1 PTE
        await settle(pilot, for_screenshot=True)
        assert svg(name="diff") == app.export_screenshot()
        await type_command(pilot, "access gva=0x40000000 access=read")
        assert not app.query(DiffPanel)  # the panels left point 7: the diff view closes


def _luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of #rrggbb."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(fg: str, bg: str) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_colour_the_projector_shows_has_aaa_contrast_on_its_background():
    import re

    from npt_explorer.scenario import colours
    from npt_explorer.tui.widgets.themes import HIGH_CONTRAST

    bg = HIGH_CONTRAST.background
    theme = [
        HIGH_CONTRAST.foreground,
        HIGH_CONTRAST.primary,
        HIGH_CONTRAST.secondary,
        HIGH_CONTRAST.accent,
        HIGH_CONTRAST.success,
        HIGH_CONTRAST.warning,
        HIGH_CONTRAST.error,
    ]
    palette = [
        c.style
        for c in (*colours.STAGE.values(), *colours.ROLE.values(), colours.FAULT, colours.OK)
        if "dim" not in c.style  # unused bits are meant to recede
    ] + [colours.STALE.style]
    for colour in theme + [re.search(r"#[0-9a-f]{6}", s).group(0) for s in palette]:
        assert _contrast(colour, bg) >= 7, colour  # WCAG AAA for normal text
    fg, on = re.findall(r"#[0-9a-f]{6}", colours.RESERVED_SET.style)
    assert _contrast(fg, on) >= 7
    # the cursor reverses the cell: its colour becomes the background of black text, so the
    # colours above (checked against black) are also the cursor's contrasts
    cursor = HIGH_CONTRAST.variables
    for state in ("block-cursor", "block-cursor-blurred"):
        assert "reverse" in cursor[f"{state}-text-style"]
        assert cursor[f"{state}-background"] == bg
        assert _contrast(cursor[f"{state}-foreground"], bg) >= 7


@pytest.mark.snapshot
async def test_f5_shows_the_projector_layout_in_high_contrast_and_back(app_factory, snapshot):
    svg = snapshot.use_extension(SVGImageExtension)
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(120, 36)) as pilot:
        no_blink(app)
        await settle(pilot)
        await pilot.press(*"nnnnn")
        await pilot.press("f5")
        await settle(pilot, for_screenshot=True)
        shown = {w.id for w in app.query(".panel") if w.display}
        assert shown == {"walk", "entry"} and app.theme == "npt-high-contrast"
        assert svg(name="projector") == app.export_screenshot()
        await pilot.press("tab")
        assert app.current_panel == "entry"
        await pilot.press("tab")
        assert app.current_panel == "walk"
        await pilot.press("f5")
        await settle(pilot)
        assert app.theme == "textual-dark" and not app.screen.has_class("-projector")
        # 120 columns: the medium layout, walk grid and entry together
        assert {w.id for w in app.query(".panel") if w.display} == {"walk", "entry"}


def test_the_command_line_completes_quiz_keys_and_their_values():
    from npt_explorer.tui.completion import candidates, complete

    assert candidates("quiz t", "x86_64") == ("t", ["topic="])
    assert candidates("quiz topic=f", "x86_64") == ("f", ["faults"])
    assert candidates("quiz topic=walk a", "x86_64") == ("a", ["arch="])
    assert complete("quiz arch=r", "x86_64") == "quiz arch=riscv64"
