"""The two-stage walk: textbook reference counts, huge pages, and every fault each architecture
can raise — with the stage, depth, and the syndrome the hardware reports (hardware.md §1–7)."""

from __future__ import annotations

import pytest

from npt_explorer.engine import PagingError
from npt_explorer.engine.machine import Machine

GVA = 0x4000_1008
GPA_RAM = 0x20_0000
HPA_RAM = 0x8020_0000


def machine(
    arch: str,
    guest: str | None = None,
    npt: str | None = None,
    *,
    s2_huge=False,
    s2_flags="rwxu",
    s1_flags="rwx",
    **opts,
) -> Machine:
    """Guest RAM [2 MiB, 10 MiB) backed linearly; gVA 0x4000_0000.. → gPA 0x20_0000 (8 KiB)."""
    kw = {k: v for k, v in (("guest", guest), ("npt", npt)) if v}
    m = Machine(arch=arch, **kw, **opts)
    m.map(2, GPA_RAM, 0x80_0000, s2_flags, backend="linear", hpa=HPA_RAM, huge=s2_huge)
    m.map(1, 0x4000_0000, 0x2000, s1_flags, gpa=GPA_RAM)
    return m


@pytest.mark.parametrize(
    ("arch", "guest", "npt", "refs"),
    [
        ("x86_64", "4-level", "ept4", 24),
        ("x86_64", "5-level", "ept5", 35),
        ("x86_64", "5-level", "ept4", 29),
        ("aarch64", "va48", "ipa40", 19),
        ("aarch64", "va48", "ipa48", 24),
        ("riscv64", "sv39", "sv39x4", 15),
        ("riscv64", "sv48", "sv48x4", 24),
        ("riscv64", "sv39", "sv48x4", 19),
    ],
)
def test_cold_walk_costs_n_times_m_plus_n_plus_m_reads(arch, guest, npt, refs):
    m = machine(arch, guest, npt)
    walk = m.access(GVA, "read")
    assert walk.ok, walk.fault and walk.fault.explanation
    assert (walk.refs, walk.gpa, walk.hpa, walk.tlb) == (refs, 0x20_1008, 0x8020_1008, "miss")
    assert [s.stage for s in walk.steps].count(1) == m.s1.depth_count
    again = m.access(GVA, "read")
    assert (again.refs, again.tlb, again.hpa) == (0, "hit", 0x8020_1008)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "riscv64"])
def test_every_guest_entry_is_read_after_its_own_stage2_walk(arch):
    m = machine(arch)
    steps = m.access(GVA, "read").steps
    per_level = m.s2.depth_count + 1
    for depth in range(m.s1.depth_count):
        chunk = steps[depth * per_level : (depth + 1) * per_level]
        assert [s.stage for s in chunk] == [2] * m.s2.depth_count + [1]
        assert all(s.for_depth == depth for s in chunk[:-1])
        assert chunk[-1].depth == depth
    assert [s.stage for s in steps[-m.s2.depth_count :]] == [2] * m.s2.depth_count


def test_a_2m_guest_page_removes_a_guest_level():
    m = Machine(arch="x86_64")
    m.map(2, GPA_RAM, 0x80_0000, "rwx", backend="linear", hpa=HPA_RAM)
    m.map(1, 0x4000_0000, 0x20_0000, "rw", gpa=0x40_0000, huge=True)
    walk = m.access(0x4001_2345, "read")
    assert walk.ok and walk.refs == 3 * 5 + 4
    assert walk.page_size == 0x1000  # stage 2 maps 4 KiB pages: the smaller one counts
    assert walk.hpa == HPA_RAM + 0x20_0000 + 0x1_2345


def test_huge_stage2_pages_shorten_every_nested_walk():
    m = Machine(arch="x86_64", map_pool=False)
    m.map(2, 0, 0x40_0000, "rwx", backend="linear", hpa=0x8000_0000, huge=True)
    m.map(1, 0x4000_0000, 0x20_0000, "rw", gpa=0x20_0000, huge=True)
    walk = m.access(0x4000_1008, "read")
    assert walk.ok and walk.refs == 3 * (3 + 1) + 3
    assert walk.page_size == 0x20_0000 and walk.hpa == 0x8020_1008


