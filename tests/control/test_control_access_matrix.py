"""kvm-unit-tests x86/access.c, reproduced: its permission matrix as a generated test.

Each case is a set of access.c's flags (PTE/PDE bits, PDPTE read-only, PKRU AD/WD and key, the
access, EFER.NX, CR0.WP, CR4.SMEP/PKE). `oracle` computes fault, #PF error code and the PTE/PDE
A/D bits exactly as access.c's ac_emulate_access / ac_test_permissions do (facts taken from
kvm-unit-tests x86/access.c); the engine must agree on every case. One extension beyond
access.c, from SDM Vol. 3A 4.6.1: CR4.SMAP with EFLAGS.AC.

access.c's legality rules apply (fetch and write are exclusive; PKRU bits only with CR4.PKE;
pde.13 only with PSE; one reserved bit at a time; no user access with SMEP), and, as access.c
does when MAXPHYADDR >= 37, bit 36 is not a reserved bit (MAXPHYADDR = 40 here, so bit 51 is).
Two runs: issue 14's matrix whole (user/supervisor × read/write/fetch × U/S, R/W, XD in PTE
and PDE × CR0.WP, CR4.SMEP/SMAP/PKE, EFER.NXE: 8,064 legal cases), and a seeded sample of the
whole flag space (A/D, reserved bits, PDPTE, protection keys, EFLAGS.AC, PSE: 2^30 sets, too
many to enumerate); NPT_ACCESS_MATRIX=N draws N instead of 1,000.
"""

from __future__ import annotations

import os
import random

import pytest

from npt_explorer.engine.machine import Machine

FLAGS = (
    *(f"pte.{f}" for f in ("rw", "user", "a", "d", "nx", "p", "51")),
    *(f"pde.{f}" for f in ("rw", "user", "a", "d", "pse", "nx", "p", "51", "13")),
    "pdpte.ro",
    "pkru.ad",
    "pkru.wd",
    "pkey",
    "user",
    "write",
    "fetch",
    "efer.nx",
    "cr0.wp",
    "cr4.smep",
    "cr4.pke",
    "cr4.smap",  # extension: SDM 3A 4.6.1
    "eflags.ac",  # extension
)
P, W, U, RSVD, ID, PK = 1, 2, 4, 8, 16, 32
A_BIT, D_BIT = 1 << 5, 1 << 6
GVA, GPA, HPA, MAXPHYADDR = 0x4000_0000, 0x20_0000, 0x8020_0000, 40


def legal(f: frozenset[str]) -> bool:
    """access.c ac_test_legal, plus: AC only with SMAP and a supervisor access."""
    if "fetch" in f and "write" in f:
        return False
    if "user" in f and "cr4.smep" in f:
        return False
    if "cr4.pke" not in f and f & {"pkru.ad", "pkru.wd"}:
        return False
    if "pde.pse" not in f and "pde.13" in f:
        return False
    if "eflags.ac" in f and ("cr4.smap" not in f or "user" in f):
        return False
    reserved = {"pde.51", "pde.13", "pte.51"}
    if "efer.nx" not in f:
        reserved |= {"pde.nx", "pte.nx"}
    return len(reserved & f) <= 1


