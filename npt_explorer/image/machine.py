"""A machine over an image: the engine's formats and walker, rooted where the registers say."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import (
    Access,
    Control,
    MachineConfig,
    MemoryHole,
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


def _root_registers(walker: Walker, memory: ImageMemory, root: int) -> tuple[int, ...]:
    """x86 PAE: the four PDPTEs the CPU loaded from guest memory when CR3 was written (SDM
    4.4.1), read here from the image through stage 2; what cannot be read loads as 0."""
    out = []
    for i in range(walker.s1.levels[0].entries):
        gpa = root + 8 * i
        hpa = gpa if walker.npt_root is None else walker.translate_gpa(gpa, Access.READ).hpa
        try:
            out.append(0 if hpa is None else memory.read_u64(hpa))
        except MemoryHole:
            out.append(0)
    return tuple(out)


@dataclass(slots=True)
class ImageMachine:
    memory: ImageMemory
    regime: Regime
    walker: Walker
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
                registers=regime.control,
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
        walker = Walker(regime.arch, s1, s2, memory, regime.guest_root, regime.npt_root)
        if regime.guest_root is not None:
            walker.guest_root_hi = regime.guest_root_hi
        if s1.root_registers and regime.guest_root is not None:
            walker.root_registers = regime.pdptes or _root_registers(
                walker, memory, regime.guest_root
            )
        return cls(memory, regime, walker, control, config)

    def with_control(self, control: Control) -> ImageMachine:
        """The same image and roots, walked under other control bits (the overlay kept)."""
        return ImageMachine.rooted(self.memory, self.regime, self.config, control)

    @property
    def arch(self) -> str:
        return self.regime.arch

    @property
    def hardware_ad(self) -> bool:
        bits = HARDWARE_AD[self.arch]
        return not bits or any(self.control.on(reg, name) for reg, name in bits)

    def walk(
        self, gva: int, access: Access | str = Access.READ, priv: Priv | str = Priv.KERNEL,
        *, translate: bool | None = None,
    ) -> Walk:  # fmt: skip
        """A `translate` (nothing written), except a write on hardware that sets A/D itself,
        whose write-backs go to the overlay (IMAGES.md "Verbs")."""
        access, priv = Access.parse(access), Priv.parse(priv)
        if translate is None:
            translate = not (access is Access.WRITE and self.hardware_ad)
        if not 0 <= gva < 1 << 64:
            raise ImageError("GVA", f"{gva:#x} is not a 64-bit address")
        if self.regime.ttbr1_range and gva >> 55 & 1:  # VA[55] selects TTBR1 (Arm ARM D8.2.2)
            raise ImageError(
                "GVA", f"{gva:#x} is in TTBR1's range (bit 55 set): give --ttbr1 to walk it"
            )
        return self.walker.translate(gva, access, priv, side_effects=not translate)
