"""Agreement with a real MMU (issue #13, "Must show"): QEMU 7.2's answers for generated
two-stage cases (tests/image/data/qemu_*.json.xz, recorded by record_qemu_fixture.py from the
qemu-oracle) against `image walk` of the same memory and registers, access by access: the hPA
of a success; scause/stval/htval/htinst or EL/EC/FSC/S1PTW/FAR/HPFAR of a fault.

Every access agrees, except in named classes:
- EXCUSED: QEMU 7.2 deviates from the manual (oracle README "QEMU 7.2 deviations"; the S1PTW
  level one is QEMU's own later fix), or the harness's data access itself faults.
The AArch64 image gets `-cpu max`'s ID_AA64MMFR0_EL1 (PAMax 52, FEAT_LPA: 64 KiB level-1
blocks exist).
The aarch64-16k / aarch64-64k fixtures use a 16/64 KiB stage 2 (and a 4/16/64 KiB stage 1),
built by gen_cases_arm_granules.py and run with oracle_arm_granules.py's harness window.
Engine gaps it found (TCR_EL1.IPS / VTCR_EL2.PS; SUM/MXR and WXN before the control state
reached the formats; WXN applied to EL0 fetches from EL1-only-writable pages) are fixed: none
is excused.
Counts are in docs/images.md.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from oracle_cases import Tally, compare_case, load_fixture
from record_qemu_fixture import base_arch

_ARM_EXCUSED = {
    "arm1-level0-block",
    "arm-16k-level1-block",
    "arm-s1ptw-fault-reports-stage-1-level",
    "arm-data-access-beyond-ram-external-abort",
    "arm-table-read-beyond-ram-external-abort",
}
EXCUSED = {
    "riscv64": {"rv1-implicit-access-cause-always-21", "rv2-vs-ad-write-unchecked-at-g-stage"},
    "aarch64": _ARM_EXCUSED,
    # 16/64 KiB stage-2 granules (gen_cases_arm_granules.py; stage 1 any granule)
    "aarch64-16k": _ARM_EXCUSED,
    "aarch64-64k": _ARM_EXCUSED,
}


@pytest.mark.parametrize("fixture_name", list(EXCUSED))
def test_every_recorded_qemu_answer_agrees_with_image_walk(fixture_name: str) -> None:
    fixture = load_fixture(fixture_name)
    arch = base_arch(fixture_name)
    tally = Tally()
    for case in fixture["cases"]:
        compare_case(arch, tuple(fixture["ram"]), case, tally)
    assert len(fixture["cases"]) >= 200
    assert tally.compared >= 1900, tally
    assert tally.mismatches == [], "\n".join(tally.mismatches[:20])
    assert set(tally.excused) <= EXCUSED[fixture_name]
    assert tally.agreed + sum(tally.excused.values()) == tally.compared


ORACLE = Path(os.environ.get("QEMU_ORACLE", "/work/shared/qemu-oracle"))
LIVE_SAMPLE = 6  # cases per arch re-run through QEMU now (≈ 0.1 s each)


@pytest.mark.parametrize("fixture_name", list(EXCUSED))
def test_qemu_still_gives_the_recorded_answers_on_a_sample(fixture_name: str) -> None:
    arch = base_arch(fixture_name)
    if shutil.which(f"qemu-system-{arch}") is None:
        pytest.skip(f"qemu-system-{arch} is not installed")
    if not (ORACLE / "qemu_oracle.py").exists():
        pytest.skip(f"the qemu-oracle is not at {ORACLE} (set QEMU_ORACLE)")
    sys.path.insert(0, str(Path(__file__).parent))
    from record_qemu_fixture import record

    fixture = load_fixture(fixture_name)
    fresh = record(fixture_name, fixture["seed"], LIVE_SAMPLE, 1)
    for old, new in zip(fixture["cases"], fresh["cases"], strict=False):
        assert old["name"] == new["name"]
        assert [a[3] for a in old["accesses"]] == [a[3] for a in new["accesses"]]
