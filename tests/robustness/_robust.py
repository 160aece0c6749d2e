"""Shared pieces of the robustness suite: the hypothesis profile, every format configuration,
snapshots of engine state, and the counts of generated cases that docs/robustness.md quotes.

Budget: the whole directory takes about 35 s of CPU with the default profile (derandomized:
the same cases every run). `NPT_ROBUST_PROFILE=deep` multiplies every budget by 20 and draws new
cases; `smoke` divides by 5. `NPT_ROBUST_COUNTS=path.json` also writes the counts to a file.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from itertools import combinations
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from npt_explorer.engine import PageTable, entry_words
from npt_explorer.engine.formats import PagingFormat, get_format

PROFILE = os.environ.get("NPT_ROBUST_PROFILE", "robust")
SCALE = {"robust": 1, "deep": 20, "smoke": 0.2}.get(PROFILE, 1)

settings.register_profile(
    PROFILE,
    deadline=None,
    derandomize=PROFILE != "deep",  # CI runs are reproducible; deep runs explore
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """`one_of` with weights: (weight, strategy) pairs. Plain `one_of` favours whichever
    branch is simplest, which starves the valid cases when the invalid ones are constants."""
    slots = [i for i, (weight, _) in enumerate(choices) for _ in range(weight)]
    return st.sampled_from(slots).flatmap(lambda i: choices[i][1])


def budget(examples: int, **extra: Any) -> settings:
    """`settings` for one test: `examples` scaled by the profile, never a deadline. The
    profile is a parent, not loaded globally: the rest of the suite keeps its own settings."""
    return settings(
        settings.get_profile(PROFILE),
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        **extra,
    )


#: generated cases per test (examples, steps, files, command lines ...), for the summary
COUNTS: Counter[str] = Counter()


def count(name: str, n: int = 1) -> None:
    COUNTS[name] += n


def report(terminalreporter: Any) -> None:
    """The counts, at the end of the run (and in `NPT_ROBUST_COUNTS` if set)."""
    if not COUNTS:
        return
    terminalreporter.section(f"robustness: generated cases (profile {PROFILE})")
    for name, n in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{n:>9}  {name}")
    path = os.environ.get("NPT_ROBUST_COUNTS")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(dict(sorted(COUNTS.items())), out, indent=1)


# ------------------------------------------------------------------------- formats

FAMILY_FEATURES = {
    "x86": ("ept-ad", "mbec", "ept-execute-only"),
    "arm": ("hafdbs", "fwb", "xnx"),
    "riscv": ("svadu", "svnapot", "svpbmt"),
    "loongarch": ("ptw",),
    "teach": (),
}

#: (label, format name, options, family): every geometry the engine offers
FORMAT_SPECS: tuple[tuple[str, str, dict[str, int], str], ...] = (
    ("x86-64", "x86-64", {}, "x86"),
    ("x86-64-la57", "x86-64-la57", {}, "x86"),
    ("ept4", "ept", {"levels": 4}, "x86"),
    ("ept5", "ept", {"levels": 5}, "x86"),
    ("x86-pae", "x86-pae", {}, "x86"),
    ("npt4", "npt", {"levels": 4}, "x86"),
    ("npt5", "npt", {"levels": 5}, "x86"),
    ("aarch64-s1 va48", "aarch64-s1", {"va_bits": 48}, "arm"),
    ("aarch64-s1 va39", "aarch64-s1", {"va_bits": 39}, "arm"),
    ("aarch64-s2 ipa39", "aarch64-s2", {"ipa_bits": 39}, "arm"),
    ("aarch64-s2 ipa40", "aarch64-s2", {"ipa_bits": 40}, "arm"),
    ("aarch64-s2 ipa44", "aarch64-s2", {"ipa_bits": 44}, "arm"),
    ("aarch64-s2 ipa48", "aarch64-s2", {"ipa_bits": 48}, "arm"),
    ("sv39", "sv39", {"stage": 1}, "riscv"),
    ("sv48", "sv48", {"stage": 1}, "riscv"),
    ("sv39 G-stage", "sv39", {"stage": 2}, "riscv"),
    ("sv39x4", "sv39x4", {}, "riscv"),
    ("sv48x4", "sv48x4", {}, "riscv"),
    ("la64", "la64", {"stage": 1}, "loongarch"),
    ("la64 GPA table", "la64", {"stage": 2}, "loongarch"),
    ("teach 6.823", "teach", {"geometry": "6.823"}, "teach"),  # type: ignore[dict-item]
    (
        "teach 3-level",
        "teach",
        {"levels": 3, "index_bits": [2, 9, 9], "offset_bits": 12, "entry_bytes": 8},
        "teach",
    ),  # type: ignore[dict-item]
)


def feature_sets(family: str) -> list[frozenset[str]]:
    names = FAMILY_FEATURES[family]
    return [frozenset(c) for r in range(len(names) + 1) for c in combinations(names, r)]


_FORMATS: dict[tuple[str, frozenset[str]], PagingFormat] = {}


def make_format(spec: tuple[str, str, dict[str, int], str], features=frozenset()) -> PagingFormat:
    """The format of `spec` with `features` (formats are immutable: built once, shared)."""
    key = (spec[0], frozenset(features))
    if key not in _FORMATS:
        _, name, options, _ = spec
        _FORMATS[key] = get_format(name, features=features, **options)
    return _FORMATS[key]


# ------------------------------------------------------------------------- snapshots


def memory_image(memory: Any) -> dict[int, bytes]:
    """Every written host frame's bytes (PhysicalMemory is sparse: unwritten frames read 0)."""
    return {pfn: words.tobytes() for pfn, words in memory.frames.items() if words.any()}


def flush_state(pt: PageTable) -> list[int] | None:
    pages = pt.last_flush.pages
    return None if pages is None else list(pages)


MASK64 = (1 << 64) - 1


def read_tables(pt: PageTable) -> tuple[dict[tuple[int, int], int], set[tuple[int, int]]]:
    """Every non-zero entry of the table, straight from host memory: leaves {(depth, base):
    raw} (bases sign-extended like the caller's addresses) and table entries {(depth, base)}.
    Every table pointer must lead to a frame the table owns; at a huge-page depth an entry
    that points elsewhere is a leaf the seed's `is_huge` does not recognise."""
    fmt = pt.fmt
    leaves: dict[tuple[int, int], int] = {}
    tables: set[tuple[int, int]] = set()
    sign = 1 << (fmt.input_bits - 1) if fmt.signed_input else None

    def visit(table: int, depth: int, base: int) -> None:
        # entries of the format's own width (4 bytes for a teach 6.823 table, 8 for most)
        words = entry_words(pt.mem, table, fmt.levels[depth].entries, fmt.entry_bytes)
        for index in np.flatnonzero(words).tolist():
            raw = int(words[index])
            va = base | (index << fmt.levels[depth].shift)
            if sign is not None and va & sign:
                va |= MASK64 & ~((sign << 1) - 1)
            if depth == fmt.leaf_depth or fmt.seed_huge(raw):
                leaves[(depth, va)] = raw
                continue
            nxt = fmt.entry_paddr(raw)
            if pt.huge_depth(depth) and nxt not in pt.tables:
                leaves[(depth, va)] = raw
                continue
            assert pt.tables.get(nxt) == 1, f"table entry {raw:#x} points outside the table"
            tables.add((depth, va))
            visit(nxt, depth + 1, va)

    visit(pt.root, 0, 0)
    return leaves, tables
