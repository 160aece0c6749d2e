"""A tagged, set-associative LRU TLB with combined (gVA→hPA) and stage-2-only (gPA→hPA) entries,
and the invalidations each architecture defines (hardware.md §3.8, §5.7, §7.4).

Tags: x86 combined entries carry VPID and EPTP, guest-physical ones EPTP; ARM and RISC-V entries
carry VMID, and combined ones ASID (or global). In this model `vmid` holds the EPTP on x86 and
`asid` the VPID.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import PagingError


class TlbKind(StrEnum):
    """A combined gVA -> hPA entry, or a stage-2-only gPA -> hPA one (the JSON words)."""

    COMBINED = "combined"
    STAGE2 = "stage2"


COMBINED, STAGE2 = TlbKind.COMBINED, TlbKind.STAGE2


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

    def covers(self, addr: int) -> bool:
        return self.base <= addr < self.base + self.size


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
    #: x86: `asid` is the VPID, and a global entry is shared only across PCIDs of its VPID
    #: (SDM Vol. 3C 28.3.2); elsewhere a global entry matches every ASID of its VMID
    x86: bool = False
    sets: list[list[TlbEntry]] = field(default_factory=list)
    stats: TlbStats = field(default_factory=TlbStats)
    clock: int = 0

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
        if self.x86:
            return entry.asid == asid and (entry.global_ or entry.pcid == pcid)
        return entry.global_ or entry.asid == asid

    def lookup(
        self, kind: str, addr: int, vmid: int, asid: int, sizes: Iterable[int], pcid: int = 0
    ) -> TlbEntry | None:
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
                    self.clock += 1
                    entry.last_use = self.clock
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
        removed = [e for e in self.all() if _in_scope(scope, e, addr, vmid, asid, pcid, self.x86)]
        for e in removed:
            self.drop(e)
        self.stats.flushes += 1
        return removed

    def mark_stale(self, still_valid: Callable[[TlbEntry], bool], vmid: int) -> None:
        """Mark the current VM's entries that no longer agree with its tables."""
        for entry in self.all():
            if entry.vmid == vmid:
                entry.stale = not still_valid(entry)


def _in_scope(
    scope: FlushScope, e: TlbEntry, addr: int | None, vmid: int, asid: int, pcid: int, x86: bool
) -> bool:
    if e.kind not in scope.kinds:
        return False
    if scope.same_vmid and e.vmid != vmid:
        return False
    if scope.same_asid and e.kind == COMBINED and e.asid != asid:
        # a global entry answers to every ASID, but never to another VPID (SDM 3C 28.3.2)
        if x86 or not e.global_ or scope.keep_global:
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
