"""Batch look-ups agree with the scalar paths lane by lane: `query_many` with `query`, and
`walk_many`/`translate_many` with the walker (ok, addresses, references, page size), on random
tables, poked entries and every architecture's features."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npt_explorer.engine import (
    Access,
    Encoding,
    MappingFlags,
    PageTable,
    PagingError,
    Priv,
    batch_walk,
    get_format,
)
from npt_explorer.engine.config import ARCHES, MachineConfig
from npt_explorer.engine.machine import Machine
from npt_explorer.engine.table_query import query_many

K4, M2, G1 = 0x1000, 0x20_0000, 0x4000_0000
U64 = (1 << 64) - 1
FORMATS = [
    ("x86-64", {}),
    ("x86-64-la57", {}),
    ("ept", {}),
    ("aarch64-s1", {"va_bits": 39}),
    ("aarch64-s2", {"ipa_bits": 40}),
    ("sv39", {}),
    ("sv48x4", {}),
]
IDS = [n + "".join(f"-{v}" for v in o.values()) for n, o in FORMATS]
cases = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _scatter(draw, bases: list[int], count: int) -> np.ndarray:
    """Addresses near one base (few leaf tables: the per-region path), near all of them, or
    also anywhere."""
    mode = draw(st.sampled_from(["one", "one", "all", "wild"]))
    if mode == "one":
        bases = [draw(st.sampled_from(bases))]
    near = [draw(st.sampled_from(bases)) + draw(st.integers(0, 4 * M2 - 1)) for _ in range(count)]
    far = draw(st.lists(st.integers(0, U64), min_size=1, max_size=8)) if mode == "wild" else []
    return np.array(near + far, dtype=np.uint64)


@pytest.mark.parametrize(("name", "opts"), FORMATS, ids=IDS)
@given(data=st.data(), encoding=st.sampled_from(list(Encoding)))
@cases
def test_query_many_equals_query_for_every_address(name, opts, data, encoding):
    pt = PageTable(name, encoding=encoding, **opts)
    top = 1 << pt.fmt.input_bits
    bases = [0, G1 - M2, (1 << 64) - (top >> 1) if pt.fmt.signed_input else top - 4 * M2]
    for _ in range(data.draw(st.integers(1, 4))):
        va = data.draw(st.sampled_from(bases)) + data.draw(st.integers(0, 1023)) * K4
        pa = data.draw(st.integers(0, 1 << 30)) * K4
        flags = MappingFlags(data.draw(st.integers(0, 63)))
        size = data.draw(st.sampled_from([K4, 600 * K4, 2 * M2]))
        try:
            pt.map_region(va, pa, size, flags, allow_huge=data.draw(st.booleans()))
        except PagingError:
            pass
    for _ in range(data.draw(st.integers(0, 3))):  # odd entries: the seed's rules still hold
        try:
            ref = pt.locate(data.draw(st.sampled_from(bases)), data.draw(st.integers(0, 3)))
            pt.poke(ref.addr, data.draw(st.integers(0, U64)))
        except PagingError:
            pass
    vaddrs = _scatter(data.draw, bases, data.draw(st.sampled_from([10, 300, 300])))
    paddrs, sizes, ok = query_many(pt, vaddrs)
    for i, va in enumerate(vaddrs.tolist()):
        try:
            paddr, _, size = pt.query(va)
            want = (True, paddr, size)
        except PagingError:
            want = (False, 0, 0)
        assert (bool(ok[i]), int(paddrs[i]), int(sizes[i])) == want, hex(va)


def test_query_many_reads_a_borrowed_subtree_through_the_scalar_path():
    a, b = PageTable("x86-64"), PageTable("x86-64")
    a.map_region(0x1000, 0x5000, 0x3000, "rw")
    b.mem, b.alloc = a.mem, a.alloc  # share one memory so `copy_from` can borrow
    b.root = a.alloc.alloc()
    b.tables = {b.root: 1}
    b.copy_from(a, 0, G1)
    paddrs, sizes, ok = b.query_many(np.array([0x1000, 0x2234, 0x9000], dtype=np.uint64))
    assert ok.tolist() == [True, True, False] and paddrs[1] == 0x6234


def _compatible(features: set[str]) -> frozenset[str]:
    """T-Head's bits 63:59 and Svpbmt/Svnapot cannot be on together."""
    if "xuantie-c9xx" in features:
        features -= {"svpbmt", "svnapot"}
    return frozenset(features)


