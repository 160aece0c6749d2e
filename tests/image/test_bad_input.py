"""Bad images and bad registers (issue #13 "Must show", counted in docs/robustness.md): each
ends with exit 2 and one line naming the file (or register) and the problem, or with a fault
the walk reports. Never a traceback, never a hang, never a byte written to the input."""

from __future__ import annotations

import hashlib
import os
import struct
from collections import Counter
from pathlib import Path

import pytest

from npt_explorer.cli import main

LIME = struct.Struct("<IIQQ8s")
PML4 = 0x1000  # a one-frame raw image at hPA 0x1000


def _elf_header(phnum: int = 1, phoff: int = 64) -> bytes:
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    return ident + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, phoff, 0, 0, 64, 56, phnum, 0, 0, 0)


def _pt_load(offset: int, paddr: int, filesz: int, memsz: int | None = None) -> bytes:
    return struct.pack("<IIQQQQQQ", 1, 7, offset, paddr, paddr, filesz, memsz or filesz, 0x1000)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["image", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def _refused(capsys: pytest.CaptureFixture[str], needle: str, *args: str) -> str:
    rc, _, err = _run(capsys, *args)
    assert rc == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err, err
    return err


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


# ---------------------------------------------------------------------------- files


def test_an_empty_file_is_refused(tmp_path: Path, capsys) -> None:
    f = _write(tmp_path / "empty.elf", b"")
    _refused(capsys, f"{f}: is empty", "info", f)


def test_a_directory_is_refused(tmp_path: Path, capsys) -> None:
    _refused(capsys, "is a directory", "info", str(tmp_path))


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it for reading would block forever
    _refused(capsys, "not a regular file", "info", str(fifo))


def test_a_missing_file_is_refused(tmp_path: Path, capsys) -> None:
    _refused(capsys, "cannot open", "info", str(tmp_path / "nope.elf"))


def test_garbage_without_base_asks_for_path_at_base(tmp_path: Path, capsys) -> None:
    f = _write(tmp_path / "junk", os.urandom(4096).replace(b"\x7fELF", b"xxxx"))
    _refused(capsys, "needs PATH@BASE", "info", f)


def test_a_truncated_elf_header_is_refused(tmp_path: Path, capsys) -> None:
    f = _write(tmp_path / "short.elf", _elf_header()[:40])
    _refused(capsys, "truncated ELF header (40 of 64 bytes)", "info", f)


def test_a_32_bit_elf_is_refused(tmp_path: Path, capsys) -> None:
    head = bytearray(_elf_header())
    head[4] = 1  # ELFCLASS32
    f = _write(tmp_path / "e32.elf", bytes(head))
    _refused(capsys, "not a 64-bit ELF", "info", f)


def test_program_headers_past_end_of_file_are_refused(tmp_path: Path, capsys) -> None:
    f = _write(tmp_path / "ph.elf", _elf_header(phnum=3))
    _refused(capsys, "program headers run past end of file", "info", f)


def test_a_pt_load_past_end_of_file_is_refused(tmp_path: Path, capsys) -> None:
    f = _write(tmp_path / "load.elf", _elf_header() + _pt_load(0x1000, 0, 0x1000))
    _refused(capsys, "PT_LOAD 0 [0x1000+0x1000] is beyond end of file", "info", f)


def test_an_elf_without_pt_load_is_refused(tmp_path: Path, capsys) -> None:
    f = _write(tmp_path / "none.elf", _elf_header(phnum=0))
    _refused(capsys, "no PT_LOAD", "info", f)


def test_overlapping_pt_loads_are_refused(tmp_path: Path, capsys) -> None:
    body = _elf_header(phnum=2) + _pt_load(0, 0x1000, 0x100) + _pt_load(0, 0x1080, 0x100)
    body += bytes(0x100)
    f = _write(tmp_path / "overlap.elf", body)
    _refused(capsys, "overlaps", "info", f)


def test_overlapping_raw_images_are_refused(tmp_path: Path, capsys) -> None:
    a = _write(tmp_path / "a.bin", bytes(0x2000))
    b = _write(tmp_path / "b.bin", bytes(0x1000))
    _refused(capsys, "overlaps", "info", f"{a}@0x10000", f"{b}@0x11000")


def test_lime_with_a_bad_magic_in_its_second_header_is_refused(tmp_path: Path, capsys) -> None:
    first = LIME.pack(0x4C694D45, 1, 0x1000, 0x1FFF, bytes(8)) + bytes(0x1000)
    f = _write(tmp_path / "bad.lime", first + LIME.pack(0xDEADBEEF, 1, 0, 0, bytes(8)))
    _refused(capsys, "bad LiME magic 0xdeadbeef at offset 0x1020", "info", f)


def test_lime_with_an_unknown_version_is_refused(tmp_path: Path, capsys) -> None:
    f = _write(tmp_path / "v2.lime", LIME.pack(0x4C694D45, 2, 0, 0xFFF, bytes(8)) + bytes(4096))
    _refused(capsys, "LiME version 2", "info", f)


def test_lime_ranges_are_inclusive_and_read_as_memory(tmp_path: Path, capsys) -> None:
    # LiME's end address is inclusive: [0x1000, 0x1fff] is one 4 KiB frame
    f = _write(
        tmp_path / "ok.lime", LIME.pack(0x4C694D45, 1, 0x1000, 0x1FFF, bytes(8)) + bytes(4096)
    )
    rc, out, _ = _run(capsys, "info", f)
    assert rc == 0 and "0x1000 bytes" in out


def test_a_lime_range_past_end_of_file_is_refused(tmp_path: Path, capsys) -> None:
    f = _write(tmp_path / "cut.lime", LIME.pack(0x4C694D45, 1, 0, 0x1FFF, bytes(8)) + bytes(10))
    _refused(capsys, "runs past end of file", "info", f)


@pytest.mark.parametrize(
    ("base", "needle"),
    [("0xzz", "is not a number"), ("0x1234", "not a 4 KiB-aligned"), ("-4096", "not a 4 KiB")],
)
def test_a_bad_base_is_refused(tmp_path: Path, capsys, base: str, needle: str) -> None:
    f = _write(tmp_path / "raw.bin", bytes(4096))
    _refused(capsys, needle, "info", f"{f}@{base}")


# ---------------------------------------------------------------------------- roots


def _raw_pml4(tmp_path: Path, entries: dict[int, int]) -> str:
    page = bytearray(4096)
    for i, v in entries.items():
        struct.pack_into("<Q", page, 8 * i, v)
    return _write(tmp_path / "pml4.bin", bytes(page)) + f"@{PML4:#x}"


def test_a_root_outside_the_image_is_a_no_memory_fault(tmp_path: Path, capsys) -> None:
    img = _raw_pml4(tmp_path, {})
    rc, out, _ = _run(capsys, "walk", img, "--arch", "x86_64", "--cr3", "0x200000", "0x0", "--json")
    assert rc == 0
    assert '"reason": "no-memory"' in out and '"hpa": "0x200000"' in out


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--cr3", str(1 << 63 | PML4)], "CR3[63:52]"),
        (["--cr3", "0x1000", "--eptp", "0x211e"], "EPTP[11:8]"),
        (["--cr3", "0x1000", "--eptp", "0x1007"], "EPTP[2:0] (memory type) = 0x7"),
        (["--cr3", "0x1000", "--eptp", "0x1036"], "EPTP[5:3] (walk length - 1) = 0x6"),
    ],
)
def test_reserved_bits_in_x86_roots_are_refused(tmp_path: Path, capsys, flags, needle) -> None:
    img = _raw_pml4(tmp_path, {})
    _refused(capsys, needle, "walk", img, "--arch", "x86_64", *flags, "0x0")


