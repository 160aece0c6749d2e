"""RISC-V Sv39/Sv48 (VS-stage), Sv39x4/Sv48x4 and the seed's plain Sv39/Sv48 (G-stage): geometry,
field layout, the seed's Rv64PTE bit for bit, the fixed encoding, and the hardware's reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from npt_explorer.engine.errors import PagingError
from npt_explorer.engine.flags import ALL_FLAG_COMBINATIONS, MappingFlags
from npt_explorer.engine.formats import get_format
from npt_explorer.engine.formats.base import Encoding, EntryKind, FaultReason, Role
from npt_explorer.engine.formats.riscv import FORMATS, RiscvFormat

ROUNDTRIP = json.loads((Path(__file__).parent / "data" / "seed_roundtrip.json").read_text())[
    "riscv"
]
R, W, X, U = MappingFlags.READ, MappingFlags.WRITE, MappingFlags.EXECUTE, MappingFlags.USER
DEV, UC = MappingFlags.DEVICE, MappingFlags.UNCACHED
V, A, D = 1 << 0, 1 << 6, 1 << 7
PTE_R, PTE_W, PTE_X, PTE_U, PTE_G = 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5
PTE_N = 1 << 63


def fmt(name: str, *features: str, **options: object) -> RiscvFormat:
    made = FORMATS[name](features=frozenset(features), **options)
    assert isinstance(made, RiscvFormat)
    return made


def every_format(*features: str) -> list[RiscvFormat]:
    return [
        fmt("sv39", *features),
        fmt("sv48", *features),
        fmt("sv39", *features, stage=2),
        fmt("sv48", *features, stage=2),
        fmt("sv39x4", *features),
        fmt("sv48x4", *features),
    ]


def ids(formats: list[RiscvFormat]) -> list[str]:
    return [f"{f.name}-s{f.stage}" + "".join(f"+{x}" for x in sorted(f.features)) for f in formats]


def pte(ppn: int, bits: int) -> int:
    return (ppn << 10) | bits


LEAF = V | A | D  # a usable leaf needs R or X on top


# -------------------------------------------------------------------------------- geometry


@pytest.mark.parametrize(
    ("name", "options", "names", "shifts", "root_bits", "stage", "signed"),
    [
        ("sv39", {}, [2, 1, 0], [30, 21, 12], 9, 1, True),
        ("sv48", {}, [3, 2, 1, 0], [39, 30, 21, 12], 9, 1, True),
        ("sv39", {"stage": 2}, [2, 1, 0], [30, 21, 12], 9, 2, False),
        ("sv48", {"stage": 2}, [3, 2, 1, 0], [39, 30, 21, 12], 9, 2, False),
        ("sv39x4", {}, [2, 1, 0], [30, 21, 12], 11, 2, False),
        ("sv48x4", {}, [3, 2, 1, 0], [39, 30, 21, 12], 11, 2, False),
    ],
)
def test_levels_count_down_from_the_root_and_every_level_may_be_a_leaf(
    name, options, names, shifts, root_bits, stage, signed
):
    f = fmt(name, **options)
    assert [lv.name for lv in f.levels] == [f"level {i} (VPN[{i}])" for i in names]
    assert [lv.shift for lv in f.levels] == shifts
    assert [lv.leaf_size for lv in f.levels] == [1 << s for s in shifts]
    assert [lv.bits for lv in f.levels] == [root_bits] + [9] * (len(shifts) - 1)
    assert (f.stage, f.signed_input, f.output_bits) == (stage, signed, 56)
    assert f.addr_mask == 0x003F_FFFF_FFFF_FC00  # Rv64PTE::PHYS_ADDR_MASK, bits 53:10


@pytest.mark.parametrize(
    ("name", "input_bits", "root_frames"),
    [("sv39", 39, 1), ("sv48", 48, 1), ("sv39x4", 41, 4), ("sv48x4", 50, 4)],
)
def test_x4_modes_widen_the_root_to_16_kib_and_the_input_by_two_bits(name, input_bits, root_frames):
    f = fmt(name)
    assert f.input_bits == input_bits
    assert f.root_frames == root_frames


def test_x4_root_index_takes_the_two_extra_gpa_bits():
    assert fmt("sv39x4").index((1 << 40) | (3 << 30), 0) == 1024 + 3
    assert fmt("sv48x4").index((1 << 49) | (5 << 39), 0) == 1024 + 5
    assert fmt("sv39", stage=2).index((1 << 38) | (3 << 30), 0) == 256 + 3
    assert fmt("sv39").index(0x1234_5000, 2) == 0x145  # VPN[0] = va[20:12]


def test_largest_leaf_is_1_gib_in_sv39_and_512_gib_in_sv48():
    assert fmt("sv39x4").depth_for_size(1 << 30) == 0
    assert fmt("sv48x4").depth_for_size(1 << 39) == 0
    assert fmt("sv48").depth_for_size(1 << 21) == 2


def test_vs_stage_inputs_must_be_sign_extended():
    sv39, sv48 = fmt("sv39"), fmt("sv48")
    assert sv39.check_input(0xFFFF_FFC0_0000_0000) is None
    assert sv39.check_input(0x0000_003F_FFFF_F000) is None
    assert sv39.check_input(0x0000_0040_0000_0000) is FaultReason.NON_CANONICAL
    assert sv48.check_input(0x0000_0040_0000_0000) is None
    assert sv48.check_input(0xFFFF_8000_0000_0000) is None
    assert sv48.check_input(0x0000_8000_0000_0000) is FaultReason.NON_CANONICAL


def test_g_stage_gpa_bits_above_the_mode_width_must_be_zero():
    assert fmt("sv39x4").check_input((1 << 41) - 1) is None
    assert fmt("sv39x4").check_input(1 << 41) is FaultReason.ADDRESS_SIZE
    assert fmt("sv48x4").check_input(1 << 50) is FaultReason.ADDRESS_SIZE
    assert fmt("sv39", stage=2).check_input(1 << 39) is FaultReason.ADDRESS_SIZE


def test_get_format_builds_every_riscv_mode():
    assert get_format("sv39").stage == 1
    assert get_format("sv48", stage=2).signed_input is False
    assert get_format("sv39x4", features=["svadu"]).features == frozenset({"svadu"})


@pytest.mark.parametrize(("name", "stage"), [("sv39x4", 1), ("sv48x4", 1), ("sv39", 3)])
def test_a_stage_the_mode_does_not_have_is_an_invalid_request(name, stage):
    with pytest.raises(PagingError) as err:
        FORMATS[name](features=frozenset(), stage=stage)
    assert err.value.kind == "InvalidRequest"


# ---------------------------------------------------------------------------- field layout

CONTRACT_BITS = {
    "V": (0, 0), "R": (1, 1), "W": (2, 2), "X": (3, 3), "U": (4, 4), "G": (5, 5), "A": (6, 6),
    "D": (7, 7), "RSW": (9, 8), "PPN": (53, 10), "RESERVED": (60, 54), "PBMT": (62, 61),
    "N": (63, 63),
}  # fmt: skip


@pytest.mark.parametrize("f", every_format(), ids=ids(every_format()))
@pytest.mark.parametrize("kind", list(EntryKind))
def test_every_bit_is_covered_by_exactly_one_named_field(f, kind):
    for depth in range(f.depth_count):
        table = f.field_table(depth, kind)
        covered = 0
        for field in table:
            assert not covered & field.mask, f"{field.name} overlaps"
            covered |= field.mask
            assert field.doc
        assert covered == (1 << 64) - 1
        assert {fd.name: (fd.hi, fd.lo) for fd in table} == CONTRACT_BITS


def test_a_pointer_reserves_d_a_u_n_and_pbmt():
    table = {f.name: f for f in fmt("sv39").field_table(0, EntryKind.TABLE)}
    assert {n for n, f in table.items() if f.role is Role.RESERVED} == {
        "U",
        "A",
        "D",
        "N",
        "PBMT",
        "RESERVED",
    }


def test_g_is_ignored_at_the_g_stage_and_u_is_mandatory():
    leaf = {f.name: f for f in fmt("sv39x4").field_table(2, EntryKind.LEAF)}
    assert leaf["G"].role is Role.IGNORED
    assert leaf["U"].meaning(0) == "no access (guest-page fault)"
    assert {f.name: f for f in fmt("sv39").field_table(2, EntryKind.LEAF)}["G"].role is (
        Role.ATTRIBUTE
    )


def test_invalid_entries_flag_nothing_because_every_other_bit_is_a_dont_care():
    dec = fmt("sv39").decode((0x7F << 54) | (3 << 61) | PTE_N, 2)
    assert dec.kind is EntryKind.INVALID
    assert not any(fv.flagged for fv in dec.fields)


def test_ppn_is_reported_as_the_field_value_and_means_the_address_it_names():
    dec = fmt("sv39").decode(pte(0x12345, LEAF | PTE_R), 2)
    assert dec.field("PPN") == 0x12345
    ppn = next(fv for fv in dec.fields if fv.field.name == "PPN")
    assert ppn.meaning == "0x12345000"
    assert fmt("sv39").field_by_name(2, 0, "pbmt").name == "PBMT"


# ------------------------------------------------------------------------------ seed encoding

PADDR = int(ROUNDTRIP["paddr"], 16)
BY_SHORT = {flags.short(): flags for flags in ALL_FLAG_COMBINATIONS}


def test_the_roundtrip_table_has_all_64_combinations():
    assert set(ROUNDTRIP["rows"]) == set(BY_SHORT)


@pytest.mark.parametrize("f", every_format("svpbmt", "svnapot"), ids=ids(every_format()))
@pytest.mark.parametrize("row", sorted(ROUNDTRIP["rows"]))
def test_seed_encoding_reproduces_rv64pte_bit_for_bit(f, row):
    want = ROUNDTRIP["rows"][row]
    flags = BY_SHORT[row]
    raw_4k = f.new_page(PADDR, flags, False, Encoding.SEED)
    raw_huge = f.new_page(PADDR, flags, True, Encoding.SEED)
    assert raw_4k == int(want["raw_4k"], 16)
    assert raw_huge == int(want["raw_huge"], 16)
    assert f.seed_present(raw_4k) == bool(want["present"])
    assert f.seed_flags(raw_4k).short() == want["read_back"]
    assert f.decode(raw_4k, f.leaf_depth).mapping_flags == f.seed_flags(raw_4k)


@pytest.mark.parametrize("f", every_format(), ids=ids(every_format()))
def test_seed_new_table_is_v_only_and_reads_back_empty(f):
    for encoding in Encoding:
        raw = f.new_table(PADDR, encoding)
        assert raw == int(ROUNDTRIP["new_table"], 16)
        assert f.seed_flags(raw).short() == ROUNDTRIP["new_table_read_back"]
        assert f.decode(raw, 0).kind is EntryKind.TABLE
        assert f.decode(raw, 0).paddr == PADDR


def test_seed_predicates_keep_their_quirks():
    f = fmt("sv39x4")
    assert f.seed_huge(PTE_R)  # is_huge = R | X, even with V = 0
    assert not f.seed_present(PTE_R)
    assert not f.seed_huge(V | PTE_W)
    assert f.seed_flags(PTE_R | PTE_U) == 0  # flags() is gated on V
    assert f.entry_paddr(pte(0x12345, V)) == 0x12345000  # PPN at bit 10: paddr = field << 2
    assert f.set_paddr(pte(1, V | PTE_R | (1 << 8)), 0x7000) == pte(7, V | PTE_R | (1 << 8))


def test_seed_set_flags_keeps_only_the_address():
    f = fmt("sv39")
    raw = pte(0x12345, V | PTE_R | A | D | (3 << 8) | PTE_G)
    assert f.set_flags(raw, R | W, False, Encoding.SEED) == pte(0x12345, LEAF | PTE_R | PTE_W)


def row_problems(f, flags: MappingFlags) -> list[str]:
    """An `encode --table` row's problems: the seed's conversion, then the hardware's reading
    of the entry it wrote."""
    raw = f.new_page(0x4000_0000, flags, False, Encoding.SEED)
    return f.encoding_problems(flags, False, Encoding.SEED) + list(
        f.decode(raw, f.leaf_depth).problems
    )


def test_seed_problems_name_the_g_stage_u_bug_and_the_reserved_encodings_once():
    s2, s1 = fmt("sv39x4"), fmt("sv39")
    assert [p for p in row_problems(s2, R | W) if "U=0" in p] == [
        "U=0: every G-stage access is a U-mode access, so this leaf guest-page faults on every "
        "access (the seed reads R+W)"
    ]
    assert not any("U=0" in p for p in row_problems(s2, R | W | U))
    assert not s1.encoding_problems(R | W, False, Encoding.SEED)
    assert [p for p in row_problems(s1, W) if "reserved" in p] == [
        "W=1 with R=0 is a reserved encoding"
    ]
    assert any("pointer" in p for p in s1.encoding_problems(U, False, Encoding.SEED))
    assert any("DEVICE dropped" in p for p in s1.encoding_problems(R | DEV, False, Encoding.SEED))
    assert any("V=0" in p for p in s1.encoding_problems(MappingFlags(0), False, Encoding.SEED))


def test_seed_g_stage_leaf_without_user_grants_nothing():
    f = fmt("sv39x4")
    dec = f.decode(f.new_page(0x8000_0000, R | W | X, False, Encoding.SEED), 2)
    assert dec.kind is EntryKind.LEAF
    assert dec.mapping_flags == R | W | X
    assert dec.hw_flags == 0
    assert any("U=0" in p for p in dec.problems)
    assert next(fv for fv in dec.fields if fv.field.name == "U").flagged


# ----------------------------------------------------------------------------- fixed encoding

ALIGNED = 0x8000_0000  # 1 GiB aligned: a valid leaf at every Sv39 level


def representable(f: RiscvFormat, flags: MappingFlags) -> MappingFlags:
    """What the hardware can grant for `flags` (the rules of the fixed encoding)."""
    if not flags & (R | W | X):
        return MappingFlags(0)
    want = flags | (R if flags & W else 0)
    if f.stage == 2:
        want &= ~U  # every G-stage access is U-mode: U=1 always, not a permission
    if "svpbmt" not in f.features:
        want &= ~(DEV | UC)
    elif want & DEV:
        want &= ~UC  # PBMT=IO is already non-cacheable
    return want


FIXED_FORMATS = every_format() + every_format("svpbmt")


@pytest.mark.parametrize("f", FIXED_FORMATS, ids=ids(FIXED_FORMATS))
@pytest.mark.parametrize("huge", [False, True])
def test_fixed_encoding_grants_exactly_the_flags_or_says_why_not(f, huge):
    depth = f.leaf_depth - 1 if huge else f.leaf_depth
    for flags in ALL_FLAG_COMBINATIONS:
        raw = f.new_page(ALIGNED, flags, huge, Encoding.FIXED)
        dec = f.decode(raw, depth)
        want = representable(f, flags)
        assert dec.hw_flags == want, flags.short()
        assert f.read_flags(raw, Encoding.FIXED, depth) == want
        problems = f.encoding_problems(flags, huge, Encoding.FIXED)
        exact = want == (flags & ~U if f.stage == 2 else flags)
        assert exact == (not problems), (flags.short(), problems)
        if want:
            assert dec.kind is EntryKind.LEAF
            assert raw & (V | A | D) == V | A | D  # A/D preset: Svade never faults
            assert f.stage == 1 or raw & PTE_U  # the G-stage needs U=1 on every leaf
        else:
            assert dec.kind is EntryKind.INVALID


def test_fixed_memory_types_use_pbmt_only_with_svpbmt():
    plain, pbmt = fmt("sv39"), fmt("sv39", "svpbmt")
    assert plain.new_page(0, R | DEV, False, Encoding.FIXED) >> 61 == 0
    assert pbmt.new_page(0, R | DEV, False, Encoding.FIXED) >> 61 == 2  # IO
    assert pbmt.new_page(0, R | UC, False, Encoding.FIXED) >> 61 == 1  # NC
    assert any("svpbmt" in p for p in plain.encoding_problems(R | UC, False, Encoding.FIXED))


def test_fixed_write_only_gains_read_and_says_so():
    f = fmt("sv48")
    assert f.new_page(0, W, False, Encoding.FIXED) == LEAF | PTE_R | PTE_W
    assert any("READ added" in p for p in f.encoding_problems(W, False, Encoding.FIXED))


def test_fixed_table_entries_equal_the_seeds():
    f = fmt("sv39x4")
    assert f.new_table(0x1000, Encoding.FIXED) == f.new_table(0x1000, Encoding.SEED) == pte(1, V)
