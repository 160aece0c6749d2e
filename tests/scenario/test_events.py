"""The machine logs typed data, one shape per kind; `event_text` words it (REDESIGN §5: the
engine holds no sentences)."""

from __future__ import annotations

from npt_explorer.engine import Machine, Mapped, MappingFlags
from npt_explorer.scenario.events import event_text


def _texts(m: Machine) -> list[str]:
    return [event_text(e) for e in m.log]


def test_a_map_an_access_and_a_poke_read_as_sentences() -> None:
    m = Machine(arch="x86_64")
    m.map(2, 0x80_0000, 0x1000, "rw", hpa=0x4000_0000)
    m.map(1, 0x40_0000, 0x1000, "rw", gpa=0x80_0000)
    m.access(0x40_0008, "write")
    m.translate(0x40_0008, "read")
    m.poke(1, 0x40_0000, 3, clear=0x2)
    assert _texts(m)[-5:] == [
        "stage 2: gPA 0x800000 → hPA 0x40000000 (linear), 0x1000 bytes, rw----",
        "stage 1: gVA 0x400000 → gPA 0x800000, 0x1000 bytes, rw----",
        "access write gVA 0x400008 → gPA 0x800008 → hPA 0x40000008 (24 refs, TLB miss)",
        "translate read gVA 0x400008 → gPA 0x800008 → hPA 0x40000008 (24 refs, TLB not looked up)",
        f"stage 1 PTE at {m.locate(1, 0x40_0000, 3).addr:#x}: "
        f"{m.locate(1, 0x40_0000, 3).raw | 0x2:#x} → {m.locate(1, 0x40_0000, 3).raw:#x}",
    ]


def test_the_events_carry_data_not_text() -> None:
    m = Machine(arch="riscv64")
    m.map(2, 0x8000_0000, 0x2000, "rw", backend="alloc", populate=False)
    m.unmap(2, 0x8000_0000, 0x1000)
    m.set_context(asid=3)
    removed = m.flush("hfence.gvma")
    event = m.log[-4]
    assert not hasattr(event, "text")
    assert isinstance(event.data, Mapped) and event.kind == "map"
    assert event.data.flags == MappingFlags.parse("rw") and event.data.populate is False
    assert _texts(m)[-4:] == [
        "stage 2: gPA 0x80000000, 0x2000 bytes (alloc, lazy), rw----",
        "stage 2: unmap 0x80000000, 0x1000 bytes",
        "context VMID 1, ASID/VPID 3",
        f"hfence.gvma: {len(removed)} TLB entr{'y' if len(removed) == 1 else 'ies'} removed",
    ]


def test_a_stage_2_fault_and_its_handling() -> None:
    m = Machine(arch="aarch64")
    m.map(2, 0x4000_0000, 0x1000, "rw", backend="alloc", populate=False)
    m.map(1, 0x1000_0000, 0x1000, "rw", gpa=0x4000_0000)
    walk = m.access(0x1000_0000, "read")
    assert walk.fault is not None
    m.handle_fault()
    fault_line, handled = _texts(m)[-2:]
    assert fault_line == f"access read gVA 0x10000000: {walk.fault.explanation}"
    assert handled.startswith("handle_page_fault(gPA 0x40000000, ") and handled.endswith(
        "→ handled"
    )