@pytest.mark.parametrize(
    ("arch", "flags", "needle"),
    [
        ("riscv64", ["--hgatp", str(8 << 60 | 0x81)], "hgatp.PPN[1:0] = 0x1"),
        ("riscv64", ["--satp", str(5 << 60 | 1)], "= 0x5: reserved"),
        (
            "aarch64",
            ["--ttbr0", "0x1000", "--tcr", str(16 | 3 << 14)],
            "TCR_EL1.TG0 (bits 15:14) = 0x3: reserved",
        ),
        ("aarch64", ["--ttbr0", "0x1000", "--tcr", "40"], "T0SZ (bits 5:0) = 0x28"),
        # a 48-bit IPA starting at L2 would need 27 index bits there (at most 13)
        ("aarch64", ["--vttbr", "0x1000", "--vtcr", str(16)], "T0SZ/SL0 (16/0)"),
        # 64 KiB granule, SL0 = 3: start level 0 does not exist (AArch64.S2InvalidSL)
        ("aarch64", ["--vttbr", "0x1000", "--vtcr", str(24 | 3 << 6 | 1 << 14)], "start level 0"),
        # 16 KiB granule, SL0 = 2 (start L1) with PAMax 40 (ID_AA64MMFR0_EL1.PARange = 2): the
        # manual (AArch64.S2InvalidSL) wants at least 42 bits
        (
            "aarch64",
            ["--vttbr", "0x1000", "--vtcr", str(24 | 2 << 6 | 2 << 14), "--mmfr0", "2"],
            "needs a PA size of at least 42 bits (ID_AA64MMFR0_EL1.PARange gives 40)",
        ),
        ("aarch64", ["--vttbr", "0x1000", "--mmfr0", "7", "--vtcr", str(24 | 1 << 6)], "PARange"),
        ("aarch64", ["--ttbr0", "0x1010", "--tcr", "16"], "BADDR below the table alignment"),
        ("aarch64", ["--ttbr0", "0x1000"], "needs --tcr"),
        ("x86_64", ["--cr3", "0x1000", "--cr4", str(1 << 5 | 1 << 23)], "cr4.CET (bit 23) = 1"),
        ("x86_64", ["--cr3", "0x1000", "--cr4", "0"], "CR4.PAE (bit 5) = 0x0: 4-/5-level"),
        ("x86_64", ["--cr3", "0x1000", "--efer", "0"], "CR4.PAE (bit 5) = 0x0: 32-bit paging"),
        ("x86_64", ["--satp", "0"], "not a x86_64 register"),
        ("x86_64", [], "no stage is on"),
    ],
)
def test_unmodelled_or_reserved_register_values_name_register_field_and_value(
    tmp_path: Path, capsys, arch: str, flags: list[str], needle: str
) -> None:
    img = _raw_pml4(tmp_path, {})
    _refused(capsys, needle, "walk", img, "--arch", arch, *flags, "0x0")


