"""Walk caches: what hides most of a two-dimensional walk's references from memory.

Three organisations, each after a published design:

* ``psc`` — a *translation* (paging-structure) cache, Intel's PML4/PDPTE/PDE caches (SDM Vol. 3A
  §4.10.3.1) and their EPT counterparts: keyed by the input-address bits that index the levels
  down to its depth, it holds the next table's address, so a hit **skips** every level above
  (Barr, Cox, Rixner, ISCA 2010, "Translation caching: skip, don't walk (the page table)").
  The deepest hit wins (§4.10.3.3: the PDE cache first, then PDPTE, then PML4).
* ``pwc`` — a *page-table-entry* cache, AMD's page walk cache: non-leaf entries of both stages
  tagged by their host-physical address; each hit saves one read, nothing is skipped (Bhargava,
  Serebrin, Spadini, Manne, ASPLOS 2008, "Accelerating two-dimensional page walks for
  virtualized systems", §3).
* ``ntlb`` — a *nested TLB* (Bhargava et al. 2008, §4): gPA → hPA translations for the nested
  walks inside a 2D walk; a hit saves that whole stage-2 walk.

The walker reads every entry from memory regardless, so verdicts and faults follow the tables;
`WalkCaches.account` then marks, reference by reference and in the hardware's order, which cache
would have served it (`WalkStep.cached`) — the references that still go to memory are
`Walk.mem_refs`. A cached value that disagrees with memory is reported as stale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import PagingError
from .formats import PagingFormat

KINDS = ("psc", "pwc", "ntlb")
PRESETS = ("intel-psc", "amd-pwc-ntlb")
_CACHE_KEYS = ("name", "kind", "stage", "levels", "entries", "ways")
_MISS = object()


@dataclass(frozen=True, slots=True)
class CacheSpec:
    """One cache structure. `stage` 0 means both stages (a physically tagged PWC); `levels` are
    depths, 0 = root (ignored by an NTLB)."""

    name: str
    kind: str
    stage: int
    levels: tuple[int, ...]
    entries: int
    ways: int

    def to_table(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "stage": self.stage,
            "levels": list(self.levels),
            "entries": self.entries,
            "ways": self.ways,
        }


#: Intel PSC organisation by distance above the 4 KiB leaf: (entries, ways). Intel does not
#: publish sizes; these are ChampSim's defaults for its PSCL2..PSCL5 (champsim_config.json:
#: PD 4 sets x 8 ways, PDPT 2x4, PML4 1x4, PML5 1x2), the organisation Barr et al. 2010 §2.2
#: describe (a small PML4 cache, a larger PDE cache).
_INTEL_PSC = {1: (32, 8), 2: (8, 4), 3: (4, 4), 4: (2, 2)}
_INTEL_NAMES = {
    1: ("PDE cache", "EPT PDE cache"),
    2: ("PDPTE cache", "EPT PDPTE cache"),
    3: ("PML4 cache", "EPT PML4 cache"),
    4: ("PML5 cache", "EPT PML5 cache"),
}
#: AMD: a 24-entry fully associative PWC for the non-leaf entries of both dimensions (Bhargava
#: et al. 2008 §3, the Barcelona-era PWC); the NTLB's size is this project's choice (16 entries,
#: 4 ways) — the paper sweeps it.
_AMD_PWC = (24, 24)
_AMD_NTLB = (16, 4)


def preset(name: str, s1: PagingFormat, s2: PagingFormat) -> tuple[CacheSpec, ...]:
    """The caches of a named design for this machine's two formats."""
    if name == "intel-psc":
        specs = []
        for stage, fmt in ((1, s1), (2, s2)):
            leaf = fmt.leaf_depth
            for depth in range(leaf):
                up = leaf - depth
                entries, ways = _INTEL_PSC.get(up, (2, 2))
                if fmt.name.startswith(("x86", "ept")):
                    label = _INTEL_NAMES.get(up, (f"L{up} cache", f"EPT L{up} cache"))[stage - 1]
                else:  # Arm and RISC-V call these walk caches
                    label = f"stage-{stage} {fmt.levels[depth].name} walk cache"
                specs.append(CacheSpec(label, "psc", stage, (depth,), entries, ways))
        return tuple(specs)
    if name == "amd-pwc-ntlb":
        upper = tuple(range(max(s1.leaf_depth, s2.leaf_depth)))
        return (
            CacheSpec("PWC", "pwc", 0, upper, *_AMD_PWC),
            CacheSpec("NTLB", "ntlb", 2, (), *_AMD_NTLB),
        )
    raise PagingError(
        "InvalidRequest", f"walk_caches preset {name!r} (allowed: {', '.join(PRESETS)})"
    )


