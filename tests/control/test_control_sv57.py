"""Sv57 (vsatp.MODE = 10) and Sv57x4 (hgatp.MODE = 10): five levels at each stage
(Priv. ISA 12.6 Sv57; 21.5.1 Sv57x4: a 59-bit gPA, the root widened by 2 bits to 16 KiB).
Hand-computed expectations; the G-stage maps gPA 0x20_0000.. → hPA 0x8020_0000.
"""

from __future__ import annotations

from control_steps import machine_text, step

VSATP_BARE = 0


def rv57(guest: str = "sv57", npt: str = "sv57x4", registers: dict | None = None) -> str:
    return machine_text("riscv64", registers, guest=guest, npt=npt) + step(
        "map", stage=2, gpa="0x20_0000", size="1M", flags="rwxu", hpa="0x8020_0000"
    )


def test_a_cold_sv57_by_sv57x4_walk_reads_35_entries(green):
    # hardware.md 1.2: n*m + n + m with n = m = 5: 25 + 5 + 5 = 35. gVA 0x0080_0000_4000_0008:
    # VPN[4] = bits 56:48 = 0x80 — a gVA Sv48 cannot hold (bit 55 set, bit 56 clear)
    replay = green(
        rv57()
        + step("map", stage=1, gva="0x0080_0000_4000_0000", gpa="0x20_0000", size="4K", flags="rw")
        + step(
            "translate",
            gva="0x0080_0000_4000_0008",
            access="read",
            expect={"result": "ok", "refs": 35, "gpa": "0x20_0008", "hpa": "0x8020_0008"},
        )
    )
    walk = replay.results[-1].walk
    guest_root = [s for s in walk.steps if s.stage == 1][0]
    assert (guest_root.depth, guest_root.index, guest_root.level_name) == (
        0,
        0x80,
        "level 4 (VPN[4])",
    )


def test_sv57_requires_bits_63_57_to_equal_bit_56(green):
    # Priv. ISA 12.6: Sv57 VAs must have bits 63:57 equal to bit 56, else a page fault (13)
    green(
        rv57()
        + step(
            "translate",
            gva="0x0100_0000_0000_0000",
            access="read",
            expect={"result": "fault", "fault_reason": "non-canonical", "refs": 0,
                    "syndrome": {"scause": 13}},
        )
    )  # fmt: skip


def test_sv57x4_takes_a_59_bit_gpa_and_faults_on_bit_59(green):
    # Priv. ISA 21.5.1: Sv57x4 gPAs are 59 bits; bits 63:59 must be 0, else a guest-page
    # fault (load: 21, htval = gPA >> 2). vsatp = Bare (MODE 0): gPA = gVA. A root index
    # is gPA[58:48]: 2^58 → index 0x400, in the root's third 4 KiB frame (16 KiB, 2048 entries).
    top = 1 << 58
    green(
        rv57(registers={"vsatp": VSATP_BARE})
        + step("map", stage=2, gpa=hex(top), size="4K", flags="rwxu", hpa="0x8030_0000")
        + step(
            "translate",
            gva=hex(top + 8),
            access="read",
            expect={"result": "ok", "refs": 5, "hpa": "0x8030_0008"},
        )
        + step(
            "translate",
            gva=hex(1 << 59),
            access="read",
            expect={"result": "fault", "fault_stage": 2, "fault_reason": "address-size",
                    "syndrome": {"scause": 21, "htval": hex(1 << 57)}},
        )
    )  # fmt: skip


def test_sv48_guest_on_sv57x4_reads_29_entries(green):
    # n = 4, m = 5: 20 + 4 + 5 = 29
    green(
        rv57(guest="sv48")
        + step("map", stage=1, gva="0x4000_0000", gpa="0x20_0000", size="4K", flags="rw")
        + step("translate", gva="0x4000_0000", access="read", expect={"refs": 29})
    )


def test_registers_select_sv57_and_sv57x4(green):
    # vsatp.MODE = 10 / hgatp.MODE = 10 stand for the modes (SCENARIO_FORMAT [machine.registers])
    text = machine_text("riscv64", {"vsatp": 10 << 60, "hgatp": 10 << 60}) + step(
        "map", stage=2, gpa="0x20_0000", size="1M", flags="rwxu", hpa="0x8020_0000"
    )
    green(
        text
        + step("map", stage=1, gva="0x4000_0000", gpa="0x20_0000", size="4K", flags="rw")
        + step("translate", gva="0x4000_0000", access="read", expect={"refs": 35})
    )
