"""The Regions panels' filter language (`/`): one set of words for a machine's folded regions
(engine `Region`) and an image's ranges (`image ranges` runs). What differs between the two
is data: each panel turns its rows into `FilterRow`s (`region_row`, `run_row`), and a word
asks the same of every row (an image run has no backend, a machine region no privilege text:
such a word simply matches none of its rows). A view's vocabulary, so it lives with the
views, not in the engine."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..engine import PAGE_SIZE, MappingFlags, Region
from ..image.ranges import Run

FILTER_HELP = (
    "words, all must match: s1 s2 both · r w x u (have) · !w !x (lack) · ro · wx · "
    "huge · linear alloc · an address 0x… (in the input or output range) · "
    "a range 0x…-0x… · text of the flags, permissions or attributes (rw-, K:rw, U:, G=1)"
)


@dataclass(frozen=True, slots=True)
class FilterRow:
    """What the filter words ask of one row of either panel."""

    stage: str  # "1", "2", or "both" (an image's gVA → final hPA)
    start: int
    end: int
    out: int | None  # the output address of `start`, when the outputs follow each other
    flags: MappingFlags  # the rights granted (an image: to some privilege; u: to user mode)
    huge: bool  # some page larger than 4 KiB
    backend: str  # the stage-2 area's backend ("linear", "alloc"), "" for none
    text: str  # the row's flags, permissions and attributes as printed, lower case

    def holds(self, addr: int) -> bool:
        """Is `addr` in the input range, or in the output range (a reverse look-up)?"""
        if self.start <= addr < self.end:
            return True
        return self.out is not None and self.out <= addr < self.out + (self.end - self.start)


def region_row(r: Region) -> FilterRow:
    """A machine's folded region (the Regions panel's row)."""
    out = r.out if r.contiguous else None
    text = f"{r.flags.letters()} {r.backend} {r.area}".lower()
    huge = max(r.page_sizes) > PAGE_SIZE
    return FilterRow(str(r.stage), r.start, r.end, out, r.flags, huge, r.backend, text)


#: an image's permission letters (`K:rwx U:r--`) as the machine's flags
_PERM_FLAGS = {"r": MappingFlags.READ, "w": MappingFlags.WRITE, "x": MappingFlags.EXECUTE}


def run_row(r: Run) -> FilterRow:
    """An image's run (`image ranges`; the image's Regions panel's row): a right counts when
    some privilege has it, `u` when user mode has any."""
    flags = MappingFlags(0)
    for part in r.perms.split():  # "K:rw-", "U:---"
        priv, _, letters = part.partition(":")
        for ch in letters:
            flags |= _PERM_FLAGS.get(ch, MappingFlags(0))
        if priv == "U" and letters.strip("-"):
            flags |= MappingFlags.USER
    huge = max(r.page_sizes) > PAGE_SIZE
    text = f"{r.perms} {r.attrs}".lower()
    return FilterRow(r.stage, r.start, r.end, r.out, flags, huge, "", text)


Term = Callable[[FilterRow], bool]


def _have(flags: MappingFlags) -> Term:
    return lambda row: row.flags & flags == flags


def _lack(flags: MappingFlags) -> Term:
    return lambda row: not row.flags & flags


#: the words that are themselves
_WORDS: dict[str, Term] = {
    "s1": lambda row: row.stage == "1",
    "s2": lambda row: row.stage == "2",
    "both": lambda row: row.stage == "both",
    "huge": lambda row: row.huge,
    "linear": lambda row: row.backend == "linear",
    "alloc": lambda row: row.backend == "alloc",
    "ro": lambda row: bool(row.flags & MappingFlags.READ) and not row.flags & MappingFlags.WRITE,
}


def _number(text: str) -> int:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        raise ValueError(f"{text!r} is not an address; {FILTER_HELP}") from None


def _range(word: str) -> Term:
    lo, _, hi = word.partition("-")
    start, end = _number(lo), _number(hi)
    return lambda row: row.start < end and start < row.end


def _address(word: str) -> Term:
    addr = _number(word)
    return lambda row: row.holds(addr)


def _text(word: str) -> Term:
    return lambda row: word in row.text


#: the words of a shape, in the order they are tried (the first that fits reads the word)
_SHAPES: tuple[tuple[re.Pattern[str], Callable[[str], Term]], ...] = (
    (re.compile(r"[rwxudc]+"), lambda w: _have(MappingFlags.parse(w))),
    (re.compile(r"[!-][rwxudc]+"), lambda w: _lack(MappingFlags.parse(w[1:]))),
    (re.compile(r"[r-][w-][x-]|.*[:=].*"), _text),  # `rw-`, `k:rw`, `u:`, `memtype=6`
    (re.compile(r".+-.+"), _range),
    (re.compile(r"[0-9].*"), _address),
)


@dataclass(frozen=True, slots=True)
class RegionFilter:
    """Words read: a row is shown when every word's term holds for it."""

    terms: tuple[Term, ...] = ()

    def matches(self, row: FilterRow) -> bool:
        return all(term(row) for term in self.terms)


def _term(word: str) -> Term:
    if word in _WORDS:
        return _WORDS[word]
    for shape, make in _SHAPES:
        if shape.fullmatch(word):
            return make(word)
    raise ValueError(f"unknown filter word {word!r}; {FILTER_HELP}")


def parse_filter(text: str) -> RegionFilter:
    """`"s1 w !x"`, `"ro"`, `"0x4000_1000"`, `"0x0-0x20_0000 linear"`, `"both K:rw"`;
    raises ValueError naming the word and the words allowed."""
    return RegionFilter(tuple(_term(word) for word in text.lower().split()))
