"""Bit layouts of IA-32e paging entries and EPT entries (Intel SDM Vol. 3 §4.5, §29.3.2).

Pure data: every layout is a tuple of `Field` rows covering bits 63..0 exactly once.
"""

from __future__ import annotations

from .base import PAGE_1G, PAGE_2M, Field, Role

ADDR_MASK = 0x000F_FFFF_FFFF_F000  # bits 51:12 (MAXPHYADDR = 52)
MAXPHYADDR = 52

_SIZE_WORDS = {PAGE_2M: "2 MiB", PAGE_1G: "1 GiB"}


def size_words(size: int) -> str:
    return _SIZE_WORDS.get(size, f"{size // 1024} KiB")


def bit(name: str, pos: int, role: Role, doc: str, zero: str, one: str) -> Field:
    return Field(name, pos, pos, role, doc, ((0, zero), (1, one)))


def ignored(hi: int, lo: int | None = None, doc: str = "ignored by the CPU") -> Field:
    if lo is None:
        return Field(f"IGN_{hi}", hi, hi, Role.IGNORED, doc)
    return Field(f"IGN_{hi}_{lo}", hi, lo, Role.IGNORED, doc)


def reserved(hi: int, lo: int, doc: str) -> Field:
    return Field(f"RSVD_{hi}_{lo}", hi, lo, Role.RESERVED, doc)


def address(lo: int, what: str) -> Field:
    return Field("ADDR", MAXPHYADDR - 1, lo, Role.ADDRESS, f"physical address of {what}")


def large_shift(size: int) -> int:
    return size.bit_length() - 1


# --------------------------------------------------------------------- IA-32e paging (§4.5)

P = bit("P", 0, Role.VALID, "present", "not present", "present")
RW = bit("RW", 1, Role.PERMISSION, "read/write", "read-only", "writable")
US = bit("US", 2, Role.PERMISSION, "user/supervisor", "supervisor only", "user accessible")
PWT = bit(
    "PWT",
    3,
    Role.ATTRIBUTE,
    "page-level write-through (PAT index bit 0)",
    "write-back",
    "write-through",
)
PCD = bit(
    "PCD",
    4,
    Role.ATTRIBUTE,
    "page-level cache disable (PAT index bit 1)",
    "cacheable",
    "cache disabled",
)
A = bit("A", 5, Role.STATUS, "accessed", "not accessed", "accessed")
D = bit("D", 6, Role.STATUS, "dirty", "clean", "dirty")
G = bit("G", 8, Role.ATTRIBUTE, "global", "not global", "global (survives a CR3 load)")
PK = Field("PK", 62, 59, Role.ATTRIBUTE, "protection key (ignored: CR4.PKE=0)")
XD = bit(
    "XD",
    63,
    Role.PERMISSION,
    "execute disable (EFER.NXE=1)",
    "executable",
    "instruction fetches disabled",
)


def _pat(pos: int) -> Field:
    return bit("PAT", pos, Role.ATTRIBUTE, "PAT index bit 2", "PAT entry 0-3", "PAT entry 4-7")


def guest_invalid() -> tuple[Field, ...]:
    return (P, ignored(63, 1, "ignored while P=0 (free for software)"))


def guest_table(level_name: str, child: str, ps_allowed: bool) -> tuple[Field, ...]:
    if ps_allowed:
        ps = bit("PS", 7, Role.TYPE, "page size", f"references a {child}", "maps a large page")
    else:  # §4.5: bit 7 of a PML5E/PML4E is reserved
        ps = bit(
            "PS",
            7,
            Role.RESERVED,
            f"reserved in a {level_name} (must be 0)",
            "0 (ok)",
            "reserved: #PF with RSVD",
        )
    return (
        P,
        RW,
        US,
        PWT,
        PCD,
        A,
        ignored(6),
        ps,
        ignored(11, 8),
        address(12, f"the {child}"),
        ignored(62, 52),
        XD,
    )


def guest_page() -> tuple[Field, ...]:
    return (
        P,
        RW,
        US,
        PWT,
        PCD,
        A,
        D,
        _pat(7),
        G,
        ignored(11, 9),
        address(12, "the 4 KiB page"),
        ignored(58, 52),
        PK,
        XD,
    )


def guest_large(size: int) -> tuple[Field, ...]:
    words, shift = size_words(size), large_shift(size)
    ps = bit("PS", 7, Role.TYPE, "page size", "references a table", f"maps a {words} page")
    return (
        P,
        RW,
        US,
        PWT,
        PCD,
        A,
        D,
        ps,
        G,
        ignored(11, 9),
        _pat(12),
        reserved(shift - 1, 13, f"must be 0: a {words} page is {words}-aligned"),
        address(shift, f"the {words} page"),
        ignored(58, 52),
        PK,
        XD,
    )


# ------------------------------------------------------------------------- EPT (§29.3.2)

