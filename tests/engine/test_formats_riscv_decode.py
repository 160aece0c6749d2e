"""The hardware's reading of one RISC-V PTE: kinds, fault reasons and problems, one rule per test
(privileged spec Sv39/Sv48 PTE, Svnapot, Svpbmt; hypervisor spec G-stage)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npt_explorer.engine.flags import MappingFlags
from npt_explorer.engine.formats.base import EntryKind, FaultReason
from npt_explorer.engine.formats.riscv import FORMATS, RiscvFormat

V, R, W, X, U, G, A, D = (1 << i for i in range(8))
N = 1 << 63
LEAF = V | A | D
RX = MappingFlags.READ | MappingFlags.EXECUTE


def fmt(name: str, *features: str, **options: object) -> RiscvFormat:
    return FORMATS[name](features=frozenset(features), **options)


def pte(ppn: int, bits: int) -> int:
    return (ppn << 10) | bits


def pbmt(value: int) -> int:
    return value << 61


SV39 = fmt("sv39")
SV39X4 = fmt("sv39x4")


def test_v_clear_is_not_present_whatever_else_is_set():
    for raw in (0, R | W | X | U | A | D, pte(0x12345, R)):
        dec = SV39.decode(raw, 2)
        assert (dec.kind, dec.reason) == (EntryKind.INVALID, FaultReason.NOT_PRESENT)
        assert dec.paddr is None and dec.hw_flags == 0


def test_an_invalid_non_leaf_with_an_address_is_still_followed_by_the_seed():
    dec = SV39.decode(pte(0x12345, 0), 0)  # the seed's new_page(pa, empty) at a table slot
    assert dec.kind is EntryKind.INVALID
    assert any("next_table" in p for p in dec.problems)
    assert not SV39.decode(pte(0x12345, 0), 2).problems  # at the last level nobody descends


def test_xwr_000_is_a_pointer_to_the_next_table():
    dec = SV39X4.decode(pte(0x80000, V), 0)
    assert (dec.kind, dec.reason, dec.paddr, dec.page_size) == (
        EntryKind.TABLE,
        None,
        0x8000_0000,
        None,
    )
    assert dec.hw_flags == 0 and not dec.problems


@pytest.mark.parametrize(
    ("bit", "name"), [(D, "D"), (A, "A"), (U, "U"), (N, "N"), (pbmt(1), "PBMT")]
)
def test_a_pointer_with_d_a_u_n_or_pbmt_set_is_reserved(bit, name):
    dec = fmt("sv39", "svnapot", "svpbmt").decode(pte(0x1000, V | bit), 0)
    assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.RESERVED)
    assert any("non-leaf" in p for p in dec.problems)
    assert next(fv for fv in dec.fields if fv.field.name == name).flagged


def test_a_pointer_at_level_0_is_reserved():
    dec = SV39.decode(pte(0x1000, V), 2)
    assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.RESERVED)
    assert any("level 0" in p for p in dec.problems)


@pytest.mark.parametrize("bits", [W, W | X, W | U | X])
def test_write_without_read_is_reserved_and_the_seed_still_reads_write(bits):
    dec = SV39.decode(pte(0x1000, LEAF | bits), 2)
    assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.RESERVED)
    assert dec.mapping_flags is not None and MappingFlags.WRITE in dec.mapping_flags
    assert any("W=1 with R=0" in p for p in dec.problems)
    assert any("the seed reads" in p for p in dec.problems)
    assert next(fv for fv in dec.fields if fv.field.name == "W").flagged
    assert dec.hw_flags == 0


@pytest.mark.parametrize("bit", [54, 57, 60])
def test_bits_60_to_54_are_reserved(bit):
    for f in (SV39, SV39X4):
        dec = f.decode(pte(0x1000, LEAF | R) | (1 << bit), 2)
        assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.RESERVED)
        assert next(fv for fv in dec.fields if fv.field.name == "RESERVED").flagged


def test_pbmt_needs_svpbmt_and_3_is_always_reserved():
    raw_nc, raw_io, raw_3 = (pte(0x1000, LEAF | R) | pbmt(v) for v in (1, 2, 3))
    assert SV39.decode(raw_nc, 2).reason is FaultReason.RESERVED
    with_pbmt = fmt("sv39", "svpbmt")
    nc, io = with_pbmt.decode(raw_nc, 2), with_pbmt.decode(raw_io, 2)
    assert nc.kind is io.kind is EntryKind.LEAF
    assert nc.hw_flags == MappingFlags.READ | MappingFlags.UNCACHED
    assert io.hw_flags == MappingFlags.READ | MappingFlags.DEVICE
    assert any("seed reads no DEVICE" in p for p in io.problems)
    assert with_pbmt.decode(raw_3, 2).reason is FaultReason.RESERVED


def test_n_needs_svnapot():
    raw = pte(0b1000, LEAF | R) | N
    assert SV39.decode(raw, 2).reason is FaultReason.RESERVED
    assert any("svnapot" in p for p in SV39.decode(raw, 2).problems)


def test_a_napot_leaf_maps_64_kib_with_the_low_ppn_bits_taken_from_the_address():
    dec = fmt("sv39", "svnapot").decode(pte(0x12348, LEAF | R) | N, 2)
    assert (dec.kind, dec.page_size, dec.paddr) == (EntryKind.LEAF, 0x1_0000, 0x1234_0000)


@pytest.mark.parametrize(("ppn", "depth"), [(0x12344, 2), (0x12340, 2), (0x1234F, 2), (0x200, 1)])
def test_other_napot_encodings_are_reserved(ppn, depth):
    dec = fmt("sv39", "svnapot").decode(pte(ppn, LEAF | R) | N, depth)
    assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.RESERVED)
    assert next(fv for fv in dec.fields if fv.field.name == "N").flagged


@pytest.mark.parametrize(
    ("name", "depth", "ppn", "size"),
    [
        ("sv39", 1, 0x200, 1 << 21),
        ("sv39", 0, 0x40000, 1 << 30),
        ("sv39x4", 0, 0x40000, 1 << 30),
        ("sv48", 0, 1 << 27, 1 << 39),
        ("sv48x4", 0, 1 << 27, 1 << 39),
    ],
)
def test_an_aligned_superpage_is_a_leaf_at_any_level(name, depth, ppn, size):
    dec = fmt(name).decode(pte(ppn, LEAF | R | U), depth)
    assert (dec.kind, dec.page_size, dec.paddr) == (EntryKind.LEAF, size, ppn << 12)


@pytest.mark.parametrize(
    ("name", "depth", "ppn"),
    [("sv39", 1, 0x201), ("sv39", 0, 0x40200), ("sv39x4", 0, 0x3FFFF), ("sv48", 0, (1 << 27) | 1)],
)
def test_a_misaligned_superpage_faults(name, depth, ppn):
    dec = fmt(name).decode(pte(ppn, LEAF | R | U), depth)
    assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.MISALIGNED)
    assert next(fv for fv in dec.fields if fv.field.name == "PPN").flagged


def test_reserved_bits_are_reported_before_misalignment():
    dec = SV39.decode(pte(0x201, LEAF | R) | (1 << 55), 1)
    assert dec.reason is FaultReason.RESERVED
    assert len(dec.problems) >= 2  # both rules are listed


@pytest.mark.parametrize(
    ("bits", "stage", "grants"),
    [
        (R, 1, "r"),
        (R | W | X | U, 1, "rwxu"),
        (X, 1, "x"),
        (R | W | X, 2, ""),  # U=0: the G-stage grants nothing
        (R | W | X | U, 2, "rwx"),  # U is required, not a permission
        (X | U, 2, "x"),
    ],
)
def test_hw_flags_are_what_the_leaf_grants(bits, stage, grants):
    f = fmt("sv39", stage=stage)
    assert f.decode(pte(0x1000, LEAF | bits), 2).hw_flags == MappingFlags.parse(grants)


def test_a_and_d_clear_are_problems_only_without_svadu():
    raw = pte(0x1000, V | R | W)
    assert any("A=0" in p for p in SV39.decode(raw, 2).problems)
    assert any("D=0" in p for p in SV39.decode(raw | A, 2).problems)
    assert not fmt("sv39", "svadu").decode(raw, 2).problems


def test_g_stage_g_bit_is_ignored():
    dec = SV39X4.decode(pte(0x1000, LEAF | R | U | G), 2)
    assert dec.kind is EntryKind.LEAF and not dec.problems


def test_decoded_names_the_format_and_level():
    dec = fmt("sv48x4").decode(pte(0x1000, V), 1)
    assert (dec.format, dec.depth, dec.level_name) == ("sv48x4", 1, "level 2 (VPN[2])")


# ------------------------------------------------------------------------------- hypothesis

NAMES = [("sv39", 1), ("sv48", 1), ("sv39", 2), ("sv48", 2), ("sv39x4", 2), ("sv48x4", 2)]


@settings(max_examples=400, deadline=None)
@given(
    which=st.sampled_from(NAMES),
    features=st.sets(st.sampled_from(["svadu", "svnapot", "svpbmt"])),
    raw=st.integers(min_value=0, max_value=(1 << 64) - 1),
    depth_seed=st.integers(min_value=0, max_value=3),
)
def test_decode_never_raises_and_is_self_consistent(which, features, raw, depth_seed):
    name, stage = which
    f = fmt(name, *features, stage=stage)
    depth = depth_seed % f.depth_count
    dec = f.decode(raw, depth)
    assert (dec.kind is EntryKind.INVALID) == (not raw & V)
    assert (dec.reason is None) == (dec.kind in (EntryKind.TABLE, EntryKind.LEAF))
    assert (dec.page_size is not None) == (dec.kind is EntryKind.LEAF)
    assert dec.hw_flags == 0 or dec.kind is EntryKind.LEAF
    assert dec.mapping_flags == f.seed_flags(raw)
    assert sum(fv.field.width for fv in dec.fields) == 64
    if dec.kind is EntryKind.MISCONFIGURED:
        assert dec.problems and any(fv.flagged for fv in dec.fields)
    if dec.kind is EntryKind.LEAF:
        assert dec.paddr is not None and dec.paddr % dec.page_size == 0
        assert f.stage == 1 or MappingFlags.USER not in dec.hw_flags
