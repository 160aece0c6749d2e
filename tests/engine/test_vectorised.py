"""The vectorised region paths give exactly what the seed's per-entry loops give: the same
entries, errors, frames and flushes, on random inputs for every format (the declared bit
shapes they are built from equal the scalar functions: tests/design/test_format_shapes.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npt_explorer.engine import (
    Access,
    Encoding,
    EntryKind,
    FrameAllocator,
    MappingFlags,
    PageTable,
    PagingError,
    PhysicalMemory,
    Priv,
    SeedPanic,
    get_format,
)
from npt_explorer.engine import table_change as change
from npt_explorer.engine import table_map as bulk
from npt_explorer.engine.formats import FORMAT_NAMES, AccessRequest
from npt_explorer.engine.machine import Machine

K4, M2, G1 = 0x1000, 0x20_0000, 0x4000_0000
U64 = (1 << 64) - 1
FORMATS = [
    ("x86-64", {}),
    ("x86-64-la57", {}),
    ("ept", {}),
    ("ept", {"levels": 5}),
    ("aarch64-s1", {}),
    ("aarch64-s1", {"va_bits": 39}),
    ("aarch64-s2", {"ipa_bits": 40}),
    ("aarch64-s2", {"ipa_bits": 48}),
    ("sv39", {}),
    ("sv48", {"stage": 2}),
    ("sv39x4", {}),
    ("sv48x4", {}),
]


def _ids(formats: list[tuple[str, dict]]) -> list[str]:
    return [f"{n}{''.join(f'-{v}' for v in o.values())}" for n, o in formats]


IDS = _ids(FORMATS)
flags_st = st.integers(0, 63).map(MappingFlags)
REQUESTS = [
    AccessRequest(access, priv, guest_user_page=user)
    for access in Access
    for priv in Priv
    for user in (False, True)
] + [AccessRequest(Access.WRITE, Priv.USER, Access.READ, True, True)]
slow = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _entry(fmt, flags, huge, encoding, paddr, noise):
    """A realistic entry (a page or a table entry) with some attribute bits flipped."""
    base = (
        fmt.new_table(paddr, encoding)
        if flags is None
        else fmt.new_page(paddr, flags, huge, encoding)
    )
    return base ^ (noise & ~fmt.addr_mask)


#: every format (the region tests' list and the rest: what the walker's verdict memo reads)
EVERY_FORMAT = FORMATS + [(n, {}) for n in FORMAT_NAMES if n not in {n for n, _ in FORMATS}]


@pytest.mark.parametrize(("name", "opts"), EVERY_FORMAT, ids=_ids(EVERY_FORMAT))
@given(
    flags=st.none() | flags_st,
    huge=st.booleans(),
    encoding=st.sampled_from(list(Encoding)),
    paddr=st.integers(0, (1 << 52) - 1),
    noise=st.sampled_from([0, 0]) | st.integers(0, U64).map(lambda n: n & (n >> 7) & (n >> 13)),
    moved=st.integers(0, U64) | st.none(),  # None: every free bit cleared (an address of 0)
    depth=st.integers(0, 4),
    features=st.sampled_from([(), "all"]),
)
@settings(max_examples=80, deadline=None)
def test_entries_differing_in_free_address_bits_read_the_same(
    name, opts, flags, huge, encoding, paddr, noise, moved, depth, features
):
    fmt = get_format(name, **opts)
    if features == "all":
        from npt_explorer.engine.config import ARCHES

        every = {f for spec in ARCHES.values() for f in spec.features}
        fmt = get_format(name, features=every & _known(name), **opts)
    depth %= fmt.depth_count
    raw = _entry(fmt, flags, huge, encoding, paddr, noise)
    free = fmt.free_address_bits(depth)
    other = raw & ~free if moved is None else raw ^ (moved & free)
    a, b = fmt.decode(raw, depth), fmt.decode(other, depth)
    assert (a.kind, a.reason, a.page_size, a.hw_flags) == (
        b.kind,
        b.reason,
        b.page_size,
        b.hw_flags,
    )
    assert fmt.seed_read_back(raw) == fmt.seed_read_back(other)
    assert _read_flags(fmt, raw, encoding, depth) == _read_flags(fmt, other, encoding, depth)
    if a.kind in (EntryKind.TABLE, EntryKind.LEAF):  # the walker hooks agree too
        for req in REQUESTS:
            hook = fmt.descend if a.kind is EntryKind.TABLE else fmt.leaf
            x, y = hook(fmt.start(), a, req), hook(fmt.start(), b, req)
            assert (x.acc, x.reason) == (y.acc, y.reason)
            assert (x.write_back is None) == (y.write_back is None)
            if x.write_back is not None:
                assert x.write_back & ~free == y.write_back & ~free
                assert x.write_back & free == raw & free and y.write_back & free == other & free


def _read_flags(fmt, raw, encoding, depth):
    try:
        return fmt.read_flags(raw, encoding, depth)
    except SeedPanic as panic:
        return str(panic)


def _known(name: str) -> set[str]:
    if name.startswith(("x86", "ept")):
        return {"ept-ad", "mbec", "ept-execute-only"}
    if name.startswith("aarch64"):
        return {"hafdbs", "fwb", "xnx"}
    if name.startswith("sv"):
        return {"svadu", "svnapot", "svpbmt"}
    return {"ptw"} if name == "la64" else set()


def test_a_napot_leaf_keeps_its_ppn_low_bits_out_of_the_free_bits():
    fmt = get_format("sv39", features={"svnapot"})
    raw = fmt.new_page(0x8000, MappingFlags.READ, False, Encoding.FIXED) | 1 << 63
    assert fmt.decode(raw, 2).page_size == 0x1_0000
    assert not fmt.free_address_bits(2) & (0xF << 10)
    assert fmt.decode(raw ^ (1 << 13), 2).kind != fmt.decode(raw, 2).kind


# --------------------------------------------------------------------- the region paths


@pytest.fixture(autouse=True, scope="module")
def _vectorise_small_regions_too():
    """Small regions normally go entry by entry; here every region takes the vector path."""
    small, bulk.SMALL_REGION = bulk.SMALL_REGION, 0
    yield
    bulk.SMALL_REGION = small


def _windows(fmt) -> list[int]:
    """Bases that make regions cross tables, 1 GiB boundaries and the top of the input."""
    top = 1 << fmt.input_bits
    if fmt.signed_input:
        return [0, G1 - 3 * M2, (1 << 64) - (top >> 1), (1 << 64) - 4 * M2]
    return [0, G1 - 3 * M2, top - 4 * M2]


def _snapshot(pt: PageTable) -> tuple:
    words = tuple((f, pt.mem.frame(f >> 12).tobytes()) for f in pt.table_frames())
    return words, pt.frames_in_use, pt.alloc.in_use, pt.last_flush.pages


@st.composite
def _region(draw, fmt) -> tuple[int, int]:
    base = draw(st.sampled_from(_windows(fmt)))
    if draw(st.booleans()):  # whole leaf tables
        va = base + draw(st.integers(0, 2)) * M2
        size = draw(st.integers(1, 3)) * M2 + draw(st.sampled_from([0, 0, K4]))
    else:
        va = base + draw(st.integers(0, 3 * M2 // K4)) * K4
        size = draw(st.sampled_from([1, 2, 511, 512, 513, 1024]) | st.integers(1, 1200)) * K4
    # a whole 1 GiB: rarer, as the per-entry side of clear and protect steps 262,144 pages
    # (1–3 s an example; at 1 in 10 the test's time swung 7–57 s with hypothesis's seed)
    if draw(st.integers(0, 24)) == 0:
        va, size = base & ~(G1 - 1), G1
    return va, size


@st.composite
def _ops(draw, fmt):
    regions = draw(st.lists(_region(fmt), min_size=1, max_size=3))
    ops = []
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(
            st.sampled_from(
                ["map", "map_region", "map_region", "unmap", "protect", "clear", "poke"]
            )
        )
        va, size = draw(st.sampled_from(regions))
        if draw(st.integers(0, 3)) == 0:  # a neighbouring or overlapping region
            va += draw(st.sampled_from([-1, 1])) * draw(
                st.sampled_from([K4, M2, size // 2 & ~0xFFF])
            )
            va = max(va, 0)
        if kind == "map":
            page = draw(st.sampled_from([K4, M2, M2, G1]))
            ops.append(
                ("map", va & ~(page - 1), draw(st.integers(0, 1 << 40)), page, draw(flags_st))
            )
        elif kind == "map_region":
            pa = draw(st.integers(0, 1 << 38)) * K4 + draw(st.sampled_from([0, 0, 0, 0x123]))
            huge = draw(st.booleans())
            if size >= G1:  # (262,144 single pages would make the per-entry side slow)
                pa, huge = (pa & ~(G1 - 1)) + (va & (G1 - 1)), True
            elif draw(st.booleans()):
                pa = (pa & ~(M2 - 1)) + (va & (M2 - 1))  # same offset in 2 MiB: huge pages fit
            ops.append(("map_region", va, pa, size, draw(flags_st), huge))
        elif kind == "unmap":
            ops.append(("unmap", va, size + draw(st.sampled_from([0, 0, 0, 0x800]))))
        elif kind == "protect":
            ops.append(("protect", va, size, draw(flags_st)))
        elif kind == "clear":
            ops.append(("clear", va, size))
        else:
            depth = draw(st.integers(0, fmt.leaf_depth))
            ops.append(("poke", va, depth, draw(st.integers(0, U64))))
    return ops


def _apply(pt: PageTable, op: tuple, vectorised: bool):
    kind = op[0]
    try:
        if kind == "map":
            pt.map(*op[1:])
        elif kind == "map_region":
            bulk.map_region(pt, *op[1:], vectorised=vectorised)
        elif kind == "unmap":
            change.unmap_region(pt, *op[1:], vectorised=vectorised)
        elif kind == "protect":
            change.protect_region(pt, *op[1:], vectorised=vectorised)
        elif kind == "clear":
            change.clear_region(pt, *op[1:], vectorised=vectorised)
        else:
            _, va, depth, value = op
            ref = pt.locate(va, depth)
            pt.poke(ref.addr, value)
    except PagingError as err:
        return err.kind, str(err)
    return None


@pytest.mark.parametrize(("name", "opts"), FORMATS, ids=IDS)
@given(
    data=st.data(),
    encoding=st.sampled_from(list(Encoding)),
    limit=st.sampled_from([None, None, 12]),
)
@slow
def test_vectorised_regions_equal_the_per_entry_loops(name, opts, data, encoding, limit):
    fmt = get_format(name, **opts)
    ops = data.draw(_ops(fmt))
    tables = []
    for _ in range(2):
        mem = PhysicalMemory()
        tables.append(PageTable(fmt, mem, FrameAllocator(mem, limit=limit), encoding))
    fast, slow_pt = tables
    for op in ops:
        got, want = _apply(fast, op, True), _apply(slow_pt, op, False)
        assert got == want, op
        assert _snapshot(fast) == _snapshot(slow_pt), op


@pytest.mark.parametrize(("name", "opts"), FORMATS[:8:2], ids=IDS[:8:2])
@given(data=st.data())
@slow
def test_a_paddr_function_allocating_frames_maps_the_same_frames(name, opts, data):
    """`map_alloc`'s pattern: the address function allocates from the tables' own allocator,
    so the order of table and data allocations must be the seed's."""
    fmt = get_format(name, **opts)
    va = data.draw(st.sampled_from(_windows(fmt))) + data.draw(st.integers(0, 1023)) * K4
    pages = data.draw(st.integers(1, 1100))
    limit = data.draw(st.sampled_from([None, 40, 600]))
    pre = data.draw(st.none() | st.integers(0, pages - 1))
    results = []
    for vectorised in (True, False):
        mem = PhysicalMemory()
        alloc = FrameAllocator(mem, limit=limit)
        pt = PageTable(fmt, mem, alloc, "fixed")
        if pre is not None:
            pt.map(va + pre * K4, 0x5000, K4, "r")
        try:
            bulk.map_region(
                pt, va, lambda _va, a=alloc: a.alloc(), pages * K4, "rw", vectorised=vectorised
            )
            err = None
        except PagingError as e:
            err = str(e)
        results.append((err, _snapshot(pt), alloc.in_use, sorted(alloc._in_use)))
    assert results[0] == results[1]


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "riscv64"])
@given(data=st.data())
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_guest_tables_in_guest_ram_take_the_same_paths(arch, data):
    machines = [Machine(arch=arch, pool_size=0x40_0000) for _ in range(2)]
    for m in machines:
        m.map(2, 0x4000_0000, 0x40_0000, "rw", hpa=0x8000_0000)
    fmt = machines[0].s1
    for op in data.draw(_ops(fmt)):
        results = [
            (_apply(m.guest_pt, op, vectorised), _snapshot_guest(m))
            for m, vectorised in zip(machines, (True, False), strict=True)
        ]
        assert results[0] == results[1], op


