"""RISC-V (RV64, H extension): Sv39/Sv48/Sv57 VS-stage, Sv39x4/Sv48x4/Sv57x4 G-stage, and the
seed's plain Sv39/Sv48 G-stage (axaddrspace reuses page_table_entry's `Rv64PTE` with a 4 KiB root).

The PTE layout and its fault rules live in `riscv_pte`; the syndromes in `riscv_faults`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import PagingError
from ..faults import register_reporter
from ..flags import Access, MappingFlags, Priv
from . import riscv_thead as thead
from .base import (
    AccessRequest,
    Decoded,
    Encoding,
    EntryKind,
    FaultReason,
    Field,
    Level,
    PagingFormat,
    StepCheck,
    decoded_fields,
)
from .riscv_faults import ARCH, explain, syndrome
from .riscv_pte import (
    NAPOT_SIZE,
    PAGE_SHIFT,
    PBMT_IO,
    PBMT_NC,
    PBMT_SHIFT,
    PPN_MASK,
    PPN_SHIFT,
    PTE_A,
    PTE_D,
    PTE_N,
    PTE_R,
    PTE_U,
    PTE_V,
    PTE_W,
    PTE_X,
    SVADU,
    SVNAPOT,
    SVPBMT,
    field_table,
    is_pointer,
    level_name,
    pbmt,
    ppn,
    violations,
)
from .shapes import BitMove, BitTest

if TYPE_CHECKING:
    from ..control import Control

_RWX = MappingFlags.READ | MappingFlags.WRITE | MappingFlags.EXECUTE
_MEMORY_TYPES = MappingFlags.DEVICE | MappingFlags.UNCACHED
_NO_FLAGS = MappingFlags(0)
#: MappingFlags bit -> PTE bit, 1:1 in the seed's `From<MappingFlags> for PTEFlags`
_SEED_BITS = (
    (MappingFlags.READ, PTE_R),
    (MappingFlags.WRITE, PTE_W),
    (MappingFlags.EXECUTE, PTE_X),
    (MappingFlags.USER, PTE_U),
)


def _levels(count: int, root_bits: int) -> tuple[Level, ...]:
    """Depth 0 is the root, level `count - 1` in the manual's numbering; every level may be a
    leaf (privileged spec: "any level of PTE may be a leaf PTE")."""
    out = []
    for depth in range(count):
        level = count - 1 - depth
        shift = PAGE_SHIFT + 9 * level
        out.append(Level(level_name(level), shift, root_bits if depth == 0 else 9, 1 << shift))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class LeafPerms:
    """The leaf's R/W/X/U: RISC-V has no hierarchical permissions (non-leaf A/D/U are reserved)."""

    r: bool = False
    w: bool = False
    x: bool = False
    u: bool = False

    @classmethod
    def of(cls, raw: int) -> LeafPerms:
        return cls(bool(raw & PTE_R), bool(raw & PTE_W), bool(raw & PTE_X), bool(raw & PTE_U))


@dataclass(frozen=True, slots=True)
class RiscvControls:
    """The status bits one stage's permission and A/D checks read (Priv. ISA 12.1.1, 21.2)."""

    sum: bool = False  # VS-stage: vsstatus.SUM
    mxr: bool = False  # VS-stage: vsstatus.MXR or sstatus.MXR; G-stage: sstatus.MXR
    adue: bool = False  # Svadu: henvcfg.ADUE (VS-stage) / menvcfg.ADUE (G-stage)

    @classmethod
    def of(cls, control: Control, stage: int) -> RiscvControls:
        mxr = control.on("sstatus", "MXR")  # the HS-level MXR reaches both stages
        if stage == 1:
            mxr = mxr or control.on("vsstatus", "MXR")
            return cls(control.on("vsstatus", "SUM"), mxr, control.on("henvcfg", "ADUE"))
        return cls(False, mxr, control.on("menvcfg", "ADUE"))

    def denial(self, acc: LeafPerms, req: AccessRequest, stage: int) -> str:
        """The rule that forbids `req`, "" when allowed."""
        if stage == 2:
            if not acc.u:  # hypervisor spec: G-stage accesses are always U-mode
                return "U"
        elif req.priv is Priv.USER and not acc.u:
            return "U"
        elif req.priv is not Priv.USER and acc.u:
            if req.access is Access.EXEC:
                return "U-fetch"  # S-mode never fetches from a U page
            if not self.sum:
                return "SUM"
        if req.via == "hlvx":  # HLVX reads need X instead of R, at both stages
            return "" if acc.x else "HLVX"
        if req.access is Access.READ and not acc.r:
            # MXR makes execute-only pages readable, never for implicit PT reads
            return "" if acc.x and self.mxr and not req.implicit else "MXR" if acc.x else "R"
        if req.access is Access.WRITE and not (acc.r and acc.w):
            return "W"
        if req.access is Access.EXEC and not acc.x:
            return "X"
        return ""


