"""A machine's memory as an ELF core (`ET_CORE`, one `PT_LOAD` per contiguous run of host
frames) with an `NPT-EXPLORER` note holding the registers that root it (IMAGES.md "Verbs")."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from .errors import ImageError
from .files import ROOTS_NOTE

ET_CORE, PT_LOAD, PT_NOTE = 4, 1, 4
E_MACHINE = {"x86_64": 62, "aarch64": 183, "riscv64": 243}
_EHDR = struct.Struct("<4sBBBBB7sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
PAGE = 0x1000


def runs(pfns: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted frame numbers → (first pfn, count) of each contiguous run."""
    out: list[tuple[int, int]] = []
    for pfn in sorted(pfns):
        if out and out[-1][0] + out[-1][1] == pfn:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((pfn, 1))
    return out


def note(name: str, ntype: int, desc: bytes) -> bytes:
    raw = name.encode() + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731 - 4-byte note alignment (ELF gABI)
    return struct.pack("<III", len(raw), len(desc), ntype) + pad(raw) + pad(desc)


def roots_note(arch: str, guest: str, npt: str, features: Iterable[str], encoding: str,
               roots: Mapping[str, int]) -> bytes:  # fmt: skip
    desc: dict[str, Any] = {
        "arch": arch,
        "guest": guest,
        "npt": npt,
        "features": sorted(features),
        "encoding": encoding,
        "roots": {k: f"{v:#x}" for k, v in roots.items()},
    }
    return note(ROOTS_NOTE, 1, json.dumps(desc, sort_keys=True).encode())


def write_elf(out: BinaryIO, arch: str, frames: Mapping[int, bytes], notes: bytes = b"",
              zero_ranges: Iterable[tuple[int, int]] = ()) -> int:  # fmt: skip
    """Write `frames` (pfn → 4 KiB) as PT_LOADs, plus `zero_ranges` ([start, end) host ranges
    with no file bytes: `p_memsz` only) and one PT_NOTE. Returns the number of PT_LOADs."""
    data_runs = runs(frames)
    loads: list[tuple[int, int, int, int | None]] = [
        (pfn * PAGE, n * PAGE, n * PAGE, pfn) for pfn, n in data_runs
    ]
    loads += [(start, 0, end - start, None) for start, end in zero_ranges]
    loads.sort()
    phnum = len(loads) + (1 if notes else 0)
    offset = _EHDR.size + phnum * _PHDR.size
    offset += -offset % PAGE
    headers, body_offsets = [], []
    note_off = offset
    if notes:
        headers.append(_PHDR.pack(PT_NOTE, 0, note_off, 0, 0, len(notes), 0, 4))
        offset += len(notes) + (-len(notes) % PAGE)
    for paddr, filesz, memsz, _ in loads:
        headers.append(
            _PHDR.pack(PT_LOAD, 7, offset if filesz else 0, paddr, paddr, filesz, memsz, PAGE)
        )
        body_offsets.append(offset)
        offset += filesz
    ident = b"\x7fELF"
    out.write(_EHDR.pack(ident, 2, 1, 1, 0, 0, bytes(7), ET_CORE, E_MACHINE[arch], 1, 0,
                         _EHDR.size, 0, 0, _EHDR.size, _PHDR.size, phnum, 0, 0, 0))  # fmt: skip
    out.write(b"".join(headers))
    out.write(bytes(note_off - _EHDR.size - phnum * _PHDR.size))
    if notes:
        out.write(notes + bytes(-len(notes) % PAGE))
    for _, filesz, _, pfn in loads:
        if filesz:
            assert pfn is not None
            for n in range(filesz // PAGE):
                out.write(frames[pfn + n])
    return len(loads)


# ---------------------------------------------------------------------------- a machine's roots

_X86_EPT_LENGTH = {"ept4": 3, "ept5": 4}  # EPTP[5:3] = walk length - 1
#: satp/hgatp MODE
_RV_MODE = {"sv39": 8, "sv48": 9, "sv57": 10, "sv39x4": 8, "sv48x4": 9, "sv57x4": 10}
#: the engine's control registers → the `image` flags that carry them
CONTROL_FLAGS = {
    "tcr_el1": "tcr",
    "sctlr_el1": "sctlr",
    "vtcr_el2": "vtcr",
    "id_aa64mmfr0_el1": "mmfr0",
}
_FLAGS = {
    "x86_64": ("cr0", "cr4", "efer"),
    "aarch64": ("tcr_el1", "sctlr_el1", "vtcr_el2", "pan", "id_aa64mmfr0_el1"),
    "riscv64": ("vsstatus", "sstatus", "henvcfg", "menvcfg"),
}


#: guest modes IMAGES.md gives no roots for: exporting them is refused with this reason
NO_IMAGE_GUESTS = {
    "32-bit": "32-bit paging (CR4.PAE=0, 4-byte entries): IMAGES.md names no roots for it, "
    "so it is not exported",
}


def machine_roots(
    arch: str, guest: str, npt: str, features: frozenset[str], control: Mapping[str, int],
    guest_root: int, npt_root: int, vmid: int = 0, asid: int = 0,
    root_registers: tuple[int, ...] = (), guest_root_hi: int | None = None,
) -> dict[str, int]:  # fmt: skip
    """The registers a CPU would hold for this machine (decoded back by `roots.decode`):
    its roots, and its control registers as they are."""
    if guest in NO_IMAGE_GUESTS:
        raise ImageError("guest", NO_IMAGE_GUESTS[guest])
    regs = {CONTROL_FLAGS.get(k, k): control[k] for k in _FLAGS[arch] if k in control}
    if arch == "x86_64":
        ad = 1 << 6 if "ept-ad" in features else 0
        regs["cr3"] = guest_root
        if guest == "pae":  # legacy PAE paging: EFER.LME = LMA = 0 (SDM 4.1.1); the PDPTE
            regs["efer"] = regs.get("efer", 0xD00) & ~(1 << 8 | 1 << 10)  # registers as loaded
            regs.update({f"pdpte{i}": v for i, v in enumerate(root_registers)})
        if npt.startswith("npt"):  # AMD: N_CR3 holds the root; the note names npt4/npt5
            regs["ncr3"] = npt_root
        else:
            regs["eptp"] = npt_root | ad | _X86_EPT_LENGTH[npt] << 3 | 6  # WB
    elif arch == "aarch64":
        regs["ttbr0"] = asid << 48 | guest_root
        if guest_root_hi is not None:  # the upper VA range's table (TCR_EL1.EPD1 = 0)
            regs["ttbr1"] = asid << 48 | guest_root_hi
        regs["vttbr"] = vmid << 48 | npt_root
    else:  # the seed's G-stage `sv39` has no MODE of its own: hgatp says Sv39x4, the note sv39
        guest_mode = control["vsatp"] >> 60
        regs["vsatp"] = guest_mode << 60 | asid << 44 | guest_root >> 12
        regs["hgatp"] = _RV_MODE[npt] << 60 | vmid << 44 | npt_root >> 12
    return regs
