"""AArch64 aborts as ESR_ELx (EC, xFSC, WnR, S1PTW), FAR and HPFAR_EL2 (hardware.md §5.6), and a
one-sentence explanation, both computed from a `Fault`.
"""

from __future__ import annotations

from ..faults import GUEST_WALK, Fault
from ..flags import Access, Priv
from .arm_s1 import AP1, AP2, PXN, UXN, S1Acc
from .arm_s2 import XN_SHIFT
from .base import FaultReason

ARCH = "aarch64"

#: exception classes: instruction / data abort from a lower EL, or without a change of EL
EC_IABT_LOWER, EC_IABT_SAME, EC_DABT_LOWER, EC_DABT_SAME = 0x20, 0x21, 0x24, 0x25
#: FSC = type + level; every other reason is a Translation fault (0x04 + level)
FSC_TYPE = {
    FaultReason.ADDRESS_SIZE: 0x00,
    FaultReason.ACCESS_FLAG: 0x08,
    FaultReason.PERMISSION: 0x0C,
}
_FSC_NAMES = ("address size", "translation", "access flag", "permission")
_HPFAR_FIPA = ((1 << 52) - 1) & ~0xFFF  # IPA[51:12] lands in HPFAR_EL2[43:4]
_ACCESS_WORDS = {Access.READ: "read", Access.WRITE: "write", Access.EXEC: "instruction fetch"}


def fault_level(fault: Fault) -> int:
    """The ARM level number of the faulting entry; 0 when no entry was read."""
    if fault.depth is None or not fault.level_name:
        return 0
    try:
        return int(fault.level_name.removeprefix("L"))
    except ValueError:
        return 0


def fsc(fault: Fault) -> int:
    if fault.stage == 2 and fault.reason is FaultReason.ADDRESS_SIZE and fault.depth is None:
        return 0x04  # IPA beyond VTCR_EL2.T0SZ: stage-2 Translation fault, level 0 (§5.5)
    return FSC_TYPE.get(fault.reason, 0x04) + fault_level(fault)


def hpfar(ipa: int | None) -> int | None:
    return None if ipa is None else (ipa & _HPFAR_FIPA) >> 8


def esr(ec: int, s1ptw: int, wnr: int, fsc: int) -> int:
    """The whole ESR_ELx of an abort: EC[31:26], IL[25]=1 (a 32-bit instruction), ISS with
    ISV[24]=0 (no instruction syndrome), S1PTW[7], WnR[6], xFSC[5:0] (Arm ARM D24.2.43)."""
    return ec << 26 | 1 << 25 | s1ptw << 7 | wnr << 6 | fsc


def syndrome(fault: Fault) -> dict[str, int | None]:
    found = _fields(fault)
    found["esr"] = esr(found["ec"] or 0, found["s1ptw"] or 0, found["wnr"] or 0, found["fsc"] or 0)
    return found


def _fields(fault: Fault) -> dict[str, int | None]:
    fetch = fault.access is Access.EXEC
    if fault.stage == 1:
        lower = fault.priv is Priv.USER  # taken to EL1: from EL0 is "lower", from EL1 "same"
        if fetch:
            ec = EC_IABT_LOWER if lower else EC_IABT_SAME
        else:
            ec = EC_DABT_LOWER if lower else EC_DABT_SAME
        return {
            "ec": ec,
            "fsc": fsc(fault),
            "wnr": int(fault.access is Access.WRITE),
            "s1ptw": 0,
            "far": fault.gva,
            "hpfar": None,
            "el": 1,
        }
    walk = fault.during == GUEST_WALK
    # WnR is not in an instruction abort's ISS; for S1PTW it is 1 only for a descriptor update
    wnr = 0 if fetch else int(fault.write_back if walk else fault.access is Access.WRITE)
    return {
        "ec": EC_IABT_LOWER if fetch else EC_DABT_LOWER,
        "fsc": fsc(fault),
        "wnr": wnr,
        "s1ptw": int(walk),
        "far": fault.gva,
        "hpfar": hpfar(fault.gpa),
        "el": 2,
    }


def explain(fault: Fault) -> str:
    """Stage, level, the bit(s) responsible, and who does what next: one sentence."""
    code = fsc(fault)
    head = f"Stage-{fault.stage} {_FSC_NAMES[code >> 2]} fault at level {code & 3}"
    abort = "an instruction" if fault.access is Access.EXEC else "a data"
    regs = syndrome(fault)
    if fault.stage == 1:
        return (
            f"{head}: {_stage1_cause(fault)}, so the guest kernel takes {abort} abort at EL1 "
            f"(ESR_EL1 EC {regs['ec']:#x}, FSC {code:#04x}, FAR {fault.gva:#x}) and "
            f"{_STAGE1_REMEDY.get(fault.reason, 'must repair its page table')}; the hypervisor "
            f"is not involved."
        )
    if fault.during == GUEST_WALK:
        where = f"while the CPU read the guest's page table at {_ipa(fault)} (S1PTW=1)"
    else:
        where = f"on the final access to {_ipa(fault)}"
    hpfar_text = "" if regs["hpfar"] is None else f", HPFAR {regs['hpfar']:#x}"
    return (
        f"{head} {where}: {_stage2_cause(fault)}, so the hypervisor takes {abort} abort at "
        f"EL2 (ESR_EL2 EC {regs['ec']:#x}, FSC {code:#04x}{hpfar_text}) and "
        f"{_stage2_remedy(fault)}."
    )


