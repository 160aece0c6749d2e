"""T-Head XuanTie C906/C910 memory attributes (MAEE, `mxstatus.MAEE` = 1): PTE bits 63:59 are
SO C B SH Sec instead of Svnapot's N (63), Svpbmt's PBMT (62:61) and reserved bits (60:59).
Linux `arch/riscv/include/asm/pgtable-64.h`: PMA = C|B|SH, NC = B|SH, IO = SO|SH. The seed's
`xuantie-c9xx` build writes DEVICE -> SO|B, anything else C|B|SH (seed-crates.md §2.3).
"""

from __future__ import annotations

from .base import Field, Role

XUANTIE = "xuantie-c9xx"
SO, C, B, SH, SEC = (1 << 63), (1 << 62), (1 << 61), (1 << 60), (1 << 59)
MAEE_MASK = SO | C | B | SH | SEC
PMA, NC, IO = C | B | SH, B | SH, SO | SH  # Linux's _PAGE_{PMA,NOCACHE,IO}_THEAD
SEED_DEVICE, SEED_NORMAL = SO | B, C | B | SH
RSVD_MASK = 0x1F << 54  # bits 58:54 stay reserved


def _bit(name: str, bit: int, doc: str, zero: str, one: str) -> Field:
    return Field(name, bit, bit, Role.ATTRIBUTE, doc, ((0, zero), (1, one)))


FIELDS = (
    Field("RESERVED", 58, 54, Role.RESERVED, "reserved for future standard use: page fault if set"),
    _bit("SEC", 59, "trustable (T-Head Sec)", "non-trustable", "trustable"),
    _bit("SH", 60, "shareable (T-Head)", "non-shareable", "shareable"),
    _bit("B", 61, "bufferable (T-Head)", "non-bufferable", "bufferable"),
    _bit("C", 62, "cacheable (T-Head)", "non-cacheable", "cacheable"),
    _bit("SO", 63, "strong order (T-Head)", "weakly ordered", "strongly ordered (device)"),
)
#: the bits' names in the standard layout that T-Head reuses
REPLACED = frozenset({"RESERVED", "PBMT", "N"})


def memory_words(raw: int) -> str:
    """The MAEE type of `raw` in Linux's names, or the bits when it is none of them."""
    known = {PMA: "PMA (cacheable)", NC: "NC (non-cacheable)", IO: "IO (strongly ordered)"}
    value = raw & (SO | C | B | SH)
    if value in known:
        return known[value]
    names = [n for n, bit in (("SO", SO), ("C", C), ("B", B), ("SH", SH)) if raw & bit]
    return "+".join(names) or "0 (strongly ordered, non-cacheable, non-shareable)"


def standard_reading(raw: int) -> str | None:
    """What a core without MAEE (Svpbmt/Svnapot) reads in bits 63:59 of a leaf, or None."""
    if not raw & MAEE_MASK:
        return None
    parts = []
    if raw & SO:
        parts.append("N=1 (Svnapot)")
    if (raw >> 61) & 3:
        pbmt = (raw >> 61) & 3
        parts.append(f"PBMT={pbmt} ({('PMA', 'NC', 'IO', 'reserved')[pbmt]}, Svpbmt)")
    if raw & (SH | SEC):
        parts.append("reserved bit(s) 60:59 set")
    return (
        "a core without T-Head MAEE reads bits 63:59 as "
        + ", ".join(parts)
        + ": a page fault where a value is reserved or its extension is off"
    )
