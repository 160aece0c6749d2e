"""The CPU's control state: every register bit that changes a walk, as rows of data.

One `Control` per machine holds the register values (`[machine.registers]`, an image's roots, the
TUI's toggles). Each `ControlBit` row names the register and bit as the manual lays them out, what
the bit changes and where the rule is written. A bit set that the engine does not model is an
error naming register and bit; bits that do not affect translation are ignored. Formats read the
values through `Control.get` in their `configure` hook; the walker never sees a register.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .errors import PagingError


@dataclass(frozen=True, slots=True)
class ControlBit:
    """One field of one register: bits hi:lo, the values the engine models (None: any)."""

    register: str
    name: str
    lo: int
    hi: int
    effect: str  # what it changes in a walk, in words
    source: str  # the manual's section
    modelled: tuple[int, ...] | None = None
    toggle: bool = False  # a single bit the TUI offers to flip

    @property
    def mask(self) -> int:
        return ((1 << (self.hi - self.lo + 1)) - 1) << self.lo

    @property
    def bits(self) -> str:
        return str(self.lo) if self.hi == self.lo else f"{self.hi}:{self.lo}"

    def get(self, value: int) -> int:
        return (value & self.mask) >> self.lo


def _b(reg: str, name: str, bit: int, effect: str, source: str, **kw: object) -> ControlBit:
    return ControlBit(reg, name, bit, bit, effect, source, toggle=True, **kw)  # type: ignore[arg-type]


def _f(reg: str, name: str, hi: int, lo: int, effect: str, source: str, **kw: object) -> ControlBit:
    return ControlBit(reg, name, lo, hi, effect, source, **kw)  # type: ignore[arg-type]


_SDM = "Intel SDM Vol. 3A"
X86_BITS: tuple[ControlBit, ...] = (
    _f("cr0", "PE", 0, 0, "protected mode; paging needs it", f"{_SDM} 2.5", modelled=(1,)),
    _b("cr0", "WP", 16, "0: supervisor writes to read-only pages succeed", f"{_SDM} 4.6.1"),
    _f("cr0", "PG", 31, 31, "paging on (0: not modelled)", f"{_SDM} 4.1.1", modelled=(1,)),
    _b("cr4", "PSE", 4, "32-bit paging: PDE.PS=1 maps a 4 MiB page (0: PS ignored)", f"{_SDM} 4.3"),
    _f(
        "cr4",
        "PAE",
        5,
        5,
        "64-bit entries; IA-32e paging needs it (0: 32-bit paging, guest '32-bit')",
        f"{_SDM} 4.1.1",
        modelled=(0, 1),
    ),
    _b(
        "cr4",
        "PGE",
        7,
        "G=1 translations survive MOV CR3 (0: G ignored); a change flushes the TLB, globals too",
        f"{_SDM} 4.10.2.4, 4.10.4.1",
    ),
    _f("cr4", "LA57", 12, 12, "5-level paging (must match guest)", f"{_SDM} 4.5"),
    _b(
        "cr4",
        "PCIDE",
        17,
        "TLB entries tagged by CR3[11:0]; MOV CR3 bit 63 no-flush; 1→0 flushes the TLB",
        f"{_SDM} 4.10.1, 4.10.4.1",
    ),
    _b("cr4", "SMEP", 20, "supervisor fetch from a user page → #PF (I/D)", f"{_SDM} 4.6.1"),
    _b(
        "cr4",
        "SMAP",
        21,
        "supervisor data access to a user page with EFLAGS.AC=0 → #PF",
        f"{_SDM} 4.6.1",
    ),
    _b(
        "cr4",
        "PKE",
        22,
        "protection keys: PKRU AD/WD for user pages; error code PK (bit 5)",
        f"{_SDM} 4.6.2",
    ),
    _f(
        "cr4", "CET", 23, 23, "shadow-stack accesses (not modelled)", f"{_SDM} 4.6.1", modelled=(0,)
    ),
    _f(
        "cr4",
        "PKS",
        24,
        24,
        "supervisor protection keys (not modelled)",
        f"{_SDM} 4.6.2",
        modelled=(0,),
    ),
    _f(
        "cr4",
        "LAM_SUP",
        28,
        28,
        "linear-address masking (not modelled)",
        f"{_SDM} 4.4",
        modelled=(0,),
    ),
    _f("efer", "LME", 8, 8, "IA-32e mode enable", f"{_SDM} 2.2.1", modelled=(0, 1)),
    _f("efer", "LMA", 10, 10, "IA-32e mode active", f"{_SDM} 2.2.1", modelled=(0, 1)),
    _b(
        "efer",
        "NXE",
        11,
        "0: XD (bit 63) is reserved; fetches set I/D only with SMEP",
        f"{_SDM} 4.6.1",
    ),
    _f("pkru", "PKRU", 31, 0, "AD (bit 2k) / WD (bit 2k+1) per protection key k", f"{_SDM} 4.6.2"),
    _f(
        "maxphyaddr",
        "MAXPHYADDR",
        7,
        0,
        "address bits at and above it are reserved (guest #PF RSVD, EPT misconfiguration)",
        f"{_SDM} 4.1.4",
        modelled=tuple(range(36, 53)),
    ),
)

_ARM = "Arm ARM (DDI 0487)"
AARCH64_BITS: tuple[ControlBit, ...] = (
    _b("sctlr_el1", "M", 0, "0: stage 1 off (IPA = VA)", f"{_ARM} D8.2.11"),
    _b(
        "sctlr_el1", "WXN", 19, "writable pages are never executable at EL0/EL1", f"{_ARM} D8.4.1.2"
    ),
    _b(
        "sctlr_el1",
        "EPAN",
        57,
        "with PAN, EL1 reads of EL0-executable pages fault too",
        f"{_ARM} D8.4.2",
    ),
    _f(
        "tcr_el1",
        "T0SZ",
        5,
        0,
        "TTBR0 input size 64-T0SZ (16: va48, 25: va39); the levels follow with TG0",
        f"{_ARM} D8.1.7",
        modelled=tuple(range(16, 40)),
    ),
    _b(
        "tcr_el1",
        "EPD0",
        7,
        "walks through TTBR0 disabled: level-0 translation fault",
        f"{_ARM} D8.2.4",
    ),
    _f(
        "tcr_el1",
        "TG0",
        15,
        14,
        "TTBR0 granule (0: 4 KiB, 2: 16 KiB, 1: 64 KiB): page, table and block sizes",
        f"{_ARM} D8.2, D19 TCR_EL1.TG0",
        modelled=(0, 1, 2),
    ),
    _b(
        "tcr_el1",
        "EPD1",
        23,
        "walks through TTBR1 (the upper VA range) disabled: level-0 translation fault",
        f"{_ARM} D8.2.4",
    ),
    _f(
        "tcr_el1",
        "T1SZ",
        21,
        16,
        "TTBR1 input size 64-T1SZ (with EPD1=0 it must equal T0SZ here)",
        f"{_ARM} D8.1.7",
    ),
    _f(
        "tcr_el1",
        "TG1",
        31,
        30,
        "TTBR1 granule (1: 16 KiB, 2: 4 KiB, 3: 64 KiB; with EPD1=0 it must match TG0 here)",
        f"{_ARM} D8.2, D19 TCR_EL1.TG1",
    ),
    _b(
        "tcr_el1",
        "TBI0",
        37,
        "TTBR0 range (VA[55]=0): VA[63:56] is a tag, not translated (fetches too unless TBID0)",
        f"{_ARM} D8.8, AArch64.AddrTop",
    ),
    _b(
        "tcr_el1",
        "TBI1",
        38,
        "TTBR1 range (VA[55]=1): VA[63:56] is a tag, not translated (fetches too unless TBID1)",
        f"{_ARM} D8.8, AArch64.AddrTop",
    ),
    _b(
        "tcr_el1",
        "TBID0",
        51,
        "with TBI0: the tag is ignored for data accesses only; a fetch translates all 64 bits",
        f"{_ARM} D8.8, AArch64.AddrTop",
    ),
    _b(
        "tcr_el1",
        "TBID1",
        52,
        "with TBI1: the tag is ignored for data accesses only; a fetch translates all 64 bits",
        f"{_ARM} D8.8, AArch64.AddrTop",
    ),
    _b("tcr_el1", "HA", 39, "stage 1: hardware sets AF (else AF=0 faults)", f"{_ARM} D8.4.5"),
    _b("tcr_el1", "HD", 40, "stage 1: hardware dirty state via DBM (needs HA)", f"{_ARM} D8.4.6"),
    _b("tcr_el1", "HPD0", 41, "stage 1: APTable/PXNTable/UXNTable ignored", f"{_ARM} D8.4.1.3"),
    _f(
        "tcr_el1",
        "IPS",
        34,
        32,
        "stage-1 output size: PA bits 32/36/40/42/44/48; beyond it an Address size fault",
        f"{_ARM} D8.1.8",
        modelled=(0, 1, 2, 3, 4, 5),
    ),
    _f(
        "vtcr_el2",
        "PS",
        18,
        16,
        "stage-2 output size: PA bits 32/36/40/42/44/48; beyond it an Address size fault",
        f"{_ARM} D8.1.8",
        modelled=(0, 1, 2, 3, 4, 5),
    ),
    _f(
        "vtcr_el2",
        "T0SZ",
        5,
        0,
        "IPA size 64-T0SZ (24: ipa40, 25: ipa39, 20: ipa44, 16: ipa48)",
        f"{_ARM} D8.1.7",
        modelled=tuple(range(16, 40)),
    ),
    _f(
        "vtcr_el2",
        "SL0",
        7,
        6,
        "stage-2 start level: 2-SL0 (4 KiB granule) or 3-SL0 (16/64 KiB); a root index wider "
        "than a table is up to 16 concatenated tables",
        f"{_ARM} D8.2, AArch64.S2StartLevel",
    ),
    _f(
        "vtcr_el2",
        "TG0",
        15,
        14,
        "stage-2 granule (0: 4 KiB, 2: 16 KiB, 1: 64 KiB)",
        f"{_ARM} D8.2, D19 VTCR_EL2.TG0",
        modelled=(0, 1, 2),
    ),
    _b("vtcr_el2", "HA", 21, "stage 2: hardware sets AF", f"{_ARM} D8.4.5"),
    _b("vtcr_el2", "HD", 22, "stage 2: hardware dirty state via DBM (needs HA)", f"{_ARM} D8.4.6"),
    _f(
        "id_aa64mmfr0_el1",
        "PARange",
        3,
        0,
        "the implemented PA size, PAMax (32/36/40/42/44/48/52 bits): stage-2 start levels "
        "it allows (L0 4 KiB and L1 64 KiB need 44, L1 16 KiB 42); IPS/PS above it read as "
        "it; 6 = 52 bits (FEAT_LPA): 64 KiB level-1 blocks (4 TiB) exist (IPS/PS 52 bits, "
        "OA[51:48] in bits 15:12: not modelled)",
        f"{_ARM} D19 ID_AA64MMFR0_EL1, AArch64.S2InvalidSL, AArch64.BlockDescSupported, D8.1.8",
        modelled=(0, 1, 2, 3, 4, 5, 6),
    ),
    _b(
        "pan",
        "PAN",
        0,
        "PSTATE.PAN: EL1 data access to an EL0-accessible page faults",
        f"{_ARM} D8.4.2",
    ),
)

_PRIV = "RISC-V Privileged ISA"
RISCV_BITS: tuple[ControlBit, ...] = (
    _b(
        "vsstatus",
        "SUM",
        18,
        "VS-mode may read/write VU pages (never fetch)",
        f"{_PRIV} 12.1.1 / 3.1.6.3",
    ),
    _b(
        "vsstatus",
        "MXR",
        19,
        "VS-stage: loads from execute-only pages succeed",
        f"{_PRIV} 12.1.1 / 3.1.6.3",
    ),
    _b(
        "sstatus",
        "MXR",
        19,
        "HS-level MXR: loads from execute-only pages at both stages",
        f"{_PRIV} 21.2.1 (Hypervisor)",
    ),
    _b(
        "henvcfg",
        "ADUE",
        61,
        "Svadu: VS-stage A/D set by hardware (reads 0 unless menvcfg.ADUE)",
        f"{_PRIV} 21.2.5 / Svadu",
    ),
    _b(
        "menvcfg",
        "ADUE",
        61,
        "Svadu: G-stage A/D set by hardware; enables henvcfg.ADUE",
        f"{_PRIV} 3.1.18 / Svadu",
    ),
    _b("hstatus", "SPVP", 8, "privilege of HLV/HLVX/HSV (1: VS, 0: VU)", f"{_PRIV} 21.2.1"),
    _f(
        "vsatp",
        "MODE",
        63,
        60,
        "VS-stage mode (0 Bare, 8 Sv39, 9 Sv48, 10 Sv57)",
        f"{_PRIV} 21.2.13",
        modelled=(0, 8, 9, 10),
    ),
    _f(
        "hgatp",
        "MODE",
        63,
        60,
        "G-stage mode (8 Sv39x4, 9 Sv48x4, 10 Sv57x4)",
        f"{_PRIV} 21.2.10",
        modelled=(8, 9, 10),
    ),
)

BITS: dict[str, tuple[ControlBit, ...]] = {
    "x86_64": X86_BITS,
    "aarch64": AARCH64_BITS,
    "riscv64": RISCV_BITS,
}

X86_CR4_PAE = 1 << 5
X86_EFER_LM = 1 << 8 | 1 << 10  # LME, LMA
_X86_CR4 = 1 << 5 | 1 << 7  # PAE, PGE: the machine's assumption before control state existed
#: register → value the machine assumes (SCENARIO_FORMAT.md "Register state the machine assumes")
DEFAULTS: dict[str, dict[str, int]] = {
    "x86_64": {
        "cr0": 0x8001_0011,
        "cr4": _X86_CR4,
        "efer": 0xD00,
        "pkru": 0,
        "maxphyaddr": 52,
    },
    "aarch64": {
        "sctlr_el1": 1,
        "tcr_el1": 16 | 1 << 23 | 2 << 30 | 16 << 16 | 5 << 32,
        "vtcr_el2": 24 | 1 << 6 | 5 << 16,
        "id_aa64mmfr0_el1": 5,  # PARange: PAMax 48 bits (no FEAT_LPA)
        "pan": 0,
    },
    "riscv64": {
        "vsstatus": 0,
        "sstatus": 0,
        "henvcfg": 0,
        "menvcfg": 0,
        "hstatus": 1 << 8,
        "vsatp": 8 << 60,
        "hgatp": 8 << 60,
    },
}

#: (guest | npt) → mode → the register fields the mode name stands for
MODE_FIELDS: dict[str, dict[str, dict[str, dict[tuple[str, str], int]]]] = {
    "x86_64": {
        "guest": {  # 32-bit first: its registers also have LA57=0
            "32-bit": {("cr4", "PAE"): 0, ("efer", "LME"): 0, ("efer", "LMA"): 0},
            "4-level": {("cr4", "LA57"): 0},
            "5-level": {("cr4", "LA57"): 1},
        },
        "npt": {},
    },
    "aarch64": {
        "guest": {"va48": {("tcr_el1", "T0SZ"): 16}, "va39": {("tcr_el1", "T0SZ"): 25}},
        "npt": {
            "ipa40": {("vtcr_el2", "T0SZ"): 24, ("vtcr_el2", "SL0"): 1},
            "ipa39": {("vtcr_el2", "T0SZ"): 25, ("vtcr_el2", "SL0"): 1},
            "ipa44": {("vtcr_el2", "T0SZ"): 20, ("vtcr_el2", "SL0"): 2},
            "ipa48": {("vtcr_el2", "T0SZ"): 16, ("vtcr_el2", "SL0"): 2},
        },
    },
    "riscv64": {
        "guest": {
            "sv39": {("vsatp", "MODE"): 8},
            "sv48": {("vsatp", "MODE"): 9},
            "sv57": {("vsatp", "MODE"): 10},
        },
        "npt": {
            "sv39x4": {("hgatp", "MODE"): 8},
            "sv48x4": {("hgatp", "MODE"): 9},
            "sv57x4": {("hgatp", "MODE"): 10},
            "sv39": {("hgatp", "MODE"): 8},
        },
    },
}

#: fields a mode sets by default without standing for it (a scenario may change them)
MODE_DEFAULTS: dict[str, dict[str, dict[str, dict[tuple[str, str], int]]]] = {
    "x86_64": {"guest": {"32-bit": {("cr4", "PSE"): 1}}},  # 4 MiB pages, as Linux i386 sets
}

#: features that stand for register bits (a feature turns the bits on in the defaults)
FEATURE_BITS: dict[str, tuple[tuple[str, str], ...]] = {
    "hafdbs": (("tcr_el1", "HA"), ("tcr_el1", "HD"), ("vtcr_el2", "HA"), ("vtcr_el2", "HD")),
    "svadu": (("henvcfg", "ADUE"), ("menvcfg", "ADUE")),
}


def _row(arch: str, register: str, name: str) -> ControlBit:
    for row in BITS.get(arch, ()):
        if row.register == register and row.name == name:
            return row
    fields = ", ".join(r.name for r in BITS.get(arch, ()) if r.register == register)
    raise PagingError(
        "InvalidRequest",
        f"{arch} has no modelled field {register}.{name}"
        + (f" (fields: {fields})" if fields else ""),
    )


@dataclass(frozen=True, slots=True)
class Control:
    """One machine's register values. Immutable: a change makes a new `Control`."""

    arch: str
    values: Mapping[str, int] = field(default_factory=dict)

    def get(self, register: str, name: str) -> int:
        return _row(self.arch, register, name).get(self.values[register])

    def on(self, register: str, name: str) -> bool:
        return bool(self.get(register, name))

    def rows(self) -> list[tuple[ControlBit, int]]:
        """Every modelled field with its current value (the TUI panel and docs)."""
        return [(row, row.get(self.values[row.register])) for row in BITS.get(self.arch, ())]

    def with_field(self, register: str, name: str, value: int) -> Control:
        row = _row(self.arch, register, name)
        if value < 0 or value >> (row.hi - row.lo + 1):
            raise PagingError("InvalidRequest", f"{register}.{name} is bits {row.bits}: {value:#x}")
        raw = (self.values[register] & ~row.mask) | (value << row.lo) & row.mask
        return self.with_registers({register: raw})

    def with_value(self, register: str, name: str | None, value: int) -> Control:
        """One register (`name` None) or one field of it set: the `control` command."""
        if name is None:
            return self.with_registers({register: value})
        return self.with_field(register, name, value)

    def toggled(self, register: str, name: str) -> Control:
        return self.with_field(register, name, 1 - self.get(register, name))

    def with_registers(self, registers: Mapping[str, int]) -> Control:
        values = dict(self.values)
        values.update(registers)
        return _checked(self.arch, values)


