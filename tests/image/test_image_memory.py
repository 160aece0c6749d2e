"""An image's memory as the engine's `Frames`: writes go to the overlay, never the image."""

from __future__ import annotations

import numpy as np
import pytest

from npt_explorer.engine import Frames, MemoryHole
from npt_explorer.image.memory import ImageMemory, Segment


def _image() -> ImageMemory:
    data = np.arange(2 * 512, dtype=np.uint64).tobytes()
    return ImageMemory([Segment(0x1000, 0x2000, "ram", data)])  # frames 1 and 2


def test_replace_frames_puts_the_rows_in_the_overlay_and_hands_back_the_image_words():
    image = _image()
    mem: Frames = image
    rows = np.full((2, 512), 7, np.uint64)
    old = mem.replace_frames([1, 2], rows)
    assert [int(words[0]) for words in old if words is not None] == [0, 512]
    assert mem.read_u64(0x2000) == 7
    mem.write_u64(0x1000, 9)
    assert rows[0, 0] == 9  # kept, not copied: the row is the overlay frame
    assert image.view(2)[0] == 512  # the image's own words are unchanged


def test_replace_frames_outside_every_range_changes_no_frame():
    mem = _image()
    with pytest.raises(MemoryHole):
        mem.replace_frames([1, 3], np.zeros((2, 512), np.uint64))
    assert mem.read_u64(0x1008) == 1 and not mem.overlay
