"""Regenerate the real-dump fixture: a Debian Linux kernel booted under QEMU TCG, its page
tables (built by the kernel itself) dumped with the monitor's `dump-guest-memory`, and QEMU's
own answers recorded beside it (`info registers`, `info mem`, `info tlb`, `gva2gpa` on a
sample). `--name linux_x86_64_tlb` wrote the second fixture (a second boot, with `info tlb`).

    python3 tests/image/make_linux_dump.py [--vmlinuz PATH] [--gdb-pt-dump DIR]

With --gdb-pt-dump (a clone of github.com/martinradev/gdb-pt-dump) it also runs that tool's `pt`
through QEMU's gdbstub on the same stopped machine (gdb-multiarch) and records its output and
time, a second tool's reading of the same tables.

Without --vmlinuz it runs `apt-get download linux-image-6.1.0-47-cloud-amd64` (the only network
use: the package registry). The kernel boots with no root file system and panics; by then its
tables are complete, and the vCPU runs on the kernel's own page table (init_top_pgt).

The committed dump is reduced: the full `dump-guest-memory` ELF (128 MiB) keeps its ELF header
and QEMU notes (the per-vCPU registers) but only the frames the page tables occupy — every
table reachable from CR3, found by walking them — so it stays small; walks and ranges read
nothing else. Writes tests/image/data/linux_x86_64.elf.xz and linux_x86_64.qemu.json.
"""

from __future__ import annotations

import argparse
import json
import lzma
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from npt_explorer.image import decode, open_images  # noqa: E402
from npt_explorer.image.export import PAGE, runs, write_elf  # noqa: E402
from npt_explorer.image.machine import ImageMachine  # noqa: E402
from npt_explorer.image.ranges import table_frames  # noqa: E402

PACKAGE = "linux-image-6.1.0-47-cloud-amd64"
SAMPLE = 48  # gva2gpa addresses


