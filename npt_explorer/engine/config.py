"""`[machine]` options: what each architecture offers and what a machine assumes by default."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .control import Control, build_control, mode_clash, mode_from_registers, mode_words
from .errors import BadValue, PagingError
from .flags import MappingFlags
from .formats import Encoding, PagingFormat, get_format, options_from_control
from .formats.teach_geometry import GEOMETRY_KEYS, PRESETS
from .numbers import parse_number
from .walk_cache import CacheSpec
from .walk_cache import parse as parse_walk_caches


@dataclass(frozen=True, slots=True)
class ArchSpec:
    """An architecture's stage-1 and stage-2 modes (name → format + options) and features."""

    name: str
    guests: Mapping[str, tuple[str, dict[str, Any]]]
    npts: Mapping[str, tuple[str, dict[str, Any]]]
    features: tuple[str, ...]
    flushes: tuple[str, ...]
    default_guest: str
    default_npt: str
    title: str
    #: `[machine] geometry = NAME` presets; a stage may also be a table of geometry keys
    geometry_presets: tuple[str, ...] = ()
    # -- what the machine asks of the architecture (no `arch ==` in the machine) --
    #: how stage 2 maps the guest page-table pool
    pool_flags: MappingFlags = MappingFlags.READ | MappingFlags.WRITE
    #: (register, field, value)s that turn stage 1 off: the guest's addresses are gPAs
    stage1_off: tuple[tuple[str, str, int], ...] = ()
    #: the control bit that lets a leaf's global bit count (None: it always counts)
    global_enable: tuple[str, str] | None = None
    #: the control bit that enables process-context tags beside the ASID (None: no PCIDs)
    pcid_enable: tuple[str, str] | None = None
    #: control bits whose change flushes the whole TLB and the walk caches
    flush_on_change: tuple[tuple[str, str], ...] = ()
    #: the stage-2 tag from the stage-2 format and root, where it is not a VMID the
    #: hypervisor picks (then several stage-2 roots are contexts: `context eptp = N`)
    stage2_tag: Callable[[PagingFormat, int], int] | None = None
    #: what the stage-2 tag is called
    stage2_tag_name: str = "VMID"
    #: hypervisor loads/stores that access guest memory as the guest, and the control bit
    #: that gives their privilege (set: the guest kernel's, clear: its user's)
    hypervisor_accesses: tuple[str, ...] = ()
    hypervisor_priv: tuple[str, str] | None = None
    #: the control field that bounds physical addresses (stage-2 tables stay below it)
    phys_limit: tuple[str, str] | None = None


def _eptp_or_ncr3(s2: PagingFormat, root: int) -> int:
    """Intel: the EPTP — the EPT root | bit 6 A/D enable | bits 5:3 walk length - 1 | memory
    type 6 (WB) (SDM Vol. 3C, VMCS "Extended-Page-Table Pointer"); TLB entries are tagged by
    it (SDM 3C 28.3). AMD: nCR3, the nested table's root (APM Vol. 2 §15.25.3)."""
    if s2.name == "npt":
        return root
    ad = 1 << 6 if "ept-ad" in s2.features else 0
    return root | ad | ((s2.depth_count - 1) << 3) | 6


