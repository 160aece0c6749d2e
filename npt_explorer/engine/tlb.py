"""A tagged, set-associative LRU TLB with combined (gVA→hPA) and stage-2-only (gPA→hPA) entries,
and the invalidations each architecture defines (hardware.md §3.8, §5.7, §7.4).

Tags: x86 combined entries carry VPID and EPTP, guest-physical ones EPTP; ARM and RISC-V entries
carry VMID, and combined ones ASID (or global). In this model `vmid` holds the EPTP on x86 and
`asid` the VPID.

Staleness: each entry keeps its walk's footprint — the walk's steps: every table entry it read,
at both stages, with its host-physical address and value. A change to the tables reports the
table frames
it wrote (`Flush.frames`); `invalidate` looks only at entries that read something in those
frames and compares what they read with what memory holds now. No walk is repeated.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import PagingError
from .flags import Access, Priv
from .formats import AccessRequest, Decoded, EntryKind, PagingFormat, Role
from .memory import Frames, read_entry
from .walk import Walk, WalkStep


class TlbKind(StrEnum):
    """A combined gVA -> hPA entry, or a stage-2-only gPA -> hPA one (the JSON words)."""

    COMBINED = "combined"
    STAGE2 = "stage2"


COMBINED, STAGE2 = TlbKind.COMBINED, TlbKind.STAGE2


#: bits the hardware never reads: a TLB entry does not depend on them
_UNREAD = frozenset({Role.SOFTWARE, Role.IGNORED})


@dataclass(slots=True)
class TlbEntry:
    kind: TlbKind
    vmid: int  # VMID (ARM, RISC-V) or EPTP (x86)
    asid: int  # ASID (ARM, RISC-V) or VPID (x86); unused for stage2 entries
    global_: bool
    base: int  # gVA page (combined) or gPA page (stage2)
    size: int
    gpa: int  # gPA of the page
    hpa: int  # hPA of the page
    s1_acc: Any
    s2_acc: Any
    perms: str  # both stages' effective permissions, for display
    dirty: bool  # filled by a write: a later write needs no walk to set D
    stale: bool = False
    last_use: int = 0
    pcid: int = 0  # x86 PCID (`asid` holds the VPID there); 0 elsewhere
    reads: tuple[WalkStep, ...] = ()  # the walk's footprint: the entries it read, both stages

    def covers(self, addr: int) -> bool:
        return self.base <= addr < self.base + self.size

    def reads_in(self, frames: Collection[int]) -> bool:
        return any(step.entry_hpa & ~0xFFF in frames for step in self.reads)


@dataclass(frozen=True, slots=True)
class FlushScope:
    """Which entries one invalidation removes: a predicate over entries and the current tags."""

    kinds: frozenset[str]
    same_vmid: bool  # only the current VMID/EPTP
    same_asid: bool  # only the current ASID/VPID (globals survive unless `keep_global` is off)
    by_addr: str | None  # None | "va" | "gpa"
    addr_required: bool = False
    keep_global: bool = False  # global entries always survive
    same_pcid: bool = False  # x86: only the given PCID (and global entries, unless kept)
    doc: str = ""


_C, _S = frozenset({COMBINED}), frozenset({STAGE2})
_CS = _C | _S

#: flush.kind → scope, as each manual defines it
FLUSHES: dict[str, FlushScope] = {
    "invept-single": FlushScope(
        _CS, True, False, None, doc="guest-physical and combined mappings of the current EPTP"
    ),
    "invept-global": FlushScope(
        _CS, False, False, None, doc="guest-physical and combined mappings of every EPTP"
    ),
    "invvpid-addr": FlushScope(
        _C,
        False,
        True,
        "va",
        addr_required=True,
        doc="combined mappings of the current VPID for one linear address"
        " (never guest-physical ones)",
    ),
    "invvpid-single": FlushScope(
        _C, False, True, None, doc="all combined mappings of the current VPID"
    ),
    "invvpid-all": FlushScope(_C, False, False, None, doc="all combined mappings of every VPID"),
    "tlbi-ipas2e1is": FlushScope(
        _S,
        True,
        False,
        "gpa",
        addr_required=True,
        doc="stage-2-only entries for one IPA; combined entries survive",
    ),
    "tlbi-vmalls12e1is": FlushScope(
        _CS, True, False, None, doc="stage-1, stage-2 and combined entries of the VMID"
    ),
    "tlbi-vae1is": FlushScope(
        _C,
        True,
        True,
        "va",
        addr_required=True,
        doc="combined entries for one VA in the current ASID (and global)",
    ),
    "tlbi-vmalle1is": FlushScope(
        _C,
        True,
        False,
        None,
        doc="all stage-1 and combined entries of the VMID, not stage-2-only ones",
    ),
    "invvpid-single-retain-global": FlushScope(
        _C,
        False,
        True,
        None,
        keep_global=True,
        doc="INVVPID type 3: combined mappings of the current VPID except global ones",
    ),
    "invlpg": FlushScope(
        _C,
        True,
        True,
        "va",
        addr_required=True,
        same_pcid=True,
        doc="the guest's INVLPG: one page of the current VPID and PCID, global entries too",
    ),
    "invpcid": FlushScope(
        _C, True, True, None, doc="the guest's INVPCID; `type` (0-3) picks the scope below"
    ),
    "mov-cr3": FlushScope(
        _C,
        True,
        True,
        None,
        keep_global=True,
        same_pcid=True,
        doc="the guest's MOV to CR3: non-global entries of the new PCID unless no_flush",
    ),
    "tlbi-aside1is": FlushScope(
        _C, True, True, None, keep_global=True, doc="non-global entries of one ASID (`asid`)"
    ),
    "tlbi-vale1is": FlushScope(
        _C,
        True,
        True,
        "va",
        addr_required=True,
        doc="last-level entries for one VA in the ASID (and global); `asid` optional",
    ),
    "tlbi-vaae1is": FlushScope(
        _C, True, False, "va", addr_required=True, doc="entries for one VA in every ASID"
    ),
    "tlbi-alle1is": FlushScope(
        _CS, False, False, None, doc="every EL1&0 entry of every VMID, both stages"
    ),
    "hfence.gvma": FlushScope(
        _CS, True, False, "gpa", doc="G-stage entries, and combined entries whose gPA matches"
    ),
    "hfence.vvma": FlushScope(
        _C, True, False, "va", doc="VS-stage and combined entries of the current VMID only"
    ),
    # AMD SVM (APM Vol. 2 §15.16): entries are tagged by the guest's ASID (`asid` here)
    "invlpga": FlushScope(
        _C,
        False,
        True,
        "va",
        addr_required=True,
        doc="INVLPGA: the current ASID's mapping of one gVA",
    ),
    "tlb-control-flush-asid": FlushScope(
        _CS, True, False, None, doc="TLB_CONTROL=3 at VMRUN: every entry of this guest"
    ),
    "tlb-control-flush-all": FlushScope(
        _CS, False, False, None, doc="TLB_CONTROL=1 at VMRUN: the whole TLB, every ASID"
    ),
    # LoongArch INVTLB (Linux `enum invtlb_ops`); the VMID is the guest's GID
    "invtlb-all": FlushScope(
        _C, True, False, None, doc="a guest's INVTLB 0x0: its whole guest TLB (gVA -> gPA)"
    ),
    "invtlb-addr-gfalse-and-asid": FlushScope(
        _C,
        True,
        True,
        "va",
        addr_required=True,
        keep_global=True,
        doc="a guest's INVTLB 0x5: non-global entries of its ASID for one VA",
    ),
    "invtlb-gid-addr": FlushScope(
        _CS,
        True,
        False,
        "gpa",
        addr_required=True,
        doc="INVTLB_GID_ADDR (KVM kvm_flush_tlb_gpa): the GID's entries for one GPA",
    ),
    # the teaching machine: no instruction set, so two textbook operations (the handout: the
    # TLB caches only whole gVA => hPA translations)
    "flush-all": FlushScope(_CS, False, False, None, doc="teach: every entry of the TLB"),
    "flush-page": FlushScope(
        _C, True, False, "va", addr_required=True, doc="teach: the entries of one guest page"
    ),
    "invtlb-allgid": FlushScope(
        _CS, False, False, None, doc="INVTLB_ALLGID: every guest's gVA -> gPA and gPA -> hPA entry"
    ),
}


#: INVPCID by type (SDM Vol. 2A INVPCID; Vol. 3A 4.10.4.1), within the current VPID
INVPCID_SCOPES: dict[int, FlushScope] = {
    0: FlushScope(_C, True, True, "va", True, True, True, "individual address, not global"),
    1: FlushScope(_C, True, True, None, False, True, True, "single PCID, not global"),
    2: FlushScope(_C, True, True, None, doc="all PCIDs, global entries too"),
    3: FlushScope(_C, True, True, None, keep_global=True, doc="all PCIDs, not global"),
}


@dataclass(frozen=True, slots=True)
class TlbContext:
    """What a look-up or a fill needs from the machine: the current tags, both stages'
    formats, the page sizes either can map (smallest first), and whether a global leaf makes
    a global entry."""

    vmid: int
    asid: int
    pcid: int
    s1: PagingFormat
    s2: PagingFormat
    sizes: tuple[int, ...]
    global_ok: bool


@dataclass(slots=True)
class TlbStats:
    hits: int = 0
    misses: int = 0
    fills: int = 0
    evictions: int = 0
    flushes: int = 0
    stale_hits: int = 0


@dataclass(slots=True)
class Tlb:
    """`entries` slots in `entries // ways` sets of `ways`, least-recently-used replacement."""

    entries: int = 64
    ways: int = 4
    #: with PCIDs (x86, `ArchSpec.pcid_enable`): `asid` is the VPID, and a global entry is
    #: shared only across PCIDs of its VPID (SDM Vol. 3C 28.3.2); elsewhere a global entry
    #: matches every ASID of its VMID
    pcids: bool = False
    sets: list[list[TlbEntry]] = field(default_factory=list)
    stats: TlbStats = field(default_factory=TlbStats)
    clock: int = 0
    #: (readings, depth, entry class) -> (unread, status) bit masks, for `_outdated`
    _masks: dict[tuple[Any, int, int], tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sets = [[] for _ in range(self.entries // self.ways)]

    def _set_of(self, base: int, size: int) -> list[TlbEntry]:
        return self.sets[(base // size) % len(self.sets)]

    def all(self) -> list[TlbEntry]:
        return [e for s in self.sets for e in s]

    def clear(self) -> None:
        for s in self.sets:
            s.clear()

    def _tagged(self, entry: TlbEntry, asid: int, pcid: int) -> bool:
        """Does a combined entry serve the current ASID (x86: VPID and PCID)?"""
        if self.pcids:
            return entry.asid == asid and (entry.global_ or entry.pcid == pcid)
        return entry.global_ or entry.asid == asid

    def lookup(
        self, kind: str, addr: int, vmid: int, asid: int, sizes: Iterable[int], pcid: int = 0
    ) -> TlbEntry | None:
        """The entry that serves `addr` under these tags, now the most recently used."""
        entry = self.find(kind, addr, vmid, asid, sizes, pcid)
        if entry is not None:
            self.clock += 1
            entry.last_use = self.clock
        return entry

    def find(
        self, kind: str, addr: int, vmid: int, asid: int, sizes: Iterable[int], pcid: int = 0
    ) -> TlbEntry | None:
        """`lookup` without touching the LRU order."""
        for size in sizes:
            base = addr & ~(size - 1)
            for entry in self._set_of(base, size):
                if (
                    entry.kind == kind
                    and entry.size == size
                    and entry.base == base
                    and entry.vmid == vmid
                    and (kind == STAGE2 or self._tagged(entry, asid, pcid))
                ):
                    return entry
        return None

    def fill(self, entry: TlbEntry) -> None:
        ways = self._set_of(entry.base, entry.size)
        ways[:] = [
            e
            for e in ways
            if not (
                e.kind == entry.kind
                and e.base == entry.base
                and e.size == entry.size
                and e.vmid == entry.vmid
                and e.asid == entry.asid
                and e.pcid == entry.pcid
            )
        ]
        if len(ways) >= self.ways:
            ways.remove(min(ways, key=lambda e: e.last_use))
            self.stats.evictions += 1
        self.clock += 1
        entry.last_use = self.clock
        ways.append(entry)
        self.stats.fills += 1

    def drop(self, entry: TlbEntry) -> None:
        self._set_of(entry.base, entry.size).remove(entry)

    def flush(
        self,
        kind: str,
        addr: int | None,
        vmid: int,
        asid: int,
        pcid: int = 0,
        scope: FlushScope | None = None,
    ) -> list[TlbEntry]:
        """Remove what `kind` (or an explicit `scope`) invalidates, for the given tags; returns
        the removed entries."""
        scope = scope or FLUSHES.get(kind)
        if scope is None:
            raise PagingError(
                "InvalidRequest", f"unknown flush kind {kind!r} (allowed: {', '.join(FLUSHES)})"
            )
        if scope.addr_required and addr is None:
            raise PagingError("InvalidRequest", f"flush {kind} needs addr")
        removed = [e for e in self.all() if _in_scope(scope, e, addr, vmid, asid, pcid, self.pcids)]
        for e in removed:
            self.drop(e)
        self.stats.flushes += 1
        return removed

    # ------------------------------------------------------------ the policy a machine uses

    def hit(
        self, ctx: TlbContext, gva: int, access: Access, priv: Priv, ac: bool, via: str
    ) -> Walk | None:
        """A combined entry serving `gva`: a walk of no references, or None (a miss). A hit
        re-checks the access against the cached permissions; one they deny, or a write through
        an entry a read filled, drops the entry: the hardware walks again (to fault, or to set
        D)."""
        untagged = ctx.s1.untagged(gva, access)  # AArch64 TBI: the TLB never sees the tag
        entry = self.lookup(COMBINED, untagged, ctx.vmid, ctx.asid, ctx.sizes, pcid=ctx.pcid)
        if entry is None:
            return None
        s1_on = entry.s1_acc is not None  # None: stage 1 was off (Bare, SCTLR_EL1.M=0)
        user_page = s1_on and ctx.s1.user_page(entry.s1_acc)
        s1_req = AccessRequest(access, priv, ac=ac, via=via)
        s2_req = AccessRequest(access, priv, guest_user_page=user_page, ac=ac, via=via)
        denied = (s1_on and ctx.s1.allows(entry.s1_acc, s1_req)) or ctx.s2.allows(
            entry.s2_acc, s2_req
        )
        if denied or (access is Access.WRITE and not entry.dirty):
            self.drop(entry)
            return None
        offset = gva & (entry.size - 1)
        walk = Walk(
            gva, access, priv, gpa=entry.gpa + offset, hpa=entry.hpa + offset,
            s1_size=entry.size, s2_size=entry.size, s1_acc=entry.s1_acc, s2_acc=entry.s2_acc,
            tlb="hit", stale=entry.stale, ac=ac, via=via,
        )  # fmt: skip
        self.stats.hits += 1
        if entry.stale:
            self.stats.stale_hits += 1
            walk.note = "hit a stale TLB entry: the tables say otherwise"
        return walk

    def stage2_hit(
        self, ctx: TlbContext, gpa: int, write: bool = False
    ) -> tuple[int, Any, int, bool] | None:
        """The walker's look-up of a final gPA: (hPA, stage-2 accumulator, page size, stale)."""
        entry = self.lookup(STAGE2, gpa, ctx.vmid, 0, ctx.sizes)
        if entry is None:
            return None
        if write and not entry.dirty:
            # SDM Vol. 3C 28.3.5: every write to a gPA sets the EPT leaf's D; an entry a read
            # filled cannot serve it, so the hardware walks stage 2 again
            self.drop(entry)
            return None
        if entry.stale:
            self.stats.stale_hits += 1
        return entry.hpa + (gpa & (entry.size - 1)), entry.s2_acc, entry.size, entry.stale

    def miss(self, ctx: TlbContext, walk: Walk) -> None:
        """Count a walk on a miss; a successful one fills a combined entry and (unless a
        stage-2-only entry gave its final gPA) the stage-2-only entry."""
        walk.tlb = "miss"
        self.stats.misses += 1
        if not walk.ok:
            return
        s2_leaf = walk.steps[-1].decoded if walk.steps and walk.steps[-1].stage == 2 else None
        combined = self._combined(ctx, walk, s2_leaf)
        self.fill(combined)
        if not walk.s2_cached:  # the final gPA's stage-2 steps end the walk
            final = sum(1 for s in walk.steps if s.stage == 2 and s.for_depth is None)
            s2_size = walk.s2_size or 0x1000
            gpa, hpa = walk.gpa or 0, walk.hpa or 0
            self.fill(
                TlbEntry(
                    STAGE2,
                    ctx.vmid,
                    0,
                    False,
                    gpa & ~(s2_size - 1),
                    s2_size,
                    gpa & ~(s2_size - 1),
                    hpa & ~(s2_size - 1),
                    None,
                    walk.s2_acc,
                    ctx.s2.describe_perms(walk.s2_acc),
                    # serves a write unless the EPT/stage-2 leaf still needs D (SDM 3C 28.3.5)
                    walk.access is Access.WRITE
                    or (s2_leaf is not None and not ctx.s2.dirty_tracked(s2_leaf)),
                    reads=tuple(walk.steps[len(walk.steps) - final :]),
                )  # fmt: skip
            )

    def _combined(self, ctx: TlbContext, walk: Walk, s2_leaf: Decoded | None) -> TlbEntry:
        assert walk.gpa is not None and walk.hpa is not None
        size = walk.page_size or 0x1000
        leaf = next((s.decoded for s in reversed(walk.steps) if s.stage == 1), None)
        global_ = bool(leaf and _is_global(leaf)) and ctx.global_ok
        # the entry serves writes unless a leaf still needs its dirty bit set (or, with the
        # final gPA from a stage-2-only entry, we cannot tell)
        dirty = walk.access is Access.WRITE or (
            leaf is not None
            and s2_leaf is not None
            and not ctx.s1.dirty_tracked(leaf)
            and not ctx.s2.dirty_tracked(s2_leaf)
        )
        s1_perms = "stage 1 off" if walk.s1_acc is None else ctx.s1.describe_perms(walk.s1_acc)
        reads = tuple(walk.steps)
        if walk.s2_cached:  # the final gPA's stage-2 entries: those the serving entry read
            served = self.find(STAGE2, walk.gpa, ctx.vmid, 0, ctx.sizes)
            reads += () if served is None else served.reads
        return TlbEntry(
            COMBINED, ctx.vmid, ctx.asid, global_,
            ctx.s1.untagged(walk.gva, walk.access) & ~(size - 1), size,
            walk.gpa & ~(size - 1), walk.hpa & ~(size - 1), walk.s1_acc, walk.s2_acc,
            f"{s1_perms} / {ctx.s2.describe_perms(walk.s2_acc)}", dirty,
            stale=walk.stale, pcid=ctx.pcid, reads=reads,
        )  # fmt: skip

    # ------------------------------------------------------------ staleness

    def invalidate(self, frames: Collection[int], memory: Frames) -> None:
        """Tables changed in `frames` (host-physical, page-aligned; a `Flush`'s frames as the
        machine locates them): every entry whose walk read an entry there is stale exactly
        when one of the entries it read now says something else. An entry changed and then
        changed back is no longer stale; entries of every tag are judged, as the tables are
        shared memory."""
        if not frames:
            return
        for entry in self.all():
            if entry.reads_in(frames):
                entry.stale = any(self._outdated(step, memory) for step in entry.reads)

    def _outdated(self, step: WalkStep, memory: Frames) -> bool:
        """Does the entry now in memory make a translation built on what `step` read out of
        date? Any bit the hardware reads (not a `software`/`ignored` field), except a status
        bit (A/D/AF) turning 1: the hardware only ever sets those, and no TLB entry is built
        on a 0 (the walk set it, or faulted). A status bit cleared does count (SDM Vol. 3A
        4.10.4.3: the processor may not set it again through the cached translation; Arm ARM
        D8.4.5: without TCR_EL1.HA, AF=0 faults)."""
        readings, depth, raw = step.readings, step.depth, step.raw
        key = (readings, depth, raw & readings.keep[depth])
        known = self._masks.get(key)
        unread, status = known if known is not None else self._learn_masks(key, step)
        now = read_entry(memory, step.entry_hpa, readings.fmt.entry_bytes)
        value = raw if step.written is None else step.written
        changed = (now ^ value) & ~unread
        return bool(changed & ~status or changed & value)

    def _learn_masks(self, key: tuple[Any, int, int], step: WalkStep) -> tuple[int, int]:
        unread = status = 0
        for fv in step.decoded.fields:
            if fv.field.role in _UNREAD:
                unread |= fv.field.mask
            elif fv.field.role is Role.STATUS:
                status |= fv.field.mask
        self._masks[key] = (unread, status)
        return unread, status


