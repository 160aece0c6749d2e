"""One TLB model: a trace replayed through `TlbReplay` and the walk caches gives, access by
access, what `Machine.access` gives on an identical machine — hits, walks, references and the
references that went to memory (combined and stage-2-only entries, dirty refills, faults)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npt_explorer.engine import trace
from npt_explorer.engine.config import MachineConfig
from npt_explorer.engine.machine import Machine
from npt_explorer.engine.trace import KIND_NAMES, TraceReplay

GVA = 0x4000_0000


def machine(arch: str, huge: bool, tlb: tuple[int, int], preset: str | None) -> Machine:
    entries, ways = tlb
    m = Machine(
        MachineConfig(
            arch=arch,
            tlb_entries=entries,
            tlb_ways=max(ways, 1),
            tlb_enabled=ways > 0,
            walk_cache_preset=preset,
        )
    )
    m.map(2, 0x20_0000, 0x200_0000, "rwx", backend="linear", hpa=0x8020_0000, huge=huge)
    # pages 0..31 of 2 MiB regions 0 and 1 mapped; region 2 (pages 1024..) is not: faults
    m.map(1, GVA, 0x40_0000, "rwx", gpa=0x40_0000, huge=huge)
    return m


@given(
    accesses=st.lists(
        st.tuples(
            st.sampled_from([0, 1, 2, 3, 5, 8, 13, 40, 512, 513, 700, 1024]), st.integers(0, 2)
        ),
        min_size=1,
        max_size=120,
    ),
    arch=st.sampled_from(["x86_64", "aarch64", "riscv64"]),
    huge=st.booleans(),
    tlb=st.sampled_from([(8, 2), (4, 4), (16, 4), (8, 0), (4, 1)]),
    preset=st.sampled_from([None, "intel-psc", "amd-pwc-ntlb"]),
)
@settings(max_examples=60, deadline=None)
def test_a_replayed_trace_counts_what_machine_access_counts(accesses, arch, huge, tlb, preset):
    live, replayed = machine(arch, huge, tlb, preset), machine(arch, huge, tlb, preset)
    addrs = np.array([GVA + p * 0x1000 + 0x18 for p, _ in accesses], dtype=np.uint64)
    kinds = np.array([k for _, k in accesses], dtype=np.uint8)
    walks = [live.access(int(a), KIND_NAMES[k]) for a, k in zip(addrs, kinds, strict=True)]
    replay = TraceReplay(replayed)
    half = len(addrs) // 2  # two chunks: state carries over
    replay.feed(addrs[:half], kinds[:half])
    replay.feed(addrs[half:], kinds[half:])
    stats = replay.finish()
    expected_hits = sum(w.tlb == "hit" for w in walks)
    assert (stats.hits, stats.walks) == (expected_hits, len(walks) - expected_hits)
    assert stats.faults == sum(not w.ok for w in walks)
    assert stats.refs == sum(w.refs for w in walks)
    assert stats.mem_refs == sum(w.mem_refs for w in walks)


def test_native_replay_counts_only_the_guest_levels():
    # 4-level guest: a cold native walk reads 4 entries; 24 in the nested one
    m = machine("x86_64", False, (64, 4), None)
    native = TraceReplay(m, native=True)
    native.feed(np.array([GVA], dtype=np.uint64))
    nested = TraceReplay(m)
    nested.feed(np.array([GVA], dtype=np.uint64))
    assert (native.finish().refs, nested.finish().refs) == (4, 24)


def test_native_replay_caches_the_guest_page_size_whatever_stage_2_uses():
    # natively (stage 2 off) one TLB entry covers a 2 MiB guest page (SDM Vol. 3A 4.10.2.3);
    # nested over 4 KiB EPT pages each 4 KiB piece needs its own entry (the smaller size)
    m = Machine(MachineConfig(arch="x86_64"))
    m.map(2, 0x20_0000, 0x200_0000, "rwx", backend="linear", hpa=0x8020_0000, huge=False)
    m.map(1, GVA, 0x40_0000, "rwx", gpa=0x40_0000, huge=True)
    addrs = GVA + 0x1000 * np.arange(32, dtype=np.uint64)  # 32 pages of one 2 MiB guest page
    native, nested = TraceReplay(m, native=True), TraceReplay(m)
    native.feed(addrs)
    nested.feed(addrs)
    assert (native.finish().walks, nested.finish().walks) == (1, 32)


@given(
    seed=st.integers(0, 2**32 - 1),
    pages=st.sampled_from([[0, 1, 2, 3, 5], [0, 1, 512, 513, 2, 40], [0, 1, 2, 3, 5, 8, 13, 40]]),
    tlb=st.sampled_from([(8, 2), (4, 4), (16, 4), (64, 4)]),
    preset=st.sampled_from([None, "amd-pwc-ntlb"]),
    huge=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_skipping_sure_hits_changes_no_count(seed, pages, tlb, preset, huge):
    # trace._alternating skips accesses that are hits for sure; replaying every access instead
    # must give the same counts, histogram and series (long traces over a few pages, where
    # skipping matters)
    rng = np.random.default_rng(seed)
    walk = rng.choice(len(pages), 6000, p=rng.dirichlet(np.ones(len(pages))))
    addrs = GVA + np.array(pages, dtype=np.uint64)[walk] * np.uint64(0x1000)
    kinds = rng.choice(3, len(addrs), p=[0.5, 0.3, 0.2]).astype(np.uint8)

    def replay() -> dict:
        r = TraceReplay(machine("x86_64", huge, tlb, preset))
        for start in range(0, len(addrs), 2500):  # three chunks
            r.feed(addrs[start : start + 2500], kinds[start : start + 2500])
        out = r.finish().to_json()
        del out["seconds"]
        return out

    skipped = replay()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trace, "_alternating", lambda keys, *_: np.zeros(len(keys), dtype=bool))
        assert replay() == skipped


@given(
    accesses=st.lists(st.sampled_from([0, 1, 2, 3, 5, 512]), min_size=30, max_size=300),
    writes=st.integers(0, 2**300),
)
@settings(max_examples=25, deadline=None)
def test_long_replays_with_locality_count_what_machine_access_counts(accesses, writes):
    live, replayed = (machine("x86_64", False, (16, 4), "intel-psc") for _ in range(2))
    addrs = np.array([GVA + p * 0x1000 for p in accesses], dtype=np.uint64)
    kinds = np.array([(writes >> i) & 1 for i in range(len(accesses))], dtype=np.uint8)
    walks = [live.access(int(a), KIND_NAMES[k]) for a, k in zip(addrs, kinds, strict=True)]
    replay = TraceReplay(replayed)
    replay.feed(addrs, kinds)
    stats = replay.finish()
    assert stats.hits == sum(w.tlb == "hit" for w in walks)
    assert stats.mem_refs == sum(w.mem_refs for w in walks)


def test_the_series_by_page_size_averages_each_windows_walks_over_its_accesses():
    # windows of 4 accesses; pages 0-1023 are 4 KiB, 1024.. one 2 MiB page at both stages: each
    # window's value per size = memory references of that size's walks / accesses to that
    # size, as Machine.access counts them
    live, replayed = (machine("x86_64", False, (8, 2), None) for _ in range(2))
    for m in (live, replayed):
        m.map(2, 0x400_0000, 0x20_0000, "rwx", backend="linear", hpa=0x9000_0000, huge=True)
        m.map(1, GVA + 0x40_0000, 0x20_0000, "rwx", gpa=0x400_0000, huge=True)
    pages = [0, 1024, 1, 1025, 0, 0, 1100, 2, 3, 4]
    addrs = np.array([GVA + p * 0x1000 for p in pages], dtype=np.uint64)
    walks = [live.access(int(a), "read") for a in addrs]
    expected: dict[int, list] = {}
    for w in range(3):
        for size in {walk.page_size for walk in walks}:
            mine = [x for x in walks[4 * w : 4 * w + 4] if x.page_size == size]
            value = sum(x.mem_refs for x in mine) / len(mine) if mine else None
            expected.setdefault(size, []).append(value)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trace, "WINDOW", 4)
        replay = TraceReplay(replayed)
        replay.feed(addrs[:5])
        replay.feed(addrs[5:])
        stats = replay.finish()
    assert set(expected) == {0x1000, 0x20_0000}
    assert stats.series_by_size == expected
    assert stats.series == [sum(x.mem_refs for x in walks[k : k + 4]) / 4 for k in (0, 4)] + [
        sum(x.mem_refs for x in walks[8:]) / 2
    ]


def test_a_hit_right_after_a_miss_makes_the_combined_entry_the_most_recent_again():
    # one set of 4 ways; each miss fills the combined entry c then the stage-2-only entry s:
    #   2 miss [c2 s2]; 1 miss [c2 s2 c1 s1]; 1 hit [c2 s2 s1 c1]; 2 hit [s2 s1 c1 c2];
    #   0 miss: c0, s0 evict s2, s1 -> [c1 c2 c0 s0]; 1 hits. Three hits (Machine.access agrees)
    pages = [2, 1, 1, 2, 0, 1]
    m = machine("x86_64", False, (4, 4), None)
    replay = TraceReplay(m)
    replay.feed(np.array([GVA + p * 0x1000 for p in pages], dtype=np.uint64))
    live = machine("x86_64", False, (4, 4), None)
    assert [live.access(GVA + p * 0x1000, "read").tlb for p in pages].count("hit") == 3
    assert replay.finish().hits == 3


def test_a_b_a_c_a_replays_the_middle_a_because_c_may_evict():
    # one set of 4 ways: 1 miss [c1 s1]; 0 miss [c1 s1 c0 s0]; 1 hit [s1 c0 s0 c1];
    # 2 miss: c2, s2 evict s1, c0 -> [s0 c1 c2 s2]; 1 hits. Skipping the middle 1 (as in an
    # A B A B A run) would have left c1 least recent, evicted by 2's fill: a miss
    pages = [1, 0, 1, 2, 1]
    replay = TraceReplay(machine("x86_64", False, (4, 4), None))
    replay.feed(np.array([GVA + p * 0x1000 for p in pages], dtype=np.uint64))
    live = machine("x86_64", False, (4, 4), None)
    assert [live.access(GVA + p * 0x1000, "read").tlb for p in pages].count("hit") == 2
    assert replay.finish().hits == 2
