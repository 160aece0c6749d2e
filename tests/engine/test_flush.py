"""Every changing `PageTable` call returns its `Flush`, as the seed 0.5 returns a `TlbFlush`
per map/unmap/remap/protect and a `TlbFlushAll` per region call (seed-crates.md §1.9–1.10):
the input addresses it changed (None past 32: flush everything) and the table frames it
wrote, which the machine's TLB uses to find what went stale."""

from __future__ import annotations

import pytest

from npt_explorer.engine import Flush, MappingFlags, PageTable, PagingError

K4, M2 = 0x1000, 0x20_0000
R, RW = MappingFlags.READ, MappingFlags.READ | MappingFlags.WRITE


def table_path(pt: PageTable, va: int) -> list[int]:
    """The table frames a walk of `va` reads, root first."""
    return [ref.table for ref in pt.path(va)]


def test_map_returns_the_page_and_every_frame_it_wrote_new_tables_too():
    pt = PageTable("x86-64")
    flush = pt.map(0x1234, 0x5000, K4, R)
    assert flush.pages == (0x1234,)
    assert flush.frames == frozenset(table_path(pt, 0x1234))  # root, PDPT, PD, PT
    assert pt.last_flush == flush


def test_remap_and_protect_return_the_page_size_and_the_leafs_frame():
    pt = PageTable("x86-64")
    pt.map(0x1000, 0x5000, K4, R)
    leaf_table = table_path(pt, 0x1000)[-1]
    assert pt.protect(0x1000, RW) == (K4, Flush((0x1000,), frozenset({leaf_table})))
    assert pt.remap(0x1000, 0x7000, R) == (K4, Flush((0x1000,), frozenset({leaf_table})))


def test_unmap_returns_base_flags_size_and_flush():
    pt = PageTable("x86-64")
    pt.map(0x20_0000, 0x4000_0000, M2, RW)
    pd = table_path(pt, 0x20_0000)[-1]
    assert pt.unmap(0x21_0000) == (0x4000_0000, RW, M2, Flush((0x21_0000,), frozenset({pd})))


def test_region_calls_return_one_flush_that_becomes_flush_all_past_32_pages():
    pt = PageTable("x86-64")
    small = pt.map_region(0, 0, 32 * K4, R)
    assert small.pages == tuple(range(0, 32 * K4, K4))
    reflagged = pt.protect_region(0, 32 * K4, RW)
    assert reflagged.pages is not None and len(reflagged.pages) == 32
    assert pt.map_region(0x10_0000, 0x10_0000, 33 * K4, R).pages is None
    unmapped = pt.unmap_region(0, 32 * K4)
    assert unmapped.frames == frozenset({table_path(pt, 0)[-1]})


def test_a_poke_names_no_page_only_the_frame_it_wrote():
    """Which translations a raw write changes depends on the entry's level: the TLB finds
    them by the frame."""
    pt = PageTable("x86-64")
    pt.map(0x1000, 0x5000, K4, R)
    root_entry = pt.path(0x1000)[0]
    assert pt.poke(root_entry.addr, 0) == Flush((), frozenset({pt.root}))


def test_a_failed_call_returns_nothing_and_keeps_the_last_flush():
    pt = PageTable("x86-64")
    done = pt.map(0x1000, 0x5000, K4, R)
    with pytest.raises(PagingError):
        pt.map(0x1000, 0x6000, K4, R)  # AlreadyMapped
    assert pt.last_flush == done


def test_a_call_inside_a_transaction_returns_its_own_part():
    pt = PageTable("x86-64")
    with pt.atomic() as outer:
        pt.map(0x1000, 0x5000, K4, R)
        inner = pt.map(0x2000, 0x6000, K4, R)
    assert inner == Flush((0x2000,), frozenset({table_path(pt, 0x2000)[-1]}))
    assert outer.flush.pages == (0x1000, 0x2000) and pt.last_flush == outer.flush