def parse(value: Any) -> tuple[str | None, tuple[CacheSpec, ...]]:
    """`[machine] walk_caches`: a preset name, `false`, or `{ preset = NAME, caches = [ {name,
    kind, stage, levels, entries, ways}, … ] }`. Returns (preset, extra caches)."""
    if value is False or value == "none":
        return None, ()
    if isinstance(value, str):
        if value not in PRESETS:
            raise PagingError(
                "InvalidRequest", f"walk_caches {value!r} (allowed: none, {', '.join(PRESETS)})"
            )
        return value, ()
    if not isinstance(value, Mapping):
        raise PagingError(
            "InvalidRequest", "walk_caches: a preset name, false, or { preset, caches }"
        )
    unknown = sorted(set(value) - {"preset", "caches"})
    if unknown:
        raise PagingError(
            "InvalidRequest", f"walk_caches: unknown key {unknown[0]!r} (allowed: preset, caches)"
        )
    name = value.get("preset")
    if name is not None:
        name = parse(name)[0]
    caches = value.get("caches", [])
    if not isinstance(caches, list) or not all(isinstance(c, Mapping) for c in caches):
        raise PagingError("InvalidRequest", "walk_caches.caches: a list of tables")
    return name, tuple(_spec(c, i) for i, c in enumerate(caches))


def _spec(table: Mapping[str, Any], i: int) -> CacheSpec:
    where = f"walk_caches.caches[{i}]"
    unknown = sorted(set(table) - set(_CACHE_KEYS))
    if unknown:
        raise PagingError(
            "InvalidRequest",
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(_CACHE_KEYS)})",
        )
    kind = table.get("kind")
    if kind not in KINDS:
        raise PagingError(
            "InvalidRequest", f"{where}.kind = {kind!r} (allowed: {', '.join(KINDS)})"
        )
    stage = table.get("stage", 0 if kind == "pwc" else 2 if kind == "ntlb" else 1)
    allowed_stages = {"psc": (1, 2), "pwc": (0, 1, 2), "ntlb": (2,)}[kind]
    if stage not in allowed_stages:
        raise PagingError(
            "InvalidRequest",
            f"{where}.stage = {stage!r} (allowed for {kind}: "
            f"{', '.join(map(str, allowed_stages))}; 0 = both)",
        )
    levels = table.get("levels", [])
    if not isinstance(levels, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 8 for d in levels
    ):
        raise PagingError("InvalidRequest", f"{where}.levels: a list of depths (0 = root)")
    if kind != "ntlb" and not levels:
        raise PagingError("InvalidRequest", f"{where}.levels: which depths it caches")
    entries, ways = table.get("entries"), table.get("ways", table.get("entries"))
    if not (
        isinstance(entries, int)
        and isinstance(ways, int)
        and 0 < ways <= entries <= 4096
        and entries % ways == 0
    ):
        raise PagingError(
            "InvalidRequest",
            f"{where}: entries must be a positive multiple of ways, at most 4096 "
            f"(got entries={entries!r}, ways={ways!r})",
        )
    name = str(table.get("name", f"{kind.upper()} {i}"))
    return CacheSpec(name, kind, stage, tuple(sorted(set(levels))), entries, ways)


class _Sets:
    """`entries // ways` sets of `ways`, least-recently-used replacement; dicts keep order."""

    __slots__ = ("hits", "lookups", "nsets", "sets", "spec", "ways")

    def __init__(self, spec: CacheSpec) -> None:
        self.spec = spec
        self.ways = spec.ways
        self.nsets = spec.entries // spec.ways
        self.sets: list[dict[tuple[int, ...], int]] = [{} for _ in range(self.nsets)]
        self.hits = 0
        self.lookups = 0

    def get(self, key: tuple[int, ...], index: int) -> Any:
        self.lookups += 1
        ways = self.sets[index % self.nsets]
        value: Any = ways.pop(key, _MISS)
        if value is not _MISS:
            ways[key] = value
            self.hits += 1
        return value

    def put(self, key: tuple[int, ...], index: int, value: int) -> None:
        ways = self.sets[index % self.nsets]
        if ways.pop(key, _MISS) is _MISS and len(ways) >= self.ways:
            del ways[next(iter(ways))]
        ways[key] = value

    def drop(self, doomed: Callable[[tuple[int, ...]], bool]) -> int:
        gone = 0
        for ways in self.sets:
            for key in [k for k in ways if doomed(k)]:
                del ways[key]
                gone += 1
        return gone

    def __len__(self) -> int:
        return sum(map(len, self.sets))


