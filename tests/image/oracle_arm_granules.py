"""Run an AArch64 case with any stage-2 granule through the qemu-oracle's driver and stub.

The oracle (../shared/qemu-oracle, read-only here) installs its harness window — the stub's code
at IPA 1 << (IPA bits - 1), mapped by stage 2 onto hPA 0x4000_0000 — with a 4 KiB-granule
VTCR_EL2 only. This module replaces that one step, `install_harness`, by one that writes the
same window into a 16 KiB or 64 KiB stage 2: a block at level 2 (32 MiB / 512 MiB; a 16/64 KiB
granule has no level-1 block without FEAT_LPA2 / 52-bit PAs), reached from a level-1 start
through a harness table at hPA 0x400D_0000 (inside the oracle's reserved first 4 MiB, above its
stub). The stub's stage-1 mapping is unchanged: TTBR1_EL1 with TG1 = 4 KiB, which is
independent of the case's TTBR0 granule (TCR_EL1.TG0). Everything else (configuration block,
stub, result decoding) is the oracle's own code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ORACLE = Path(os.environ.get("QEMU_ORACLE", "/work/shared/qemu-oracle"))
HARNESS_TABLE = 0x400D_0000  # 64 KiB-aligned, between the stub's end and 0x400F_0000
OA_MASK = 0x0000_FFFF_FFFF_F000
GRANULE = {0: 0x1000, 2: 0x4000, 1: 0x1_0000}  # VTCR_EL2.TG0


def _oracle() -> Any:
    sys.path.insert(0, str(ORACLE))
    import qemu_oracle_arm  # the oracle's AArch64 driver

    return qemu_oracle_arm


def install_harness(img: Any, r: dict) -> dict:
    """The oracle's harness window for a VTCR_EL2 of any granule (see the module doc)."""
    arm = _oracle()
    vtcr = r["vtcr"]
    granule = GRANULE.get((vtcr >> 14) & 3)
    if granule is None:
        raise arm.CaseError("VTCR_EL2.TG0 = 3 is reserved")
    g = granule.bit_length() - 1
    ipa_bits, sl0 = 64 - (vtcr & 0x3F), (vtcr >> 6) & 3
    start = (2 if granule == 0x1000 else 3) - sl0
    block_level = 1 if granule == 0x1000 else 2
    if not block_level - 1 <= start <= block_level:
        raise arm.CaseError(f"harness: stage-2 start level {start} with a {granule >> 10} KiB "
                            "granule is not supported")  # fmt: skip

    def shift(level: int) -> int:
        return g + (g - 3) * (3 - level)

    harness_ipa = 1 << (ipa_bits - 1)
    root = r["vttbr"] & OA_MASK
    s2_block = arm.RAM_BASE | 0x1 | (0xF << 2) | (1 << 6) | (3 << 8) | (1 << 10)

    def put(addr: int, value: int) -> None:
        old = img.read64(addr)
        if old not in (None, 0, value):
            raise arm.CaseError(f"stage-2 entry at {addr:#x} is reserved for the harness but "
                                f"holds {old:#x}")  # fmt: skip
        img.write64(addr, value)

    root_slot = root + 8 * (harness_ipa >> shift(start))
    if start == block_level:
        entries = [(root_slot, s2_block)]
    else:
        table = HARNESS_TABLE if granule != 0x1000 else arm.S2_HARNESS_L1
        slot = table + 8 * ((harness_ipa >> shift(block_level)) & ((1 << (g - 3)) - 1))
        entries = [(root_slot, table | 3), (slot, s2_block)]
    for addr, value in entries:
        put(addr, value)
    s1_block = harness_ipa | 0x1 | (7 << 2) | (3 << 6) | (3 << 8) | (1 << 10)
    img.write64(arm.S1_HARNESS_L1, s1_block)
    hx = arm.hx
    return {"harness_ipa": harness_ipa, "ttbr1": harness_ipa + (arm.S1_HARNESS_L1 - arm.RAM_BASE),
            "entries": [{"hpa": hx(a), "value": hx(v)} for a, v in entries] +
                       [{"hpa": hx(arm.S1_HARNESS_L1), "value": hx(s1_block), "ttbr1": True}],
            "mappings": [{"stage": 2, "ipa": hx(harness_ipa), "hpa": hx(arm.RAM_BASE),
                          "size": 1 << shift(block_level), "flags": "s2ap=ro",
                          "note": "harness window"}]}  # fmt: skip


def tagged_fetch(res: dict, ram_base: int) -> dict:
    """A fetch from a tagged gVA under TBI: the branch strips the tag (AArch64.BranchAddr), so
    the SVC the fetched pattern word raises comes from the untagged PC, which the oracle's check
    (ELR_EL1 = gVA + 4) calls `unexpected`. Read as the success it is: hPA from ESR_EL1.ISS."""
    trap = res.get("trap", {})
    gva = int(res.get("gva_used") or res["gva"], 16)
    pc = gva & (1 << 56) - 1 | (0xFF << 56 if gva >> 55 & 1 else 0)
    esr1, elr1 = int(trap.get("esr1", "0x0"), 16), int(trap.get("elr1", "0x0"), 16)
    if res["result"] != "unexpected" or res["access"] != "exec" or pc == gva:
        return res
    if esr1 >> 26 != 0x15 or elr1 != pc + 4:
        return res
    page = esr1 & 0xFFFF
    return {**res, "result": "ok", "hpa": hex(ram_base + (page << 12) + (gva & 0xFFF)),
            "note": "tagged fetch: the branch stripped the tag (TBI)"}  # fmt: skip


def run_case(case: dict, base_dir: Path, timeout: float = 20.0) -> dict:
    """The oracle's result object for one case, with this module's harness window."""
    arm = _oracle()
    arm.install_harness = install_harness
    args = SimpleNamespace(no_ad=False, timeout=timeout, raw=False, qemu_log=None)
    out = arm.run_aarch64(case, base_dir, args)
    out["results"] = [r and tagged_fetch(r, arm.RAM_BASE) for r in out["results"]]
    return {"name": case["name"], **out}
