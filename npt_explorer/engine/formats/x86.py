"""The x86_64 family: IA-32e guest paging (`x86-64`, `x86-64-la57`), PAE and 32-bit guest
paging (`x86-pae`, `x86-32`), Intel EPT (`ept`) and AMD nested paging (`npt`)."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import PagingError
from ..faults import register_reporter
from .base import PagingFormat
from .x86_32 import X86Paging32
from .x86_ept import EptFormat
from .x86_faults import explain, syndrome
from .x86_guest import X86Paging
from .x86_npt import AmdNpt
from .x86_pae import X86Pae

ARCH = "x86_64"


def _x86_64(*, features: frozenset[str]) -> PagingFormat:
    return X86Paging(levels_count=4, features=features)


def _x86_64_la57(*, features: frozenset[str]) -> PagingFormat:
    return X86Paging(levels_count=5, features=features)


def _ept(*, features: frozenset[str], levels: int = 4) -> PagingFormat:
    if levels not in (4, 5) or isinstance(levels, bool):
        raise PagingError("InvalidRequest", f"ept levels must be 4 or 5, not {levels!r}")
    return EptFormat(levels_count=levels, features=features)


def _npt(*, features: frozenset[str], levels: int = 4) -> PagingFormat:
    if levels not in (4, 5) or isinstance(levels, bool):
        raise PagingError("InvalidRequest", f"npt levels must be 4 or 5, not {levels!r}")
    return AmdNpt(levels_count=levels, features=features)


FORMATS: dict[str, Callable[..., PagingFormat]] = {
    "x86-64": _x86_64,
    "x86-64-la57": _x86_64_la57,
    "ept": _ept,
    "npt": _npt,
    "x86-pae": lambda *, features: X86Pae(features=features),
    "x86-32": lambda *, features: X86Paging32(features=features),
}

register_reporter(ARCH, syndrome, explain)