def _is_global(leaf: Decoded) -> bool:
    """x86 G, RISC-V G, ARM nG=0 in a stage-1 leaf."""
    if leaf.kind != EntryKind.LEAF:
        return False
    if leaf.has_field("NG"):
        return leaf.field("NG") == 0
    return leaf.has_field("G") and leaf.field("G") == 1


def _in_scope(
    scope: FlushScope, e: TlbEntry, addr: int | None, vmid: int, asid: int, pcid: int, pcids: bool
) -> bool:
    if e.kind not in scope.kinds:
        return False
    if scope.same_vmid and e.vmid != vmid:
        return False
    if scope.same_asid and e.kind == COMBINED and e.asid != asid:
        # a global entry answers to every ASID, but never to another VPID (SDM 3C 28.3.2)
        if pcids or not e.global_ or scope.keep_global:
            return False
    if e.kind == COMBINED and scope.keep_global and e.global_:
        return False
    if scope.same_pcid and e.kind == COMBINED and e.pcid != pcid and not e.global_:
        return False
    if addr is not None and scope.by_addr == "va":
        return e.kind != COMBINED or e.covers(addr)
    if addr is not None and scope.by_addr == "gpa":
        return e.gpa <= addr < e.gpa + e.size if e.kind == COMBINED else e.covers(addr)
    return True


