"""Long address traces through the machine's TLB and walk caches: hit rate, walks, references per
walk and per access (all, and those that went to memory), page-size mix, histograms.

A trace is fed in chunks (numpy arrays of gVAs and access kinds), so memory stays flat in its
length. Each distinct 4 KiB page is walked once, without side effects (like `translate`), and its
references kept as a plan; then the accesses replay through `tlb.TlbReplay` — the TLB's own
policy — and every TLB miss runs its plan through a fresh copy of the machine's walk caches.
The machine's own TLB, caches and tables are left untouched (`TraceMapper` maps pages first when
the trace comes from a program rather than from the scenario's own mappings).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import PagingError
from .flags import Access, MappingFlags, Priv
from .tlb import TlbReplay
from .walk_cache import Ref, WalkCaches

if TYPE_CHECKING:
    from .machine import Machine

PATTERNS = ("sequential", "random", "stride")
#: sequential traces step one cache line at a time
LINE = 64
#: access kinds in a trace's `kinds` array
READ, WRITE, EXEC = 0, 1, 2
KIND_NAMES = ("read", "write", "exec")
_ACCESS = (Access.READ, Access.WRITE, Access.EXEC)
#: accesses per point of the references-per-access series
WINDOW = 1 << 16
#: the histogram of memory references per walk has bins 0..HIST_MAX (the last: that or more)
HIST_MAX = 24


@dataclass(slots=True)
class TraceStats:
    accesses: int = 0
    hits: int = 0
    walks: int = 0
    faults: int = 0
    refs: int = 0  # page-table entry reads of all the walks
    mem_refs: int = 0  # those no walk cache served
    kinds: dict[str, int] = field(default_factory=dict)  # read/write/exec -> accesses
    page_sizes: dict[int, int] = field(default_factory=dict)  # page size -> accesses
    served: dict[str, int] = field(default_factory=dict)  # walk cache -> references served
    walk_hist: list[int] = field(default_factory=lambda: [0] * (HIST_MAX + 1))
    series: list[float] = field(default_factory=list)  # memory refs per access, per WINDOW
    # the same for the accesses to pages of each size (None: no access to one in that window)
    series_by_size: dict[int, list[float | None]] = field(default_factory=dict)
    distinct_pages: int = 0
    native: bool = False
    seconds: float = 0.0

    @property
    def hit_rate(self) -> float:
        return self.hits / self.accesses if self.accesses else 0.0

    @property
    def refs_per_access(self) -> float:
        return self.refs / self.accesses if self.accesses else 0.0

    @property
    def mem_refs_per_access(self) -> float:
        return self.mem_refs / self.accesses if self.accesses else 0.0

    @property
    def refs_per_walk(self) -> float:
        return self.refs / self.walks if self.walks else 0.0

    @property
    def mem_refs_per_walk(self) -> float:
        return self.mem_refs / self.walks if self.walks else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "accesses": self.accesses,
            "hits": self.hits,
            "walks": self.walks,
            "faults": self.faults,
            "hit_rate": round(self.hit_rate, 6),
            "refs": self.refs,
            "mem_refs": self.mem_refs,
            "refs_per_access": round(self.refs_per_access, 4),
            "mem_refs_per_access": round(self.mem_refs_per_access, 4),
            "refs_per_walk": round(self.refs_per_walk, 4),
            "mem_refs_per_walk": round(self.mem_refs_per_walk, 4),
            "kinds": dict(self.kinds),
            "page_sizes": {f"{k:#x}": v for k, v in sorted(self.page_sizes.items())},
            "served": dict(sorted(self.served.items())),
            "mem_refs_per_walk_histogram": list(self.walk_hist),
            "series_window": WINDOW,
            "mem_refs_per_access_series": [round(x, 4) for x in self.series],
            "mem_refs_per_access_series_by_size": {
                f"{size:#x}": [None if x is None else round(x, 4) for x in values]
                for size, values in sorted(self.series_by_size.items())
            },
            "distinct_pages": self.distinct_pages,
            "native": self.native,
            "seconds": round(self.seconds, 4),
        }


def addresses(gva: int, size: int, count: int, pattern: str, stride: int, seed: int) -> np.ndarray:
    """The trace's guest virtual addresses (uint64)."""
    if pattern not in PATTERNS:
        raise PagingError(
            "InvalidRequest", f"trace pattern {pattern!r} (allowed: {', '.join(PATTERNS)})"
        )
    if size <= 0 or count <= 0:
        raise PagingError("InvalidRequest", "trace size and count must be positive")
    if not (0 <= gva and gva + size <= 1 << 64 and 0 <= stride < 1 << 64):
        raise PagingError(
            "InvalidAddress",
            f"trace [{gva:#x}, +{size:#x}) stride {stride:#x} leaves the 64-bit address space",
        )
    if pattern == "random" and size < 8:  # random offsets are 8-byte aligned
        raise PagingError("InvalidRequest", "a random trace needs size of at least 8 bytes")
    i = np.arange(count, dtype=np.uint64)
    if pattern == "random":
        offsets = np.random.default_rng(seed).integers(0, size // 8, count, dtype=np.uint64) * 8
    else:
        step = LINE if pattern == "sequential" else stride
        offsets = (i * np.uint64(step)) % np.uint64(size)
    return offsets + np.uint64(gva)


@dataclass(slots=True)
class _Plan:
    """One 4 KiB page's walk, as the replay needs it."""

    gva: int
    ok: bool
    size: int  # effective page size (the TLB entry's); 4 KiB for a fault
    refs: list[Ref]  # every reference (only kept when there are walk caches to run them by)
    refs_s2hit: list[Ref]  # without the final gPA's stage-2 walk (a stage-2-only TLB hit)
    n_refs: int
    n_s2hit: int
    s2_key: int  # the stage-2-only TLB entry of the final gPA (-1: none)
    s2_set: int
    s1_tracked: bool  # the stage-1 leaf lacks D (a write sets it)
    s2_tracked: bool
    s1_fault: bool


class TraceReplay:
    """Replays chunks of a trace over `machine`'s tables with its TLB geometry and walk caches
    (fresh, cold copies); `native` counts the guest's own references only, as if stage 2 were
    off; `mapper` maps each page the first time it appears."""

    def __init__(
        self,
        machine: Machine,
        *,
        priv: Priv | str = Priv.KERNEL,
        native: bool = False,
        mapper: TraceMapper | None = None,
    ) -> None:
        self.m = machine
        self.mapper = mapper
        self.priv = Priv.parse(priv)
        self.native = native
        cfg = machine.config
        self.tlb = TlbReplay(cfg.tlb_entries, cfg.tlb_ways if cfg.tlb_enabled else 0)
        self.caches = WalkCaches.build(
            cfg.walk_cache_preset, cfg.walk_cache_specs, machine.s1, machine.s2
        )
        self.vmid, self.asid = machine.tag_vmid, machine.asid
        self.plans: list[_Plan] = []
        # planned 4 KiB page numbers, ascending, with their plans' indices and columns by index
        self._known = np.empty(0, dtype=np.uint64)
        self._known_pid = np.empty(0, dtype=np.int64)
        self._shift = np.empty(0, dtype=np.int64)  # log2 of the TLB entry's size
        self._ok = np.empty(0, dtype=bool)
        self._tracked: dict[tuple[int, int, int], bool] = {}
        self._written1: set[int] = set()  # combined keys whose leaf D a write has set
        self._written2: set[int] = set()  # stage-2-only keys likewise
        self._accesses_by: dict[tuple[int, int], int] = {}  # (window, log2 size) -> accesses
        self._mem_by: dict[tuple[int, int], float] = {}  # ... -> memory references
        self.stats = TraceStats(native=native)
        self._start = time.perf_counter()

    # ------------------------------------------------------------------ plans

    def _plan(self, page: int) -> _Plan:
        walk = self.m.walker.translate(page << 12, Access.READ, self.priv, side_effects=False)
        steps = [s for s in walk.steps if s.stage == 1] if self.native else walk.steps
        n_refs = len(steps)
        n_s2hit = n_refs - sum(1 for s in steps if s.stage == 2 and s.for_depth is None)
        refs: list[Ref] = []
        s2hit: list[Ref] = []
        if self.caches is not None:
            refs = self.caches.refs(steps, walk.gva, walk.gpa)
            s2hit = [r for r in refs if r.sub != -2]
        # natively no stage 2 splits a guest page: the TLB entry covers the guest's whole page
        covers = walk.s1_size if self.native else walk.page_size
        size = covers if walk.ok and covers else 0x1000
        s2_key = s2_set = -1
        if walk.ok and not self.native:
            assert walk.gpa is not None and walk.s2_size is not None
            base = walk.gpa & ~(walk.s2_size - 1)
            s2_key = self.tlb.key(base, walk.s2_size, stage2=True)
            s2_set = self.tlb.set_of(base, walk.s2_size)
        tracked = [False, False]
        for stage, fmt in ((1, self.m.s1), (2, self.m.s2)):
            leaf = next((s for s in reversed(walk.steps) if s.stage == stage), None)
            if walk.ok and leaf is not None and leaf.outcome == "leaf":
                # entries that differ only in address bits read alike (`Readings.keep`)
                memo = (stage, leaf.depth, leaf.raw & leaf.readings.keep[leaf.depth])
                known = self._tracked.get(memo)
                if known is None:
                    known = self._tracked[memo] = fmt.dirty_tracked(leaf.decoded)
                tracked[stage - 1] = known
        s1_fault = walk.fault is not None and walk.fault.stage == 1
        return _Plan(
            page << 12, walk.ok, size, refs, s2hit, n_refs, n_s2hit, s2_key, s2_set, tracked[0],
            tracked[1], s1_fault,
        )  # fmt: skip

    def _plans_for(self, pages: np.ndarray) -> np.ndarray:
        """Plan indices for 4 KiB page numbers (uint64), planning those not seen before."""
        known = self._known
        at = np.minimum(np.searchsorted(known, pages), max(len(known) - 1, 0))
        found = known[at] == pages if len(known) else np.zeros(len(pages), dtype=bool)
        if found.all():
            return self._known_pid[at]
        new = np.unique(pages[~found])
        if self.mapper is not None:
            self.mapper.map_pages(new)
        first = len(self.plans)
        plans = [self._plan(page) for page in new.tolist()]
        self.plans.extend(plans)
        self._shift = np.append(self._shift, [p.size.bit_length() - 1 for p in plans])
        self._ok = np.append(self._ok, [p.ok for p in plans])
        pid = np.concatenate((self._known_pid, np.arange(first, len(self.plans))))
        merged = np.concatenate((known, new))
        order = np.argsort(merged, kind="stable")
        self._known, self._known_pid = merged[order], pid[order]
        return self._known_pid[np.searchsorted(self._known, pages)]

    # ------------------------------------------------------------------ replay

    def feed(self, addrs: np.ndarray, kinds: np.ndarray | None = None) -> None:
        """Replay one chunk: `addrs` gVAs (uint64), `kinds` READ/WRITE/EXEC per access (uint8;
        None: all reads)."""
        n = len(addrs)
        if not n:
            return
        addrs = np.asarray(addrs, dtype=np.uint64)
        if kinds is None:
            kinds = np.zeros(n, dtype=np.uint8)
        st = self.stats
        offset = st.accesses
        st.accesses += n
        for k, c in enumerate(np.bincount(kinds, minlength=3)[:3].tolist()):
            if c:
                st.kinds[KIND_NAMES[k]] = st.kinds.get(KIND_NAMES[k], 0) + c
        # an access to the entry the access before used hits, unless it is a write after a
        # non-write (the entry may be clean) or its page faults (never filled): segments of
        # one 4 KiB page and no such write are decided by their first access
        pages = addrs >> np.uint64(12)
        write = kinds == WRITE
        cut = np.empty(n, dtype=bool)
        cut[0] = True
        cut[1:] = (pages[1:] != pages[:-1]) | (write[1:] & ~write[:-1])
        first = np.flatnonzero(cut)
        length = np.diff(np.append(first, n))
        pid = self._plans_for(pages[first])
        shift, ok = self._shift[pid], self._ok[pid]
        for bits, total in enumerate(np.bincount(shift, weights=length).tolist()):
            if total:
                st.page_sizes[1 << bits] = st.page_sizes.get(1 << bits, 0) + int(total)
        number = pages[first] >> (shift - 12).astype(np.uint64)  # the entry's page number
        keys = (number << shift.astype(np.uint64)) | shift.astype(np.uint64)
        sets = (number % np.uint64(max(self.tlb.nsets, 1))).astype(np.int64)
        wfirst = write[first]
        head = np.ones(len(first), dtype=bool)
        head[1:] = (keys[1:] != keys[:-1]) | (wfirst[1:] & ~write[first[1:] - 1])
        rows_mask = np.zeros(n, dtype=bool)
        rows_mask[first[head | ~ok]] = True
        if self.tlb.nsets == 0 or self.tlb.ways == 1:  # every access walks, or may: one way
            # holds the combined or the stage-2-only entry of a walk, not both
            rows_mask[:] = True
        elif not ok.all():  # every access to a faulting page walks
            rows_mask |= np.repeat(~ok, length)
        rows = np.flatnonzero(rows_mask)
        seg_of = np.cumsum(cut) - 1
        seg = seg_of[rows]
        # rows whose next access, left out above, hits the same entry: after a miss it makes
        # the combined entry more recent than the stage-2-only one filled after it
        then_hit = np.zeros(n, dtype=bool)
        then_hit[:-1] = keys[seg_of[1:]] == keys[seg_of[:-1]]
        then_hit[:-1] &= ~rows_mask[1:]
        if self.tlb.ways >= 3:
            keep = ~_alternating(keys[seg], write[rows], ok[seg])
            rows, seg = rows[keep], seg[keep]
        walked, mem = self._run(
            keys[seg].tolist(), sets[seg].tolist(), write[rows].tolist(), pid[seg].tolist(),
            then_hit[rows].tolist(),
        )  # fmt: skip
        st.hits += n - len(walked)
        self._series(offset, shift, length, rows[walked], shift[seg[walked]], mem)

    def _run(
        self, keys: list[int], sets: list[int], writes: list[bool], pids: list[int],
        then_hit: list[bool],
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Accesses that may miss, in order → (those that walked, memory refs of each walk)."""
        tlb_sets, ways_max, plans, caches = self.tlb.sets, self.tlb.ways, self.plans, self.caches
        written1, written2 = self._written1, self._written2
        mems = [-1] * len(keys)  # memory references of each access that walked
        refs_total = faults = 0
        for row, key, index, w, pid, bump in zip(count(), keys, sets, writes, pids, then_hit):
            if tlb_sets:  # TlbReplay.hit, inlined: this loop runs once per access that may miss
                ways = tlb_sets[index]
                dirty = ways.pop(key, None)
                if dirty is not None and (dirty or not w):
                    ways[key] = dirty
                    continue
            plan = plans[pid]
            s2_key = plan.s2_key
            s2hit = False
            if s2_key >= 0 and tlb_sets:  # the final gPA in a stage-2-only entry (`hit`)
                ways2 = tlb_sets[plan.s2_set]
                dirty = ways2.pop(s2_key, None)
                if dirty is not None and (dirty or not w):
                    ways2[s2_key] = dirty
                    s2hit = True
            if caches is not None:
                mem = self._cached_walk(caches, plan, s2hit)
                refs_total += plan.n_s2hit if s2hit else plan.n_refs
            else:
                mem = plan.n_s2hit if s2hit else plan.n_refs
            mems[row] = mem
            if not plan.ok:
                faults += 1
                continue
            if w:
                written1.add(key)
                written2.add(s2_key)
            # as `Tlb.miss`: a read-filled entry serves writes only if no leaf lacks D (and
            # with the final gPA from a stage-2-only entry, the walk saw no stage-2 leaf)
            s2_dirty = w or not plan.s2_tracked or s2_key in written2
            dirty = w or (not s2hit and s2_dirty and (not plan.s1_tracked or key in written1))
            if not tlb_sets:
                continue
            # TlbReplay.fill, inlined (twice); the look-ups above took both keys out already
            ways = tlb_sets[index]
            if len(ways) >= ways_max:
                del ways[next(iter(ways))]
            ways[key] = dirty
            if s2_key >= 0 and not s2hit:
                ways = tlb_sets[plan.s2_set]
                if len(ways) >= ways_max:
                    del ways[next(iter(ways))]
                ways[s2_key] = s2_dirty
                if bump and plan.s2_set == index and key in ways:  # `then_hit`: the next
                    ways[key] = ways.pop(key)  # access hits the combined entry, most recent
        every = np.array(mems, dtype=np.int64)
        walked = np.flatnonzero(every >= 0)
        mem_at = every[walked]
        self._count(len(walked), faults, mem_at, refs_total if caches is not None else None)
        return walked, mem_at

    def _cached_walk(self, caches: WalkCaches, plan: _Plan, s2hit: bool) -> int:
        """One walk through the walk caches: the references that went to memory."""
        served, _ = caches.account(
            plan.refs_s2hit if s2hit else plan.refs, plan.gva, self.vmid, self.asid
        )
        counts = self.stats.served
        for name in served:
            if name is not None:
                counts[name] = counts.get(name, 0) + 1
        if plan.s1_fault:
            caches.forget(plan.gva, self.vmid, self.asid)
        return served.count(None)

    def _count(self, walks: int, faults: int, mem_at: np.ndarray, refs: int | None) -> None:
        """Add one batch of walks to the statistics (`refs` None: no walk cache, so every
        reference went to memory)."""
        st = self.stats
        st.walks += walks
        st.faults += faults
        st.mem_refs += int(mem_at.sum())
        st.refs += int(mem_at.sum()) if refs is None else refs
        hist = np.bincount(np.minimum(mem_at, HIST_MAX), minlength=HIST_MAX + 1).tolist()
        st.walk_hist = [a + b for a, b in zip(st.walk_hist, hist, strict=True)]

    def _series(
        self,
        offset: int,
        shift: np.ndarray,
        length: np.ndarray,
        walked: np.ndarray,
        walked_shift: np.ndarray,
        mem: np.ndarray,
    ) -> None:
        """Accesses and memory references per window of WINDOW accesses and page size: the
        chunk starts at `offset` in the trace, runs of `length` accesses to pages of
        2**`shift` bytes; the walks at positions `walked` (in the chunk) made `mem` references
        to memory."""
        n = int(length.sum())
        low = offset // WINDOW
        window = (offset + np.arange(n, dtype=np.int64)) // WINDOW - low
        counts = np.bincount(window * 64 + np.repeat(shift, length))
        sums = np.bincount(((offset + walked) // WINDOW - low) * 64 + walked_shift, weights=mem)
        for code in np.flatnonzero(counts).tolist():
            at = (low + code // 64, code % 64)
            self._accesses_by[at] = self._accesses_by.get(at, 0) + int(counts[code])
        for code in np.flatnonzero(sums).tolist():
            at = (low + code // 64, code % 64)
            self._mem_by[at] = self._mem_by.get(at, 0.0) + float(sums[code])

    def finish(self) -> TraceStats:
        """The totals so far: the series per window (a partial last window too), overall and
        by page size."""
        st = self.stats
        windows = -(-st.accesses // WINDOW)
        mem = [0.0] * windows
        accesses = [0] * windows
        by_size: dict[int, list[float | None]] = {}
        for (window, shift), n in sorted(self._accesses_by.items()):
            refs = self._mem_by.get((window, shift), 0.0)
            mem[window] += refs
            accesses[window] += n
            by_size.setdefault(1 << shift, [None] * windows)[window] = refs / n
        st.series = [m / a for m, a in zip(mem, accesses, strict=True)]
        st.series_by_size = by_size
        st.distinct_pages = len(self.plans)
        st.seconds = time.perf_counter() - self._start
        return st


def _alternating(keys: np.ndarray, write: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Accesses in an A B A B … run that need no simulation (a set of 3 or more ways).

    An access to A at i is a sure hit when A was accessed at i-2 and only B at i-1: B (and, on
    B's miss, its stage-2-only entry) entered A's set since, so with 3+ ways A is still there
    (it can be filled, and it is no write that may find a clean entry: its predecessor on A
    was a write). Skipping it leaves A's recency stale, which is harmless when nothing may
    evict before A's next access: the access between is B again, which hits (only A moved
    since B's last access) — so an access is skipped inside A B A B A, not A B A C A (C's fill
    could evict A where the skipped access would have saved it)."""
    n = len(keys)
    skip = np.zeros(n, dtype=bool)
    if n < 5:
        return skip
    same = np.zeros(n, dtype=bool)  # keys[i] == keys[i-2] != keys[i-1], a hit for sure
    same[2:] = (keys[2:] == keys[:-2]) & (keys[2:] != keys[1:-1]) & ok[2:] & ok[:-2]
    same[2:] &= ~write[2:] | write[:-2]
    skip[2:-2] = same[2:-2] & same[4:] & (keys[1:-3] == keys[3:-1])
    return skip


def run_trace(
    machine: Machine,
    gva: int,
    size: int,
    count: int,
    *,
    pattern: str = "sequential",
    stride: int = 0x1000,
    seed: int = 0,
    access: str = "read",
    priv: str = "kernel",
) -> TraceStats:
    """Replay `count` generated accesses over [gva, gva+size) on the machine's own tables."""
    kind = _ACCESS.index(Access.parse(access))
    addrs = addresses(gva, size, count, pattern, stride, seed)
    replay = TraceReplay(machine, priv=priv)
    replay.feed(addrs, np.full(len(addrs), kind, dtype=np.uint8))
    return replay.finish()


# ---------------------------------------------------------------------------- a program's pages

#: where the mapper puts the trace's guest-physical pages, and their host-physical frames
DATA_GPA = 0x4000_0000
DATA_HPA = 0x40_0000_0000
SIZES = {"4K": 0x1000, "2M": 0x20_0000, "1G": 0x4000_0000}


class TraceMapper:
    """Maps a program's pages as they first appear: each stage-1 region (`s1` bytes) of the
    trace gets the next guest-physical slot above DATA_GPA, each stage-2 region (`s2` bytes)
    of those a linear mapping at DATA_HPA + offset; pages `rwx` at both stages."""

    def __init__(self, machine: Machine, s1: int, s2: int) -> None:
        self.m, self.s1, self.s2 = machine, s1, s2
        self._slot: dict[int, int] = {}
        self._s2_done: set[int] = set()

    def map_pages(self, pages: np.ndarray) -> None:
        """Map the distinct 4 KiB gVA page numbers `pages` (ascending) not mapped yet."""
        s1, s2 = self.s1, self.s2
        regions = np.unique((pages << np.uint64(12)) & ~np.uint64(s1 - 1)).tolist()
        new = [r for r in regions if r not in self._slot]
        for run in _runs(new, s1 if s1 == 0x1000 else 0):
            gpa = DATA_GPA + len(self._slot) * s1
            for k, r in enumerate(run):
                self._slot[r] = gpa + k * s1
            self.m.map(1, run[0], len(run) * s1, MappingFlags.parse("rwx"), gpa=gpa,
                       huge=s1 > 0x1000)  # fmt: skip
        gpas = sorted({
            (self._slot[r] + o) & ~(s2 - 1)
            for r in new
            for o in range(0, s1, max(s2, 0x1000) if s1 > s2 else s1)
        })  # fmt: skip
        todo = [g for g in gpas if g not in self._s2_done]
        for run in _runs(todo, s2 if s2 == 0x1000 else 0):
            self.m.map(2, run[0], len(run) * s2, MappingFlags.parse("rwx"), backend="linear",
                       hpa=DATA_HPA + run[0] - DATA_GPA, huge=s2 > 0x1000)  # fmt: skip
            self._s2_done.update(run)


def _runs(starts: list[int], step: int) -> list[list[int]]:
    """Ascending region starts grouped into runs `step` apart (step 0: one region per run, so a
    run of large pages never merges into a larger one)."""
    runs: list[list[int]] = []
    for s in starts:
        if step and runs and s == runs[-1][-1] + step:
            runs[-1].append(s)
        else:
            runs.append([s])
    return runs


def replay_chunks(
    replay: TraceReplay, chunks: Any, progress: Callable[[int], None] | None = None
) -> TraceStats:
    """Feed `chunks` of (addrs, kinds) to `replay`; `progress` hears each chunk's length."""
    for addrs, kinds in chunks:
        replay.feed(addrs, kinds)
        if progress is not None:
            progress(len(addrs))
    return replay.finish()
