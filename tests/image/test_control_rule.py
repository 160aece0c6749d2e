"""One rule for new register values, on a scenario machine and on an image alike
(`MachineConfig.check_control`): a field too wide for its bits, an unknown field, registers
that select another mode or another table geometry are refused with the same words in both
places, the machine or image unchanged; from the command line a clear message and a non-zero
exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from npt_explorer.cli import main
from npt_explorer.engine import Machine, PagingError
from npt_explorer.scenario import build
from npt_explorer.scenario.events import event_text
from npt_explorer.tui.image_source import ImageSession

TABLE = 0x1000  # a one-frame raw image: an empty top-level table at hPA 0x1000
ARM_TCR = 16 | 16 << 16 | 1 << 23 | 2 << 30 | 5 << 32  # T0SZ=16, 4 KiB, TTBR1 walks off
ROOTS = {
    "x86_64": ["--cr3", hex(TABLE)],
    "aarch64": ["--ttbr0", hex(TABLE), "--tcr", hex(ARM_TCR)],
}


def _image(tmp_path: Path, arch: str) -> ImageSession:
    raw = tmp_path / "table.bin"
    raw.write_bytes(bytes(4096))
    return ImageSession.open([f"{raw}@{TABLE:#x}", "--arch", arch, *ROOTS[arch]])


def _refusal(machine: object, register: str, field: str | None, value: int) -> str:
    with pytest.raises(PagingError) as err:
        machine.set_register(register, field, value)  # type: ignore[attr-defined]
    assert err.value.kind == "InvalidRequest"
    return err.value.message


BAD = [
    ("x86_64", "cr4", "PAE", 7, "cr4.PAE is bits 5: 0x7"),
    ("x86_64", "cr4", "NOPE", 1, "x86_64 has no modelled field cr4.NOPE"),
    ("x86_64", "cr4", "LA57", 1, "selects guest '5-level'; this machine was built as '4-level'"),
    ("x86_64", "satp", None, 0, "x86_64 has no register 'satp'"),
    ("aarch64", "tcr_el1", "TG0", 2, "change the guest geometry (levels, granule)"),
]


@pytest.mark.parametrize(("arch", "register", "field", "value", "needle"), BAD)
def test_a_bad_register_value_is_refused_alike_on_a_machine_and_on_an_image(
    tmp_path: Path, arch: str, register: str, field: str | None, value: int, needle: str
) -> None:
    session = _image(tmp_path, arch)
    bench = session.workbench
    assert bench is not None
    before, log = bench.control, len(bench.log)
    on_image = _refusal(bench, register, field, value)
    on_machine = _refusal(Machine(bench.config), register, field, value)
    assert needle in on_image
    assert on_image == on_machine
    assert bench.control == before and len(bench.log) == log  # nothing changed, nothing logged


def test_a_typed_control_command_on_an_image_reports_the_rule_and_keeps_nothing(
    tmp_path: Path,
) -> None:
    session = _image(tmp_path, "aarch64")
    result = session.run(build("control", {"register": "tcr_el1", "field": "TG0", "value": 2}))
    assert result.error is not None and "guest geometry" in result.error.message
    assert not session.kept


def test_a_good_register_value_on_an_image_is_taken(tmp_path: Path) -> None:
    session = _image(tmp_path, "x86_64")
    bench = session.workbench
    assert bench is not None
    bench.set_register("cr4", "SMAP", 1)
    assert bench.control.on("cr4", "SMAP") and bench.image.control.on("cr4", "SMAP")


def test_replay_check_of_a_bad_control_step_names_file_and_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[scenario]\ntitle = "bad control"\narch = "x86_64"\n[machine]\n\n'
        '[[step]]\nop = "control"\nregister = "cr4"\nfield = "LA57"\nvalue = 1\n'
    )
    assert main(["replay", "--check", str(path)]) == 1
    _, err = capsys.readouterr()
    assert f"{path}:6: step 1 (control)" in err and "Traceback" not in err


def test_a_machine_logs_the_state_it_is_in_and_an_image_the_write_it_took(tmp_path) -> None:
    """Two event shapes on purpose (engine/events.py): a machine's `ControlChanged` is its
    state — every field off its configured value, and the TLB entries a MOV to CR4 flushed —
    so a field set back reads "the defaults"; an image has no TLB to flush, and its
    `ControlSet` is the one write as it was typed (a whole register in hex)."""
    bench = _image(tmp_path, "x86_64").workbench
    assert bench is not None
    machine = Machine(bench.config)
    machine.map(2, 0, 0x1000, "rw", hpa=0x8000_0000)
    machine.map(1, 0x40_0000, 0x1000, "rw", gpa=0)
    machine.access(0x40_0000, "read")  # a TLB entry for the MOV to CR4 to flush
    for target in (machine, bench):
        target.set_register("cr4", "SMAP", 1)
        target.set_register("cr4", "SMAP", 0)
        target.set_register("cr4", "PGE", 0)  # on by default
    assert [event_text(e) for e in machine.log[-3:]] == [
        "control state: cr4.SMAP=1",
        "control state: the defaults",
        "control state: cr4.PGE=0; MOV to CR4 flushed 1 TLB entries",
    ]
    assert [event_text(e) for e in bench.log[-3:]] == [
        "control state: cr4.SMAP = 0x1",
        "control state: cr4.SMAP = 0x0",
        "control state: cr4.PGE = 0x0",
    ]
