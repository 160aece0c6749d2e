"""AArch64 stage-1 and stage-2 entry formats: geometry, fields, the seed's bits, the fixed
encoding and the hardware's reading of hand-picked descriptors (hardware.md §4, §5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npt_explorer.engine.errors import PagingError, SeedPanic
from npt_explorer.engine.flags import ALL_FLAG_COMBINATIONS, MappingFlags
from npt_explorer.engine.formats import arm
from npt_explorer.engine.formats.base import (
    PAGE_1G,
    PAGE_2M,
    PAGE_4K,
    Encoding,
    EntryKind,
    FaultReason,
    Role,
)

M = MappingFlags
SEED = json.loads((Path(__file__).parent / "data" / "seed_roundtrip.json").read_text())
_ABBREV = {
    "R": "READ",
    "W": "WRITE",
    "X": "EXECUTE",
    "U": "USER",
    "DEV": "DEVICE",
    "UC": "UNCACHED",
}
FEATURES = ("hafdbs", "fwb", "xnx")


def flags_of(short: str) -> MappingFlags:
    return M(0) if short == "-" else M.parse([_ABBREV[p] for p in short.split("+")])


def all_formats() -> list:
    out = []
    for features in (frozenset(), frozenset(FEATURES)):
        out += [arm.stage1(va_bits=v, features=features) for v in arm.VA_BITS]
        out += [arm.stage2(ipa_bits=i, features=features) for i in arm.IPA_BITS]
    return out


S1 = arm.stage1()
S2 = arm.stage2()


# ---------------------------------------------------------------- levels and geometry


@pytest.mark.parametrize(
    ("fmt", "names", "bits", "root_frames"),
    [
        (arm.stage1(va_bits=48), ["L0", "L1", "L2", "L3"], [9, 9, 9, 9], 1),
        (arm.stage1(va_bits=39), ["L1", "L2", "L3"], [9, 9, 9], 1),
        (arm.stage2(ipa_bits=39), ["L1", "L2", "L3"], [9, 9, 9], 1),
        (arm.stage2(ipa_bits=40), ["L1", "L2", "L3"], [10, 9, 9], 2),
        (arm.stage2(ipa_bits=44), ["L0", "L1", "L2", "L3"], [5, 9, 9, 9], 1),
        (arm.stage2(ipa_bits=48), ["L0", "L1", "L2", "L3"], [9, 9, 9, 9], 1),
    ],
)
def test_levels_use_arm_level_numbers_and_concatenated_roots(fmt, names, bits, root_frames):
    assert [lv.name for lv in fmt.levels] == names
    assert [lv.bits for lv in fmt.levels] == bits
    assert fmt.root_frames == root_frames
    sizes = {"L0": None, "L1": PAGE_1G, "L2": PAGE_2M, "L3": PAGE_4K}
    assert [lv.leaf_size for lv in fmt.levels] == [sizes[n] for n in names]
    assert fmt.output_bits == 48
    assert fmt.addr_mask == 0x0000_FFFF_FFFF_F000


def test_default_geometry_and_input_widths():
    assert (S1.name, S1.stage, S1.input_bits) == ("aarch64-s1", 1, 48)
    assert (S2.name, S2.stage, S2.input_bits) == ("aarch64-s2", 2, 40)
    assert arm.stage2(ipa_bits=44).input_bits == 44


def test_ipa40_root_index_is_ten_bits_wide():
    ipa = (1 << 39) | (5 << 30) | (7 << 21) | (9 << 12)
    assert [S2.index(ipa, d) for d in range(3)] == [512 + 5, 7, 9]
    assert S2.span(0) == PAGE_1G


def test_ipa44_root_has_32_entries():
    s2 = arm.stage2(ipa_bits=44)
    assert s2.levels[0].entries == 32
    assert s2.index((1 << 43) | (3 << 39), 0) == 16 + 3


def test_stage1_input_outside_ttbr0_is_non_canonical():
    assert S1.check_input(0x0000_7FFF_FFFF_F000) is None
    assert S1.check_input(1 << 48) is FaultReason.NON_CANONICAL
    # the TTBR1 half with EPD1=1 (the default): a level-0 translation fault before any read,
    # `not-present` (SCENARIO_FORMAT "A walk disabled by EPD0/EPD1"; Arm ARM D8.2.4)
    assert S1.check_input(0xFFFF_8000_0000_0000) is FaultReason.NOT_PRESENT
    assert arm.stage1(va_bits=39).check_input(1 << 39) is FaultReason.NON_CANONICAL


def test_stage2_ipa_beyond_input_size_is_address_size():
    assert S2.check_input((1 << 40) - 1) is None
    assert S2.check_input(1 << 40) is FaultReason.ADDRESS_SIZE
    assert arm.stage2(ipa_bits=39).check_input(1 << 39) is FaultReason.ADDRESS_SIZE


def test_bad_options_are_invalid_requests():
    with pytest.raises(PagingError) as err:
        arm.stage2(ipa_bits=42)
    assert err.value.kind == "InvalidRequest"
    assert "39 | 40 | 44 | 48" in err.value.message
    with pytest.raises(PagingError):
        arm.stage1(va_bits=52)


def test_formats_table_names_both_formats():
    assert set(arm.FORMATS) == {"aarch64-s1", "aarch64-s2"}
    fmt = arm.FORMATS["aarch64-s2"](features=frozenset({"fwb"}), ipa_bits=48)
    assert fmt.depth_count == 4 and fmt.features == {"fwb"}


# ---------------------------------------------------------------------- field layout


@pytest.mark.parametrize("fmt", all_formats(), ids=lambda f: f"{f.name}-{f.input_bits}")
def test_every_bit_is_covered_exactly_once(fmt):
    for depth in range(fmt.depth_count):
        for kind in EntryKind:
            table = fmt.field_table(depth, kind)
            covered = 0
            for f in table:
                assert not covered & f.mask, (depth, kind, f.name)
                covered |= f.mask
                assert f.doc, f.name
            assert covered == (1 << 64) - 1, (depth, kind)
            assert len({f.name for f in table}) == len(table)


CONTRACT = {
    ("aarch64-s1", EntryKind.LEAF): {"VALID": (0, 0), "TYPE": (1, 1), "ATTRINDX": (4, 2),
        "NS": (5, 5), "AP": (7, 6), "SH": (9, 8), "AF": (10, 10), "NG": (11, 11),
        "ADDR": (47, 12), "DBM": (51, 51), "CONTIG": (52, 52), "PXN": (53, 53), "UXN": (54, 54),
        "GP": (50, 50), "SOFTWARE": (58, 55), "PBHA": (62, 59)},
    ("aarch64-s1", EntryKind.TABLE): {"VALID": (0, 0), "TYPE": (1, 1), "ADDR": (47, 12),
        "PXNTABLE": (59, 59), "UXNTABLE": (60, 60), "APTABLE": (62, 61), "NSTABLE": (63, 63)},
    ("aarch64-s2", EntryKind.LEAF): {"VALID": (0, 0), "TYPE": (1, 1), "MEMATTR": (5, 2),
        "S2AP": (7, 6), "SH": (9, 8), "AF": (10, 10), "ADDR": (47, 12), "DBM": (51, 51),
        "CONTIG": (52, 52), "XN": (54, 53), "SOFTWARE": (58, 55)},
    ("aarch64-s2", EntryKind.TABLE): {"VALID": (0, 0), "TYPE": (1, 1), "ADDR": (47, 12)},
}  # fmt: skip


@pytest.mark.parametrize(("name", "kind"), list(CONTRACT))
def test_field_names_and_positions_follow_the_contract(name, kind):
    fmt = S1 if name == "aarch64-s1" else S2
    for depth in range(fmt.depth_count):
        if kind is EntryKind.TABLE and depth == fmt.leaf_depth:
            continue
        fields = {f.name: (f.hi, f.lo) for f in fmt.field_table(depth, kind)}
        for field_name, bits in CONTRACT[name, kind].items():
            assert fields[field_name] == bits


def test_stage2_table_descriptors_carry_no_attributes():
    names = {f.name for f in S2.field_table(0, EntryKind.TABLE)}
    assert not names & {"S2AP", "XN", "MEMATTR", "AF", "APTABLE"}
    roles = {f.name: f.role for f in S2.field_table(0, EntryKind.TABLE)}
    assert roles["IGNORED_63_59"] is Role.IGNORED


def test_meanings_name_values():
    s1_leaf = {f.name: f for f in S1.field_table(3, EntryKind.LEAF)}
    assert s1_leaf["ATTRINDX"].meaning(0) == "MAIR Attr0=0x04 Device-nGnRE"
    assert s1_leaf["ATTRINDX"].meaning(2) == "MAIR Attr2=0x44 Normal non-cacheable"
    assert s1_leaf["AP"].meaning(0b01) == "EL1 RW, EL0 RW"
    assert s1_leaf["TYPE"].meaning(1) == "page"
    s2_leaf = {f.name: f for f in S2.field_table(2, EntryKind.LEAF)}
    assert s2_leaf["MEMATTR"].meaning(0b1111) == "Normal write-back"
    assert s2_leaf["MEMATTR"].meaning(0b0001) == "Device-nGnRE"
    assert s2_leaf["S2AP"].meaning(0b10) == "write-only"
    fwb = {
        f.name: f for f in arm.stage2(features=frozenset({"fwb"})).field_table(2, EntryKind.LEAF)
    }
    assert fwb["MEMATTR"].meaning(0b0110) == "Normal write-back (FWB)"
    assert fwb["MEMATTR"].meaning(0b0111) == "the stage-1 attributes (FWB)"
    xnx = {f.name: f for f in arm.stage2(features=frozenset({"xnx"})).field_table(2, "leaf")}
    assert xnx["XN"].meaning(0b01) == "EL1 execute-never (FEAT_XNX)"
    assert S1.field_table(0, EntryKind.LEAF)[1].meaning(0).startswith("block: not allowed at L0")


def test_field_by_name_finds_leaf_fields_of_an_invalid_entry():
    assert S2.field_by_name(2, 0, "s2ap").bits == "7:6"
    assert S1.field_by_name(0, 0, "APTABLE").bits == "62:61"


# --------------------------------------------------------------- the seed's encodings


def _seed_rows(name):
    table = SEED[name]
    return [(flags_of(k), row) for k, row in table["rows"].items()]


@pytest.mark.parametrize("name", ["aarch64-s1", "aarch64-s2"])
def test_seed_encoding_reproduces_the_crates_bit_for_bit(name):
    fmt = S1 if name == "aarch64-s1" else S2
    paddr = int(SEED[name]["paddr"], 16)
    rows = _seed_rows(name)
    assert len(rows) == 64
    for flags, row in rows:
        raw_4k = fmt.new_page(paddr, flags, False, Encoding.SEED)
        raw_huge = fmt.new_page(paddr, flags, True, Encoding.SEED)
        assert raw_4k == int(row["raw_4k"], 16), flags.short()
        assert raw_huge == int(row["raw_huge"], 16), flags.short()
        for raw in (raw_4k, raw_huge):
            if row["read_back"] == "PANIC":
                with pytest.raises(SeedPanic):
                    fmt.seed_flags(raw)
                assert fmt.seed_read_back(raw) is None
            else:
                assert fmt.seed_flags(raw).short() == row["read_back"], flags.short()
        assert fmt.seed_present(raw_4k) == bool(raw_4k & 1)
        if row["read_back"] != "PANIC":  # the generator reported present=0 where flags() panicked
            assert fmt.seed_present(raw_4k) == bool(row["present"])
        assert fmt.set_flags(raw_4k, flags, True, Encoding.SEED) == raw_huge


@pytest.mark.parametrize("name", ["aarch64-s1", "aarch64-s2"])
def test_seed_new_table_and_its_read_back(name):
    fmt = S1 if name == "aarch64-s1" else S2
    paddr = int(SEED[name]["paddr"], 16)
    raw = fmt.new_table(paddr, Encoding.SEED)
    assert raw == int(SEED[name]["new_table"], 16)
    assert fmt.seed_flags(raw).short() == SEED[name]["new_table_read_back"]
    assert fmt.new_table(paddr, Encoding.FIXED) == raw
    assert fmt.decode(raw, 0).kind is EntryKind.TABLE


def test_seed_predicates_keep_the_quirks():
    for fmt in (S1, S2):
        assert fmt.seed_huge(0)  # is_huge = !NON_BLOCK, true for an empty entry
        assert not fmt.seed_present(0)
        assert not fmt.seed_huge(0x3) and fmt.seed_huge(0x1)
        assert fmt.is_unused(0) and not fmt.is_unused(0x63E)
        assert fmt.entry_paddr(0xFFFF_FFFF_FFFF_FFFF) == 0x0000_FFFF_FFFF_F000


def test_stage2_seed_decode_inverts_write_and_always_executes():
    assert S2.seed_flags(0x6FF) == M.READ | M.EXECUTE  # R+W written, W read back inverted
    assert S2.seed_flags(0x67F) == M.READ | M.WRITE | M.EXECUTE
    assert S2.seed_flags(0x63E) == M.WRITE | M.EXECUTE  # not gated on VALID
    assert S2.seed_flags(0x0010 | 0x40 | 0x1) == M.READ | M.WRITE | M.EXECUTE  # 0b0100 accepted
    with pytest.raises(SeedPanic, match="0b0111"):
        S2.seed_flags(0x6DF)
    with pytest.raises(SeedPanic):
        S2.seed_flags(0x0001 << 2 | 1)  # the kernel's own Device-nGnRE


def test_stage1_seed_reads_user_execute_from_uxn_and_kernel_execute_from_pxn():
    user_rx = 0x0020_0000_0000_07C7  # AP=11, PXN=1, UXN=0
    assert S1.seed_flags(user_rx) == M.READ | M.EXECUTE | M.USER
    assert S1.seed_flags(0x0040_0000_0000_0707) == M.READ | M.WRITE | M.EXECUTE  # UXN only
    assert S1.seed_flags(0x0707 | 3 << 2) == M.READ | M.WRITE | M.EXECUTE  # AttrIndx 3: nothing


# ------------------------------------------------------------------ the fixed encoding


def _leaf_depth(fmt, huge):
    return fmt.depth_for_size(PAGE_2M) if huge else fmt.leaf_depth


@pytest.mark.parametrize("fmt", all_formats(), ids=lambda f: f"{f.name}-{sorted(f.features)}")
def test_fixed_entries_grant_exactly_the_flags_or_say_why(fmt):
    for flags in ALL_FLAG_COMBINATIONS:
        for huge in (False, True):
            raw = fmt.new_page(PAGE_1G, flags, huge, Encoding.FIXED)
            dec = fmt.decode(raw, _leaf_depth(fmt, huge))
            problems = fmt.encoding_problems(flags, huge, Encoding.FIXED)
            granted = dec.hw_flags if dec.kind is EntryKind.LEAF else M(0)
            assert (granted == flags) == (not problems), (flags.short(), huge, problems)
            assert dec.paddr in (None, PAGE_1G)
            assert dec.kind is (EntryKind.LEAF if flags & (M.READ | M.WRITE | M.EXECUTE)
                                else EntryKind.INVALID)  # fmt: skip
            if dec.kind is EntryKind.LEAF:
                assert dec.page_size == (PAGE_2M if huge else PAGE_4K)
                assert dec.field("AF") == 1
                assert not [p for p in dec.problems if not p.startswith("the seed")]


def test_stage1_fixed_layout():
    raw = S1.new_page(0x8000_0000, M.parse("rwxu"), False, Encoding.FIXED)
    dec = S1.decode(raw, 3)
    assert (dec.field("AP"), dec.field("PXN"), dec.field("UXN")) == (0b01, 1, 0)
    assert (dec.field("ATTRINDX"), dec.field("SH"), dec.field("AF")) == (1, 0b11, 1)
    kernel_rx = S1.decode(S1.new_page(0, M.parse("rx"), True, Encoding.FIXED), 2)
    assert (kernel_rx.field("AP"), kernel_rx.field("PXN"), kernel_rx.field("UXN")) == (2, 0, 1)
    device = S1.decode(S1.new_page(0, M.parse("rwd"), False, Encoding.FIXED), 3)
    assert (device.field("ATTRINDX"), device.field("SH")) == (0, 0)
    assert S1.decode(S1.new_page(0, M.parse("rc"), False, Encoding.FIXED), 3).field("ATTRINDX") == 2


def test_stage1_fixed_problems_explain_what_stage1_cannot_express():
    (problem,) = S1.encoding_problems(M.WRITE, False, Encoding.FIXED)
    assert problem.startswith("READ granted though not requested")
    (problem,) = S1.encoding_problems(M.parse("rwdc"), False, Encoding.FIXED)
    assert "UNCACHED requested but not granted" in problem and "Device-nGnRE" in problem
    assert S1.encoding_problems(M.USER, False, Encoding.FIXED) == [
        "U maps nothing: VALID=0 makes the descriptor invalid"
    ]


def test_stage2_fixed_layout_and_read_back():
    dec = S2.decode(S2.new_page(0x8000_0000, M.parse("rw"), False, Encoding.FIXED), 2)
    assert (dec.field("S2AP"), dec.field("XN"), dec.field("MEMATTR")) == (0b11, 0b10, 0b1111)
    assert (dec.field("SH"), dec.field("AF"), dec.field("VALID")) == (0b11, 1, 1)
    assert dec.hw_flags == M.READ | M.WRITE
    write_only = S2.decode(S2.new_page(0, M.WRITE, False, Encoding.FIXED), 2)
    assert write_only.kind is EntryKind.LEAF and write_only.field("S2AP") == 0b10
    exec_only = S2.decode(S2.new_page(0, M.EXECUTE, False, Encoding.FIXED), 2)
    assert (exec_only.field("S2AP"), exec_only.field("XN")) == (0, 0)
    device = S2.new_page(0, M.parse("rwd"), False, Encoding.FIXED)
    assert S2.decode(device, 2).field("MEMATTR") == 0b0001
    assert S2.read_flags(device, Encoding.FIXED) == M.parse("rwd")
    nc = S2.new_page(0, M.parse("rc"), False, Encoding.FIXED)
    assert S2.decode(nc, 2).field("MEMATTR") == 0b0101
    assert S2.read_flags(nc, Encoding.FIXED) == M.parse("rc")


def test_stage2_fixed_with_fwb_uses_forced_write_back():
    fwb = arm.stage2(features=frozenset({"fwb"}))
    dec = fwb.decode(fwb.new_page(0, M.parse("rw"), False, Encoding.FIXED), 2)
    assert dec.field("MEMATTR") == 0b0110
    assert fwb.encoding_problems(M.parse("rw"), False, Encoding.FIXED) == []
    assert "MemAttr[3] is RES0 with FEAT_FWB" in fwb.decode(0x6FF, 2).problems


def test_stage2_user_flag_has_no_stage2_bit():
    problems = S2.encoding_problems(M.parse("rwu"), False, Encoding.FIXED)
    assert problems == ["USER requested but not granted: stage 2 has no user bit"]
    xnx = arm.stage2(features=frozenset({"xnx"}))
    assert "FEAT_XNX" in xnx.encoding_problems(M.parse("rxu"), False, Encoding.FIXED)[0]


def test_seed_encoding_problems_name_the_stage2_bugs():
    problems = S2.encoding_problems(M.parse("rw"), False, Encoding.SEED)
    assert "EXECUTE granted though not requested: XN=0b00 means executable" in problems
    assert "reads back as R+X" in problems
    problems = S2.encoding_problems(M.parse("w"), False, Encoding.SEED)
    assert problems[0] == "W maps nothing: VALID=0 makes the descriptor invalid"
    problems = S2.encoding_problems(M.parse("rwdc"), True, Encoding.SEED)
    assert any("panics" in p for p in problems)
    assert any("DEVICE requested but not granted: MemAttr=0b0111" in p for p in problems)
    assert S1.encoding_problems(M.parse("rwx"), False, Encoding.SEED) == []


# ------------------------------------------------------- the hardware's reading of entries

S1_PAGE_RW = 0x0060_0000_8000_0707  # L3 page: AttrIndx 1, SH 11, AP 00, AF, PXN, UXN
S2_PAGE_RW = 0x0040_0000_8000_07FF  # L3 page: Normal WB, S2AP 11, SH 11, AF, XN 0b10


def test_invalid_entries_are_not_present_whatever_else_is_set():
    for fmt in (S1, S2):
        for raw in (0, 0x63E, 0xFFFF_FFFF_FFFF_FFFE):
            dec = fmt.decode(raw, fmt.leaf_depth)
            assert (dec.kind, dec.reason, dec.paddr, dec.hw_flags) == (
                EntryKind.INVALID,
                FaultReason.NOT_PRESENT,
                None,
                M(0),
            )
    assert S2.decode(0x63E, 2).problems == (
        "the seed reads W+X but the hardware maps nothing here",
    )


def test_block_at_l0_is_a_reserved_descriptor():
    for fmt in (S1, arm.stage2(ipa_bits=48), arm.stage2(ipa_bits=44)):
        dec = fmt.decode(0x4000_0000 | 0x401, 0)
        assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.RESERVED)
        assert "block descriptor at L0" in dec.problems[0]
        assert [fv.flagged for fv in dec.fields if fv.field.name == "TYPE"] == [True]


def test_type_01_at_l3_is_reserved():
    dec = S1.decode(S1_PAGE_RW & ~0b10, 3)
    assert (dec.kind, dec.reason) == (EntryKind.MISCONFIGURED, FaultReason.RESERVED)
    assert dec.problems[0].startswith("bits[1:0]=0b01 at L3 is a reserved encoding")
    assert S2.decode(S2_PAGE_RW & ~0b10, 2).reason is FaultReason.RESERVED


def test_blocks_at_l1_and_l2_tables_elsewhere():
    assert S1.decode(0x4000_0000 | 0x701, 1).page_size == PAGE_1G
    assert S1.decode(0x20_0000 | 0x701, 2).page_size == PAGE_2M
    assert S2.decode(0x4000_0000 | 0x4FD, 0).page_size == PAGE_1G  # ipa40: depth 0 is L1
    table = S1.decode(0x1234_5000 | 0b11, 0)
    assert (table.kind, table.paddr, table.page_size) == (EntryKind.TABLE, 0x1234_5000, None)


def test_block_low_output_bits_are_ignored_not_misaligned():
    dec = S1.decode(0x20_0000 | 0x1_F000 | 0x701, 2)
    assert (dec.kind, dec.reason, dec.paddr) == (EntryKind.LEAF, None, 0x20_0000)
    assert "OA bits below the 2 MiB block size are RES0" in dec.problems[0]
    assert [fv.flagged for fv in dec.fields if fv.field.name == "ADDR"] == [True]
    assert S2.decode(0x4020_0000 | 0x4FD, 0).paddr == 0x4000_0000


def test_reserved_bits_are_flagged_but_ignored():
    dec = S1.decode(S1_PAGE_RW | 1 << 48, 3)
    assert dec.kind is EntryKind.LEAF
    assert any("RES0 bits 49:48" in p for p in dec.problems)
    assert [fv.flagged for fv in dec.fields if fv.field.name == "RES0_49_48"] == [True]
    table = S2.decode(0x1000 | 0b11 | 1 << 50, 0)
    assert table.kind is EntryKind.TABLE and any("RES0 bits 51:48" in p for p in table.problems)
    assert any("RES0 bits 11" in p for p in S2.decode(S2_PAGE_RW | 1 << 11, 2).problems)


def test_reserved_attribute_encodings_are_problems_not_faults():
    assert (
        "SH=0b01 is a reserved shareability encoding"
        in S1.decode((S1_PAGE_RW & ~(3 << 8)) | 1 << 8, 3).problems
    )
    normal_reserved = S2.decode((S2_PAGE_RW & ~0x3C) | 0b0100 << 2, 2)
    assert normal_reserved.kind is EntryKind.LEAF
    assert normal_reserved.problems[0].startswith("MemAttr=0b0100 is a reserved stage-2 memory")
    assert [fv.flagged for fv in normal_reserved.fields if fv.field.name == "MEMATTR"] == [True]


def test_stage1_permissions_of_one_entry():
    assert S1.decode(S1_PAGE_RW, 3).hw_flags == M.READ | M.WRITE
    user_rx = (S1_PAGE_RW & ~UXN_BIT) | 0b11 << 6
    assert S1.decode(user_rx, 3).hw_flags == M.READ | M.EXECUTE | M.USER
    device = S1.decode(S1_PAGE_RW & ~(7 << 2), 3)
    assert M.DEVICE in device.hw_flags
    attr5 = S1.decode(S1_PAGE_RW | 5 << 2, 3)
    assert M.DEVICE in attr5.hw_flags  # the seed's MAIR leaves Attr5 = 0x00: Device-nGnRnE
    assert (
        "the seed does not read DEVICE but AttrIndx=5 selects MAIR Attr5=0x00"
        in (attr5.problems[0])
    )


def test_stage1_execute_traps_are_problems():
    kernel_uxn0 = S1.decode(S1_PAGE_RW & ~UXN_BIT, 3)
    assert kernel_uxn0.problems[0].startswith("UXN=0: EL0 may execute this EL1-only page")
    user_ro_pxn0 = S1.decode((S1_PAGE_RW & ~(1 << 53)) | 0b11 << 6, 3)
    assert "PXN=0: EL1 may execute this EL0-accessible page" in user_ro_pxn0.problems


def test_stage1_table_flags_show_the_limits_below():
    assert S1.decode(0x1000 | 0b11, 0).hw_flags == M.READ | M.WRITE | M.EXECUTE | M.USER
    limited = 0x1000 | 0b11 | 1 << 61 | 1 << 62 | 1 << 59
    assert S1.decode(limited, 0).hw_flags == M.READ


def test_stage2_permissions_of_one_entry():
    assert S2.decode(S2_PAGE_RW, 2).hw_flags == M.READ | M.WRITE
    write_only = S2.decode((S2_PAGE_RW & ~(0b11 << 6)) | 0b10 << 6, 2)
    assert write_only.hw_flags == M.WRITE  # legal on ARM (§5.2)
    xn01 = (S2_PAGE_RW & ~(0b11 << 53)) | 0b01 << 53
    assert M.EXECUTE in S2.decode(xn01, 2).hw_flags  # bit 53 ignored without FEAT_XNX
    assert "XN[0] (bit 53) is ignored without FEAT_XNX" in S2.decode(xn01, 2).problems
    xnx = arm.stage2(features=frozenset({"xnx"}))
    assert M.EXECUTE not in xnx.decode(xn01, 2).hw_flags
    assert "the seed reads EXECUTE but XN=0b01 means EL1 execute-never (FEAT_XNX)" in (
        xnx.decode(xn01, 2).problems
    )


def test_stage2_problems_compare_the_seed_with_the_hardware():
    dec = S2.decode(0x6FF, 2)  # the seed's R+W page
    assert dec.mapping_flags == M.READ | M.EXECUTE
    assert dec.hw_flags == M.READ | M.WRITE | M.EXECUTE
    assert dec.problems == ("the seed does not read WRITE but S2AP[1]=1 allows writes",)
    panics = S2.decode(0x6DF, 2)
    assert panics.mapping_flags is None
    assert panics.problems[-1].startswith("the seed's flags() panics on this entry")


def test_stage2_memory_types():
    def memattr(value, fmt=S2):
        return fmt.decode((S2_PAGE_RW & ~0x3C) | value << 2, 2).hw_flags & (M.DEVICE | M.UNCACHED)

    assert memattr(0b0000) == memattr(0b0011) == M.DEVICE
    assert memattr(0b0101) == M.UNCACHED
    assert memattr(0b0111) == memattr(0b1111) == M(0)
    fwb = arm.stage2(features=frozenset({"fwb"}))
    assert memattr(0b0001, fwb) == M.DEVICE and memattr(0b0101, fwb) == M.UNCACHED
    assert memattr(0b0110, fwb) == memattr(0b0111, fwb) == M(0)


def test_af_zero_is_a_problem_only_without_hafdbs():
    no_af = S1_PAGE_RW & ~(1 << 10)
    assert any("AF=0" in p for p in S1.decode(no_af, 3).problems)
    had = arm.stage1(features=frozenset({"hafdbs"}))
    assert not any("AF=0" in p for p in had.decode(no_af, 3).problems)


UXN_BIT = 1 << 54


@settings(max_examples=300, deadline=None)
@given(raw=st.integers(0, (1 << 64) - 1), data=st.data())
def test_decode_never_raises(raw, data):
    features = frozenset(data.draw(st.sets(st.sampled_from(FEATURES))))
    if data.draw(st.booleans()):
        fmt = arm.stage1(va_bits=data.draw(st.sampled_from(arm.VA_BITS)), features=features)
    else:
        fmt = arm.stage2(ipa_bits=data.draw(st.sampled_from(arm.IPA_BITS)), features=features)
    depth = data.draw(st.integers(0, fmt.leaf_depth))
    dec = fmt.decode(raw, depth)
    assert dec.raw == raw and dec.level_name == fmt.level_name(depth)
    assert (dec.reason is None) == (dec.kind in (EntryKind.TABLE, EntryKind.LEAF))
    assert {fv.field.name for fv in dec.fields} == {
        f.name for f in fmt.field_table(depth, dec.kind)
    }
    fmt.encoding_problems(M(raw & 0x3F), bool(raw >> 63), Encoding.SEED)
