"""A machine with many mapped guest pages (for the 100k-page test and the benchmark)."""

from __future__ import annotations

from npt_explorer.engine.config import MachineConfig
from npt_explorer.engine.machine import Machine

GVA = 0x10_0000_0000  # fits every arch's guest input size, sign-extension not needed
GPA = 0x4000_0000


def big_machine(arch: str = "x86_64", pages: int = 100_000) -> Machine:
    """`pages` 4 KiB guest pages at `GVA` → `GPA`, backed by 2 MiB stage-2 blocks."""
    machine = Machine(MachineConfig(arch=arch))
    size = pages * 0x1000
    backed = -(-size // 0x20_0000) * 0x20_0000
    machine.map(2, GPA, backed, "rwx", hpa=0x1_0000_0000, huge=True, name="guest RAM")
    machine.map(1, GVA, size, "rw", gpa=GPA)
    return machine
