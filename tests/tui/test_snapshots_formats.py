"""SVG snapshots of the architectures issue 15 added: the LoongArch demo (la64 at both stages)
and the teach demo (the 6.823 handout's 2x2 geometry), 160x48 with the walk stepped to
reference 6, so the walk grid, the tables tree and the entry ruler show one linked selection;
a 32-bit x86 guest's walk. After a deliberate change, look at the report and run
`pytest tests/tui --snapshot-update`."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import no_blink, settle

pytestmark = pytest.mark.snapshot
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


async def _stepped(pilot) -> None:
    no_blink(pilot.app)
    await settle(pilot)
    await pilot.press(*"nnnnn")
    await settle(pilot, for_screenshot=True)


@pytest.mark.parametrize("arch", ["loongarch64", "teach"])
def test_wide_new_architecture(snap_compare, app_factory, arch: str) -> None:
    assert snap_compare(app_factory(arch=arch), terminal_size=(160, 48), run_before=_stepped)


def _pressing(keys: str):
    """A snapshot's run_before: press `keys` one by one, letting each settle."""

    async def run_before(pilot) -> None:
        no_blink(pilot.app)
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await settle(pilot, for_screenshot=True)

    return run_before


def test_wide_32bit_guest_walk_and_4_byte_entry_ruler(snap_compare, app_factory) -> None:
    # the walk grid of a 32-bit guest under EPT (14 references) with the S1 PTE selected: the
    # entry ruler shows its 32 bits (Table 4-6); keys: run the cold read, select reference 10
    app = app_factory(file=SCENARIOS / "x86_13_32bit_guest.toml")
    assert snap_compare(app, terminal_size=(160, 48), run_before=_pressing("]]]]]]]nnnnnnnnn"))


def test_wide_ostep_walk_and_1_byte_entry_ruler(snap_compare, app_factory) -> None:
    # OSTEP's homework geometry as a teach guest: the walk grid with the guest PTE byte at gPA
    # 0x428 selected; the entry ruler shows its 8 bits, VALID (7) and PFN 6:0; keys: run to
    # the read of VA 0x611c, select reference 6 (the PTE)
    app = app_factory(file=SCENARIOS / "teach_02_ostep_multilevel.toml")
    assert snap_compare(app, terminal_size=(160, 48), run_before=_pressing("]]]]]]]]]nnnnn"))