class TlbReplay:
    """The `Tlb`'s policy over integer keys, for traces of millions of accesses: the same sets
    (page number mod sets), LRU, combined and stage-2-only entries sharing the sets, failed walks
    never filling, and a write through an entry a read filled walking again (it must set D).
    One context (VMID/ASID) throughout. tests/engine/test_trace_replay.py holds it equal to
    `Machine.access` access by access.

    Keys: ``page base | log2(size)``, with bit 11 set for a stage-2-only entry. A value is the
    entry's `dirty` flag."""

    __slots__ = ("nsets", "sets", "ways")

    def __init__(self, entries: int, ways: int) -> None:
        self.ways = ways
        self.nsets = entries // ways if ways else 0
        self.sets: list[dict[int, bool]] = [{} for _ in range(self.nsets)]

    @staticmethod
    def key(base: int, size: int, stage2: bool = False) -> int:
        return base | (size.bit_length() - 1) | (0x800 if stage2 else 0)

    def set_of(self, base: int, size: int) -> int:
        return (base // size) % self.nsets if self.nsets else 0

    def hit(self, key: int, index: int, write: bool) -> bool:
        """Look `key` up; a hit becomes the most recent of its set. A write through a clean
        entry drops it (the walk that follows refills it)."""
        if not self.nsets:
            return False
        ways = self.sets[index]
        dirty = ways.pop(key, None)
        if dirty is None:
            return False
        if write and not dirty:
            return False
        ways[key] = dirty
        return True

    def fill(self, key: int, index: int, dirty: bool) -> None:
        if not self.nsets:
            return
        ways = self.sets[index]
        if ways.pop(key, None) is None and len(ways) >= self.ways:
            del ways[next(iter(ways))]
        ways[key] = dirty