def test_riscv_sv39x4_root_is_indexed_by_gpa_bits_40_to_30():
    m = Machine(arch="riscv64")
    m.map(2, 1 << 40, 0x1000, "rwu", backend="linear", hpa=0x9000_0000)
    m.map(1, 0x5000_0000, 0x1000, "rw", gpa=1 << 40)
    walk = m.access(0x5000_0000, "read")
    assert walk.ok, walk.fault and walk.fault.explanation
    final = [s for s in walk.steps if s.stage == 2 and s.for_depth is None]
    assert final[0].index == 0x400  # GPA[40:30] = 1024: beyond a 512-entry root


def test_translate_checks_like_access_but_writes_nothing():
    m = machine("x86_64")
    walk = m.translate(GVA, "write")
    assert walk.ok and walk.writes == 0 and walk.tlb is None
    ref, dec = m.entry(1, GVA, 3)
    assert dec.field("A") == 0 and dec.field("D") == 0
    assert m.tlb_entries() == []


def test_x86_sets_a_on_every_level_and_d_on_the_written_leaf():
    m = machine("x86_64")
    walk = m.access(GVA, "write")
    assert walk.writes == 4
    for depth in range(3):
        assert m.entry(1, GVA, depth)[1].field("A") == 1
    leaf = m.entry(1, GVA, 3)[1]
    assert (leaf.field("A"), leaf.field("D")) == (1, 1)


# ------------------------------------------------------------------------------ x86 faults


def fault(m: Machine, gva: int = GVA, access: str = "read", priv: str = "kernel"):
    walk = m.access(gva, access, priv)
    assert walk.fault is not None, "expected a fault"
    return walk.fault


def test_x86_not_present_guest_page_is_a_page_fault_with_p_clear():
    f = fault(machine("x86_64"), 0x4000_3000, "write", "user")
    assert (f.stage, f.reason, f.depth) == (1, "not-present", 3)
    assert f.syndrome == {"vector": 14, "error_code": 0b110, "cr2": 0x4000_3000}


def test_x86_write_to_a_read_only_page_is_a_protection_page_fault():
    f = fault(machine("x86_64", s1_flags="r"), access="write")
    assert (f.stage, f.reason, f.depth) == (1, "permission", 3)
    assert f.syndrome["error_code"] == 0b11


def test_x86_ps_at_pml4e_is_a_reserved_bit_page_fault():
    m = machine("x86_64")
    m.poke(1, GVA, 0, set=1 << 7)
    f = fault(m)
    assert (f.stage, f.reason, f.depth) == (1, "reserved", 0)
    assert f.syndrome["error_code"] & 0b1001 == 0b1001  # P | RSVD


def test_x86_non_canonical_gva_is_a_general_protection_fault_before_any_read():
    m = machine("x86_64")
    walk = m.access(0x0000_8000_0000_0000, "read")
    f = walk.fault
    assert walk.refs == 0 and (f.stage, f.reason, f.depth) == (1, "non-canonical", None)
    assert f.syndrome["vector"] == 13


def test_ept_write_protection_on_the_final_access_is_an_ept_violation():
    m = machine("x86_64", s2_flags="rx")
    f = fault(m, access="write")
    assert (f.stage, f.reason, f.during, f.depth) == (2, "permission", "final", 3)
    assert f.syndrome["exit_reason"] == 48
    # write access, R and X allowed by every EPT level, linear address valid and translated
    assert f.syndrome["exit_qualification"] == 0b1_1010_1010
    assert f.syndrome["guest_physical_address"] == 0x20_1008


def test_ept_violation_while_reading_a_guest_table_has_qualification_bit_8_clear():
    m = machine("x86_64")
    m.unmap(2, 0x10_2000, 0x1000)  # the guest's page directory
    f = fault(m)
    assert (f.stage, f.reason, f.during, f.depth) == (2, "not-present", "guest-walk", 3)
    assert f.gpa == 0x10_2000 + 8 * 0
    qual = f.syndrome["exit_qualification"]
    assert qual & (1 << 7) and not qual & (1 << 8)


