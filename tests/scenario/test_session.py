"""The session, the TUI's model (no Textual): demos, typed commands, stepping, save → replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from npt_explorer.engine.config import MachineConfig
from npt_explorer.engine.region_fold import machine_regions
from npt_explorer.scenario import CommandError, load, run
from npt_explorer.scenario.session import Session

SHAPES = {"x86_64": 24, "aarch64": 19, "riscv64": 15}


@pytest.mark.parametrize("arch", list(SHAPES))
def test_each_demo_ends_on_a_cold_walk_ready_to_step(arch: str) -> None:
    s = Session.demo(arch)
    assert s.mode == "demo" and s.position == s.total
    walk = s.walk_result.walk
    assert walk.ok and walk.tlb == "miss" and walk.refs == SHAPES[arch]
    assert all(e.result.passed for e in s.log), [e.result.mismatches for e in s.log]


def test_demo_with_machine_options_walks_five_by_five() -> None:
    cfg = MachineConfig(arch="x86_64", guest="5-level", npt="ept5")
    s = Session.demo("x86_64", cfg)
    assert s.walk_result.walk.refs == 5 * (5 + 1) + 5
    assert s.machine.config.npt == "ept5"


def test_a_line_that_does_not_parse_runs_nothing() -> None:
    s = Session.demo("x86_64")
    before = (len(s.commands), len(s.log), len(s.machine.log))
    with pytest.raises(CommandError, match="stage"):
        s.run_line("map stage=3 gpa=0 size=4K flags=r")
    assert (len(s.commands), len(s.log), len(s.machine.log)) == before


def test_a_typed_command_that_fails_is_logged_but_not_kept() -> None:
    s = Session.demo("x86_64")
    kept = len(s.commands)
    regions = machine_regions(s.machine)
    result = s.run_line("map stage=2 gpa=0x20_0000 size=4K flags=rw hpa=0x9000_0000")
    assert result.error is not None and result.error.kind == "AlreadyMapped"
    assert len(s.commands) == kept and s.log[-1].result is result
    assert machine_regions(s.machine) == regions


def _state(session_machine) -> tuple:
    m = session_machine
    tlb = sorted((e.kind, e.base, e.hpa, e.stale, e.dirty) for e in m.tlb_entries())
    return machine_regions(m), tlb, m.frames_in_use, m.guest_pt_frames


@pytest.mark.parametrize("arch", list(SHAPES))
def test_saved_commands_replay_to_the_same_state(arch: str, tmp_path: Path) -> None:
    s = Session.demo(arch)
    for line in (
        "map stage=2 gpa=0x100_0000 size=2M flags=rw backend=alloc populate=false",
        "map stage=1 gva=0x5000_0000 gpa=0x100_0000 size=8K flags=rw",
        "access gva=0x5000_0008 access=write",
        "handle-fault",
        "access gva=0x5000_0008 access=write",
        "protect stage=1 gva=0x4000_0000 size=4K flags=r",
        f"poke stage=1 gva=0x4010_0000 depth={s.machine.s1.leaf_depth} set=0x0",
        "access gva=0x4000_0000 access=read",
    ):
        result = s.run_line(line)
        assert result.ok, (line, result.error)
    path = s.save(tmp_path / "saved")
    assert path.suffix == ".toml"
    replay = run(load(path))
    assert replay.passed
    assert _state(replay.machine) == _state(s.machine)
    last = replay.results[-1].walk
    assert [st.raw for st in last.steps] == [st.raw for st in s.walk_result.walk.steps]


def test_scenario_mode_steps_forward_and_rewinds(tmp_path: Path) -> None:
    path = tmp_path / "two.toml"
    path.write_text(Path(Session.demo("riscv64").scenario.path).read_text())
    s = Session.from_file(path)
    assert s.mode == "scenario" and s.position == 0 and s.walk_result is None
    s.run_scenario_steps(3)
    assert s.position == 3 and s.caption.startswith("The guest maps")
    s.run_line("map stage=1 gva=0x6000_0000 gpa=0x20_0000 size=4K flags=r")
    back = s.rewound(2)
    assert back.position == 2 and back.hand_commands == 0 and len(back.commands) == 2


def test_a_bad_scenario_file_exits_2_before_the_screen_starts(tmp_path: Path, capsys) -> None:
    from npt_explorer.tui.app import run_app

    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\ntitle = "x"\narch = "sparc"\n')
    assert run_app(file=str(bad)) == 2
    assert "scenario.arch" in capsys.readouterr().err
