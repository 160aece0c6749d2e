"""Cheap repaints for what changes on every step. Textual repaints a whole widget when its
border title is set, and a partial frame renders every widget that overlaps the box around
all dirty regions (`Compositor.render_partial_update`): each line marked dirty without
need costs a step its share of the 16 ms frame (benchmarks/README.md, issue 16)."""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.geometry import Region
from textual.widget import Widget


def set_border_title(widget: Widget, title: Text | str) -> None:
    """`widget.border_title = title`, repainting only the top border row, and nothing when
    the title is unchanged (the descriptor repaints the whole widget: the Entry panel's 19
    rows on every step). Pinned Textual (8.2.8): the descriptor keeps the title in
    `_border_title` as the first line of the rendered Content."""
    if not widget.is_mounted:
        widget.border_title = title
        return
    content = Content.from_rich_text(title) if isinstance(title, Text) else title
    new = widget.render_str(content).expand_tabs(4).split()[0]
    if new == widget._border_title:
        return
    widget._border_title = new
    top = widget.content_offset  # the region is in content coordinates: the border is above
    widget.refresh(Region(-top.x, -top.y, widget.outer_size.width, 1))
