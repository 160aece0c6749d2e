"""The seed's `MappingFlags` and the vocabulary of a guest access."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, Self

from .errors import PagingError

_LETTERS = {"r": "READ", "w": "WRITE", "x": "EXECUTE", "u": "USER", "d": "DEVICE", "c": "UNCACHED"}


class MappingFlags(enum.IntFlag):
    """page_table_entry's `MappingFlags`, same bit values (seed-crates.md §1.1)."""

    READ = 1 << 0
    WRITE = 1 << 1
    EXECUTE = 1 << 2
    USER = 1 << 3
    DEVICE = 1 << 4
    UNCACHED = 1 << 5

    @classmethod
    def parse(cls, spec: str | Iterable[str] | int | MappingFlags) -> MappingFlags:
        """`"rwx"`, `"r w x"`, `"-"`/`""` (empty), `["READ", "WRITE"]` or an int."""
        if isinstance(spec, int):
            if spec & ~0x3F:
                raise PagingError(
                    "InvalidRequest", f"MappingFlags value {spec:#x} has bits above 5"
                )
            return cls(spec)
        names: list[str]
        if isinstance(spec, str):
            text = spec.strip()
            if text in ("", "-", "none", "empty"):
                return cls(0)
            if all(ch in _LETTERS or ch in " -+|," for ch in text.lower()) and text.islower():
                names = [_LETTERS[ch] for ch in text if ch in _LETTERS]
            else:
                names = [
                    n for n in text.replace("|", " ").replace("+", " ").replace(",", " ").split()
                ]
        else:
            names = list(spec)
        value = cls(0)
        for name in names:
            key = str(name).upper()
            if key not in cls.__members__:
                allowed = ", ".join(cls.__members__) + " or letters of 'rwxudc'"
                raise PagingError(
                    "InvalidRequest", f"unknown mapping flag {name!r} (allowed: {allowed})"
                )
            value |= cls[key]
        return value

    def names(self) -> list[str]:
        """Flag names in the seed's bit order (the `--json` spelling)."""
        return [f.name for f in MappingFlags if f in self and f.name]

    def letters(self) -> str:
        """Compact `rwxudc` string with `-` for clear bits, e.g. `rw----`."""
        return "".join(ch if MappingFlags[n] in self else "-" for ch, n in _LETTERS.items())

    def short(self) -> str:
        """The roundtrip tables' spelling: `R+W+X`, `-` when empty."""
        abbrev = {
            "READ": "R",
            "WRITE": "W",
            "EXECUTE": "X",
            "USER": "U",
            "DEVICE": "DEV",
            "UNCACHED": "UC",
        }
        return "+".join(abbrev[n] for n in self.names()) or "-"


ALL_FLAG_COMBINATIONS: tuple[MappingFlags, ...] = tuple(MappingFlags(v) for v in range(64))


class _Word(enum.StrEnum):
    """A word of the access vocabulary; `parse` refuses others with the allowed ones."""

    @classmethod
    def parse(cls, value: object) -> Self:
        word = _PARSED.get((cls, value)) if isinstance(value, str) else None
        if word is not None:  # once per access: an Enum call costs two Python frames
            return word
        try:
            word = _PARSED[(cls, str(value))] = cls(str(value))
            return word
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise PagingError(
                "InvalidRequest", f"{cls.__name__.lower()} {value!r} (allowed: {allowed})"
            ) from None


#: the words `_Word.parse` has read, by (class, value): a member equals its own value
_PARSED: dict[tuple[type, str], Any] = {}


class Access(_Word):
    """What the guest does with the address."""

    READ = "read"
    WRITE = "write"
    EXEC = "exec"


class Priv(_Word):
    """Privilege of the guest access: kernel (CPL0 / EL1 / VS) or user (CPL3 / EL0 / VU)."""

    KERNEL = "kernel"
    USER = "user"
