"""`decode` is total: any 64-bit value at any depth of any format, with any options and feature
combination, decodes without raising to a consistent `Decoded` — kind and reason agree, the
fields tile all 64 bits exactly once, leaves and tables sit where the geometry allows them,
reserved or malformed encodings come back `misconfigured` with the problem in words, and the
seed's read-back is `None` exactly where the seed would panic. The same holds for what
`decode --json` and `encode --table` build from it.
"""

from __future__ import annotations

import json

import pytest
from _robust import FAMILY_FEATURES, FORMAT_SPECS, budget, count, feature_sets, make_format
from hypothesis import given
from hypothesis import strategies as st

from npt_explorer.cli import _encode_row, decode_json
from npt_explorer.engine import MappingFlags
from npt_explorer.engine.formats import Decoded, Encoding, EntryKind, FaultReason, PagingFormat

ALL_BITS = (1 << 64) - 1
BAD_REASONS = (FaultReason.RESERVED, FaultReason.MISCONFIG, FaultReason.MISALIGNED)
FORMATS = [(spec, features) for spec in FORMAT_SPECS for features in feature_sets(spec[3])]
#: no features and all of them, per format (the random test draws from every combination)
EXTREMES = [(s, f) for s, f in FORMATS if not f or len(f) == len(FAMILY_FEATURES[s[3]])]


def check(fmt: PagingFormat, raw: int, depth: int, as_json: bool = False) -> Decoded:
    dec = fmt.decode(raw, depth)
    assert (dec.raw, dec.depth, dec.format) == (raw, depth, fmt.name)
    assert dec.level_name == fmt.level_name(depth)
    covered = 0
    for fv in dec.fields:
        assert covered & fv.field.mask == 0, f"{fv.field.name} overlaps another field"
        covered |= fv.field.mask
        assert fv.value == fv.field.get(raw)
        assert isinstance(fv.meaning, str)
    width = (1 << 8 * fmt.entry_bytes) - 1  # every bit of the entry (a 4-byte one: 32)
    assert covered == width, f"fields leave bits {width & ~covered:#x} uncovered"
    if dec.kind is EntryKind.INVALID:
        assert dec.reason is FaultReason.NOT_PRESENT and dec.paddr is None
    elif dec.kind is EntryKind.MISCONFIGURED:
        assert dec.reason in BAD_REASONS and dec.problems
    else:
        assert dec.reason is None and dec.paddr is not None
        assert fmt.check_output(dec.paddr)
    if dec.kind is EntryKind.LEAF:
        assert fmt.levels[depth].leaf_size is not None and dec.page_size == fmt.span(depth)
        assert dec.paddr % dec.page_size == 0
    if dec.kind is EntryKind.TABLE:
        assert depth < fmt.leaf_depth and dec.paddr % 0x1000 == 0
    assert all(isinstance(p, str) and p for p in dec.problems)
    assert dec.mapping_flags == fmt.seed_read_back(raw)
    assert isinstance(dec.hw_flags, MappingFlags)
    if as_json:
        json.dumps(decode_json(dec))
    return dec


@pytest.mark.parametrize(
    ("spec", "features"), EXTREMES, ids=[f"{s[0]}+{','.join(sorted(f))}" for s, f in EXTREMES]
)
def test_every_single_bit_flip_decodes(spec, features):
    """Each single bit set in zero, cleared in all ones, and flipped in a valid table entry and
    in valid leaves of both encodings."""
    fmt = make_format(spec, features)
    n = 0
    for depth in range(fmt.depth_count):
        bases = [0, ALL_BITS, fmt.new_table(0x8000_0000, Encoding.FIXED)]
        size = fmt.levels[depth].leaf_size
        if size in (0x1000, 0x20_0000, 0x4000_0000):
            for encoding in Encoding:
                bases.append(fmt.new_page(0x8000_0000, MappingFlags(0x0F), size > 0x1000, encoding))
        for base in bases:
            for bit in range(64):
                check(fmt, base ^ (1 << bit), depth)
                n += 1
    count("decode: bit patterns", n)


RAWS = st.one_of(
    st.integers(0, ALL_BITS),
    st.builds(lambda a, b: a & b, st.integers(0, ALL_BITS), st.integers(0, ALL_BITS)),
    st.sets(st.integers(0, 63), max_size=6).map(lambda bits: sum(1 << b for b in bits)),
)


@budget(1500)
@given(data=st.data(), raw=RAWS)
def test_any_raw_at_any_depth_of_any_format_decodes(data, raw):
    spec, features = data.draw(st.sampled_from(FORMATS))
    fmt = make_format(spec, features)
    depth = data.draw(st.integers(0, fmt.leaf_depth))
    if data.draw(st.booleans()):  # start from a real entry and flip a few bits
        flags = MappingFlags(data.draw(st.integers(0, 63)))
        huge = fmt.levels[depth].leaf_size not in (None, 0x1000)
        real = fmt.new_page(0x8000_0000, flags, huge, data.draw(st.sampled_from(list(Encoding))))
        raw = real ^ (raw & data.draw(st.sampled_from([0xFFF, 0xFFF << 52, 0x3 << 61, 1 << 7])))
    count("decode: random raws")
    check(fmt, raw, depth, as_json=True)


@pytest.mark.parametrize("spec", FORMAT_SPECS, ids=[s[0] for s in FORMAT_SPECS])
def test_encode_table_never_raises_for_any_flags_features_or_encoding(spec):
    n = 0
    for features in (frozenset(), *feature_sets(spec[3])[-1:]):
        fmt = make_format(spec, features)
        for encoding in Encoding:
            for value in range(64):
                for huge in (False, True):
                    row = _encode_row(fmt, MappingFlags(value), 0x8000_0000, huge, encoding)
                    json.dumps(row)
                    n += 1
    count("encode --table rows", n)
