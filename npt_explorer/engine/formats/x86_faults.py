"""x86 fault reports: guest #PF/#GP (SDM Vol. 3 §4.7) and EPT violation / misconfiguration exits
(§29.3.3, exit qualification Table 28-7); hardware.md §2.4 and §3.5."""

from __future__ import annotations

from functools import cache

from ..control import Control
from ..faults import GUEST_WALK, Fault
from ..flags import Access, Priv
from ..numbers import hx
from . import x86_npt_faults
from .base import FaultReason
from .x86_32 import X86Paging32
from .x86_common import X86Family
from .x86_ept import EptAccess, EptFormat
from .x86_guest import GuestAccess, X86Controls, X86Paging
from .x86_npt import NPT_MODE

VECTOR_GP, VECTOR_PF = 13, 14
PF_P, PF_WR, PF_US, PF_RSVD, PF_ID, PF_PK = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5
EXIT_EPT_VIOLATION, EXIT_EPT_MISCONFIG = 48, 49
QUAL_READ, QUAL_WRITE, QUAL_FETCH = 1 << 0, 1 << 1, 1 << 2
QUAL_GLA_VALID, QUAL_GLA_FINAL = 1 << 7, 1 << 8

_QUAL_ACCESS = {Access.READ: QUAL_READ, Access.WRITE: QUAL_WRITE, Access.EXEC: QUAL_FETCH}
_VERB = {Access.READ: "read", Access.WRITE: "write", Access.EXEC: "instruction fetch"}
_VIOLATIONS = (FaultReason.NOT_PRESENT, FaultReason.PERMISSION, FaultReason.ADDRESS_SIZE)


# ------------------------------------------------------------------------------- syndromes


def error_code(fault: Fault) -> int:
    """The #PF error code (SDM Vol. 3A 4.7): P unless not present, W/R, U/S, RSVD, I/D (only
    with EFER.NXE=1 or CR4.SMEP=1), PK (a protection-key violation, beside any other)."""
    ctl = X86Controls.of(fault.control)
    code = 0 if fault.reason is FaultReason.NOT_PRESENT else PF_P
    code |= PF_WR if fault.access is Access.WRITE else 0
    code |= PF_US if fault.priv is Priv.USER else 0
    code |= PF_ID if fault.access is Access.EXEC and (ctl.nxe or ctl.smep) else 0
    if fault.reason is FaultReason.PERMISSION and isinstance(fault.acc, GuestAccess):
        code |= PF_PK if ctl.pk_violation(fault.acc, fault.access, fault.priv) else 0
    return code | (
        0 if fault.reason in (FaultReason.NOT_PRESENT, FaultReason.PERMISSION) else PF_RSVD
    )


def ept_rights(fault: Fault) -> EptAccess:
    """R/W/X/XU ANDed over the EPT entries used, the faulting one included (all 0 when an entry
    was not present or none was read)."""
    if fault.reason is not FaultReason.PERMISSION:
        return EptAccess(False, False, False, False)
    acc = fault.acc if isinstance(fault.acc, EptAccess) else EptAccess()
    return acc if fault.raw is None else acc.through(fault.raw)  # AND is idempotent


def _walk_writes(fault: Fault) -> bool:
    """A guest paging-structure access is an EPT write for an A/D update, and always with EPT
    A/D on (§29.3.5); the exit qualification then reports read and write."""
    return fault.write_back or "ept-ad" in fault.features


def exit_qualification(fault: Fault) -> int:
    """Bits 0-8 of an EPT-violation exit qualification; with `ept-exit-info` (the "advanced
    VM-exit information for EPT violations" capability) also bits 9-11 for a final access:
    the linear address's U/S, R/W and XD (SDM Vol. 3C Table 28-7). Bit 12 (NMI unblocking by
    IRET) is 0: the model runs no IRET."""
    if fault.during == GUEST_WALK:
        qual = QUAL_READ | (QUAL_WRITE if _walk_writes(fault) else 0)
    else:
        qual = _QUAL_ACCESS[fault.access] | QUAL_GLA_FINAL
        guest = fault.guest_acc
        if "ept-exit-info" in fault.features and isinstance(guest, GuestAccess):
            xd = guest.xd and X86Controls.of(fault.control).nxe
            qual |= guest.us << 9 | guest.rw << 10 | xd << 11
    rights = ept_rights(fault)
    qual |= (rights.r << 3) | (rights.w << 4) | (rights.x << 5)
    qual |= (rights.xu << 6) if "mbec" in fault.features else 0
    return qual | QUAL_GLA_VALID