def kernel(tmp: Path, given: str | None) -> Path:
    if given:
        return Path(given)
    subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True)
    deb = next(tmp.glob(f"{PACKAGE}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], check=True)
    return next((tmp / "x" / "boot").glob("vmlinuz-*"))


class Monitor:
    """QEMU's human monitor over a unix socket: one command, its output."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        for _ in range(100):
            try:
                self.sock.connect(str(path))
                break
            except OSError:
                time.sleep(0.1)
        self._until_prompt()

    def _until_prompt(self) -> str:
        data = b""
        while not data.endswith(b"(qemu) "):
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", data.decode(errors="replace"))
        return text.replace("\r", "")[: -len("(qemu) ")]

    def __call__(self, command: str) -> str:
        self.sock.sendall(command.encode() + b"\n")
        out = self._until_prompt()
        lines = out.split("\n")
        return "\n".join(lines[1:]).strip("\n")  # the first line echoes the command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gdb_pt_dump(tool: Path, port: int) -> dict:
    """gdb-pt-dump's `pt` on the stopped machine: its lines (colours stripped) and time."""
    start = time.perf_counter()
    run = subprocess.run(
        ["gdb-multiarch", "-q", "-batch", "-ex", f"source {tool / 'pt.py'}",
         "-ex", f"target remote 127.0.0.1:{port}", "-ex", "pt"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in run.stdout.splitlines()]
    return {"seconds": round(seconds, 2), "lines": [ln for ln in lines if " : " in ln]}


def boot_and_dump(vmlinuz: Path, tmp: Path, tool: Path | None) -> tuple[Path, dict]:
    mon, serial, dump = tmp / "mon.sock", tmp / "serial.log", tmp / "full.elf"
    port = _free_port()
    qemu = subprocess.Popen([
        "qemu-system-x86_64", "-machine", "q35", "-cpu", "qemu64,+smep,+smap", "-m", "128M",
        "-smp", "1", "-display", "none", "-nic", "none", "-no-reboot", "-kernel", str(vmlinuz),
        "-append", "console=ttyS0 panic=0 nokaslr", "-serial", f"file:{serial}",
        "-monitor", f"unix:{mon},server,nowait", "-gdb", f"tcp:127.0.0.1:{port}",
    ])  # fmt: skip
    try:
        deadline = time.time() + 600
        while "Kernel panic" not in (serial.read_text(errors="replace") if serial.exists() else ""):
            if time.time() > deadline or qemu.poll() is not None:
                raise SystemExit("the kernel did not reach its panic")
            time.sleep(1)
        time.sleep(2)
        m = Monitor(mon)
        m("stop")
        registers = m("info registers")
        regs = {
            k.lower(): int(v, 16) for k, v in re.findall(r"\b(CR[034]|EFER)=([0-9a-f]+)", registers)
        }
        info_mem = m("info mem")
        info_tlb = m("info tlb")
        sample = _sample(info_mem)
        gva2gpa = {hex(a): m(f"gva2gpa {a:#x}") for a in sample}
        pt = gdb_pt_dump(tool, port) if tool else None
        m(f"dump-guest-memory {dump}")
        m("quit")
    finally:
        qemu.wait(timeout=60) if qemu.poll() is None else None
    answers = {
        "qemu": subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                               text=True).stdout.splitlines()[0],
        "kernel": vmlinuz.name,
        "registers": {k: hex(v) for k, v in regs.items()},
        "info_mem": info_mem.splitlines(),
        "info_tlb": info_tlb.splitlines(),
        "gva2gpa": gva2gpa,
        **({"gdb_pt_dump": pt} if pt else {}),
        "panic": [ln for ln in serial.read_text(errors="replace").splitlines()
                  if "Kernel panic" in ln][:1],
    }  # fmt: skip
    return dump, answers


def _sample(info_mem: str) -> list[int]:
    """Addresses spread over the mapped ranges (first, middle, last byte of each, cycling)."""
    out = []
    for line in info_mem.splitlines():
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
        if m:
            lo, hi = int(m[1], 16), int(m[2], 16)
            out += [lo, lo + ((hi - lo) // 2 & ~0xFFF) + 0x123, hi - 8]
    step = max(1, len(out) // SAMPLE)
    return out[::step][:SAMPLE]


def reduce(full: Path, answers: dict, out: Path) -> int:
    """The dump with only its table frames (and its notes), as an ELF."""
    memory, _ = open_images([str(full)])
    regs = {k: int(v, 16) for k, v in answers["registers"].items()}
    machine = ImageMachine.build(memory, decode("x86_64", regs))
    frames = {t >> 12: memory.read_bytes(t, PAGE) for t in table_frames(machine, 1)}
    with open(out, "wb") as f:
        write_elf(f, "x86_64", frames, _notes(full))
    return len(runs(frames))


def _notes(path: Path) -> bytes:
    """The PT_NOTE segment's bytes, verbatim (QEMU's CORE and QEMU per-vCPU notes)."""
    import struct

    data = path.read_bytes()[: 1 << 20]
    phoff, phentsize, phnum = (
        struct.unpack_from("<Q", data, 32)[0],
        *struct.unpack_from("<HH", data, 54),
    )
    for n in range(phnum):
        p_type, _, off, _, _, filesz, _, _ = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + n * phentsize
        )
        if p_type == 4:
            with open(path, "rb") as f:
                f.seek(off)
                return f.read(filesz)
    return b""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vmlinuz")
    ap.add_argument("--gdb-pt-dump", type=Path, help="a gdb-pt-dump checkout")
    ap.add_argument("--name", default="linux_x86_64", help="fixture name (linux_x86_64_tlb: "
                    "the second boot, whose answers include `info tlb`)")  # fmt: skip
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        full, answers = boot_and_dump(kernel(tmp, ns.vmlinuz), tmp, ns.gdb_pt_dump)
        reduced = tmp / "reduced.elf"
        loads = reduce(full, answers, reduced)
        data = HERE / "data"
        (data / f"{ns.name}.elf.xz").write_bytes(lzma.compress(reduced.read_bytes()))
        (data / f"{ns.name}.qemu.json").write_text(json.dumps(answers, indent=1) + "\n")
        print(f"full dump {full.stat().st_size >> 20} MiB → {reduced.stat().st_size >> 10} KiB, "
              f"{loads} PT_LOADs; {len(answers['info_mem'])} info mem lines")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
