"""x86_64 entry formats: IA-32e guest paging (x86-64, x86-64-la57) and Intel EPT, as a spec."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npt_explorer.engine.errors import PagingError
from npt_explorer.engine.flags import ALL_FLAG_COMBINATIONS, MappingFlags
from npt_explorer.engine.formats.base import (
    PAGE_1G,
    PAGE_2M,
    PAGE_4K,
    Encoding,
    EntryKind,
    FaultReason,
    Role,
)
from npt_explorer.engine.formats.x86 import FORMATS

ROUNDTRIP = json.loads((Path(__file__).parent / "data" / "seed_roundtrip.json").read_text())
EPT_FEATURES = ("ept-ad", "mbec", "ept-execute-only")
ALL_FEATURE_SETS = [frozenset(c) for n in range(4) for c in combinations(EPT_FEATURES, n)]
_SHORT = {"R": "READ", "W": "WRITE", "X": "EXECUTE", "U": "USER", "DEV": "DEVICE", "UC": "UNCACHED"}

M = MappingFlags
PA = 0x12_3456_7000


def x86(levels: int = 4):
    return FORMATS["x86-64" if levels == 4 else "x86-64-la57"](features=frozenset())


def ept(*features: str, levels: int = 4):
    return FORMATS["ept"](features=frozenset(features), levels=levels)


def every_format():
    yield x86(4)
    yield x86(5)
    for levels in (4, 5):
        for features in ALL_FEATURE_SETS:
            yield FORMATS["ept"](features=features, levels=levels)


def from_short(text: str) -> MappingFlags:
    return MappingFlags.parse([] if text == "-" else [_SHORT[p] for p in text.split("+")])


def names_at(fmt, depth: int, kind: EntryKind) -> dict[str, str]:
    return {f.name: f.bits for f in fmt.field_table(depth, kind)}


# ------------------------------------------------------------------------------ geometry


def test_x86_64_is_four_levels_of_nine_bits_with_a_signed_48_bit_input():
    fmt = x86()
    assert [lv.name for lv in fmt.levels] == ["PML4E", "PDPTE", "PDE", "PTE"]
    assert [lv.shift for lv in fmt.levels] == [39, 30, 21, 12]
    assert [lv.leaf_size for lv in fmt.levels] == [None, PAGE_1G, PAGE_2M, PAGE_4K]
    assert (fmt.input_bits, fmt.output_bits, fmt.signed_input, fmt.stage) == (48, 52, True, 1)
    assert fmt.addr_mask == 0x000F_FFFF_FFFF_F000
    assert fmt.root_frames == 1


def test_la57_adds_a_pml5e_root_and_57_bit_input():
    fmt = x86(5)
    assert [lv.name for lv in fmt.levels] == ["PML5E", "PML4E", "PDPTE", "PDE", "PTE"]
    assert fmt.levels[0].shift == 48 and fmt.levels[0].leaf_size is None
    assert fmt.input_bits == 57


def test_ept_levels_are_named_by_the_manual_and_take_unsigned_gpas():
    fmt = ept(levels=5)
    assert [lv.name for lv in fmt.levels] == [
        "EPT PML5E",
        "EPT PML4E",
        "EPT PDPTE",
        "EPT PDE",
        "EPT PTE",
    ]
    assert (ept().input_bits, fmt.input_bits, fmt.signed_input, fmt.stage) == (48, 57, False, 2)
    assert fmt.output_bits == 52


def test_ept_accepts_only_four_or_five_levels():
    with pytest.raises(PagingError) as err:
        FORMATS["ept"](features=frozenset(), levels=3)
    assert err.value.kind == "InvalidRequest"


def test_index_math_takes_nine_bits_per_level():
    fmt, va = x86(5), 0x00AB_CDEF_1234_5678
    assert [fmt.index(va, d) for d in range(5)] == [(va >> s) & 0x1FF for s in (48, 39, 30, 21, 12)]
    assert x86().depth_for_size(PAGE_2M) == 2 and x86().depth_for_size(PAGE_1G) == 1


def test_canonical_gvas_and_gpa_width():
    assert x86().check_input(0xFFFF_8000_0000_0000) is None
    assert x86().check_input(0x0000_8000_0000_0000) is FaultReason.NON_CANONICAL
    assert x86(5).check_input(0x0000_8000_0000_0000) is None
    assert x86(5).check_input(0x0100_0000_0000_0000) is FaultReason.NON_CANONICAL
    assert ept().check_input(1 << 48) is FaultReason.ADDRESS_SIZE
    assert ept(levels=5).check_input(1 << 48) is None


# -------------------------------------------------------------------------- field tables


@pytest.mark.parametrize(
    "fmt",
    list(every_format()),
    ids=lambda f: f"{f.name}-{f.depth_count}-{'+'.join(sorted(f.features)) or 'plain'}",
)
def test_every_bit_is_covered_exactly_once_at_every_depth_and_kind(fmt):
    for depth in range(fmt.depth_count):
        for kind in EntryKind:
            covered = 0
            for field in fmt.field_table(depth, kind):
                assert covered & field.mask == 0, (depth, kind, field.name)
                covered |= field.mask
                assert field.doc, field.name
            assert covered == (1 << 64) - 1, (depth, kind)
            names = [f.name for f in fmt.field_table(depth, kind)]
            assert len(names) == len(set(names))


def test_x86_pte_fields_follow_the_contract():
    assert names_at(x86(), 3, EntryKind.LEAF) == {
        "P": "0",
        "RW": "1",
        "US": "2",
        "PWT": "3",
        "PCD": "4",
        "A": "5",
        "D": "6",
        "PAT": "7",
        "G": "8",
        "IGN_11_9": "11:9",
        "ADDR": "51:12",
        "IGN_58_52": "58:52",
        "PK": "62:59",
        "XD": "63",
    }


def test_x86_large_leaves_use_the_sdm_layout():
    pde = names_at(x86(), 2, EntryKind.LEAF)
    assert (pde["PS"], pde["PAT"], pde["RSVD_20_13"], pde["ADDR"]) == ("7", "12", "20:13", "51:21")
    pdpte = names_at(x86(), 1, EntryKind.LEAF)
    assert (pdpte["RSVD_29_13"], pdpte["ADDR"]) == ("29:13", "51:30")


def test_x86_tables_ignore_d_and_g_and_reserve_ps_only_at_the_root_levels():
    table = names_at(x86(), 2, EntryKind.TABLE)
    assert {"IGN_6", "PS", "IGN_11_8", "ADDR", "XD"} <= table.keys() and "D" not in table
    ps = {f.name: f for f in x86(5).field_table(0, EntryKind.TABLE)}["PS"]
    assert ps.role is Role.RESERVED
    assert {f.name: f for f in x86().field_table(1, EntryKind.TABLE)}["PS"].role is Role.TYPE


def test_not_present_entries_are_p_plus_ignored_bits():
    assert names_at(x86(), 3, EntryKind.INVALID) == {"P": "0", "IGN_63_1": "63:1"}
    assert names_at(ept(), 3, EntryKind.INVALID) == {
        "R": "0",
        "W": "1",
        "X": "2",
        "IGN_63_3": "63:3",
    }
    assert names_at(ept("mbec"), 3, EntryKind.INVALID)["XU"] == "10"


def test_ept_leaf_fields_follow_the_contract():
    assert names_at(ept(), 2, EntryKind.LEAF) == {
        "R": "0",
        "W": "1",
        "X": "2",
        "MEMTYPE": "5:3",
        "IPAT": "6",
        "PS": "7",
        "A": "8",
        "D": "9",
        "XU": "10",
        "IGN_11": "11",
        "RSVD_20_12": "20:12",
        "ADDR": "51:21",
        "IGN_62_52": "62:52",
        "SVE": "63",
    }
    assert names_at(ept(), 1, EntryKind.LEAF)["RSVD_29_12"] == "29:12"
    assert names_at(ept(), 3, EntryKind.LEAF)["ADDR"] == "51:12"


def test_ept_non_leaf_entries_reserve_memtype_and_ipat():
    table = {f.name: f for f in ept().field_table(1, EntryKind.TABLE)}
    assert table["RSVD_6_3"].role is Role.RESERVED and "MEMTYPE" not in table
    assert {f.name: f for f in ept().field_table(0, EntryKind.TABLE)}["PS"].role is Role.RESERVED


def test_field_meanings_name_the_values():
    memtype = {f.name: f for f in ept().field_table(3, EntryKind.LEAF)}["MEMTYPE"]
    assert memtype.meaning(6) == "WB write-back" and memtype.meaning(0) == "UC uncacheable"
    assert "reserved" in memtype.meaning(2)
    xu = {f.name: f for f in ept("mbec").field_table(3, EntryKind.LEAF)}["XU"]
    assert xu.role is Role.PERMISSION and xu.meaning(1) == "user fetches allowed"
    assert {f.name: f for f in ept().field_table(3, EntryKind.LEAF)}["XU"].role is Role.IGNORED


def test_addr_is_the_field_value_not_shifted_into_place():
    dec = x86().decode(0x8000_0000_4020_0083, 2)
    assert dec.field("ADDR") == 0x4020_0000 >> 21 and dec.paddr == 0x4020_0000


def test_poke_finds_leaf_fields_on_a_not_present_entry():
    assert x86().field_by_name(3, 0, "addr").bits == "51:12"


# ------------------------------------------------------------------- seed (bit-exact)


@pytest.mark.parametrize("name", ["x86-64", "ept"])
@pytest.mark.parametrize("flags", ALL_FLAG_COMBINATIONS, ids=lambda f: f.short())
def test_seed_encoding_matches_the_crates(name, flags):
    fmt, table = FORMATS[name](features=frozenset()), ROUNDTRIP[name]
    row, paddr = table["rows"][flags.short()], int(table["paddr"], 16)
    raw_4k = fmt.new_page(paddr, flags, False, Encoding.SEED)
    assert raw_4k == int(row["raw_4k"], 16)
    assert fmt.new_page(paddr, flags, True, Encoding.SEED) == int(row["raw_huge"], 16)
    assert fmt.seed_present(raw_4k) == bool(row["present"])
    assert fmt.seed_flags(raw_4k) == from_short(row["read_back"])
    assert fmt.decode(raw_4k, fmt.leaf_depth).mapping_flags == from_short(row["read_back"])


@pytest.mark.parametrize("name", ["x86-64", "ept"])
def test_seed_new_table_matches_the_crates(name):
    fmt, table = FORMATS[name](features=frozenset()), ROUNDTRIP[name]
    raw = fmt.new_table(int(table["paddr"], 16), Encoding.SEED)
    assert raw == int(table["new_table"], 16) == 0x12_3456_7007
    assert fmt.seed_flags(raw) == from_short(table["new_table_read_back"])
    assert fmt.new_table(PA, Encoding.FIXED) == raw


def test_seed_predicates():
    assert x86().seed_huge(0x80) and not x86().seed_present(0x80)
    assert ept().seed_present(0x4) and not ept("mbec").seed_present(1 << 10)
    assert ept().seed_huge(0x80)


def test_set_flags_keeps_only_the_address():
    raw = 0x8000_0012_3456_7067  # A and D set by the CPU
    assert x86().set_flags(raw, M.READ, False, Encoding.SEED) == 0x8000_0012_3456_7001
    assert ept().set_flags(0x12_3456_7337, M.READ, False, Encoding.SEED) == 0x12_3456_7031


# -------------------------------------------------------------------------------- fixed


def fixed_x86_grant(flags: MappingFlags) -> MappingFlags:
    if not flags:
        return M(0)
    if M.DEVICE in flags:
        flags &= ~M.UNCACHED
    return flags | M.READ


def fixed_ept_grant(flags: MappingFlags, execute_only: bool) -> MappingFlags:
    rights = flags & (M.READ | M.WRITE | M.EXECUTE)
    if not rights or (rights == M.EXECUTE and not execute_only):
        return M(0)
    if M.WRITE in rights:
        rights |= M.READ
    if M.DEVICE in flags:
        return rights | M.DEVICE
    return rights | (flags & M.UNCACHED)


@pytest.mark.parametrize("huge", [False, True], ids=["4K", "2M"])
@pytest.mark.parametrize("flags", ALL_FLAG_COMBINATIONS, ids=lambda f: f.short())
def test_fixed_x86_entry_grants_what_was_asked_or_says_why_not(flags, huge):
    fmt = x86()
    raw = fmt.new_page(PA, flags, huge, Encoding.FIXED)
    depth = 2 if huge else 3
    dec = fmt.decode(raw, depth)
    assert dec.kind is (EntryKind.LEAF if flags else EntryKind.INVALID)
    assert dec.hw_flags == fixed_x86_grant(flags)
    assert fmt.read_flags(raw, Encoding.FIXED, depth) == dec.hw_flags
    if dec.hw_flags != flags:
        assert fmt.encoding_problems(flags, huge, Encoding.FIXED)


@pytest.mark.parametrize("features", [(), ("mbec",), ("ept-execute-only",)], ids=str)
@pytest.mark.parametrize("huge", [False, True], ids=["4K", "2M"])
@pytest.mark.parametrize("flags", ALL_FLAG_COMBINATIONS, ids=lambda f: f.short())
def test_fixed_ept_entry_grants_what_was_asked_or_says_why_not(flags, huge, features):
    fmt = ept(*features)
    raw = fmt.new_page(PA, flags, huge, Encoding.FIXED)
    dec = fmt.decode(raw, 2 if huge else 3)
    assert dec.hw_flags == fixed_ept_grant(flags, "ept-execute-only" in features)
    if dec.hw_flags != flags:  # the conversion says why, or the reading of what it wrote does
        assert fmt.encoding_problems(flags, huge, Encoding.FIXED) or dec.problems


def test_fixed_x86_bits():
    fmt = x86()
    assert fmt.new_page(PA, M.READ, False, Encoding.FIXED) == 1 << 63 | PA | 0x1
    assert fmt.new_page(PA, M.parse("rwxu"), False, Encoding.FIXED) == PA | 0x7
    assert fmt.new_page(PA, M.parse("rwd"), False, Encoding.FIXED) & 0x18 == 0x18  # UC
    assert fmt.new_page(PA, M.parse("rwc"), False, Encoding.FIXED) & 0x18 == 0x10  # UC-
    assert fmt.new_page(PA, M(0), True, Encoding.FIXED) == 0x12_3440_0000  # address only
    assert fmt.read_flags(PA | 0x13, Encoding.FIXED) == M.parse("rwxc")


def test_fixed_ept_bits():
    fmt = ept()
    assert fmt.new_page(PA, M.WRITE, False, Encoding.FIXED) == PA | 0x33  # R added, WB
    assert fmt.new_page(PA, M.parse("rx"), False, Encoding.FIXED) == PA | 0x435  # X and XU
    assert fmt.new_page(PA, M.parse("rd"), False, Encoding.FIXED) == PA | 0x41  # UC + IPAT
    assert fmt.new_page(PA, M.parse("rc"), False, Encoding.FIXED) == PA | 0x49  # WC + IPAT
    assert fmt.new_page(PA, M.parse("ud"), False, Encoding.FIXED) == PA  # nothing to grant


def test_fixed_large_pages_never_take_bits_20_12_from_the_address():
    raw = x86().new_page(0x4020_1000, M.READ, True, Encoding.FIXED)
    assert raw & 0x1F_F000 == 0 and x86().decode(raw, 2).kind is EntryKind.LEAF


def test_encoding_problems_name_the_lossy_conversions():
    fmt = ept()
    assert any("write-only" in w for w in fmt.encoding_problems(M.WRITE, False, Encoding.FIXED))
    assert any(
        "misconfiguration" in w for w in fmt.encoding_problems(M.WRITE, False, Encoding.SEED)
    )
    # an execute-only entry without the feature is a misconfiguration: the decoder says so of
    # the entry written, once (the encoder said it too, in other words, until session 5)
    raw = fmt.new_page(PA, M.EXECUTE, False, Encoding.FIXED)
    row = fmt.encoding_problems(M.EXECUTE, False, Encoding.FIXED) + list(
        fmt.decode(raw, 3).problems
    )
    assert [w for w in row if "execute-only" in w] == [
        "execute-only entry (R=W=0) without execute-only support"
    ]
    raw = ept("ept-execute-only").new_page(PA, M.EXECUTE, False, Encoding.FIXED)
    assert not ept("ept-execute-only").decode(raw, 3).problems
    assert any("USER" in w for w in fmt.encoding_problems(M.parse("ru"), False, Encoding.SEED))
    assert any(
        "XU" in w for w in ept("mbec").encoding_problems(M.parse("rx"), False, Encoding.SEED)
    )
    assert any("READ" in w for w in x86().encoding_problems(M.WRITE, False, Encoding.FIXED))
    assert any("UNCACHED" in w for w in x86().encoding_problems(M.DEVICE, False, Encoding.SEED))
    assert not x86().encoding_problems(M.parse("rwxu"), True, Encoding.SEED)


# ------------------------------------------------------------------- decode: x86 guest


def test_x86_not_present_entry():
    dec = x86().decode(0x12_3456_7000, 3)
    assert (dec.kind, dec.reason, dec.paddr, dec.hw_flags) == (
        EntryKind.INVALID,
        FaultReason.NOT_PRESENT,
        None,
        M(0),
    )
    assert any("AlreadyMapped" in p for p in dec.problems)
    assert x86().decode(0, 3).problems == ()


def test_x86_table_entry_points_at_the_next_table():
    dec = x86().decode(0x12_3456_7027, 0)
    assert (dec.kind, dec.paddr, dec.reason, dec.page_size) == (
        EntryKind.TABLE,
        0x12_3456_7000,
        None,
        None,
    )
    assert dec.hw_flags == M.parse("rwxu")


@pytest.mark.parametrize("levels,depth", [(4, 0), (5, 0), (5, 1)])
def test_x86_ps_in_a_pml4e_or_pml5e_is_a_reserved_bit(levels, depth):
    dec = x86(levels).decode(0x1000 | 0x83, depth)
    assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.RESERVED)
    assert [fv.field.name for fv in dec.fields if fv.flagged] == ["PS"]
    assert any("PS=1 is reserved" in p for p in dec.problems)
    assert any("is_huge" in p for p in dec.problems)


def test_x86_one_gib_leaf_at_pdpte():
    dec = x86().decode(0x8000_0000_4000_0083, 1)
    assert (dec.kind, dec.page_size, dec.paddr) == (EntryKind.LEAF, PAGE_1G, 0x4000_0000)
    assert dec.hw_flags == M.parse("rw")


@pytest.mark.parametrize(
    "depth,bit,field",
    [(2, 13, "RSVD_20_13"), (2, 20, "RSVD_20_13"), (1, 13, "RSVD_29_13"), (1, 29, "RSVD_29_13")],
)
def test_x86_misaligned_large_page_is_a_misaligned_fault(depth, bit, field):
    # SDM Vol. 3A 4.5.4: the bits are reserved (error code RSVD); the contract's reason word
    dec = x86().decode(0x4000_0000 | 1 << bit | 0x83, depth)
    assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.MISALIGNED)
    assert [fv.field.name for fv in dec.fields if fv.flagged] == [field]
    assert any("misaligned large page" in p for p in dec.problems)
    assert dec.hw_flags == M(0) and dec.mapping_flags == M.parse("rwx")


def test_x86_pat_bit_12_of_a_large_page_is_not_an_address_bit():
    dec = x86().decode(0x4020_1083, 2)
    assert (dec.kind, dec.paddr, dec.field("PAT")) == (EntryKind.LEAF, 0x4020_0000, 1)
    assert any("PAT" in p and "paddr()" in p for p in dec.problems)


def test_x86_bit_7_of_a_pte_is_pat_not_ps():
    dec = x86().decode(0x5000 | 0x81, 3)
    assert (dec.kind, dec.page_size, dec.field("PAT")) == (EntryKind.LEAF, PAGE_4K, 1)


def test_x86_memory_types_under_the_default_pat():
    assert x86().decode(PA | 0x19, 3).hw_flags == M.parse("rxd")
    assert x86().decode(PA | 0x11, 3).hw_flags == M.parse("rxc")
    assert x86().decode(PA | 0x09, 3).hw_flags == M.parse("rx")
    dec = x86().decode(PA | 0x19, 3)
    assert dec.mapping_flags == M.parse("rxc")
    assert any("UC (DEVICE)" in p for p in dec.problems)


# ------------------------------------------------------------------------- decode: EPT


def test_ept_not_present_ignores_reserved_bits():
    dec = ept().decode(0x78 | 0x80, 0)
    assert (dec.kind, dec.reason, dec.hw_flags) == (
        EntryKind.INVALID,
        FaultReason.NOT_PRESENT,
        M(0),
    )
    assert not any(fv.flagged for fv in dec.fields)


def test_ept_seed_reads_memtype_0_as_device_even_in_a_table():
    dec = ept().decode(PA | 0x7, 0)
    assert dec.kind is EntryKind.TABLE and dec.mapping_flags == M.parse("rwxd")


@pytest.mark.parametrize("xwr", [0b010, 0b110])
def test_ept_write_without_read_is_misconfiguration(xwr):
    for depth in (1, 3):
        dec = ept().decode(PA | 0x30 | xwr, depth)
        assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.MISCONFIG)
        assert "W" in [fv.field.name for fv in dec.fields if fv.flagged]
        assert any("W=1 with R=0" in p for p in dec.problems)


def test_ept_execute_only_needs_the_feature():
    assert ept().decode(PA | 0x34, 3).reason is FaultReason.MISCONFIG
    dec = ept("ept-execute-only").decode(PA | 0x34, 3)
    assert (dec.kind, dec.hw_flags) == (EntryKind.LEAF, M.EXECUTE)


def test_ept_xu_alone_is_present_only_with_mbec():
    assert ept().decode(PA | 1 << 10, 3).kind is EntryKind.INVALID
    dec = ept("mbec").decode(PA | 0x30 | 1 << 10, 3)
    assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.MISCONFIG)
    assert "XU" in [fv.field.name for fv in dec.fields if fv.flagged]
    dec = ept("mbec", "ept-execute-only").decode(PA | 0x30 | 1 << 10, 3)
    assert dec.kind is EntryKind.LEAF
    assert any("is_present()" in p for p in dec.problems)


@pytest.mark.parametrize("mt", [2, 3, 7])
def test_ept_reserved_memory_type_on_a_leaf_is_misconfiguration(mt):
    dec = ept().decode(PA | mt << 3 | 0x7, 3)
    assert dec.reason is FaultReason.MISCONFIG
    assert [fv.field.name for fv in dec.fields if fv.flagged] == ["MEMTYPE"]


@pytest.mark.parametrize("bit", [3, 4, 5, 6])
def test_ept_reserved_bits_in_a_non_leaf_entry_are_misconfiguration(bit):
    dec = ept().decode(PA | 1 << bit | 0x7, 2)
    assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.MISCONFIG)
    assert [fv.field.name for fv in dec.fields if fv.flagged] == ["RSVD_6_3"]


def test_ept_ps_in_a_pml4e_is_misconfiguration():
    for fmt, depth in ((ept(), 0), (ept(levels=5), 0), (ept(levels=5), 1)):
        dec = fmt.decode(PA | 0x87, depth)
        assert dec.reason is FaultReason.MISCONFIG and any("PS=1" in p for p in dec.problems)


@pytest.mark.parametrize("depth,bit", [(2, 12), (2, 20), (1, 12), (1, 29)])
def test_ept_misaligned_large_page_is_misconfiguration(depth, bit):
    dec = ept().decode(0x4000_0000 | 1 << bit | 0xB7, depth)
    assert dec.reason is FaultReason.MISCONFIG
    assert any("misaligned large page" in p for p in dec.problems)


def test_ept_large_leaf_and_memory_types():
    dec = ept().decode(0x4000_0000 | 0xB7, 1)
    assert (dec.kind, dec.page_size, dec.paddr, dec.hw_flags) == (
        EntryKind.LEAF,
        PAGE_1G,
        0x4000_0000,
        M.parse("rwx"),
    )
    assert ept().decode(PA | 0x47, 3).hw_flags == M.parse("rwxd")
    dec = ept().decode(PA | 0x4F, 3)
    assert dec.hw_flags == M.parse("rwxc") and dec.mapping_flags == M.parse("rwx")
    assert any("WC" in p for p in dec.problems)


def test_ept_mbec_splits_execute_between_supervisor_and_user_pages():
    dec = ept("mbec").decode(PA | 0x35, 3)  # R, XS, no XU
    assert dec.hw_flags == M.READ and dec.mapping_flags == M.parse("rx")
    assert any("MBEC" in p for p in dec.problems)
    assert ept("mbec").decode(PA | 0x435, 3).hw_flags == M.parse("rx")


# ------------------------------------------------------------------------------ robustness


@settings(max_examples=400, deadline=None)
@given(
    raw=st.integers(0, (1 << 64) - 1),
    fmt=st.sampled_from(list(every_format())),
    depth=st.integers(0, 4),
)
def test_decode_never_raises(raw, fmt, depth):
    depth %= fmt.depth_count
    dec = fmt.decode(raw, depth)
    assert dec.kind in EntryKind and (dec.reason is None) == (
        dec.kind in (EntryKind.TABLE, EntryKind.LEAF)
    )
    assert fmt.seed_flags(raw) == dec.mapping_flags
