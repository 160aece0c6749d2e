"""#VMEXIT(NPF) (AMD64 APM Vol. 2 §15.25.6): exit code 0x400, EXITINFO1 = a #PF-style error code
plus bit 32 (the fault was on the final gPA) or bit 33 (on a guest page-table access), EXITINFO2 =
the gPA. Linux reads them in `arch/x86/kvm/svm/svm.c` `npf_interception` (exit_info_1 is the
error code, exit_info_2 the address) and names the bits PFERR_* in `kvm_host.h`.
"""

from __future__ import annotations

from ..faults import GUEST_WALK, Fault
from ..flags import Access
from .base import FaultReason
from .x86_guest import US

VMEXIT_NPF = 0x400
PF_P, PF_WR, PF_US, PF_RSVD, PF_ID = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4
GUEST_FINAL, GUEST_PAGE = 1 << 32, 1 << 33  # PFERR_GUEST_FINAL_MASK, PFERR_GUEST_PAGE_MASK
_RESERVED = (FaultReason.RESERVED, FaultReason.MISALIGNED, FaultReason.ADDRESS_SIZE)


def exitinfo1(fault: Fault) -> int:
    """P unless not present; W for a store and for every guest page-table access (nested writes);
    U always (nested walks are user walks); RSV for a reserved bit; ID for a final fetch."""
    walk = fault.during == GUEST_WALK
    code = 0 if fault.reason is FaultReason.NOT_PRESENT else PF_P
    code |= PF_WR if walk or fault.access is Access.WRITE else 0
    code |= PF_US | (PF_RSVD if fault.reason in _RESERVED else 0)
    code |= PF_ID if not walk and fault.access is Access.EXEC else 0
    return code | (GUEST_PAGE if walk else GUEST_FINAL)


def syndrome(fault: Fault) -> dict[str, int | None]:
    return {"exit_code": VMEXIT_NPF, "exitinfo1": exitinfo1(fault), "exitinfo2": fault.gpa}


def explain(fault: Fault) -> str:
    gpa = "?" if fault.gpa is None else f"{fault.gpa:#x}"
    where = (
        f"while the guest's page walk accessed its table at gPA {gpa} (bit 33)"
        if fault.during == GUEST_WALK
        else f"on the final access to gPA {gpa} (bit 32)"
    )
    head = f"#VMEXIT(NPF), EXITINFO1 {exitinfo1(fault):#x}, {where}"
    if fault.depth is None or fault.raw is None:
        return f"{head}: the gPA is wider than the nested table's input, a reserved-bit #NPF."
    entry = f"the {fault.level_name} (nCR3's table)"
    if fault.reason is FaultReason.NOT_PRESENT:
        return f"{head}: {entry} has P=0; the hypervisor maps the page and resumes the guest."
    if fault.reason is not FaultReason.PERMISSION:
        return f"{head}: {entry} sets a reserved bit or encoding (RSV)."
    if not fault.raw & US:
        why = "has U=0, but every nested access is a user access"
    elif fault.during == GUEST_WALK or fault.access is Access.WRITE:
        why = "is read-only (R/W=0), and the access is a nested write"
        if fault.during == GUEST_WALK:
            why += " (guest page-table accesses are writes: the CPU may set the guest's A/D)"
    else:
        why = "has NX=1 (execute disabled)"
    return f"{head}: {entry} {why}."
