"""A trace file through a fresh machine that maps the program's pages as they appear."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..engine import (
    SIZES,
    Machine,
    MachineConfig,
    TraceMapper,
    TraceReplay,
    TraceStats,
    replay_chunks,
)
from .files import prefetch, read

#: the guest page-table pool a trace machine needs (a program touches many 2 MiB regions)
POOL_SIZE = 0x80_0000


def trace_config(config: MachineConfig) -> MachineConfig:
    """`config` with a page-table pool large enough for a program's tables."""
    return dataclasses.replace(config, pool_size=max(config.pool_size, POOL_SIZE), map_pool=True)


def run_file(
    config: MachineConfig,
    path: str | Path,
    fmt: str | None = None,
    *,
    s1_page: str = "4K",
    s2_page: str = "4K",
    native: bool = False,
    progress: Callable[[int], None] | None = None,
) -> TraceStats:
    """Replay the trace in `path` (raises `TraceFileError`, or `PagingError` when its pages
    cannot be mapped)."""
    machine = Machine(trace_config(config))
    mapper = TraceMapper(machine, SIZES[s1_page], SIZES[s2_page])
    replay = TraceReplay(machine, native=native, mapper=mapper)
    return replay_chunks(replay, prefetch(read(path, fmt)), progress)