@dataclass(frozen=True, slots=True)
class Ref:
    """One page-table read as the caches see it: `addr` is the address this stage translates
    (gVA, or the gPA of a nested walk), `entry` the entry's hPA, `next` the next table's address
    in its own space (tables only), `sub` the nested walk's index (stage 2) or -1."""

    stage: int
    depth: int
    sub: int
    addr: int
    entry: int
    raw: int
    table: bool
    next: int
    leaf_size: int


class WalkCaches:
    """The caches of one machine; `account` runs one walk's references through them."""

    def __init__(self, specs: tuple[CacheSpec, ...], s1: PagingFormat, s2: PagingFormat) -> None:
        self.specs, self.s1, self.s2 = specs, s1, s2
        for spec in self.specs:
            for stage in (1, 2) if spec.stage == 0 else (spec.stage,):
                fmt = self.s1 if stage == 1 else self.s2
                bad = [d for d in spec.levels if d >= fmt.leaf_depth]
                if bad and spec.stage != 0:
                    raise PagingError(
                        "InvalidRequest",
                        f"walk cache {spec.name!r}: depth {bad[0]} is not above the stage-{stage}"
                        f" leaf (allowed: 0..{fmt.leaf_depth - 1})",
                    )
        self.caches = [_Sets(s) for s in self.specs]
        self._psc = {
            stage: sorted(
                (
                    (d, c)
                    for c in self.caches
                    if c.spec.kind == "psc" and c.spec.stage == stage
                    for d in c.spec.levels
                ),
                key=lambda dc: -dc[0],
            )  # fmt: skip
            for stage in (1, 2)
        }
        self._pwc = [c for c in self.caches if c.spec.kind == "pwc"]
        self._ntlb = next((c for c in self.caches if c.spec.kind == "ntlb"), None)
        self._s2_sizes = sorted({lv.leaf_size for lv in self.s2.levels if lv.leaf_size})
        self._shift = {
            1: [lv.shift for lv in self.s1.levels],
            2: [lv.shift for lv in self.s2.levels],
        }

    @classmethod
    def build(
        cls, preset_name: str | None, extra: Sequence[CacheSpec], s1: PagingFormat, s2: PagingFormat
    ) -> WalkCaches | None:
        specs = (preset(preset_name, s1, s2) if preset_name else ()) + tuple(extra)
        return cls(specs, s1, s2) if specs else None

    # ------------------------------------------------------------------ one walk

    def account(
        self, refs: Sequence[Ref], gva: int, vmid: int, asid: int
    ) -> tuple[list[str | None], bool]:
        """Which cache serves each reference (None: memory), in the walk's order, filling as the
        hardware would; and whether a cache held a value memory no longer has. `refs` are one
        walk's references in order (`refs`)."""
        served: list[str | None] = [None] * len(refs)
        stale: list[bool] = [False] * len(refs)
        skip1, name1, value1 = self._skip(1, gva, (vmid, asid))
        n = len(refs)
        i = 0
        while i < n:
            ref = refs[i]
            if ref.stage == 2:
                j = i
                while j < n and refs[j].stage == 2 and refs[j].sub == ref.sub:
                    j += 1
                guest_depth = ref.sub
                if 0 <= guest_depth <= skip1:  # the guest entry is not read: nor translated
                    served[i:j] = [name1] * (j - i)
                else:
                    self._nested(refs, i, j, vmid, served, stale)
                i = j
                continue
            if ref.depth <= skip1:
                served[i] = name1
                if ref.depth == skip1 and value1 != ref.next:
                    stale[i] = True
            else:
                self._read(ref, (vmid, asid), served, stale, i)
            i += 1
        return served, any(stale)

    def _skip(self, stage: int, addr: int, tags: tuple[int, ...]) -> tuple[int, str | None, int]:
        """The deepest translation-cache hit for `addr`: (depth, cache name, next table)."""
        shifts = self._shift[stage]
        for depth, cache in self._psc[stage]:
            prefix = addr >> shifts[depth]
            value = cache.get((depth, prefix, *tags), prefix)
            if value is not _MISS:
                return depth, cache.spec.name, value
        return -1, None, 0

    def _read(
        self,
        ref: Ref,
        tags: tuple[int, ...],
        served: list[str | None],
        stale: list[bool],
        i: int,
    ) -> None:
        """A reference the walk makes past any skip: a PWC may serve it; fills follow."""
        for pwc in self._pwc:
            if ref.depth in pwc.spec.levels and pwc.spec.stage in (0, ref.stage):
                value = pwc.get((ref.entry,), ref.entry >> 3)
                if value is not _MISS:
                    served[i] = pwc.spec.name
                    stale[i] = value != ref.raw
                elif ref.table:
                    pwc.put((ref.entry,), ref.entry >> 3, ref.raw)
                break
        if ref.table:
            prefix = ref.addr >> self._shift[ref.stage][ref.depth]
            for depth, cache in self._psc[ref.stage]:
                if depth == ref.depth:
                    cache.put((depth, prefix, *tags), prefix, ref.next)

    def _nested(
        self,
        refs: Sequence[Ref],
        i: int,
        j: int,
        vmid: int,
        served: list[str | None],
        stale: list[bool],
    ) -> None:
        """One stage-2 walk (refs[i:j]) for the gPA refs[i].addr."""
        gpa = refs[i].addr
        ntlb = self._ntlb
        if ntlb is not None:
            for size in self._s2_sizes:
                key = (gpa // size, size, vmid)
                if key in ntlb.sets[key[0] % ntlb.nsets]:
                    ntlb.get(key, key[0])
                    served[i:j] = [ntlb.spec.name] * (j - i)
                    return
            ntlb.lookups += 1
        skip, name, value = self._skip(2, gpa, (vmid,))
        for k in range(i, j):
            ref = refs[k]
            if ref.depth <= skip:
                served[k] = name
                if ref.depth == skip and value != ref.next:
                    stale[k] = True
            else:
                self._read(ref, (vmid,), served, stale, k)
        last = refs[j - 1]
        if ntlb is not None and last.leaf_size:
            key = (gpa // last.leaf_size, last.leaf_size, vmid)
            ntlb.put(key, key[0], last.next)

    def refs(self, steps: Sequence[Any], gva: int, gpa: int | None) -> list[Ref]:
        """A walk's `WalkStep`s as cache references (`gpa`: the walk's final gPA)."""
        out: list[Ref] = []
        guest_entry = {s.depth: s.entry_addr for s in steps if s.stage == 1}
        s2_levels = self.s2.levels
        for k, s in enumerate(steps):
            table = s.outcome == "table"
            nxt = _next_table(steps, k) if table else 0
            if s.stage == 1:
                out.append(Ref(1, s.depth, -1, gva, s.entry_hpa, s.raw, table, nxt, 0))
                continue
            if s.for_depth is None:
                sub, addr = -2, gpa or 0
            else:
                sub, addr = s.for_depth, guest_entry.get(s.for_depth, 0)
            leaf_size = 0
            if s.outcome == "leaf":
                leaf_size = s2_levels[s.depth].leaf_size or 0x1000
                nxt = s.raw  # what an NTLB fill holds; compared only for staleness
            out.append(Ref(2, s.depth, sub, addr, s.entry_hpa, s.raw, table, nxt, leaf_size))
        return out

    # ------------------------------------------------------------------ invalidation

    def invalidate(self, kind: str, addr: int | None, vmid: int, asid: int, scope: Any) -> int:
        """Drop what the invalidation `kind` removes from walk caches; returns how many.
        `scope` is the TLB's `FlushScope` for kinds this table does not name."""
        rule = FLUSH_RULES.get(kind) or _from_scope(scope)
        if addr is not None and kind in _LEAF_ONLY_WITH_ADDR:
            rule = ("none", "none")
        if scope is not None and not scope.same_vmid:  # e.g. HFENCE.GVMA with vmid = "all"
            rule = tuple("all" if how == "vmid" else how for how in rule)  # type: ignore[assignment]
        gone = 0
        for cache in self.caches:
            for stage in (1, 2) if cache.spec.stage == 0 else (cache.spec.stage,):
                how = rule[stage - 1]
                if how == "none":
                    continue
                if cache.spec.kind == "pwc":  # physically tagged: no context to filter by
                    gone += cache.drop(lambda k: True)
                    continue
                gone += cache.drop(_doomed(how, stage, cache.spec.kind, addr, vmid, asid,
                                           self._shift[stage]))  # fmt: skip
        return gone

    def forget(self, gva: int, vmid: int, asid: int) -> None:
        """A guest page fault drops the translation-cache entries its address would use (SDM
        Vol. 3A §4.10.4.1, "page faults invalidate")."""
        shifts = self._shift[1]
        for depth, cache in self._psc[1]:
            cache.drop((depth, gva >> shifts[depth], vmid, asid).__eq__)

    def clear(self) -> None:
        for cache in self.caches:
            cache.drop(lambda k: True)

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            c.spec.name: {"lookups": c.lookups, "hits": c.hits, "entries": len(c)}
            for c in self.caches
        }


def _doomed(
    how: str, stage: int, kind: str, addr: int | None, vmid: int, asid: int, shifts: list[int]
) -> Callable[[tuple[int, ...]], bool]:
    """Which keys a rule removes. psc keys: (depth, prefix, vmid[, asid]); ntlb: (page, size,
    vmid)."""
    if how == "all":
        return lambda k: True
    if kind == "ntlb":
        if how == "addr" and addr is not None:
            return lambda k: k[2] == vmid and k[0] == addr // k[1]
        return lambda k: k[2] == vmid
    if how == "vmid":
        return lambda k: k[2] == vmid
    if how == "context":  # the current VMID/EPTP and ASID/VPID
        return lambda k: k[2] == vmid and (stage == 2 or k[3] == asid)
    if how == "addr" and addr is not None:
        return lambda k: (
            k[2] == vmid and (stage == 2 or k[3] == asid) and k[1] == addr >> shifts[k[0]]
        )
    return lambda k: k[2] == vmid and (stage == 2 or k[3] == asid)


#: flush kind → (stage-1 caches, stage-2 caches): none | all | vmid | context | addr
FLUSH_RULES: dict[str, tuple[str, str]] = {
    # INVEPT drops guest-physical and combined mappings, paging-structure caches included
    # (SDM Vol. 3C §28.4.3.1); the guest PSCs hold combined mappings tagged with the EPTP
    "invept-single": ("vmid", "vmid"),
    "invept-global": ("all", "all"),
    # INVVPID drops linear and combined mappings of the VPID: all its PSC entries, whatever the
    # address, as INVLPG does (SDM Vol. 3A §4.10.4.1); PSCs hold no global translations
    # (§4.10.2.4), so "retaining globals" keeps none of them
    "invvpid-addr": ("context", "none"),
    "invvpid-single": ("context", "none"),
    "invvpid-single-retain-global": ("context", "none"),
    "invvpid-all": ("all", "none"),
    "invlpg": ("context", "none"),
    "invpcid": ("context", "none"),
    # Arm: TLBI by VA removes walk-cache entries for that VA; the last-level forms (…VALE1…)
    # only leaf entries (Arm ARM D8.13 "TLB maintenance"); IPAS2E1 stage-2 entries for the IPA
    "tlbi-ipas2e1is": ("none", "addr"),
    "tlbi-vmalls12e1is": ("vmid", "vmid"),
    "tlbi-vae1is": ("addr", "none"),
    "tlbi-vale1is": ("none", "none"),
    "tlbi-vaae1is": ("addr", "none"),
    "tlbi-vmalle1is": ("vmid", "none"),
    "tlbi-aside1is": ("context", "none"),
    "tlbi-alle1is": ("all", "all"),
    # RISC-V: an HFENCE with an address orders only the *leaf* entries for it (priv. spec
    # §"SFENCE.VMA", Hypervisor §"HFENCE.VVMA/GVMA"): walk caches keep non-leaf entries
    "hfence.vvma": ("vmid", "none"),
    "hfence.gvma": ("vmid", "vmid"),
}
#: RISC-V fences given an address order only leaf entries: walk caches keep everything
_LEAF_ONLY_WITH_ADDR = frozenset({"hfence.vvma", "hfence.gvma"})


def _from_scope(scope: Any) -> tuple[str, str]:
    """A flush kind this table does not name: drop the stages the TLB flush covers, in its
    context (a superset of what the manual requires, never less)."""
    if scope is None:
        return ("all", "all")
    s1 = "context" if "combined" in scope.kinds else "none"
    s2 = "vmid" if "stage2" in scope.kinds else "none"
    return (s1, s2)


def _next_table(steps: Sequence[Any], k: int) -> int:
    """The table the entry at steps[k] points to: the next step of the same stage and walk."""
    s = steps[k]
    for t in steps[k + 1 :]:
        if t.stage == s.stage and t.depth == s.depth + 1 and t.for_depth == s.for_depth:
            return int(t.table)
    return 0