def _snapshot_guest(m: Machine) -> tuple:
    pt = m.guest_pt
    words = tuple((f, m.memory.frame(m.ram.hpa(f) >> 12).tobytes()) for f in pt.table_frames())
    return words, pt.frames_in_use, m.guest_frames.in_use, pt.last_flush.pages


def test_a_failed_region_restores_whole_frames_and_frees_its_tables():
    pt = PageTable("x86-64", encoding="fixed")
    pt.map_region(0, 0x1000_0000, 0x40_0000, "rw")
    pt.map(0x80_0000 + 0x3000, 0x5000, K4, "r")
    before = _snapshot(pt)
    with pytest.raises(PagingError) as err:
        pt.map_region(0x40_0000, 0x2000_0000, 0x80_0000, "rw")  # collides in the last table
    assert err.value.kind == "AlreadyMapped" and hex(0x80_3000) in str(err.value)
    pt.protect_region(0, 0x40_0000, "r")
    with pytest.raises(PagingError):
        pt.unmap_region(0, 0x80_0000)  # a hole at 0x40_0000: NotMapped after clearing 1024
    after = _snapshot(pt)
    assert after[1:3] == before[1:3] and after[0] != before[0]  # only the protect stayed
    assert all(pt.query(va)[1] == MappingFlags.READ for va in range(0, 0x40_0000, 0x10_0000))


def test_an_unmap_rolled_back_after_whole_leaf_tables_restores_them_whatever_ran_before():
    """An unmap gives whole leaf tables new zero words and its journal keeps the old ones (the
    rows of the block `map_region` built them in): a failed unmap must put each back, however
    many transactions of other tables ran before."""
    tables = [PageTable("ept") for _ in range(3)]
    for pt in tables:
        pt.map_region(G1, 0x1_0000_0000, 2 * G1, "rw")  # 2 × 512 whole leaf tables
    tables[0].unmap_region(G1, 2 * G1)  # committed: its old words are let go
    for pt in tables[1:]:
        before = _snapshot(pt)
        with pytest.raises(PagingError) as err:
            pt.unmap_region(G1, 2 * G1 + K4)  # the last page is a hole: NotMapped after 2 GiB
        assert err.value.kind == "NotMapped" and _snapshot(pt) == before
    tables[1].unmap_region(G1, 2 * G1)
    assert not tables[1].query_many(np.arange(G1, 3 * G1, M2, dtype=np.uint64))[2].any()
    assert tables[2].query(G1 + 0x1234)[0] == 0x1_0000_1234