def default_control(
    arch: str, guest: str = "", npt: str = "", features: Iterable[str] = ()
) -> Control:
    """The machine's assumed registers for these modes and features."""
    values = dict(DEFAULTS.get(arch, {}))
    control = Control(arch, values)
    for kind, mode in (("guest", guest), ("npt", npt)):
        extra = MODE_DEFAULTS.get(arch, {}).get(kind, {}).get(mode, {})
        for (register, name), value in {**_modes(arch, kind).get(mode, {}), **extra}.items():
            control = Control(arch, _put(control, register, name, value))
    for feature in features:
        for register, name in FEATURE_BITS.get(feature, ()):
            if register in values:
                control = Control(arch, _put(control, register, name, 1))
    return control


def _put(control: Control, register: str, name: str, value: int) -> dict[str, int]:
    row = _row(control.arch, register, name)
    values = dict(control.values)
    values[register] = (values[register] & ~row.mask) | (value << row.lo)
    return values


def _checked(arch: str, values: dict[str, int]) -> Control:
    """Refuse an unknown register or a modelled field holding a value the engine lacks."""
    known = DEFAULTS.get(arch, {})
    for register, value in values.items():
        if register not in known:
            raise PagingError(
                "InvalidRequest",
                f"{arch} has no register {register!r} the engine models "
                f"(allowed: {', '.join(known)})",
            )
        if not isinstance(value, int) or value < 0 or value >> 64:
            raise PagingError("InvalidRequest", f"{register} = {value!r}: a 64-bit value")
    for row in BITS.get(arch, ()):
        got = row.get(values[row.register])
        if row.modelled is not None and got not in row.modelled:
            allowed = ", ".join(map(str, row.modelled))
            raise PagingError(
                "InvalidRequest",
                f"{row.register}.{row.name} (bit{'s' if row.hi > row.lo else ''} {row.bits}) "
                f"= {got} is not modelled (allowed: {allowed})",
            )
    for rule in _RULES.get(arch, ()):
        rule(values)
    return Control(arch, values)


