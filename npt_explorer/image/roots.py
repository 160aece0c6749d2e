"""Registers → a translation regime, decoded as the hardware decodes them (IMAGES.md "Roots").
This module decodes the roots (CR3, EPTP, TTBR0/VTTBR with T0SZ/SL0, satp/hgatp); the control
bits (CR0/CR4/EFER, SCTLR/TCR/VTCR/PAN, sstatus/vsstatus/envcfg) go to the engine's control
state, which refuses a value it does not model naming register, field and value. ASID, VMID,
CnP and PCID do not change a walk and are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..engine import arm_s2_start_problem
from .errors import ImageError

U64 = (1 << 64) - 1

#: the registers each architecture reads, and which stage each root belongs to
REGISTERS = {
    "x86_64": ("cr3", "cr4", "cr0", "efer", "eptp", "ncr3", "pdpte0", "pdpte1", "pdpte2", "pdpte3"),
    "aarch64": ("ttbr0", "ttbr1", "tcr", "sctlr", "vttbr", "vtcr", "hcr", "pan", "mmfr0"),
    "riscv64": ("vsatp", "satp", "hgatp", "vsstatus", "sstatus", "henvcfg", "menvcfg"),
}


@dataclass(slots=True)
class Regime:
    """What the registers say: the engine's modes (None: that stage is off), roots, features."""

    arch: str
    guest: str | None = None
    npt: str | None = None
    guest_root: int | None = None
    npt_root: int | None = None
    features: set[str] = field(default_factory=set)
    #: the engine's control registers (`engine.control` names), validated by `MachineConfig`
    control: dict[str, int] = field(default_factory=dict)
    #: AArch64 with TCR_EL1.EPD1=0 but no --ttbr1: the upper VA range is TTBR1's, whose root
    #: is unknown, so a walk there is refused rather than answered as if TTBR1 were off
    ttbr1_range: bool = False
    #: AArch64 TTBR1_EL1's table (the upper VA range), with TCR_EL1.EPD1=0
    guest_root_hi: int | None = None
    #: x86 PAE: the PDPTE registers (VMCS GUEST_PDPTE0-3); None: load them from the image
    pdptes: tuple[int, ...] | None = None
    #: the registers as given (what a roots note carries to root the same regime again)
    registers: dict[str, int] = field(default_factory=dict)


def bits(value: int, hi: int, lo: int) -> int:
    return (value >> lo) & ((1 << (hi - lo + 1)) - 1)


def refuse(register: str, fld: str, value: int, why: str) -> ImageError:
    return ImageError(f"--{register}", f"{fld} = {value:#x}: {why}")


def _check_zero(reg: str, value: int, fields: tuple[tuple[str, int, int], ...]) -> None:
    for name, hi, lo in fields:
        v = bits(value, hi, lo)
        if v:
            raise refuse(reg, f"{reg.upper()}[{hi}:{lo}] ({name})", v, "reserved bits must be 0")


# ---------------------------------------------------------------------------- x86_64


def _x86(regs: Mapping[str, int], r: Regime) -> None:
    cr0, cr4 = regs.get("cr0"), regs.get("cr4", 0)
    paging = cr0 is None or bits(cr0, 31, 31)  # CR0.PG=0: no stage 1 (SDM 4.1.1)
    efer = regs.get("efer")
    if "cr3" in regs and paging and efer is not None and not bits(efer, 10, 10):
        if not bits(cr4, 5, 5):
            raise refuse("cr4", "CR4.PAE (bit 5)", 0, "32-bit paging is not modelled")
        # PAE paging (SDM 4.4): CR3[31:5] holds the 32-byte-aligned PDPT
        r.guest, r.guest_root = "pae", regs["cr3"] & 0xFFFF_FFE0
        names = [f"pdpte{i}" for i in range(4)]
        if any(n in regs for n in names):
            if not all(n in regs for n in names):
                raise ImageError("--pdpte0", "give all four PDPTEs (--pdpte0..3) or none")
            r.pdptes = tuple(regs[n] for n in names)
        r.control.update({k: regs[k] for k in ("cr0", "cr4") if k in regs})
    elif "cr3" in regs and paging:
        cr3 = regs["cr3"]
        _check_zero("cr3", cr3, (("above MAXPHYADDR", 63, 52),))
        if "cr4" in regs and not bits(cr4, 5, 5):  # SDM 4.1.1: IA-32e mode needs CR4.PAE
            raise refuse("cr4", "CR4.PAE (bit 5)", 0, "4-/5-level paging (EFER.LMA=1, the "
                         "default without --efer) requires CR4.PAE=1")  # fmt: skip
        r.guest = "5-level" if bits(cr4, 12, 12) else "4-level"
        r.guest_root = cr3 & 0xF_FFFF_FFFF_F000  # PCID / PWT / PCD in 11:0 do not move it
        r.control.update({k: regs[k] for k in ("cr0", "cr4", "efer") if k in regs})
    if "ncr3" in regs:  # AMD nested paging: VMCB N_CR3 (APM vol. 2, 15.25.5)
        if "eptp" in regs:
            raise ImageError("--ncr3", "give --eptp (Intel EPT) or --ncr3 (AMD NPT), not both")
        _check_zero("ncr3", regs["ncr3"], (("above MAXPHYADDR", 63, 52),))
        r.npt, r.npt_root = "npt4", regs["ncr3"] & 0xF_FFFF_FFFF_F000
    if "eptp" in regs:
        eptp = regs["eptp"]
        memtype, length = bits(eptp, 2, 0), bits(eptp, 5, 3)
        if memtype not in (0, 6):  # SDM 25.6.11: UC (0) or WB (6)
            raise refuse("eptp", "EPTP[2:0] (memory type)", memtype, "reserved (allowed: 0, 6)")
        modes = {3: "ept4", 4: "ept5"}
        if length not in modes:
            raise refuse(
                "eptp", "EPTP[5:3] (walk length - 1)", length, "reserved (3: 4 levels, 4: 5)"
            )
        if bits(eptp, 7, 7):
            raise refuse("eptp", "EPTP[7] (supervisor shadow stack)", 1, "not modelled yet")
        _check_zero("eptp", eptp, (("reserved", 11, 8), ("above MAXPHYADDR", 63, 52)))
        r.npt, r.npt_root = modes[length], eptp & 0xF_FFFF_FFFF_F000
        if bits(eptp, 6, 6):
            r.features.add("ept-ad")


