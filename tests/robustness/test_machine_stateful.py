"""Machine (both stages, the TLB, the guest's page-table pool) under random call sequences on
every architecture, guest and NPT mode, encoding and feature combination, with errors injected:
misaligned, out-of-range and overlapping regions, tiny host-frame budgets and tiny guest
page-table pools (NoMemory), an unmapped pool (`map_pool = false`), wrong flush kinds,
depths and field names, pokes of random raw bits into entries of both stages.

A failed call leaves host memory (which holds both stages' tables and guest RAM), the tables'
frame lists, both allocators, the areas, the TLB entries, `last_flush`, the last fault and the
log exactly as before. `translate` changes nothing but the log and the last fault. `access`
never raises. Frame counts add up after every call.
"""

from __future__ import annotations

from typing import Any

from _robust import FAMILY_FEATURES, budget, count, flush_state, memory_image, weighted
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from test_addrspace_stateful import usable_flags

from npt_explorer.engine import Access, MappingFlags, PagingError, Priv, get_format
from npt_explorer.engine.config import ARCHES, MachineConfig
from npt_explorer.engine.formats import Encoding, EntryKind
from npt_explorer.engine.machine import Machine
from npt_explorer.engine.tlb import FLUSHES

K4, M2, G1 = 0x1000, 0x20_0000, 0x4000_0000
MASK64 = (1 << 64) - 1
FAMILY = {
    "x86_64": "x86",
    "aarch64": "arm",
    "riscv64": "riscv",
    "loongarch64": "loongarch",
    "teach": "teach",
}
ACCESSES = st.sampled_from([Access.READ, Access.READ, Access.WRITE, Access.EXEC])
PRIVS = st.sampled_from([Priv.KERNEL, Priv.KERNEL, Priv.KERNEL, Priv.USER])


def _buildable(modes: dict, stage: int) -> list[str]:
    """The modes a machine builds without more keys: not teach's `custom` (it needs its
    geometry), not a host table of packed tables (refused by name: tests/engine)."""
    return sorted(
        m
        for m, (name, opts) in modes.items()
        if m != "custom" and not (stage == 2 and get_format(name, **opts).packed_tables)
    )


@st.composite
def configs(draw: st.DrawFn) -> MachineConfig:
    arch = draw(st.sampled_from(sorted(ARCHES)))
    spec = ARCHES[arch]
    offered = FAMILY_FEATURES[FAMILY[arch]]  # teach offers none
    features = draw(st.sets(st.sampled_from(offered))) if offered else set()
    tlb = draw(st.sampled_from([(64, 4), (4, 2), (1, 1), None]))
    pool_size = draw(st.sampled_from([0x10_0000, 0x3000, 0x1000]))
    return MachineConfig(
        arch=arch,
        guest=draw(st.sampled_from(_buildable(spec.guests, stage=1))),
        npt=draw(st.sampled_from(_buildable(spec.npts, stage=2))),
        features=frozenset(features),
        encoding=draw(st.sampled_from(list(Encoding))),
        pool_gpa=draw(st.sampled_from([0x10_0000, 0x7FE0_0000])),
        pool_size=pool_size,
        map_pool=draw(st.booleans()) if draw(st.booleans()) else True,
        tlb_entries=tlb[0] if tlb else 64,
        tlb_ways=tlb[1] if tlb else 4,
        tlb_enabled=tlb is not None,
    )


def tlb_image(m: Machine) -> list[tuple]:
    return sorted(
        (e.kind, e.vmid, e.asid, e.global_, e.base, e.size, e.gpa, e.hpa, e.perms, e.dirty, e.stale)
        for e in m.tlb_entries()
    )


def machine_state(m: Machine, with_log: bool = True) -> tuple:
    g = m._guest_pt
    return (
        memory_image(m.memory),
        dict(m.npt.tables),
        None if g is None else dict(g.tables),
        frozenset(m.host_frames._in_use),
        frozenset(m.guest_frames._in_use),
        sorted(m.guest_frames._free),
        list(m.space.areas),
        m.space.data_frames,
        flush_state(m.npt),
        None if g is None else flush_state(g),
        tlb_image(m),
        (m.vmid, m.asid),
        m.last_fault if with_log else None,
        len(m.log) if with_log else None,
    )