ARCHES: dict[str, ArchSpec] = {
    "x86_64": ArchSpec(
        name="x86_64",
        guests={
            "4-level": ("x86-64", {}),
            "5-level": ("x86-64-la57", {}),
            "pae": ("x86-pae", {}),
            "32-bit": ("x86-32", {}),  # CR4.PAE=0: 4-byte entries, 4 MiB pages with CR4.PSE
        },
        npts={
            "ept4": ("ept", {"levels": 4}),
            "ept5": ("ept", {"levels": 5}),
            "npt4": ("npt", {"levels": 4}),  # AMD nested paging: nCR3, long-mode entries
            "npt5": ("npt", {"levels": 5}),  # ... with the host in 5-level paging (LA57)
        },
        features=("ept-ad", "mbec", "ept-execute-only", "ept-exit-info"),
        flushes=(
            "invept-single",
            "invept-global",
            "invvpid-addr",
            "invvpid-single",
            "invvpid-all",
            "invlpga",  # AMD: the guest's (ASID's) entries for one gVA
            "tlb-control-flush-asid",  # AMD: VMRUN with VMCB TLB_CONTROL = 3
            "tlb-control-flush-all",  # AMD: VMRUN with VMCB TLB_CONTROL = 1
            "invvpid-single-retain-global",
            "invlpg",
            "invpcid",
            "mov-cr3",
        ),
        default_guest="4-level",
        default_npt="ept4",
        title="x86_64 with Intel EPT or AMD nested paging",
        global_enable=("cr4", "PGE"),  # a leaf's G counts only with CR4.PGE=1 (SDM 3A 4.10.2.4)
        pcid_enable=("cr4", "PCIDE"),  # PCIDs other than 0 need CR4.PCIDE=1 (SDM 3A 4.10.1)
        # SDM 3A 4.10.4.1: a MOV to CR4 that changes PGE (or clears PCIDE) flushes everything
        flush_on_change=(("cr4", "PGE"),),
        stage2_tag=_eptp_or_ncr3,
        stage2_tag_name="EPTP",
        # stage-2 table addresses must stay below MAXPHYADDR (SDM 3C 29.3.3.1)
        phys_limit=("maxphyaddr", "MAXPHYADDR"),
    ),
    "aarch64": ArchSpec(
        name="aarch64",
        guests={  # the guest's tables are read by the EL1&0 regime, also with `arm-el2`
            "va48": ("aarch64-s1", {"va_bits": 48, "regime": "el1"}),
            "va39": ("aarch64-s1", {"va_bits": 39, "regime": "el1"}),
        },
        npts={
            "ipa40": ("aarch64-s2", {"ipa_bits": 40}),
            "ipa39": ("aarch64-s2", {"ipa_bits": 39}),
            "ipa44": ("aarch64-s2", {"ipa_bits": 44}),
            "ipa48": ("aarch64-s2", {"ipa_bits": 48}),
        },
        features=("hafdbs", "fwb", "xnx", "arm-el2"),
        flushes=(
            "tlbi-ipas2e1is",
            "tlbi-vmalls12e1is",
            "tlbi-vae1is",
            "tlbi-vmalle1is",
            "tlbi-aside1is",
            "tlbi-vale1is",
            "tlbi-vaae1is",
            "tlbi-alle1is",
        ),
        default_guest="va48",
        default_npt="ipa40",
        title="AArch64 with stage-2 translation",
        stage1_off=(("sctlr_el1", "M", 0),),  # the EL1&0 stage 1 is off (Arm ARM D8.2.11)
    ),
    "riscv64": ArchSpec(
        name="riscv64",
        guests={
            "sv39": ("sv39", {"stage": 1}),
            "sv48": ("sv48", {"stage": 1}),
            "sv57": ("sv57", {"stage": 1}),
        },
        npts={
            "sv39x4": ("sv39x4", {}),
            "sv48x4": ("sv48x4", {}),
            "sv57x4": ("sv57x4", {}),
            "sv39": ("sv39", {"stage": 2}),
        },
        features=("svadu", "svnapot", "svpbmt", "xuantie-c9xx"),
        flushes=("hfence.gvma", "hfence.vvma"),
        default_guest="sv39",
        default_npt="sv39x4",
        title="RISC-V with the hypervisor extension's G-stage",
        # axvm adds USER to guest RAM (seed-crates.md §4, item 3)
        pool_flags=MappingFlags.READ | MappingFlags.WRITE | MappingFlags.USER,
        stage1_off=(("vsatp", "MODE", 0),),  # Bare: VS-stage off (Priv. ISA 21.2.13)
        # HLV/HLVX/HSV run at the privilege hstatus.SPVP gives (Priv. ISA 9.2.1)
        hypervisor_accesses=("hlv", "hlvx", "hsv"),
        hypervisor_priv=("hstatus", "SPVP"),
    ),
    "loongarch64": ArchSpec(
        name="loongarch64",
        guests={"la64": ("la64", {"stage": 1})},
        npts={"la64": ("la64", {"stage": 2})},  # KVM's GPA table, walked by the root refill
        features=("ptw",),
        flushes=("invtlb-all", "invtlb-addr-gfalse-and-asid", "invtlb-gid-addr", "invtlb-allgid"),
        default_guest="la64",
        default_npt="la64",
        title="LoongArch64 with LVZ (KVM's GPA table)",
    ),
    "teach": ArchSpec(
        name="teach",
        # presets (teach_geometry.PRESETS) or `custom`: the geometry given key by key
        guests={
            "6.823": ("teach", {"geometry": "6.823", "stage": 1}),
            "ostep": ("teach", {"geometry": "ostep", "stage": 1}),
            "custom": ("teach", {"stage": 1}),
        },
        npts={
            "6.823": ("teach", {"geometry": "6.823", "stage": 2}),
            "ostep": ("teach", {"geometry": "ostep", "stage": 2}),
            "custom": ("teach", {"stage": 2}),
        },
        features=(),
        flushes=("flush-all", "flush-page"),
        default_guest="6.823",
        default_npt="6.823",
        title="a teaching machine: two stages of simple V/R/W/X/U tables of any geometry",
        geometry_presets=tuple(PRESETS),
    ),
}

