"""AArch64 output size: a descriptor whose output address is at or beyond the PA size that
TCR_EL1.IPS / VTCR_EL2.PS configure is an Address size fault at its level, looked at before the
access flag and permissions (Arm ARM D8.1.8 "PA size", D8.16 fault prioritization). Found by the
QEMU agreement test (tests/image/test_qemu_agreement.py): QEMU 7.2 does this; the engine
checked 48 bits whatever PS said."""

from __future__ import annotations

import pytest

from npt_explorer.engine import (
    Access,
    FaultReason,
    PhysicalMemory,
    Walker,
    build_control,
    get_format,
)

ROOT = 0x10000  # ipa40: level 1 start, two concatenated 4 KiB tables (8 KiB aligned)
S2_BLOCK_RW = 0b01 | 0xF << 2 | 0b11 << 6 | 0b11 << 8  # block, MemAttr WB, S2AP RW, SH
AF = 1 << 10


def _walker(ps: int, descriptor: int) -> Walker:
    control = build_control("aarch64", "va48", "ipa40", (), {"vtcr_el2": 24 | 1 << 6 | ps << 16})
    s1, s2 = get_format("aarch64-s1"), get_format("aarch64-s2", ipa_bits=40)
    s1.configure(control)
    s2.configure(control)
    mem = PhysicalMemory()
    mem.write_u64(ROOT, descriptor)  # L1 entry 0: IPA [0, 1 GiB)
    return Walker("aarch64", s1, s2, mem, None, ROOT)


@pytest.mark.parametrize(("ps", "pa_bits"), [(0, 32), (2, 40), (3, 42), (4, 44)])
def test_a_block_just_beyond_ps_is_an_address_size_fault_at_level_1(ps: int, pa_bits: int) -> None:
    walk = _walker(ps, (1 << pa_bits) | S2_BLOCK_RW | AF).translate(
        0x123, Access.READ, side_effects=False
    )
    assert walk.fault is not None and walk.fault.reason is FaultReason.ADDRESS_SIZE
    assert walk.fault.syndrome["fsc"] == 0b000001  # Address size fault, level 1


def test_a_block_below_ps_translates() -> None:
    walk = _walker(2, (1 << 39) | S2_BLOCK_RW | AF).translate(
        0x123, Access.READ, side_effects=False
    )
    assert walk.fault is None and walk.hpa == (1 << 39) | 0x123


def test_address_size_comes_before_the_access_flag() -> None:
    # AF=0 would be an Access flag fault; the output beyond PS decides first
    walk = _walker(2, (1 << 40) | S2_BLOCK_RW).translate(0x123, Access.READ, side_effects=False)
    assert walk.fault is not None and walk.fault.reason is FaultReason.ADDRESS_SIZE


def test_a_table_descriptor_beyond_ps_faults_at_its_own_level() -> None:
    walk = _walker(2, (1 << 40) | 0b11).translate(0x123, Access.READ, side_effects=False)
    assert walk.fault is not None and walk.fault.reason is FaultReason.ADDRESS_SIZE
    assert walk.fault.depth == 0 and walk.fault.syndrome["fsc"] == 0b000001