# ---------------------------------------------------------------------------- aarch64

#: TCR_EL1.T0SZ → mode name (a label: T0SZ and TG0 decide the walk, D8.1.7 / D8.2)
_S1_T0SZ = {16: "va48", 25: "va39"}
#: stage 2: (T0SZ, SL0) → mode name, likewise a label; SL0 and TG0 give the start level and a
#: root of concatenated tables follows from T0SZ (D8.2, AArch64.S2StartLevel)
_S2_MODES = {(25, 1): "ipa39", (24, 1): "ipa40", (20, 2): "ipa44", (16, 2): "ipa48"}
_TG0 = {0: 0x1000, 1: 0x1_0000, 2: 0x4000}  # TCR_EL1.TG0 / VTCR_EL2.TG0 (D19)


def _baddr(reg: str, value: int) -> int:
    root = value & 0x0000_FFFF_FFFF_F000  # BADDR[47:12]; ASID/VMID 63:48, CnP bit 0 ignored
    _check_zero(reg, value, (("BADDR below the table alignment", 11, 1),))
    return root


def _granule(reg: str, name: str, value: int) -> int:
    tg0 = bits(value, 15, 14)
    if tg0 not in _TG0:
        allowed = "reserved (0: 4 KiB, 1: 64 KiB, 2: 16 KiB)"
        raise refuse(reg, f"{name}.TG0 (bits 15:14)", tg0, allowed)
    return _TG0[tg0]


def _arm(regs: Mapping[str, int], r: Regime) -> None:
    r.control.update({ctl: regs[k] for k, ctl in _ARM_CONTROL.items() if k in regs})
    tcr = regs.get("tcr")
    if "ttbr1" in regs and (tcr is None or bits(tcr, 23, 23)):
        raise ImageError("--ttbr1", "needs --tcr with EPD1 (bit 23) = 0: T1SZ and TG1 decide")
    if tcr is not None and not bits(tcr, 23, 23):  # EPD1=0: a kernel's TTBR1 is live
        if "ttbr1" in regs:  # walked as TTBR1 (D8.2.2); T1SZ/TG1 are checked by the engine
            r.guest_root_hi = _baddr("ttbr1", regs["ttbr1"])
        else:  # no root given: refuse its range rather than walk as if TTBR1 were off
            r.ttbr1_range = True
            r.control["tcr_el1"] = tcr | 1 << 23
    sctlr = regs.get("sctlr")
    if "ttbr0" in regs and (sctlr is None or bits(sctlr, 0, 0)):  # SCTLR_EL1.M=0: no stage 1
        tcr = regs.get("tcr")
        if tcr is None:
            raise ImageError("--ttbr0", "needs --tcr (T0SZ and TG0 decide the walk)")
        t0sz = bits(tcr, 5, 0)
        if not 16 <= t0sz <= 39:
            raise refuse("tcr", "TCR_EL1.T0SZ (bits 5:0)", t0sz, "modelled: 16..39")
        _granule("tcr", "TCR_EL1", tcr)
        r.guest, r.guest_root = _S1_T0SZ.get(t0sz, ""), _baddr("ttbr0", regs["ttbr0"])
        if bits(tcr, 39, 39):  # TCR_EL1.HA: hardware AF (the formats read it as `hafdbs`)
            r.features.add("hafdbs")
    hcr = regs.get("hcr")
    if "vttbr" in regs and (hcr is None or bits(hcr, 0, 0)):  # HCR_EL2.VM=0: no stage 2
        vtcr = regs.get("vtcr")
        if vtcr is None:
            raise ImageError("--vttbr", "needs --vtcr (T0SZ, SL0 and TG0 decide the walk)")
        t0sz, sl0 = bits(vtcr, 5, 0), bits(vtcr, 7, 6)
        granule = _granule("vtcr", "VTCR_EL2", vtcr)
        parange = bits(regs.get("mmfr0", 5), 3, 0)  # PAMax: ID_AA64MMFR0_EL1.PARange
        pa_bits = _PARANGE_BITS.get(parange, 0)
        problem = arm_s2_start_problem(64 - t0sz, granule, sl0, pa_bits)
        if problem:  # AArch64.S2InvalidSL: every stage-2 lookup a Translation fault, level 0
            raise refuse(
                "vtcr", f"VTCR_EL2.T0SZ/SL0 ({t0sz}/{sl0})", vtcr & 0xFF,
                f"{problem}; the CPU takes a stage-2 Translation fault at level 0 on every access",
            )  # fmt: skip
        if hcr is not None and bits(hcr, 46, 46):
            r.features.add("fwb")
        r.npt, r.npt_root = _S2_MODES.get((t0sz, sl0), ""), _baddr("vttbr", regs["vttbr"])


