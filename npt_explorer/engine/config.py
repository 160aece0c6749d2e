"""`[machine]` options: what each architecture offers and what a machine assumes by default."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .control import Control, build_control, mode_clash, mode_from_registers, mode_words
from .errors import PagingError
from .formats import Encoding, PagingFormat, get_format, options_from_control
from .walk_cache import CacheSpec


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
    ),
}

DEFAULT_POOL_GPA = 0x0010_0000
DEFAULT_POOL_SIZE = 0x10_0000


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
    tlb_entries: int = 64
    tlb_ways: int = 4
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
            raise PagingError(
                "InvalidRequest", f"unknown arch {self.arch!r} (allowed: {_allowed(ARCHES)})"
            )
        spec = ARCHES[self.arch]
        if isinstance(self.registers, Mapping):
            object.__setattr__(self, "registers", tuple(sorted(self.registers.items())))
        self._modes_from_registers()
        object.__setattr__(self, "guest", self.guest or spec.default_guest)
        object.__setattr__(self, "npt", self.npt or spec.default_npt)
        if self.guest not in spec.guests:
            raise PagingError(
                "InvalidRequest",
                f"guest {self.guest!r} is not one of {self.arch}'s stage-1 modes "
                f"(allowed: {_allowed(spec.guests)})",
            )
        if self.npt not in spec.npts:
            raise PagingError(
                "InvalidRequest",
                f"npt {self.npt!r} is not one of {self.arch}'s stage-2 modes "
                f"(allowed: {_allowed(spec.npts)})",
            )
        unknown = sorted(set(self.features) - set(spec.features))
        if unknown:
            raise PagingError(
                "InvalidRequest",
                f"unknown {self.arch} feature(s) "
                f"{', '.join(unknown)} (allowed: {_allowed(spec.features)})",
            )
        if self.pool_gpa % 0x1000 or self.pool_size % 0x1000 or self.pool_size <= 0:
            raise PagingError(
                "NotAligned",
                "guest_pt_pool gpa and size must be 4 KiB "
                f"aligned and non-empty (got {self.pool_gpa:#x}, {self.pool_size:#x})",
            )
        if self.tlb_enabled and (
            self.tlb_entries <= 0 or self.tlb_ways <= 0 or self.tlb_entries % self.tlb_ways
        ):
            raise PagingError(
                "InvalidRequest",
                "tlb entries must be a positive multiple of ways "
                f"(got entries={self.tlb_entries}, ways={self.tlb_ways})",
            )

        self._check_geometries()

    def _check_geometries(self) -> None:
        """`teach`'s stage geometries as tuples, a `custom` mode with its keys, then both
        formats built (the registers and the geometry they give); a host table cannot be packed."""
        for kind in ("guest", "npt"):
            given = getattr(self, f"{kind}_geometry")
            if isinstance(given, Mapping):
                pairs = ((k, tuple(v) if isinstance(v, list) else v) for k, v in given.items())
                object.__setattr__(self, f"{kind}_geometry", tuple(sorted(pairs)))
            if getattr(self, kind) == "custom" and not getattr(self, f"{kind}_geometry"):
                raise PagingError(
                    "InvalidRequest",
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

    @property
    def control(self) -> Control:
        """The register state the walker consults: defaults for the modes and features, then
        `registers`."""
        return build_control(self.arch, self.guest, self.npt, self.features, dict(self.registers))

    @property
    def spec(self) -> ArchSpec:
        return ARCHES[self.arch]
