"""Formats declare their bit shapes; the engine reads the declarations and never probes the
functions (issue 12 step 3). Here the declarations are held equal to the scalar functions
they stand for — bit by bit and on fixed sample words — for every format, encoding and the
64 flag sets: `paddr_move` is `entry_paddr`, `present_test`/`huge_test` are
`seed_present`/`seed_huge`, `page_template` is `new_page` (and, read back through
`paddr_move`, `set_flags`), `table_template` is `new_table_at`, `input_ranges` is what
`check_input` accepts."""

from __future__ import annotations

import random

import numpy as np
import pytest

from npt_explorer.engine import Encoding, MappingFlags, get_format
from npt_explorer.engine.formats import FORMAT_NAMES

U64 = (1 << 64) - 1
_RNG = random.Random(0x5EED)
#: sample words: random, sparse and dense, fixed for the whole run
SAMPLES = tuple(
    [_RNG.getrandbits(64) for _ in range(24)]
    + [(1 << _RNG.randrange(64)) | (1 << _RNG.randrange(64)) for _ in range(16)]
    + [U64 ^ (1 << _RNG.randrange(64)) for _ in range(8)]
    + [0, U64]
)
BITS = tuple(1 << b for b in range(64))
#: every format by name with its default options, then the variants that change a layout
VARIANTS = [(name, {}) for name in FORMAT_NAMES] + [
    ("ept", {"levels": 5}),
    ("ept", {"features": ["ept-ad", "mbec", "ept-execute-only"]}),
    ("npt", {"levels": 5}),
    ("aarch64-s1", {"va_bits": 39}),
    ("aarch64-s1", {"features": ["arm-el2"]}),
    ("aarch64-s1", {"features": ["hafdbs"]}),
    ("aarch64-s2", {"ipa_bits": 48, "features": ["fwb", "xnx"]}),
    ("sv39", {"stage": 2}),
    ("sv48", {"features": ["svnapot", "svpbmt", "svadu"]}),
    ("sv39", {"features": ["xuantie-c9xx"]}),
    ("la64", {"stage": 2}),
    ("la64", {"features": ["ptw"]}),
    ("teach", {"geometry": "ostep"}),  # 1-byte entries, the frame number shifted up by 5
    ("teach", {"levels": 3, "index_bits": [2, 9, 9], "offset_bits": 12, "entry_bytes": 8}),
]
IDS = [name + "".join(f"-{v}" for v in opts.values()).replace("'", "") for name, opts in VARIANTS]


@pytest.fixture(params=VARIANTS, ids=IDS)
def fmt(request):
    name, opts = request.param
    return get_format(name, **opts)


def test_paddr_move_is_entry_paddr_bit_by_bit(fmt):
    for raw in BITS + SAMPLES:
        assert fmt.paddr_move.scalar(raw) == fmt.entry_paddr(raw), hex(raw)


def test_present_and_huge_tests_are_the_seeds_predicates(fmt):
    for raw in BITS + SAMPLES:
        assert fmt.present_test.scalar(raw) == fmt.seed_present(raw), hex(raw)
        assert fmt.huge_test.scalar(raw) == fmt.seed_huge(raw), hex(raw)


def test_every_is_the_present_test_of_each_word(fmt):
    words = np.array(BITS + SAMPLES, np.uint64)
    for picked in (words, words[[fmt.present_test.scalar(raw) for raw in BITS + SAMPLES]]):
        want = all(fmt.present_test.scalar(int(raw)) for raw in picked)
        assert fmt.present_test.every(picked.copy()) == want


def test_only_the_zero_word_is_unused(fmt):
    # the vector paths take a zero word for a free slot, as `is_unused` does
    assert [fmt.is_unused(raw) for raw in BITS + SAMPLES] == [raw == 0 for raw in BITS + SAMPLES]


def test_page_templates_are_new_page_and_set_flags_for_the_64_flag_sets(fmt):
    aligned = sorted({x & ~0xFFF for x in BITS[12:] + SAMPLES})
    for encoding in Encoding:
        for huge in (False, True):
            for bits in range(64):
                flags = MappingFlags(bits)
                template = fmt.page_template(flags, huge, encoding)
                for pa in aligned:
                    assert template.scalar(pa) == fmt.new_page(pa, flags, huge, encoding)
                for raw in SAMPLES:
                    read_back = template.scalar(fmt.paddr_move.scalar(raw))
                    assert read_back == fmt.set_flags(raw, flags, huge, encoding)


def test_table_templates_are_new_table_at_every_depth(fmt):
    aligned = sorted({x & ~0xFFF & ((1 << fmt.output_bits) - 1) for x in BITS[12:] + SAMPLES})
    for encoding in Encoding:
        for depth in range(fmt.depth_count - 1):
            template = fmt.table_template(depth, encoding)
            for pa in aligned:
                assert template.scalar(pa) == fmt.new_table_at(pa, encoding, depth), hex(pa)


def test_input_ranges_are_what_check_input_accepts(fmt):
    ranges = fmt.input_ranges
    edges = {e for lo, hi in ranges for e in (lo - 1, lo, hi - 1, hi)} | set(SAMPLES)
    for addr in sorted(e for e in edges if 0 <= e <= U64):
        inside = any(lo <= addr < hi for lo, hi in ranges)
        assert (fmt.check_input(addr) is None) == inside, hex(addr)


def test_declared_addresses_fit_the_entry_width(fmt):
    width = 8 * fmt.entry_bytes
    assert fmt.entry_bytes in (1, 2, 4, 8)
    assert not fmt.paddr_move.mask >> width
    assert not (fmt.present_test.mask | fmt.huge_test.mask) >> width


def test_a_template_step_is_the_difference_of_consecutive_entries_or_none(fmt):
    """`PageTemplate.step`: where it answers, the entries of a run of pages are one ramp (the
    region calls build a block of leaves in one pass on it); a format with 8-byte entries
    answers for every run inside its output width, and runs past it get None."""
    pages = [(False, fmt.granule)] + [(True, s) for s in fmt.page_sizes if s != fmt.granule]
    for huge, page in pages:
        template = fmt.page_template(MappingFlags.READ | MappingFlags.WRITE, huge, Encoding.FIXED)
        for first in (0, page, 0x1_0000_0000, 1 << (fmt.output_bits - 1), U64 & ~(page - 1)):
            last = first + 511 * page
            if first % page or last > U64:
                continue
            step = template.step(first, last, page)
            if step is None:
                inside = last < 1 << fmt.output_bits and first < 1 << (fmt.output_bits - 1)
                assert not (inside and fmt.entry_bytes == 8), (hex(first), page)
                continue
            ramp = [template.scalar(first) + i * step for i in (0, 1, 2, 255, 511)]
            assert ramp == [template.scalar(first + i * page) for i in (0, 1, 2, 255, 511)]
