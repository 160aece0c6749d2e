"""The classroom's costs (issue 17): quiz generation per topic, and a diff's two halves —
capturing a machine's state and comparing two — on big guests.

    PYTHONPATH=$PWD python3 benchmarks/classroom_bench.py [--runs 3]

Median wall-clock and CPU seconds of `--runs` runs (setup untimed). Measurements, not tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from npt_explorer.classroom.diff import diff  # noqa: E402
from npt_explorer.classroom.quiz import MIX_ARCHES, TOPICS, generate  # noqa: E402
from npt_explorer.classroom.state import capture  # noqa: E402
from npt_explorer.engine import Machine, MachineConfig  # noqa: E402
from npt_explorer.scenario.session import Session  # noqa: E402
from npt_explorer.tui.timeline import Timeline  # noqa: E402

GVA, GPA = 0x10_0000_0000, 0x4000_0000


def big(pages: int) -> Machine:
    """`pages` 4 KiB guest pages over 2 MiB stage-2 blocks (as tests/tui/big_machine.py)."""
    m = Machine(MachineConfig(arch="x86_64"))
    backed = -(-pages * 0x1000 // 0x20_0000) * 0x20_0000
    m.map(2, GPA, backed, "rwx", hpa=0x1_0000_0000, huge=True, name="guest RAM")
    m.map(1, GVA, pages * 0x1000, "rw", gpa=GPA)
    return m


def timed(runs: int, fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    count = 30
    print("| row | wall | CPU |\n|---|---|---|")
    for topic in TOPICS:
        wall, cpu = timed(
            runs, lambda t=topic: [generate(1, count, arch, t) for arch in MIX_ARCHES]
        )
        n = count * len(MIX_ARCHES)
        print(f"| quiz {topic}, per problem | {1000 * wall / n:.1f} ms | {1000 * cpu / n:.1f} ms |")
    for pages in (10_000, 100_000):
        m = big(pages)
        wall, cpu = timed(runs, lambda m=m: capture(m))
        print(f"| capture, {pages:,} guest pages | {wall:.2f} s | {cpu:.2f} s |")
        a = capture(m)
        m.protect(1, GVA, 0x1_0000, "r")
        b = capture(m)
        wall, cpu = timed(runs, lambda a=a, b=b: diff(a, b))
        row = f"diff of two captures, {pages:,} pages (16 PTEs changed)"
        print(f"| {row} | {wall:.2f} s | {cpu:.2f} s |")
    session = Session.demo("x86_64")  # the TUI's goto/undo: a 100k-page map, then undo
    session.run_line("map stage=2 gpa=0x4000_0000 size=512M flags=rwx hpa=0x1_0000_0000")
    session.run_line(f"map stage=1 gva={GVA:#x} gpa={GPA:#x} size={100_000 * 0x1000:#x} flags=rw")
    session.run_line(f"access gva={GVA + 8:#x} access=read")
    back = len(session.log) - 1
    wall, cpu = timed(runs, lambda: Timeline().rebuild(session, back))
    row = "undo after a 100,000-page map (replay from point 0, in a worker thread)"
    print(f"| {row} | {wall:.2f} s | {cpu:.2f} s |")
    session.run_line("map stage=2 gpa=0x2_0000_0000 size=8G flags=rw hpa=0x20_0000_0000")
    session.run_line(f"access gva={GVA + 8:#x} access=read")
    back = len(session.log) - 1
    wall, cpu = timed(runs, lambda: Timeline().rebuild(session, back))
    row = "undo after that and an 8 GiB map of 4 KiB pages at stage 2 (2,097,152 leaves)"
    print(f"| {row} | {wall:.2f} s | {cpu:.2f} s |")


if __name__ == "__main__":
    main()
