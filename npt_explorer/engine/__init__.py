"""The page-table engine: numpy only, no UI. Usable as a library on its own."""

from .addrspace import Backend
from .batch_walk import BatchWalk, Stages, walk_many
from .config import ARCHES, ArchSpec, MachineConfig
from .control import BITS as CONTROL_BITS
from .control import Control, ControlBit, build_control, mode_clash
from .errors import ERROR_KINDS, BadValue, PagingError, SeedPanic
from .events import (
    ContextSet,
    ControlChanged,
    ControlSet,
    Event,
    EventData,
    Faulted,
    Flushed,
    Handled,
    Mapped,
    Poked,
    Protected,
    Unmapped,
    Walked,
    WalkKind,
)
from .faults import During, Fault
from .flags import Access, MappingFlags, Priv
from .formats import (
    FORMAT_NAMES,
    AccessRequest,
    Decoded,
    Encoding,
    EntryKind,
    FaultReason,
    Field,
    PagingFormat,
    Role,
    get_format,
)
from .formats.arm import arm_s2_start_problem
from .machine import Machine
from .memory import (
    PAGE_SIZE,
    FrameAllocator,
    Frames,
    MemoryHole,
    PhysicalMemory,
    entry_words,
    table_words,
    write_entry,
)
from .numbers import hx, parse_number
from .page_table import EntryRef, PageTable
from .paging import Paging, TableView
from .readings import Readings, StepOutcome
from .region_fold import RegionFolder, machine_regions
from .regions import (
    Region,
    read_table,
    sign_extend,
    stage_table,
    table_entries,
)
from .syndrome_fields import decode_syndrome
from .table_core import Flush
from .table_lister import Child, TableLister
from .table_lister import Problem as TreeProblem
from .tlb import COMBINED, FLUSHES, STAGE2, TlbEntry, TlbKind
from .trace import SIZES, TraceMapper, TraceReplay, TraceStats, replay_chunks, run_trace
from .walk import Walk, Walker, WalkStep
from .walk_cache import PRESETS, WalkCaches

__all__ = [
    "ContextSet",
    "ControlChanged",
    "ControlSet",
    "EventData",
    "Faulted",
    "Flushed",
    "Handled",
    "Mapped",
    "Poked",
    "Protected",
    "Unmapped",
    "Walked",
    "WalkKind",
    "Child",
    "TableLister",
    "TreeProblem",
    "BadValue",
    "parse_number",
    "hx",
    "Backend",
    "During",
    "StepOutcome",
    "TlbKind",
    "ARCHES",
    "Access",
    "AccessRequest",
    "ArchSpec",
    "BatchWalk",
    "COMBINED",
    "CONTROL_BITS",
    "Control",
    "ControlBit",
    "Decoded",
    "ERROR_KINDS",
    "Encoding",
    "EntryRef",
    "EntryKind",
    "Event",
    "FLUSHES",
    "Flush",
    "FORMAT_NAMES",
    "Fault",
    "FaultReason",
    "Field",
    "FrameAllocator",
    "Frames",
    "Machine",
    "MachineConfig",
    "MappingFlags",
    "MemoryHole",
    "PRESETS",
    "PAGE_SIZE",
    "PageTable",
    "Paging",
    "PagingError",
    "PagingFormat",
    "PhysicalMemory",
    "Priv",
    "TableView",
    "Readings",
    "Region",
    "RegionFolder",
    "Role",
    "SIZES",
    "STAGE2",
    "SeedPanic",
    "Stages",
    "TlbEntry",
    "TraceMapper",
    "TraceReplay",
    "TraceStats",
    "Walk",
    "WalkCaches",
    "WalkStep",
    "Walker",
    "arm_s2_start_problem",
    "build_control",
    "decode_syndrome",
    "get_format",
    "machine_regions",
    "mode_clash",
    "read_table",
    "replay_chunks",
    "run_trace",
    "sign_extend",
    "stage_table",
    "table_entries",
    "entry_words",
    "table_words",
    "walk_many",
    "write_entry",
]
