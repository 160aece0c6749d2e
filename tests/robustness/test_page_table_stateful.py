"""PageTable under random call sequences, every format and both encodings, against a dict model
(_pt_model.py), with errors injected: misaligned and out-of-range addresses, overlaps, cuts of
huge pages, unsupported page sizes and NoMemory from a tiny frame budget.

On any error the host memory (every table frame's bytes, and no other frame), the table's frame
list, the allocator's frames and `last_flush` are exactly as before; on success the model agrees
with the table: the same error kinds, leaves, tables, frames, flush list and `query` results.
"""

from __future__ import annotations

from typing import Any

from _pt_model import K4, MASK64, Model, Quirk, Refused
from _robust import (
    FORMAT_SPECS,
    budget,
    count,
    flush_state,
    make_format,
    memory_image,
    read_tables,
    weighted,
)
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from npt_explorer.engine import (
    Flush,
    FrameAllocator,
    MappingFlags,
    PageTable,
    PagingError,
    PhysicalMemory,
)
from npt_explorer.engine.formats import Encoding

M2, G1 = 0x20_0000, 0x4000_0000
FLAGS = st.integers(0, 63).map(MappingFlags)


def addresses(bits: int, signed: bool) -> st.SearchStrategy[int]:
    """Input addresses that collide often: a few anchors plus small page offsets, sometimes
    misaligned, sometimes just outside the format's range."""
    top = 1 << (bits - 1) if signed else 1 << bits
    anchors = [0, G1, top - 2 * G1]
    if signed:
        anchors.append((-top) & MASK64)  # the lowest upper-half (kernel) address
    near = st.tuples(
        st.sampled_from(anchors), st.integers(0, 1), st.integers(0, 3), st.integers(0, 4)
    ).map(lambda t: (t[0] + t[1] * G1 + t[2] * M2 + t[3] * K4) & MASK64)
    wrong = st.sampled_from(
        [top, top - K4, 1 << 63, MASK64 & ~0xFFF, (top << 1) + K4, top - 2 * M2]
    )
    misaligned = st.tuples(near, st.sampled_from([8, 0x800, 0x1800])).map(
        lambda t: (t[0] + t[1]) & MASK64
    )
    return weighted((8, near), (1, misaligned), (1, wrong))


def outputs(bits: int) -> st.SearchStrategy[int]:
    top = 1 << bits
    near = st.tuples(st.integers(0, 3), st.integers(0, 7)).map(
        lambda t: 0x8000_0000 + t[0] * M2 + t[1] * K4
    )
    edges = st.sampled_from([0, K4, top - M2, top, top + K4, 0x8000_0800])
    return weighted((5, near), (1, edges))


PAGE_SIZES = weighted(
    (6, st.sampled_from([K4, M2, G1])), (1, st.sampled_from([0x3000, 1 << 39, 0]))
)
REGION_SIZES = weighted(
    (4, st.integers(0, 6).map(lambda n: n * K4)),
    (2, st.sampled_from([M2, M2 + 2 * K4, 2 * M2])),
    (1, st.sampled_from([0x1800, 0x800])),
)


#: the formats whose tables PageTable allocates itself: a teach geometry with tables smaller
#: than a frame (packed) is refused by name and built with pokes instead (docs/scenarios.md)
TABLE_SPECS = [spec for spec in FORMAT_SPECS if not make_format(spec).packed_tables]


