"""Image files → segments: ELF cores (`PT_LOAD`, QEMU's `QEMU` notes, our `NPT-EXPLORER` note),
LiME (`0x4C694D45`, version 1) and raw `PATH@BASE`. Every file is memory-mapped read-only and
checked before use; a problem is an `ImageError` naming the file."""

from __future__ import annotations

import json
import mmap
import os
import stat
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ImageError
from .memory import ImageMemory, Segment

ELF_MAGIC = b"\x7fELF"
LIME_MAGIC = 0x4C694D45
LIME_HEADER = struct.Struct("<IIQQ8s")  # magic, version, start, end (inclusive), reserved
PT_LOAD, PT_NOTE = 1, 4
#: ELF e_machine → our arch name
MACHINES = {62: "x86_64", 183: "aarch64", 243: "riscv64"}
ROOTS_NOTE = "NPT-EXPLORER"
#: QEMU's per-vCPU note on x86 (target/i386/arch_dump.c QEMUCPUState): version, size, 18 GPRs
#: and rip/rflags, 10 segment descriptors of 24 bytes, then cr[5] at byte 392
QEMU_NOTE = "QEMU"
_QEMU_CR_OFFSET = 8 + 18 * 8 + 10 * 24


@dataclass(slots=True)
class ImageFile:
    """One opened file: its segments, and what its notes say."""

    path: str
    kind: str  # elf | lime | raw
    segments: list[Segment]
    arch: str | None = None
    cpus: list[dict[str, int]] = field(default_factory=list)  # QEMU notes: cr0, cr3, cr4...
    roots: dict[str, Any] | None = None  # our NPT-EXPLORER note


def _map(path: str) -> mmap.mmap:
    try:
        st = os.stat(path)
    except OSError as err:
        raise ImageError(path, f"cannot open: {err.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(path, "is a directory, not a memory image")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        raise ImageError(path, "is not a regular file (FIFO, socket or device)")
    if st.st_size == 0:
        raise ImageError(path, "is empty")
    try:
        with open(path, "rb") as f:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as err:
        raise ImageError(path, f"cannot map: {err.strerror}") from None


def parse_base(path: str, text: str) -> int:
    try:
        base = int(text.replace("_", ""), 0)
    except ValueError:
        raise ImageError(f"{path}@{text}", f"BASE {text!r} is not a number") from None
    if base < 0 or base & 0xFFF or base >= 1 << 64:
        raise ImageError(f"{path}@{text}", f"BASE {base:#x} is not a 4 KiB-aligned 64-bit hPA")
    return base


def open_image(spec: str) -> ImageFile:
    """`PATH` (ELF or LiME, by magic) or `PATH@BASE` (raw)."""
    if not os.path.exists(spec) and "@" in spec:
        path, _, base_text = spec.rpartition("@")
        base = parse_base(path, base_text)
        data = _map(path)
        if base + len(data) > 1 << 64:
            raise ImageError(spec, "the file runs past the 64-bit physical address space")
        return ImageFile(path, "raw", [Segment(base, len(data), spec, data)])
    data = _map(spec)
    if data[:4] == ELF_MAGIC:
        return _elf(spec, data)
    if len(data) >= 4 and struct.unpack_from("<I", data)[0] == LIME_MAGIC:
        return ImageFile(spec, "lime", _lime(spec, data))
    raise ImageError(spec, "unknown format (no ELF or LiME magic); a raw dump needs PATH@BASE")


def _lime(path: str, data: mmap.mmap) -> list[Segment]:
    segments, at, size = [], 0, len(data)
    while at < size:
        if at + LIME_HEADER.size > size:
            raise ImageError(path, f"LiME header at offset {at:#x} is truncated")
        magic, version, start, end, _ = LIME_HEADER.unpack_from(data, at)
        if magic != LIME_MAGIC:
            raise ImageError(path, f"bad LiME magic {magic:#x} at offset {at:#x}")
        if version != 1:
            raise ImageError(path, f"LiME version {version} at offset {at:#x} (only 1 is known)")
        if end < start:
            raise ImageError(path, f"LiME range at offset {at:#x} ends before it starts")
        length = end - start + 1  # LiME's end address is inclusive
        at += LIME_HEADER.size
        if at + length > size:
            raise ImageError(path, f"LiME range [{start:#x}, {end:#x}] runs past end of file")
        segments.append(Segment(start, length, f"{path} (LiME range {start:#x})", data, at))
        at += length
    return segments


def _elf(path: str, data: mmap.mmap) -> ImageFile:
    size = len(data)
    if size < 64:
        raise ImageError(path, f"truncated ELF header ({size} of 64 bytes)")
    if data[4] != 2:
        raise ImageError(path, "not a 64-bit ELF (EI_CLASS != ELFCLASS64)")
    if data[5] != 1:
        raise ImageError(path, "not a little-endian ELF (EI_DATA != ELFDATA2LSB)")
    machine = struct.unpack_from("<H", data, 18)[0]
    phoff, phentsize, phnum = (
        struct.unpack_from("<Q", data, 32)[0],
        *struct.unpack_from("<HH", data, 54),
    )
    if phnum and phentsize < 56:
        raise ImageError(path, f"ELF program header entries of {phentsize} bytes (need 56)")
    if phoff + phnum * phentsize > size:
        raise ImageError(path, "ELF program headers run past end of file")
    image = ImageFile(path, "elf", [], MACHINES.get(machine))
    for n in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + n * phentsize
        )
        if p_type == PT_LOAD:
            where = f"{path} (PT_LOAD {n})"
            if p_offset + p_filesz > size:
                raise ImageError(
                    path,
                    f"PT_LOAD {n} [{p_offset:#x}+{p_filesz:#x}] is beyond end of file ({size:#x})",
                )
            if p_paddr + max(p_memsz, p_filesz) > 1 << 64:
                raise ImageError(path, f"PT_LOAD {n} runs past the 64-bit address space")
            image.segments.append(Segment(p_paddr, p_filesz, where, data, p_offset))
            if p_memsz > p_filesz:
                image.segments.append(Segment(p_paddr + p_filesz, p_memsz - p_filesz, where))
        elif p_type == PT_NOTE:
            if p_offset + p_filesz > size:
                raise ImageError(path, f"PT_NOTE {n} is beyond end of file")
            _notes(image, data[p_offset : p_offset + p_filesz])
    if not image.segments:
        raise ImageError(path, "ELF has no PT_LOAD segment: no memory in it")
    return image


