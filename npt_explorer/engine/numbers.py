"""Numbers and sizes as a person writes them in a file or on the command line: TOML integers,
or strings such as ``"0x4000_0000"``, ``"4096"``, ``"4K"``, ``"2M"`` (the one reader, shared by
`[machine]` and the command vocabulary), and the one way an address is written back (`hx`)."""

from __future__ import annotations

import re
from typing import Any, overload

from .errors import BadValue

_SIZE_SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_NUMBER = re.compile(r"^(0x[0-9a-f_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*)([kmgt]i?b?)?$", re.I)


def parse_number(value: Any, key: str, *, size: bool = False) -> int:
    """`value` as an unsigned 64-bit number; a size suffix (K, M, G, T) only if `size`.
    Raises `BadValue` naming `key` and what it accepts."""
    if isinstance(value, bool):
        raise BadValue(key, f"{key} must be a number, not a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        m = _NUMBER.match(value.strip())
        if not m or (m.group(2) and not size):
            what = (
                'a size such as 4096, "4K", "2M", "1G"'
                if size
                else ('a number such as 4096 or "0x4000_0000"')
            )
            raise BadValue(key, f"{key} = {value!r} is not {what}")
        number = int(m.group(1).replace("_", ""), 0)
        if m.group(2):
            number *= _SIZE_SUFFIX[m.group(2)[0].upper()]
    else:
        raise BadValue(key, f"{key} must be a number (got {type(value).__name__})")
    if number < 0 or number >= 1 << 64:
        raise BadValue(key, f"{key} = {number:#x} is outside 0 .. 2^64-1")
    return number


@overload
def hx(value: int) -> str: ...
@overload
def hx(value: int | None, missing: str) -> str: ...
@overload
def hx(value: int | None) -> str | None: ...


def hx(value: int | None, missing: str | None = None) -> str | None:
    """An address or value as people read it, ``0x4000``; `missing` stands for None (JSON
    keeps None, text shows ``-`` or ``?``)."""
    return missing if value is None else f"{value:#x}"
