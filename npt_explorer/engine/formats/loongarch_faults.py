"""LoongArch TLB exceptions as ESTAT.Ecode / EsubCode and BADV (LoongArch Reference Manual Vol. 1
§7.4.6 exception codes; QEMU `loongarch_check_pte` for which check raises which), and a sentence.

Stage-1 faults are the guest's own exceptions (its BADV holds the gVA). A stage-2 fault is a root
TLB exception taken by the host while the guest runs; KVM reads the root BADV as the GPA
(`arch/loongarch/kvm/exit.c`, `kvm_handle_rdwr_fault`).
"""

from __future__ import annotations

from ..faults import GUEST_WALK, Fault
from ..flags import Access, Priv
from .base import FaultReason
from .loongarch_pte import NR, NX, PTW, RPLV, D, W, plv

ARCH = "loongarch64"
PIL, PIS, PIF, PME, PNR, PNX, PPI, ADE = 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8
NAMES = {
    PIL: "PIL",
    PIS: "PIS",
    PIF: "PIF",
    PME: "PME",
    PNR: "PNR",
    PNX: "PNX",
    PPI: "PPI",
    ADE: "ADE",
}
_INVALID = {Access.READ: PIL, Access.WRITE: PIS, Access.EXEC: PIF}
_WORDS = {
    PIL: "page invalid for a load",
    PIS: "page invalid for a store",
    PIF: "page invalid for a fetch",
    PME: "page modification (store to a page whose D bit is 0)",
    PNR: "page not readable (NR=1)",
    PNX: "page not executable (NX=1)",
    PPI: "page privilege illegal (PLV/RPLV)",
    ADE: "address error",
}


def ecode(fault: Fault) -> int:
    """Which exception: the first check of `loongarch_check_pte` that fails."""
    if fault.reason in (FaultReason.NON_CANONICAL, FaultReason.ADDRESS_SIZE):
        return ADE
    if fault.reason is not FaultReason.PERMISSION or fault.raw is None:
        return _INVALID[fault.access]
    raw, access = fault.raw, fault.implicit_access or fault.access
    if access is Access.EXEC and raw & NX:
        return PNX
    if access is Access.READ and raw & NR:
        return PNR
    level = 3 if fault.priv is Priv.USER else 0
    if fault.stage == 1 and (level != plv(raw) if raw & RPLV else level > plv(raw)):
        return PPI
    return PME


def syndrome(fault: Fault) -> dict[str, int | None]:
    code = ecode(fault)
    sub = (0 if fault.access is Access.EXEC else 1) if code == ADE else 0  # ADEF / ADEM
    badv = fault.gva if fault.stage == 1 else fault.gpa
    return {"ecode": code, "esubcode": sub, "badv": badv}


def explain(fault: Fault) -> str:
    code = ecode(fault)
    who = "the guest" if fault.stage == 1 else "the host (root mode, KVM)"
    head = f"{NAMES[code]} ({_WORDS[code]}) taken by {who}"
    if fault.stage == 2:
        doing = "reading the guest's page table at" if fault.during == GUEST_WALK else "accessing"
        gpa = "an unknown GPA" if fault.gpa is None else f"GPA {fault.gpa:#x}"
        head += f" while the guest was {doing} {gpa}"
    if code == ADE:
        return f"{head}: the address is outside the 48-bit range (bits 63:47 must sign-extend)."
    if fault.raw is None or fault.depth is None:
        return f"{head}."
    table = "guest's" if fault.stage == 1 else "GPA"
    cause = {
        PME: _pme_cause(fault),
        PNR: "has NR=1",
        PNX: "has NX=1",
        PPI: f"allows PLV{plv(fault.raw)}{' only' if fault.raw & RPLV else ' and more privileged'}",
    }.get(code, _invalid_cause(fault))
    return f"{head}: the {table} {fault.level_name} entry {cause}."


def _invalid_cause(fault: Fault) -> str:
    if not (fault.level_name or "").startswith("PT") and not fault.raw:
        return "names no next-level table"
    return "is not valid (P=0)" if PTW in fault.features else "is not valid (V=0)"


def _pme_cause(fault: Fault) -> str:
    raw = fault.raw or 0
    if PTW in fault.features:
        return "has W=0 (the hardware walker's writable bit)"
    if raw & W and not raw & D:
        return "has D=0 with W=1: Linux sets D and retries (its dirty tracking)"
    return "has D=0"