def _notes(image: ImageFile, blob: bytes) -> None:
    at = 0
    while at + 12 <= len(blob):
        namesz, descsz, ntype = struct.unpack_from("<III", blob, at)
        name_at = at + 12
        desc_at = name_at + (namesz + 3 & ~3)
        end = desc_at + (descsz + 3 & ~3)
        if end > len(blob):
            raise ImageError(image.path, f"ELF note at offset {at:#x} runs past its segment")
        name = blob[name_at : name_at + namesz].rstrip(b"\0").decode("latin-1")
        desc = blob[desc_at : desc_at + descsz]
        if name == QEMU_NOTE and image.arch == "x86_64" and descsz >= _QEMU_CR_OFFSET + 40:
            cr = struct.unpack_from("<5Q", desc, _QEMU_CR_OFFSET)
            image.cpus.append({"cr0": cr[0], "cr3": cr[3], "cr4": cr[4]})
        elif name == ROOTS_NOTE:
            try:
                roots = json.loads(desc)
            except ValueError as err:
                raise ImageError(image.path, f"{ROOTS_NOTE} note is not JSON: {err}") from None
            image.roots = _checked_roots(image.path, roots)
        at = end


def _checked_roots(path: str, note: Any) -> dict[str, Any]:
    """Our note's shape: {"arch", "guest", "npt": str, "features": [str], "roots": {str: int
    or "0x..."}} (IMAGES.md "Verbs", `image export`)."""
    bad = ImageError(path, f"{ROOTS_NOTE} note is not {{arch, guest, npt, features, roots}}")
    if not isinstance(note, dict):
        raise bad
    if not all(isinstance(note.get(k, ""), str) for k in ("arch", "guest", "npt", "encoding")):
        raise bad
    features, roots = note.get("features", []), note.get("roots", {})
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise bad
    if not isinstance(roots, dict) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in roots.values()
    ):
        raise bad
    return note


def open_images(specs: list[str]) -> tuple[ImageMemory, list[ImageFile]]:
    """Every image's segments as one memory (their ranges must not overlap)."""
    files = [open_image(spec) for spec in specs]
    return ImageMemory([s for f in files for s in f.segments]), files


def is_image_file(path: str) -> bool:
    """An ELF core or a LiME file by its magic, or a raw `PATH@BASE`."""
    if "@" in path and not os.path.exists(path):
        return True
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read
            return False
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head == ELF_MAGIC or int.from_bytes(head.ljust(4, b"\0"), "little") == LIME_MAGIC


def is_image_command(args: Sequence[str]) -> bool:
    """Does a TUI command line (`npt-explorer ARGS`, `load ARGS`) name an image?"""
    return any(is_image_file(a) for a in args if not a.startswith("-"))
