"""A second boot of the same Debian Linux 6.1 kernel under QEMU 7.2 TCG (`make_linux_dump.py
--name linux_x86_64_tlb`), whose recorded answers include QEMU's `info tlb`: every leaf entry
of the kernel's own tables, one line each, `addr: paddr XGPDACTUW` (target/i386/monitor.c
`tlb_info_64` / `print_pte`: the leaf's raw bits NX, G, PS, D, A, PCD, PWT, U/S, R/W). Our table
reading must list exactly those leaves, at those addresses, with those bits; and `image ranges
--stage 1` (merged by QEMU's rule) must equal `info mem` here too."""

from __future__ import annotations

import json
import lzma
import re
from pathlib import Path

import pytest
from test_real_dump import _merge, _qemu_prot

from npt_explorer.image import decode, open_images
from npt_explorer.image.machine import ImageMachine
from npt_explorer.image.ranges import stage_leaves
from npt_explorer.image.workbench import ImageWorkbench

DATA = Path(__file__).resolve().parent / "data"
ANSWERS = json.loads((DATA / "linux_x86_64_tlb.qemu.json").read_text())
#: print_pte's letters, most significant first, and the bit each reads
LETTERS = (("X", 63), ("G", 8), ("P", 7), ("D", 6), ("A", 5), ("C", 4), ("T", 3), ("U", 2),
           ("W", 1))  # fmt: skip
DEPTH = {0x1000: 3, 0x20_0000: 2, 0x4000_0000: 1}


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> ImageMachine:
    path = tmp_path_factory.mktemp("dump") / "linux.elf"
    path.write_bytes(lzma.decompress((DATA / "linux_x86_64_tlb.elf.xz").read_bytes()))
    memory, files = open_images([str(path)])
    assert files[0].cpus[0]["cr3"] == int(ANSWERS["registers"]["cr3"], 16)
    regs = {k: int(v, 16) for k, v in ANSWERS["registers"].items()}
    return ImageMachine.build(memory, decode("x86_64", regs))


def _letters(raw: int) -> str:
    return "".join(ch if raw >> bit & 1 else "-" for ch, bit in LETTERS)


def test_every_leaf_equals_qemus_info_tlb(machine: ImageMachine) -> None:
    qemu = []
    for line in ANSWERS["info_tlb"]:
        m = re.fullmatch(r"([0-9a-f]+): ([0-9a-f]+) ([-XGPDACTUW]{9})", line.strip())
        assert m, line
        qemu.append((int(m[1], 16), int(m[2], 16), m[3]))
    leaves, problems = stage_leaves(machine, 1)
    assert not problems
    tables = ImageWorkbench(machine, machine.config)
    ours = [
        (lf.start, lf.out, _letters(tables.locate(1, lf.start, DEPTH[lf.size]).raw))
        for lf in leaves
    ]
    assert len(ours) == len(qemu) == 5049  # 4 KiB and 2 MiB leaves of the kernel's tables
    assert ours == qemu


def test_ranges_at_stage_1_equal_qemus_info_mem_on_the_second_boot(
    machine: ImageMachine,
) -> None:
    leaves, _ = stage_leaves(machine, 1)
    ours = _merge([(lf.start, lf.start + lf.size, _qemu_prot(lf.perms)) for lf in leaves])
    qemu = []
    for line in ANSWERS["info_mem"]:
        m = re.fullmatch(r"([0-9a-f]+)-([0-9a-f]+) ([0-9a-f]+) ([-urw]{3})", line.strip())
        assert m, line
        qemu.append((int(m[1], 16), int(m[2], 16), m[4]))
    assert ours == qemu


def test_walks_equal_qemus_gva2gpa_on_the_second_boot(machine: ImageMachine) -> None:
    assert len(ANSWERS["gva2gpa"]) >= 40
    for gva, answer in ANSWERS["gva2gpa"].items():
        walk = machine.walk(int(gva, 16))
        assert walk.ok and walk.gpa == int(answer.removeprefix("gpa: "), 16), gva