_STAGE1_REMEDY = {
    FaultReason.NOT_PRESENT: "its page-fault handler maps the page",
    FaultReason.ACCESS_FLAG: "sets AF in its descriptor, then retries",
    FaultReason.PERMISSION: "either fixes the permission (copy-on-write) or signals the program",
    FaultReason.NON_CANONICAL: "reports a bad address (a signal, or an oops in the kernel)",
}


def _ipa(fault: Fault) -> str:
    return "an unknown IPA" if fault.gpa is None else f"IPA {fault.gpa:#x}"


def _entry_cause(fault: Fault, owner: str) -> str | None:
    """Causes that read the same at both stages, or None."""
    entry = f"{owner} {fault.level_name} descriptor"
    if fault.reason is FaultReason.NOT_PRESENT:
        return f"{entry} has VALID (bit 0) = 0"
    if fault.reason is FaultReason.RESERVED:
        if fault_level(fault) == 0:
            return f"{entry} is a block (bits[1:0]=0b01), which 4 KiB granules forbid at L0"
        return f"{entry} has bits[1:0]=0b01, a reserved encoding at L3"
    if fault.reason is FaultReason.ACCESS_FLAG:
        return f"{entry} has AF (bit 10) = 0 and hardware AF update (FEAT_HAFDBS) is off"
    if fault.reason is FaultReason.ADDRESS_SIZE and fault.depth is not None:
        return f"{entry} holds an output address wider than 48 bits"
    return None


def _stage1_cause(fault: Fault) -> str:
    common = _entry_cause(fault, "the guest's")
    if common:
        return common
    if fault.reason is FaultReason.NON_CANONICAL:
        return (
            f"gVA {fault.gva:#x} lies outside the TTBR0_EL1 range (the bits above the VA "
            f"size must be 0; the TTBR1 range is not modelled)"
        )
    if fault.reason is FaultReason.PERMISSION:
        el = "EL0" if fault.priv is Priv.USER else "EL1"
        return (
            f"the guest's {fault.level_name} descriptor denies the {el} "
            f"{_ACCESS_WORDS[fault.access]} because {_stage1_denial(fault)}"
        )
    return f"the guest's translation failed ({fault.reason})"


_RULE_WORDS = {
    "PAN": "PAN: PSTATE.PAN=1 forbids EL1 data accesses to an EL0-accessible page (AP[1]=1)",
    "EPAN": "PAN: PSTATE.PAN=1 with SCTLR_EL1.EPAN=1 also forbids EL1 data accesses to an "
    "EL0-executable page (UXN=0)",
    "WXN": "WXN: SCTLR_EL1.WXN=1 makes every writable page execute-never",
}


def _stage1_denial(fault: Fault) -> str:
    if fault.rule in _RULE_WORDS:
        return _RULE_WORDS[fault.rule]
    raw = fault.raw or 0
    acc = fault.acc if isinstance(fault.acc, S1Acc) else S1Acc()
    user = fault.priv is Priv.USER
    if fault.access is Access.EXEC:
        if user:
            return "UXN=1" if raw & UXN else "UXNTable=1 in a table descriptor above"
        if raw & PXN:
            return "PXN=1"
        if acc.pxn:
            return "PXNTable=1 in a table descriptor above"
        return "the page is EL0-writable (AP[2:1]=0b01), which EL1 never executes"
    if user and not raw & AP1:
        return "AP[1]=0 gives EL0 no access"
    if user and not acc.el0:
        return "APTable[0]=1 in a table descriptor above denies EL0 access"
    if raw & AP2:
        return "AP[2]=1 makes the page read-only"
    return "APTable[1]=1 in a table descriptor above makes it read-only"


def _stage2_cause(fault: Fault) -> str:
    common = _entry_cause(fault, "the hypervisor's stage-2")
    if common:
        return common
    if fault.reason is FaultReason.ADDRESS_SIZE:
        return "the IPA is beyond the stage-2 input size (VTCR_EL2.T0SZ)"
    if fault.reason is not FaultReason.PERMISSION:
        return f"the stage-2 translation failed ({fault.reason})"
    entry = f"the {fault.level_name} stage-2 descriptor"
    needed = fault.implicit_access or fault.access
    if needed is Access.EXEC:
        xn = ((fault.raw or 0) >> XN_SHIFT) & 0b11
        el = "EL0" if fault.priv is Priv.USER else "EL1"
        return f"{entry} has XN={xn:#04b}, which denies execution at {el}"
    if needed is Access.READ:
        return f"{entry} has S2AP[0]=0, which denies reads"
    purpose = (
        " that the hardware's AF/dirty update of the guest descriptor needs"
        if (fault.write_back)
        else ""
    )
    return f"{entry} has S2AP[1]=0, which denies the write{purpose}"


def _stage2_remedy(fault: Fault) -> str:
    if fault.reason is FaultReason.NOT_PRESENT:
        return "maps the IPA (allocating a page or emulating MMIO there), then resumes the guest"
    if fault.reason is FaultReason.ACCESS_FLAG:
        return "sets AF (page aging), then resumes the guest"
    if fault.reason is FaultReason.ADDRESS_SIZE:
        return "treats the access as outside guest memory (and injects an abort into the guest)"
    if fault.reason is FaultReason.PERMISSION:
        needed = fault.implicit_access or fault.access
        if needed is Access.WRITE:
            return "makes the page writable (dirty logging, copy-on-write), then resumes the guest"
        if needed is Access.EXEC:
            return "grants execute permission (after cache maintenance), then resumes the guest"
        return "grants read permission, then resumes the guest"
    return "must repair its stage-2 table before the guest can continue"