_ARM_CONTROL = {
    "tcr": "tcr_el1",
    "sctlr": "sctlr_el1",
    "vtcr": "vtcr_el2",
    "pan": "pan",
    "mmfr0": "id_aa64mmfr0_el1",  # PARange (PAMax); the other ID fields do not change a walk
}
#: ID_AA64MMFR0_EL1.PARange → bits (D19); 6 (52 bits, FEAT_LPA) the control state refuses
_PARANGE_BITS = {0: 32, 1: 36, 2: 40, 3: 42, 4: 44, 5: 48, 6: 52}

# ---------------------------------------------------------------------------- riscv64

_SATP_MODES = {0: None, 8: "sv39", 9: "sv48", 10: "sv57"}
_HGATP_MODES = {0: None, 8: "sv39x4", 9: "sv48x4", 10: "sv57x4"}


def _rv_mode(reg: str, value: int, modes: dict[int, str | None]) -> str | None:
    mode = bits(value, 63, 60)
    if mode not in modes:
        raise refuse(reg, f"{reg}.MODE (bits 63:60)", mode, "reserved (allowed: 0 Bare, 8, 9, 10)")
    return modes[mode]


def _riscv(regs: Mapping[str, int], r: Regime) -> None:
    if "vsatp" in regs and "satp" in regs:
        raise ImageError("--satp", "give --vsatp (a guest) or --satp (no hypervisor), not both")
    name = "vsatp" if "vsatp" in regs else "satp"
    if name in regs:
        value = regs[name]
        r.guest = _rv_mode(name, value, _SATP_MODES)
        r.guest_root = None if r.guest is None else bits(value, 43, 0) << 12
    if "hgatp" in regs:
        value = regs["hgatp"]
        _check_zero("hgatp", value, (("WPRI", 59, 58),))
        r.npt = _rv_mode("hgatp", value, _HGATP_MODES)
        if r.npt is not None:
            ppn = bits(value, 43, 0)
            if ppn & 3:  # the G-stage root is 16 KiB: PPN[1:0] read as zero (priv spec hgatp)
                raise refuse("hgatp", "hgatp.PPN[1:0]", ppn & 3, "must be 0 (16 KiB-aligned root)")
            r.npt_root = ppn << 12
    for k in ("vsstatus", "sstatus", "henvcfg", "menvcfg"):
        if k in regs:
            r.control[k] = regs[k]
    if bits(regs.get("menvcfg", 0), 61, 61) and bits(regs.get("henvcfg", 1 << 61), 61, 61):
        r.features.add("svadu")  # ADUE: hardware A/D (the formats read it as this feature)


_DECODERS: dict[str, Callable[[Mapping[str, int], Regime], None]] = {
    "x86_64": _x86,
    "aarch64": _arm,
    "riscv64": _riscv,
}


def decode(arch: str, regs: Mapping[str, int], features: set[str] | None = None) -> Regime:
    """The regime these registers select; `ImageError` names the first field it cannot take."""
    allowed = REGISTERS[arch]
    for name in regs:
        if name not in allowed:
            raise ImageError(f"--{name}", f"not a {arch} register (allowed: {', '.join(allowed)})")
        if not 0 <= regs[name] <= U64:
            raise ImageError(f"--{name}", f"{regs[name]:#x} does not fit in 64 bits")
    regime = Regime(arch, features=set(features or ()), registers=dict(regs))
    _DECODERS[arch](regs, regime)
    if regime.guest is None and regime.npt is None:
        raise ImageError(
            "roots",
            f"no stage is on: give a stage-1 root ({', '.join(allowed[:1])}) or a stage-2 root",
        )
    return regime