@dataclass(frozen=True, slots=True)
class RiscvFormat(PagingFormat):
    """One RISC-V translation mode; `stage` 1 is the VS-stage (vsatp), 2 the G-stage (hgatp)."""

    name: str
    stage: int
    levels: tuple[Level, ...]
    signed_input: bool
    features: frozenset[str]
    output_bits: int = 56
    addr_mask: int = PPN_MASK
    paddr_move = BitMove(PPN_MASK, 2)  # the PPN sits at bit 10: address = (raw & mask) << 2
    present_test = BitTest(PTE_V)
    huge_test = BitTest(PTE_R | PTE_X)  # Rv64PTE::is_huge, also for V=0 entries

    # ------------------------------------------------------------------ the seed's predicates

    def entry_paddr(self, raw: int) -> int:
        """`Rv64PTE::paddr`: the PPN field sits at bit 10, so the address is (raw & mask) << 2."""
        return (raw & PPN_MASK) << 2

    def set_paddr(self, raw: int, paddr: int) -> int:
        return (raw & ~PPN_MASK) | ((paddr >> 2) & PPN_MASK)

    def free_address_bits(self, depth: int) -> int:
        """Svnapot: PPN[3:0] of a level-0 leaf decide whether N=1 makes a 64 KiB page."""
        free = PagingFormat.free_address_bits(self, depth)
        if SVNAPOT in self.features and depth == self.leaf_depth:
            free &= ~(0xF << PPN_SHIFT)
        return free

    def seed_present(self, raw: int) -> bool:
        return bool(raw & PTE_V)

    def seed_huge(self, raw: int) -> bool:
        return bool(raw & (PTE_R | PTE_X))  # also for V=0 entries

    def seed_flags(self, raw: int) -> MappingFlags:
        if not raw & PTE_V:
            return _NO_FLAGS
        return MappingFlags(sum(int(flag) for flag, bit in _SEED_BITS if raw & bit))

    # ---------------------------------------------------------------------------- encodings

    def new_table(self, paddr: int, encoding: Encoding) -> int:
        return PTE_V | ((paddr >> 2) & PPN_MASK)  # D/A/U must be 0 in a pointer: seed == fixed

    def new_page(self, paddr: int, flags: MappingFlags, huge: bool, encoding: Encoding) -> int:
        """Leafness is R or X, so `huge` changes nothing (the seed ignores it too)."""
        bits = _seed_bits(flags) if encoding is Encoding.SEED else self._fixed_bits(flags)
        if encoding is Encoding.SEED and bits and self.maee:
            bits |= thead.SEED_DEVICE if flags & MappingFlags.DEVICE else thead.SEED_NORMAL
        return bits | ((paddr >> 2) & PPN_MASK)

    @property
    def maee(self) -> bool:
        """T-Head memory attributes in bits 63:59 (feature ``xuantie-c9xx``)."""
        return thead.XUANTIE in self.features

    def _fixed_bits(self, flags: MappingFlags) -> int:
        if not flags & _RWX:
            return 0
        bits = PTE_V | PTE_A | PTE_D  # A/D preset: Svade would fault on the first access
        if flags & (MappingFlags.READ | MappingFlags.WRITE):
            bits |= PTE_R  # W without R is reserved
        if flags & MappingFlags.WRITE:
            bits |= PTE_W
        if flags & MappingFlags.EXECUTE:
            bits |= PTE_X
        if flags & MappingFlags.USER or self.stage == 2:
            bits |= PTE_U  # hypervisor spec: every G-stage access is a U-mode access
        if self.maee:
            return bits | _maee_for(flags)
        return bits | (self._pbmt_for(flags) << PBMT_SHIFT)

    def _pbmt_for(self, flags: MappingFlags) -> int:
        if SVPBMT not in self.features:
            return 0
        if flags & MappingFlags.DEVICE:
            return PBMT_IO
        return PBMT_NC if flags & MappingFlags.UNCACHED else 0

    def encoding_problems(self, flags: MappingFlags, huge: bool, encoding: Encoding) -> list[str]:
        if encoding is Encoding.SEED:
            return self._seed_problems(flags)
        if not flags & _RWX:
            ignored = flags & ~MappingFlags.USER if self.stage == 2 else flags
            if not ignored:
                return []  # nothing to grant: an invalid entry says exactly that
            return [
                f"{flags.short()} without READ, WRITE or EXECUTE: a leaf must grant an access, "
                "so only the address is written (V=0: not present)"
            ]
        out = []
        if flags & MappingFlags.WRITE and not flags & MappingFlags.READ:
            out.append("WRITE without READ is a reserved encoding (W=1, R=0): READ added")
        if self.maee:
            return out
        if flags & _MEMORY_TYPES and SVPBMT not in self.features:
            dropped = "+".join((flags & _MEMORY_TYPES).names())
            out.append(f"{dropped} dropped: a memory type needs PBMT (feature svpbmt)")
        elif flags & _MEMORY_TYPES == _MEMORY_TYPES:
            out.append("DEVICE+UNCACHED: PBMT=IO (non-cacheable I/O), read back as DEVICE")
        return out

    def _seed_problems(self, flags: MappingFlags) -> list[str]:
        if not flags:
            return [
                "no flags: the seed writes only the address (V=0: not present); "
                "debug builds panic (debug_assert!: R or X)"
            ]
        out = []
        if not flags & (MappingFlags.READ | MappingFlags.EXECUTE):
            out.append(
                "no READ or EXECUTE: debug builds panic (debug_assert!: R or X); release "
                "builds write this entry"
            )
            if not flags & MappingFlags.WRITE:
                out.append(
                    "V=1 with XWR=000 is a pointer to a next-level table, not a leaf: "
                    "the hardware walks into the page"
                )
        if self.maee:
            out += _seed_maee_problems(flags)
        else:
            for flag in (MappingFlags.DEVICE, MappingFlags.UNCACHED):
                if flags & flag:
                    out.append(f"{flag.name} dropped: the seed writes no PBMT (Svpbmt)")
        # what the hardware makes of the entry written (W without R, U=0 at the G-stage, …)
        # is the decoder's to say: `encode --table` states each condition once
        return out

    @property
    def _fault_words(self) -> str:
        return "page fault" if self.stage == 1 else "guest-page fault"

    # ------------------------------------------------------------------ the hardware's reading

    def field_table(self, depth: int, kind: EntryKind) -> tuple[Field, ...]:
        return field_table(self.stage, kind, self.features)

    def decode(self, raw: int, depth: int) -> Decoded:
        seed = self.seed_read_back(raw)
        kind, reason, flagged, problems = self._reading(raw, depth, seed)
        if kind is EntryKind.INVALID:
            layout = self.field_table(depth, kind)
        else:
            layout = self.field_table(depth, EntryKind.TABLE if is_pointer(raw) else EntryKind.LEAF)
        paddr, size = self._output(raw, depth, kind)
        hw = self._grants(raw) if kind is EntryKind.LEAF else _NO_FLAGS
        fields = decoded_fields(layout, raw, flagged)
        return Decoded(
            format=self.name,
            depth=depth,
            level_name=self.level_name(depth),
            raw=raw,
            kind=kind,
            paddr=paddr,
            page_size=size,
            fields=fields,
            reason=reason,
            problems=tuple(problems),
            mapping_flags=seed,
            hw_flags=hw,
        )

    def _reading(
        self, raw: int, depth: int, seed: MappingFlags | None
    ) -> tuple[EntryKind, FaultReason | None, list[str], list[str]]:
        """Kind, fault reason, fields to flag and problems, as the hardware reads `raw`."""
        if not raw & PTE_V:
            problems = self._invalid_problems(raw, depth)
            return EntryKind.INVALID, FaultReason.NOT_PRESENT, [], problems
        found = violations(raw, self.leaf_depth - depth, self.features)
        if found:
            problems = [v.words for v in found]
            if seed:
                hw = f"the hardware raises a {self._fault_words}"
                problems.append(f"the seed reads {seed.short()}, but {hw}")
            flagged = [name for v in found for name in v.fields]
            return (
                EntryKind.MISCONFIGURED,
                found[0].reason,
                flagged,
                problems + self._other_reading(raw),
            )
        if is_pointer(raw):
            return EntryKind.TABLE, None, [], []
        flagged = ["U"] if self.stage == 2 and not raw & PTE_U else []
        return EntryKind.LEAF, None, flagged, self._leaf_problems(raw, seed)

    def _output(self, raw: int, depth: int, kind: EntryKind) -> tuple[int | None, int | None]:
        """(next table or output base, page size) of `raw`."""
        if kind is EntryKind.INVALID:
            return None, None
        paddr = ppn(raw) << PAGE_SHIFT
        if kind is not EntryKind.LEAF:
            return paddr, None
        if raw & PTE_N:  # Svnapot: VPN[3:0] replace PPN[3:0] of a 64 KiB page
            return paddr & ~(NAPOT_SIZE - 1), NAPOT_SIZE
        return paddr, 1 << self.levels[depth].shift

    def _grants(self, raw: int) -> MappingFlags:
        """What a usable leaf grants (the G-stage grants nothing without U)."""
        if self.stage == 2 and not raw & PTE_U:
            return _NO_FLAGS
        flags = self.seed_flags(raw)
        if self.stage == 2:
            flags &= ~MappingFlags.USER
        if self.maee:
            return flags | _maee_memory(raw)
        memory_type = {PBMT_IO: MappingFlags.DEVICE, PBMT_NC: MappingFlags.UNCACHED}
        return flags | memory_type.get(pbmt(raw), _NO_FLAGS)

    def _invalid_problems(self, raw: int, depth: int) -> list[str]:
        if depth == self.leaf_depth or not ppn(raw):
            return []
        return [
            "V=0 but PPN != 0: the seed's walk still follows this entry (next_table tests "
            "paddr != 0), the hardware faults"
        ]

    def _leaf_problems(self, raw: int, seed: MappingFlags | None) -> list[str]:
        out = []
        if self.stage == 2 and not raw & PTE_U:
            out.append(
                f"U=0: every G-stage access is a U-mode access, so this leaf guest-page "
                f"faults on every access (the seed reads {seed.short() if seed else '-'})"
            )
        if not self.ctl.adue:
            if not raw & PTE_A:
                out.append(f"A=0: without svadu every access {self._fault_words}s (Svade)")
            elif raw & PTE_W and not raw & PTE_D:
                out.append(f"D=0: without svadu a store {self._fault_words}s (Svade)")
        what = f"MAEE {thead.memory_words(raw)}" if self.maee else f"PBMT={pbmt(raw)}"
        for flag in self._grants(raw) & _MEMORY_TYPES:
            if not seed or flag not in seed:
                out.append(f"{what} makes this {flag.name} memory; the seed reads no {flag.name}")
        return out + self._other_reading(raw)

    def _other_reading(self, raw: int) -> list[str]:
        """The decoder's second reading of bits 63:59, where T-Head MAEE and Svpbmt/Svnapot
        collide: the standard one under ``xuantie-c9xx``, T-Head's otherwise."""
        if self.maee:
            words = thead.standard_reading(raw)
            return [words] if words else []
        if raw & thead.MAEE_MASK:
            return [
                f"on a T-Head core with MAEE (feature xuantie-c9xx) bits 63:59 are the memory "
                f"type {thead.memory_words(raw)}"
            ]
        return []

    # ------------------------------------------------------------------------ walker hooks

    def start(self) -> LeafPerms:
        return LeafPerms()

    def descend(self, acc: LeafPerms, dec: Decoded, req: AccessRequest) -> StepCheck:
        return StepCheck(acc)  # nothing to fold: pointers carry no permissions

    def leaf(self, acc: LeafPerms, dec: Decoded, req: AccessRequest) -> StepCheck:
        """Permission, then A/D: the order of the privileged spec's translation algorithm."""
        perms = LeafPerms.of(dec.raw)
        reason = self.allows(perms, req)
        if reason is not None:
            return StepCheck(perms, reason)
        need = PTE_A | (PTE_D if req.access is Access.WRITE else 0)
        if dec.raw & need == need:
            return StepCheck(perms)
        if self.ctl.adue:  # hardware A/D update; at stage 1 an implicit store to the PTE
            return StepCheck(perms, write_back=dec.raw | need, notes=("Svadu sets A/D",))
        return StepCheck(perms, FaultReason.ACCESS_FLAG)

    @property
    def ctl(self) -> RiscvControls:
        """The configured status bits, or the machine's assumptions (SUM=MXR=0, Svadu as the
        `svadu` feature says)."""
        return self.__dict__.get("_ctl") or RiscvControls(adue=SVADU in self.features)

    def configure(self, control: Control) -> None:
        PagingFormat.configure(self, control)
        if control.arch == "riscv64":
            object.__setattr__(self, "_ctl", RiscvControls.of(control, self.stage))

    def allows(self, acc: LeafPerms, req: AccessRequest) -> FaultReason | None:
        return FaultReason.PERMISSION if self.ctl.denial(acc, req, self.stage) else None

    def deciding_rule(self, acc: LeafPerms, req: AccessRequest) -> str:
        return self.ctl.denial(acc, req, self.stage)

    def describe_perms(self, acc: LeafPerms) -> str:
        rwx = "".join(
            ch if ok else "-" for ch, ok in zip("rwx", (acc.r, acc.w, acc.x), strict=True)
        )
        if self.stage == 2:
            return rwx if acc.u else f"{rwx} (U=0: no access)"
        return f"{rwx} {'u' if acc.u else 's'}"

    def user_page(self, acc: LeafPerms) -> bool:
        return self.stage == 1 and acc.u


