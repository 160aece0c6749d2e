"""RISC-V page faults and guest-page faults: scause/stval/htval/htinst (privileged spec "Exception
codes"; hypervisor spec "Trap value registers", "Transformed instruction or pseudoinstruction for
mtinst or htinst") and a one-sentence explanation, both computed from a `Fault`.
"""

from __future__ import annotations

from ..faults import GUEST_WALK, Fault
from ..flags import Access, Priv
from .base import FaultReason
from .riscv_pte import LEVEL_OF_NAME, PTE_A, PTE_R, PTE_U, violations

ARCH = "riscv64"

#: instruction / load / store-AMO page fault (VS-stage) and guest-page fault (G-stage)
PAGE_FAULT = {Access.EXEC: 12, Access.READ: 13, Access.WRITE: 15}
GUEST_PAGE_FAULT = {Access.EXEC: 20, Access.READ: 21, Access.WRITE: 23}
#: htinst pseudoinstructions for a fault on an implicit VS-stage PTE access (RV64)
HTINST_PTE_READ = 0x3000
HTINST_PTE_WRITE = 0x3020

_ACCESS_WORDS = {Access.READ: "load", Access.WRITE: "store", Access.EXEC: "instruction fetch"}


def syndrome(fault: Fault) -> dict[str, int | None]:
    """Exception codes follow the guest's ORIGINAL access, also for implicit PTE accesses."""
    if fault.stage == 1:
        out: dict[str, int | None] = {
            "scause": PAGE_FAULT[fault.access], "stval": fault.gva, "htval": 0, "htinst": 0
        }  # fmt: skip
        if fault.via:  # HLV/HLVX/HSV trap to HS-mode: stval holds a guest virtual address
            out["hstatus_gva"] = 1
        return out
    htinst = 0
    if fault.during == GUEST_WALK:
        htinst = HTINST_PTE_WRITE if fault.write_back else HTINST_PTE_READ
    return {
        "scause": GUEST_PAGE_FAULT[fault.access],
        "stval": fault.gva,
        "htval": None if fault.gpa is None else fault.gpa >> 2,
        "htinst": htinst,
        "hstatus_gva": 1,  # Priv. ISA 21.2.1: stval holds the guest virtual address
    }


def explain(fault: Fault) -> str:
    """One sentence: which stage and level, which bit(s), and who must do what."""
    if fault.via:
        return _explain_hypervisor_access(fault)
    if fault.stage == 1:
        head = (
            f"VS-stage page fault (scause {PAGE_FAULT[fault.access]}, "
            f"{_ACCESS_WORDS[fault.access]})"
        )
        owner = "the guest's"
    else:
        head = (
            f"G-stage guest-page fault (scause {GUEST_PAGE_FAULT[fault.access]}, "
            f"{_ACCESS_WORDS[fault.access]}) {_stage2_context(fault)}"
        )
        owner = "the hypervisor's G-stage"
    if fault.depth is None or fault.raw is None:
        return f"{head}: {_input_cause(fault)}, so {_remedy(fault)}."
    return f"{head}: {owner} {fault.level_name} PTE {_entry_cause(fault)}, so {_remedy(fault)}."


def _explain_hypervisor_access(fault: Fault) -> str:
    """HLV/HLVX/HSV from HS-mode: both stages as for the guest, the trap taken in HS-mode."""
    cause = PAGE_FAULT if fault.stage == 1 else GUEST_PAGE_FAULT
    stage = "VS-stage" if fault.stage == 1 else "G-stage"
    what = _entry_cause(fault) if fault.raw is not None else _input_cause(fault)
    return (
        f"{fault.via.upper()} from HS-mode faults at the {stage} (scause {cause[fault.access]}, "
        f"hstatus.GVA=1): the {fault.level_name or 'input'} {what}, so the hypervisor handles "
        "it itself"
    ) + "."


def _gpa(fault: Fault) -> str:
    return "an unknown GPA" if fault.gpa is None else f"GPA {fault.gpa:#x}"


def _stage2_context(fault: Fault) -> str:
    if fault.during == GUEST_WALK:
        verb = "writing A/D into" if fault.write_back else "reading"
        return f"while {verb} the guest's PTE at {_gpa(fault)}"
    return f"on the final access to {_gpa(fault)}"


