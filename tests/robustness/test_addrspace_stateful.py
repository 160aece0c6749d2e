"""AddrSpace (the hypervisor's stage 2) under random call sequences over every stage-2 format and
both encodings, against a page-level dict model, with errors injected: misaligned and
out-of-range regions, overlapping regions, empty regions, host addresses beyond the output
width, partial unmaps/protects of huge linear pages, and NoMemory from a tiny frame budget.

A failed call leaves host memory, the table's frames, the allocator, the areas, the data
frames and `last_flush` exactly as before. After every call the stage-2 table, read straight
from host memory, maps exactly the model's pages, and the frame counts add up.

The page model covers flags whose entries are present, read back without the seed's panic and
(huge) are recognised by the seed's `is_huge`; test_addrspace_any_flags.py runs all 64 flag sets
against what holds for any flags (atomicity, a tree of own frames, frame counts, destroy).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

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
    FrameAllocator,
    MappingFlags,
    PageTable,
    PagingError,
    PhysicalMemory,
    SeedPanic,
)
from npt_explorer.engine.addrspace import AddrSpace
from npt_explorer.engine.formats import Encoding, PagingFormat

K4, M2 = 0x1000, 0x20_0000
STAGE2_SPECS = [s for s in FORMAT_SPECS if s[1] in ("ept", "aarch64-s2", "sv39x4", "sv48x4")] + [
    s for s in FORMAT_SPECS if s[0] == "sv39 G-stage"
]
ACCESS = st.sampled_from([MappingFlags.READ, MappingFlags.WRITE, MappingFlags.EXECUTE])


def usable_flags(fmt: PagingFormat, encoding: Encoding) -> list[MappingFlags]:
    """Flags whose 4 KiB and huge entries are present, read back without the seed's panic,
    and whose huge entries the seed's `is_huge` recognises (the ones the page model covers)."""
    out = []
    huge_depth = fmt.depth_for_size(M2)  # None: no huge pages (teach), only 4 KiB entries count
    for value in range(64):
        flags = MappingFlags(value)
        small = fmt.new_page(0x4000_0000, flags, False, encoding)
        huge = fmt.new_page(0x4000_0000, flags, True, encoding)
        if not fmt.seed_present(small) or (
            huge_depth is not None and not (fmt.seed_present(huge) and fmt.seed_huge(huge))
        ):
            continue
        try:
            fmt.read_flags(small, encoding, fmt.leaf_depth)
            if huge_depth is not None:
                fmt.read_flags(huge, encoding, huge_depth)
        except SeedPanic:
            continue
        out.append(flags)
    return out


@dataclass(frozen=True)
class Page:
    backend: str  # linear | alloc
    hpa: int | None  # linear: the host page
    flags: MappingFlags
    populate: bool = True  # the area's populate (alloc)
    backed: bool = True  # alloc: a frame is mapped (populated, or a handled fault)


