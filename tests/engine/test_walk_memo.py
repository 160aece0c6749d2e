"""The walker replays what it has walked before while memory is unchanged: a stage-2 walk of
a page (a guest table frame's gPA is translated again on every walk), and a walk of either
stage down to a table (a new page next to one walked before reads the same upper entries).
That changes no walk: every walk equals the walk of a walker that never walked before — its
steps, decoded fields, write-backs and faults — after pokes, direct memory writes, A/D
write-backs, control changes, root register loads and an EPTP switch, on random tables of
every architecture. The replayed steps are shared between walks, so nothing changes a step."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npt_explorer.engine import CONTROL_BITS, Access, PagingError, Priv, Walk, Walker
from npt_explorer.engine.config import ARCHES, MachineConfig
from npt_explorer.engine.machine import Machine

K4, M2 = 0x1000, 0x20_0000
GUEST, RAM, HOST = 0x10_0000_0000, 0x4000_0000, 0x8000_0000


def fresh(w: Walker) -> Walker:
    """The same machine's walker, as if it had never walked."""
    new = Walker(w.arch, w.s1, w.s2, w.memory, w.guest_root, w.npt_root)
    new.root_registers, new.guest_root_hi = w.root_registers, w.guest_root_hi
    return new


def seen(walk: Walk) -> tuple[Walk, list[dict[str, Any]]]:
    """A walk as its users see it: every field, and each step as the JSON report prints it."""
    return walk, [step.to_json() for step in walk.steps]


def x86(**opts: Any) -> Machine:
    m = Machine(arch="x86_64", **opts)
    m.map(2, RAM, 2 * M2, "rwx", hpa=HOST)
    m.map(1, GUEST, M2, "rw", gpa=RAM)
    return m


def test_a_poke_of_an_upper_stage2_entry_between_two_walks_changes_the_second():
    m = x86()
    before = m.translate(GUEST + 0x5008, "read")
    pool = m.guest_root  # the guest's tables lie in the pool: its EPT PDPTE turns…
    m.poke(2, pool, 1, clear=0x7)  # …not present: an EPT violation during the guest walk
    after = m.translate(GUEST + 0x5008, "read")
    assert before.ok and not after.ok and after.fault.during == "guest-walk"
    assert seen(after) == seen(fresh(m.walker).translate(GUEST + 0x5008, Access.READ,
                                                         side_effects=False))  # fmt: skip


def test_a_write_straight_to_memory_under_a_walked_stage2_table_is_seen():
    """Not through the page table (no flush, no table generation): memory's own counter."""
    m = x86()
    m.translate(GUEST, "read")
    ref = m.locate(2, m.guest_root, 3)
    m.memory.write_u64(ref.addr, ref.raw + 0x1000)  # the pool's first frame moves in host RAM
    again = m.translate(GUEST, "read")
    assert again.steps[3].raw == ref.raw + 0x1000
    assert seen(again) == seen(fresh(m.walker).translate(GUEST, Access.READ, side_effects=False))
    m.memory.frame(ref.addr >> 12)[(ref.addr & 0xFFF) >> 3] = ref.raw  # in place, as tables do
    back = m.translate(GUEST, "read")
    assert back.steps[3].raw == ref.raw
    assert seen(back) == seen(fresh(m.walker).translate(GUEST, Access.READ, side_effects=False))


def test_a_translate_then_an_access_still_writes_the_ept_a_bits():
    """`translate` judges A/D write-backs without making them; the walk it memoised must not
    stand in for an access that makes them (EPT A/D on: SDM Vol. 3C 29.3.5)."""
    m, twin = x86(features=["ept-ad"]), x86(features=["ept-ad"])
    for machine in (m, twin):
        machine.translate(GUEST + 0x3000, "read")
    walk = m.access(GUEST + 0x3000, "write")
    twin.walker = fresh(twin.walker)
    assert seen(walk) == seen(twin.access(GUEST + 0x3000, "write"))
    assert any(s.stage == 2 and s.written is not None for s in walk.steps)
    after = m.translate(GUEST + 0x4000, "read")  # the EPT's A bits are set now
    assert seen(after) == seen(fresh(m.walker).translate(GUEST + 0x4000, Access.READ,
                                                         side_effects=False))  # fmt: skip
    assert m.memory.frames.keys() == twin.memory.frames.keys()
    assert all((m.memory.frames[p] == w).all() for p, w in twin.memory.frames.items())


