"""The QEMU fixture's cases as images and walks, and the comparison with QEMU's answers.

A case's memory is the oracle machine's RAM: zeros, the non-zero words of its tables (harness
entries included) and its pattern regions (each word encodes its own hPA, as the oracle's stub
writes them: qemu-oracle README "Pattern words"). Outside RAM there is no memory."""

from __future__ import annotations

import json
import lzma
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from npt_explorer.engine import Walk
from npt_explorer.image import ImageError, ImageMachine, ImageMemory, Segment, decode

DATA = Path(__file__).resolve().parent / "data"
U64 = np.uint64
#: QEMU 7.2 implements hardware A/D updating at both stages (oracle README, deviation 2)
RV_ADUE = 1 << 61
#: the oracle's register names → ours; HCR_EL2 = VM | RW | the case's extra bits
ARM_REGS = {"vtcr_el2": "vtcr", "vttbr_el2": "vttbr", "tcr_el1": "tcr", "ttbr0_el1": "ttbr0",
            "sctlr_el1": "sctlr"}  # fmt: skip
HCR_VM_RW = 1 | 1 << 31
#: QEMU 7.2 `-cpu max`'s ID_AA64MMFR0_EL1 (the stub prints it): PARange 6, PAMax 52 (FEAT_LPA)
QEMU_MAX_MMFR0 = 0x3231_0201_126
#: what QEMU's CPUs implement that no register says: `-cpu max` has FEAT_XNX (oracle README)
FEATURES = {"riscv64": set(), "aarch64": {"xnx"}}


def load_fixture(arch: str) -> dict[str, Any]:
    return json.loads(lzma.decompress((DATA / f"qemu_{arch}.json.xz").read_bytes()))


def _pattern(arch: str, ram_base: int, hpas: np.ndarray) -> np.ndarray:
    low = hpas & U64(0xFFFF_FFFF)
    if arch == "riscv64":  # custom-0 opcode holding (X - RAM) >> 3 in bits 31:7 and 6:5
        p = (hpas - U64(ram_base)) >> U64(3)
        ill = ((p >> U64(2)) << U64(7)) | ((p & U64(3)) << U64(5)) | U64(0x0B)
    else:  # SVC #((X - RAM) >> 12)
        ill = U64(0xD400_0001) | ((((hpas - U64(ram_base)) >> U64(12)) & U64(0xFFFF)) << U64(5))
    return ((ill & U64(0xFFFF_FFFF)) << U64(32)) | low


