"""A translation fault as a value; syndromes are computed from it in one place per arch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .flags import Access, Priv
from .formats.base import FaultReason
from .numbers import hx


class During(StrEnum):
    """Which stage-2 access failed: the gPA of a guest table entry (QEMU's `s1ptw`) or the
    final gPA. The values are the JSON words."""

    GUEST_WALK = "guest-walk"
    FINAL = "final"


GUEST_WALK, FINAL = During.GUEST_WALK, During.FINAL

#: syndrome keys that hold an address or a whole register: hex strings in JSON, as every other
#: address (SCENARIO_FORMAT.md); the small codes (exit_reason, vector, ec, fsc, scause …) stay
#: numbers
SYNDROME_REGISTERS = frozenset(
    {
        "exit_qualification",
        "guest_physical_address",
        "guest_linear_address",
        "error_code",
        "cr2",
        "esr",
        "far",
        "hpfar",
        "stval",
        "htval",
        "htinst",
    }
)


@dataclass(frozen=True, slots=True)
class Fault:
    """Where and why a two-stage translation stopped (QEMU's ARMMMUFaultInfo, for all arches).

    `gpa` is the guest-physical address stage 2 failed on: the guest entry's gPA when
    `during == "guest-walk"`, the final gPA when `"final"`; None for stage-1 faults.
    """

    arch: str  # x86_64 | aarch64 | riscv64
    stage: int
    reason: FaultReason
    depth: int | None
    level_name: str | None
    during: During | None  # stage 2 only
    access: Access  # the guest's own access
    priv: Priv
    gva: int
    gpa: int | None
    write_back: bool = False  # the failing stage-2 access was an A/D write-back
    implicit_access: Access | None = None  # what stage 2 needed for a guest-walk access
    acc: Any = None  # the faulting stage's accumulator (e.g. EPT R/W/X AND)
    raw: int | None = None  # the faulting entry, when one was read
    hpa: int | None = None  # no-memory: the entry's host-physical address
    features: frozenset[str] = frozenset()
    ac: bool = False  # x86 EFLAGS.AC of the access
    via: str = ""  # RISC-V hlv | hlvx | hsv (an access made from HS-mode)
    rule: str = ""  # the control or entry rule that decided a permission fault
    guest_acc: Any = None  # stage 1's rights of the linear address, for a final stage-2 fault
    control: Any = None  # the machine's `Control` when the fault was taken
    syndrome: dict[str, int | None] = field(default_factory=dict)
    explanation: str = ""
    #: a stage-2 fault on a stage-1 table walk (QEMU's ARMMMUFaultInfo.s1ptw; x86 EPT
    #: exit-qualification bit 8 clear with GLA valid; RISC-V htinst pseudo-instruction)
    s1ptw: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "s1ptw", self.stage == 2 and self.during == During.GUEST_WALK)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stage": self.stage,
            "reason": str(self.reason),
            "depth": self.depth,
            "level_name": self.level_name,
            "during": self.during,
            "gva": hx(self.gva),
            "gpa": hx(self.gpa),
            "syndrome": {
                k: hx(v) if k in SYNDROME_REGISTERS else v for k, v in self.syndrome.items()
            },
            "explanation": self.explanation,
        }
        if self.hpa is not None:
            out["hpa"] = hx(self.hpa)
        return out


#: arch name -> (syndrome(fault) -> dict, explain(fault) -> str); filled by the family modules
SyndromeFn = Callable[[Fault], dict[str, int | None]]
ExplainFn = Callable[[Fault], str]
_ARCH_REPORTERS: dict[str, tuple[SyndromeFn, ExplainFn]] = {}


def register_reporter(arch: str, syndrome: SyndromeFn, explain: ExplainFn) -> None:
    _ARCH_REPORTERS[arch] = (syndrome, explain)


def finish(fault: Fault) -> Fault:
    """The fault with its hardware syndrome and one-sentence explanation filled in."""
    if fault.reason is FaultReason.NO_MEMORY:  # not a CPU event: the dump lacks the bytes
        where = f"the {'guest' if fault.stage == 1 else 'stage-2'} {fault.level_name} entry"
        return replace(
            fault,
            explanation=f"{where} is at hPA {fault.hpa:#x}, outside every range of the "
            "memory image, so the walk cannot read it",
        )
    syndrome, explain = _ARCH_REPORTERS[fault.arch]
    return replace(fault, syndrome=syndrome(fault), explanation=explain(fault))