def test_a_guest_a_bit_write_back_between_two_walks_is_seen():
    m = x86()
    first = m.access(GUEST + 0x7000, "read")  # sets A in the guest's four entries
    assert first.writes == 4
    second = m.translate(GUEST + 0x7000, "read")
    assert second.steps[-5].raw == first.steps[-5].written  # the PTE as written back
    assert seen(second) == seen(fresh(m.walker).translate(GUEST + 0x7000, Access.READ,
                                                          side_effects=False))  # fmt: skip


def test_a_control_change_between_two_walks_is_seen():
    """RISC-V Svadu: menvcfg.ADUE=1 lets the G-stage set A/D itself; without it a clear A bit
    is a guest-page fault (Svade; Priv. ISA 3.1.18, 19.5)."""
    m = Machine(arch="riscv64", features=["svadu"])
    m.map(2, RAM, 2 * M2, "rwxu", hpa=HOST)
    m.map(1, GUEST, M2, "rw", gpa=RAM)
    m.poke(2, m.guest_root, m.s2.depth_count - 1, clear=1 << 6)  # the root's G-stage A bit
    first = m.translate(GUEST, "read")
    m.set_register("menvcfg", "ADUE", 1 - m.control.get("menvcfg", "ADUE"))
    second = m.translate(GUEST, "read")
    assert first.ok != second.ok
    assert seen(second) == seen(fresh(m.walker).translate(GUEST, Access.READ, side_effects=False))


def test_an_eptp_switch_between_two_walks_is_seen():
    m = x86()
    first = m.translate(GUEST, "read")
    m.set_context(eptp=1)  # a new EPT: the pool only, the guest's data gPA not mapped
    m.map(2, RAM, M2, "r", hpa=HOST + 4 * M2)
    second = m.translate(GUEST, "read")
    assert second.hpa == HOST + 4 * M2 != first.hpa
    assert seen(second) == seen(fresh(m.walker).translate(GUEST, Access.READ, side_effects=False))
    m.set_context(eptp=0)
    assert seen(m.translate(GUEST, "read")) == seen(first)


def test_a_new_page_next_to_a_walked_one_replays_the_upper_entries_of_both_stages():
    """The guest's PML4E, PDPTE and PDE with their stage-2 walks, the PTE's table frame, and
    the final gPA's EPT PML4E, PDPTE and PDE: 23 of 24 steps are the first walk's own."""
    m = x86()
    first = m.translate(GUEST + 0x1000, "read")
    second = m.translate(GUEST + 0x2000, "read")
    shared = [a is b for a, b in zip(first.steps, second.steps, strict=True)]
    assert shared == [True] * 19 + [False] + [True] * 3 + [False]
    assert seen(second) == seen(fresh(m.walker).translate(GUEST + 0x2000, Access.READ,
                                                          side_effects=False))  # fmt: skip


def test_the_guest_pte_a_bit_written_keeps_the_replay_of_the_neighbours_walk():
    """The first access sets A in the four guest entries (the memos are dropped: their frames
    were read); the second sets it in one PTE, a frame no kept walk read (the walk down to the
    PT stops above it) — its replay still equals a fresh walk, A/D included."""
    m, twin = x86(features=["ept-ad"]), x86(features=["ept-ad"])
    for n, page in enumerate((0x1000, 0x2000, 0x3000, 0x2000)):
        walk = m.access(GUEST + page, "write" if n % 2 else "read")
        twin.walker = fresh(twin.walker)
        assert seen(walk) == seen(twin.access(GUEST + page, "write" if n % 2 else "read"))
    assert m.memory.frames.keys() == twin.memory.frames.keys()
    assert all((m.memory.frames[p] == w).all() for p, w in twin.memory.frames.items())


def test_an_access_after_a_translate_sets_the_a_bits_the_translates_kept_walk_read():
    """`translate` keeps the walk down to the PT with the guest's A bits clear; the access
    sets them (in frames that kept walk read), so the next translate reads them set."""
    m = x86()
    m.translate(GUEST + 0x1000, "read")
    m.access(GUEST + 0x1000, "read")
    walk = m.translate(GUEST + 0x2000, "read")
    assert walk.steps[4].raw & 0x20  # the guest PML4E's A bit
    assert seen(walk) == seen(fresh(m.walker).translate(GUEST + 0x2000, Access.READ,
                                                        side_effects=False))  # fmt: skip