def test_ept_write_without_read_is_a_misconfiguration():
    m = machine("x86_64", encoding="seed", s2_flags="w")
    f = fault(m)
    assert (f.stage, f.reason) == (2, "misconfig")
    assert f.syndrome["exit_reason"] == 49


def test_gpa_beyond_the_ept_input_size_is_an_address_size_fault():
    m = Machine(arch="x86_64")
    m.map(1, 0x4000_0000, 0x1000, "rw", gpa=1 << 48)
    f = fault(m, 0x4000_0000)
    assert (f.stage, f.reason, f.depth, f.during) == (2, "address-size", None, "final")


def test_guest_a_bit_update_needs_ept_write_permission_on_the_table_page():
    m = machine("x86_64")
    m.protect(2, 0x10_0000, 0x1000, "r")  # guest root read-only at stage 2
    f = fault(m)
    assert (f.stage, f.reason, f.during, f.write_back) == (2, "permission", "guest-walk", True)
    assert f.syndrome["exit_qualification"] == 0x8B  # RD|WR|PERM_RD|GLA valid


# ------------------------------------------------------------------------------ AArch64 faults


def test_arm_translation_fault_at_stage1_is_taken_to_el1():
    f = fault(machine("aarch64"), 0x4000_3000)
    assert (f.stage, f.reason, f.depth) == (1, "not-present", 3)
    assert (f.syndrome["el"], f.syndrome["fsc"]) == (1, 0x07)


def test_arm_access_flag_fault_without_hafdbs():
    m = machine("aarch64")
    m.poke(1, GVA, 3, fields={"AF": 0})
    f = fault(m)
    assert (f.stage, f.reason, f.depth) == (1, "access-flag", 3)
    assert f.syndrome["fsc"] == 0x0B
    m2 = machine("aarch64", features=["hafdbs"])
    m2.poke(1, GVA, 3, fields={"AF": 0})
    assert m2.access(GVA, "read").ok
    assert m2.entry(1, GVA, 3)[1].field("AF") == 1


def test_arm_stage2_read_only_write_is_a_permission_fault_with_hpfar():
    f = fault(machine("aarch64", s2_flags="r"), access="write")
    assert (f.stage, f.reason, f.during) == (2, "permission", "final")
    s = f.syndrome
    assert (s["el"], s["ec"], s["wnr"], s["s1ptw"], s["fsc"]) == (2, 0x24, 1, 0, 0x0F)
    assert s["far"] == GVA and s["hpfar"] == (0x20_1008 >> 8) & ~0xF


def test_arm_stage2_fault_on_a_guest_descriptor_sets_s1ptw():
    m = machine("aarch64")
    m.unmap(2, 0x10_1000, 0x1000)
    f = fault(m)
    assert (f.stage, f.during) == (2, "guest-walk")
    assert f.syndrome["s1ptw"] == 1 and f.syndrome["hpfar"] == (f.gpa >> 8) & ~0xF


def test_arm_ipa_beyond_40_bits_is_a_stage2_level0_translation_fault():
    m = Machine(arch="aarch64")
    m.map(1, 0x4000_0000, 0x1000, "rw", gpa=1 << 40)
    f = fault(m, 0x4000_0000)
    assert (f.stage, f.reason) == (2, "address-size")
    assert f.syndrome["fsc"] == 0x04


def test_arm_fixed_encoding_sets_xn_so_data_is_not_executable():
    m = machine("aarch64", s2_flags="rw")
    f = fault(m, access="exec")
    assert (f.stage, f.reason) == (2, "permission") and f.syndrome["ec"] == 0x20


def test_arm_seed_encoding_never_writes_xn_so_the_guest_executes_data():
    m = machine("aarch64", encoding="seed", s2_flags="rw")
    assert m.access(GVA, "exec").ok