def case_memory(arch: str, ram: tuple[int, int], case: dict[str, Any]) -> ImageMemory:
    base, size = ram
    frames: dict[int, np.ndarray] = {}
    for start, length in case["pattern"]:
        hpas = np.arange(start, start + length, 8, dtype=U64)
        words = _pattern(arch, base, hpas)
        for n in range(length // 0x1000):
            frames[(start >> 12) + n] = words[n * 512 : (n + 1) * 512]
    for hpa, value in case["words"]:
        frame = frames.get(hpa >> 12)
        if frame is None:
            frame = frames[hpa >> 12] = np.zeros(512, dtype=U64)
        frame[(hpa & 0xFFF) >> 3] = value
    segments, at = [], base
    for pfn in sorted(frames):
        if pfn << 12 > at:
            segments.append(Segment(at, (pfn << 12) - at, "ram"))
        segments.append(Segment(pfn << 12, 0x1000, "ram", frames[pfn].tobytes()))
        at = (pfn + 1) << 12
    segments.append(Segment(at, base + size - at, "ram"))
    return ImageMemory(segments)


def case_registers(arch: str, regs: dict[str, int]) -> dict[str, int]:
    if arch == "riscv64":
        out = {k: v for k, v in regs.items() if k in ("hgatp", "vsatp", "vsstatus", "sstatus")}
        return {**out, "henvcfg": RV_ADUE, "menvcfg": RV_ADUE}
    out = {ARM_REGS[k]: v for k, v in regs.items() if k in ARM_REGS}
    return {**out, "hcr": HCR_VM_RW | regs.get("hcr_el2", 0), "mmfr0": QEMU_MAX_MMFR0}


def engine_answer(arch: str, walk: Walk) -> list[Any]:
    if walk.fault is None:
        return ["ok", walk.hpa]
    if walk.fault.hpa is not None:  # a table outside the machine's RAM
        return ["no-memory", walk.fault.hpa]
    s = walk.fault.syndrome
    if arch == "riscv64":
        return ["fault", s["scause"], s["stval"], s["htval"], s["htinst"]]
    return ["fault", s["el"], s["ec"], s["fsc"], s["s1ptw"], s["far"], s["hpfar"]]


def excused(arch: str, machine: ImageMachine, walk: Walk, qemu: list[Any]) -> str | None:
    """The QEMU 7.2 deviation (oracle README, "QEMU 7.2 deviations") a disagreement is, if any;
    there the engine follows the manual."""
    f = walk.fault
    if arch == "riscv64":
        if f is not None and f.stage == 2 and f.during == "guest-walk" and f.write_back:
            # deviation 2: QEMU writes VS-stage A/D without checking G-stage write permission
            return "rv2-vs-ad-write-unchecked-at-g-stage"
        if (
            f is not None and f.stage == 2 and f.during == "guest-walk"
            and qemu[:2] == ["fault", 21] and qemu[4] == 0x3000
            and qemu[2:4] == engine_answer(arch, walk)[2:4]
        ):  # fmt: skip
            # deviation 1: an implicit PTE read's guest-page fault is always a load fault (21)
            return "rv1-implicit-access-cause-always-21"
        return None
    if f is not None and f.stage == 2 and f.during == "guest-walk" and qemu[0] == "fault":
        ours = engine_answer(arch, walk)
        # the lookup level of the guest entry being read (its level name is "L<n>"): the
        # stage-2 steps name it; with none (the IPA fails before any read) it follows the
        # last stage-1 table, or is the root
        last = walk.steps[-1] if walk.steps else None
        if last is None or last.stage == 2:
            depth = last.for_depth or 0 if last else 0
        else:
            depth = last.depth + 1
        s1_level = int(machine.walker.s1.levels[depth].name[-1])
        if qemu[:3] + qemu[4:] == ours[:3] + ours[4:] and qemu[3] == (ours[3] & ~3) | s1_level:
            # QEMU 7.2 reports the stage-1 level for a stage-2 fault on a stage-1 table walk;
            # the architecture reports the stage-2 level (QEMU's later fix: "Retain the
            # existing stage 2 fi->level", target/arm/ptw.c)
            return "arm-s1ptw-fault-reports-stage-1-level"
    return _BLOCK_LEVELS.get(_block_at(machine, walk))  # type: ignore[arg-type]


#: (granule, level) of a block descriptor the engine faults → why QEMU 7.2 does not
_BLOCK_LEVELS = {
    # deviation 1: a level-0 block (4 KiB granule, no LPA2) is a Translation fault; QEMU 7.2
    # walks it as a 512 GiB block
    (0x1000, 0): "arm1-level0-block",
    # the same deviation at 16 KiB: a level-1 block needs TCR.DS=1 (FEAT_LPA2); QEMU 7.2 takes
    # a block at any level but 3 (fixed later: lpae_block_desc_valid, "AArch64.
    # BlockDescSupported()", target/arm/ptw.c)
    (0x4000, 1): "arm-16k-level1-block",
}


def _block_at(machine: ImageMachine, walk: Walk) -> tuple[int, int] | None:
    """(granule, level) when the walk ended on a block descriptor the engine refused."""
    f = walk.fault
    if f is None or f.raw is None or f.raw & 3 != 1 or f.depth is None or not walk.steps:
        return None
    last = walk.steps[-1]
    if last.stage != f.stage or last.depth != f.depth:
        return None
    stage = machine.walker.s1 if f.stage == 1 else machine.walker.s2
    return stage.granule, int(stage.levels[f.depth].name[-1])


def beyond_ram(
    arch: str, ram: tuple[int, int], machine: ImageMachine, walk: Walk, qemu: list[Any]
) -> str | None:
    """No RAM answered: QEMU reports a synchronous external abort, the memory system's answer,
    not the MMU's. After a translation that succeeded, the data access's (FSC 0x10); for a table
    outside RAM, which the image reports as a `no-memory` fault, the walk's (FSC 0x14 + level,
    "Synchronous External abort on translation table walk", at the EL of the stage that read)."""
    base, size = ram
    if arch != "aarch64" or qemu[0] != "fault":
        return None
    if walk.ok and qemu[3] == 0x10 and not base <= (walk.hpa or 0) < base + size:
        return "arm-data-access-beyond-ram-external-abort"
    f = walk.fault
    if f is None or f.hpa is None or base <= f.hpa < base + size or f.depth is None:
        return None
    stage = machine.walker.s1 if f.stage == 1 else machine.walker.s2
    level = int(stage.levels[f.depth].name[-1])
    if qemu[1] == f.stage and qemu[3] == 0x14 | level:
        return "arm-table-read-beyond-ram-external-abort"
    return None


@dataclass
class Tally:
    compared: int = 0
    agreed: int = 0
    excused: Counter[str] = field(default_factory=Counter)
    unmodelled: Counter[str] = field(default_factory=Counter)
    other: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)


def compare_case(arch: str, ram: tuple[int, int], case: dict[str, Any], tally: Tally) -> None:
    try:
        regime = decode(arch, case_registers(arch, case["regs"]), FEATURES[arch])
    except ImageError as err:
        tally.unmodelled[err.problem.split(":")[0] + f" ({err.where})"] += len(case["accesses"])
        return
    machine = ImageMachine.build(case_memory(arch, ram, case), regime)
    for gva, access, priv, qemu in case["accesses"]:
        if qemu[0] == "other":
            tally.other[qemu[1]] += 1
            continue
        walk = machine.walk(gva, access, priv, translate=True)
        ours = engine_answer(arch, walk)
        tally.compared += 1
        if qemu[0] == "ok" and qemu[1] is None:
            same = ours[0] == "ok"  # the load's value was no pattern word: only "ok" is known
        else:
            same = ours == qemu
        if same:
            tally.agreed += 1
            continue
        why = excused(arch, machine, walk, qemu)
        if why is None:
            why = beyond_ram(arch, ram, machine, walk, qemu)
        if why is not None:
            tally.excused[why] += 1
        else:
            tally.mismatches.append(
                f"{case['name']} {access} {priv} gVA {gva:#x}: QEMU {_hex(qemu)}, ours {_hex(ours)}"
                + (f" ({walk.fault.reason} stage {walk.fault.stage} depth {walk.fault.depth})"
                   if walk.fault else "")
            )  # fmt: skip


def _hex(answer: list[Any]) -> str:
    return "[" + ", ".join(hex(v) if isinstance(v, int) else str(v) for v in answer) + "]"
