"""The Regions panels' filter words, one language for a machine's folded regions and an
image's ranges: every word must match; a word that is not one names itself and the words
allowed."""

from __future__ import annotations

import pytest

from npt_explorer.engine import MappingFlags, Region
from npt_explorer.image.ranges import Run
from npt_explorer.tui.region_filter import FILTER_HELP, parse_filter, region_row, run_row


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
    assert [(r.stage, r.start) for r in REGIONS if f.matches(region_row(r))] == expected


@pytest.mark.parametrize(
    ("text", "word"),
    [("s1 bogus", "'bogus'"), ("0xzz", "'0xzz'"), ("0x10-zz", "'zz'"), ("-", "'-'")],
)
def test_a_word_that_is_not_one_names_itself_and_the_words_allowed(text: str, word: str) -> None:
    with pytest.raises(ValueError, match=word) as err:
        parse_filter(text)
    assert str(err.value).endswith(FILTER_HELP)


def _run(stage: str, start: int, size: int, out: int, perms: str, attrs: str, page: int) -> Run:
    return Run(stage, start, out, size, perms, attrs, {page}, size // page)


#: an image's ranges (`image ranges`): a kernel's text and data, a user page, the stage-2
#: RAM in 2 MiB pages, and a gVA → hPA run of both stages
RUNS = [
    _run("1", 0xFFFF_FFFF_8100_0000, 0x20_0000, 0x100_0000, "K:r-x U:---", "G=1", 0x1000),
    _run("1", 0xFFFF_FFFF_8120_0000, 0x1000, 0x120_0000, "K:rw- U:---", "G=1", 0x1000),
    _run("1", 0x40_0000, 0x1000, 0x300_0000, "K:rw- U:rw-", "G=0", 0x1000),
    _run("2", 0x0, 0x4000_0000, 0x8000_0000, "K:rwx U:rwx", "MEMTYPE=6", 0x20_0000),
    _run("both", 0x40_0000, 0x1000, 0x8300_0000, "K:rw- U:rw-", "G=0 / MEMTYPE=6", 0x1000),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s1", [0, 1, 2]),
        ("both", [4]),
        ("s1 x", [0]),  # rights some privilege has
        ("s1 ro", [0]),
        ("u", [2, 3, 4]),  # user mode has some right
        ("s1 !u", [0, 1]),
        ("huge", [3]),
        ("0x8000_1000", [3]),  # the stage-2 run's output holds it
        ("s1 0x40_0000-0x40_1000", [2]),
        ("k:rw", [1, 2, 3, 4]),  # text of the permissions
        ("U:", [0, 1, 2, 3, 4]),
        ("r-x", [0]),
        ("memtype=6", [3, 4]),  # text of the attributes
        ("s1 g=1 w", [1]),
        ("linear", []),  # an image's run has no backend
    ],
)  # fmt: skip
def test_an_images_ranges_take_the_same_words(text: str, expected: list[int]) -> None:
    f = parse_filter(text)
    assert [i for i, r in enumerate(RUNS) if f.matches(run_row(r))] == expected


@pytest.mark.parametrize("text", ["s2 w", "huge", "0x4000_4008", "s1 ro", "s2 !x", "rw-"])
def test_one_word_means_the_same_on_a_machine_and_an_image(text: str) -> None:
    """A machine's region and the image run that prints the same mapping answer alike."""
    f = parse_filter(text)
    for region in REGIONS:
        perms = "K:{0} U:{0}".format(region.flags.letters()[:3])
        run = _run(str(region.stage), region.start, region.size, region.out, perms, "",
                   region.page_sizes[0])  # fmt: skip
        assert f.matches(region_row(region)) == f.matches(run_row(run)), (text, region)