# ------------------------------------------------------------------------------ RISC-V faults


def test_riscv_vs_stage_not_present_is_a_load_page_fault():
    f = fault(machine("riscv64"), 0x4000_3000)
    assert (f.stage, f.reason) == (1, "not-present")
    assert f.syndrome == {"scause": 13, "stval": 0x4000_3000, "htval": 0, "htinst": 0}


def test_riscv_g_stage_leaf_without_u_faults_every_access():
    m = machine("riscv64", encoding="seed", s2_flags="rwx")
    f = fault(m, access="write")
    assert (f.stage, f.reason, f.during) == (2, "permission", "final")
    assert f.syndrome["scause"] == 23 and f.syndrome["htval"] == 0x20_1008 >> 2


def test_riscv_guest_page_fault_on_a_guest_pte_reports_htinst_0x3000():
    m = machine("riscv64")
    m.unmap(2, 0x10_1000, 0x1000)
    f = fault(m, access="exec")
    assert (f.stage, f.during) == (2, "guest-walk")
    s = f.syndrome
    assert s["scause"] == 20 and s["htinst"] == 0x3000 and s["htval"] == f.gpa >> 2


def test_riscv_write_without_read_is_reserved():
    m = machine("riscv64")
    m.poke(1, GVA, 2, fields={"R": 0, "W": 1})
    f = fault(m)
    assert (f.stage, f.reason, f.depth) == (1, "reserved", 2)


def test_riscv_svade_faults_on_a_clear_accessed_bit_and_svadu_sets_it():
    m = machine("riscv64")
    m.poke(1, GVA, 2, fields={"A": 0})
    assert fault(m).reason == "access-flag"
    m2 = machine("riscv64", features=["svadu"])
    m2.poke(1, GVA, 2, fields={"A": 0})
    assert m2.access(GVA, "read").ok and m2.entry(1, GVA, 2)[1].field("A") == 1


def test_riscv_gpa_beyond_41_bits_is_a_guest_page_fault():
    m = Machine(arch="riscv64")
    m.map(1, 0x4000_0000, 0x1000, "rw", gpa=1 << 41)
    f = fault(m, 0x4000_0000)
    assert (f.stage, f.reason) == (2, "address-size")
    assert f.syndrome["htval"] == (1 << 41) >> 2


def test_riscv_non_canonical_gva_is_a_page_fault():
    f = fault(machine("riscv64"), 0x0000_0040_0000_0000)
    assert (f.stage, f.reason, f.depth) == (1, "non-canonical", None)
    assert f.syndrome["scause"] == 13


# ------------------------------------------------------------------------------ lazy alloc


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "riscv64"])
def test_lazy_region_faults_then_handle_fault_populates_and_the_retry_succeeds(arch):
    m = Machine(arch=arch)
    m.map(2, GPA_RAM, 0x10_0000, "rwxu", backend="alloc", populate=False)
    m.map(1, 0x4000_0000, 0x1000, "rw", gpa=GPA_RAM)
    frames = m.frames_in_use
    f = fault(m, 0x4000_0010, "write")
    assert (f.stage, f.reason, f.during) == (2, "not-present", "final")
    assert m.handle_fault() is True
    assert m.frames_in_use == frames + 1
    walk = m.access(0x4000_0010, "write")
    assert walk.ok and m.space.translate(GPA_RAM) == walk.hpa - 0x10
    m.destroy()
    assert m.host_frames.in_use == 0


@pytest.mark.parametrize("call", ["access", "translate"])
def test_an_access_word_outside_the_vocabulary_is_an_invalid_request_naming_the_allowed_ones(
    call,
):
    m = Machine(arch="x86_64")
    with pytest.raises(PagingError, match=r"access 'r' \(allowed: read, write, exec\)") as err:
        getattr(m, call)(0x4000_0000, "r")
    assert err.value.kind == "InvalidRequest"
    with pytest.raises(PagingError, match=r"priv 'root' \(allowed: kernel, user\)"):
        getattr(m, call)(0x4000_0000, "read", "root")
