"""The syndrome registers a translation fault leaves, decoded bit by bit as the manuals define
them: x86 exit reason, exit qualification (SDM Vol. 3 Table 28-7) and #PF error code (§4.7);
AArch64 ESR_ELx (Arm ARM D24.2.43: EC, IL, ISS of an abort), FAR and HPFAR_EL2; RISC-V scause
(privileged spec "Exception codes"), stval, htval (GPA >> 2) and htinst. Data, read by the
CLI's and the TUI's fault views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SyndromeField:
    bits: str  # "1", "31:26"
    name: str
    value: int
    meaning: str


@dataclass(frozen=True, slots=True)
class Register:
    """One syndrome register (or code) with its value and what its fields say."""

    name: str
    value: int
    meaning: str = ""
    fields: tuple[SyndromeField, ...] = ()


EXIT_REASONS = {48: "EPT violation", 49: "EPT misconfiguration"}
VECTORS = {13: "#GP general protection", 14: "#PF page fault"}
#: exit qualification of an EPT violation, bits 0-8 (bit 6 only with MBEC)
_QUALIFICATION = (
    (0, "read", "the access was a data read"),
    (1, "write", "the access was a data write"),
    (2, "fetch", "the access was an instruction fetch"),
    (3, "readable", "the EPT entries allowed reads (R ANDed over the walk)"),
    (4, "writable", "the EPT entries allowed writes"),
    (5, "executable", "the EPT entries allowed fetches (supervisor with MBEC)"),
    (6, "user-executable", "the EPT entries allowed user fetches (MBEC)"),
    (7, "GLA valid", "the guest-linear address field is valid"),
)
_ERROR_CODE = (
    (0, "P", "a protection violation (0: the page was not present)"),
    (1, "W/R", "a write (0: a read)"),
    (2, "U/S", "from user mode (0: supervisor)"),
    (3, "RSVD", "a reserved bit was set in a paging entry"),
    (4, "I/D", "an instruction fetch"),
    (5, "PK", "a protection-key violation"),
)
EC_NAMES = {
    0x20: "instruction abort from a lower EL",
    0x21: "instruction abort without a change of EL",
    0x24: "data abort from a lower EL",
    0x25: "data abort without a change of EL",
}
_FSC_KINDS = {
    0b0000: "address size fault",
    0b0001: "translation fault",
    0b0010: "access flag fault",
    0b0011: "permission fault",
}
SCAUSE_NAMES = {
    12: "instruction page fault",
    13: "load page fault",
    15: "store/AMO page fault",
    20: "instruction guest-page fault",
    21: "load guest-page fault",
    23: "store/AMO guest-page fault",
}
HTINST_NAMES = {
    0: "no instruction information",
    0x3000: "implicit VS-stage PTE read (RV64)",
    0x3020: "implicit VS-stage PTE write (RV64)",
}


def _set_bits(value: int, table: tuple[tuple[int, str, str], ...]) -> tuple[SyndromeField, ...]:
    return tuple(SyndromeField(str(b), name, 1, what) for b, name, what in table if value >> b & 1)


def fsc_meaning(fsc: int) -> str:
    kind = _FSC_KINDS.get(fsc >> 2)
    return f"{kind}, level {fsc & 3}" if kind else f"fault status {fsc:#04x}"


def _x86(s: dict[str, int | None]) -> list[Register]:
    out: list[Register] = []
    if s.get("exit_reason") is not None:
        reason = int(s["exit_reason"] or 0)
        out.append(Register("exit reason", reason, EXIT_REASONS.get(reason, "")))
    if s.get("exit_qualification") is not None:
        qual = int(s["exit_qualification"] or 0)
        fields = _set_bits(qual, _QUALIFICATION)
        if qual >> 7 & 1:
            fields += (
                SyndromeField(
                    "8",
                    "GLA final",
                    qual >> 8 & 1,
                    "the access was to the translated guest-linear address"
                    if qual >> 8 & 1
                    else "the access was to a guest paging-structure entry",
                ),
            )
        out.append(Register("exit qualification", qual, "", fields))
    for key, label in (
        ("guest_physical_address", "guest-physical address"),
        ("guest_linear_address", "guest-linear address"),
    ):
        if s.get(key) is not None:
            out.append(Register(label, int(s[key] or 0)))
    if s.get("vector") is not None:
        vector = int(s["vector"] or 0)
        out.append(Register("vector", vector, VECTORS.get(vector, "")))
    if s.get("error_code") is not None:
        code = int(s["error_code"] or 0)
        out.append(Register("error code", code, "", _set_bits(code, _ERROR_CODE)))
    if s.get("cr2") is not None:
        out.append(Register("CR2", int(s["cr2"] or 0), "the faulting linear address"))
    return out


def _arm(s: dict[str, int | None]) -> list[Register]:
    el = s.get("el") or 2
    out: list[Register] = []
    if s.get("esr") is not None:
        esr = int(s["esr"] or 0)
        ec, fsc = esr >> 26, esr & 0x3F
        fields = (
            SyndromeField("31:26", "EC", ec, EC_NAMES.get(ec, "")),
            SyndromeField("25", "IL", esr >> 25 & 1, "32-bit instruction"),
            SyndromeField("24", "ISV", esr >> 24 & 1, "no instruction syndrome"),
            SyndromeField(
                "7",
                "S1PTW",
                esr >> 7 & 1,
                "on a stage-1 table walk" if esr >> 7 & 1 else "not on a stage-1 table walk",
            ),
            SyndromeField("6", "WnR", esr >> 6 & 1, "a write" if esr >> 6 & 1 else "a read"),
            SyndromeField("5:0", "xFSC", fsc, fsc_meaning(fsc)),
        )
        out.append(Register(f"ESR_EL{el}", esr, "", fields))
    if s.get("far") is not None:
        out.append(Register(f"FAR_EL{el}", int(s["far"] or 0), "the faulting virtual address"))
    if s.get("hpfar") is not None:
        hpfar = int(s["hpfar"] or 0)
        out.append(Register("HPFAR_EL2", hpfar, f"FIPA: the IPA's page is {(hpfar >> 4) << 12:#x}"))
    return out


def _riscv(s: dict[str, int | None]) -> list[Register]:
    out: list[Register] = []
    if s.get("scause") is not None:
        cause = int(s["scause"] or 0)
        out.append(Register("scause", cause, SCAUSE_NAMES.get(cause, "")))
    if s.get("stval") is not None:
        out.append(Register("stval", int(s["stval"] or 0), "the faulting guest-virtual address"))
    if s.get("htval") is not None:
        htval = int(s["htval"] or 0)
        if htval:
            out.append(
                Register("htval", htval, f"the guest-physical address >> 2: {htval << 2:#x}")
            )
        else:
            out.append(Register("htval", 0, "zero: no guest-physical address (a VS-stage fault)"))
    if s.get("htinst") is not None:
        htinst = int(s["htinst"] or 0)
        out.append(Register("htinst", htinst, HTINST_NAMES.get(htinst, "")))
    return out


_DECODERS: dict[str, Callable[[dict[str, int | None]], list[Register]]] = {
    "x86_64": _x86,
    "aarch64": _arm,
    "riscv64": _riscv,
}


def decode_syndrome(arch: str, syndrome: dict[str, int | None]) -> list[Register]:
    """The registers of `syndrome` with their fields; [] for an arch without a table."""
    decoder = _DECODERS.get(arch)
    return decoder(syndrome) if decoder else []