def _x86_long_mode_needs_pae(values: dict[str, int]) -> None:
    if not values["cr4"] & X86_CR4_PAE and values["efer"] & X86_EFER_LM:
        raise PagingError(  # SDM 4.1.1: IA-32e paging needs PAE; guest '32-bit' clears all three
            "InvalidRequest",
            "cr4.PAE (bit 5) = 0 is not modelled with efer.LME/LMA = 1: IA-32e paging needs "
            "PAE (guest '32-bit' has PAE = LME = LMA = 0)",
        )


def _riscv_adue_warl(values: dict[str, int]) -> None:
    """WARL: henvcfg.ADUE reads 0 while menvcfg.ADUE is 0 (Svadu)."""
    adue = 1 << 61
    if not values["menvcfg"] & adue:
        values["henvcfg"] &= ~adue


#: what an architecture's registers must satisfy together (refuse, or the WARL value read)
_RULES: dict[str, tuple[Callable[[dict[str, int]], None], ...]] = {
    "x86_64": (_x86_long_mode_needs_pae,),
    "riscv64": (_riscv_adue_warl,),
}


def build_control(
    arch: str, guest: str, npt: str, features: Iterable[str], registers: Mapping[str, int]
) -> Control:
    """The defaults for these modes and features, then `registers` on top (validated)."""
    return default_control(arch, guest, npt, features).with_registers(registers)