class MachineMachine(RuleBasedStateMachine):
    @initialize(config=configs(), host_budget=st.one_of(st.none(), st.none(), st.integers(0, 6)))
    def setup(self, config: MachineConfig, host_budget: int | None) -> None:
        self.m = Machine(config)
        self.set_budget(host_budget)
        s1, s2 = self.m.s1, self.m.s2
        self.s2_flags = st.sampled_from(usable_flags(s2, config.encoding))
        top1 = 1 << (s1.input_bits - 1) if s1.signed_input else 1 << s1.input_bits
        gva_near = st.tuples(
            st.sampled_from([0x4000_0000, 0, top1 - G1, (-top1) & MASK64]),
            st.integers(0, 1),
            st.integers(0, 3),
        ).map(lambda t: (t[0] + t[1] * M2 + t[2] * K4) & MASK64)
        self.gva = weighted(
            (8, gva_near),
            (1, st.sampled_from([top1, 1 << 63, 0x4000_0800, MASK64 & ~0xFFF])),
        )
        top2 = 1 << s2.input_bits
        gpa_near = st.tuples(
            st.sampled_from([0x20_0000, 0x4000_0000, config.pool_gpa, top2 - M2]),
            st.integers(0, 1),
            st.integers(0, 3),
        ).map(lambda t: t[0] + t[1] * M2 + t[2] * K4)
        self.gpa = weighted((8, gpa_near), (1, st.sampled_from([top2, 1 << 63, 0x20_0800])))
        self.hpa = weighted(
            (6, st.integers(0, 8).map(lambda n: 0x8000_0000 + n * K4)),
            (1, st.sampled_from([0x8000_0800, 1 << s2.output_bits, 0x8020_0000])),
        )
        self.sizes = weighted(
            (6, st.integers(1, 4).map(lambda n: n * K4)),
            (2, st.sampled_from([M2, M2 + K4])),
            (1, st.sampled_from([0, 0x800, G1 * 4])),
        )
        self.known_gva: list[int] = []
        self.known_gpa: list[int] = []
        self.backed_gva: list[int] = []  # mapped at both stages by map_both_stages
        assert isinstance(self.call("handle_fault"), PagingError)  # no fault yet
        count(f"machine runs: {config.arch} {config.guest}/{config.npt} {config.encoding}")

    def set_budget(self, extra: int | None) -> None:
        frames = self.m.host_frames
        frames.limit = None if extra is None else frames.in_use + extra

    # ------------------------------------------------------------------ the harness

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        before = machine_state(self.m)
        try:
            result = getattr(self.m, name)(*args, **kwargs)
        except PagingError as err:
            count(f"machine: {name} errors")
            count(f"machine errors: {err.kind}")
            assert machine_state(self.m) == before, (
                f"{name}{args}{kwargs} failed with {err} and changed state"
            )
            return err
        count(f"machine: {name} ok")
        return result

    def _gva(self, data: st.DataObject) -> int:
        """For walks: mostly an address mapped at both stages."""
        if self.backed_gva and data.draw(st.integers(0, 2)):
            return data.draw(st.sampled_from(self.backed_gva)) + data.draw(
                st.sampled_from([0, 8, K4 + 0xFF8])
            )
        return self._addr(data, 1)

    def _addr(self, data: st.DataObject, stage: int) -> int:
        known = self.known_gva if stage == 1 else self.known_gpa
        if known and data.draw(st.integers(0, 2)):
            return data.draw(st.sampled_from(known)) + data.draw(st.sampled_from([0, K4, 8]))
        return data.draw(self.gva if stage == 1 else self.gpa)

    # ------------------------------------------------------------------ rules

    @rule(data=st.data(), flags=st.integers(0, 63).map(MappingFlags), huge=st.booleans())
    def map_stage1(self, data: st.DataObject, flags: MappingFlags, huge: bool) -> None:
        gva, size = data.draw(self.gva), data.draw(self.sizes)
        gpa = self._addr(data, 2)
        if not isinstance(self.call("map", 1, gva, size, flags, gpa=gpa, huge=huge), PagingError):
            self.known_gva.append(gva)

    @rule(data=st.data(), backend=st.sampled_from(["linear", "alloc", "bogus"]))
    def map_stage2(self, data: st.DataObject, backend: str) -> None:
        gpa, size, flags = data.draw(self.gpa), data.draw(self.sizes), data.draw(self.s2_flags)
        kwargs: dict[str, Any] = {"backend": backend, "huge": data.draw(st.booleans())}
        if backend != "alloc" and data.draw(st.integers(0, 5)):
            kwargs["hpa"] = data.draw(self.hpa)
        if backend == "alloc":
            kwargs["populate"] = data.draw(st.booleans())
            if kwargs["populate"]:  # a frame per page: 4 GiB would be a million frames per step
                size = min(size, M2 + K4)
        if not isinstance(self.call("map", 2, gpa, size, flags, **kwargs), PagingError):
            self.known_gpa.append(gpa)

    @rule(
        slot=st.integers(0, 7),
        s1_flags=st.sampled_from(["rwx", "rw", "r", "rwxu", "rx", "rwu"]),
        s2_flags=st.sampled_from(["rwx", "rw", "r", "rwxu", "rwu"]),
        huge=st.booleans(),
    )
    def map_both_stages(self, slot: int, s1_flags: str, s2_flags: str, huge: bool) -> None:
        """A guest page backed at stage 2 (most walks need one to succeed)."""
        gpa, gva = 0x4000_0000 + slot * M2, 0x4000_0000 + slot * M2
        size = M2 if huge else 2 * K4
        hpa = 0x1_0000_0000 + slot * M2
        if not isinstance(
            self.call("map", 2, gpa, size, s2_flags, backend="linear", hpa=hpa, huge=huge),
            PagingError,
        ):
            self.known_gpa.append(gpa)
        if not isinstance(
            self.call("map", 1, gva, size, s1_flags, gpa=gpa, huge=huge), PagingError
        ):
            self.known_gva.append(gva)
            self.backed_gva.append(gva)

    @rule(data=st.data(), stage=st.sampled_from([1, 2, 3]))
    def unmap(self, data: st.DataObject, stage: int) -> None:
        self.call("unmap", stage, self._addr(data, min(stage, 2)), data.draw(self.sizes))

    @rule(data=st.data(), stage=st.sampled_from([1, 2]))
    def protect(self, data: st.DataObject, stage: int) -> None:
        flags = data.draw(self.s2_flags if stage == 2 else st.integers(0, 63).map(MappingFlags))
        self.call("protect", stage, self._addr(data, stage), data.draw(self.sizes), flags)

    @rule(data=st.data(), access=ACCESSES, priv=PRIVS)
    def access(self, data: st.DataObject, access: Access, priv: Priv) -> None:
        gva = self._gva(data)
        walk = self.m.access(gva, access, priv)  # never raises: faults are values
        count(f"machine: access {'ok' if walk.ok else 'fault'}")
        if walk.ok:
            again = self.m.translate(gva, access, priv)
            assert again.ok and again.hpa == walk.hpa or walk.stale, (walk, again)

    @rule(data=st.data(), access=ACCESSES, priv=PRIVS)
    def translate(self, data: st.DataObject, access: Access, priv: Priv) -> None:
        before = machine_state(self.m, with_log=False)
        walk = self.m.translate(self._gva(data), access, priv)
        count(f"machine: translate {'ok' if walk.ok else 'fault'}")
        assert machine_state(self.m, with_log=False) == before

    @rule(data=st.data(), kind=st.sampled_from([*FLUSHES, "invlpg"]))
    def flush(self, data: st.DataObject, kind: str) -> None:
        addr = data.draw(st.one_of(st.none(), st.just(self._addr(data, 1)), self.gpa))
        self.call("flush", kind, addr)

    @rule(data=st.data(), stage=st.sampled_from([1, 2]))
    def poke(self, data: st.DataObject, stage: int) -> None:
        fmt = self.m.s1 if stage == 1 else self.m.s2
        addr = self._addr(data, stage)
        depth = data.draw(st.integers(0, fmt.depth_count))
        how = data.draw(st.sampled_from(["value", "set", "fields", "bad-field"]))
        kwargs: dict[str, Any] = {}
        if how == "value":
            kwargs["value"] = data.draw(st.integers(0, MASK64))
        elif how == "set":
            kwargs["set"] = 1 << data.draw(st.integers(0, 63))
            kwargs["clear"] = 1 << data.draw(st.integers(0, 63))
        else:
            names = sorted(
                {f.name for k in EntryKind for f in fmt.field_table(min(depth, fmt.leaf_depth), k)}
            )
            name = data.draw(st.sampled_from(names)) if how == "fields" else "NOPE"
            kwargs["fields"] = {name: data.draw(st.sampled_from([0, 1, 3, 1 << 40]))}
        self.call("poke", stage, addr, depth, **kwargs)

    @precondition(lambda self: self.m.last_fault is not None)
    @rule()
    def handle_fault(self) -> None:
        self.call("handle_fault")

    @rule(
        vmid=st.one_of(st.none(), st.integers(0, 3)), asid=st.one_of(st.none(), st.integers(0, 3))
    )
    def set_context(self, vmid: int | None, asid: int | None) -> None:
        self.call("set_context", vmid, asid)

    @rule(data=st.data(), stage=st.sampled_from([1, 2, 0]))
    def query(self, data: st.DataObject, stage: int) -> None:
        self.call("query", stage, self._addr(data, max(stage, 1)))

    @rule(extra=st.one_of(st.none(), st.integers(0, 3)))
    def budget(self, extra: int | None) -> None:
        self.set_budget(extra)

    # ------------------------------------------------------------------ invariants

    @precondition(lambda self: hasattr(self, "m"))
    @invariant()
    def frames_add_up(self) -> None:
        m = self.m
        count("machine: steps checked")
        assert m.frames_in_use == m.host_frames.in_use
        assert m.space.frames_in_use == m.npt.frames_in_use + len(m.space.data_frames)
        if m._guest_pt is not None:
            assert m._guest_pt.frames_in_use == m.guest_frames.in_use
        if m.tlb is not None:
            assert len(m.tlb_entries()) <= m.tlb.entries
            assert all(len(ways) <= m.tlb.ways for ways in m.tlb.sets)

    def teardown(self) -> None:
        if not hasattr(self, "m"):
            return
        m = self.m
        m.host_frames.limit = None
        m.destroy()
        assert m.host_frames.in_use == 0 and m.frames_in_use == 0
        assert m.guest_frames.in_use == 0


MachineMachine.TestCase.settings = budget(120, stateful_step_count=30)
test_machine_failed_calls_change_nothing = MachineMachine.TestCase