def oracle(f: frozenset[str]) -> tuple[bool, int, int, int]:
    """(fault, error code, PDE A/D expected, PTE A/D expected) as access.c computes them;
    the A/D results are the A|D bits the entries must carry after the access (None-like -1:
    not checked, access.c's ignore_pde)."""
    err, fault = P, False
    err |= U if "user" in f else 0
    err |= W if "write" in f else 0
    err |= ID if "fetch" in f else 0
    pde_ad = (A_BIT if "pde.a" in f else 0) | (D_BIT if "pde.d" in f else 0)
    pte_ad = (A_BIT if "pte.a" in f else 0) | (D_BIT if "pte.d" in f else 0)

    def permissions(writable: bool, user: bool, executable: bool) -> int:
        nonlocal err, fault
        kwritable = "cr0.wp" not in f and "user" not in f
        if "user" in f and not user:
            fault = True
        if "write" in f and not writable and not kwritable:
            fault = True
        if "fetch" in f and not executable:
            fault = True
        if "fetch" in f and user and "cr4.smep" in f:
            fault = True
        smap = "cr4.smap" in f and "user" not in f and "fetch" not in f  # SDM 3A 4.6.1
        if smap and user and "eflags.ac" not in f:
            fault = True
        if user and "fetch" not in f and "pkey" in f and "cr4.pke" in f:
            if "pkru.ad" in f:
                fault, err = True, err | PK
            elif "write" in f and "pkru.wd" in f and not kwritable:
                fault, err = True, err | PK
        return 0 if fault else A_BIT | (D_BIT if "write" in f else 0)

    def finish() -> tuple[bool, int, int, int]:
        nonlocal err
        if "efer.nx" not in f and "cr4.smep" not in f:
            err &= ~ID
        return fault, err, pde_ad, pte_ad

    pde_valid = (
        "pde.p" in f and not f & {"pde.51", "pde.13"} and not ("pde.nx" in f and "efer.nx" not in f)
    )
    if not pde_valid:
        fault = True
        err = err | RSVD if "pde.p" in f else err & ~P
        return finish()
    writable = "pdpte.ro" not in f and "pde.rw" in f
    user = "pde.user" in f
    executable = "pde.nx" not in f
    if "pde.pse" in f:
        pde_ad |= permissions(writable, user, executable)
        return finish()
    pde_ad |= A_BIT
    pte_valid = "pte.p" in f and "pte.51" not in f and not ("pte.nx" in f and "efer.nx" not in f)
    if not pte_valid:
        fault = True
        err = err | RSVD if "pte.p" in f else err & ~P
        return finish()
    pte_ad |= permissions(
        writable and "pte.rw" in f, user and "pte.user" in f, executable and "pte.nx" not in f
    )
    return finish()


def entry(f: frozenset[str], level: str, address: int) -> int:
    """The PDE or PTE access.c's ac_test_setup_ptes writes for these flags."""
    bits = {"p": 1, "rw": 2, "user": 4, "a": A_BIT, "d": D_BIT, "nx": 1 << 63, "51": 1 << 51}
    bits |= {"13": 1 << 13, "pse": 1 << 7} if level == "pde" else {}
    raw = address
    for name, bit in bits.items():
        raw |= bit if f"{level}.{name}" in f else 0
    if "pkey" in f and (level == "pte" or "pde.pse" in f):
        raw |= 1 << 59  # key 1 in the leaf; access.c puts key 2 in a non-leaf PDE (ignored)
    elif "pkey" in f:
        raw |= 2 << 59
    return raw


def registers(f: frozenset[str]) -> dict[str, int]:
    cr4 = 1 << 5 | 1 << 7
    cr4 |= (1 << 20 if "cr4.smep" in f else 0) | (1 << 21 if "cr4.smap" in f else 0)
    cr4 |= 1 << 22 if "cr4.pke" in f else 0
    return {
        "cr0": 0x8000_0011 | (1 << 16 if "cr0.wp" in f else 0),
        "cr4": cr4,
        "efer": 0x500 | (1 << 11 if "efer.nx" in f else 0),
        # access.c: WD2=AD2=1, WD1 = pkru.wd, AD1 = pkru.ad
        "pkru": 0x30 | (8 if "pkru.wd" in f else 0) | (4 if "pkru.ad" in f else 0),
        "maxphyaddr": MAXPHYADDR,
    }


def cases(count: int, seed: int = 14) -> list[frozenset[str]]:
    rng = random.Random(seed)
    out: list[frozenset[str]] = []
    while len(out) < count:
        f = frozenset(name for name in FLAGS if rng.random() < 0.5)
        if legal(f):
            out.append(f)
    return out


COUNT = int(os.environ.get("NPT_ACCESS_MATRIX", "1000"))
CHUNK = 100
ALL = cases(COUNT)


def machine() -> Machine:
    m = Machine(arch="x86_64", tlb_enabled=False, registers={"maxphyaddr": MAXPHYADDR})
    m.map(2, GPA, 0x20_0000, "rwxu", backend="linear", hpa=HPA, huge=True)
    m.map(1, GVA, 0x1000, "rwxu", gpa=GPA)
    return m


