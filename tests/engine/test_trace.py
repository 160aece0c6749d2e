"""The trace op: many accesses through the TLB geometry, counted without touching the machine."""

from __future__ import annotations

import numpy as np
import pytest

from npt_explorer.engine import PagingError
from npt_explorer.engine.machine import Machine
from npt_explorer.engine.trace import addresses, run_trace


def guest(huge: bool) -> Machine:
    m = Machine(arch="x86_64", tlb_entries=64, tlb_ways=4)
    m.map(2, 0x20_0000, 0x100_0000, "rwx", backend="linear", hpa=0x8020_0000, huge=huge)
    m.map(1, 0x4000_0000, 0x80_0000, "rw", gpa=0x40_0000, huge=huge)
    return m


def test_sequential_4k_trace_walks_once_per_page_then_hits():
    m = guest(huge=False)
    stats = run_trace(m, 0x4000_0000, 0x40_000, 4096, pattern="sequential")
    # 64-byte steps: 64 accesses per 4 KiB page, one walk each, 24 reads per walk
    assert (stats.walks, stats.hits, stats.faults) == (64, 4096 - 64, 0)
    assert stats.refs == 64 * 24 and stats.page_sizes == {0x1000: 4096}
    assert stats.refs_per_access == pytest.approx(24 / 64)


def test_2m_pages_multiply_tlb_reach_on_the_same_random_trace():
    small = run_trace(guest(False), 0x4000_0000, 0x80_0000, 20_000, pattern="random", seed=7)
    large = run_trace(guest(True), 0x4000_0000, 0x80_0000, 20_000, pattern="random", seed=7)
    assert small.hit_rate < 0.05 < 0.99 < large.hit_rate
    assert large.page_sizes == {0x20_0000: 20_000} and large.walks == 4


def test_a_trace_leaves_the_machine_untouched():
    m = guest(False)
    log = len(m.log)
    run_trace(m, 0x4000_0000, 0x1_0000, 1000, pattern="stride", stride=0x1000)
    assert m.tlb_entries() == [] and len(m.log) == log
    assert m.entry(1, 0x4000_0000, 3)[1].field("A") == 0


def test_unmapped_pages_count_as_faulting_walks_and_never_fill():
    m = guest(False)
    stats = run_trace(m, 0x4000_0000 + 0x80_0000, 0x2000, 100, pattern="stride", stride=0x1000)
    assert (stats.faults, stats.walks, stats.hits) == (100, 100, 0)


def test_address_patterns():
    seq = addresses(0x1000, 0x100, 6, "sequential", 0, 0)
    assert seq.tolist() == [0x1000, 0x1040, 0x1080, 0x10C0, 0x1000, 0x1040]
    stride = addresses(0x1000, 0x3000, 4, "stride", 0x1000, 0)
    assert stride.tolist() == [0x1000, 0x2000, 0x3000, 0x1000]
    rnd = addresses(0x1000, 0x1000, 1000, "random", 0, 3)
    assert rnd.dtype == np.uint64 and rnd.min() >= 0x1000 and rnd.max() < 0x2000
    with pytest.raises(PagingError):
        addresses(0, 0x1000, 10, "zigzag", 0, 0)


@pytest.mark.parametrize(
    ("gva", "size", "pattern", "stride", "kind"),
    [
        (0x1000, 4, "random", 0, "InvalidRequest"),  # random offsets are 8-byte aligned
        (-1, 0x10, "sequential", 0, "InvalidAddress"),
        (0, 1 << 70, "random", 0, "InvalidAddress"),
        ((1 << 64) - 0x1000, 0x2000, "sequential", 0, "InvalidAddress"),  # would wrap
        (0, 0x1000, "stride", -0x1000, "InvalidAddress"),
    ],
)
def test_a_trace_the_addresses_cannot_hold_is_refused_with_a_paging_error(
    gva, size, pattern, stride, kind
):
    with pytest.raises(PagingError) as err:
        addresses(gva, size, 10, pattern, stride, 0)
    assert err.value.kind == kind