def _seed_bits(flags: MappingFlags) -> int:
    """page_table_entry 0.6.1 `From<MappingFlags> for PTEFlags`: empty -> 0, else V|A|D|R|W|X|U."""
    if not flags:
        return 0
    return PTE_V | PTE_A | PTE_D | sum(bit for flag, bit in _SEED_BITS if flags & flag)


def _maee_for(flags: MappingFlags) -> int:
    """Linux's T-Head memory types: DEVICE -> IO, UNCACHED -> NC, else PMA."""
    if flags & MappingFlags.DEVICE:
        return thead.IO
    return thead.NC if flags & MappingFlags.UNCACHED else thead.PMA


def _maee_memory(raw: int) -> MappingFlags:
    """What T-Head MAEE bits make of the memory: SO -> DEVICE, not C -> UNCACHED."""
    if raw & thead.SO:
        return MappingFlags.DEVICE
    return _NO_FLAGS if raw & thead.C else MappingFlags.UNCACHED


def _seed_maee_problems(flags: MappingFlags) -> list[str]:
    if flags & MappingFlags.DEVICE:
        return [
            "DEVICE written as SO|B (strongly ordered, bufferable, non-shareable); Linux's "
            "T-Head IO type is SO|SH"
        ]
    if flags & MappingFlags.UNCACHED:
        return ["UNCACHED ignored: the seed writes C|B|SH, cacheable memory (Linux's NC is B|SH)"]
    return []