_MEMTYPES = (
    (0, "UC uncacheable"),
    (1, "WC write-combining"),
    (2, "reserved (misconfiguration)"),
    (3, "reserved (misconfiguration)"),
    (4, "WT write-through"),
    (5, "WP write-protected"),
    (6, "WB write-back"),
    (7, "reserved (misconfiguration)"),
)

R = bit("R", 0, Role.PERMISSION, "read access", "reads denied", "reads allowed")
W = bit("W", 1, Role.PERMISSION, "write access", "writes denied", "writes allowed")
MEMTYPE = Field("MEMTYPE", 5, 3, Role.ATTRIBUTE, "EPT memory type", _MEMTYPES)
IPAT = bit(
    "IPAT",
    6,
    Role.ATTRIBUTE,
    "ignore guest PAT",
    "combined with the guest PAT",
    "guest PAT ignored",
)
SVE = bit(
    "SVE",
    63,
    Role.ATTRIBUTE,
    "suppress #VE (ignored: EPT-violation #VE off)",
    "may convert violations to #VE",
    "#VE suppressed",
)


def ept_x(mbec: bool) -> Field:
    if mbec:
        return bit(
            "X",
            2,
            Role.PERMISSION,
            "execute for supervisor-mode pages (XS, MBEC)",
            "supervisor fetches denied",
            "supervisor fetches allowed",
        )
    return bit("X", 2, Role.PERMISSION, "execute access", "fetches denied", "fetches allowed")


def ept_xu(mbec: bool) -> Field:
    if mbec:
        return bit(
            "XU",
            10,
            Role.PERMISSION,
            "execute for user-mode pages (MBEC)",
            "user fetches denied",
            "user fetches allowed",
        )
    return bit(
        "XU",
        10,
        Role.IGNORED,
        "execute for user-mode pages (ignored: MBEC off)",
        "ignored (MBEC off)",
        "ignored (MBEC off)",
    )


def _status(name: str, pos: int, what: str, zero: str, ad: bool) -> Field:
    """EPT bits 8/9 are the accessed/dirty flags only with EPTP[6]=1; otherwise the CPU
    ignores them (SDM Vol. 3 §29.3.5)."""
    if ad:
        return bit(name, pos, Role.STATUS, f"{what} (EPTP[6]=1)", zero, what)
    off = "ignored (EPT A/D off: EPTP[6]=0)"
    return bit(name, pos, Role.IGNORED, f"{what} only with EPT A/D; {off}", off, off)


def ept_a(ad: bool) -> Field:
    return _status("A", 8, "accessed", "not accessed", ad)


def ept_d(ad: bool) -> Field:
    return _status("D", 9, "dirty", "clean", ad)


def ept_invalid(mbec: bool) -> tuple[Field, ...]:
    rest = "ignored while the entry is not present"
    if mbec:
        return (R, W, ept_x(True), ignored(9, 3, rest), ept_xu(True), ignored(63, 11, rest))
    return (R, W, ept_x(False), ignored(63, 3, rest))


def ept_table(
    level_name: str, child: str, ps_allowed: bool, mbec: bool, ad: bool
) -> tuple[Field, ...]:
    if ps_allowed:
        ps = bit("PS", 7, Role.TYPE, "page size", f"references an {child}", "maps a large page")
    else:  # §29.3.2: bits 7:3 of an EPT PML5E/PML4E are reserved
        ps = bit(
            "PS",
            7,
            Role.RESERVED,
            f"reserved in an {level_name} (must be 0)",
            "0 (ok)",
            "reserved: EPT misconfiguration",
        )
    return (
        R,
        W,
        ept_x(mbec),
        reserved(6, 3, "must be 0 in a non-leaf EPT entry"),
        ps,
        ept_a(ad),
        ignored(9),
        ept_xu(mbec),
        ignored(11),
        address(12, f"the {child}"),
        ignored(63, 52),
    )


def ept_page(mbec: bool, ad: bool) -> tuple[Field, ...]:
    return (
        R,
        W,
        ept_x(mbec),
        MEMTYPE,
        IPAT,
        ignored(7),
        ept_a(ad),
        ept_d(ad),
        ept_xu(mbec),
        ignored(11),
        address(12, "the 4 KiB page"),
        ignored(62, 52),
        SVE,
    )


def ept_large(size: int, mbec: bool, ad: bool) -> tuple[Field, ...]:
    words, shift = size_words(size), large_shift(size)
    ps = bit("PS", 7, Role.TYPE, "page size", "references a table", f"maps a {words} page")
    return (
        R,
        W,
        ept_x(mbec),
        MEMTYPE,
        IPAT,
        ps,
        ept_a(ad),
        ept_d(ad),
        ept_xu(mbec),
        ignored(11),
        reserved(shift - 1, 12, f"must be 0: a {words} page is {words}-aligned"),
        address(shift, f"the {words} page"),
        ignored(62, 52),
        SVE,
    )
