"""Issue 18: what a nested walk costs on a real program's trace, and how fast the replay runs.

    benchmarks/make_trace.sh /tmp/sort.lackey        # Valgrind Lackey on GNU sort (11 M accesses)
    benchmarks/make_kv_trace.sh /tmp/kv.lackey       # CPython, a 32 MiB blob store (73.5 M)
    python benchmarks/trace_bench.py /tmp/sort.lackey [--table] [--throughput]

--table: references per TLB miss and per access for {native, nested} x {4K, 2M, 1G at each
stage} x {no caches, intel-psc, amd-pwc-ntlb} (markdown on stdout).
--throughput: Lackey parsing, and the replay through TLB + walk caches of the first 10 M
accesses (parsing excluded), with resident memory after 1 M and after 10 M accesses.
--end-to-end [RUNS]: `npt-explorer trace FILE --walk-caches intel-psc --json` as a process,
wall and CPU seconds and peak RSS per run (what a user waits for: start-up, parse, replay).
Measurements, not tests.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from npt_explorer.engine.config import MachineConfig  # noqa: E402
from npt_explorer.engine.machine import Machine  # noqa: E402
from npt_explorer.engine.trace import SIZES, TraceMapper, TraceReplay  # noqa: E402
from npt_explorer.traces.files import CHUNK, read  # noqa: E402
from npt_explorer.traces.replay import trace_config  # noqa: E402

CACHES = (None, "intel-psc", "amd-pwc-ntlb")


def load(path: str) -> tuple[np.ndarray, np.ndarray, float]:
    start = time.perf_counter()
    chunks = list(read(path))
    seconds = time.perf_counter() - start
    return (
        np.concatenate([a for a, _ in chunks]),
        np.concatenate([k for _, k in chunks]),
        seconds,
    )


def replay(addrs, kinds, preset, s1="4K", s2="4K", native=False):  # type: ignore[no-untyped-def]
    m = Machine(trace_config(MachineConfig(walk_cache_preset=preset)))
    r = TraceReplay(m, native=native, mapper=TraceMapper(m, SIZES[s1], SIZES[s2]))
    start = time.perf_counter()
    for i in range(0, len(addrs), CHUNK):
        r.feed(addrs[i : i + CHUNK], kinds[i : i + CHUNK])
    seconds = time.perf_counter() - start
    return r.finish(), seconds


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(addrs: np.ndarray, kinds: np.ndarray, modes: tuple[str, ...]) -> None:
    pages = {size: np.unique(addrs >> shift).size for size, shift in (("4 KiB", 12), ("2 MiB", 21))}
    print(f"{len(addrs):,} accesses; distinct pages: "
          + ", ".join(f"{n:,} of {size}" for size, n in pages.items()))  # fmt: skip
    print("| walk | guest page | stage-2 page | walk caches | TLB hit rate | refs / miss |"
          " memory refs / miss | memory refs / access |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    runs = [("native", s1, "—") for s1 in SIZES] + [
        ("nested", s1, s2) for s1 in SIZES for s2 in SIZES
    ]
    runs = [r for r in runs if r[0] in modes]
    for mode, s1, s2 in runs:
        for preset in CACHES:
            st, _ = replay(addrs, kinds, preset, s1, "4K" if s2 == "—" else s2, mode == "native")
            print(
                f"| {mode} | {s1} | {s2} | {preset or 'none'} | {st.hit_rate:.4%} | "
                f"{st.refs_per_walk:.2f} | {st.mem_refs_per_walk:.2f} | "
                f"{st.mem_refs_per_access:.5f} |",
                flush=True,
            )


def throughput(path: str, addrs: np.ndarray, kinds: np.ndarray, parse_s: float) -> None:
    n = min(len(addrs), 10_000_000)
    print(f"parse {Path(path).name}: {len(addrs):,} accesses in {parse_s:.2f} s = "
          f"{len(addrs) / parse_s / 1e6:.2f} M/s")  # fmt: skip
    for preset in CACHES:
        before = rss_mb()
        st1, _ = replay(addrs[:1_000_000], kinds[:1_000_000], preset)
        after1 = rss_mb()
        st, seconds = replay(addrs[:n], kinds[:n], preset)
        print(f"replay {n:,} accesses, walk caches {preset or 'none'}: {seconds:.2f} s = "
              f"{n / seconds / 1e6:.2f} M accesses/s ({st.walks:,} walks); max RSS "
              f"{before:.0f} MB before, {after1:.0f} MB after 1 M, {rss_mb():.0f} MB after "
              f"{n / 1e6:.0f} M", flush=True)  # fmt: skip


def end_to_end(path: str, runs: int) -> None:
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root}
    argv = [sys.executable, "-m", "npt_explorer", "trace", path, "--walk-caches", "intel-psc"]
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        out = subprocess.run([*argv, "--json"], env=env, capture_output=True, check=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        n = int(out.stdout.split(b'"accesses": ')[1].split(b",")[0])
        print(f"end to end {n:,} accesses: wall {wall:.2f} s = {n / wall / 1e6:.2f} M/s, CPU "
              f"{cpu:.2f} s = {n / cpu / 1e6:.2f} M/s, peak RSS {after.ru_maxrss / 1024:.0f} MB "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("trace")
    p.add_argument("--table", action="store_true")
    p.add_argument("--throughput", action="store_true")
    p.add_argument("--end-to-end", type=int, nargs="?", const=3, metavar="RUNS")
    p.add_argument("--only", choices=("native", "nested"), help="the table's rows of one mode")
    a = p.parse_args()
    if a.end_to_end:
        end_to_end(a.trace, a.end_to_end)
        if not (a.table or a.throughput):
            return
    addrs, kinds, parse_s = load(a.trace)
    if a.throughput or not a.table:
        throughput(a.trace, addrs, kinds, parse_s)
    if a.table or not a.throughput:
        table(addrs, kinds, (a.only,) if a.only else ("native", "nested"))


if __name__ == "__main__":
    main()