def test_an_arm_kernel_tcr_walks_ttbr0_and_refuses_ttbr1_addresses(tmp_path: Path, capsys) -> None:
    # Linux arm64: T0SZ=T1SZ=16, EPD1=0 (TTBR1 live). TTBR0's range is walked; an address with
    # VA[55]=1 belongs to TTBR1 (not modelled) and is refused, not answered as if TTBR1 were off
    img = _raw_pml4(tmp_path, {})
    tcr = 16 | 16 << 16 | 2 << 30 | 5 << 32
    regs = ["--arch", "aarch64", "--ttbr0", "0x1000", "--tcr", hex(tcr)]
    rc, out, _ = _run(capsys, "walk", img, *regs, "0x1000", "--json")
    assert rc == 0 and '"reason": "not-present"' in out
    _refused(capsys, "TTBR1's range (bit 55 set)", "walk", img, *regs, "0xffff000000001000")


def test_an_arm_kernel_with_ttbr1_walks_the_upper_range_from_it(tmp_path: Path, capsys) -> None:
    # Arm ARM D8.2.2: VA[63:48] all ones selects TTBR1. TTBR1 = the table in the image (its
    # L0 entry is invalid: a translation fault), TTBR0 = 0x2000, outside the image (no-memory)
    img = _raw_pml4(tmp_path, {})
    tcr = 16 | 16 << 16 | 2 << 30 | 5 << 32
    regs = ["--arch", "aarch64", "--ttbr0", "0x2000", "--ttbr1", "0x1000", "--tcr", hex(tcr)]
    rc, out, _ = _run(capsys, "walk", img, *regs, "0xffff000000001000", "--json")
    assert rc == 0 and '"reason": "not-present"' in out and '"table": "0x1000"' in out
    rc, out, _ = _run(capsys, "walk", img, *regs, "0x1000", "--json")
    assert rc == 0 and '"reason": "no-memory"' in out


def test_an_arm_tcr_with_tbi0_walks_a_tagged_address_as_its_untagged_one(
    tmp_path: Path, capsys
) -> None:
    # Arm ARM D8.8: TCR_EL1.TBI0=1 (Linux arm64 sets it for user pointers): VA[63:56] is a tag.
    # The table's L0 entry is invalid: both addresses reach it (translation fault level 0 with
    # a read); without TBI0 the tagged one is outside the range (no read at all)
    img = _raw_pml4(tmp_path, {})
    tcr = 16 | 1 << 23 | 2 << 30 | 5 << 32
    regs = ["--arch", "aarch64", "--ttbr0", "0x1000"]
    for value, needle in ((tcr | 1 << 37, '"reason": "not-present"'), (tcr, "non-canonical")):
        rc, out, _ = _run(capsys, "walk", img, *regs, "--tcr", hex(value), "0x5a00000000001000",
                          "--json")  # fmt: skip
        assert rc == 0 and needle in out, out