def _modes(arch: str, kind: str) -> dict[str, dict[tuple[str, str], int]]:
    return MODE_FIELDS.get(arch, {}).get(kind, {})


def mode_from_registers(arch: str, kind: str, registers: Mapping[str, int]) -> str | None:
    """The `guest`/`npt` mode the given registers select; None when they do not name one."""
    for mode, fields in _modes(arch, kind).items():
        if fields and all(reg in registers for reg, _ in fields):
            if all(_row(arch, r, n).get(registers[r]) == v for (r, n), v in fields.items()):
                return mode
    return None


#: field values that turn a stage off rather than name another mode (vsatp.MODE = Bare)
STAGE_OFF = {("vsatp", "MODE"): 0}


def mode_clash(arch: str, kind: str, mode: str, registers: Mapping[str, int]) -> str:
    """`tcr_el1.T0SZ=22`: the fields of `mode` the given registers set otherwise ("" if none;
    a register that turns the stage off does not clash)."""
    out = []
    for (r, n), v in _modes(arch, kind).get(mode, {}).items():
        got = _row(arch, r, n).get(registers[r]) if r in registers else v
        if got != v and STAGE_OFF.get((r, n)) != got:
            out.append(f"{r}.{n}={got}")
    return ", ".join(out)


def mode_words(arch: str, kind: str, mode: str) -> str:
    """`tcr_el1.T0SZ=25`: the register fields a mode name stands for."""
    return ", ".join(f"{r}.{n}={v}" for (r, n), v in _modes(arch, kind).get(mode, {}).items())