def test_a_walk_down_that_wrote_an_a_bit_is_not_kept():
    """EPT A/D, no TLB: the EPT PDE of the guest's data has A cleared, its pages' PTEs have it
    set. A walk sets the PDE's A bit and writes nothing else; the next page's walk must not
    replay that write."""
    m, twin = (x86(features=["ept-ad"], tlb_enabled=False) for _ in range(2))
    for machine in (m, twin):
        for page in (0x1000, 0x2000):
            machine.access(GUEST + page, "write")
        machine.poke(2, RAM, 2, clear=1 << 8)  # the EPT PDE's accessed flag
    for page in (0x2000, 0x1000):
        twin.walker = fresh(twin.walker)
        assert seen(m.access(GUEST + page, "write")) == seen(twin.access(GUEST + page, "write"))


def test_a_guest_poke_of_a_pde_between_two_walks_of_its_pages_is_seen():
    m = x86()
    m.translate(GUEST + 0x1000, "read")
    m.poke(1, GUEST, 2, set=1 << 63)  # XD in the PDE: the kept walk down to the PT is stale
    walk = m.translate(GUEST + 0x2000, "exec")
    assert not walk.ok and walk.fault.stage == 1
    assert seen(walk) == seen(fresh(m.walker).translate(GUEST + 0x2000, Access.EXEC,
                                                        side_effects=False))  # fmt: skip


def test_new_root_registers_are_seen_without_a_memory_write():
    """x86 PAE: the PDPTEs are registers loaded at a CR3 write, not memory; a walk after new
    ones begins at them, not at the kept walk that began at the old."""
    m = Machine(arch="x86_64", guest="pae")
    m.map(2, RAM, 2 * M2, "rwx", hpa=HOST)
    m.map(1, RAM, M2, "rw", gpa=RAM)
    m.translate(RAM + 0x1000, "read")
    m.walker.root_registers = (0, 0, 0, 0)  # as a CR3 write with the PDPTEs cleared loads them
    walk = m.translate(RAM + 0x2000, "read")
    assert not walk.ok
    plain = fresh(m.walker)
    assert seen(walk) == seen(plain.translate(RAM + 0x2000, Access.READ, side_effects=False))


def test_walk_caches_mark_their_walks_steps_not_the_shared_ones():
    """A step a walk cache served is that walk's own copy: the walk that replayed the same
    step before, and the walker's memo, keep theirs unmarked."""
    m = x86(walk_cache_preset="intel-psc")
    first = m.translate(GUEST + 0x1000, "read")
    second = m.access(GUEST + 0x2000, "read")
    third = m.translate(GUEST + 0x3000, "read")
    assert any(s.cached for s in second.steps)
    assert not any(s.cached for s in first.steps + third.steps)



def test_an_empty_loongarch_directory_entry_after_a_full_one_is_not_a_table():
    """A LoongArch directory entry is a bare address: one of 0 names no table (the page-
    invalid fault), so the address bits there decide the kind and no verdict memo may
    class an empty entry with a full one (found by the random tables: seed in the commit)."""
    m = Machine(arch="loongarch64")
    m.map(2, RAM, 4 * M2, "rwx", hpa=HOST)
    m.map(1, GUEST, M2, "rwx", gpa=RAM)
    m.poke(1, GUEST + M2, 2, value=RAM)  # the next Dir1 entry: a bare address, no flag bits
    m.access(GUEST + M2, "read")  # walks through it (its "table" is guest RAM)
    empty = m.access(GUEST + 2 * M2, "read")  # the entry after it is 0
    plain = fresh(m.walker).translate(GUEST + 2 * M2, Access.READ, side_effects=False)
    assert empty.fault is not None and plain.fault is not None
    assert (empty.fault.stage, empty.fault.depth) == (plain.fault.stage, plain.fault.depth)
    assert (plain.fault.stage, plain.fault.depth) == (1, 2)  # the guest's Dir1: no table


# ------------------------------------------------------------------ random tables, every arch


def _modes(arch: str, stage: int) -> list[str]:
    """Modes whose tables `map` builds here: not teach's `custom` (it needs a geometry) nor
    `ostep` (32-byte pages, packed tables)."""
    spec = ARCHES[arch]
    modes = spec.guests if stage == 1 else spec.npts
    return sorted(m for m in modes if m not in ("custom", "ostep"))


