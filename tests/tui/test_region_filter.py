"""The Regions panel's filter words: every word must match; a word that is not one names
itself and the words allowed."""

from __future__ import annotations

import pytest

from npt_explorer.engine import MappingFlags, Region
from npt_explorer.tui.region_filter import FILTER_HELP, parse_filter


def _region(stage: int, start: int, size: int, out: int, flags: str, page: int) -> Region:
    return Region(stage, start, size, out, True, MappingFlags.parse(flags), None, (page,),
                  size // page, 3, "linear", "", False)  # fmt: skip


#: a guest's folded regions: three stage-1 runs (the last read-only), guest RAM in 4 KiB
#: pages and a huge rw stage-2 run
REGIONS = [
    _region(1, 0x4000_0000, 0x4000, 0x20_0000, "rw", 0x1000),
    _region(1, 0x4000_4000, 0x2000, 0x50_0000, "rw", 0x1000),
    _region(1, 0x4000_6000, 0x1000, 0x50_2000, "r", 0x1000),
    _region(2, 0x20_0000, 8 << 20, 0x8020_0000, "rwx", 0x1000),
    _region(2, 0x4000_0000, 4 << 20, 0x9000_0000, "rw", 0x20_0000),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, 0x4000_0000), (1, 0x4000_4000), (1, 0x4000_6000), (2, 0x20_0000),
              (2, 0x4000_0000)]),
        ("s1", [(1, 0x4000_0000), (1, 0x4000_4000), (1, 0x4000_6000)]),
        ("s1 ro", [(1, 0x4000_6000)]),
        ("s1 w", [(1, 0x4000_0000), (1, 0x4000_4000)]),
        ("S2 X", [(2, 0x20_0000)]),  # words in any case
        ("s2 !x", [(2, 0x4000_0000)]),
        ("s2 -x", [(2, 0x4000_0000)]),
        ("huge", [(2, 0x4000_0000)]),
        ("alloc", []),
        ("0x4000_4008", [(1, 0x4000_4000), (2, 0x4000_0000)]),  # holds the address
        ("s2 0x8020_1000", [(2, 0x20_0000)]),  # reverse lookup: maps to it
        ("s1 0x4000_3000-0x4000_5000", [(1, 0x4000_0000), (1, 0x4000_4000)]),
    ],
)  # fmt: skip
def test_every_word_must_match(text: str, expected: list[tuple[int, int]]) -> None:
    f = parse_filter(text)
    assert [(r.stage, r.start) for r in REGIONS if f.matches(r)] == expected


@pytest.mark.parametrize(("text", "word"), [("s1 bogus", "'bogus'"), ("0xzz", "'0xzz'")])
def test_a_word_that_is_not_one_names_itself_and_the_words_allowed(text: str, word: str) -> None:
    with pytest.raises(ValueError, match=word) as err:
        parse_filter(text)
    assert str(err.value).endswith(FILTER_HELP)
