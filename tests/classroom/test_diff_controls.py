"""The diff's effective permissions name the control state they are read under, and follow
the control bits that act per access: x86 SMAP (with EFLAGS.AC=0), Arm PAN, RISC-V SUM and
MXR. Each test turns one bit on with a `control` step and diffs the points around it: no
entry changes, only what the accesses may do. Expected rights are worked from the manuals
(cited per test), not read off the engine."""

from __future__ import annotations

import json

import pytest

from npt_explorer.classroom.diff import diff, diff_lines
from npt_explorer.classroom.state import capture
from npt_explorer.cli import main
from npt_explorer.scenario import loads, run

_S2 = {  # a stage-2 map the guest page lands on, in each arch's flags
    "x86_64": "rwx",
    "aarch64": "rwx",
    "riscv64": "rwxu",  # G-stage leaves need U (hypervisor spec: guest accesses are U-mode)
}


def _scenario(arch: str, s1_flags: str, register: str, field: str, s2_flags: str = "") -> str:
    return f"""
[scenario]
title = "one control bit turned on"
arch = "{arch}"

[[step]]
op = "map"
stage = 2
gpa = "0x200000"
size = "2M"
flags = "{s2_flags or _S2[arch]}"
hpa = "0x80000000"

[[step]]
op = "map"
stage = 1
gva = "0x40000000"
gpa = "0x200000"
size = "4K"
flags = "{s1_flags}"

[[step]]
op = "control"
register = "{register}"
field = "{field}"
value = "1"
"""


def _diff(text: str):
    scenario = loads(text)
    return diff(capture(run(scenario, 2).machine), capture(run(scenario, 3).machine))


def _labels(rows) -> list[tuple[int, int, int, str | None, str | None]]:
    return [(p.stage, p.start, p.end, p.before, p.after) for p in rows]


def test_smap_takes_the_kernel_s_data_rights_on_a_user_page():
    # SDM Vol. 3A 4.6.1: with CR4.SMAP=1 a supervisor data access to a user-mode address faults
    # when EFLAGS.AC=0 (the diff assumes clac); fetches are SMEP's business (off here)
    d = _diff(_scenario("x86_64", "rwxu", "cr4", "SMAP"))
    assert not d.entries and not d.permissions  # no entry changed
    assert _labels(d.effective) == [(1, 0x4000_0000, 0x4000_1000, "rwx u", "rwx u · K:--x U:rwx")]
    [both] = d.nested
    assert (both.before, both.after) == ("rwx u / rwx", "rwx u · K:--x U:rwx / rwx")
    assert d.a.controls == ("stage 1: CR0.WP=1 CR4.SMEP=0 CR4.SMAP=0 CR4.PKE=0 EFLAGS.AC=0",)
    assert d.b.controls == ("stage 1: CR0.WP=1 CR4.SMEP=0 CR4.SMAP=1 CR4.PKE=0 EFLAGS.AC=0",)
    assert (
        "  (assuming before: stage 1: CR0.WP=1 CR4.SMEP=0 CR4.SMAP=0 CR4.PKE=0 EFLAGS.AC=0; "
        "after: stage 1: CR0.WP=1 CR4.SMEP=0 CR4.SMAP=1 CR4.PKE=0 EFLAGS.AC=0)"
    ) in diff_lines(d)


def test_smap_leaves_a_supervisor_page_alone():
    d = _diff(_scenario("x86_64", "rwx", "cr4", "SMAP"))
    assert not d.effective and not d.nested  # U/S=0: SMAP does not concern it
    assert d.a.controls != d.b.controls


def test_pan_takes_el1_s_data_rights_on_an_el0_page():
    # Arm ARM D8.4.2: PSTATE.PAN=1 makes an EL1 data access to an EL0-accessible page a
    # Permission fault; instruction fetches are not data accesses (an EL0-writable page is
    # never EL1-executable anyway: "el1 rw-")
    d = _diff(_scenario("aarch64", "rwxu", "pan", "PAN"))
    assert not d.entries
    assert _labels(d.effective) == [
        (1, 0x4000_0000, 0x4000_1000, "el1 rw- el0 rwx", "el1 rw- el0 rwx · K:--- U:rwx")
    ]
    assert d.b.controls == ("stage 1: PSTATE.PAN=1 SCTLR_EL1.EPAN=0 SCTLR_EL1.WXN=0",)


def test_sum_gives_the_guest_kernel_its_user_pages_data_but_never_their_code():
    # RISC-V Priv. ISA 12.1.1 (vsstatus.SUM for the VS-stage): SUM=1 lets S-mode load and store
    # to U=1 pages; S-mode never executes a U=1 page, SUM or not
    d = _diff(_scenario("riscv64", "rwxu", "vsstatus", "SUM"))
    assert not d.entries
    assert _labels(d.effective) == [(1, 0x4000_0000, 0x4000_1000, "rwx u", "rwx u · K:rw- U:rwx")]
    assert d.b.controls[0] == "stage 1: vsstatus.SUM=1 vsstatus.MXR=0 sstatus.MXR=0"


def test_mxr_makes_an_execute_only_page_readable():
    # RISC-V Priv. ISA 12.1.1: MXR=1 lets loads read pages marked executable only (R=0 X=1);
    # vsstatus.MXR reaches the VS-stage only
    d = _diff(_scenario("riscv64", "x", "vsstatus", "MXR"))
    assert _labels(d.effective) == [(1, 0x4000_0000, 0x4000_1000, "--x s", "--x s · K:r-x U:---")]
    assert d.b.controls == (
        "stage 1: vsstatus.SUM=0 vsstatus.MXR=1 sstatus.MXR=0",
        "stage 2: sstatus.MXR=0",
    )


def test_the_hypervisor_s_mxr_reaches_an_execute_only_g_stage_page():
    # Priv. ISA 21.2 (two-stage translation): the HS-level sstatus.MXR applies to the G-stage
    d = _diff(_scenario("riscv64", "rwx", "sstatus", "MXR", s2_flags="xu"))
    stage2 = [p for p in d.effective if p.stage == 2]
    assert _labels(stage2) == [(2, 0x20_0000, 0x40_0000, "--x", "--x · r-x")]
    [both] = d.nested
    # the guest's rwx s page reads the same either way: its label gains no verdict
    assert (both.before, both.after) == ("rwx s / --x", "rwx s / --x · r-x")


@pytest.mark.parametrize(
    ("arch", "line"),
    [
        ("x86_64", "stage 1: CR0.WP=1 CR4.SMEP=0 CR4.SMAP=0 CR4.PKE=0 EFLAGS.AC=0"),
        ("aarch64", "stage 1: PSTATE.PAN=0 SCTLR_EL1.EPAN=0 SCTLR_EL1.WXN=0"),
        ("riscv64", "stage 1: vsstatus.SUM=0 vsstatus.MXR=0 sstatus.MXR=0"),
    ],
)
def test_every_diff_json_names_the_control_state_its_effective_rows_assume(
    tmp_path, capsys, arch, line
):
    path = tmp_path / "s.toml"
    path.write_text(_scenario(arch, "rw", *_BITS[arch]))
    assert main(["diff", f"{path}:2", f"{path}:3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["controls"]["a"][0] == line


_BITS = {"x86_64": ("cr4", "SMAP"), "aarch64": ("pan", "PAN"), "riscv64": ("vsstatus", "SUM")}
