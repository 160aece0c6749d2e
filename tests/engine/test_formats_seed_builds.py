"""The seed crates' other builds: page_table_entry's A64PTE with `arm-el2` and Rv64PTE with
`xuantie-c9xx`, reproduced bit for bit against reference/seed-roundtrip.md (all 64 MappingFlags
sets × {4 KiB, huge}), and the hardware's readings beside them (EL2 regime, T-Head MAEE)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from npt_explorer.engine.errors import PagingError
from npt_explorer.engine.flags import ALL_FLAG_COMBINATIONS, Access, MappingFlags, Priv
from npt_explorer.engine.formats import Encoding, EntryKind, FaultReason, get_format

SEED = json.loads((Path(__file__).parent / "data" / "seed_roundtrip.json").read_text())
BY_SHORT = {flags.short(): flags for flags in ALL_FLAG_COMBINATIONS}
PADDR = 0x12_3456_7000
M = MappingFlags

BUILDS = {
    "aarch64-s1-arm-el2": [
        ("aarch64-s1", {"arm-el2"}, {}),
        ("aarch64-s1", {"arm-el2"}, {"regime": "el1"}),
    ],
    "riscv-xuantie-c9xx": [
        (name, {"xuantie-c9xx"}, opts)
        for name, opts in (
            ("sv39", {}),
            ("sv48", {}),
            ("sv39x4", {}),
            ("sv48x4", {}),
            ("sv39", {"stage": 2}),
        )
    ],
}
CASES = [
    pytest.param(
        table,
        get_format(n, features=f, **o),
        id=f"{n}-{'-'.join(map(str, o.values())) or 'default'}",
    )
    for table, made in BUILDS.items()
    for n, f, o in made
]


@pytest.mark.parametrize(("table", "fmt"), CASES)
@pytest.mark.parametrize("row", sorted(BY_SHORT))
def test_the_seed_build_writes_and_reads_back_what_the_crate_does(table, fmt, row):
    want = SEED[table]["rows"][row]
    flags = BY_SHORT[row]
    raw_4k = fmt.new_page(PADDR, flags, False, Encoding.SEED)
    assert raw_4k == int(want["raw_4k"], 16)
    assert fmt.new_page(PADDR, flags, True, Encoding.SEED) == int(want["raw_huge"], 16)
    assert fmt.seed_present(raw_4k) == bool(want["present"])
    assert fmt.seed_flags(raw_4k).short() == want["read_back"]


@pytest.mark.parametrize(("table", "fmt"), CASES)
def test_the_seed_builds_new_table_is_unchanged(table, fmt):
    raw = fmt.new_table(PADDR, Encoding.SEED)
    assert raw == int(SEED[table]["new_table"], 16)
    assert fmt.seed_flags(raw).short() == SEED[table]["new_table_read_back"]


# ------------------------------------------------------------------------ arm-el2


EL2 = get_format("aarch64-s1", features={"arm-el2"})
EL1_OF_EL2_BUILD = get_format("aarch64-s1", features={"arm-el2"}, regime="el1")


def test_arm_el2_defaults_to_the_el2_regimes_reading_and_names_xn():
    assert type(EL2).__name__ == "AArch64Stage1El2"
    assert type(get_format("aarch64-s1")).__name__ == "AArch64Stage1"
    leaf = EL2.field_table(3, EntryKind.LEAF)
    assert {f.name for f in leaf} >= {"XN", "RES0_53", "AP"}
    assert "UXN" not in {f.name for f in leaf} and "PXN" not in {f.name for f in leaf}


def test_an_unknown_regime_is_an_invalid_request():
    with pytest.raises(PagingError, match="el1 | el2"):
        get_format("aarch64-s1", regime="el3")


def test_el2_reads_the_seeds_ap1_zero_as_a_res1_violation():
    raw = EL2.new_page(PADDR, M.READ | M.WRITE, False, Encoding.SEED)  # 0x40001234567707
    dec = EL2.decode(raw, 3)
    assert dec.kind is EntryKind.LEAF
    assert any("AP[1]=0 where the EL2 regime says RES1" in p for p in dec.problems)
    assert dec.hw_flags == M.READ | M.WRITE  # XN (bit 54) = 1, AP[2] = 0


def test_el2_table_shows_user_dropped_and_res1_as_problems():
    problems = EL2.encoding_problems(M.READ | M.USER, False, Encoding.SEED)
    assert any("USER requested but not granted" in p for p in problems)
    assert any("reads back as R" in p for p in problems)
    assert any("RES1" in p for p in problems)


def test_the_fixed_el2_encoding_sets_ap1_and_xn_and_raises_no_res1_problem():
    raw = EL2.new_page(PADDR, M.READ, False, Encoding.FIXED)
    assert raw & (1 << 6) and raw & (1 << 54) and raw & (1 << 7)  # AP[1]=1, XN, read-only
    assert not EL2.encoding_problems(M.READ, False, Encoding.FIXED)


def test_el2_never_grants_an_unprivileged_access_and_xn_stops_fetches():
    acc = EL2.fold_leaf(EL2.start(), EL2.new_page(PADDR, M.READ | M.EXECUTE, False, Encoding.FIXED))
    assert acc.permits(Access.EXEC, Priv.KERNEL) and not acc.permits(Access.WRITE, Priv.KERNEL)
    assert not acc.permits(Access.READ, Priv.USER)


def test_a_guest_table_written_by_the_el2_build_lets_el1_execute_everything():
    # arm-el2 writes only bit 54 for "no EXECUTE"; at EL1&0 that is UXN, and PXN stays 0
    raw = EL1_OF_EL2_BUILD.new_page(PADDR, M.READ | M.WRITE, False, Encoding.SEED)
    dec = EL1_OF_EL2_BUILD.decode(raw, 3)
    assert M.EXECUTE in dec.hw_flags and M.EXECUTE not in dec.mapping_flags
    assert any("PXN=0 allows EL1" in p for p in dec.problems)


# ------------------------------------------------------------------- xuantie-c9xx


SV39 = get_format("sv39", features={"xuantie-c9xx"})


def test_xuantie_device_is_so_b_and_normal_is_c_b_sh():
    assert SV39.new_page(PADDR, M.READ | M.DEVICE, False, Encoding.SEED) >> 60 == 0b1010
    assert SV39.new_page(PADDR, M.READ | M.UNCACHED, False, Encoding.SEED) >> 60 == 0b0111
    assert SV39.new_page(PADDR, M(0), False, Encoding.SEED) >> 60 == 0  # empty flags: no bits


def test_xuantie_fields_replace_n_and_pbmt_with_the_t_head_bits():
    names = [f.name for f in SV39.field_table(2, EntryKind.LEAF)]
    assert names[-6:] == ["RESERVED", "SEC", "SH", "B", "C", "SO"]
    assert "PBMT" not in names and "N" not in names


def test_the_t_head_reading_grants_device_and_notes_the_standard_reading():
    dec = SV39.decode(SV39.new_page(PADDR, M.READ | M.DEVICE, False, Encoding.SEED), 2)
    assert dec.kind is EntryKind.LEAF and dec.hw_flags == M.READ | M.DEVICE
    assert dec.mapping_flags == M.READ  # the seed never reads its attribute bits back
    assert any("N=1 (Svnapot)" in p and "PBMT=1" in p for p in dec.problems)


def test_without_maee_the_same_entry_faults_and_the_t_head_reading_is_beside_it():
    raw = SV39.new_page(PADDR, M.READ, False, Encoding.SEED)  # C|B|SH: PBMT=3, bit 60
    dec = get_format("sv39").decode(raw, 2)
    assert dec.kind is EntryKind.MISCONFIGURED and dec.reason is FaultReason.RESERVED
    assert any("T-Head" in p and "PMA" in p for p in dec.problems)


def test_the_fixed_t_head_encoding_uses_linuxs_memory_types():
    io = SV39.new_page(PADDR, M.READ | M.DEVICE, False, Encoding.FIXED)
    nc = SV39.new_page(PADDR, M.READ | M.UNCACHED, False, Encoding.FIXED)
    assert io >> 59 == 0b10010 and nc >> 59 == 0b00110  # _PAGE_IO_THEAD, _PAGE_NOCACHE_THEAD
    assert SV39.decode(nc, 2).hw_flags == M.READ | M.UNCACHED


@pytest.mark.parametrize("other", ["svpbmt", "svnapot"])
def test_xuantie_with_svpbmt_or_svnapot_is_refused(other):
    with pytest.raises(PagingError, match="choose one"):
        get_format("sv39", features={"xuantie-c9xx", other})
