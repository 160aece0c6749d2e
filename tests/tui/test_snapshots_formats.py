"""SVG snapshots of the architectures issue 15 added: the LoongArch demo (la64 at both stages),
160×48 with the walk stepped to reference 6, so the walk grid, the tables tree and the entry
ruler (a bare-address directory entry) show one linked selection. After a deliberate change,
look at the report and run `pytest tests/tui --snapshot-update`."""

from __future__ import annotations

import pytest
from tui_helpers import no_blink, settle

pytestmark = pytest.mark.snapshot


async def _stepped(pilot) -> None:
    no_blink(pilot.app)
    await settle(pilot)
    await pilot.press(*"nnnnn")
    await settle(pilot, for_screenshot=True)


@pytest.mark.parametrize("arch", ["loongarch64"])
def test_wide_new_architecture(snap_compare, app_factory, arch: str) -> None:
    assert snap_compare(app_factory(arch=arch), terminal_size=(160, 48), run_before=_stepped)