def _buildable(modes: dict, stage: int) -> list[str]:
    """The modes a machine builds without more keys: not teach's `custom` (it needs its
    geometry), not a host table of packed tables (refused by name)."""
    return sorted(
        m
        for m, (name, opts) in modes.items()
        if m != "custom" and not (stage == 2 and get_format(name, **opts).packed_tables)
    )


@st.composite
def machines(draw):
    arch = draw(st.sampled_from(sorted(ARCHES)))
    spec = ARCHES[arch]
    cfg = MachineConfig(
        arch=arch,
        guest=draw(st.sampled_from(_buildable(spec.guests, stage=1))),
        npt=draw(st.sampled_from(_buildable(spec.npts, stage=2))),
        features=_compatible(draw(st.sets(st.sampled_from(spec.features))))
        if spec.features  # teach offers none
        else frozenset(),
        encoding=draw(st.sampled_from(list(Encoding))),
    )
    m = Machine(cfg)
    ram, guest = 0x4000_0000, 0x40_0000_0000 if m.s1.input_bits > 39 else 0x10_0000_0000
    if m.s1.input_bits <= 32:  # teach's 6.823 geometry: a 32-bit gVA
        guest = 0x8000_0000
    flags = draw(st.sampled_from(["rwx", "rw", "r", "rwxu", "rwu", "x"]))
    huge = draw(st.booleans()) and M2 in m.s2.page_sizes  # teach has no huge pages
    m.map(2, ram, 4 * M2, flags, hpa=0x8000_0000, huge=huge)
    for n in range(draw(st.integers(1, 3))):
        gflags = draw(st.sampled_from(["rw", "rwu", "r", "rx", "rwxu", "-"]))
        try:
            m.map(1, guest + n * 2 * M2, 2 * M2, gflags, gpa=ram + n * M2, huge=draw(st.booleans()))
        except PagingError:
            pass
    for _ in range(draw(st.integers(0, 3))):  # odd entries at either stage
        stage = draw(st.sampled_from([1, 2]))
        addr = draw(st.sampled_from([guest, guest + M2 + K4, ram, m.guest_root]))
        try:
            m.poke(stage, addr, draw(st.integers(0, 3)), value=draw(st.integers(0, U64)))
        except PagingError:
            pass
    return m, [guest, guest + 2 * M2, guest - M2]


@given(
    mg=machines(),
    data=st.data(),
    access=st.sampled_from(list(Access)),
    priv=st.sampled_from(list(Priv)),
)
@cases
def test_walk_many_equals_the_walker_for_every_gva(mg, data, access, priv):
    m, bases = mg
    gvas = _scatter(data.draw, bases, data.draw(st.sampled_from([10, 400, 400])))
    _agrees_with_the_walker(m, gvas, m.walk_many(gvas, access, priv), access, priv)


@given(
    mg=machines(),
    data=st.data(),
    access=st.sampled_from(list(Access)),
    part=st.integers(1, 97),
)
@cases
def test_a_batch_walked_in_parts_answers_as_the_walker(mg, data, access, part):
    """`walk_many` takes its lanes a part at a time (65,536 of them; there the faults, the
    scalar lanes and the stage-2 requests of each part land in the whole batch's arrays)."""
    m, bases = mg
    gvas = _scatter(data.draw, bases, 300)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_walk, "PART", part)
        patch.setattr(batch_walk, "SPREAD", 0)
        batch = m.walk_many(gvas, access, Priv.USER)
    _agrees_with_the_walker(m, gvas, batch, access, Priv.USER)