def run(m: Machine, f: frozenset[str], pdpte: int, pt: int, pte_hpa: int) -> tuple[bool, ...]:
    """Set the entries and registers, make the access, read back fault, code and A/D."""
    if any(m.control.values.get(name) != value for name, value in registers(f).items()):
        m.set_control(m.control.with_registers(registers(f)))
    m.poke(1, GVA, 1, value=pdpte & ~2 | (0 if "pdpte.ro" in f else 2))
    m.poke(1, GVA, 2, value=pt)  # the PDE as a table again, to reach the PTE slot
    m.poke(1, GVA, 3, value=entry(f, "pte", GPA))
    pde = entry(f, "pde", GPA if "pde.pse" in f else pt & 0x000F_FFFF_FFFF_F000)
    m.poke(1, GVA, 2, value=pde)
    kind = "exec" if "fetch" in f else "write" if "write" in f else "read"
    walk = m.access(GVA, kind, "user" if "user" in f else "kernel", ac="eflags.ac" in f)
    code = walk.fault.syndrome["error_code"] if walk.fault else 0
    pde_now = m.locate(1, GVA, 2).raw
    pte_now = 0 if "pde.pse" in f else m.memory.read_u64(pte_hpa)
    return walk.fault is not None, code or 0, pde_now & (A_BIT | D_BIT), pte_now & (A_BIT | D_BIT)


def disagreements(group: list[frozenset[str]]) -> list[tuple]:
    """Every case of the group on one machine: where the engine and access.c differ."""
    m = machine()
    pdpte, pt = m.locate(1, GVA, 1).raw, m.locate(1, GVA, 2).raw
    pte_hpa = m.walker.translate_gpa(m.locate(1, GVA, 3).addr, "read").hpa
    wrong = []
    for f in group:
        fault, code, pde_ad, pte_ad = oracle(f)
        got = run(m, f, pdpte, pt, pte_hpa)
        # access.c ignore_pde: after a fault, a PDE whose A was 0 is not checked for A
        want_pde = pde_ad if not fault or "pde.a" in f else got[2] & A_BIT | pde_ad & D_BIT
        want = (fault, code if fault else 0, want_pde, pte_ad if "pde.pse" not in f else 0)
        if got != want:
            wrong.append((sorted(f), "engine", got, "access.c", want))
    return wrong


@pytest.mark.parametrize("start", range(0, COUNT, CHUNK))
def test_access_c_matrix_fault_error_code_and_accessed_dirty(start: int):
    wrong = disagreements(ALL[start : start + CHUNK])
    assert not wrong, wrong[:5]


CPU = ("cr0.wp", "cr4.smep", "cr4.smap", "efer.nx", "cr4.pke")
ENTRY = ("pte.user", "pte.rw", "pte.nx", "pde.user", "pde.rw", "pde.nx")


def subsets(names: tuple[str, ...]) -> list[frozenset[str]]:
    return [frozenset(n for i, n in enumerate(names) if k >> i & 1) for k in range(1 << len(names))]


def issue_matrix(cpu: frozenset[str]) -> list[frozenset[str]]:
    """Issue 14's matrix under one CPU setting, whole: user/supervisor × read/write/fetch ×
    U/S, R/W, XD in the PTE and the PDE (present, A=D=0, so the walk must set them); the
    combinations access.c calls illegal (a user access with SMEP, two reserved bits) left out."""
    accesses = (frozenset(), frozenset({"write"}), frozenset({"fetch"}))
    return [
        f
        for priv in (frozenset(), frozenset({"user"}))
        for access in accesses
        for bits in subsets(ENTRY)
        if legal(f := cpu | priv | access | bits | {"pte.p", "pde.p"})
    ]


@pytest.mark.parametrize("cpu", subsets(CPU), ids=lambda c: "+".join(sorted(c)) or "none")
def test_every_combination_of_the_issues_matrix_under_each_cpu_setting(cpu: frozenset[str]):
    group = issue_matrix(cpu)
    # SMEP leaves supervisor accesses only; without NXE, XD in both entries is two reserved bits
    assert len(group) == (1 if "cr4.smep" in cpu else 2) * 3 * (64 if "efer.nx" in cpu else 48)
    wrong = disagreements(group)
    assert not wrong, wrong[:5]
