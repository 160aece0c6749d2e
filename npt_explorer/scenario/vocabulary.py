"""The one command vocabulary: every operation a scenario `[[step]]` or a typed command line
may name, and the keys each takes (with the kind of value a key holds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine import FLUSHES, Access, Priv

__all__ = ["HYPERVISOR_ACCESSES", "OPS", "Key", "op_name"]


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    kind: str  # addr | size | int | int-or-all | flags | bool | str | choice | dict | stage
    required: bool = False
    choices: tuple[str, ...] = ()


def _k(name: str, kind: str, required: bool = False, choices: tuple[str, ...] = ()) -> Key:
    return Key(name, kind, required, choices)


_EXPECT = _k("expect", "dict")
_STAGE = _k("stage", "stage", True)
_WHERE = (_k("gva", "addr"), _k("gpa", "addr"))
#: RISC-V hypervisor loads/stores from HS-mode → the access they make
HYPERVISOR_ACCESSES = {"hlv": Access.READ, "hlvx": Access.READ, "hsv": Access.WRITE}
_ACCESS = (
    _k("gva", "addr", True),
    _k("access", "choice", False, (*Access, *HYPERVISOR_ACCESSES)),
    _k("priv", "choice", False, tuple(Priv)),
    _k("ac", "bool"),
    _EXPECT,
)

#: op → its keys (SCENARIO_FORMAT.md "Operations", plus the documented extensions
#: `context`, `control`, `trace`, map `name`, expect `stale_entries`, access `stale`)
OPS: dict[str, tuple[Key, ...]] = {
    "note": (_k("text", "str", True),),
    "map": (
        _STAGE,
        *_WHERE,
        _k("size", "size", True),
        _k("flags", "flags", True),
        _k("backend", "choice", False, ("linear", "alloc")),
        _k("hpa", "addr"),
        _k("populate", "bool"),
        _k("huge", "bool"),
        _k("name", "str"),
        _EXPECT,
    ),
    "unmap": (_STAGE, *_WHERE, _k("size", "size", True), _EXPECT),
    "protect": (_STAGE, *_WHERE, _k("size", "size", True), _k("flags", "flags", True), _EXPECT),
    "access": _ACCESS,
    "translate": _ACCESS,
    "handle-fault": (_EXPECT,),
    "flush": (
        _k("kind", "choice", True, tuple(FLUSHES)),
        _k("addr", "addr"),
        _k("asid", "int"),
        _k("vmid", "int-or-all"),
        _k("pcid", "int"),
        _k("type", "int"),
        _k("no_flush", "bool"),
        _EXPECT,
    ),
    "poke": (
        _STAGE,
        *_WHERE,
        _k("depth", "int", True),
        _k("value", "addr"),
        _k("set", "addr"),
        _k("clear", "addr"),
        _k("fields", "dict"),
        _EXPECT,
    ),
    "query": (_STAGE, *_WHERE, _EXPECT),
    "expect": (
        _k("entry", "dict"),
        _k("raw", "addr"),
        _k("fields", "dict"),
        _k("flags", "flags"),
        _k("tlb_entries", "int"),
        _k("stale_entries", "int"),
        _k("frames_in_use", "int"),
        _k("guest_pt_frames", "int"),
    ),
    "context": (
        _k("vmid", "int"),
        _k("asid", "int"),
        _k("pcid", "int"),
        _k("eptp", "int"),
        _EXPECT,
    ),
    "control": (
        _k("register", "str", True),
        _k("field", "str"),
        _k("value", "addr", True),
        _EXPECT,
    ),
    "trace": (
        _k("gva", "addr"),
        _k("size", "size"),
        _k("count", "int"),
        _k("file", "str"),
        _k("format", "choice", False, ("lackey", "text", "npy")),
        _k("s1_page", "choice", False, ("4K", "2M", "1G")),
        _k("s2_page", "choice", False, ("4K", "2M", "1G")),
        _k("native", "bool"),
        _k("pattern", "choice", False, ("sequential", "random", "stride")),
        _k("stride", "size"),
        _k("seed", "int"),
        _k("access", "choice", False, tuple(Access)),
        _k("priv", "choice", False, tuple(Priv)),
        _EXPECT,
    ),
}


def op_name(op: Any) -> str:
    """`op` as an error message may show it: a known op, or its repr cut short."""
    if op is None:
        return "?"
    if isinstance(op, str) and op in OPS:
        return op
    text = repr(op)
    return text if len(text) <= 40 else text[:37] + "..."
