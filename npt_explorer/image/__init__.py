"""Memory images (IMAGES.md): ELF cores, LiME and raw files as host-physical memory, the
registers that root a translation regime, and a machine that walks them with the engine."""

from .errors import ImageError
from .memory import ImageMemory, Segment

__all__ = ["ImageError", "ImageMemory", "Segment"]
