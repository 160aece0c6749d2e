"""Entry formats by name (the `FMT` names of SCENARIO_FORMAT.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..errors import PagingError
from .base import (
    PAGE_1G,
    PAGE_2M,
    PAGE_4K,
    SEED_PAGE_SIZES_BY_SHIFT,
    AccessRequest,
    Decoded,
    Encoding,
    EntryKind,
    FaultReason,
    Field,
    FieldValue,
    Level,
    PagingFormat,
    Role,
    StepCheck,
)

FORMAT_NAMES = (
    "x86-64",
    "x86-64-la57",
    "x86-pae",
    "x86-32",
    "ept",
    "npt",
    "aarch64-s1",
    "aarch64-s2",
    "sv39",
    "sv48",
    "sv39x4",
    "sv48x4",
    "sv57",
    "sv57x4",
    "la64",
)

_FACTORIES: dict[str, Callable[..., PagingFormat]] = {}


def _load() -> None:
    if _FACTORIES:
        return
    from . import arm, loongarch, riscv, x86

    for module in (x86, arm, riscv, loongarch):
        _FACTORIES.update(module.FORMATS)


def get_format(name: str, *, features: Iterable[str] = (), **options: object) -> PagingFormat:
    """A format instance. Options: ``ept`` levels=4|5; ``aarch64-s1`` va_bits=39|48;
    ``aarch64-s2`` ipa_bits=39|40|44|48; ``sv39``/``sv48``/``la64`` stage=1|2."""
    _load()
    factory = _FACTORIES.get(name)
    if factory is None:
        raise PagingError(
            "InvalidRequest", f"unknown format {name!r} (allowed: {', '.join(FORMAT_NAMES)})"
        )
    return factory(features=frozenset(features), **options)


__all__ = [
    "FORMAT_NAMES",
    "PAGE_1G",
    "PAGE_2M",
    "PAGE_4K",
    "SEED_PAGE_SIZES_BY_SHIFT",
    "AccessRequest",
    "Decoded",
    "Encoding",
    "EntryKind",
    "FaultReason",
    "Field",
    "FieldValue",
    "Level",
    "PagingFormat",
    "Role",
    "StepCheck",
    "get_format",
]
