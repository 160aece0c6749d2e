"""`npt-explorer trace FILE`: a program's address trace through a machine that maps its pages —
TLB hit rate, walks, references per walk and per access (all / to memory), page-size mix,
histogram; a Rich report, or `--json`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..engine import PRESETS, SIZES, MachineConfig, PagingError, TraceStats
from .files import FORMATS, TraceFileError
from .replay import run_file, trace_config

#: show a progress bar for files larger than this (bytes)
PROGRESS_BYTES = 8 << 20


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a Lackey log, a text file of addresses, or .npy")
    p.add_argument("--format", choices=FORMATS, help="default: guessed from the file")
    p.add_argument("--machine", metavar="SCENARIO.toml", help="take [machine] from a scenario")
    p.add_argument("--arch", choices=("x86_64", "aarch64", "riscv64"), help="default x86_64")
    p.add_argument("--s1-page", choices=tuple(SIZES), default="4K", help="guest page size")
    p.add_argument("--s2-page", choices=tuple(SIZES), default="4K", help="stage-2 page size")
    p.add_argument(
        "--walk-caches",
        choices=("none", *PRESETS),
        help="default: the scenario's, else none",
    )
    p.add_argument("--native", action="store_true", help="count the guest's references only")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def config_for(a: argparse.Namespace, usage: type[Exception]) -> MachineConfig:
    """The trace machine's configuration: a scenario's [machine] or --arch, with the flags."""
    if a.machine:
        from ..scenario import ScenarioError, load

        try:
            cfg = load(a.machine).config
        except ScenarioError as err:
            raise usage(str(err)) from None
        if a.arch and a.arch != cfg.arch:
            raise usage(f"--arch {a.arch} disagrees with {a.machine} (arch {cfg.arch})")
    else:
        cfg = MachineConfig(arch=a.arch or "x86_64")
    if a.walk_caches is not None:
        preset = None if a.walk_caches == "none" else a.walk_caches
        specs = () if a.walk_caches == "none" else cfg.walk_cache_specs
        cfg = dataclasses.replace(cfg, walk_cache_preset=preset, walk_cache_specs=specs)
    return cfg


def run(a: argparse.Namespace, usage: type[Exception]) -> int:
    cfg = trace_config(config_for(a, usage))
    size = Path(a.file).stat().st_size if Path(a.file).is_file() else 0
    show = not a.no_progress and size > PROGRESS_BYTES and sys.stderr.isatty()
    try:
        with _progress(a.file, show) as advance:
            stats = run_file(
                cfg, a.file, a.format, s1_page=a.s1_page, s2_page=a.s2_page,
                native=a.native, progress=advance,
            )  # fmt: skip
    except TraceFileError as err:
        print(f"npt-explorer: error: {err}", file=sys.stderr)
        return 2
    except PagingError as err:
        print(f"npt-explorer: error: {a.file}: {err.message}", file=sys.stderr)
        return 2
    doc = document(stats, cfg, a)
    if a.json:
        print(json.dumps(doc, indent=1))
    else:
        from rich.console import Console

        Console(highlight=False).print(report(stats, doc))
    return 0


@contextmanager
def _progress(file: str, show: bool) -> Iterator[Callable[[int], None] | None]:
    """A Rich progress bar on stderr counting accesses, or nothing."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} accesses"),
        TimeElapsedColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(Path(file).name, total=None)
        yield lambda n: bar.advance(task, n)


def document(stats: TraceStats, cfg: MachineConfig, a: argparse.Namespace) -> dict[str, Any]:
    return {
        "file": a.file,
        "arch": cfg.arch,
        "guest": cfg.guest,
        "npt": cfg.npt,
        "s1_page": a.s1_page,
        "s2_page": a.s2_page,
        "tlb": {"entries": cfg.tlb_entries, "ways": cfg.tlb_ways} if cfg.tlb_enabled else None,
        "walk_caches": cfg.walk_cache_preset
        or ([s.to_table() for s in cfg.walk_cache_specs] if cfg.walk_cache_specs else None),
        **stats.to_json(),
    }


def report(stats: TraceStats, doc: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.table import Table

    from ..scenario.trace_report import trace_block

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    mode = "native (stage 1 only)" if stats.native else "nested"
    head.add_row("trace", f"{doc['file']}  ({stats.accesses:,} accesses, "
                 f"{stats.distinct_pages:,} distinct 4 KiB pages)")  # fmt: skip
    caches = doc["walk_caches"] or "none"
    head.add_row("machine", f"{doc['arch']} {doc['guest']} × {doc['npt']}, {mode}, pages "
                 f"{doc['s1_page']} / {doc['s2_page']}, walk caches {caches}")  # fmt: skip
    head.add_row("kinds", ", ".join(f"{k} {v:,}" for k, v in stats.kinds.items()))
    return Group(head, trace_block(doc, indent=0))
