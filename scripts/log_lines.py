"""Print the machine-log line of every event a broad run makes, to hold the log's wording
byte-identical across a change of the engine's events or of `scenario/events.py`:

    PYTHONPATH=OLD python scripts/log_lines.py > old.txt
    PYTHONPATH=NEW python scripts/log_lines.py > new.txt && cmp old.txt new.txt

(OLD: e.g. `git worktree add /tmp/old main`.) Each bundled scenario is replayed, then given
extra context, flush, control, walk and table calls (refusals are printed as such); every
fourth scenario of an architecture with image roots is exported as an ELF and opened as an
image session, whose walks, pokes and control changes log through the image's workbench.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from npt_explorer.engine import Machine, PagingError
from npt_explorer.image.export import E_MACHINE
from npt_explorer.image_cli import export_machine
from npt_explorer.scenario import CommandError, parse_line
from npt_explorer.scenario.events import event_text
from npt_explorer.scenario.library import bundled_dir
from npt_explorer.scenario.loader import load
from npt_explorer.scenario.replay import run
from npt_explorer.tui.image_source import open_session

IMAGE_LINES = [
    "translate gva=0x1000", "translate gva=0x400000", "access gva=0x0",
    "access gva=0x400000 access=write", "access gva=0x400000 access=exec priv=user",
    "control register=cr4 field=SMAP value=1", "control register=cr4 value=0x20",
    "control register=tcr_el1 field=HA value=1", "control register=menvcfg field=ADUE value=1",
    "poke stage=1 gva=0x400000 depth=0 set=0x2", "poke stage=2 gpa=0x0 depth=0 set=0x2",
]  # fmt: skip


def extra_calls(m: Machine) -> list[Callable[[], object]]:
    first = next(iter(m.control.rows()), None)
    return [
        lambda: m.set_context(asid=2), lambda: m.set_context(pcid=1),
        lambda: m.set_context(eptp=1), lambda: m.set_context(vmid=3),
        lambda: m.flush(m.config.spec.flushes[0]),
        lambda: m.flush(m.config.spec.flushes[-1], addr=0x1000),
        lambda: first and m.set_register(first[0].register, first[0].name, 1),
        lambda: m.set_control(m.config.control), m.handle_fault,
        lambda: m.translate(0x1000, "read"), lambda: m.access(0x40_0000, "write", "user"),
        lambda: m.unmap(2, 0x10_0000_0000, 0x1000), lambda: m.protect(1, 0x1000, 0x1000, "r"),
        lambda: m.map(2, 0x7000_0000, 0x2000, "rw", backend="alloc", populate=True),
        lambda: m.map(2, 0x7100_0000, 0x1000, "rwx", hpa=0x9000_0000),
    ]  # fmt: skip


def main() -> None:
    machines = []
    for path in sorted(bundled_dir().glob("*.toml")):
        m = run(load(path)).machine
        for call in extra_calls(m):
            try:
                call()
            except PagingError as err:
                print(f"  refused: {err.message}")
        print(*(f"{path.stem} {e.seq} {e.kind} {event_text(e)}" for e in m.log), sep="\n")
        machines.append((path.stem, m))
    with tempfile.TemporaryDirectory() as folder:
        for name, m in [x for x in machines if x[1].arch in E_MACHINE][::4]:
            elf = Path(folder) / f"{name}.elf"
            export_machine(m, elf)
            session = open_session([str(elf)])
            for line in IMAGE_LINES:
                try:
                    r = session.run(parse_line(line))
                    print(f"  {line}: {r.error.message if r.error else 'ok'}")
                except CommandError as err:
                    print(f"  {line}: {err}")
            for e in session.machine.log:
                print(f"image {name} {e.seq} {e.kind} {event_text(e)}")


if __name__ == "__main__":
    sys.exit(main())
