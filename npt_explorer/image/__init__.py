"""Memory images (IMAGES.md): ELF cores, LiME and raw files as host-physical memory, the
registers that root a translation regime, and a machine that walks them with the engine."""

from .errors import ImageError
from .files import ImageFile, open_image, open_images
from .machine import ImageMachine
from .memory import ImageMemory, Segment
from .roots import Regime, decode

__all__ = [
    "ImageError",
    "ImageFile",
    "ImageMachine",
    "ImageMemory",
    "Regime",
    "Segment",
    "decode",
    "open_image",
    "open_images",
]