class PageTableMachine(RuleBasedStateMachine):
    """One table per run; the format, encoding and frame budget are drawn at the start."""

    @initialize(
        spec=st.sampled_from(TABLE_SPECS),
        encoding=st.sampled_from(list(Encoding)),
        budget_frames=st.one_of(st.none(), st.none(), st.integers(0, 6)),
    )
    def setup(self, spec: Any, encoding: Encoding, budget_frames: int | None) -> None:
        self.fmt = make_format(spec)
        self.memory = PhysicalMemory()
        # tables where the format can point to them: 1 TiB, or half way up a narrower output
        # (teach's 32-bit hPA), as a machine places its host pool
        self.alloc = FrameAllocator(self.memory, min(1 << 40, 1 << (self.fmt.output_bits - 1)))
        self.pt = PageTable(self.fmt, self.memory, self.alloc, encoding)
        self.model = Model(self.fmt, encoding)
        self.model.in_use = self.alloc.in_use
        self.set_budget(budget_frames)
        self.va = addresses(self.fmt.input_bits, self.fmt.signed_input)
        self.pa = outputs(self.fmt.output_bits)
        count(f"page table runs: {spec[0]} {encoding}")

    def set_budget(self, extra: int | None) -> None:
        limit = None if extra is None else self.alloc.in_use + extra
        self.alloc.limit = self.model.limit = limit

    # ------------------------------------------------------------------ the harness

    def _state(self) -> tuple:
        return (
            memory_image(self.memory),
            dict(self.pt.tables),
            frozenset(self.alloc._in_use),
            flush_state(self.pt),
        )

    def call(self, name: str, *args: Any) -> None:
        """Run `name` on the model (on a copy) and on the table; compare outcome and state."""
        model = self.model.copy()
        model.owned = frozenset(self.pt.tables)
        try:
            expected = getattr(model, name)(*args)
            want_error = None
        except Refused as refused:
            want_error = refused.kind
        except Quirk:
            count("page table: calls skipped (a leaf pointing at one of our tables)")
            return
        before = self._state()
        try:
            got = getattr(self.pt, name)(*args)
        except PagingError as err:
            count(f"page table: {name} errors")
            count(f"page table errors: {err.kind}")
            assert err.kind == want_error, (name, args, err, want_error)
            assert self._state() == before, f"{name}{args} failed with {err} and changed state"
            return
        count(f"page table: {name} ok")
        assert want_error is None, (name, args, "succeeded; the model expected", want_error)
        got = _without_flush(got, self.pt.last_flush)
        assert got == expected, (name, args, got, expected)
        if name != "query":
            self.model = model
            assert flush_state(self.pt) == model.flush, (name, args)

    # ------------------------------------------------------------------ rules

    @rule(data=st.data(), size=PAGE_SIZES, flags=FLAGS)
    def map(self, data: st.DataObject, size: int, flags: MappingFlags) -> None:
        self.call("map", data.draw(self.va), data.draw(self.pa), size, flags)

    @rule(data=st.data(), size=REGION_SIZES, flags=FLAGS, huge=st.booleans())
    def map_region(self, data: st.DataObject, size: int, flags: MappingFlags, huge: bool) -> None:
        self.call("map_region", data.draw(self.va), data.draw(self.pa), size, flags, huge)

    @rule(data=st.data())
    def unmap(self, data: st.DataObject) -> None:
        self.call("unmap", self._target(data))

    @rule(data=st.data(), size=REGION_SIZES)
    def unmap_region(self, data: st.DataObject, size: int) -> None:
        self.call("unmap_region", self._target(data), size)

    @rule(data=st.data(), flags=FLAGS)
    def protect(self, data: st.DataObject, flags: MappingFlags) -> None:
        self.call("protect", self._target(data), flags)

    @rule(data=st.data(), size=REGION_SIZES, flags=FLAGS)
    def protect_region(self, data: st.DataObject, size: int, flags: MappingFlags) -> None:
        self.call("protect_region", self._target(data), size, flags)

    @rule(data=st.data(), flags=FLAGS)
    def remap(self, data: st.DataObject, flags: MappingFlags) -> None:
        self.call("remap", self._target(data), data.draw(self.pa), flags)

    @rule(data=st.data())
    def query(self, data: st.DataObject) -> None:
        self.call("query", self._target(data))

    @rule(extra=st.one_of(st.none(), st.integers(0, 3)))
    def budget(self, extra: int | None) -> None:
        self.set_budget(extra)

    def _target(self, data: st.DataObject) -> int:
        """Mostly an address inside a leaf the model holds (base, middle or a later page)."""
        leaves = sorted(self.model.leaves.items())
        if leaves and data.draw(st.integers(0, 3)):
            (depth, base), _ = data.draw(st.sampled_from(leaves))
            span = self.fmt.span(depth)
            return (base + data.draw(st.sampled_from([0, 0, K4, span // 2, span - K4]))) & MASK64
        return data.draw(self.va)

    # ------------------------------------------------------------------ invariants

    @precondition(lambda self: hasattr(self, "pt"))
    @invariant()
    def agrees_with_the_model(self) -> None:
        fmt, pt, model = self.fmt, self.pt, self.model
        count("page table: steps checked")
        own = {f >> 12 for first, n in pt.tables.items() for f in range(first, first + n * K4, K4)}
        assert set(self.memory.frames) <= own, "a frame the table does not own was written"
        assert pt.frames_in_use == fmt.root_frames + len(model.tables) == self.alloc.in_use
        leaves, tables = read_tables(pt)
        assert tables == model.tables
        assert leaves == model.leaves

    def teardown(self) -> None:
        if not hasattr(self, "pt"):
            return
        fmt, pt = self.fmt, self.pt
        in_mask = (1 << fmt.input_bits) - 1
        seen = {}
        for depth, _, va, raw in pt.walk():  # the engine's own walk, once per run
            into_table = pt.owns(fmt.entry_paddr(raw), va)
            if depth == fmt.leaf_depth or fmt.seed_huge(raw) or not into_table:
                seen[(depth, va)] = raw
        want = {(d, b & in_mask): raw for (d, b), raw in self.model.present_leaves().items()}
        if not fmt.seed_present(fmt.new_table(K4, pt.encoding)):
            # LoongArch: table entries read as not present, so walk() stays in the root
            want = {key: raw for key, raw in want.items() if key[0] == 0}
        assert seen == want
        pt.destroy()
        assert self.alloc.in_use == 0 and pt.frames_in_use == 0


PageTableMachine.TestCase.settings = budget(120, stateful_step_count=40)
test_page_table_matches_the_model_and_failed_calls_change_nothing = PageTableMachine.TestCase


def _without_flush(result: Any, last: Flush) -> Any:
    """A changing call's result as the model gives it: the `Flush` it returns (checked equal
    to the table's `last_flush`, which the model's flush list is compared with) taken off."""
    if isinstance(result, Flush):
        assert result == last
        return None
    if isinstance(result, tuple) and result and isinstance(result[-1], Flush):
        assert result[-1] == last
        rest = result[:-1]
        return rest[0] if len(rest) == 1 else rest
    return result