def _agrees_with_the_walker(m, gvas, batch, access, priv) -> None:
    for i, gva in enumerate(gvas.tolist()):
        walk = m.walker.translate(gva, access, priv, side_effects=False)
        want = (walk.ok, walk.gpa or 0, walk.hpa if walk.ok else 0, walk.refs, walk.page_size or 0)
        got = (
            bool(batch.ok[i]),
            int(batch.gpa[i]),
            int(batch.hpa[i]),
            int(batch.refs[i]),
            int(batch.page_size[i]),
        )
        assert got == want, hex(gva)


def test_translate_many_checks_permissions_and_leaves_the_machine_alone():
    m = Machine(arch="x86_64")
    m.map(2, 0x4000_0000, M2, "r", hpa=0x8000_0000)
    m.map(1, 0x10_0000_0000, M2, "rw", gpa=0x4000_0000)
    log, a_bit = len(m.log), m.entry(1, 0x10_0000_0000, 3)[1].field("A")
    gvas = np.arange(0x10_0000_0000, 0x10_0020_0000, 0x1000, dtype=np.uint64)
    gpas, hpas, ok = m.translate_many(gvas, "read")
    assert ok.all() and (hpas - gpas == 0x8000_0000 - 0x4000_0000).all()
    _, _, ok = m.translate_many(gvas, "write")  # stage 2 is read-only
    assert not ok.any()
    assert len(m.log) == log and m.entry(1, 0x10_0000_0000, 3)[1].field("A") == a_bit


def test_a_huge_leaf_where_no_address_bit_is_free_is_judged_by_the_leaf_tier():
    """LoongArch's directory levels declare no free address bit, so their table and leaf
    classes keep the same mask: the batch walker's second tier must still judge leaves."""
    m = Machine(arch="loongarch64")
    m.map(2, 0x4000_0000, 4 * M2, "rwx", hpa=0x8000_0000, huge=True)  # 2 MiB leaves at Dir1
    m.map(1, 0x40_0000_0000, M2, "rw", gpa=0x4000_0000)
    gvas = np.arange(0x40_0000_0000, 0x40_0000_4000, K4, dtype=np.uint64)
    gpas, hpas, ok = m.translate_many(gvas, "read")
    assert ok.all() and (hpas - gpas == 0x8000_0000 - 0x4000_0000).all()


@pytest.mark.parametrize(("name", "opts"), FORMATS, ids=IDS)
@given(data=st.data(), encoding=st.sampled_from(list(Encoding)))
@cases
def test_query_answers_as_the_seeds_step_by_step_descent_also_once_memoised(
    name, opts, data, encoding
):
    """`query`'s fast path (a dictionary look-up per entry, memos filled by the general
    walk) against `query_full`, before and after each address's classes are known, and
    after the table changes under the memos."""
    pt = PageTable(name, encoding=encoding, **opts)
    top = 1 << pt.fmt.input_bits
    bases = [0, G1 - M2, (1 << 64) - (top >> 1) if pt.fmt.signed_input else top - 4 * M2]

    def outcome(query, va):
        try:
            return query(va)
        except PagingError as err:
            return err.kind

    for _ in range(data.draw(st.integers(1, 3))):
        va = data.draw(st.sampled_from(bases)) + data.draw(st.integers(0, 1023)) * K4
        pa = data.draw(st.integers(0, 1 << 30)) * K4
        flags = MappingFlags(data.draw(st.integers(0, 63)))
        try:
            pt.map_region(va, pa, data.draw(st.sampled_from([K4, 600 * K4, 2 * M2])), flags,
                          allow_huge=data.draw(st.booleans()))  # fmt: skip
        except PagingError:
            pass
        vaddrs = _scatter(data.draw, bases, 40).tolist()
        for _ in range(2):
            for va in vaddrs:
                assert outcome(pt.query, va) == outcome(pt.query_full, va), hex(va)
        try:
            ref = pt.locate(data.draw(st.sampled_from(bases)), data.draw(st.integers(0, 3)))
            pt.poke(ref.addr, data.draw(st.integers(0, U64)))
        except PagingError:
            pass
        if data.draw(st.booleans()):  # a leaf the memos have seen goes away
            try:
                pt.unmap(data.draw(st.sampled_from(vaddrs)))
            except PagingError:
                pass
