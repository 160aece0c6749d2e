"""Long address traces through the machine's TLB geometry: hit rate, walks, references per
access, page-size histogram.

Addresses are generated with numpy; each distinct page is walked once, all pages at once
(`batch_walk.walk_many`: side-effect free, like `translate`); then a set-associative LRU TLB of
the machine's geometry replays the whole trace.
The machine's own TLB and tables are left untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .batch_walk import walk_many
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
    if not (0 <= gva and gva + size <= 1 << 64 and 0 <= stride < 1 << 64):
        raise PagingError(
            "InvalidAddress",
            f"trace [{gva:#x}, +{size:#x}) stride {stride:#x} leaves the 64-bit address space",
        )
    if pattern == "random" and size < 8:  # random offsets are 8-byte aligned
        raise PagingError("InvalidRequest", "a random trace needs size of at least 8 bytes")
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
    acc, prv = Access.parse(access), Priv.parse(priv)
    addrs = addresses(gva, size, count, pattern, stride, seed)
    pages, inverse = _distinct_pages(addrs)
    # one side-effect-free walk per distinct 4 KiB page, all at once (`batch_walk`)
    walks = walk_many(machine, pages << np.uint64(12), acc, prv)
    page_size = np.where(walks.ok, walks.page_size, np.uint64(0x1000))
    tag_size = page_size[inverse]
    tags = addrs & ~(tag_size - np.uint64(1))
    stats = TraceStats(count, 0, 0, 0, 0, distinct_pages=len(pages))
    per_page = np.bincount(inverse, minlength=len(pages))
    stats.page_sizes = {
        int(s): int(per_page[page_size == s].sum()) for s in np.unique(page_size).tolist()
    }
    ok = walks.ok[inverse]
    hits = _simulate_lru(
        tags,
        tag_size,
        ok,
        machine.config.tlb_entries,
        machine.config.tlb_ways if machine.config.tlb_enabled else 0,
    )
    misses = ~hits
    stats.hits = int(hits.sum())
    stats.walks = int(misses.sum())
    stats.faults = int((misses & ~ok).sum())
    stats.refs = int(walks.refs[inverse][misses].sum())
    stats.seconds = time.perf_counter() - start
    return stats


def _distinct_pages(addrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct 4 KiB pages of `addrs` (ascending) and each address's page: by counting
    when the pages span little more than the trace, else by sorting."""
    numbers = addrs >> np.uint64(12)
    low = int(numbers.min())
    span = int(numbers.max()) - low + 1
    if span > 2 * len(addrs) + 4096:
        return np.unique(numbers, return_inverse=True)
    offset = (numbers - np.uint64(low)).astype(np.int64)
    touched = np.bincount(offset, minlength=span) > 0
    position = np.cumsum(touched) - 1
    return np.flatnonzero(touched).astype(np.uint64) + np.uint64(low), position[offset]


def _simulate_lru(
    tags: np.ndarray, sizes: np.ndarray, ok: np.ndarray, entries: int, ways: int
) -> np.ndarray:
    """Hit (True) or miss per access in a set-associative LRU TLB; faults never fill.

    An access to the same entry as the access just before it changes nothing (that entry is
    already the most recent of its set, or was never filled), so it hits exactly when it could
    be filled; only the first access of each such run goes through the simulation."""
    hits = np.zeros(len(tags), dtype=bool)
    if ways == 0 or not len(tags):
        return hits
    nsets = entries // ways
    keys = tags | np.log2(sizes).astype(np.uint64)  # tag and size in one int
    first = np.ones(len(tags), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    heads = np.flatnonzero(first)
    set_of = ((tags[heads] // sizes[heads]) % np.uint64(nsets)).astype(np.int64)
    head_keys, head_ok = keys[heads], ok[heads]
    # a set that never holds more than `ways` entries never evicts: an access hits there
    # exactly when its entry was filled before
    _, first_at = np.unique(head_keys, return_index=True)
    filled = head_ok[first_at]
    per_set = np.bincount(set_of[first_at][filled], minlength=nsets)
    roomy = (per_set <= ways)[set_of]
    if roomy.any():
        seen = np.ones(len(heads), dtype=bool)
        seen[first_at] = False
        hits[heads[roomy]] = (seen & head_ok)[roomy]
    loop = np.flatnonzero(~roomy)
    sets: list[list[int]] = [[] for _ in range(nsets)]
    head_hits: list[bool] = []
    hit = head_hits.append
    for s, key, fills in zip(
        set_of[loop].tolist(), head_keys[loop].tolist(), head_ok[loop].tolist(), strict=True
    ):
        lru = sets[s]
        if key in lru:
            hit(True)
            if lru[-1] != key:
                lru.remove(key)
                lru.append(key)
            continue
        hit(False)
        if fills:
            if len(lru) >= ways:
                del lru[0]
            lru.append(key)
    hits[heads[loop]] = head_hits
    hits[~first] = ok[~first]
    return hits