def _factory(name: str, levels: int, root_bits: int, x4: bool) -> Callable[..., PagingFormat]:
    def make(*, features: frozenset[str] = frozenset(), stage: int = 2 if x4 else 1) -> RiscvFormat:
        if stage not in (1, 2) or (x4 and stage != 2):
            allowed = "2" if x4 else "1 or 2"
            raise PagingError("InvalidRequest", f"{name}: stage must be {allowed}, not {stage!r}")
        clash = sorted(features & {SVPBMT, SVNAPOT}) if thead.XUANTIE in features else []
        if clash:
            raise PagingError(
                "InvalidRequest",
                f"{thead.XUANTIE} puts T-Head memory attributes in bits 63:59, where "
                f"{', '.join(clash)} define(s) other fields: choose one",
            )
        return RiscvFormat(name, stage, _levels(levels, root_bits), stage == 1, frozenset(features))

    return make


#: hypervisor spec: x4 modes widen only the root index by 2 bits (16 KiB root)
FORMATS: dict[str, Callable[..., PagingFormat]] = {
    "sv39": _factory("sv39", 3, 9, x4=False),
    "sv48": _factory("sv48", 4, 9, x4=False),
    "sv39x4": _factory("sv39x4", 3, 11, x4=True),
    "sv48x4": _factory("sv48x4", 4, 11, x4=True),
    # Priv. ISA 12.6 (Sv57: 5 levels, 57-bit VA) and 21.5.1 (Sv57x4: 59-bit GPA, 16 KiB root)
    "sv57": _factory("sv57", 5, 9, x4=False),
    "sv57x4": _factory("sv57x4", 5, 11, x4=True),
}

register_reporter(ARCH, syndrome, explain)