def syndrome(fault: Fault) -> dict[str, int | None]:
    if fault.stage == 2 and NPT_MODE in fault.features:
        return x86_npt_faults.syndrome(fault)
    if fault.stage == 1:
        if fault.reason in (FaultReason.NON_CANONICAL, FaultReason.ADDRESS_SIZE):
            return {"vector": VECTOR_GP, "error_code": 0, "cr2": None}
        return {"vector": VECTOR_PF, "error_code": error_code(fault), "cr2": fault.gva}
    if fault.reason in _VIOLATIONS:
        return {
            "exit_reason": EXIT_EPT_VIOLATION,
            "exit_qualification": exit_qualification(fault),
            "guest_physical_address": fault.gpa,
            "guest_linear_address": fault.gva,
        }
    return {
        "exit_reason": EXIT_EPT_MISCONFIG,
        "exit_qualification": None,
        "guest_physical_address": fault.gpa,
        "guest_linear_address": None,
    }


# ---------------------------------------------------------------------------- explanations


def explain(fault: Fault) -> str:
    if fault.stage == 2 and NPT_MODE in fault.features:
        return x86_npt_faults.explain(fault)
    return _explain_guest(fault) if fault.stage == 1 else _explain_ept(fault)


CR4_PAE = 1 << 5


@cache
def _reader(
    stage: int, features: frozenset[str], registers: tuple[tuple[str, int], ...] = ()
) -> X86Family:
    """A 5-level format: its depths cover every level name a fault can carry (32-bit paging,
    CR4.PAE=0, reads its own PDE and PTE)."""
    fmt: X86Family
    if stage == 1 and not dict(registers).get("cr4", CR4_PAE) & CR4_PAE:
        fmt = X86Paging32(features=features)
    elif stage == 1:
        fmt = X86Paging(levels_count=5, features=features)
    else:
        fmt = EptFormat(levels_count=5, features=features)
    if registers:
        fmt.configure(Control("x86_64", dict(registers)))
    return fmt


def _registers(fault: Fault) -> tuple[tuple[str, int], ...]:
    control = fault.control
    return tuple(sorted(control.values.items())) if isinstance(control, Control) else ()


def rule_words(fault: Fault) -> str:
    """The reserved bit or encoding that made the faulting entry unusable."""
    reader = _reader(fault.stage, fault.features, _registers(fault))
    names = [level.name.removeprefix("EPT ") for level in reader.levels]
    name = (fault.level_name or "").removeprefix("EPT ")
    if fault.raw is None or name not in names:
        return "a reserved bit or encoding"
    reading = reader.classify(fault.raw, names.index(name))
    return "; ".join(reading.words) or "a reserved bit or encoding"


def _explain_guest(fault: Fault) -> str:
    if fault.reason in (FaultReason.NON_CANONICAL, FaultReason.ADDRESS_SIZE):
        return (
            f"Stage 1 (guest paging): gVA {hx(fault.gva, '?')} is not canonical (its upper bits "
            "do not repeat the top address bit), so the CPU raises #GP(0) without walking "
            "any table and the guest kernel treats it as a bad pointer."
        )
    entry, code = f"the {fault.level_name} for gVA {hx(fault.gva, '?')}", error_code(fault)
    if fault.reason is FaultReason.NOT_PRESENT:
        return (
            f"Stage 1 (guest paging): {entry} has P=0 (bit 0), so the CPU raises #PF with "
            f"error code {code:#x} and CR2={hx(fault.gva, '?')}, and the guest kernel's "
            "page-fault handler maps the page or signals the process."
        )
    if fault.reason is FaultReason.PERMISSION:
        return (
            f"Stage 1 (guest paging): the walk ends at {entry}, but {_guest_denial(fault)}, "
            f"so the CPU raises #PF with error code {code:#x} and the guest kernel handles "
            "it (copy-on-write, or SIGSEGV for the process)."
        )
    return (
        f"Stage 1 (guest paging): {entry} is unusable ({rule_words(fault)}), so the CPU "
        f"raises #PF with RSVD set (error code {code:#x}) and the guest kernel reports "
        "corrupted page tables."
    )


