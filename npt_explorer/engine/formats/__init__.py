"""Entry formats by name (the `FMT` names of SCENARIO_FORMAT.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..errors import PagingError

if TYPE_CHECKING:
    from ..control import Control
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
    "teach",
)

_FACTORIES: dict[str, Callable[..., PagingFormat]] = {}
_CONTROL_OPTIONS: dict[str, Callable[[Control], dict[str, int]]] = {}


def _load() -> None:
    if _FACTORIES:
        return
    from . import arm, loongarch, riscv, teach, x86

    for module in (x86, arm, riscv, loongarch, teach):
        _FACTORIES.update(module.FORMATS)
    _CONTROL_OPTIONS.update(arm.CONTROL_OPTIONS)


def options_from_control(name: str, control: Control) -> dict[str, int]:
    """The format options a control state's registers decide (AArch64: T0SZ, TG0, SL0 give
    the input size, the granule and the stage-2 start level); {} for the others."""
    _load()
    how = _CONTROL_OPTIONS.get(name)
    return how(control) if how is not None and control.arch == "aarch64" else {}


def get_format(name: str, *, features: Iterable[str] = (), **options: object) -> PagingFormat:
    """A format instance. Options: ``ept`` levels=4|5; ``aarch64-s1`` va_bits=39|48;
    ``aarch64-s2`` ipa_bits=39|40|44|48; ``sv39``/``sv48``/``la64`` stage=1|2;
    ``teach`` stage=1|2, geometry="6.823"|"ostep" and/or the geometry's keys (teach_geometry)."""
    _load()
    factory = _FACTORIES.get(name)
    if factory is None:
        raise PagingError(
            "InvalidRequest", f"unknown format {name!r} (allowed: {', '.join(FORMAT_NAMES)})"
        )
    return factory(features=frozenset(features), **options)


__all__ = [
    "FORMAT_NAMES",
    "options_from_control",
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