DEFAULT_POOL_GPA = 0x0010_0000
DEFAULT_POOL_SIZE = 0x10_0000
DEFAULT_TLB_ENTRIES = 64
DEFAULT_TLB_WAYS = 4


def _allowed(values: Iterable[str]) -> str:
    return ", ".join(values)


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """One machine's `[machine]` table, validated."""

    arch: str = "x86_64"
    guest: str = ""
    npt: str = ""
    features: frozenset[str] = field(default_factory=frozenset)
    encoding: Encoding = Encoding.FIXED
    pool_gpa: int = DEFAULT_POOL_GPA
    pool_size: int = DEFAULT_POOL_SIZE
    map_pool: bool = True
    tlb_entries: int = DEFAULT_TLB_ENTRIES
    tlb_ways: int = DEFAULT_TLB_WAYS
    tlb_enabled: bool = True
    walk_cache_preset: str | None = None  # `walk_caches`: a named design (walk_cache.PRESETS)
    walk_cache_specs: tuple[CacheSpec, ...] = ()  # and/or caches described one by one
    #: `[machine.registers]`: (register, value) pairs over the defaults (see `engine.control`)
    registers: tuple[tuple[str, int], ...] = ()
    #: `teach`: a stage's geometry keys (teach_geometry.GEOMETRY_KEYS) over its mode's preset
    guest_geometry: tuple[tuple[str, Any], ...] = ()
    npt_geometry: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise BadValue("arch", f"unknown arch {self.arch!r} (allowed: {_allowed(ARCHES)})")
        spec = ARCHES[self.arch]
        if isinstance(self.registers, Mapping):
            object.__setattr__(self, "registers", tuple(sorted(self.registers.items())))
        self._modes_from_registers()
        object.__setattr__(self, "guest", self.guest or spec.default_guest)
        object.__setattr__(self, "npt", self.npt or spec.default_npt)
        for kind, stage, modes in (("guest", 1, spec.guests), ("npt", 2, spec.npts)):
            if getattr(self, kind) not in modes:
                raise BadValue(
                    kind,
                    f"{getattr(self, kind)!r} is not a {kind} mode of {self.arch} "
                    f"(allowed: {_allowed(modes)} — {self.arch}'s stage-{stage} modes)",
                )
        unknown = sorted(set(self.features) - set(spec.features))
        if unknown:
            raise BadValue(
                "features",
                f"unknown {self.arch} feature(s) "
                f"{', '.join(unknown)} (allowed: {_allowed(spec.features)})",
            )
        if self.pool_gpa % 0x1000 or self.pool_size % 0x1000 or self.pool_size <= 0:
            raise BadValue(
                "guest_pt_pool",
                "guest_pt_pool gpa and size must be 4 KiB "
                f"aligned and non-empty (got {self.pool_gpa:#x}, {self.pool_size:#x})",
                "NotAligned",
            )
        self._check_tlb()

        self._check_geometries()

    def _check_tlb(self) -> None:
        """A positive multiple of ways; a TLB turned off has no size (the defaults are kept,
        so two machines without a TLB are equal)."""
        if not self.tlb_enabled:
            object.__setattr__(self, "tlb_entries", DEFAULT_TLB_ENTRIES)
            object.__setattr__(self, "tlb_ways", DEFAULT_TLB_WAYS)
        elif self.tlb_entries <= 0 or self.tlb_ways <= 0 or self.tlb_entries % self.tlb_ways:
            raise BadValue(
                "tlb",
                "tlb entries must be a positive multiple of ways "
                f"(got entries={self.tlb_entries}, ways={self.tlb_ways})",
            )

    def _check_geometries(self) -> None:
        """`teach`'s stage geometries as tuples, a `custom` mode with its keys, then both
        formats built (the registers and the geometry they give); a host table cannot be packed."""
        for kind in ("guest", "npt"):
            given = getattr(self, f"{kind}_geometry")
            if isinstance(given, Mapping):
                pairs = ((k, tuple(v) if isinstance(v, list) else v) for k, v in given.items())
                object.__setattr__(self, f"{kind}_geometry", tuple(sorted(pairs)))
            if getattr(self, kind) == "custom" and not getattr(self, f"{kind}_geometry"):
                raise BadValue(
                    kind,
                    f"{kind} 'custom' needs its geometry: {kind} = {{ levels, index_bits, "
                    "offset_bits, entry_bytes }",
                )
        self.format_for("guest")
        if self.format_for("npt").packed_tables:
            raise PagingError(
                "InvalidRequest",
                f"npt {self.npt!r}: its tables are smaller than a 4 KiB frame, packed several "
                "to a frame, which the host's table cannot allocate (a guest may have them: "
                "its root is the pool's first frame; see docs/scenarios.md, teach)",
            )

    def format_for(self, kind: str) -> PagingFormat:
        """A new format for stage 1 (`guest`) or 2 (`npt`): the mode's, with the geometry the
        registers give (AArch64 T0SZ/TG0/SL0)."""
        modes = self.spec.guests if kind == "guest" else self.spec.npts
        name, options = modes[self.guest if kind == "guest" else self.npt]
        extra = dict(self.guest_geometry if kind == "guest" else self.npt_geometry)
        options = {**options, **extra, **options_from_control(name, self.control)}
        return get_format(name, features=self.features, **options)

    def _modes_from_registers(self) -> None:
        """Registers decide the modes; a `guest`/`npt` that disagrees is an error naming both."""
        registers = dict(self.registers)
        for kind in ("guest", "npt"):
            said = mode_from_registers(self.arch, kind, registers)
            given = getattr(self, kind)
            clash = mode_clash(self.arch, kind, given, registers) if given else ""
            if clash:
                raise PagingError(
                    "InvalidRequest",
                    f"{kind} {given!r} ({mode_words(self.arch, kind, given)}) disagrees with "
                    f"[machine.registers] ({clash})",
                )
            if said is None:
                continue
            if given and given != said and mode_words(self.arch, kind, given):
                raise PagingError(
                    "InvalidRequest",
                    f"{kind} {given!r} ({mode_words(self.arch, kind, given)}) disagrees with "
                    f"[machine.registers] ({mode_words(self.arch, kind, said)}: {said!r})",
                )
            if not given:
                object.__setattr__(self, kind, said)

    def check_control(self, control: Control) -> None:
        """Refuse registers a machine (or image workbench) of this config cannot take in place:
        another arch, another `guest`/`npt` mode, another geometry (levels, granule)."""
        if control.arch != self.arch:
            raise PagingError("InvalidRequest", f"control state of {control.arch}, not {self.arch}")
        for kind in ("guest", "npt"):
            said = mode_from_registers(self.arch, kind, control.values)
            if said is not None and said != getattr(self, kind):
                raise PagingError(
                    "InvalidRequest",
                    f"{mode_words(self.arch, kind, said)} selects {kind} {said!r}; this machine "
                    f"was built as {getattr(self, kind)!r} (start a new one to change it)",
                )
        rebuilt = replace(self, registers=tuple(sorted(control.values.items())))
        for kind in ("guest", "npt"):
            if rebuilt.format_for(kind).levels != self.format_for(kind).levels:
                raise PagingError(
                    "InvalidRequest",
                    f"these registers change the {kind} geometry (levels, granule); this machine "
                    "was built with other tables (start a new one to change it)",
                )

    @classmethod
    def from_table(cls, table: Mapping[str, Any], arch: str | None = None) -> MachineConfig:
        """The machine a `[machine]` table describes (`arch` from the table, else the given
        one, else x86_64). Raises `BadValue` naming the key, the value and what is allowed; a
        rule between keys (registers against modes, a packed host table) as `PagingError`."""
        arch = _table_arch(table, arch)
        options: dict[str, Any] = {"arch": arch}
        spec = ARCHES[arch]
        for key, value in table.items():
            if key == "arch":
                continue
            reader = _READERS.get(key)
            if reader is None:
                allowed = _allowed((*MACHINE_KEYS, "arch"))
                raise BadValue(key, f"unknown key (allowed: {allowed})")
            for name, got in reader(value, spec, key).items():
                if name in ("guest", "npt") and key == "geometry":
                    options.setdefault(name, got)  # a preset for both; `guest`/`npt` win
                else:
                    options[name] = got
        return cls(**options)

    def to_table(self) -> dict[str, Any]:
        """This machine as the `[machine]` table `from_table` reads back to an equal config:
        addresses and register values in hex, as a person writes them."""
        table: dict[str, Any] = {
            "arch": self.arch,
            "guest": _stage_table(self.guest, self.guest_geometry),
            "npt": _stage_table(self.npt, self.npt_geometry),
            "features": sorted(self.features),
            "encoding": str(self.encoding),
            "guest_pt_pool": {"gpa": hex(self.pool_gpa), "size": hex(self.pool_size)},
            "map_pool": self.map_pool,
            "tlb": {"entries": self.tlb_entries, "ways": self.tlb_ways}
            if self.tlb_enabled
            else False,
        }
        if self.walk_cache_specs:
            head = {"preset": self.walk_cache_preset} if self.walk_cache_preset else {}
            table["walk_caches"] = {**head, "caches": [c.to_table() for c in self.walk_cache_specs]}
        elif self.walk_cache_preset:
            table["walk_caches"] = self.walk_cache_preset
        if self.registers:
            table["registers"] = {name: hex(value) for name, value in self.registers}
        return table

    @property
    def control(self) -> Control:
        """The register state the walker consults: defaults for the modes and features, then
        `registers`."""
        return build_control(self.arch, self.guest, self.npt, self.features, dict(self.registers))

    @property
    def spec(self) -> ArchSpec:
        return ARCHES[self.arch]


