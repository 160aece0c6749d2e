"""The three defects issue #14 names, each replayed as a scenario with the manual's rule."""

from __future__ import annotations

X86_TWO_ALIASES = """
[scenario]
title = "two gVAs, one gPA"
arch = "x86_64"
[machine]
features = {features}
[[step]]
op = "map"
stage = 2
gpa = "0x20_0000"
size = "1M"
flags = "rwxu"
backend = "linear"
hpa = "0x8020_0000"
[[step]]
op = "map"
stage = 1
gva = "0x4000_0000"
gpa = "0x20_0000"
size = "4K"
flags = "rwx"
[[step]]
op = "map"
stage = 1
gva = "0x5000_0000"
gpa = "0x20_0000"
size = "4K"
flags = "rwx"
"""


def test_a_write_served_by_a_stage2_entry_a_read_filled_still_sets_the_ept_dirty_flag(green):
    # SDM Vol. 3C 28.3.5: with EPTP[6]=1 every write to a guest-physical address sets D in the
    # EPT leaf; kvm-unit-tests x86/vmx_tests.c reads a page, writes it, then requires A|D.
    # The read through 0x4000_0000 fills a stage-2-only entry for gPA 0x20_0000 with D=0; the
    # write through the alias 0x5000_0000 must walk stage 2 again and set D.
    green(
        X86_TWO_ALIASES.format(features='["ept-ad"]')
        + """
[[step]]
op = "access"
gva = "0x4000_0000"
access = "read"
[[step]]
op = "expect"
entry = { stage = 2, gpa = "0x20_0000", depth = 3 }
fields = { A = 1, D = 0 }
[[step]]
op = "access"
gva = "0x5000_0000"
access = "write"
expect = { result = "ok", tlb = "miss", hpa = "0x8020_0000" }
[[step]]
op = "expect"
entry = { stage = 2, gpa = "0x20_0000", depth = 3 }
fields = { A = 1, D = 1 }
[[step]]
op = "access"
gva = "0x4000_0000"
access = "write"
expect = { result = "ok", tlb = "miss" }
[[step]]
op = "expect"
entry = { stage = 1, gva = "0x4000_0000", depth = 3 }
fields = { A = 1, D = 1 }
"""
    )


def test_a_read_then_a_write_of_one_gva_sets_ept_a_and_d(green):
    # kvm-unit-tests x86/vmx_tests.c ept_access_test / EPT A/D: read, write, then A|D in the leaf
    green(
        X86_TWO_ALIASES.format(features='["ept-ad"]')
        + """
[[step]]
op = "access"
gva = "0x4000_0008"
access = "read"
[[step]]
op = "access"
gva = "0x4000_0008"
access = "write"
expect = { result = "ok", tlb = "miss" }
[[step]]
op = "expect"
entry = { stage = 2, gpa = "0x20_0000", depth = 3 }
fields = { A = 1, D = 1 }
"""
    )


GLOBAL_PAGE = (
    X86_TWO_ALIASES.format(features="[]")
    + """
[[step]]
op = "poke"
stage = 1
gva = "0x4000_0000"
depth = 3
fields = { G = 1 }
[[step]]
op = "access"
gva = "0x4000_0000"
access = "read"
expect = { result = "ok", tlb = "miss" }
"""
)


def test_a_global_translation_is_never_shared_with_another_vpid(green):
    # SDM Vol. 3C 28.3.2: G=1 shares a cached translation across PCIDs of one VPID and EP4TA,
    # never across VPIDs — VPID 2 must walk for itself. Its final gPA still hits the
    # guest-physical entry (tagged by EPTP alone, 28.3.1): 24 - 4 = 20 references.
    green(
        GLOBAL_PAGE
        + """
[[step]]
op = "context"
asid = 2
[[step]]
op = "access"
gva = "0x4000_0000"
access = "read"
expect = { result = "ok", tlb = "miss", refs = 20 }
"""
    )


def test_invvpid_single_context_of_another_vpid_leaves_a_global_entry(green):
    # SDM Vol. 3C 30.3 INVVPID type 1: mappings tagged with the given VPID only
    green(
        GLOBAL_PAGE
        + """
[[step]]
op = "context"
asid = 2
[[step]]
op = "flush"
kind = "invvpid-single"
[[step]]
op = "context"
asid = 1
[[step]]
op = "access"
gva = "0x4000_0000"
access = "read"
expect = { result = "ok", tlb = "hit" }
"""
    )


def test_a_misaligned_2m_guest_page_is_reason_misaligned_with_the_rsvd_error_code(green):
    # SDM Vol. 3A 4.5.4: bits 20:13 of a 2 MiB PDE are reserved; #PF error code P|RSVD (0x9)
    green(
        X86_TWO_ALIASES.format(features="[]")
        + """
[[step]]
op = "map"
stage = 1
gva = "0x8000_0000"
gpa = "0x20_0000"
size = "2M"
flags = "rw"
huge = true
[[step]]
op = "poke"
stage = 1
gva = "0x8000_0000"
depth = 2
set = "0x2000"
[[step]]
op = "access"
gva = "0x8000_0000"
access = "read"
[step.expect]
result = "fault"
fault_stage = 1
fault_reason = "misaligned"
fault_depth = 2
syndrome = { vector = 14, error_code = "0x9" }
"""
    )


def test_a_misaligned_1g_guest_page_is_reason_misaligned(green):
    # SDM Vol. 3A 4.5.4: bits 29:13 of a 1 GiB PDPTE are reserved; write → P|W|RSVD (0xb)
    green(
        X86_TWO_ALIASES.format(features="[]")
        + """
[[step]]
op = "map"
stage = 2
gpa = "0x4000_0000"
size = "1G"
flags = "rwxu"
backend = "linear"
hpa = "0x1_0000_0000"
huge = true
[[step]]
op = "map"
stage = 1
gva = "0x80_0000_0000"
gpa = "0x4000_0000"
size = "1G"
flags = "rw"
huge = true
[[step]]
op = "poke"
stage = 1
gva = "0x80_0000_0000"
depth = 1
set = "0x10_0000"
[[step]]
op = "access"
gva = "0x80_0000_0000"
access = "write"
[step.expect]
result = "fault"
fault_reason = "misaligned"
fault_depth = 1
syndrome = { error_code = "0xb" }
"""
    )
