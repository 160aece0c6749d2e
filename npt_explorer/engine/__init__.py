"""The page-table engine: numpy only, no UI. Usable as a library on its own."""

from .config import ARCHES, ArchSpec, MachineConfig
from .control import BITS as CONTROL_BITS
from .control import Control, ControlBit, build_control
from .errors import ERROR_KINDS, PagingError, SeedPanic
from .faults import Fault
from .flags import Access, MappingFlags, Priv
from .formats import (
    FORMAT_NAMES,
    AccessRequest,
    Encoding,
    EntryKind,
    FaultReason,
    PagingFormat,
    Role,
    get_format,
)
from .machine import Machine
from .memory import FrameAllocator, Frames, MemoryHole, PhysicalMemory, table_words
from .page_table import PageTable
from .readings import Readings
from .walk import BARE_SIZE, Walk, Walker, WalkStep

__all__ = [
    "ARCHES",
    "AccessRequest",
    "PagingFormat",
    "Readings",
    "Role",
    "BARE_SIZE",
    "ArchSpec",
    "CONTROL_BITS",
    "Control",
    "ControlBit",
    "build_control",
    "Fault",
    "MachineConfig",
    "Walk",
    "WalkStep",
    "Walker",
    "ERROR_KINDS",
    "FORMAT_NAMES",
    "Access",
    "Encoding",
    "EntryKind",
    "FaultReason",
    "FrameAllocator",
    "Frames",
    "Machine",
    "MemoryHole",
    "MappingFlags",
    "PageTable",
    "PagingError",
    "PhysicalMemory",
    "Priv",
    "SeedPanic",
    "get_format",
    "table_words",
]