def test_an_image_without_arch_asks_for_arch(tmp_path: Path, capsys) -> None:
    _refused(capsys, "give --arch", "walk", _raw_pml4(tmp_path, {}), "--cr3", "0x1000", "0x0")


# ---------------------------------------------------------------------------- loops


def test_a_table_that_points_to_itself_walks_to_an_answer_and_lists_once(
    tmp_path: Path, capsys
) -> None:
    # every PML4 entry points back at the PML4 (P RW US): each level reads the same frame,
    # and the PT entry makes the frame itself the 4 KiB page (SDM 4.5: the walk is 4 reads)
    img = _raw_pml4(tmp_path, dict.fromkeys(range(512), PML4 | 0x7))
    regs = ["--arch", "x86_64", "--cr3", hex(PML4)]
    rc, out, _ = _run(capsys, "walk", img, *regs, "0x123", "--json")
    assert rc == 0 and '"hpa": "0x1123"' in out and '"refs": 4' in out
    rc, out, err = _run(capsys, "ranges", img, *regs, "--stage", "1")
    assert rc == 0
    assert "already listed" in err  # the self-reference is reported, not followed 512^3 times
    assert "(nothing mapped)" in out


def test_a_write_walk_with_hardware_ad_never_writes_the_input(tmp_path: Path, capsys) -> None:
    # PML4[0] → the PML4 itself with A=0: the first read sets A (which every later level then
    # reads back), the PTE read sets D: 2 write-backs (SDM 4.8), into the overlay only
    img = _raw_pml4(tmp_path, {0: PML4 | 0x7})
    path = img.split("@")[0]
    before = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    mtime = os.stat(path).st_mtime_ns
    rc, out, _ = _run(capsys, "walk", img, "--arch", "x86_64", "--cr3", "0x1000", "0x0",
                      "--access", "write", "--json")  # fmt: skip
    assert rc == 0 and '"writes": 2' in out and '"written": "0x1067"' in out
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == before
    assert os.stat(path).st_mtime_ns == mtime


def test_a_bad_accesses_file_is_refused(tmp_path: Path, capsys) -> None:
    acc = _write(tmp_path / "acc.json", b'{"gva": 1}')
    img = _raw_pml4(tmp_path, {})
    _refused(capsys, "not a JSON array", "walk", img, "--arch", "x86_64", "--cr3", "0x1000",
             "--accesses", acc)  # fmt: skip


# ---------------------------------------------------------------------------- generated


def test_mutated_exported_elfs_exit_0_or_2_and_never_raise(tmp_path: Path, capsys) -> None:
    """300 mutants of a real export: truncated anywhere in its headers and notes, or bytes of
    the ELF header, program headers and roots note overwritten. Each `image info` and
    `image walk` ends with 0 or 2 and one error line; none raises."""
    import random

    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "x86_01_first_walk.toml"
    good = tmp_path / "good.elf"
    assert main(["image", "export", str(scenario), "-o", str(good)]) == 0
    capsys.readouterr()
    data = good.read_bytes()
    head = data.index(b"NPT-EXPLORER") + 600  # ELF header, program headers, the note
    rng = random.Random(13)
    codes = Counter()
    for n in range(300):
        mutant = bytearray(data)
        if n % 3 == 0:
            mutant = mutant[: rng.randrange(1, head)]
        else:
            for _ in range(rng.randint(1, 8)):
                mutant[rng.randrange(head)] = rng.randrange(256)
        path = tmp_path / f"m{n}.elf"
        path.write_bytes(bytes(mutant))
        for args in (["info", str(path)], ["walk", str(path), "0x40001008", "--json"]):
            rc, _, err = _run(capsys, *args)
            assert rc in (0, 2), err
            assert rc == 0 or len(err.strip().splitlines()) == 1, err
            codes[rc] += 1
    assert codes[2] > 50 and codes[0] > 50  # both outcomes were exercised