@st.composite
def plans(draw: Any, arch: str) -> tuple[MachineConfig, list[tuple[str, tuple, dict]]]:
    """A machine and what is done to it: maps, then walks mixed with changes."""
    spec = ARCHES[arch]
    features = st.sets(st.sampled_from(spec.features)) if spec.features else st.just(set())
    cfg = MachineConfig(
        arch=arch,
        guest=draw(st.sampled_from(_modes(arch, 1))),
        npt=draw(st.sampled_from(_modes(arch, 2))),
        features=frozenset(draw(features)) - {"xuantie-c9xx"},  # (it excludes Svnapot, Svpbmt)
    )
    guest = GUEST if cfg.format_for("guest").input_bits > 32 else RAM  # x86 32-bit, teach
    flags = st.sampled_from(["rwx", "rw", "r", "rwxu", "rwu", "x", "-"])
    ops: list[tuple[str, tuple, dict]] = [("map", (2, RAM, 4 * M2, draw(flags)), {"hpa": HOST})]
    for n in range(draw(st.integers(1, 3))):
        ops.append(("map", (1, guest + n * M2, M2, draw(flags)), {"gpa": RAM + n * M2}))
    pages = [guest + n * K4 for n in (0, 1, 2, 0x1FF, 0x200, 0x3FF, 0x400)]
    gvas = st.builds(lambda p, o: p + o, st.sampled_from(pages), st.sampled_from([0, 8, 0xFF8]))
    walk = st.tuples(gvas, st.sampled_from(list(Access)), st.sampled_from(list(Priv)))
    for _ in range(draw(st.integers(4, 24))):
        kind = draw(st.sampled_from(["access"] * 3 + ["translate"] * 3 + list(CHANGES)))
        if kind in CHANGES:
            ops.append((kind, (draw(st.integers(0, 1 << 64)), draw(st.integers(0, 63))), {}))
        else:
            ops.append((kind, draw(walk), {}))
    return cfg, ops


def _poke(m: Machine, pick: int, bits: int) -> None:
    """An entry on the path to guest RAM or to the guest's tables, a few bits flipped."""
    gpa = (RAM, m.guest_root, RAM + M2 + K4)[pick % 3]
    ref = m.locate(2, gpa, (pick >> 2) % m.s2.depth_count)
    m.poke(2, gpa, ref.depth, value=ref.raw ^ (1 << bits) ^ (pick >> 8 & 0x3))


def _write(m: Machine, pick: int, bits: int) -> None:
    """The same, written straight to memory: no flush, no table generation."""
    ref = m.locate(2, (RAM, m.guest_root)[pick % 2], (pick >> 1) % m.s2.depth_count)
    m.memory.write_u64(ref.addr, ref.raw ^ (1 << bits))


def _toggle(m: Machine, pick: int, bits: int) -> None:
    rows = [row for row in CONTROL_BITS.get(m.arch, ()) if row.toggle]
    if rows:
        row = rows[pick % len(rows)]
        m.set_control(m.control.toggled(row.register, row.name))


def _guest_poke(m: Machine, pick: int, bits: int) -> None:
    gva = (GUEST if m.s1.input_bits > 32 else RAM) + (pick % 0x400) * K4
    ref = m.locate(1, gva, (pick >> 10) % m.s1.depth_count)
    m.poke(1, gva, ref.depth, value=ref.raw ^ (1 << bits))


def _eptp(m: Machine, pick: int, bits: int) -> None:
    m.set_context(eptp=pick % 2)


CHANGES = {"poke": _poke, "write": _write, "toggle": _toggle, "guest-poke": _guest_poke,
           "eptp": _eptp}  # fmt: skip


def _apply(m: Machine, op: tuple[str, tuple, dict], uncached: bool) -> Any:
    kind, args, kw = op
    if uncached:
        m.walker = fresh(m.walker)
    try:
        if kind in CHANGES:
            return CHANGES[kind](m, *args)
        out = getattr(m, kind)(*args, **kw)
        return seen(out) if isinstance(out, Walk) else out
    except PagingError as err:
        return err.kind, err.message


@pytest.mark.parametrize("arch", sorted(ARCHES))
@given(data=st.data())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_walk_equals_an_unmemoised_walkers_on_random_tables(arch, data):
    cfg, ops = data.draw(plans(arch))
    memo, plain = Machine(cfg), Machine(cfg)
    for op in ops:
        assert _apply(memo, op, False) == _apply(plain, op, True), op
        frames = plain.memory.frames
        assert memo.memory.frames.keys() == frames.keys()
        assert all((memo.memory.frames[p] == w).all() for p, w in frames.items())