class AddrSpaceMachine(RuleBasedStateMachine):
    @initialize(
        spec=st.sampled_from(STAGE2_SPECS),
        encoding=st.sampled_from(list(Encoding)),
        window=st.booleans(),
        budget_frames=st.one_of(st.none(), st.none(), st.integers(0, 8)),
    )
    def setup(self, spec: Any, encoding: Encoding, window: bool, budget_frames: int | None) -> None:
        self.fmt = make_format(spec)
        self.memory = PhysicalMemory()
        self.alloc = FrameAllocator(self.memory)
        pt = PageTable(self.fmt, self.memory, self.alloc, encoding)
        base, size = (0x10_0000, 0x400_0000) if window else (0, 1 << self.fmt.input_bits)
        self.space = AddrSpace(pt, base, size, self.memory, self.alloc)
        self.flags = self.flag_strategy(encoding)
        self.pages: dict[int, Page] = {}
        self.set_budget(budget_frames)
        anchors = [base, base + M2, base + 4 * M2, base + size - M2]
        near = st.tuples(st.sampled_from(anchors), st.integers(0, 1), st.integers(0, 5)).map(
            lambda t: t[0] + t[1] * M2 + t[2] * K4
        )
        wrong = st.sampled_from([base - K4, base + size, base + size - K4, 1 << 63, base + 0x800])
        self.gpa = weighted((7, near), (1, wrong))
        top = 1 << self.fmt.output_bits
        good_hpa = st.tuples(st.integers(0, 3), st.integers(0, 5)).map(
            lambda t: 0x8000_0000 + t[0] * M2 + t[1] * K4
        )
        bad_hpa = st.sampled_from([0x8000_0800, top - K4, top])
        self.hpa = weighted((6, good_hpa), (1, bad_hpa))
        good_size = st.one_of(
            st.integers(1, 6).map(lambda n: n * K4), st.sampled_from([M2, M2 + K4, 2 * M2])
        )
        self.sizes = weighted((8, good_size), (1, st.sampled_from([0, -K4, 0x800])))
        count(f"addrspace runs: {spec[0]} {encoding}")

    def flag_strategy(self, encoding: Encoding) -> st.SearchStrategy[MappingFlags]:
        """The flags the page model covers."""
        return st.sampled_from(usable_flags(self.fmt, encoding))

    def set_budget(self, extra: int | None) -> None:
        self.alloc.limit = None if extra is None else self.alloc.in_use + extra

    # ------------------------------------------------------------------ the harness

    def _state(self) -> tuple:
        s = self.space
        return (
            memory_image(self.memory),
            dict(s.pt.tables),
            frozenset(self.alloc._in_use),
            list(s.areas),
            s.data_frames,
            flush_state(s.pt),
        )

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        before = self._state()
        try:
            result = getattr(self.space, name)(*args, **kwargs)
        except PagingError as err:
            count(f"addrspace: {name} errors")
            count(f"addrspace errors: {err.kind}")
            assert self._state() == before, f"{name}{args} failed with {err} and changed state"
            return err
        count(f"addrspace: {name} ok")
        return result

    def _precheck(self, gpa: int, size: int, hpa: int = 0) -> str | None:
        """The error `_check` must raise, in the seed's order: range, then alignment."""
        s = self.space
        if size <= 0:
            return "InvalidRequest"
        if not s.contains_range(gpa, size):
            return "InvalidAddress"
        if gpa % K4 or size % K4 or hpa % K4:
            return "NotAligned"
        return None

    def _overlaps(self, gpa: int, size: int) -> bool:
        return any(gpa <= p < gpa + size for p in self.pages)

    # ------------------------------------------------------------------ rules

    @rule(data=st.data(), huge=st.booleans())
    def map_linear(self, data: st.DataObject, huge: bool) -> None:
        gpa, hpa, size = data.draw(self.gpa), data.draw(self.hpa), data.draw(self.sizes)
        flags = data.draw(self.flags)
        want = self._precheck(gpa, size, hpa) or (
            "AlreadyMapped" if self._overlaps(gpa, size) else None
        )
        if want is None and not self.fmt.check_output(hpa + size - 1):
            want = "InvalidAddress"
        got = self.call("map_linear", gpa, hpa, size, flags, huge=huge)
        if isinstance(got, PagingError):
            # NoMemory from the budget; AlreadyMapped where a huge page meets a table that
            # an earlier 4 KiB mapping left behind (the seed keeps emptied tables)
            assert (
                want == got.kind
                or (want is None and got.kind in ("NoMemory", "AlreadyMapped") and huge)
                or (want is None and got.kind == "NoMemory")
            ), (got, want)
            return
        assert want is None, want
        for off in range(0, size, K4):
            self.pages[gpa + off] = Page("linear", hpa + off, flags)

    @rule(data=st.data(), populate=st.booleans())
    def map_alloc(self, data: st.DataObject, populate: bool) -> None:
        gpa, size, flags = data.draw(self.gpa), data.draw(self.sizes), data.draw(self.flags)
        want = self._precheck(gpa, size) or ("AlreadyMapped" if self._overlaps(gpa, size) else None)
        got = self.call("map_alloc", gpa, size, flags, populate)
        if isinstance(got, PagingError):
            assert want == got.kind or (want is None and got.kind == "NoMemory"), (got, want)
            return
        assert want is None, want
        for off in range(0, size, K4):
            self.pages[gpa + off] = Page("alloc", None, flags, populate, populate)

    @rule(data=st.data())
    def unmap(self, data: st.DataObject) -> None:
        gpa, size = self._range(data)
        want = self._precheck(gpa, size)
        got = self.call("unmap", gpa, size)
        if isinstance(got, PagingError):
            assert want == got.kind or (want is None and got.kind == "NoMemory"), (got, want)
            return
        assert want is None, want
        for p in range(gpa, gpa + size, K4):
            self.pages.pop(p, None)

    @rule(data=st.data())
    def protect(self, data: st.DataObject) -> None:
        gpa, size = self._range(data)
        flags = data.draw(self.flags)
        want = self._precheck(gpa, size)
        got = self.call("protect", gpa, size, flags)
        if isinstance(got, PagingError):
            assert want == got.kind or (want is None and got.kind == "NoMemory"), (got, want)
            return
        assert want is None, want
        for p in range(gpa, gpa + size, K4):
            if p in self.pages:
                self.pages[p] = replace(self.pages[p], flags=flags)

    @rule(data=st.data(), access=ACCESS)
    def handle_page_fault(self, data: st.DataObject, access: MappingFlags) -> None:
        gpa = self._target(data) + data.draw(st.sampled_from([0, 8, 0xFF8]))
        page = self.pages.get(gpa & ~(K4 - 1))
        want = (
            page is not None
            and self.space.base <= gpa < self.space.end
            and not access & ~page.flags
            and page.backend == "alloc"
            and not page.populate
            and not page.backed
        )
        got = self.call("handle_page_fault", gpa, access)
        if isinstance(got, PagingError):
            assert want and got.kind == "NoMemory", got
            return
        assert got == want
        if got:
            self.pages[gpa & ~(K4 - 1)] = replace(page, backed=True)

    @rule(data=st.data())
    def translate(self, data: st.DataObject) -> None:
        gpa = self._target(data) + data.draw(st.sampled_from([0, 8, 0xFF8]))
        got = self.call("translate", gpa)
        page = self.pages.get(gpa & ~(K4 - 1))
        if page is None or not page.backed:
            assert got is None
        elif page.backend == "linear":
            assert got == page.hpa + (gpa & 0xFFF)
        else:
            assert got is not None and (got & ~0xFFF) in self.space.data_frames

    @rule(data=st.data(), payload=st.binary(min_size=1, max_size=24))
    def write_then_read(self, data: st.DataObject, payload: bytes) -> None:
        gpa = self._target(data) + data.draw(st.sampled_from([0, 0xFF8, 0xFFF]))
        got = self.call("write", gpa, payload)
        pages = {p & ~(K4 - 1) for p in (gpa, gpa + len(payload) - 1)}
        backed = all(p in self.pages and self.pages[p].backed for p in pages)
        if isinstance(got, PagingError):
            assert got.kind == "NotMapped" and not backed
            return
        assert backed and self.space.read(gpa, len(payload)) == payload

    @rule(extra=st.one_of(st.none(), st.integers(0, 4)))
    def budget(self, extra: int | None) -> None:
        self.set_budget(extra)

    def _target(self, data: st.DataObject) -> int:
        if self.pages and data.draw(st.integers(0, 3)):
            return data.draw(st.sampled_from(sorted(self.pages)))
        return data.draw(self.gpa)

    def _range(self, data: st.DataObject) -> tuple[int, int]:
        """Often a run of the model's pages, sometimes cut or widened by a page."""
        if self.pages and data.draw(st.integers(0, 2)):
            start = data.draw(st.sampled_from(sorted(self.pages)))
            size = data.draw(st.sampled_from([K4, 2 * K4, M2, M2 - K4, M2 + K4]))
            return start + data.draw(st.sampled_from([0, 0, K4, -K4])), size
        return data.draw(self.gpa), data.draw(self.sizes)

    # ------------------------------------------------------------------ invariants

    @precondition(lambda self: hasattr(self, "space"))
    @invariant()
    def tables_map_exactly_the_model(self) -> None:
        s, fmt = self.space, self.fmt
        count("addrspace: steps checked")
        assert s.frames_in_use == self.alloc.in_use
        leaves, _ = read_tables(s.pt)
        mapped: dict[int, int] = {}
        for (depth, base), raw in leaves.items():
            if not fmt.seed_present(raw):
                continue
            paddr, size = fmt.entry_paddr(raw), fmt.span(depth)
            for off in range(0, size, K4):
                mapped[base + off] = paddr + off
        want = {p for p, page in self.pages.items() if page.backed}
        assert set(mapped) == want
        frames = set()
        for p, page in self.pages.items():
            if page.backend == "linear":
                assert mapped[p] == page.hpa, hex(p)
            elif page.backed:
                frames.add(mapped[p])
        assert frames == s.data_frames  # distinct, all owned, none leaked
        covered = set()
        areas = sorted(s.areas, key=lambda a: a.start)
        for a, b in zip(areas, areas[1:], strict=False):
            assert a.end <= b.start
        for area in areas:
            assert s.contains_range(area.start, area.size)
            covered.update(range(area.start, area.end, K4))
        assert covered == set(self.pages)

    def teardown(self) -> None:
        if hasattr(self, "space"):
            self.alloc.limit = None
            self.space.destroy()
            assert self.alloc.in_use == 0 and self.space.frames_in_use == 0


AddrSpaceMachine.TestCase.settings = budget(100, stateful_step_count=30)
test_addrspace_matches_the_model_and_failed_calls_change_nothing = AddrSpaceMachine.TestCase
