"""What a partial frame renders: each widget only on the lines where it meets a dirty region.

Textual's partial frame (`Compositor.render_partial_update`, Textual 8.2.8) crops to the one
box around all the dirty regions and renders, in full, every widget whose clip meets that
box. A demo step dirties a few lines in the Walk, Page tables and Entry panels, so the box
spans most of the screen, and the frame rendered ~35 widgets (header, footer and its keys,
command line, the Regions panel...) to paint ~30 changed lines: a third of its CPU went on
widgets no dirty line touched (benchmarks/README.md, "Session 8 (tuistep)").

A frame writes only the dirty spans (the update's `spans`: per line, the union of the
dirty regions' columns), and a span's cells come from the widgets that cover them, front
first. So rendering exactly the widgets that meet a span, on the lines where they meet one,
fills every cell the update writes as Textual's box does; tests/tui/test_compositor.py
holds the two updates equal, byte for byte, through the demo and a typed command.

Private Textual members used (pinned 8.2.8): `Compositor._dirty_regions`,
`Compositor._regions_to_spans`, `Screen._compositor` (set by frames.PanelsScreen)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip


class SpanCompositor(Compositor):
    """A Compositor whose partial frames render only the lines the dirty regions touch."""

    def render_partial_update(self) -> ChopsUpdate | None:
        regions = list(self._dirty_regions)
        self._dirty_regions.clear()
        if not regions:
            return None
        spans = list(self._regions_to_spans(regions))
        chops = self._render_regions(regions)
        return ChopsUpdate(chops, spans, [cut_set[1:] for cut_set in self.cuts])

    def _render_regions(self, regions: list[Region]) -> list[dict[int, Strip | None]]:
        """Each line's strips between its cuts, for the cuts the dirty regions cover (others
        None): as `Compositor._render_chops`, but a widget renders only its lines that meet
        a dirty region (a span of the update is the union of the regions on its line)."""
        _rich_traceback_guard = True  # a widget's render error: no compositor frames shown
        cuts = self.cuts
        chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
        box = Region.from_union(regions)
        for widget, (region, clip) in self.visible_widgets.items():  # front to back
            visible = region.intersection(clip)
            if not visible.overlaps(box):
                continue
            rows: set[int] = set()
            for dirty in regions:
                if visible.overlaps(dirty):
                    rows.update(visible.intersection(dirty).line_range)
            x, _, width, _ = visible
            right = x + width
            for first, last in _runs(sorted(rows)):
                crop = Region(x - region.x, first - region.y, width, last - first + 1)
                strips = widget.render_lines(crop)
                for y, strip in zip(range(first, last + 1), strips, strict=False):
                    line = chops[y]
                    line_cuts = [cut for cut in cuts[y] if right >= cut >= x]
                    pieces = strip.divide([cut - x for cut in line_cuts[1:]])
                    for cut, piece in zip(line_cuts, pieces, strict=False):
                        if line.get(cut) is None:  # front to back: the first strip wins
                            line[cut] = piece
        return chops


def _runs(lines: Iterable[int]) -> Iterator[tuple[int, int]]:
    """(first, last) of each run of consecutive numbers in ascending `lines`."""
    run: list[int] = []
    for y in lines:
        if run and y != run[1] + 1:
            yield run[0], run[1]
            run = []
        run = [run[0] if run else y, y]
    if run:
        yield run[0], run[1]
