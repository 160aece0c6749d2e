"""The trace op's TLB replay equals a plain set-associative LRU, access by access."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from npt_explorer.engine.trace import _simulate_lru


def plain_lru(tags, sizes, ok, entries, ways):
    hits, sets = [], [[] for _ in range(max(entries // max(ways, 1), 1))]
    for tag, size, fills in zip(tags.tolist(), sizes.tolist(), ok.tolist(), strict=True):
        if not ways:
            hits.append(False)
            continue
        key = (tag, size)
        lru = sets[(tag // size) % len(sets)]
        if key in lru:
            hits.append(True)
            lru.remove(key)
            lru.append(key)
            continue
        hits.append(False)
        if fills:
            if len(lru) >= ways:
                del lru[0]
            lru.append(key)
    return np.array(hits, dtype=bool)


@given(
    pages=st.lists(st.integers(0, 40), min_size=1, max_size=400),
    huge=st.sets(st.integers(0, 40)),
    faulting=st.sets(st.integers(0, 40)),
    geometry=st.sampled_from([(64, 4), (16, 4), (8, 2), (4, 4), (8, 0)]),
)
@settings(max_examples=300, deadline=None)
def test_replay_equals_a_plain_lru(pages, huge, faulting, geometry):
    page = np.array(pages, dtype=np.uint64)
    sizes = np.where(np.isin(page // 8, list(huge)), 0x20_0000, 0x1000).astype(np.uint64)
    addrs = page * np.uint64(0x1000) + np.uint64(0x40)
    tags = addrs & ~(sizes - np.uint64(1))
    ok = ~np.isin(page, list(faulting))
    first_ok = {}  # a 2 MiB entry's pages share one walk, so one verdict
    for i, t in enumerate(tags.tolist()):
        ok[i] = first_ok.setdefault((t, int(sizes[i])), bool(ok[i]))
    entries, ways = geometry
    got = _simulate_lru(tags, sizes, ok, entries, ways)
    assert got.tolist() == plain_lru(tags, sizes, ok, entries, ways).tolist()
