"""AArch64 formats by FMT name: ``aarch64-s1`` (va_bits 48 | 39) and ``aarch64-s2``
(ipa_bits 39 | 40 | 44 | 48), with the aarch64 fault reporter registered on import.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import PagingError
from ..faults import register_reporter
from . import arm_faults
from .arm_s1 import ARM_EL2, AArch64Stage1
from .arm_s1_el2 import AArch64Stage1El2
from .arm_s2 import START_LEVEL, AArch64Stage2
from .base import PagingFormat

ARCH = arm_faults.ARCH
VA_BITS = (48, 39)
#: the translation regime that reads stage-1 descriptors: the guest's, or the hypervisor's own
REGIMES = ("el1", "el2")
IPA_BITS = tuple(START_LEVEL)


def _option(name: str, value: object, allowed: tuple[int, ...]) -> int:
    if value not in allowed:
        choices = " | ".join(str(v) for v in allowed)
        raise PagingError("InvalidRequest", f"{name} must be {choices}, not {value!r}")
    return int(value)  # type: ignore[call-overload]


def stage1(
    *, features: frozenset[str] = frozenset(), va_bits: int = 48, regime: str | None = None
) -> AArch64Stage1:
    """Regime `el1` (EL1&0, a guest's) or `el2` (the hypervisor's own tables); by default `el2`
    exactly when the seed is built with `arm-el2`, whose tables are meant for EL2."""
    regime = regime or ("el2" if ARM_EL2 in features else "el1")
    if regime not in REGIMES:
        raise PagingError("InvalidRequest", f"aarch64-s1 regime must be el1 | el2, not {regime!r}")
    cls = AArch64Stage1El2 if regime == "el2" else AArch64Stage1
    return cls(va_bits=_option("aarch64-s1 va_bits", va_bits, VA_BITS), features=features)


def stage2(*, features: frozenset[str] = frozenset(), ipa_bits: int = 40) -> AArch64Stage2:
    return AArch64Stage2(
        ipa_bits=_option("aarch64-s2 ipa_bits", ipa_bits, IPA_BITS), features=features
    )


FORMATS: dict[str, Callable[..., PagingFormat]] = {"aarch64-s1": stage1, "aarch64-s2": stage2}

register_reporter(ARCH, arm_faults.syndrome, arm_faults.explain)
