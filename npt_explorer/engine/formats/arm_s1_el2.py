"""AArch64 stage 1 in the EL2 translation regime (non-VHE, TTBR0_EL2 only): one privilege level,
so AP[1] is RES1, there is no PXN (bit 53 RES0) and bit 54 is the one XN (Arm ARM K.a D8.4.1.2.1,
D8.4.2; Linux nVHE hyp writes AP[2:1] = 0b01 RW / 0b11 RO). This is the hardware's reading of the
tables the seed's `arm-el2` build writes for the hypervisor itself (seed-crates.md §4 item 16).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..flags import Access, MappingFlags, Priv
from .arm_common import AP2, RWX, VALID, bit_field, reserved
from .arm_s1 import (
    AP1,
    AP_TABLE_NO_EL0,
    AP_TABLE_RO,
    PXN_TABLE,
    UXN,
    UXN_TABLE,
    AArch64Stage1,
    mair_memory_flags,
    memory_attrs,
)
from .base import AccessRequest, Decoded, EntryKind, FaultReason, Field, Role, StepCheck

R, W, X, U = (MappingFlags.READ, MappingFlags.WRITE, MappingFlags.EXECUTE, MappingFlags.USER)

_AP_EL2 = Field(
    "AP",
    7,
    6,
    Role.PERMISSION,
    "AP[2:1]: AP[2] read-only; AP[1] RES1 (one privilege level)",
    (
        (0, "RW, but AP[1]=0 where EL2 says RES1"),
        (1, "EL2 RW"),
        (2, "RO, but AP[1]=0 where EL2 says RES1"),
        (3, "EL2 RO"),
    ),
)
_XN = bit_field("XN", 54, Role.PERMISSION, "execute-never", "EL2 may execute", "EL2 execute-never")
_RES0_53 = reserved("RES0_53", 53, 53, "PXN does not exist with one privilege level: RES0")
_EL2_LEAF = {"AP": _AP_EL2, "PXN": _RES0_53, "UXN": _XN}
_EL2_TABLE = {
    "PXNTABLE": reserved("RES0_59", 59, 59, "PXNTable: RES0 in the EL2 regime"),
    "UXNTABLE": replace(_XN, name="XNTABLE", hi=60, lo=60, doc="XN for every level below"),
    "APTABLE": Field(
        "APTABLE",
        62,
        61,
        Role.PERMISSION,
        "APTable[1] no write below; APTable[0] RES0 in the EL2 regime",
        ((0, "no effect"), (1, "RES0 bit set"), (2, "no write below"), (3, "no write below")),
    ),
}


def _swap(table: tuple[Field, ...], by_name: dict[str, Field]) -> tuple[Field, ...]:
    return tuple(by_name.get(f.name, f) for f in table)


@dataclass(frozen=True, slots=True)
class El2Acc:
    """Permissions folded over an EL2 walk: APTable[1] and AP[2] make it read-only, XNTable and
    XN execute-never. There is no EL0, so an unprivileged access is never granted."""

    read_only: bool = False
    xn: bool = False

    def permits(self, access: Access, priv: Priv) -> bool:
        if priv is Priv.USER:
            return False
        if access is Access.EXEC:
            return not self.xn
        return access is Access.READ or not self.read_only

    def flags(self) -> MappingFlags:
        return R | (MappingFlags(0) if self.read_only else W) | (MappingFlags(0) if self.xn else X)


def _table_acc(acc: El2Acc, raw: int) -> El2Acc:
    return El2Acc(acc.read_only or bool(raw & AP_TABLE_RO), acc.xn or bool(raw & UXN_TABLE))


class AArch64Stage1El2(AArch64Stage1):
    """The `aarch64-s1` descriptors read by the EL2 regime; the seed encoding is the feature's."""

    def fixed_attrs(self, flags: MappingFlags) -> int:
        """What EL2 needs: AP[1]=1 (RES1), AP[2] from WRITE, XN from EXECUTE; USER cannot exist."""
        valid = VALID if flags & RWX else 0
        return (
            memory_attrs(flags)
            | valid
            | AP1
            | (0 if W in flags else AP2)
            | (0 if X in flags else UXN)
        )

    def field_table(self, depth: int, kind: EntryKind) -> tuple[Field, ...]:
        table = super().field_table(depth, kind)
        if kind is EntryKind.TABLE:
            return _swap(table, _EL2_TABLE)
        return _swap(table, _EL2_LEAF) if kind is not EntryKind.INVALID else table

    def table_flags(self, raw: int) -> MappingFlags:
        return _table_acc(El2Acc(), raw).flags()

    def leaf_flags(self, raw: int) -> MappingFlags:
        return self.fold_leaf(El2Acc(), raw).flags() | mair_memory_flags(raw)

    def why(self, flag: MappingFlags, raw: int) -> str:
        if flag is U:
            return "the EL2 regime has one privilege level: there is no EL0 access to grant"
        if flag is X:
            xn = int(bool(raw & UXN))
            return f"XN (bit 54)={xn} {'denies' if xn else 'allows'} EL2 instruction fetches"
        if flag is R:
            return "a valid EL2 descriptor is always readable"
        return super().why(flag, raw)

    def attribute_problems(self, raw: int, kind: EntryKind) -> list[tuple[str, str | None]]:
        if kind is EntryKind.TABLE:
            out: list[tuple[str, str | None]] = []
            if raw & AP_TABLE_NO_EL0:
                out.append(("APTable[0]=1 is RES0 in the EL2 regime", "APTABLE"))
            if raw & PXN_TABLE:
                out.append(("PXNTable=1 is RES0 in the EL2 regime", "RES0_59"))
            return out
        if kind is not EntryKind.LEAF:
            return []
        out = [
            (text, name)
            for text, name in super().attribute_problems(raw, kind)
            if name not in ("UXN", "PXN")  # EL1&0's EL0-versus-EL1 execute rules
        ]
        if not raw & AP1:
            out.append(
                (
                    "AP[1]=0 where the EL2 regime says RES1 (Arm ARM D8.4.1.2.1; Linux's nVHE "
                    "hyp writes AP[1]=1)",
                    "AP",
                )
            )
        return out

    # ------------------------------------------------------------------- walker hooks
    # (acc is an El2Acc; typed Any as the base's S1Acc hooks are overridden with another
    # accumulator — PagingFormat generic in its accumulator would type it)

    def start(self) -> Any:
        return El2Acc()

    def descend(self, acc: Any, dec: Decoded, req: AccessRequest) -> StepCheck:
        return StepCheck(_table_acc(acc, dec.raw))

    def fold_leaf(self, acc: Any, raw: int) -> Any:
        return El2Acc(acc.read_only or bool(raw & AP2), acc.xn or bool(raw & UXN))

    def allows(self, acc: Any, req: AccessRequest) -> FaultReason | None:
        return None if acc.permits(req.access, req.priv) else FaultReason.PERMISSION

    def describe_perms(self, acc: Any) -> str:
        letters = "".join(
            ch if acc.permits(a, Priv.KERNEL) else "-"
            for ch, a in (("r", Access.READ), ("w", Access.WRITE), ("x", Access.EXEC))
        )
        return f"el2 {letters}"

    def user_page(self, acc: Any) -> bool:
        return False
