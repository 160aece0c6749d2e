"""The control object: registers as the manuals lay them out, defaults, and refusals that name
register and bit."""

from __future__ import annotations

import pytest

from npt_explorer.engine import MachineConfig, PagingError
from npt_explorer.scenario import ScenarioError, loads


def test_x86_defaults_are_the_machines_old_assumptions():
    # CR0.WP=1, EFER.NXE=1, SMEP/SMAP/PKE off (SCENARIO_FORMAT.md, "Register state")
    c = MachineConfig(arch="x86_64").control
    assert (c.get("cr0", "WP"), c.get("efer", "NXE"), c.get("cr4", "SMEP")) == (1, 1, 0)
    assert (c.get("cr4", "SMAP"), c.get("cr4", "PKE"), c.get("maxphyaddr", "MAXPHYADDR")) == (
        0,
        0,
        52,
    )


def test_registers_decide_the_mode_and_a_disagreeing_name_is_an_error_naming_both():
    # Arm ARM D8.1.7: T0SZ=25 gives a 39-bit input range (3 levels from L1)
    tcr = 25 | 1 << 23 | 2 << 30 | 5 << 32
    assert MachineConfig(arch="aarch64", registers={"tcr_el1": tcr}).guest == "va39"
    with pytest.raises(PagingError, match=r"guest 'va48' .*T0SZ=16.* disagrees .*T0SZ=25"):
        MachineConfig(arch="aarch64", guest="va48", registers={"tcr_el1": tcr})


def test_an_unmodelled_bit_is_an_error_naming_register_and_bit():
    with pytest.raises(PagingError, match=r"cr4\.PKS \(bit 24\) = 1 is not modelled"):
        MachineConfig(arch="x86_64", registers={"cr4": 1 << 24 | 1 << 5})
    with pytest.raises(PagingError, match=r"no register 'cr9'"):
        MachineConfig(arch="x86_64", registers={"cr9": 0})


def test_henvcfg_adue_reads_zero_while_menvcfg_adue_is_zero():
    # Svadu: henvcfg.ADUE is read-only zero when menvcfg.ADUE = 0 (WARL)
    c = MachineConfig(arch="riscv64", registers={"henvcfg": 1 << 61}).control
    assert c.get("henvcfg", "ADUE") == 0
    c = MachineConfig(arch="riscv64", registers={"henvcfg": 1 << 61, "menvcfg": 1 << 61}).control
    assert c.get("henvcfg", "ADUE") == 1


def test_features_stand_for_their_register_bits():
    c = MachineConfig(arch="aarch64", features=frozenset({"hafdbs"})).control
    assert all(c.get(r, n) for r in ("tcr_el1", "vtcr_el2") for n in ("HA", "HD"))


def test_a_scenario_register_error_points_at_its_line():
    text = """[scenario]
title = "t"
arch = "x86_64"
[machine.registers]
cr0 = "0x8001_0011"
cr4 = "0x0100_0020"
"""
    with pytest.raises(ScenarioError) as err:
        loads(text, "t.toml")
    assert "t.toml:6: machine.registers.cr4: cr4.PKS (bit 24) = 1 is not modelled" in str(err.value)


def test_docs_control_state_lists_every_modelled_field():
    from pathlib import Path

    from npt_explorer.engine import CONTROL_BITS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "control-state.md").read_text()
    for rows in CONTROL_BITS.values():
        for row in rows:
            assert f"| `{row.register}` | {row.name} | {row.bits} |" in doc, row


@pytest.mark.parametrize("arch", ["loongarch64", "teach"])
def test_an_arch_without_modelled_registers_has_no_rows_and_sets_its_control(arch):
    # Control.rows() read BITS[arch] and raised KeyError for these (the machine's control log)
    from npt_explorer.engine import Machine

    machine = Machine(MachineConfig(arch=arch))
    assert machine.control.rows() == []
    machine.set_control(machine.control)
    assert machine.log[-1].kind == "control"
