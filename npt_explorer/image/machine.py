"""A machine over an image: the engine's `Paging` (formats, walker, inspecting calls) over the
image's memory, rooted where the registers say."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import (
    Access,
    Control,
    MachineConfig,
    Paging,
    PagingError,
    Priv,
    Walk,
    Walker,
)
from .errors import ImageError
from .memory import ImageMemory
from .roots import Regime

#: the control bits that make hardware write A/D (AF) itself; x86 paging always does
HARDWARE_AD = {
    "x86_64": (),
    "aarch64": (("tcr_el1", "HA"), ("vtcr_el2", "HA")),
    "riscv64": (("henvcfg", "ADUE"), ("menvcfg", "ADUE")),
}


@dataclass(slots=True)
class ImageMachine:
    memory: ImageMemory
    regime: Regime
    paging: Paging  # the engine's walker and inspecting calls over this memory at these roots
    control: Control
    config: MachineConfig

    @classmethod
    def build(cls, memory: ImageMemory, regime: Regime) -> ImageMachine:
        try:
            config = MachineConfig(
                arch=regime.arch,
                guest=regime.guest or "",  # "": the registers decide (or the default)
                npt=regime.npt or "",
                features=frozenset(regime.features),
                registers=tuple(sorted(regime.control.items())),
            )
        except PagingError as err:
            raise ImageError("registers", err.message) from None
        return cls.rooted(memory, regime, config, config.control)

    @classmethod
    def rooted(
        cls, memory: ImageMemory, regime: Regime, config: MachineConfig, control: Control
    ) -> ImageMachine:
        """The walker over `memory` at the regime's roots, its formats read `control`."""
        s1, s2 = config.format_for("guest"), config.format_for("npt")
        s1.configure(control)
        s2.configure(control)
        paging = Paging.rooted(
            regime.arch, s1, s2, memory, (regime.guest_root, regime.npt_root),
            guest_root_hi=regime.guest_root_hi,
            root_registers=(regime.pdptes or None) if s1.root_registers else (),
        )  # fmt: skip
        return cls(memory, regime, paging, control, config)

    def with_control(self, control: Control) -> ImageMachine:
        """The same image and roots, walked under other control bits (the overlay kept)."""
        return ImageMachine.rooted(self.memory, self.regime, self.config, control)

    @property
    def arch(self) -> str:
        return self.regime.arch

    @property
    def walker(self) -> Walker:
        return self.paging.walker

    @property
    def hardware_ad(self) -> bool:
        bits = HARDWARE_AD[self.arch]
        return not bits or any(self.control.on(reg, name) for reg, name in bits)

    def refused(self, gva: int) -> str | None:
        """Why this image cannot walk `gva` (None: it can)."""
        if not 0 <= gva < 1 << 64:
            return f"{gva:#x} is not a 64-bit address"
        if self.regime.ttbr1_range and gva >> 55 & 1:  # VA[55] selects TTBR1 (Arm ARM D8.2.2)
            return f"{gva:#x} is in TTBR1's range (bit 55 set): give --ttbr1 to walk it"
        return None

    def walk(
        self, gva: int, access: Access | str = Access.READ, priv: Priv | str = Priv.KERNEL,
        *, translate: bool | None = None,
    ) -> Walk:  # fmt: skip
        """A `translate` (nothing written), except a write on hardware that sets A/D itself,
        whose write-backs go to the overlay (IMAGES.md "Verbs")."""
        access, priv = Access.parse(access), Priv.parse(priv)
        if translate is None:
            translate = not (access is Access.WRITE and self.hardware_ad)
        problem = self.refused(gva)
        if problem is not None:
            raise ImageError("GVA", problem)
        return self.walker.translate(gva, access, priv, side_effects=not translate)
