"""The page-table engine: numpy only, no UI. Usable as a library on its own."""

from .errors import ERROR_KINDS, PagingError, SeedPanic
from .flags import Access, MappingFlags, Priv
from .formats import FORMAT_NAMES, Encoding, EntryKind, FaultReason, get_format
from .memory import FrameAllocator, PhysicalMemory
from .page_table import PageTable

__all__ = [
    "ERROR_KINDS",
    "FORMAT_NAMES",
    "Access",
    "Encoding",
    "EntryKind",
    "FaultReason",
    "FrameAllocator",
    "MappingFlags",
    "PageTable",
    "PagingError",
    "PhysicalMemory",
    "Priv",
    "SeedPanic",
    "get_format",
]
