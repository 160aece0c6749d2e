"""The Regions panel's filter words (`/`): which folded regions (engine `Region`) to show. A
view's vocabulary, so it lives with the view, not in the engine."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..engine import PAGE_SIZE, MappingFlags, Region

FILTER_HELP = (
    "words, all must match: s1 s2 · r w x u (have) · !w !x (lack) · ro · wx · "
    "huge · linear alloc · an address 0x… (in the input or output range) · "
    "a range 0x…-0x…"
)


@dataclass(frozen=True, slots=True)
class RegionFilter:
    stage: int | None = None
    have: MappingFlags = MappingFlags(0)
    lack: MappingFlags = MappingFlags(0)
    addrs: tuple[int, ...] = ()
    ranges: tuple[tuple[int, int], ...] = ()
    backends: tuple[str, ...] = ()
    huge: bool = False

    def matches(self, r: Region) -> bool:
        if self.stage is not None and r.stage != self.stage:
            return False
        if (r.flags & self.have) != self.have or r.flags & self.lack:
            return False
        if self.huge and max(r.page_sizes) <= PAGE_SIZE:
            return False
        if self.backends and r.backend not in self.backends:
            return False
        if any(not (r.contains(a) or r.maps_to(a)) for a in self.addrs):
            return False
        return all(r.start < hi and lo < r.end for lo, hi in self.ranges)


def _number(text: str) -> int:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        raise ValueError(f"{text!r} is not an address; {FILTER_HELP}") from None


def parse_filter(text: str) -> RegionFilter:
    """`"s1 w !x"`, `"ro"`, `"0x4000_1000"`, `"0x0-0x20_0000 linear"`; raises ValueError
    naming the word and the words allowed."""
    stage, have, lack = None, MappingFlags(0), MappingFlags(0)
    addrs: list[int] = []
    ranges: list[tuple[int, int]] = []
    backends: list[str] = []
    huge = False
    for word in text.lower().split():
        if word in ("s1", "s2"):
            stage = int(word[1])
        elif word == "ro":
            have |= MappingFlags.READ
            lack |= MappingFlags.WRITE
        elif word == "huge":
            huge = True
        elif word in ("linear", "alloc"):
            backends.append(word)
        elif re.fullmatch(r"[rwxudc]+", word):
            have |= MappingFlags.parse(word)
        elif re.fullmatch(r"[!-][rwxudc]+", word):
            lack |= MappingFlags.parse(word[1:])
        elif "-" in word[1:]:
            lo, _, hi = word.partition("-")
            ranges.append((_number(lo), _number(hi)))
        elif word[:1].isdigit():
            addrs.append(_number(word))
        else:
            raise ValueError(f"unknown filter word {word!r}; {FILTER_HELP}")
    return RegionFilter(stage, have, lack, tuple(addrs), tuple(ranges), tuple(backends), huge)
