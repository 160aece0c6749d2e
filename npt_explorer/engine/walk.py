"""The two-stage walker: gVA → gPA → hPA as the ordered memory references the hardware makes.

Every stage-1 entry's gPA is translated through stage 2 before the entry is read, and the final
gPA after the stage-1 leaf (hardware.md §1.1). A stage-2 fault on a guest table beats any stage-1
problem at that level (§1.4). One loop per stage; each format's hooks hold the checks in its
manual's order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from .faults import FINAL, GUEST_WALK, During, Fault, finish
from .flags import Access, Priv
from .formats import AccessRequest, Decoded, EntryKind, FaultReason, PagingFormat
from .memory import Frames, write_entry
from .readings import MEMO_LIMIT, Outcome, Readings, StepOutcome


class WalkStep(NamedTuple):
    """One page-table entry read (and the write-back it caused, if any). A value: walks share
    the steps the walker replays from its memos. A named tuple, not a frozen dataclass: as
    immutable, and built in a fifth of the time (a cold walk builds two; benchmarks/README.md,
    session 8); `_replace` gives a changed copy. Equality leaves `readings` (the format's
    memo) aside, as the dataclass did."""

    stage: int
    depth: int
    level_name: str
    purpose: str
    table: int  # the table's address in its own space (gPA for stage 1, hPA for stage 2)
    table_hpa: int
    index: int  # type: ignore[assignment]  # (a step's entry index hides `tuple.index`)
    entry_addr: int  # in the table's own space
    entry_hpa: int
    raw: int
    readings: Readings
    outcome: StepOutcome
    for_depth: int | None = None  # stage-2 steps: the guest depth whose entry they translate
    written: int | None = None  # the value written back (A/D/AF), if any
    cached: str | None = None  # the walk cache that served this read (None: memory)

    @property
    def decoded(self) -> Decoded:
        """The entry as the hardware and the seed read it (decoded on first use, memoised)."""
        return self.readings.decode(self.raw, self.depth)

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
            "cached": self.cached,
        }

    def _key(self) -> tuple[Any, ...]:
        return self[:10] + self[11:]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WalkStep) and self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        named = zip(self._fields, self, strict=True)
        return f"WalkStep({', '.join(f'{k}={v!r}' for k, v in named if k != 'readings')})"


@dataclass(slots=True)
class Walk:
    """A whole translation: its steps and either addresses or a fault."""

    gva: int
    access: Access
    priv: Priv
    steps: list[WalkStep] = field(default_factory=list)
    ac: bool = False  # x86 EFLAGS.AC
    via: str = ""  # RISC-V hlv | hlvx | hsv
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
    def mem_refs(self) -> int:
        """The reads that went to memory: `refs` less those a walk cache served."""
        return sum(1 for s in self.steps if s.cached is None)

    @property
    def page_size(self) -> int | None:
        if self.s1_size is None or self.s2_size is None:
            return None
        return min(self.s1_size, self.s2_size)


#: gpa -> (hpa, stage-2 accumulator, page size, stale) from a stage-2-only TLB entry
S2Lookup = Callable[[int], "tuple[int, Any, int, bool] | None"]
_LEAF = EntryKind.LEAF
#: a stage-2 walk that ended in a page: (hPA of the gPA's smallest page, accumulator, page
#: size, its steps)
_S2Walk = tuple[int, Any, int, tuple[WalkStep, ...]]
#: a walk down to a table: (accumulator, the table's address, its steps)
_Down = tuple[Any, int, tuple[WalkStep, ...]]
#: per guest depth: (shift, index mask, level name, step purpose, stage-2 purpose)
_S1Level = tuple[int, int, str, str, str]
#: the page size a stage that is off contributes (it never limits `Walk.page_size`)
BARE_SIZE = 1 << 64


@dataclass(frozen=True, slots=True)
class _Requests:
    """The interned requests of one (access, priv): the guest's, and stage 2's for guest-table
    reads, A/D write-backs and the final gPA (by the guest page's U/S)."""

    s1: AccessRequest
    read: AccessRequest
    write_back: AccessRequest
    final: AccessRequest
    final_user: AccessRequest


class _Stop(Exception):
    def __init__(self, fault: Fault) -> None:
        self.fault = fault


class _Memos:
    """The walks a walker keeps to replay: stage-2 walks that ended in a page, and walks of
    either stage down to a table. A walk that wrote nothing reads the same entries to the same
    end while memory is unwritten (`Frames.generation`); control changes and EPTP switches
    build a new walker. The walker's own A/D write keeps them unless its frame is one they
    read."""

    __slots__ = ("frames", "generation", "s1", "s2", "s2_down")

    def __init__(self) -> None:
        #: by (gPA >> the smallest page's shift, id of the request, side effects, guest depth,
        #: purpose)
        self.s2: dict[tuple[int, int, bool, int | None, str | None], _S2Walk] = {}
        #: stage-2 walks down to a table, by (its depth, the gPA's bits above it, the rest of
        #: the page key)
        self.s2_down: dict[tuple[int, int, tuple[int, bool, int | None, str | None]], _Down] = {}
        #: guest walks down to a table, by (its depth, the gVA's bits above it, (id of the
        #: requests, side effects))
        self.s1: dict[tuple[int, int, tuple[int, bool]], _Down] = {}
        self.frames: set[int] = set()  # the frames of every entry those walks read
        self.generation = -1

    def current(self, generation: int) -> None:
        """Drop everything if memory was written since (or the memos grew too big)."""
        kept = len(self.s2) + len(self.s2_down) + len(self.s1)
        if generation != self.generation or kept >= MEMO_LIMIT:
            self.forget()
            self.generation = generation

    def forget(self) -> None:
        self.s2.clear()
        self.s2_down.clear()
        self.s1.clear()
        self.frames.clear()

    def wrote(self, frame: int, generation: int) -> None:
        """The walker wrote an entry into `frame`: only a kept walk that read it changes."""
        if frame in self.frames:
            self.forget()
        self.generation = generation


class Walker:
    """Walks one machine's two stages. `side_effects=False` writes nothing (`translate`).

    Each entry's verdict (kind, fault, accumulator, write-back) comes from `Readings`, memoised
    per class of entries; `WalkStep.decoded` is decoded only when someone looks at it.
    """

    def __init__(
        self,
        arch: str,
        s1: PagingFormat,
        s2: PagingFormat,
        memory: Frames,
        guest_root: int | None,
        npt_root: int | None,
    ) -> None:
        """A root of None is a stage that is off (satp/vsatp Bare, or a one-stage dump:
        gPA = hPA); `memory.strict` makes a read of a frame it lacks a `no-memory` fault."""
        self.arch = arch
        self.s1 = s1
        self.s2 = s2
        self.memory = memory
        self.guest_root = guest_root
        self.npt_root = npt_root
        self._memos = _Memos()
        self._root_registers: tuple[int, ...] = ()
        self._guest_root_hi: int | None = None
        self._strict = memory.strict
        #: per stage, the mask of an entry narrower than 8 bytes (0: a whole u64 word)
        self._narrow = {
            n: 0 if f.entry_bytes == 8 else (1 << 8 * f.entry_bytes) - 1
            for n, f in ((1, s1), (2, s2))
        }
        self.r1 = Readings(s1)
        self.r2 = Readings(s2)
        #: per depth: (shift, index mask, level name, step purpose, stage-2 purpose)
        self._s1_levels: tuple[_S1Level, ...] = tuple(
            (
                lv.shift,
                lv.entries - 1,
                lv.name,
                "guest root table" if d == 0 else f"guest {lv.name}",
                f"translate the gPA of the guest {lv.name}",
            )
            for d, lv in enumerate(s1.levels)
        )
        self._s2_levels = tuple((lv.shift, lv.entries - 1, lv.name) for lv in s2.levels)
        self._requests: dict[tuple[Access, Priv, bool, str], _Requests] = {}
        #: hPAs below this pass the output check
        self._s2_output_limit = 1 << s2.output_bits
        #: gPAs below this pass the input check (0: the declared ranges do not start at 0)
        first = s2.input_ranges[0]
        self._s2_input_limit = first[1] if first[0] == 0 else 0
        self._s2_page_shift = s2.levels[-1].shift
        self._s2_offset = (1 << self._s2_page_shift) - 1
        #: where a kept walk down to a table resumes, per stage (`_resume`)
        self._resume_at = _resume_at(s1)
        self._s2_resume_at = _resume_at(s2)

    @property
    def root_registers(self) -> tuple[int, ...]:
        """The root entries the CPU holds in registers (`PagingFormat.root_registers`)."""
        return self._root_registers

    @root_registers.setter
    def root_registers(self, entries: tuple[int, ...]) -> None:
        self._root_registers = entries
        self._memos.s1.clear()  # the guest walks memoised began at the old ones

    @property
    def guest_root_hi(self) -> int | None:
        """AArch64 TTBR1_EL1's table, for gVAs in the upper range (`s1.upper`); None: none."""
        return self._guest_root_hi

    @guest_root_hi.setter
    def guest_root_hi(self, root: int | None) -> None:
        self._guest_root_hi = root
        self._memos.s1.clear()

    def _reqs(self, access: Access, priv: Priv, ac: bool = False, via: str = "") -> _Requests:
        """Guest page-table accesses are implicit: no EFLAGS.AC, no HLVX (MXR never applies)."""
        reqs = self._requests.get((access, priv, ac, via))
        if reqs is None:
            s2, intern = self.s2, self.r2.intern

            def implicit(write_back: bool) -> AccessRequest:
                kind = s2.implicit_access(write_back)
                return AccessRequest(kind, priv, access, True, write_back)

            reqs = self._requests[(access, priv, ac, via)] = _Requests(
                self.r1.intern(AccessRequest(access, priv, ac=ac, via=via)),
                intern(implicit(False)),
                intern(implicit(True)),
                intern(AccessRequest(access, priv, guest_user_page=False, ac=ac, via=via)),
                intern(AccessRequest(access, priv, guest_user_page=True, ac=ac, via=via)),
            )
        return reqs

    def translate(
        self,
        gva: int,
        access: Access,
        priv: Priv = Priv.KERNEL,
        side_effects: bool = True,
        s2_lookup: S2Lookup | None = None,
        *,
        ac: bool = False,
        via: str = "",
    ) -> Walk:
        """Walk both stages for `gva`. `s2_lookup` (a stage-2-only TLB) may supply the final
        gPA's translation; the tables alone decide otherwise. `ac`: x86 EFLAGS.AC; `via`: a
        RISC-V hlv/hlvx/hsv from HS-mode."""
        if access is Access.EXEC:  # a branch strips a tag TBI ignores: the PC has none (D8.8)
            gva = self.s1.untagged(gva, access)
        walk = Walk(gva, access, priv, ac=ac, via=via)
        self._memos.current(self.memory.generation)
        try:
            self._walk(walk, side_effects, s2_lookup)
        except _Stop as stop:
            walk.fault = finish(stop.fault)
        return walk

    def translate_gpa(self, gpa: int, access: Access, priv: Priv = Priv.KERNEL) -> Walk:
        """Stage 2 alone (what a stage-2-only TLB entry caches)."""
        walk = Walk(gpa, access, priv)
        self._memos.current(self.memory.generation)
        try:
            req = self._reqs(Access.parse(access), Priv.parse(priv)).final
            hpa, acc, size = self._stage2(walk, gpa, req, None, FINAL, False, "stage-2")
            walk.gpa, walk.hpa, walk.s2_acc, walk.s2_size, walk.s1_size = gpa, hpa, acc, size, size
        except _Stop as stop:
            walk.fault = finish(stop.fault)
        return walk

    # ------------------------------------------------------------------ stage 1

    def _walk(self, walk: Walk, side_effects: bool, s2_lookup: S2Lookup | None) -> None:
        s1, r1, gva = self.s1, self.r1, walk.gva
        reqs = self._reqs(walk.access, walk.priv, walk.ac, walk.via)
        if self.guest_root is None:  # stage 1 off: gPA = gVA
            walk.gpa, walk.s1_size = gva, BARE_SIZE
            walk.hpa, walk.s2_acc, walk.s2_size = self._stage2(
                walk, gva, reqs.final, None, FINAL, side_effects, "translate the final gPA"
            )
            return
        va = s1.untagged(gva, walk.access)  # AArch64 TBI: a data access's tag stays in FAR
        reason = s1.check_input(va)
        if reason is not None:
            raise _Stop(self._fault(walk, 1, reason, None))
        root = self.guest_root
        if self._guest_root_hi is not None and va >> 63:  # VA[55]=1: TTBR1 (Arm ARM D8.2.2)
            root = self._guest_root_hi
        tail = (id(reqs), side_effects)
        at = _resume(self._memos.s1, self._resume_at, gva, tail, walk.steps, (0, r1.start, root))
        start, acc, table = at
        for depth in range(start, len(self._s1_levels)):
            out, raw, hpa = self._s1_entry(walk, depth, table, acc, reqs, side_effects)
            if out.reason is not None:  # invalid / misconfigured entry, or the hook's fault
                bad_acc = acc if out.bad or hpa is None else out.acc
                raise _Stop(self._fault(walk, 1, out.reason, depth, req=reqs.s1, acc=bad_acc,
                                        raw=raw))  # fmt: skip
            acc = out.acc
            if out.kind is _LEAF:
                size = out.page_size
                assert size is not None
                walk.gpa = _leaf_base(out, r1, raw, size) + (gva & (size - 1))
                walk.s1_size, walk.s1_acc = size, acc
                break
            table = _next_table(out, r1, raw)
            if not walk.writes:  # nothing written: a walk of the same upper gVA bits repeats it
                self._remember(walk, depth, hpa, (acc, table, tuple(walk.steps)), tail)
        self._final(walk, acc, reqs, side_effects, s2_lookup)

    def _remember(
        self, walk: Walk, depth: int, hpa: int | None, down: _Down, tail: tuple[int, bool]
    ) -> None:
        """Keep the walk so far, down to the table after `depth`: the entries it read depend on
        the gVA's bits from the shift of `depth` up, the request and memory alone (`_Memos`)."""
        self._memos.s1[(depth + 1, walk.gva >> self._s1_levels[depth][0], tail)] = down
        if hpa is not None:  # (a PAE PDPTE is a register: `root_registers` clears the memo)
            self._memos.frames.add(hpa >> 12)

    def _root_register(self, walk: Walk, level: _S1Level) -> int:
        """The root entry the CPU holds in a register (PAE PDPTE n); 0 past the last one."""
        index = (walk.gva >> level[0]) & level[1]
        return self._root_registers[index] if index < len(self._root_registers) else 0

    def _s1_entry(
        self, walk: Walk, depth: int, table: int, acc: Any, reqs: _Requests, side_effects: bool
    ) -> tuple[Outcome, int, int | None]:
        """The guest entry at `depth`, the verdict on it and its hPA: the entry's gPA through
        stage 2 first (hardware.md §1.1; a stage-2 fault here beats any stage-1 problem, §1.4),
        then the entry, its step and its A/D write-back, a guest-physical write stage 2 must
        allow (a check that records no steps). A PAE PDPTE is a register: no reference, no A."""
        level = self._s1_levels[depth]
        if depth == 0 and self.s1.root_registers:
            raw = self._root_register(walk, level)
            return self.r1.outcome(depth, raw, acc, reqs.s1), raw, None
        shift, mask, where, purpose, s2_purpose = level
        index = (walk.gva >> shift) & mask
        size = self.s1.entry_bytes
        entry_gpa = table + index * size
        hpa, _, _ = self._stage2(
            walk, entry_gpa, reqs.read, depth, GUEST_WALK, side_effects, s2_purpose
        )
        raw = self._read(walk, 1, depth, hpa, entry_gpa)
        out = self.r1.outcome(depth, raw, acc, reqs.s1)  # the one verdict on this entry
        written = None
        try:
            if out.reason is None and out.set_bits is not None:
                self._stage2(walk, entry_gpa, reqs.write_back, depth, GUEST_WALK, side_effects,
                             None)  # fmt: skip
                written = (raw & out.wb_keep) | out.set_bits if side_effects else None
        finally:  # the entry's step, also when that check faults
            walk.steps.append(WalkStep(
                1, depth, where, purpose, table, hpa - index * size, index, entry_gpa, hpa, raw,
                self.r1, out.label, None, written,
            ))  # fmt: skip
        if written is not None:
            self._write_back(walk, hpa, written, self.s1)
        return out, raw, hpa

    def _final(
        self, walk: Walk, acc: Any, reqs: _Requests, side_effects: bool, s2_lookup: S2Lookup | None
    ) -> None:
        """The final gPA: stage 1's output check, then stage 2 (or a stage-2-only TLB entry)
        with the guest page's U/S."""
        s1 = self.s1
        assert walk.gpa is not None
        if not s1.check_output(walk.gpa):
            raise _Stop(self._fault(walk, 1, FaultReason.ADDRESS_SIZE, s1.leaf_depth, acc=acc))
        final_req = reqs.final_user if s1.user_page(acc) else reqs.final
        cached = s2_lookup(walk.gpa) if s2_lookup else None
        if cached is not None and self.s2.allows(cached[1], final_req) is None:
            hpa, s2_acc, size, stale = cached
            walk.s2_cached, walk.stale = True, stale
            if stale:
                walk.note = "the final gPA used a stale stage-2 TLB entry"
            res = (hpa, s2_acc, size)
        else:
            res = self._stage2(
                walk, walk.gpa, final_req, None, FINAL, side_effects, "translate the final gPA"
            )
        walk.hpa, walk.s2_acc, walk.s2_size = res

    # ------------------------------------------------------------------ stage 2

    def _stage2(
        self,
        walk: Walk,
        gpa: int,
        req: AccessRequest,
        for_depth: int | None,
        during: During,
        side_effects: bool,
        purpose: str | None,
    ) -> tuple[int, Any, int]:
        """Stage 2 for `gpa` with an interned `req`: (hPA, accumulator, page size); its steps
        recorded with `purpose` (None: an A/D write-back's check, which records none). A walk of
        a page walked before while memory has not changed (`_Memos`) reads the same entries to
        the same end, so its steps are replayed — as the paging-structure caches do in
        hardware, but never stale: they are the steps a walk now would make."""
        if self.npt_root is None:  # stage 2 off: hPA = gPA
            return gpa, None, BARE_SIZE
        if not 0 <= gpa < self._s2_input_limit:
            reason = self.s2.check_input(gpa)
            if reason is not None:
                raise _Stop(self._fault(walk, 2, reason, None, gpa=gpa, during=during, req=req))
        memo = self._memos.s2
        key = (gpa >> self._s2_page_shift, id(req), side_effects, for_depth, purpose)
        seen = memo.get(key)
        if seen is None:
            writes = walk.writes
            seen = self._s2_walk(walk, gpa, req, for_depth, during, side_effects, purpose)
            if walk.writes == writes:  # nothing written back: it will repeat
                memo[key] = seen
        elif seen[3]:
            walk.steps += seen[3]
        return seen[0] + (gpa & self._s2_offset), seen[1], seen[2]

    def _s2_walk(
        self,
        walk: Walk,
        gpa: int,
        req: AccessRequest,
        for_depth: int | None,
        during: During,
        side_effects: bool,
        purpose: str | None,
    ) -> _S2Walk:
        """`_stage2`'s walk through the tables, entry by entry: (hPA of the gPA's smallest
        page, accumulator, page size, its steps)."""
        s2, r2, steps, down = self.s2, self.r2, walk.steps, self._memos.s2_down
        first, writes, tail = len(steps), walk.writes, (id(req), side_effects, for_depth, purpose)
        root = self.npt_root
        assert root is not None
        start, acc, table = _resume(down, self._s2_resume_at, gpa, tail, steps, (0, r2.start, root))
        peek, size_of_entry, wide = self.memory.peek_frame, s2.entry_bytes, s2.entry_bytes == 8
        frames = self._memos.frames
        for depth in range(start, len(self._s2_levels)):
            shift, mask, name = self._s2_levels[depth]
            index = (gpa >> shift) & mask
            addr = table + index * size_of_entry
            frames.add(addr >> 12)
            words = peek(addr >> 12) if wide else None  # `_read`'s common case, inline
            if words is None:
                raw = self._read(walk, 2, depth, addr, gpa, during)
            else:
                raw = words.item((addr & 0xFFF) >> 3)
            out = r2.outcome(depth, raw, acc, req)  # the one verdict on this entry
            written = None
            if out.set_bits is not None and out.reason is None and side_effects:
                written = (raw & out.wb_keep) | out.set_bits
            if purpose is not None:
                steps.append(WalkStep(
                    2, depth, name, purpose, table, table, index, addr, addr, raw, r2, out.label,
                    for_depth, written,
                ))  # fmt: skip
            if out.reason is not None:  # invalid / misconfigured entry, or the hook's fault
                bad_acc = None if out.bad else out.acc
                raise _Stop(self._fault(walk, 2, out.reason, depth, gpa=gpa, during=during,
                                        req=req, acc=bad_acc, raw=raw))  # fmt: skip
            if written is not None:
                self._write_back(walk, addr, written, s2)
            acc = out.acc
            if out.kind is _LEAF:
                base, size = self._s2_leaf(walk, gpa, out, raw, depth, during, req)
                return base, acc, size, tuple(steps[first:])
            table = out.exact_paddr if out.exact_paddr is not None else r2.paddr(raw)
            if walk.writes == writes:  # nothing written: a walk of the same upper bits repeats it
                down[(depth + 1, gpa >> shift, tail)] = (acc, table, tuple(steps[first:]))
        raise AssertionError("a walk always ends in a leaf or a fault")

    def _s2_leaf(
        self,
        walk: Walk,
        gpa: int,
        out: Outcome,
        raw: int,
        depth: int,
        during: During,
        req: AccessRequest,
    ) -> tuple[int, int]:
        """The stage-2 leaf's (hPA of the gPA's smallest page, page size), its output checked."""
        size = out.page_size
        assert size is not None
        hpa = _leaf_base(out, self.r2, raw, size) + (gpa & (size - 1))
        if hpa >= self._s2_output_limit and not self.s2.check_output(hpa):
            raise _Stop(self._fault(walk, 2, FaultReason.ADDRESS_SIZE, depth, gpa=gpa,
                                    during=during, req=req, acc=out.acc, raw=raw))  # fmt: skip
        return hpa & ~self._s2_offset, size

    # ------------------------------------------------------------------ memory

    def _read(
        self, walk: Walk, stage: int, depth: int, hpa: int, gpa: int, during: During | None = None
    ) -> int:
        """The entry at `hpa` (of the stage's entry width); a frame the memory lacks reads as 0,
        or faults when strict."""
        words = self.memory.peek_frame(hpa >> 12)
        if words is None:
            if self._strict:
                raise _Stop(self._no_memory(walk, stage, depth, hpa, gpa, during))
            return 0
        raw: int = words.item((hpa & 0xFFF) >> 3)
        narrow = self._narrow[stage]  # an entry narrower than the u64 word: its bytes of it
        if narrow:
            raw = (raw >> ((hpa & 7) << 3)) & narrow
        return raw

    def _write_back(self, walk: Walk, hpa: int, value: int, fmt: PagingFormat) -> None:
        """Write A/D/AF back into the entry at `hpa` (a walk with side effects only)."""
        write_entry(self.memory, hpa, value, fmt.entry_bytes)
        self._memos.wrote(hpa >> 12, self.memory.generation)
        walk.writes += 1

    # ------------------------------------------------------------------ faults

    def _no_memory(
        self, walk: Walk, stage: int, depth: int, hpa: int, gpa: int, during: During | None = None
    ) -> Fault:
        """The entry's host frame is in no range of the memory (an image lacks it)."""
        fault = self._fault(walk, stage, FaultReason.NO_MEMORY, depth, gpa=gpa, during=during)
        return replace(fault, hpa=hpa, gpa=gpa if stage == 2 else None)

    def _fault(
        self,
        walk: Walk,
        stage: int,
        reason: FaultReason,
        depth: int | None,
        *,
        gpa: int | None = None,
        during: During | None = None,
        req: AccessRequest | None = None,
        acc: Any = None,
        raw: int | None = None,
    ) -> Fault:
        fmt = self.s1 if stage == 1 else self.s2
        rule = ""
        if reason is FaultReason.PERMISSION and req is not None and acc is not None:
            rule = fmt.deciding_rule(acc, req)
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
            write_back=bool(req and req.write_back),
            implicit_access=req.access if req is not None and req.implicit else None,
            acc=acc,
            raw=raw,
            features=fmt.features | (self.s2.features if stage == 1 else self.s1.features),
            ac=walk.ac,
            via=walk.via,
            rule=rule,
            control=fmt.control,
            guest_acc=walk.s1_acc if stage == 2 and during == FINAL else None,
        )


