"""Long address traces through the machine's TLB geometry: hit rate, walks, references per
access, page-size histogram.

Addresses are generated with numpy; each distinct page is walked once (side-effect free, like
`translate`); then a set-associative LRU TLB of the machine's geometry replays the whole trace.
The machine's own TLB and tables are left untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import PagingError
from .flags import Access, Priv

PATTERNS = ("sequential", "random", "stride")
#: sequential traces step one cache line at a time
LINE = 64


@dataclass(slots=True)
class TraceStats:
    accesses: int
    hits: int
    walks: int
    faults: int
    refs: int  # page-table entry reads of all the walks
    page_sizes: dict[int, int] = field(default_factory=dict)  # page size -> accesses
    distinct_pages: int = 0
    seconds: float = 0.0

    @property
    def hit_rate(self) -> float:
        return self.hits / self.accesses if self.accesses else 0.0

    @property
    def refs_per_access(self) -> float:
        return self.refs / self.accesses if self.accesses else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "accesses": self.accesses,
            "hits": self.hits,
            "walks": self.walks,
            "faults": self.faults,
            "hit_rate": round(self.hit_rate, 6),
            "refs": self.refs,
            "refs_per_access": round(self.refs_per_access, 4),
            "page_sizes": {f"{k:#x}": v for k, v in sorted(self.page_sizes.items())},
            "distinct_pages": self.distinct_pages,
            "seconds": round(self.seconds, 4),
        }


def addresses(gva: int, size: int, count: int, pattern: str, stride: int, seed: int) -> np.ndarray:
    """The trace's guest virtual addresses (uint64)."""
    if pattern not in PATTERNS:
        raise PagingError(
            "InvalidRequest", f"trace pattern {pattern!r} (allowed: {', '.join(PATTERNS)})"
        )
    if size <= 0 or count <= 0:
        raise PagingError("InvalidRequest", "trace size and count must be positive")
    i = np.arange(count, dtype=np.uint64)
    if pattern == "random":
        offsets = np.random.default_rng(seed).integers(0, size // 8, count, dtype=np.uint64) * 8
    else:
        step = LINE if pattern == "sequential" else stride
        offsets = (i * np.uint64(step)) % np.uint64(size)
    return offsets + np.uint64(gva)


def run_trace(
    machine: Any,
    gva: int,
    size: int,
    count: int,
    *,
    pattern: str = "sequential",
    stride: int = 0x1000,
    seed: int = 0,
    access: str = "read",
    priv: str = "kernel",
) -> TraceStats:
    """Replay `count` accesses over [gva, gva+size) and count what the TLB saves."""
    start = time.perf_counter()
    acc, prv = Access(access), Priv(priv)
    addrs = addresses(gva, size, count, pattern, stride, seed)
    pages, inverse = np.unique(addrs >> np.uint64(12), return_inverse=True)
    # one walk per distinct translation (a 2 MiB page serves all its 4 KiB pages)
    known: dict[tuple[int, int], tuple[int, int]] = {}  # (base, size) -> (refs, ok)
    page_size = np.zeros(len(pages), dtype=np.uint64)
    page_refs = np.zeros(len(pages), dtype=np.int64)
    page_ok = np.zeros(len(pages), dtype=bool)
    sizes = sorted(
        {lv.leaf_size for f in (machine.s1, machine.s2) for lv in f.levels if lv.leaf_size},
        reverse=True,
    )
    for n, vpn in enumerate(pages.tolist()):
        va = vpn << 12
        hit = next(
            ((s, known[(va & ~(s - 1), s)]) for s in sizes if (va & ~(s - 1), s) in known), None
        )
        if hit is None:
            walk = machine.walker.translate(va, acc, prv, side_effects=False)
            s = walk.page_size or 0x1000
            hit = (s, (walk.refs, walk.ok))
            known[(va & ~(s - 1), s)] = hit[1]
        page_size[n], (page_refs[n], page_ok[n]) = hit[0], hit[1]
    tag_size = page_size[inverse]
    tags = addrs & ~(tag_size - np.uint64(1))
    stats = TraceStats(count, 0, 0, 0, 0, distinct_pages=len(pages))
    values, counts = np.unique(tag_size, return_counts=True)
    stats.page_sizes = {int(v): int(c) for v, c in zip(values, counts, strict=True)}
    hits = _simulate_lru(
        tags,
        tag_size,
        page_ok[inverse],
        machine.config.tlb_entries,
        machine.config.tlb_ways if machine.config.tlb_enabled else 0,
    )
    misses = ~hits
    stats.hits = int(hits.sum())
    ok = page_ok[inverse]
    stats.walks = int(misses.sum())
    stats.faults = int((misses & ~ok).sum())
    stats.refs = int(page_refs[inverse][misses].sum())
    stats.seconds = time.perf_counter() - start
    return stats


def _simulate_lru(
    tags: np.ndarray, sizes: np.ndarray, ok: np.ndarray, entries: int, ways: int
) -> np.ndarray:
    """Hit (True) or miss per access in a set-associative LRU TLB; faults never fill."""
    hits = np.zeros(len(tags), dtype=bool)
    if ways == 0:
        return hits
    nsets = entries // ways
    keys = (tags // sizes).astype(np.int64)
    set_index = (keys % nsets).tolist()
    key_list = (tags | np.log2(sizes).astype(np.uint64)).tolist()  # tag and size in one int
    ok_list = ok.tolist()
    sets: list[list[int]] = [[] for _ in range(nsets)]
    for i, key in enumerate(key_list):
        lru = sets[set_index[i]]
        if key in lru:
            hits[i] = True
            if lru[-1] != key:
                lru.remove(key)
                lru.append(key)
        elif ok_list[i]:
            if len(lru) >= ways:
                del lru[0]
            lru.append(key)
    return hits
