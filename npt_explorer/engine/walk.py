"""The two-stage walker: gVA → gPA → hPA as the ordered memory references the hardware makes.

Every stage-1 entry's gPA is translated through stage 2 before the entry is read, and the final
gPA after the stage-1 leaf (hardware.md §1.1). A stage-2 fault on a guest table beats any stage-1
problem at that level (§1.4). One loop per stage; each format's hooks hold the checks in its
manual's order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .faults import FINAL, GUEST_WALK, Fault, finish
from .flags import Access, Priv
from .formats import AccessRequest, Decoded, EntryKind, FaultReason, PagingFormat
from .memory import PhysicalMemory


@dataclass(slots=True)
class WalkStep:
    """One page-table entry read (and the write-back it caused, if any)."""

    stage: int
    depth: int
    level_name: str
    purpose: str
    table: int  # the table's address in its own space (gPA for stage 1, hPA for stage 2)
    table_hpa: int
    index: int
    entry_addr: int  # in the table's own space
    entry_hpa: int
    raw: int
    decoded: Decoded
    outcome: str  # table | leaf | fault
    for_depth: int | None = None  # stage-2 steps: the guest depth whose entry they translate
    written: int | None = None  # the value written back (A/D/AF), if any

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "depth": self.depth,
            "level_name": self.level_name,
            "purpose": self.purpose,
            "table": f"{self.table:#x}",
            "table_hpa": f"{self.table_hpa:#x}",
            "index": self.index,
            "entry_addr": f"{self.entry_addr:#x}",
            "entry_hpa": f"{self.entry_hpa:#x}",
            "raw": f"{self.raw:#x}",
            "fields": {
                fv.field.name: fv.value
                for fv in self.decoded.fields
                if fv.field.role not in ("ignored",)
            },
            "outcome": self.outcome,
            "for_depth": self.for_depth,
            "written": None if self.written is None else f"{self.written:#x}",
        }


@dataclass(slots=True)
class Walk:
    """A whole translation: its steps and either addresses or a fault."""

    gva: int
    access: Access
    priv: Priv
    steps: list[WalkStep] = field(default_factory=list)
    gpa: int | None = None
    hpa: int | None = None
    s1_size: int | None = None
    s2_size: int | None = None
    s1_acc: Any = None
    s2_acc: Any = None
    fault: Fault | None = None
    writes: int = 0
    tlb: str | None = None  # hit | miss | None (no TLB model, or `translate`)
    stale: bool = False  # the TLB hit used an entry that no longer agrees with the tables
    s2_cached: bool = False  # the final gPA came from a stage-2-only TLB entry
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.fault is None

    @property
    def refs(self) -> int:
        return len(self.steps)

    @property
    def page_size(self) -> int | None:
        if self.s1_size is None or self.s2_size is None:
            return None
        return min(self.s1_size, self.s2_size)


DECODE_CACHE = 1 << 16
#: gpa -> (hpa, stage-2 accumulator, page size, stale) from a stage-2-only TLB entry
S2Lookup = Callable[[int], "tuple[int, Any, int, bool] | None"]
_BAD = (EntryKind.INVALID, EntryKind.MISCONFIGURED)


class _Stop(Exception):
    def __init__(self, fault: Fault) -> None:
        self.fault = fault


@dataclass(slots=True)
class _S2Result:
    hpa: int
    acc: Any
    size: int


class Walker:
    """Walks one machine's two stages. `side_effects=False` writes nothing (`translate`)."""

    def __init__(
        self,
        arch: str,
        s1: PagingFormat,
        s2: PagingFormat,
        memory: PhysicalMemory,
        guest_root: int,
        npt_root: int,
    ) -> None:
        self.arch = arch
        self.s1 = s1
        self.s2 = s2
        self.memory = memory
        self.guest_root = guest_root
        self.npt_root = npt_root
        self._decoded: dict[tuple[int, int, int], Decoded] = {}

    def _decode(self, stage: int, raw: int, depth: int) -> Decoded:
        """`fmt.decode`, memoised: decoding is pure and a walk re-reads the same entries."""
        key = (stage, raw, depth)
        dec = self._decoded.get(key)
        if dec is None:
            if len(self._decoded) >= DECODE_CACHE:
                self._decoded.clear()
            dec = self._decoded[key] = (self.s1 if stage == 1 else self.s2).decode(raw, depth)
        return dec

    def translate(
        self,
        gva: int,
        access: Access,
        priv: Priv = Priv.KERNEL,
        side_effects: bool = True,
        s2_lookup: S2Lookup | None = None,
    ) -> Walk:
        """Walk both stages for `gva`. `s2_lookup` (a stage-2-only TLB) may supply the final
        gPA's translation; the tables alone decide otherwise."""
        walk = Walk(gva, access, priv)
        try:
            self._walk(walk, side_effects, s2_lookup)
        except _Stop as stop:
            walk.fault = finish(stop.fault)
        return walk

    def translate_gpa(self, gpa: int, access: Access, priv: Priv = Priv.KERNEL) -> Walk:
        """Stage 2 alone (what a stage-2-only TLB entry caches)."""
        walk = Walk(gpa, access, priv)
        try:
            res = self._stage2(walk, gpa, AccessRequest(access, priv), None, FINAL, False)
            walk.gpa, walk.hpa, walk.s2_acc, walk.s2_size = gpa, res.hpa, res.acc, res.size
            walk.s1_size = res.size
        except _Stop as stop:
            walk.fault = finish(stop.fault)
        return walk

    # ------------------------------------------------------------------ stage 1

    def _walk(self, walk: Walk, side_effects: bool, s2_lookup: S2Lookup | None) -> None:
        s1, gva, access, priv = self.s1, walk.gva, walk.access, walk.priv
        reason = s1.check_input(gva)
        if reason is not None:
            raise _Stop(self._fault(walk, 1, reason, None))
        req = AccessRequest(access, priv)
        acc = s1.start()
        table = self.guest_root
        for depth in range(s1.depth_count):
            index = s1.index(gva, depth)
            entry_gpa = table + index * 8
            read_req = AccessRequest(
                self.s2.implicit_access(False), priv, original=access, implicit=True
            )
            where = s1.level_name(depth)
            pt = self._stage2(
                walk,
                entry_gpa,
                read_req,
                depth,
                GUEST_WALK,
                side_effects,
                purpose=f"translate the gPA of the guest {where}",
            )
            raw = self.memory.read_u64(pt.hpa)
            dec = self._decode(1, raw, depth)
            step = WalkStep(
                1,
                depth,
                where,
                "guest root table" if depth == 0 else f"guest {where}",
                table,
                pt.hpa - index * 8,
                index,
                entry_gpa,
                pt.hpa,
                raw,
                dec,
                "fault",
            )
            walk.steps.append(step)
            if dec.kind in _BAD:
                reason = dec.reason or FaultReason.NOT_PRESENT
                raise _Stop(self._fault(walk, 1, reason, depth, acc=acc, raw=raw))
            check = (s1.descend if dec.kind == EntryKind.TABLE else s1.leaf)(acc, dec, req)
            if check.reason is not None:
                raise _Stop(self._fault(walk, 1, check.reason, depth, acc=check.acc, raw=raw))
            step.outcome = dec.kind.value
            if check.write_back is not None:
                self._guest_write_back(walk, entry_gpa, pt, check.write_back, depth, side_effects)
                if side_effects:
                    step.written = check.write_back
            acc = check.acc
            if dec.kind == EntryKind.LEAF:
                assert dec.paddr is not None and dec.page_size is not None
                gpa = dec.paddr + (gva & (dec.page_size - 1))
                walk.gpa, walk.s1_size, walk.s1_acc = gpa, dec.page_size, acc
                break
            assert dec.paddr is not None
            table = dec.paddr
        assert walk.gpa is not None
        if not s1.check_output(walk.gpa):
            raise _Stop(self._fault(walk, 1, FaultReason.ADDRESS_SIZE, s1.leaf_depth, acc=acc))
        final_req = AccessRequest(access, priv, guest_user_page=s1.user_page(acc))
        cached = s2_lookup(walk.gpa) if s2_lookup else None
        if cached is not None and self.s2.allows(cached[1], final_req) is None:
            hpa, s2_acc, size, stale = cached
            walk.s2_cached, walk.stale = True, stale
            if stale:
                walk.note = "the final gPA used a stale stage-2 TLB entry"
            res = _S2Result(hpa, s2_acc, size)
        else:
            res = self._stage2(
                walk,
                walk.gpa,
                final_req,
                None,
                FINAL,
                side_effects,
                purpose="translate the final gPA",
            )
        walk.hpa, walk.s2_acc, walk.s2_size = res.hpa, res.acc, res.size

    def _guest_write_back(
        self,
        walk: Walk,
        entry_gpa: int,
        pt: _S2Result,
        value: int,
        depth: int,
        side_effects: bool,
    ) -> None:
        """A stage-1 A/D update is a guest-physical write: stage 2 must allow it (§1.3)."""
        req = AccessRequest(
            self.s2.implicit_access(True),
            walk.priv,
            original=walk.access,
            implicit=True,
            write_back=True,
        )
        silent = Walk(walk.gva, walk.access, walk.priv)
        try:
            self._stage2(silent, entry_gpa, req, depth, GUEST_WALK, side_effects, record=False)
        except _Stop:
            walk.writes += silent.writes
            raise
        walk.writes += silent.writes
        if side_effects:
            self.memory.write_u64(pt.hpa, value)
            walk.writes += 1

    # ------------------------------------------------------------------ stage 2

    def _stage2(
        self,
        walk: Walk,
        gpa: int,
        req: AccessRequest,
        for_depth: int | None,
        during: str,
        side_effects: bool,
        purpose: str = "stage-2",
        record: bool = True,
    ) -> _S2Result:
        s2 = self.s2
        reason = s2.check_input(gpa)
        if reason is not None:
            raise _Stop(self._fault(walk, 2, reason, None, gpa=gpa, during=during, req=req))
        acc = s2.start()
        table = self.npt_root
        for depth in range(s2.depth_count):
            index = s2.index(gpa, depth)
            addr = table + index * 8
            raw = self.memory.read_u64(addr)
            dec = self._decode(2, raw, depth)
            step = None
            if record:
                step = WalkStep(
                    2,
                    depth,
                    s2.levels[depth].name,
                    purpose,
                    table,
                    table,
                    index,
                    addr,
                    addr,
                    raw,
                    dec,
                    "fault",
                    for_depth,
                )
                walk.steps.append(step)
            if dec.kind in _BAD:
                raise _Stop(
                    self._fault(
                        walk,
                        2,
                        dec.reason or FaultReason.NOT_PRESENT,
                        depth,
                        gpa=gpa,
                        during=during,
                        req=req,
                        acc=None,
                        raw=raw,
                    )
                )
            check = (s2.descend if dec.kind == EntryKind.TABLE else s2.leaf)(acc, dec, req)
            if check.reason is None and step is not None:
                step.outcome = dec.kind.value
            if check.reason is None and check.write_back is not None and side_effects:
                self.memory.write_u64(addr, check.write_back)
                walk.writes += 1
                if step is not None:
                    step.written = check.write_back
            if check.reason is not None:
                raise _Stop(
                    self._fault(
                        walk,
                        2,
                        check.reason,
                        depth,
                        gpa=gpa,
                        during=during,
                        req=req,
                        acc=check.acc,
                        raw=raw,
                    )
                )
            acc = check.acc
            if dec.kind == EntryKind.LEAF:
                assert dec.paddr is not None and dec.page_size is not None
                hpa = dec.paddr + (gpa & (dec.page_size - 1))
                if not s2.check_output(hpa):
                    raise _Stop(
                        self._fault(
                            walk,
                            2,
                            FaultReason.ADDRESS_SIZE,
                            depth,
                            gpa=gpa,
                            during=during,
                            req=req,
                            acc=acc,
                            raw=raw,
                        )
                    )
                return _S2Result(hpa, acc, dec.page_size)
            assert dec.paddr is not None
            table = dec.paddr
        raise AssertionError("a walk always ends in a leaf or a fault")

    # ------------------------------------------------------------------ faults

    def _fault(
        self,
        walk: Walk,
        stage: int,
        reason: FaultReason,
        depth: int | None,
        *,
        gpa: int | None = None,
        during: str | None = None,
        req: AccessRequest | None = None,
        acc: Any = None,
        raw: int | None = None,
    ) -> Fault:
        fmt = self.s1 if stage == 1 else self.s2
        return Fault(
            arch=self.arch,
            stage=stage,
            reason=reason,
            depth=depth,
            level_name=None if depth is None else fmt.level_name(depth),
            during=during,
            access=walk.access,
            priv=walk.priv,
            gva=walk.gva,
            gpa=gpa,
            final_gpa=walk.gpa,
            write_back=bool(req and req.write_back),
            implicit_access=req.access if req is not None and req.implicit else None,
            acc=acc,
            raw=raw,
            features=fmt.features | (self.s2.features if stage == 1 else self.s1.features),
        )