def _guest_denial(fault: Fault) -> str:
    """The deciding rule in words, naming the control bit when one decided."""
    acc = fault.acc if isinstance(fault.acc, GuestAccess) else GuestAccess()
    acc = acc if fault.raw is None else acc.through(fault.raw)
    ctl = X86Controls.of(fault.control)
    rule = fault.rule or ctl.denial(acc, fault.access, fault.priv, fault.ac)
    verb = _VERB[fault.access]
    words = {
        "U/S": "U/S=0 (bit 2) on some level keeps user mode out",
        "R/W": "R/W=0 (bit 1) on some level makes the page read-only"
        + ("" if fault.priv is Priv.USER else " (CR0.WP=1 binds the kernel)"),
        "XD": "XD=1 (bit 63) on some level forbids instruction fetches (EFER.NXE=1)",
        "SMEP": "SMEP: supervisor instruction fetch from a user page with CR4.SMEP=1",
        "SMAP": f"SMAP: supervisor {verb} of a user page with EFLAGS.AC=0 (CR4.SMAP=1)",
        "PK-AD": f"PKRU.AD{acc.pk}=1 forbids data access to protection key {acc.pk} (CR4.PKE=1)",
        "PK-WD": f"PKRU.WD{acc.pk}=1 forbids writes to protection key {acc.pk} (CR4.PKE=1)",
    }
    return words.get(rule, f"the combined R/W, U/S and XD bits forbid this {verb}")


def _ept_access(fault: Fault) -> str:
    """What the CPU was doing when stage 2 failed, in words."""
    if fault.during != GUEST_WALK:
        return f"the guest's {_VERB[fault.access]} at gPA {hx(fault.gpa, '?')}"
    entry = f"the guest page-table entry at gPA {hx(fault.gpa, '?')}"
    if fault.write_back:
        return f"the A/D update of {entry}"
    if "ept-ad" in fault.features:
        return f"the access to {entry} (a write, as EPT A/D is on)"
    return f"the read of {entry}"


def _ept_need(fault: Fault, rights: EptAccess) -> str:
    mbec = "mbec" in fault.features
    if fault.during == GUEST_WALK:
        return "W (bit 1)" if _walk_writes(fault) else "R (bit 0)"
    if fault.access is not Access.EXEC:
        return "W (bit 1)" if fault.access is Access.WRITE else "R (bit 0)"
    if mbec and rights.x and not rights.xu:
        return "XU (bit 10), as MBEC checks XU for a user-mode page"
    if mbec and rights.xu and not rights.x:
        return "X (bit 2), as MBEC checks XS for a supervisor-mode page"
    return "X (bit 2)"


def _explain_ept(fault: Fault) -> str:
    level, what = fault.level_name, _ept_access(fault)
    if fault.reason is FaultReason.ADDRESS_SIZE:
        return (
            f"Stage 2 (EPT): {what} lies beyond the EPT's input address width, reported "
            "here as an EPT violation with bits 3-5 = 0; real CPUs bound the guest's "
            "MAXPHYADDR (CPUID), so the guest would instead take a reserved-bit #PF in its "
            "own page tables."
        )
    if fault.reason not in _VIOLATIONS:
        return (
            f"Stage 2 (EPT): the {level} used for {what} is an EPT misconfiguration "
            f"({rule_words(fault)}), so the CPU exits with reason 49 (no exit "
            "qualification) and the hypervisor must repair its own EPT entry."
        )
    qual = exit_qualification(fault)
    if fault.reason is FaultReason.NOT_PRESENT:
        bits = "R=W=X=XU=0 (bits 2:0 and 10)" if "mbec" in fault.features else "R=W=X=0 (bits 2:0)"
        return (
            f"Stage 2 (EPT): the {level} used for {what} has {bits}, so the CPU exits with "
            f"an EPT violation (exit qualification {qual:#x}) and the hypervisor maps that "
            "gPA (or emulates MMIO) and resumes the guest."
        )
    rights = ept_rights(fault)
    granted = _reader(2, fault.features).describe_perms(rights)
    return (
        f"Stage 2 (EPT): the EPT entries down to the {level} grant only {granted}, but "
        f"{what} needs {_ept_need(fault, rights)}, so the CPU exits with an EPT violation "
        f"(exit qualification {qual:#x}) and the hypervisor grants the access (as "
        "dirty logging does) or reports an error to the guest."
    )
