"""Memory images (issue #13): open a 64 GiB sparse image; `image walk --accesses` on 100 000
addresses; `image ranges` over a Linux kernel's tables (the real-dump fixture).

    python benchmarks/image_bench.py [--runs 3]

Each figure is the median of `--runs` fresh subprocesses (wall time and the child's peak RSS),
so interpreter start-up and imports are included, as a user would see them. Measurements, not
tests: nothing fails on a miss.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from npt_explorer.engine import MappingFlags  # noqa: E402
from npt_explorer.engine.machine import Machine  # noqa: E402
from npt_explorer.image_cli import export_machine  # noqa: E402

REAL_DUMP = ROOT / "tests" / "image" / "data" / "linux_x86_64.elf.xz"
PAGES = 100_000


def _cli(*args: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one `npt-explorer` run in a fresh
    process, its output thrown away (as a pipe to a fast reader would)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "npt_explorer", *args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"npt-explorer {' '.join(args)}: {run.stderr.strip()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024


def _median(runs: int, *args: str) -> tuple[float, float, float]:
    results = [_cli(*args) for _ in range(runs)]
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
        max(r[2] for r in results),
    )


def bench_sparse(tmp: Path, runs: int) -> str:
    path = tmp / "sparse.raw"
    with open(path, "wb") as f:
        f.truncate(64 << 30)  # a hole: no block is allocated
    wall, cpu, rss = _median(runs, "image", "info", f"{path}@0")
    from npt_explorer.image import open_images

    start = time.perf_counter()
    memory, _ = open_images([f"{path}@0"])
    memory.peek_frame((32 << 30) >> 12)  # and read a frame in the middle
    inner = time.perf_counter() - start
    return (
        f"| open a 64 GiB sparse raw image: `image info` (process incl. start-up) | {wall:.2f} s"
        f" | {cpu:.2f} s | {rss:.0f} MiB |\n| the same open + one frame read, in-process | "
        f"{inner * 1e3:.1f} ms | — | — |"
    )


def _guest(tmp: Path) -> tuple[Path, Path]:
    """An x86 guest with 100 000 mapped 4 KiB pages (EPT 4 KiB too), exported; the accesses."""
    m = Machine(arch="x86_64", pool_size=0x100_0000)
    size = PAGES << 12
    m.map(2, 0x4000_0000, size, "rw", backend="linear", hpa=0x1_0000_0000)
    m.map(1, 0x7F00_0000_0000, size, MappingFlags.READ | MappingFlags.WRITE, gpa=0x4000_0000)
    image = tmp / "guest.elf"
    export_machine(m, image)
    accesses = [
        {"gva": hex(0x7F00_0000_0000 + (n * 7919 % PAGES << 12) + 8), "access": "read",
         "priv": "kernel"}
        for n in range(PAGES)
    ]  # fmt: skip
    path = tmp / "accesses.json"
    path.write_text(json.dumps(accesses))
    return image, path


def bench_walks(tmp: Path, runs: int, json_too: bool = True) -> list[str]:
    image, accesses = _guest(tmp)
    rows = []
    kinds = (("text", ()), ("--json", ("--json",)))
    for label, extra in kinds if json_too else kinds[:1]:
        wall, cpu, rss = _median(
            1, "image", "walk", str(image), "--accesses", str(accesses), *extra
        )
        rows.append(
            f"| `image walk --accesses` 100 000 4×4 walks, {label} | {wall:.1f} s | {cpu:.1f} s "
            f"({PAGES / cpu:,.0f} walks/s) | {rss:.0f} MiB |"
        )
    from npt_explorer.image_cli import _machine, _parser, batch_lines

    ns = _parser("walk").parse_intermixed_args([str(image), "0"])
    machine = _machine(ns, [str(image)])
    gvas = [int(a["gva"], 16) for a in json.loads(accesses.read_text())]
    start = time.process_time()
    for gva in gvas:
        machine.walk(gva, "read")
    cpu = time.process_time() - start
    rows.append(
        f"| the same walks in-process, scalar walker, no output | — | {cpu:.2f} s "
        f"({PAGES / cpu:,.0f} walks/s) | — |"
    )
    start = time.process_time()
    for _ in batch_lines(machine, [(g, "read", "kernel") for g in gvas]):
        pass
    cpu = time.process_time() - start
    rows.append(
        f"| the same walks in-process, `batch_lines` (vector walker, lines formatted) | — | "
        f"{cpu:.2f} s ({PAGES / cpu:,.0f} walks/s) | — |"
    )
    return rows


def bench_ranges(tmp: Path, runs: int) -> str:
    if not REAL_DUMP.exists():
        return "| `image ranges` over the Linux dump | (fixture missing) | — | — |"
    import lzma

    elf = tmp / "linux.elf"
    elf.write_bytes(lzma.decompress(REAL_DUMP.read_bytes()))
    wall, cpu, rss = _median(runs, "image", "ranges", str(elf), "--stage", "1")
    return (
        f"| `image ranges --stage 1` over the Linux x86_64 kernel's tables (119 runs) | "
        f"{wall:.2f} s | {cpu:.2f} s | {rss:.0f} MiB |"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-json", action="store_true", help="not the ~4 min --json walks")
    ns = ap.parse_args()
    print("| measurement | median wall | median CPU | peak RSS |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(bench_sparse(tmp, ns.runs), flush=True)
        for row in bench_walks(tmp, ns.runs, json_too=not ns.skip_json):
            print(row, flush=True)
        print(bench_ranges(tmp, ns.runs), flush=True)
    print(f"\nload average: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