def _next_table(out: Outcome, readings: Readings, raw: int) -> int:
    """The next table's address: the class's address shape, or an exact entry's own."""
    return out.exact_paddr if out.exact_paddr is not None else readings.paddr(raw)


def _leaf_base(out: Outcome, readings: Readings, raw: int, size: int) -> int:
    """The leaf's output base (page-aligned), or an exact entry's decoded address as is."""
    return out.exact_paddr if out.exact_paddr is not None else readings.paddr(raw) & ~(size - 1)


def _resume_at(fmt: PagingFormat) -> tuple[tuple[int, int], ...]:
    """Where a kept walk down to a table resumes, deepest first: (depth, the shift of the entry
    above it — the address bits from there up chose the table)."""
    return tuple((d, fmt.levels[d - 1].shift) for d in range(fmt.depth_count - 1, 0, -1))


def _resume(
    memo: dict[Any, _Down],
    at: tuple[tuple[int, int], ...],
    addr: int,
    tail: Any,
    steps: list[WalkStep],
    root: tuple[int, Any, int],
) -> tuple[int, Any, int]:
    """Where a walk of `addr` starts: (depth, accumulator, table) at the deepest table a kept
    walk of its upper bits reached, its steps replayed into `steps`; else `root`."""
    if memo:
        for depth, shift in at:
            seen = memo.get((depth, addr >> shift, tail))
            if seen is not None:
                steps += seen[2]
                return depth, seen[0], seen[1]
    return root
