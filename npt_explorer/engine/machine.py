"""`Machine`: one guest — its arch configuration, its page table living in guest RAM, the
hypervisor's `AddrSpace`, a TLB and an event log. The single façade the CLI and the TUI drive."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any

from . import batch_walk
from .addrspace import AddrSpace, Area, NestedPageFaultInfo
from .config import MachineConfig
from .control import Control
from .errors import PagingError
from .events import (
    ContextSet,
    ControlChanged,
    Event,
    EventData,
    Faulted,
    Flushed,
    Handled,
    Mapped,
    Poked,
    Protected,
    Unmapped,
    Walked,
    WalkKind,
)
from .faults import Fault
from .flags import Access, MappingFlags, Priv
from .formats import Decoded, PagingFormat
from .guest import GuestPoolAllocator, GuestRAM
from .memory import DEFAULT_POOL_BASE, FrameAllocator, PhysicalMemory
from .page_table import EntryRef, PageTable
from .paging import Paging, read_root_registers
from .table_core import Flush
from .tlb import FLUSHES, INVPCID_SCOPES, FlushScope, Tlb, TlbContext, TlbEntry
from .walk import Walk, Walker
from .walk_cache import WalkCaches

_ACCESS_FLAGS = {
    Access.READ: MappingFlags.READ,
    Access.WRITE: MappingFlags.WRITE,
    Access.EXEC: MappingFlags.EXECUTE,
}


class Machine:
    """A guest machine. Every method either succeeds or raises `PagingError` having changed
    nothing."""

    def __init__(self, config: MachineConfig | None = None, **options: Any) -> None:
        self.config = config or MachineConfig(**options)
        cfg = self.config
        self.s1: PagingFormat = cfg.format_for("guest")
        self.s2: PagingFormat = cfg.format_for("npt")
        self.memory = PhysicalMemory()
        self.host_frames = FrameAllocator(self.memory, _host_pool_base(cfg, self.s2))
        self.npt = PageTable(self.s2, self.memory, self.host_frames, cfg.encoding)
        self.space = AddrSpace(self.npt, 0, 1 << self.s2.input_bits, self.memory, self.host_frames)
        self.ram = GuestRAM(self.space, self.memory)
        #: x86: every EPT the machine has, by `context eptp = N` (N = 0 is the first)
        self.epts: dict[int, AddrSpace] = {0: self.space}
        self.eptp_index = 0
        self.guest_frames = GuestPoolAllocator(self.ram, self.memory, cfg.pool_gpa, cfg.pool_size)
        self._guest_pt: PageTable | None = None
        self._guest_pt_hi: PageTable | None = None  # AArch64 TTBR1_EL1's table
        pcids = cfg.spec.pcid_enable is not None  # x86: VPID + PCID tags
        self.tlb = Tlb(cfg.tlb_entries, cfg.tlb_ways, pcids=pcids) if cfg.tlb_enabled else None
        self.walk_caches = WalkCaches.build(
            cfg.walk_cache_preset, cfg.walk_cache_specs, self.s1, self.s2
        )
        self.vmid = 1  # where the arch tags stage 2 otherwise (x86: the EPTP), see `tag_vmid`
        self.asid = 1  # VPID on x86
        self.pcid = 0  # x86 CR3[11:0]
        self.last_fault: Fault | None = None
        self.log: list[Event] = []
        self.control = cfg.control
        self.s1.configure(self.control)
        self.s2.configure(self.control)
        self.root_registers: tuple[int, ...] = ()  # x86 PAE's PDPTE registers
        self.walker = self._new_walker()
        if cfg.map_pool:
            self.space.map_alloc(
                cfg.pool_gpa,
                cfg.pool_size,
                cfg.spec.pool_flags,
                populate=True,
                name="guest page tables",
            )
            self.guest_pt  # noqa: B018 - the root is the pool's first frame

    # ------------------------------------------------------------------ state

    def _new_walker(self) -> Walker:
        hi = None if self._guest_pt_hi is None else self._guest_pt_hi.root
        roots = (self._guest_root(), self.npt.root)
        return Paging.rooted(
            self.arch, self.s1, self.s2, self.memory, roots,
            guest_root_hi=hi, root_registers=self.root_registers, guest=self.ram,
        ).walker  # fmt: skip

    def _guest_root(self) -> int | None:
        """None when the control state turns stage 1 off (`ArchSpec.stage1_off`: vsatp.MODE =
        Bare, SCTLR_EL1.M = 0)."""
        off = self.config.spec.stage1_off
        if any(self.control.get(reg, name) == value for reg, name, value in off):
            return None
        return self.config.pool_gpa

    def load_root_registers(self) -> None:
        """x86 PAE: the CPU loads the four PDPTEs when CR3 is written (SDM Vol. 3A §4.4.1), from
        guest memory through stage 2; walks then use these copies. A Linux-like guest writes CR3
        after it changes a PDPTE (arch/x86/mm/pgtable.c `pud_populate`), so a stage-1
        map/unmap/protect reloads them; a `poke` does not."""
        if not self.s1.root_registers:
            return
        self.root_registers = read_root_registers(self.s1, self.ram, self.guest_root)
        self.walker.root_registers = self.root_registers

    def set_register(self, register: str, field: str | None, value: int) -> None:
        """One register (or one field of it) set, as the TUI's toggle and the `control` step
        do."""
        self.set_control(self.control.with_value(register, field, value))

    def set_control(self, control: Control) -> None:
        """New register values (a typed `set`, the TUI's toggle): the walker's memo is rebuilt;
        TLB entries stay, as the hardware keeps them (hits re-check permissions), except what
        an x86 MOV to CR4 flushes (`_mov_to_cr4_flush`)."""
        self.config.check_control(control)
        old, self.control = self.control, control
        self.s1.configure(control)
        self.s2.configure(control)
        self.walker = self._new_walker()
        flushed = self._mov_to_cr4_flush(old, control)
        changed = tuple(
            (row.register, row.name, value)
            for row, value in control.rows()
            if value != row.get(self.config.control.values[row.register])
        )
        self._log(ControlChanged(changed, flushed))

    def _mov_to_cr4_flush(self, old: Control, new: Control) -> int | None:
        """SDM Vol. 3A 4.10.4.1: a MOV to CR4 that changes PGE, or clears PCIDE, invalidates
        every TLB entry (global ones too) and paging-structure cache entry of every PCID (of
        the current VPID); after PCIDE 1→0 the current PCID is 000H. None: nothing flushed.
        (`ArchSpec.flush_on_change`, `pcid_enable`: only x86 has such bits.)"""
        spec = self.config.spec
        changed = any(old.get(r, f) != new.get(r, f) for r, f in spec.flush_on_change)
        pcids = spec.pcid_enable
        pcide_off = pcids is not None and old.on(*pcids) and not new.on(*pcids)
        if not (changed or pcide_off):
            return None
        scope = INVPCID_SCOPES[2]  # all PCIDs, global entries too
        tags = (self.tag_vmid, self.asid, self.pcid)
        removed = [] if self.tlb is None else self.tlb.flush("invpcid", None, *tags, scope)
        if self.walk_caches is not None:
            self.walk_caches.invalidate("invpcid", None, tags[0], tags[1], scope)
        if pcide_off:
            self.pcid = 0
        return len(removed)

    @property
    def arch(self) -> str:
        return self.config.arch

    @property
    def guest_pt(self) -> PageTable:
        """The guest's own table, in guest RAM (made on first use: its root needs backing)."""
        if self._guest_pt is None:
            self._guest_pt = PageTable(self.s1, self.ram, self.guest_frames, self.config.encoding)
        return self._guest_pt

    @property
    def guest_root(self) -> int:
        return self.config.pool_gpa

    @property
    def tag_vmid(self) -> int:
        """The stage-2 tag: VMID (ARM, RISC-V), or what `ArchSpec.stage2_tag` makes of the
        stage-2 root: EPTP (Intel) or nCR3 (AMD)."""
        tag = self.config.spec.stage2_tag
        return self.vmid if tag is None else tag(self.s2, self.npt.root)

    @property
    def frames_in_use(self) -> int:
        """Host frames held by stage-2 tables and `alloc` backends."""
        return self.space.frames_in_use

    @property
    def guest_pt_frames(self) -> int:
        return self.guest_frames.in_use

    def areas(self) -> list[Area]:
        return list(self.space.areas)

    def _log(self, data: EventData) -> Event:
        event = Event(len(self.log) + 1, data)
        self.log.append(event)
        return event

    @contextmanager
    def _stage1_call(self) -> Iterator[None]:
        """A call that builds one of the guest's tables on first use and then fails takes it
        back, so the failed call changes nothing (not even `guest_pt_frames`)."""
        fresh = [n for n in ("_guest_pt", "_guest_pt_hi") if getattr(self, n) is None]
        try:
            yield
        except PagingError:
            for name in fresh:
                table = getattr(self, name)
                if table is not None:
                    table.destroy()
                    setattr(self, name, None)
            self.walker.guest_root_hi = (
                None if self._guest_pt_hi is None else self._guest_pt_hi.root
            )
            raise

    @property
    def guest_pt_hi(self) -> PageTable:
        """AArch64 TTBR1_EL1's table (the upper VA range), its root from the pool on first use."""
        if self._guest_pt_hi is None:
            self._guest_pt_hi = PageTable(
                self.s1, self.ram, self.guest_frames, self.config.encoding
            )
            self.walker.guest_root_hi = self._guest_pt_hi.root
        return self._guest_pt_hi

    def table(self, stage: int, addr: int | None = None) -> PageTable:
        """Stage 1's table for `addr` (TTBR1's for an upper-range AArch64 gVA) or stage 2's."""
        if stage == 1:
            if addr is not None and self.s1.upper(addr):
                return self.guest_pt_hi
            return self.guest_pt
        if stage == 2:
            return self.npt
        raise PagingError("InvalidRequest", f"stage must be 1 or 2 (got {stage!r})")

    # ------------------------------------------------------------------ mapping

    def map(
        self,
        stage: int,
        addr: int,
        size: int,
        flags: MappingFlags | str,
        *,
        gpa: int | None = None,
        backend: str = "linear",
        hpa: int | None = None,
        populate: bool = True,
        huge: bool = False,
        name: str = "",
    ) -> None:
        """Stage 1: map gVA `addr` → `gpa` in the guest's table. Stage 2: a region at gPA
        `addr` with a `linear` (→ `hpa`) or `alloc` backend."""
        flags = MappingFlags.parse(flags)
        if stage == 1:
            if gpa is None:
                raise PagingError("InvalidRequest", "a stage-1 map needs gpa")
            with self._stage1_call():
                flush = self.table(1, addr).map_region(addr, gpa, size, flags, allow_huge=huge)
            self.load_root_registers()
            event = Mapped(stage, addr, size, flags, gpa)
        elif stage == 2:
            if backend == "linear":
                if hpa is None:
                    raise PagingError("InvalidRequest", "a linear stage-2 map needs hpa")
                flush = self.space.map_linear(addr, hpa, size, flags, huge=huge, name=name)
                event = Mapped(stage, addr, size, flags, hpa, backend)
            elif backend == "alloc":
                flush = self.space.map_alloc(addr, size, flags, populate, name=name)
                event = Mapped(stage, addr, size, flags, None, backend, populate)
            else:
                raise PagingError(
                    "InvalidRequest", f"unknown backend {backend!r} (allowed: linear, alloc)"
                )
        else:
            self.table(stage)
            return
        self._tables_changed(stage, flush)
        self._log(event)

    def unmap(self, stage: int, addr: int, size: int) -> None:
        if stage == 1:
            with self._stage1_call():
                flush = self.table(1, addr).unmap_region(addr, size)
            self.load_root_registers()
        elif stage == 2:
            flush = self.space.unmap(addr, size)
        else:
            self.table(stage)
            return
        self._tables_changed(stage, flush)
        self._log(Unmapped(stage, addr, size))

    def protect(self, stage: int, addr: int, size: int, flags: MappingFlags | str) -> None:
        flags = MappingFlags.parse(flags)
        if stage == 1:
            with self._stage1_call():
                flush = self.table(1, addr).protect_region(addr, size, flags)
            self.load_root_registers()
        elif stage == 2:
            flush = self.space.protect(addr, size, flags)
        else:
            self.table(stage)
            return
        self._tables_changed(stage, flush)
        self._log(Protected(stage, addr, size, flags))

    def query(self, stage: int, addr: int) -> tuple[int, MappingFlags, int]:
        with self._stage1_call():
            return self.table(stage, addr).query(addr)

    # ------------------------------------------------------------------ entries

    def locate(self, stage: int, addr: int, depth: int) -> EntryRef:
        with self._stage1_call():
            return self.table(stage, addr).locate(addr, depth)

    def entry(self, stage: int, addr: int, depth: int) -> tuple[EntryRef, Decoded]:
        ref = self.locate(stage, addr, depth)
        fmt = self.s1 if stage == 1 else self.s2
        return ref, fmt.decode(ref.raw, depth)

    def poke(
        self,
        stage: int,
        addr: int,
        depth: int,
        *,
        value: int | None = None,
        set: int = 0,
        clear: int = 0,
        fields: dict[str, int] | None = None,
    ) -> tuple[int, int]:
        """Write an entry's raw bits; returns (old, new)."""
        ref = self.locate(stage, addr, depth)
        fmt = self.s1 if stage == 1 else self.s2
        new = ref.poked(fmt, value, set, clear, fields)
        self._tables_changed(stage, self.table(stage, addr).poke(ref.addr, new))
        self._log(Poked(stage, fmt.level_name(depth), ref.addr, ref.raw, new))
        return ref.raw, new

    # ------------------------------------------------------------------ accesses

    def access(
        self,
        gva: int,
        access: Access | str,
        priv: Priv | str = Priv.KERNEL,
        *,
        ac: bool = False,
        via: str = "",
    ) -> Walk:
        """A guest access: TLB lookup, a two-stage walk on a miss (A/D writes), TLB fill.
        `ac`: x86 EFLAGS.AC (SMAP); `via`: RISC-V hlv | hlvx | hsv from HS-mode."""
        access, priv = Access.parse(access), self._priv(Priv.parse(priv), via)
        tlb = self.tlb
        ctx = None if tlb is None else self._tlb_context()
        walk = None if tlb is None or ctx is None else tlb.hit(ctx, gva, access, priv, ac, via)
        if walk is None:
            s2_lookup = None
            if tlb is not None and ctx is not None:  # the stage-2-only entries serve the walk
                s2_lookup = partial(tlb.stage2_hit, ctx, write=access is Access.WRITE)
            walk = self.walker.translate(
                gva, access, priv, side_effects=True, s2_lookup=s2_lookup, ac=ac, via=via
            )
            if self.walk_caches is not None:
                self._walk_caches(walk)
            if tlb is not None and ctx is not None:
                tlb.miss(ctx, walk)
            # its A/D write-backs only set status bits: no TLB entry is outdated by them
            # (`Tlb._outdated`)
        self._record(walk, "access")
        return walk

    def translate(
        self,
        gva: int,
        access: Access | str,
        priv: Priv | str = Priv.KERNEL,
        *,
        ac: bool = False,
        via: str = "",
    ) -> Walk:
        """The same checks and faults as `access`; no TLB, no A/D writes."""
        access, priv = Access.parse(access), self._priv(Priv.parse(priv), via)
        walk = self.walker.translate(gva, access, priv, side_effects=False, ac=ac, via=via)
        self._record(walk, "translate")
        return walk

    def translate_many(
        self, gvas: Any, access: Access | str, priv: Priv | str = Priv.KERNEL
    ) -> tuple[Any, Any, Any]:
        """`translate` for a numpy array of gVAs at once, without steps or log entries:
        (gpas, hpas, ok) as arrays (see `batch_walk.translate_many`)."""
        return batch_walk.translate_many(self._stages(), gvas, access, priv)

    def walk_many(
        self, gvas: Any, access: Access | str, priv: Priv | str = Priv.KERNEL
    ) -> batch_walk.BatchWalk:
        """`translate_many` with each walk's references and page sizes."""
        return batch_walk.walk_many(self._stages(), gvas, access, priv)

    def _stages(self) -> batch_walk.Stages:
        guest = self._guest_pt
        tables = guest.tables if guest is not None else {}
        return batch_walk.Stages(self.walker, self.npt, tables, self.memory)

    def _walk_caches(self, walk: Walk) -> None:
        """Mark which walk cache served each reference of `walk`, filling them as it goes."""
        caches = self.walk_caches
        assert caches is not None
        refs = caches.refs(walk.steps, walk.gva, walk.gpa)
        served, stale = caches.account(refs, walk.gva, self.tag_vmid, self.asid)
        walk.steps = [  # the steps are values, some shared with other walks (`Walker`)
            step if name is None else step._replace(cached=name)
            for step, name in zip(walk.steps, served, strict=True)
        ]
        if stale:
            walk.note = "a walk cache held an entry the tables no longer have"
        if walk.fault is not None and walk.fault.stage == 1:
            caches.forget(walk.gva, self.tag_vmid, self.asid)

    def _priv(self, priv: Priv, via: str) -> Priv:
        """HLV/HLVX/HSV run at the privilege hstatus.SPVP gives (Priv. ISA 9.2.1)."""
        if not via:
            return priv
        spec = self.config.spec
        if via not in spec.hypervisor_accesses or spec.hypervisor_priv is None:
            raise PagingError("InvalidRequest", f"{via} is a RISC-V hypervisor access")
        return Priv.KERNEL if self.control.on(*spec.hypervisor_priv) else Priv.USER

    def _record(self, walk: Walk, kind: WalkKind) -> None:
        if walk.fault is not None:
            if walk.fault.stage == 2:
                self.last_fault = walk.fault
            self._log(Faulted(kind, walk, walk.fault))
        else:
            self._log(Walked(kind, walk))

    def handle_fault(self) -> bool:
        """The hypervisor handles the last stage-2 fault as the seed's `handle_page_fault`."""
        fault = self.last_fault
        if fault is None:
            raise PagingError("InvalidRequest", "no stage-2 fault to handle")
        assert fault.gpa is not None
        needed = fault.implicit_access or fault.access
        info = NestedPageFaultInfo(_ACCESS_FLAGS[needed], fault.gpa)
        handled = self.space.handle_page_fault(info.fault_guest_paddr, info.access_flags)
        if handled:
            self.last_fault = None
            self._tables_changed(2, self.npt.last_flush)
        self._log(Handled(fault.gpa, info.access_flags, handled))
        return handled

    # ------------------------------------------------------------------ TLB

    def set_context(
        self,
        vmid: int | None = None,
        asid: int | None = None,
        pcid: int | None = None,
        eptp: int | None = None,
    ) -> None:
        """Switch the current VMID (ARM, RISC-V), ASID/VPID (all), PCID (x86, CR3[11:0]) and
        EPT (x86: `eptp` N, made on first use)."""
        if eptp is not None:
            self._switch_ept(eptp)
        spec = self.config.spec
        if vmid is not None:
            if spec.stage2_tag is not None:
                raise PagingError(
                    "InvalidRequest",
                    f"{self.arch} tags stage 2 by {spec.stage2_tag_name}: set vpid only",
                )
            self.vmid = vmid
        if asid is not None:
            self.asid = asid
        if pcid is not None:
            self.pcid = self._checked_pcid(pcid)
        pcid = None if spec.pcid_enable is None else self.pcid
        several = len(self.epts) > 1  # which stage-2 root of several
        stage2 = (spec.stage2_tag_name, self.eptp_index, self.tag_vmid) if several else None
        self._log(ContextSet(self.vmid, self.asid, pcid, stage2))

    def _switch_ept(self, n: int) -> None:
        """VMCS EPTP ← EPT number `n`. A new one is empty but for the guest page-table pool,
        mapped to the same host frames as in the first EPT (the guest's own tables are the
        same memory under every EPT). TLB and walk-cache entries are tagged by the EPTP (SDM
        Vol. 3C 28.3: EPT-derived mappings are tagged by EP4TA), so one EPT's survive another's
        INVEPT single-context."""
        if self.config.spec.stage2_tag is None:  # its stage 2 is tagged by a VMID
            raise PagingError("InvalidRequest", "eptp is an x86 context (use vmid)")
        if not isinstance(n, int) or n < 0:
            raise PagingError("InvalidRequest", f"eptp {n!r}: an EPT number 0, 1, 2, …")
        space = self.epts.get(n)
        if space is None:
            npt = PageTable(self.s2, self.memory, self.host_frames, self.config.encoding)
            space = AddrSpace(npt, 0, 1 << self.s2.input_bits, self.memory, self.host_frames)
            try:
                for start, hpa, size, flags in self._pool_runs():
                    space.map_linear(start, hpa, size, flags, huge=False, name="guest page tables")
            except PagingError:
                space.destroy()
                raise
            self.epts[n] = space
        self.space, self.npt, self.eptp_index = space, space.pt, n
        self.ram.switch(space)
        self.walker = self._new_walker()

    def _pool_runs(self) -> list[tuple[int, int, int, MappingFlags]]:
        """The first EPT's guest page-table pool as runs of contiguous (gPA, hPA, size, flags)."""
        first, page = self.epts[0], self.s2.granule
        runs: list[tuple[int, int, int, MappingFlags]] = []
        for area in first.areas:
            if area.name != "guest page tables":
                continue
            for gpa in range(area.start, area.end, page):
                hpa = first.translate(gpa)
                if hpa is None:
                    continue
                last = runs[-1] if runs else None
                if last and last[0] + last[2] == gpa and last[1] + last[2] == hpa:
                    runs[-1] = (last[0], last[1], last[2] + page, area.flags)
                else:
                    runs.append((gpa, hpa, page, area.flags))
        return runs

    def _checked_pcid(self, pcid: int) -> int:
        """A PCID is 12 bits, and not 0 only with CR4.PCIDE=1 (SDM Vol. 3A 4.10.1)."""
        enable = self.config.spec.pcid_enable
        if enable is None:
            raise PagingError("InvalidRequest", "pcid is an x86 tag (use asid)")
        if not 0 <= pcid < 1 << 12:
            raise PagingError("InvalidRequest", f"pcid {pcid:#x} is not a 12-bit value")
        if pcid and not self.control.on(*enable):
            raise PagingError("InvalidRequest", f"pcid {pcid} needs CR4.PCIDE=1")
        return pcid

    def flush(
        self,
        kind: str,
        addr: int | None = None,
        *,
        asid: int | None = None,
        vmid: int | str | None = None,
        pcid: int | None = None,
        type: int | None = None,
        no_flush: bool = False,
    ) -> list[TlbEntry]:
        """A TLB invalidation named as the architecture names it, with its operands (an ASID,
        VMID or "all", a PCID, the INVPCID type, MOV CR3's no-flush bit); returns what it
        removed."""
        if kind not in self.config.spec.flushes:
            raise PagingError(
                "InvalidRequest",
                f"flush {kind!r} is not a {self.arch} "
                f"invalidation (allowed: {', '.join(self.config.spec.flushes)})",
            )
        scope, tags = self._flush_scope(kind, asid, vmid, pcid, type)
        enable = self.config.spec.pcid_enable
        if kind == "mov-cr3" and no_flush and (enable is None or not self.control.on(*enable)):
            raise PagingError("InvalidRequest", "no_flush (CR3 bit 63) needs CR4.PCIDE=1")
        skip = kind == "mov-cr3" and no_flush  # SDM 3A 4.10.4.1: bit 63 set: nothing flushed
        removed = [] if self.tlb is None or skip else self.tlb.flush(kind, addr, *tags, scope)
        if self.walk_caches is not None and not skip:
            self.walk_caches.invalidate(kind, addr, tags[0], tags[1], scope)
        if kind == "mov-cr3":
            self.pcid = tags[2]
        self._log(Flushed(kind, addr, len(removed)))
        return removed

    def _flush_scope(
        self,
        kind: str,
        asid: int | None,
        vmid: int | str | None,
        pcid: int | None,
        type: int | None,
    ) -> tuple[FlushScope, tuple[int, int, int]]:
        """The scope and (VMID/EPTP, ASID/VPID, PCID) tags an invalidation's operands name."""
        scope = FLUSHES[kind]
        tags = [self.tag_vmid, self.asid, self.pcid]
        if kind == "invpcid":
            if type not in INVPCID_SCOPES:
                raise PagingError("InvalidRequest", f"invpcid type {type!r} (allowed: 0-3)")
            scope = INVPCID_SCOPES[type]
        if pcid is not None:
            if kind not in ("invpcid", "mov-cr3"):
                raise PagingError("InvalidRequest", f"flush {kind} takes no pcid")
            tags[2] = self._checked_pcid(pcid)
        if asid is not None:
            if not scope.same_asid and kind != "hfence.vvma":
                raise PagingError("InvalidRequest", f"flush {kind} takes no asid")
            tags[1] = asid
            if kind == "hfence.vvma":  # Priv. ISA: with an ASID, global mappings are kept
                scope = replace(scope, same_asid=True, keep_global=True)
        elif kind == "tlbi-aside1is":
            raise PagingError("InvalidRequest", "flush tlbi-aside1is needs asid")
        if vmid is not None:
            if kind != "hfence.gvma":
                raise PagingError("InvalidRequest", f"flush {kind} takes no vmid")
            if vmid == "all":
                scope = replace(scope, same_vmid=False)
            elif isinstance(vmid, int):
                tags[0] = vmid
            else:
                raise PagingError("InvalidRequest", f'vmid {vmid!r} (a number or "all")')
        return scope, (tags[0], tags[1], tags[2])

    def _sizes(self) -> tuple[int, ...]:
        sizes = {lv.leaf_size for f in (self.s1, self.s2) for lv in f.levels if lv.leaf_size}
        return tuple(sorted(sizes))

    def _tlb_context(self) -> TlbContext:
        enable = self.config.spec.global_enable  # x86: CR4.PGE (SDM 3A 4.10.2.4)
        global_ok = enable is None or self.control.on(*enable)
        return TlbContext(
            self.tag_vmid, self.asid, self.pcid, self.s1, self.s2, self._sizes(), global_ok
        )

    def _tables_changed(self, stage: int, flush: Flush) -> None:
        """Route a change's flush to the TLB, its frames as host-physical addresses: a guest
        table frame is a gPA, found through the current EPT (the guest writes its tables
        through it)."""
        if self.tlb is None or not flush.frames:
            return
        frames = flush.frames
        if stage == 1:
            located = (self.space.translate(gpa) for gpa in frames)
            frames = frozenset(hpa & ~0xFFF for hpa in located if hpa is not None)
        self.tlb.invalidate(frames, self.memory)

    def tlb_entries(self) -> list[TlbEntry]:
        return [] if self.tlb is None else self.tlb.all()

    # ------------------------------------------------------------------ teardown

    def destroy(self) -> None:
        """Free every frame: the guest's tables, then stage 2 (areas and tables)."""
        for table in (self._guest_pt, self._guest_pt_hi):
            if table is not None:
                table.destroy()
        for space in self.epts.values():
            space.destroy()
        if self.tlb is not None:
            self.tlb.clear()
        if self.walk_caches is not None:
            self.walk_caches.clear()


def _host_pool_base(config: MachineConfig, s2: PagingFormat) -> int:
    """Stage-2 tables live at 1 TiB, or half way up a narrower stage-2 output (a `teach`
    geometry's 32 bits), or just below a smaller x86 MAXPHYADDR (their addresses must stay
    below it, SDM 3C 29.3.3.1: `ArchSpec.phys_limit`)."""
    base = min(DEFAULT_POOL_BASE, 1 << (s2.output_bits - 1))
    limit = config.spec.phys_limit
    return base if limit is None else min(base, 1 << (config.control.get(*limit) - 1))