# ---------------------------------------------------------------- the `[machine]` table


def _table_arch(table: Mapping[str, Any], arch: str | None) -> str:
    given = table.get("arch")
    if given is not None and arch is not None and given != arch:
        raise BadValue("arch", f"{given!r}, but this machine is {arch} (allowed: {arch})")
    arch = str(given if given is not None else arch or "x86_64")
    if arch not in ARCHES:
        raise BadValue("arch", f"unknown arch {arch!r} (allowed: {_allowed(ARCHES)})")
    return arch


def _stage_table(mode: str, geometry: tuple[tuple[str, Any], ...]) -> Any:
    """A stage's mode, or (a teaching machine with geometry keys) its table of keys."""
    if not geometry:
        return mode
    keys = {k: list(v) if isinstance(v, tuple) else v for k, v in geometry}
    return keys if mode == "custom" else {"geometry": mode, **keys}


Reader = Callable[[Any, ArchSpec, str], dict[str, Any]]


def _stage(value: Any, spec: ArchSpec, key: str) -> dict[str, Any]:
    """`guest`/`npt`: a mode name, or on a machine with geometries a table of geometry keys
    over a preset (`{ geometry = "ostep", levels = 3 }`) or without one (`custom`)."""
    if isinstance(value, Mapping) and spec.geometry_presets:
        return dict(zip((key, f"{key}_geometry"), _geometry_table(value, key), strict=True))
    modes = spec.guests if key == "guest" else spec.npts
    if str(value) not in modes:
        raise BadValue(
            key, f"{value!r} is not a {key} mode of {spec.name} (allowed: {_allowed(modes)})"
        )
    return {key: str(value)}


