"""AArch64 formats by FMT name: ``aarch64-s1`` (va_bits 48 | 39) and ``aarch64-s2``
(ipa_bits 39 | 40 | 44 | 48), with the aarch64 fault reporter registered on import.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import PagingError
from ..faults import register_reporter
from . import arm_faults
from .arm_s1 import AArch64Stage1
from .arm_s2 import START_LEVEL, AArch64Stage2
from .base import PagingFormat

ARCH = arm_faults.ARCH
VA_BITS = (48, 39)
IPA_BITS = tuple(START_LEVEL)


def _option(name: str, value: object, allowed: tuple[int, ...]) -> int:
    if value not in allowed:
        choices = " | ".join(str(v) for v in allowed)
        raise PagingError("InvalidRequest", f"{name} must be {choices}, not {value!r}")
    return int(value)  # type: ignore[call-overload]


def stage1(*, features: frozenset[str] = frozenset(), va_bits: int = 48) -> AArch64Stage1:
    return AArch64Stage1(va_bits=_option("aarch64-s1 va_bits", va_bits, VA_BITS), features=features)


def stage2(*, features: frozenset[str] = frozenset(), ipa_bits: int = 40) -> AArch64Stage2:
    return AArch64Stage2(
        ipa_bits=_option("aarch64-s2 ipa_bits", ipa_bits, IPA_BITS), features=features
    )


FORMATS: dict[str, Callable[..., PagingFormat]] = {"aarch64-s1": stage1, "aarch64-s2": stage2}

register_reporter(ARCH, arm_faults.syndrome, arm_faults.explain)