def _input_cause(fault: Fault) -> str:
    if fault.reason is FaultReason.NON_CANONICAL:
        return (
            f"gVA {fault.gva:#x} is not sign-extended (Sv39: bits 63:39 = bit 38; Sv48: "
            f"bits 63:48 = bit 47; Sv57: bits 63:57 = bit 56)"
        )
    if fault.stage == 2:
        return (
            f"{_gpa(fault)} is wider than the G-stage input (41 bits for Sv39x4, 50 for "
            f"Sv48x4: the bits above must be 0)"
        )
    return f"gVA {fault.gva:#x} is not a 64-bit address"


def _entry_cause(fault: Fault) -> str:
    raw = fault.raw or 0
    if fault.reason is FaultReason.NOT_PRESENT:
        return "has V=0"
    if fault.reason is FaultReason.PERMISSION:
        return _permission_cause(fault, raw)
    if fault.reason is FaultReason.ACCESS_FLAG:
        bit = "A=0" if not raw & PTE_A else "D=0 and this is a store"
        return f"has {bit}, and without Svadu the hardware does not set it"
    level = LEVEL_OF_NAME.get(fault.level_name or "")
    found = [] if level is None else violations(raw, level, fault.features)
    return f"is malformed: {found[0].words}" if found else "is malformed"


_RULE_WORDS = {
    "SUM": "has U=1 (a user page), which VS-mode may not load or store with vsstatus.SUM=0",
    "MXR": "has R=0 X=1 (execute-only), readable only with MXR=1 (vsstatus.MXR or sstatus.MXR)",
    "HLVX": "has X=0, and HLVX reads need X (not R)",
}


def _permission_cause(fault: Fault, raw: int) -> str:
    if fault.rule in _RULE_WORDS:
        return _RULE_WORDS[fault.rule]
    access = fault.access
    if fault.stage == 2:
        if fault.during == GUEST_WALK:
            access = fault.implicit_access or Access.READ
        if not raw & PTE_U:
            return "has U=0, but every G-stage access is treated as U-mode"
    elif raw & PTE_U and fault.priv is Priv.KERNEL:
        never = "never fetches from" if access is Access.EXEC else "may not access (SUM=0)"
        return f"has U=1 (a user page), which VS-mode {never}"
    elif not raw & PTE_U and fault.priv is Priv.USER:
        return "has U=0 (a supervisor page), which VU-mode may not access"
    if access is Access.EXEC:
        return "has X=0, and an instruction fetch needs X"
    if access is Access.READ:
        return "has R=0, and a load needs R"
    missing = "W=0" if raw & PTE_R else "R=0"
    store = "the A/D write-back is a store, which" if fault.write_back else "a store"
    return f"has {missing}, and {store} needs R and W"


def _remedy(fault: Fault) -> str:
    reason = fault.reason
    if fault.stage == 1:
        return {
            FaultReason.NOT_PRESENT: "the guest kernel must map the page (or kill the process)",
            FaultReason.PERMISSION: "the guest kernel must grant the access (as for copy-on-write) "
            "or signal the process",
            FaultReason.ACCESS_FLAG: "the guest kernel must set A (and D) in the PTE and retry",
            FaultReason.NON_CANONICAL: "no PTE is read and the guest kernel sees a bad address",
        }.get(reason, "the guest kernel must repair its page table or reject the address")
    if reason is FaultReason.PERMISSION and fault.raw is not None and not fault.raw & PTE_U:
        return "the hypervisor must set U=1 on its G-stage leaves and resume the guest"
    return {
        FaultReason.NOT_PRESENT: f"the hypervisor must back {_gpa(fault)} (htval = GPA >> 2) in "
        "its G-stage table and resume the guest",
        FaultReason.PERMISSION: "the hypervisor must grant the access in its G-stage table or "
        "emulate it (MMIO) and resume the guest",
        FaultReason.ACCESS_FLAG: "the hypervisor must set A (and D) in its G-stage PTE and "
        "resume the guest",
        FaultReason.ADDRESS_SIZE: "the hypervisor must emulate the access or stop the guest",
    }.get(reason, "the hypervisor must repair its G-stage table")
