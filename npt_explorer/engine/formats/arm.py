"""AArch64 formats by FMT name: ``aarch64-s1`` (va_bits 25..48, granule 4/16/64 KiB) and
``aarch64-s2`` (ipa_bits 39 | 40 | 44 | 48, or with `granule`/`start_level` any valid VTCR_EL2
geometry), the geometry a control state's registers give, and the aarch64 fault reporter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import PagingError
from ..faults import register_reporter
from . import arm_faults
from .arm_common import GRANULE_BITS, PARANGE_BITS
from .arm_s1 import ARM_EL2, AArch64Stage1
from .arm_s1_el2 import AArch64Stage1El2
from .arm_s2 import IPA_MODES, AArch64Stage2, s2_level_of_sl0, s2_start_problem
from .base import PagingFormat

if TYPE_CHECKING:
    from ..control import Control

ARCH = arm_faults.ARCH
VA_BITS = (48, 39)  # the `va48` / `va39` modes; any 25..48 (T0SZ 16..39) is accepted
#: the translation regime that reads stage-1 descriptors: the guest's, or the hypervisor's own
REGIMES = ("el1", "el2")
IPA_BITS = IPA_MODES
#: input sizes without FEAT_LPA/LPA2/TTST: TxSZ 16..39 (Arm ARM D8.1.7)
INPUT_BITS = tuple(range(25, 49))
GRANULES = tuple(GRANULE_BITS)
#: TCR_EL1.TG0 and VTCR_EL2.TG0 → granule; TCR_EL1.TG1 encodes differently (Arm ARM D19)
TG0_GRANULE = {0: 0x1000, 1: 0x1_0000, 2: 0x4000}
TG1_GRANULE = {1: 0x4000, 2: 0x1000, 3: 0x1_0000}


def _option(name: str, value: object, allowed: tuple[int, ...]) -> int:
    if value not in allowed:
        choices = " | ".join(str(v) for v in allowed)
        raise PagingError("InvalidRequest", f"{name} must be {choices}, not {value!r}")
    return int(value)  # type: ignore[call-overload]


def stage1(
    *,
    features: frozenset[str] = frozenset(),
    va_bits: int = 48,
    regime: str | None = None,
    granule: int = 0x1000,
    lpa: int = 0,
) -> AArch64Stage1:
    """Regime `el1` (EL1&0, a guest's) or `el2` (the hypervisor's own tables); by default `el2`
    exactly when the seed is built with `arm-el2`, whose tables are meant for EL2."""
    regime = regime or ("el2" if ARM_EL2 in features else "el1")
    if regime not in REGIMES:
        raise PagingError("InvalidRequest", f"aarch64-s1 regime must be el1 | el2, not {regime!r}")
    cls = AArch64Stage1El2 if regime == "el2" else AArch64Stage1
    return cls(
        va_bits=_option("aarch64-s1 va_bits", va_bits, INPUT_BITS),
        features=features,
        granule=_option("aarch64-s1 granule", granule, GRANULES),
        lpa=bool(lpa),
    )


def stage2(
    *,
    features: frozenset[str] = frozenset(),
    ipa_bits: int = 40,
    granule: int = 0x1000,
    start_level: int | None = None,
    lpa: int = 0,
) -> AArch64Stage2:
    ipa_bits = _option("aarch64-s2 ipa_bits", ipa_bits, INPUT_BITS)
    granule = _option("aarch64-s2 granule", granule, GRANULES)
    if start_level is not None:
        problem = s2_start_problem(ipa_bits, granule, start_level)
        if problem:
            raise PagingError("InvalidRequest", f"aarch64-s2: {problem}")
    elif granule == 0x1000:
        ipa_bits = _option("aarch64-s2 ipa_bits", ipa_bits, IPA_BITS)
    geometry = {"granule": granule, "lpa": lpa}
    geometry |= {} if start_level is None else {"start_level": start_level}
    return AArch64Stage2(ipa_bits=ipa_bits, features=features, **geometry)


def arm_s2_start_problem(ipa_bits: int, granule: int, sl0: int, pa_bits: int = 48) -> str:
    """Why VTCR_EL2's T0SZ (as `ipa_bits`), TG0 (as `granule`) and SL0 give no valid
    stage-2 start with a PAMax of `pa_bits`, "" when they do (Arm ARM AArch64.S2InvalidSL)."""
    return s2_start_problem(ipa_bits, granule, s2_level_of_sl0(sl0, granule), pa_bits)


def pa_max(control: Control) -> int:
    """PAMax: the implemented physical address size, ID_AA64MMFR0_EL1.PARange in bits."""
    return PARANGE_BITS[control.get("id_aa64mmfr0_el1", "PARange")]


def options_from_control(control: Control, stage: int) -> dict[str, int]:
    """The geometry the registers give: stage 1 from TCR_EL1.T0SZ/TG0, stage 2 from
    VTCR_EL2.T0SZ/TG0/SL0 (Arm ARM D8.1.7, D8.2); an invalid combination is an error naming
    the fields."""
    reg = "tcr_el1" if stage == 1 else "vtcr_el2"
    t0sz, tg0 = control.get(reg, "T0SZ"), control.get(reg, "TG0")
    granule = TG0_GRANULE[tg0]
    if stage == 1:
        if not control.on(reg, "EPD1"):  # a live TTBR1 range: the same geometry as TTBR0
            t1sz, tg1 = control.get(reg, "T1SZ"), control.get(reg, "TG1")
            if t1sz != t0sz or TG1_GRANULE.get(tg1) != granule:
                raise PagingError(
                    "InvalidRequest",
                    f"tcr_el1.T1SZ={t1sz}, TG1={tg1} with EPD1=0: a TTBR1 range of another size "
                    f"or granule than TTBR0's (T0SZ={t0sz}, TG0={tg0}) is not modelled",
                )
        return {"va_bits": 64 - t0sz, "granule": granule, "lpa": _lpa(control, granule)}
    sl0 = control.get(reg, "SL0")
    start = s2_level_of_sl0(sl0, granule)
    problem = s2_start_problem(64 - t0sz, granule, start, pa_max(control))
    if problem:  # the hardware: a stage-2 Translation fault at level 0 on every lookup
        raise PagingError(
            "InvalidRequest",
            f"vtcr_el2.T0SZ={t0sz}, SL0={sl0}, TG0={tg0} ({granule >> 10} KiB): {problem}; "
            "the CPU would take a stage-2 Translation fault at level 0 on every access",
        )
    lpa = _lpa(control, granule)
    return {"ipa_bits": 64 - t0sz, "granule": granule, "start_level": start, "lpa": lpa}


def _lpa(control: Control, granule: int) -> int:
    """1 when FEAT_LPA changes this granule's descriptors: PAMax = 52 with 64 KiB."""
    return int(pa_max(control) == 52 and granule == 0x1_0000)


FORMATS: dict[str, Callable[..., PagingFormat]] = {"aarch64-s1": stage1, "aarch64-s2": stage2}
#: format name → the options its geometry takes from the registers
CONTROL_OPTIONS: dict[str, Callable[[Control], dict[str, int]]] = {
    "aarch64-s1": lambda control: options_from_control(control, 1),
    "aarch64-s2": lambda control: options_from_control(control, 2),
}

register_reporter(ARCH, arm_faults.syndrome, arm_faults.explain)