def _geometry_table(value: Mapping[str, Any], key: str) -> tuple[str, dict[str, Any]]:
    """The mode and the geometry keys over it; the geometry's own rules blamed on `key`."""
    geometry = dict(value)
    preset = geometry.pop("geometry", None)
    if preset is not None and preset not in PRESETS:
        raise BadValue(f"{key}.geometry", f"{preset!r} (allowed: {_allowed(PRESETS)})")
    unknown = sorted(set(geometry) - set(GEOMETRY_KEYS))
    if unknown:
        raise BadValue(
            key,
            f"unknown key(s) {', '.join(unknown)} (allowed: geometry, {_allowed(GEOMETRY_KEYS)})",
        )
    options = {**geometry, **({"geometry": preset} if preset is not None else {})}
    try:
        get_format("teach", **options)
    except PagingError as err:
        raise BadValue(key, err.message) from None
    return (str(preset) if preset is not None else "custom"), geometry


def _geometry(value: Any, spec: ArchSpec, key: str) -> dict[str, Any]:
    """`geometry = NAME`: one preset for both stages."""
    if not isinstance(value, str) or value not in spec.geometry_presets:
        teach = next(s for s in ARCHES.values() if s.geometry_presets)
        raise BadValue(
            key,
            f'{value!r}: a preset of arch = "{teach.name}" '
            f"(allowed: {_allowed(teach.geometry_presets)})",
        )
    return {"guest": value, "npt": value}


