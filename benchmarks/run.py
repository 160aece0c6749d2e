"""Every performance target of issue 7, and issue 4's trace figures, in one table.

    python benchmarks/run.py [--runs 5] [--skip-tui] [--skip-big]

Each row is timed `--runs` times (setup untimed) and reported as the median, min and max of
wall-clock time, with the median CPU time of the same runs (on a busy machine CPU time is the
better guide to an idle one). The 64 GiB build runs in a fresh subprocess per run so its
resident-memory growth is its own; `npt-explorer replay` and the TUI's first screen run as the
installed console script. These are measurements, not tests: nothing fails on a miss.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from npt_explorer.engine import MappingFlags, PageTable  # noqa: E402
from npt_explorer.engine.machine import Machine  # noqa: E402
from npt_explorer.engine.trace import run_trace  # noqa: E402

RW = MappingFlags.READ | MappingFlags.WRITE
GIB, M2 = 1 << 30, 1 << 21
LEAVES = GIB >> 12
BIG = """
import json, time
from npt_explorer.engine.machine import Machine
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) * 1024
m = Machine(arch="x86_64")
before = rss()
start, cpu = time.perf_counter(), time.process_time()
m.map(2, 1 << 36, 64 << 30, "rw", hpa=1 << 44, huge=False)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "grown": rss() - before, "tables": m.npt.frames_in_use * 4096}))
"""


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def per(self, count: int) -> Timing:
        """Seconds per item."""
        return Timing([w / count for w in self.wall], [c / count for c in self.cpu])

    def rate(self, count: int) -> Timing:
        """Items per second."""
        return Timing([count / w for w in self.wall], [count / c for c in self.cpu if c])


def timed(setup: Callable[[], object], body: Callable[[object], object], runs: int) -> Timing:
    """Wall and CPU seconds of `body(setup())`, `runs` times."""
    out = Timing()
    for _ in range(runs):
        state = setup()
        start, cpu = time.perf_counter(), time.process_time()
        body(state)
        out.cpu.append(time.process_time() - cpu)
        out.wall.append(time.perf_counter() - start)
    return out


@dataclass
class Row:
    """One measurement; `met` judges the median wall value (else says if CPU time would)."""

    name: str
    target: str
    unit: str
    timing: Timing
    met: Callable[[float], bool] | None = None
    note: str = ""

    def cells(self) -> list[str]:
        wall, cpu = self.timing.wall, self.timing.cpu
        fmt = _format(self.unit)
        med = statistics.median(wall)
        verdict = ""
        if self.met is not None:
            if self.met(med):
                verdict = "yes"
            elif cpu and self.met(statistics.median(cpu)):
                verdict = "CPU time only"
            else:
                verdict = "**no**"
        cpu_cell = fmt(statistics.median(cpu)) if cpu else ""
        return [self.name, self.target, fmt(med), fmt(min(wall)), fmt(max(wall)), cpu_cell,
                verdict, self.note]  # fmt: skip


def _format(unit: str) -> Callable[[float], str]:
    return {
        "ms": lambda v: f"{v * 1e3:.2f} ms",
        "us": lambda v: f"{v * 1e6:.2f} µs",
        "s": lambda v: f"{v:.2f} s",
        "rate": lambda v: f"{v / 1e6:.2f} M/s",
        "ratio": lambda v: f"{v:.2f}×",
        "pct": lambda v: f"{v * 100:.2f} %",
    }[unit]


def under(limit: float) -> Callable[[float], bool]:
    return lambda v: v <= limit


def over(limit: float) -> Callable[[float], bool]:
    return lambda v: v >= limit


# ------------------------------------------------------------------------ one stage, bulk


def mapped(size: int = GIB, huge: bool = False, at: int = 0x4000_0000) -> PageTable:
    pt = PageTable("ept")
    pt.map_region(at, 0x1_0000_0000 + (at & (GIB - 1)), size, RW, allow_huge=huge)
    return pt


def bulk_rows(runs: int) -> list[Row]:
    def ns_page(t: Timing, seed: str) -> str:
        return f"{statistics.median(t.wall) / LEAVES * 1e9:.0f} ns/page (seed {seed})"

    fresh = lambda: PageTable("ept")  # noqa: E731
    map4k = timed(fresh, lambda pt: pt.map_region(0x4000_0000, 0x1_0000_0000, GIB, RW), runs)
    unmap4k = timed(mapped, lambda pt: pt.unmap_region(0x4000_0000, GIB), runs)
    protect4k = timed(mapped, lambda pt: pt.protect_region(0x4000_0000, GIB, "r"), runs)
    map2m = timed(
        fresh, lambda pt: pt.map_region(M2, 0x1_0000_0000 + M2, GIB, RW, allow_huge=True), runs
    )
    map1g = timed(
        fresh, lambda pt: pt.map_region(GIB, 0x1_0000_0000, GIB, RW, allow_huge=True), runs
    )
    unmap2m = timed(lambda: mapped(huge=True, at=M2), lambda pt: pt.unmap_region(M2, GIB), runs)
    return [
        Row("map_region 1 GiB, 4 KiB pages (262,144 leaves)", "≤ 20 ms", "ms", map4k,
            under(0.020), ns_page(map4k, "7–14")),
        Row("unmap_region of the same", "≤ 20 ms", "ms", unmap4k, under(0.020),
            ns_page(unmap4k, "3–16")),
        Row("protect_region of the same", "—", "ms", protect4k),
        Row("map_region 1 GiB, huge pages (512 × 2 MiB)", "≤ 1 ms", "ms", map2m, under(0.001)),
        Row("map_region 1 GiB, huge pages (one 1 GiB leaf)", "≤ 1 ms", "ms", map1g,
            under(0.001)),
        Row("unmap_region 1 GiB of 2 MiB pages", "≤ 1 ms", "ms", unmap2m, under(0.001)),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- scalar paths


def guest(huge: bool = False, pages: int = 8192) -> Machine:
    """An x86-64 guest over EPT: `pages` guest pages, 4 KiB (or 2 MiB) at both stages."""
    m = Machine(arch="x86_64")
    size = max(pages * 4096, M2)
    m.map(2, 0x4000_0000, 2 * size, "rwx", hpa=0x8000_0000, huge=huge)
    m.map(1, 0x10_0000_0000, size, "rw", gpa=0x4000_0000, huge=huge)
    return m


def scalar_rows(runs: int) -> list[Row]:
    pt = mapped(size=64 << 20)
    addrs = [0x4000_0000 + (i * 0x1000) % (64 << 20) + 0x18 for i in range(4096)] * 5

    def queries(query: Callable[[int], object]) -> None:
        for addr in addrs:  # results dropped, as a caller's would be (a list of them costs GC)
            query(addr)

    query = timed(lambda: pt.query, queries, runs).per(len(addrs))

    def cold_machine() -> tuple[Machine, list[int]]:
        m = guest(pages=8192)
        m.translate(0x10_0000_0000, "read")  # one walk: the classes of entries are known
        return m, [0x10_0000_0000 + (i * 7919 % 8192) * 4096 + 0x40 for i in range(1, 1001)]

    def cold_walks(state: tuple[Machine, list[int]]) -> None:
        m, gvas = state
        for gva in gvas:  # every page walked for the first time
            m.translate(gva, "read")

    cold = timed(cold_machine, cold_walks, runs).per(1000)
    first = timed(lambda: guest(pages=512), lambda m: m.translate(0x10_0000_1234, "read"), runs)
    walk = guest(pages=512).translate(0x10_0000_1234, "read")
    assert walk.ok and walk.refs == 24
    return [
        Row("query, one address", "≤ 2 µs", "us", query, under(2e-6), "EPT, 4 KiB leaf"),
        Row("translate 4×4, cold page, full step trace (24 refs)", "≤ 100 µs", "us", cold,
            under(100e-6), "Machine.translate of a page no walk has touched"),
        Row("translate 4×4, first walk on a new machine", "—", "us", first, None,
            "every entry class decoded for the first time"),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- batch paths


def batch_rows(runs: int) -> list[Row]:
    rng = np.random.default_rng(7)
    n = 1_000_000
    pt = mapped()
    vaddrs = (np.uint64(0x4000_0000) + rng.integers(0, GIB, n, dtype=np.uint64)).astype(np.uint64)
    pt.query_many(vaddrs[:1000])
    query = timed(lambda: None, lambda _: pt.query_many(vaddrs), runs).rate(n)
    m = Machine(arch="x86_64", pool_size=4 << 20)
    m.map(2, 0x4000_0000, GIB, "rwx", hpa=0x8000_0000, huge=False)
    m.map(1, 0x10_0000_0000, GIB // 2, "rw", gpa=0x4000_0000)
    gvas = np.uint64(0x10_0000_0000) + rng.integers(0, GIB // 2, n, dtype=np.uint64)
    gvas = gvas.astype(np.uint64)
    m.translate_many(gvas[:1000], "read")
    walks = timed(lambda: None, lambda _: m.translate_many(gvas, "read"), runs).rate(n)
    return [
        Row("query_many, 1,000,000 random addresses, one stage", "≥ 10 M/s", "rate", query,
            over(10e6), "4-level EPT, 1 GiB of 4 KiB pages"),
        Row("translate_many, 1,000,000 random gVAs, both stages", "≥ 2 M/s", "rate", walks,
            over(2e6), "4×4, 512 MiB of 4 KiB pages at both stages; permissions checked"),
    ]  # fmt: skip


def big_rows(runs: int) -> list[Row]:
    build, ratio = Timing(), Timing()
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", BIG], capture_output=True, text=True, check=True, cwd=ROOT
        )
        result = json.loads(out.stdout)
        build.wall.append(result["seconds"])
        build.cpu.append(result["cpu"])
        ratio.wall.append(result["grown"] / result["tables"])
    return [
        Row("64 GiB guest, 4 KiB pages (16M EPT leaves): build", "≤ 10 s", "s", build,
            under(10), "Machine.map, stage 2, linear"),
        Row("… memory: resident growth / table bytes (128 MiB)", "≤ 1.5×", "ratio", ratio,
            under(1.5), "fresh subprocess per run"),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- trace, replay


def trace_rows(runs: int) -> list[Row]:
    small, large = guest(huge=False), guest(huge=True)
    args = (0x10_0000_0000, 8192 * 4096, 1_000_000)
    random = timed(lambda: small, lambda m: run_trace(m, *args, pattern="random", seed=1), runs)
    seq = timed(lambda: small, lambda m: run_trace(m, *args, pattern="sequential"), runs)
    hit_4k = run_trace(small, *args, pattern="random", seed=1).hit_rate
    hit_2m = run_trace(large, *args, pattern="random", seed=1).hit_rate
    rate = 1e6 / statistics.median(random.wall)
    return [
        Row("trace: 1M random accesses over 8192 4 KiB pages", "few s (≤ 3 s)", "s", random,
            under(3), f"{rate / 1e6:.2f} M accesses/s"),
        Row("trace: 1M sequential accesses, same pages", "—", "s", seq, None,
            f"{1e6 / statistics.median(seq.wall) / 1e6:.1f} M accesses/s"),
        Row("trace hit rate, 4 KiB mappings (64-entry 4-way TLB)", "—", "pct", Timing([hit_4k])),
        Row("trace hit rate, 2 MiB mappings, the same trace", "—", "pct", Timing([hit_2m])),
    ]  # fmt: skip


def replay_rows(runs: int) -> list[Row]:
    files = sorted(str(p) for p in (ROOT / "scenarios").glob("*.toml"))
    script = Path(sys.executable).with_name("npt-explorer")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "npt_explorer"]
    times = Timing()
    for _ in range(runs):
        before = os.times()
        start = time.perf_counter()
        subprocess.run([*cmd, "replay", *files], capture_output=True, cwd=ROOT, check=False)
        times.wall.append(time.perf_counter() - start)
        after = os.times()
        times.cpu.append(
            after.children_user + after.children_system
            - before.children_user - before.children_system
        )  # fmt: skip
    return [
        Row(f"`npt-explorer replay scenarios/*.toml` ({len(files)} files)", "≤ 2 s", "s", times,
            under(2), "whole process: interpreter start, imports, report"),
    ]  # fmt: skip


def tui_rows(runs: int) -> list[Row]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from tui_bench import pty_run  # the TUI section's own driver
    except Exception as err:  # noqa: BLE001 - the TUI's bench helpers may be absent
        return [Row("TUI first screen", "≤ 1.5 s", "s", Timing([float("nan")]), None, f"{err}")]
    firsts = Timing()
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(runs):
            firsts.wall.append(pty_run((160, 48), Path(cwd))[0])
    return [
        Row("TUI first screen (pty 160×48)", "≤ 1.5 s", "s", firsts, under(1.5),
            "benchmarks/tui_bench.py's driver"),
    ]  # fmt: skip


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} CPUs; Python {platform.python_version()}, "
        f"numpy {np.__version__}; load average {load}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-tui", action="store_true")
    parser.add_argument("--skip-big", action="store_true", help="skip the 64 GiB build")
    args = parser.parse_args()
    print(f"before: {machine_line()}\n")
    few = max(3, args.runs // 2)
    rows = bulk_rows(args.runs) + scalar_rows(args.runs) + batch_rows(args.runs)
    rows += [] if args.skip_big else big_rows(few)
    rows += trace_rows(few) + replay_rows(args.runs)
    rows += [] if args.skip_tui else tui_rows(few)
    header = ["measurement", "target", "median", "min", "max", "CPU median", "met", "note"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")
    print(f"\nafter: {machine_line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
