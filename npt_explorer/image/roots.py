"""Registers → a translation regime, decoded field by field as the hardware decodes them
(IMAGES.md "Roots"). Every field is either used, ignored for translation (ASID, VMID, CnP,
PCID), or refused with its register, field and value when the engine does not model that value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import ImageError

U64 = (1 << 64) - 1

#: the registers each architecture reads, and which stage each root belongs to
REGISTERS = {
    "x86_64": ("cr3", "cr4", "cr0", "efer", "eptp"),
    "aarch64": ("ttbr0", "ttbr1", "tcr", "sctlr", "vttbr", "vtcr", "hcr"),
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
    cr0, cr4, efer = regs.get("cr0"), regs.get("cr4", 0), regs.get("efer")
    if "cr3" in regs and not (cr0 is not None and not bits(cr0, 31, 31)):
        cr3 = regs["cr3"]
        _check_zero("cr3", cr3, (("above MAXPHYADDR", 63, 52),))
        r.guest, r.guest_root = (
            ("5-level" if bits(cr4, 12, 12) else "4-level"),
            cr3 & 0xF_FFFF_FFFF_F000,
        )
        # SDM 4.1: CR4 controls the engine does not model yet must be off
        for name, bit in (("SMEP", 20), ("SMAP", 21), ("PKE", 22), ("CET", 23), ("PKS", 24)):
            if bits(cr4, bit, bit):
                raise refuse("cr4", f"CR4.{name} (bit {bit})", 1, "not modelled yet (must be 0)")
        if not bits(cr4, 5, 5) and "cr4" in regs:
            raise refuse("cr4", "CR4.PAE (bit 5)", 0, "32-bit paging is not modelled (need PAE=1)")
        if cr0 is not None and not bits(cr0, 16, 16):
            raise refuse("cr0", "CR0.WP (bit 16)", 0, "not modelled yet: the engine has WP=1")
        if efer is not None:
            if not bits(efer, 10, 10):
                raise refuse(
                    "efer", "EFER.LMA (bit 10)", 0, "legacy (non-long-mode) paging is not modelled"
                )
            if not bits(efer, 11, 11):
                raise refuse(
                    "efer", "EFER.NXE (bit 11)", 0, "not modelled yet: the engine has NXE=1"
                )
    if "eptp" in regs:
        eptp = regs["eptp"]
        memtype, length = bits(eptp, 2, 0), bits(eptp, 5, 3)
        if memtype not in (0, 6):  # SDM 25.6.11: UC (0) or WB (6)
            raise refuse(
                "eptp", "EPTP[2:0] (memory type)", memtype, "reserved (allowed: 0 UC, 6 WB)"
            )
        modes = {3: "ept4", 4: "ept5"}
        if length not in modes:
            raise refuse(
                "eptp",
                "EPTP[5:3] (walk length - 1)",
                length,
                "reserved (allowed: 3 → 4 levels, 4 → 5)",
            )
        if bits(eptp, 7, 7):
            raise refuse(
                "eptp", "EPTP[7] (supervisor shadow stack)", 1, "not modelled yet (must be 0)"
            )
        _check_zero("eptp", eptp, (("reserved", 11, 8), ("above MAXPHYADDR", 63, 52)))
        r.npt, r.npt_root = modes[length], eptp & 0xF_FFFF_FFFF_F000
        if bits(eptp, 6, 6):
            r.features.add("ept-ad")


# ---------------------------------------------------------------------------- aarch64

#: 4 KiB granule (D8.2): T0SZ → engine mode, and the start level the hardware derives from it
_S1_T0SZ = {16: ("va48", 0), 25: ("va39", 1)}
#: stage 2: (T0SZ, SL0) → (engine mode); SL0 0/1/2 = start level 2/1/0 (D8.2.4); a 40-bit IPA
#: starting at level 1 resolves 10 bits there: two concatenated root tables (§5.5)
_S2_MODES = {(25, 1): "ipa39", (24, 1): "ipa40", (20, 2): "ipa44", (16, 2): "ipa48"}


def _baddr(reg: str, value: int) -> int:
    root = value & 0x0000_FFFF_FFFF_F000  # BADDR[47:12]; ASID/VMID 63:48, CnP bit 0 ignored
    _check_zero(reg, value, (("BADDR below the table alignment", 11, 1),))
    return root


def _arm(regs: Mapping[str, int], r: Regime) -> None:
    sctlr = regs.get("sctlr")
    if "ttbr1" in regs:
        raise refuse(
            "ttbr1", "TTBR1_EL1", regs["ttbr1"], "walks of the upper VA range are not modelled yet"
        )
    if "ttbr0" in regs and not (sctlr is not None and not bits(sctlr, 0, 0)):
        tcr = regs.get("tcr")
        if tcr is None:
            raise ImageError("--ttbr0", "needs --tcr (T0SZ and TG0 decide the walk)")
        t0sz, tg0 = bits(tcr, 5, 0), bits(tcr, 15, 14)
        if tg0 != 0:
            raise refuse(
                "tcr", "TCR_EL1.TG0 (bits 15:14)", tg0, "only the 4 KiB granule (0) is modelled"
            )
        if t0sz not in _S1_T0SZ:
            raise refuse(
                "tcr", "TCR_EL1.T0SZ (bits 5:0)", t0sz, "modelled: 16 (48-bit VA), 25 (39-bit VA)"
            )
        for name, bit in (("EPD0", 7), ("TBI0", 37), ("HPD0", 41)):
            if bits(tcr, bit, bit):
                raise refuse(
                    "tcr", f"TCR_EL1.{name} (bit {bit})", 1, "not modelled yet (must be 0)"
                )
        if bits(tcr, 39, 39):  # HA: hardware access flag (and HD dirty state), FEAT_HAFDBS
            r.features.add("hafdbs")
        if sctlr is not None and bits(sctlr, 19, 19):
            raise refuse("sctlr", "SCTLR_EL1.WXN (bit 19)", 1, "not modelled yet (must be 0)")
        r.guest, r.guest_root = _S1_T0SZ[t0sz][0], _baddr("ttbr0", regs["ttbr0"])
    hcr = regs.get("hcr")
    if "vttbr" in regs and not (hcr is not None and not bits(hcr, 0, 0)):
        vtcr = regs.get("vtcr")
        if vtcr is None:
            raise ImageError("--vttbr", "needs --vtcr (T0SZ, SL0 and TG0 decide the walk)")
        t0sz, sl0, tg0 = bits(vtcr, 5, 0), bits(vtcr, 7, 6), bits(vtcr, 15, 14)
        if tg0 != 0:
            raise refuse(
                "vtcr", "VTCR_EL2.TG0 (bits 15:14)", tg0, "only the 4 KiB granule (0) is modelled"
            )
        mode = _S2_MODES.get((t0sz, sl0))
        if mode is None:
            allowed = ", ".join(f"T0SZ={t} SL0={s}" for t, s in _S2_MODES)
            raise refuse(
                "vtcr",
                f"VTCR_EL2.T0SZ/SL0 ({t0sz}/{sl0})",
                vtcr & 0xFF,
                f"not modelled (modelled: {allowed})",
            )
        if bits(vtcr, 21, 21) != bits(regs.get("tcr", 0), 39, 39) and "ttbr0" in regs:
            raise refuse(
                "vtcr",
                "VTCR_EL2.HA (bit 21)",
                bits(vtcr, 21, 21),
                "must equal TCR_EL1.HA (one hafdbs switch)",
            )
        if bits(vtcr, 21, 21):
            r.features.add("hafdbs")
        if hcr is not None and bits(hcr, 46, 46):
            r.features.add("fwb")
        r.npt, r.npt_root = mode, _baddr("vttbr", regs["vttbr"])


# ---------------------------------------------------------------------------- riscv64

_SATP_MODES = {0: None, 8: "sv39", 9: "sv48"}
_HGATP_MODES = {0: None, 8: "sv39x4", 9: "sv48x4"}


def _rv_mode(reg: str, value: int, modes: dict[int, str | None], soon: str) -> str | None:
    mode = bits(value, 63, 60)
    if mode == 10:
        raise refuse(reg, f"{reg}.MODE (bits 63:60)", mode, f"{soon} is not modelled yet")
    if mode not in modes:
        raise refuse(reg, f"{reg}.MODE (bits 63:60)", mode, "reserved (allowed: 0 Bare, 8, 9)")
    return modes[mode]


def _riscv(regs: Mapping[str, int], r: Regime) -> None:
    name = "vsatp" if "vsatp" in regs else "satp"
    if name in regs:
        if "vsatp" in regs and "satp" in regs:
            raise ImageError("--satp", "give --vsatp (a guest) or --satp (no hypervisor), not both")
        value = regs[name]
        r.guest = _rv_mode(name, value, _SATP_MODES, "Sv57")
        r.guest_root = None if r.guest is None else bits(value, 43, 0) << 12
    if "hgatp" in regs:
        value = regs["hgatp"]
        _check_zero("hgatp", value, (("WPRI", 59, 58),))
        r.npt = _rv_mode("hgatp", value, _HGATP_MODES, "Sv57x4")
        if r.npt is not None:
            ppn = bits(value, 43, 0)
            if ppn & 3:  # the G-stage root is 16 KiB: PPN[1:0] read as zero (priv spec hgatp)
                raise refuse(
                    "hgatp", "hgatp.PPN[1:0]", ppn & 3, "must be 0 (the root is 16 KiB-aligned)"
                )
            r.npt_root = ppn << 12
    status = regs.get("vsstatus" if "vsatp" in regs else "sstatus", 0)
    for fld, bit in (("SUM", 18), ("MXR", 19)):
        if bits(status, bit, bit):
            raise refuse("vsstatus", f"{fld} (bit {bit})", 1, "not modelled yet (must be 0)")
    if bits(regs.get("sstatus", 0), 19, 19) and "vsatp" in regs:
        raise refuse("sstatus", "MXR (bit 19)", 1, "the HS-level MXR is not modelled yet")
    adue = {"henvcfg": "vs", "menvcfg": "g"}
    on = {k for k in adue if bits(regs.get(k, 0), 61, 61)}
    if on and on != set(adue) & set(regs):
        raise refuse(
            "henvcfg", "ADUE (bit 61)", 1, "hardware A/D must be on at both stages or neither"
        )
    if on:
        r.features.add("svadu")


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
    regime = Regime(arch, registers=dict(regs), features=set(features or ()))
    _DECODERS[arch](regs, regime)
    if regime.guest is None and regime.npt is None:
        raise ImageError(
            "roots",
            f"no stage is on: give a stage-1 root ({', '.join(allowed[:1])}) or a stage-2 root",
        )
    return regime
