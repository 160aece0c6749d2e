"""Traces of real programs: Valgrind's Lackey records `/bin/true` (the dynamic loader's work,
~170 k accesses) and `gzip` compressing 200 lines (~550 k) at test time; the replay's counts
are checked against what plain Python reads from the same log. Skipped without valgrind."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from npt_explorer.engine import MachineConfig
from npt_explorer.traces.replay import run_file

PROGRAMS = {
    "true": ["/bin/true"],
    "gzip": ["gzip", "-c", "{input}"],
}

pytestmark = pytest.mark.skipif(
    shutil.which("valgrind") is None,
    reason="valgrind is not installed (Debian package 'valgrind'): no real-program traces",
)


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lackey")
    text = folder / "input.txt"
    text.write_text("".join(f"{(k * 7919) % 200}\n" for k in range(200)))
    out = {}
    for name, argv in PROGRAMS.items():
        log = folder / f"{name}.lackey"
        command = [a.format(input=text) for a in argv]
        if shutil.which(command[0]) is None:
            continue
        subprocess.run(
            ["valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={log}", *command],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )
        out[name] = log
    return out


def plain(log: Path) -> list[tuple[int, str]]:
    """(4 KiB page, kind) of each access, read line by line without numpy: `I  addr,size`
    is a fetch, ` L` a load, ` S` a store, ` M` a load and store through one translation."""
    kinds = {"I": "exec", "L": "read", "S": "write", "M": "write"}
    out = []
    for line in log.read_text().splitlines():
        if line[:3] in ("I  ", " L ", " S ", " M "):
            out.append((int(line[3:].split(",")[0], 16) >> 12, kinds[line.strip()[0]]))
    return out


def trace_of(traces: dict[str, Path], name: str) -> Path:
    if name not in traces:
        pytest.skip(f"{PROGRAMS[name][0]} is not installed")
    return traces[name]


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_the_replay_reads_every_access_lackey_wrote(traces, name):
    log = trace_of(traces, name)
    accesses = plain(log)
    stats = run_file(MachineConfig(), log)
    assert stats.accesses == len(accesses) > 100_000
    assert stats.kinds == dict(Counter(kind for _, kind in accesses))
    assert stats.distinct_pages == len({page for page, _ in accesses})


def test_without_a_tlb_every_access_walks_4_levels_natively_and_24_nested(traces):
    log = trace_of(traces, "true")
    n = len(plain(log))
    native = run_file(MachineConfig(tlb_enabled=False), log, native=True)
    nested = run_file(MachineConfig(tlb_enabled=False), log)
    # x86-64 4-level guest paging over 4-level EPT, 4 KiB pages, no TLB, no walk caches:
    # every access is a cold walk — 4 guest entries natively; nested, each of the 4 guest
    # entries and the final gPA translated through EPT's 4 levels first: 4 × 5 + 4 = 24
    assert (native.walks, native.refs) == (n, 4 * n)
    assert (nested.walks, nested.refs) == (n, 24 * n)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_a_tlb_that_holds_every_page_walks_once_per_page_and_again_at_its_first_write(traces, name):
    log = trace_of(traces, name)
    accesses = plain(log)
    # one set of 4096 ways: nothing is ever evicted. A page's first access walks (24 refs,
    # nested 4 KiB/4 KiB); the first write to a page whose entry a read or fetch filled finds
    # it clean and walks again to set D, taking the final gPA from the stage-2-only entry the
    # first walk filled (EPT without A/D tracks no D): 20 refs
    first: dict[int, str] = {}
    rewalks = set()
    for page, kind in accesses:
        if page not in first:
            first[page] = kind
        elif kind == "write" and first[page] != "write":
            rewalks.add(page)
    stats = run_file(MachineConfig(tlb_entries=4096, tlb_ways=4096), log)
    assert stats.walks == len(first) + len(rewalks)
    assert stats.refs == 24 * len(first) + 20 * len(rewalks)
    assert stats.hits == len(accesses) - stats.walks


def test_walk_caches_serve_most_references_of_a_real_program(traces):
    log = trace_of(traces, "gzip")
    none = run_file(MachineConfig(), log)
    psc = run_file(MachineConfig(walk_cache_preset="intel-psc"), log)
    amd = run_file(MachineConfig(walk_cache_preset="amd-pwc-ntlb"), log)
    # the caches change what reaches memory, never the TLB or the architectural count
    assert (psc.walks, psc.refs) == (amd.walks, amd.refs) == (none.walks, none.refs)
    assert none.mem_refs == none.refs
    for cached in (psc, amd):
        assert cached.mem_refs + sum(cached.served.values()) == cached.refs
        # every walk reads at least its leaf from memory; the caches hide most of the rest
        assert cached.walks <= cached.mem_refs < none.mem_refs / 4
