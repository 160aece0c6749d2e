"""Issue 16, item 17: `save FILE --expect` writes what each step was observed to do as its
expectations, so a saved bug reproduction is a regression test: `replay --check` passes on it
as saved and fails once the bug is fixed (or changes)."""

from __future__ import annotations

import tomllib

from test_linked import hint_text, type_command
from tui_helpers import settle

from npt_explorer.cli import main
from npt_explorer.scenario import bundled_dir, loads, run
from npt_explorer.scenario.session import Session

#: the "bug": dirty logging left the data page read-only at stage 2 (EPT), so the guest's
#: write to it exits with an EPT violation (exit reason 48) at the final translation
BUG = "protect stage=2 gpa=0x20_0000 size=4K flags=rx"
WRITE = "access gva=0x4000_0000 access=write"


async def test_save_expect_makes_the_bug_a_regression_test(app_factory, tmp_path, capsys):
    app = app_factory(arch="x86_64")
    saved = tmp_path / "bug.toml"
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await type_command(pilot, BUG)
        await type_command(pilot, WRITE)
        assert app.walk.walk.fault is not None
        await type_command(pilot, f"save {saved} --expect")
        assert "observed results as expectations" in hint_text(app)
    steps = tomllib.loads(saved.read_text())["step"]
    write = steps[-1]
    assert write["op"] == "access" and write["access"] == "write"
    # SDM 28.3.3.2 / Table 28-7: exit reason 48 (EPT violation); the guest's own walk found
    # the data page, so the fault is stage 2's, at the final translation, on the EPT PTE (3)
    assert write["expect"]["result"] == "fault"
    assert write["expect"]["fault_stage"] == 2 and write["expect"]["fault_reason"] == "permission"
    assert write["expect"]["fault_during"] == "final" and write["expect"]["fault_depth"] == 3
    assert write["expect"]["syndrome"]["exit_reason"] == 48
    # the demo's own last step (a cold write, 24 references) now expects all it did, also
    # what its written `expect` left out: the A/D write-backs and the page size
    cold = steps[-3]
    assert cold["op"] == "access" and cold["gva"] == "0x40001008"
    assert cold["expect"]["result"] == "ok" and cold["expect"]["hpa"] == "0x80201008"
    assert cold["expect"]["refs"] == 24 and cold["expect"]["tlb"] == "miss"
    assert cold["expect"]["page_size"] == "0x1000" and "writes" in cold["expect"]

    capsys.readouterr()
    assert main(["replay", "--check", str(saved)]) == 0  # as saved: every step holds

    fixed = tmp_path / "fixed.toml"  # the bug fixed: the protect step gone
    text = saved.read_text()
    start = text.index('[[step]]\nop = "protect"')
    fixed.write_text(text[:start] + text[text.index("[[step]]", start + 1) :])
    capsys.readouterr()
    assert main(["replay", "--check", str(fixed)]) == 1
    err = capsys.readouterr().err
    assert "expectation failed: result" in err and "(access)" in err


async def test_save_without_expect_writes_the_steps_as_run_and_refuses_unknown_options(
    app_factory, tmp_path
):
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await type_command(pilot, WRITE)
        await type_command(pilot, f"save {tmp_path / 'plain.toml'} --expekt")
        assert "--expekt: save FILE.toml [--expect]" in hint_text(app)
        assert not (tmp_path / "plain.toml").exists()
        await type_command(pilot, f"save {tmp_path / 'plain.toml'}")
    steps = tomllib.loads((tmp_path / "plain.toml").read_text())["step"]
    assert "expect" not in steps[-1]  # typed without one: saved without one


def test_every_bundled_lesson_saved_with_expect_replays_and_passes_its_check():
    """Each op's observed table holds on replay (walks, faults and syndromes, query, trace
    statistics with a float hit rate, handle-fault, expected errors)."""
    for path in sorted(bundled_dir().glob("*.toml")):
        session = Session.from_file(path)
        session.run_scenario_steps(session.total)
        replay = run(loads(session.to_toml(expect=True), str(path)))
        failures = [(r.index, r.command.op, r.mismatches) for r in replay.failures]
        assert replay.passed, f"{path.name}: {failures}"