def _features(value: Any, spec: ArchSpec, key: str) -> dict[str, Any]:
    if not isinstance(value, list):
        raise BadValue(key, f"a list of names (allowed: {_allowed(spec.features) or 'none'})")
    unknown = sorted(set(map(str, value)) - set(spec.features))
    if unknown:
        raise BadValue(
            key,
            f"unknown {spec.name} feature(s) {', '.join(unknown)} "
            f"(allowed: {_allowed(spec.features)})",
        )
    return {"features": frozenset(map(str, value))}


def _encoding(value: Any, spec: ArchSpec, key: str) -> dict[str, Any]:
    if value not in tuple(Encoding):
        raise BadValue(key, f"{value!r} (allowed: {_allowed(Encoding)})")
    return {"encoding": Encoding(value)}


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise BadValue(key, f"{key} = {value!r} (allowed: true, false)")
    return value


def _pool(value: Any, spec: ArchSpec, key: str) -> dict[str, Any]:
    """`guest_pt_pool = { gpa, size, map_pool }`: where the guest's page tables live."""
    if not isinstance(value, Mapping):
        raise BadValue(key, "a table { gpa, size }")
    for k in value:
        if k not in ("gpa", "size", "map_pool"):
            raise BadValue(key, f"unknown key {k!r} (allowed: gpa, size, map_pool)")
    out: dict[str, Any] = {}
    if "gpa" in value:
        out["pool_gpa"] = parse_number(value["gpa"], f"{key}.gpa")
    if "size" in value:
        out["pool_size"] = parse_number(value["size"], f"{key}.size", size=True)
    if "map_pool" in value:
        out["map_pool"] = _flag(value["map_pool"], f"{key}.map_pool")
    return out


def _map_pool(value: Any, spec: ArchSpec, key: str) -> dict[str, Any]:
    return {"map_pool": _flag(value, key)}


def _tlb(value: Any, spec: ArchSpec, key: str) -> dict[str, Any]:
    """`tlb = { entries, ways }`, or `false`: no TLB."""
    if value is False:
        return {"tlb_enabled": False}
    if not isinstance(value, Mapping) or not set(value) <= {"entries", "ways"}:
        raise BadValue(key, f"{value!r} (allowed: {{ entries, ways }} or false)")
    return {
        "tlb_entries": parse_number(value.get("entries", DEFAULT_TLB_ENTRIES), f"{key}.entries"),
        "tlb_ways": parse_number(value.get("ways", DEFAULT_TLB_WAYS), f"{key}.ways"),
    }


def _walk_caches(value: Any, spec: ArchSpec, key: str) -> dict[str, Any]:
    try:
        preset, specs = parse_walk_caches(value)
    except PagingError as err:
        raise BadValue(key, err.message) from None
    return {"walk_cache_preset": preset, "walk_cache_specs": specs}


def _registers(value: Any, spec: ArchSpec, key: str) -> dict[str, Any]:
    """`[machine.registers]`: register = value, over the defaults (see `engine.control`)."""
    if not isinstance(value, Mapping):
        raise BadValue(key, "a table of register = value")
    return {"registers": {str(r): parse_number(v, f"{key}.{r}") for r, v in value.items()}}


_READERS: dict[str, Reader] = {
    "guest": _stage,
    "npt": _stage,
    "geometry": _geometry,
    "features": _features,
    "encoding": _encoding,
    "guest_pt_pool": _pool,
    "map_pool": _map_pool,
    "tlb": _tlb,
    "walk_caches": _walk_caches,
    "registers": _registers,
}
#: the keys of `[machine]` (and `arch`: the scenario's, which `to_table` repeats)
MACHINE_KEYS = tuple(_READERS)
