"""The values a command or an expectation may hold: numbers, sizes, flags, and what each
`expect = { ... }` key accepts. Everything a user can type is checked here, when the scenario
is loaded or the command line is parsed, so that running a command never meets a value it
cannot compare (a date, a list where a number belongs, NaN)."""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Any

from ..engine import ERROR_KINDS, BadValue, FaultReason, MappingFlags, PagingError
from ..engine import parse_number as read_number

NULLS = ("null", "none")

# What one command or one machine may ask for: beyond these the engine would run for minutes
# or exhaust memory (measurements in docs/robustness.md), so the request is refused up front.
MAX_MAP_SIZE = 64 << 30  # one map: 2^24 4 KiB entries, under a second
MAX_ALLOC_SIZE = 1 << 30  # one alloc region (and the guest page-table pool): 2^18 frames
MAX_TLB_ENTRIES = 1 << 16
MAX_TRACE_COUNT = 1_000_000  # accesses of one trace (memory grows with the count)


class CommandError(Exception):
    """A bad command: `key` names the offending key (or None for the op itself)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


def parse_number(value: Any, key: str, *, size: bool = False) -> int:
    """TOML integers, or strings such as ``"0x4000_0000"``, ``"4096"``, ``"4K"``, ``"2M"``
    (the engine's reader, its error as a `CommandError`)."""
    try:
        return read_number(value, key, size=size)
    except BadValue as err:
        raise CommandError(err.problem, err.key) from None


def parse_flags(value: Any, key: str) -> MappingFlags:
    """`MappingFlags` from letters (``"rw"``), names (``["READ", "WRITE"]``) or the bits."""
    if isinstance(value, bool) or not isinstance(value, str | int | list):
        raise CommandError(
            f'{key} = {show(value)} is not flags: letters of rwxudc such as "rw", '
            'or a list of names such as ["READ", "WRITE"]',
            key,
        )
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise CommandError(f"{key} = {show(value)}: a list of flag names must hold strings", key)
    try:
        return MappingFlags.parse(value)
    except PagingError as err:
        raise CommandError(f"{key}: {err.message}", key) from None


# ------------------------------------------------------------------------ expectations

#: keys an `expect` table may hold, per op
EXPECT_KEYS: dict[str, tuple[str, ...]] = {
    "access": (
        "result",
        "gpa",
        "hpa",
        "refs",
        "mem_refs",
        "writes",
        "tlb",
        "page_size",
        "fault_stage",
        "fault_reason",
        "fault_depth",
        "fault_during",
        "syndrome",
        "stale",
        "error",
    ),
    "handle-fault": ("handled", "error"),
    "query": ("paddr", "flags", "page_size", "error"),
    "trace": ("hit_rate", "walks", "hits", "refs", "mem_refs", "error"),
}
EXPECT_KEYS["translate"] = EXPECT_KEYS["access"]

#: what each expectation key accepts: a kind, or a tuple of the allowed values
EXPECT_VALUES: dict[str, str | tuple[Any, ...]] = {
    "result": ("ok", "fault"),
    "gpa": "number",
    "hpa": "number",
    "paddr": "number",
    "page_size": "number",
    "fault_depth": "number",
    "refs": "count",
    "mem_refs": "count",
    "writes": "count",
    "walks": "count",
    "hits": "count",
    "tlb": ("hit", "miss"),
    "fault_stage": (1, 2),
    "fault_reason": tuple(FaultReason),
    "fault_during": ("guest-walk", "final"),
    "syndrome": "numbers",
    "stale": "bool",
    "handled": "bool",
    "flags": "flags",
    "hit_rate": "fraction",
    "error": ERROR_KINDS,
}


def show(value: Any) -> str:
    """A TOML value as the user wrote it (dates and times in ISO form, the rest as repr)."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return repr(value)


def check_number(value: Any, key: str) -> None:
    """A number or size as `parse_number` reads it, or ``"null"`` (nothing to report)."""
    if isinstance(value, str) and value.strip().lower() in NULLS:
        return
    parse_number(value, key, size=True)


def check_numbers(table: Any, key: str) -> None:
    """A table of numbers, e.g. `fields = { R = 1 }` or `syndrome = { ec = "0x24" }`."""
    if not isinstance(table, Mapping):
        raise CommandError(f"{key} must be a table such as {{ NAME = 1 }}", key)
    for name, value in table.items():
        try:
            check_number(value, f"{key}.{name}")
        except CommandError as err:
            raise CommandError(err.message, key) from None


def check_expect(op: str, expect: Mapping[str, Any]) -> None:
    """Every key of `expect` is checked for `op` and holds a value it can be compared with."""
    allowed = EXPECT_KEYS.get(op, ("error",))
    for key, value in expect.items():
        if key not in allowed:
            raise CommandError(
                f"expect key {key!r} is not checked for {op} (allowed: {', '.join(allowed)})",
                "expect",
            )
        kind = EXPECT_VALUES[key]
        try:
            _check_value(kind, value, f"expect.{key}")
        except CommandError as err:
            raise CommandError(err.message, "expect") from None


def _check_value(kind: str | tuple[Any, ...], value: Any, key: str) -> None:
    if isinstance(kind, tuple):
        # `value in kind` compares with ==; bools are ints, so keep them out of (1, 2)
        if isinstance(value, bool | dict | list) or value not in kind:
            allowed = ", ".join(str(k) for k in kind)
            raise CommandError(f"{key} = {show(value)} (allowed: {allowed})", key)
    elif kind == "number":
        check_number(value, key)
    elif kind == "count":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise CommandError(f"{key} = {show(value)} is not a count", key)
        parse_number(value, key)
    elif kind == "numbers":
        check_numbers(value, key)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise CommandError(f"{key} = {show(value)} (allowed: true, false)", key)
    elif kind == "flags":
        parse_flags(value, key)
    elif kind == "fraction":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= 1
        ):
            raise CommandError(f"{key} = {show(value)} is not a number from 0 to 1", key)
