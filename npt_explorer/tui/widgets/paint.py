"""Cheap repaints for what changes on every step. Textual repaints a whole widget when its
border title is set, and a partial frame renders every widget that overlaps the box around
all dirty regions (`Compositor.render_partial_update`): each line marked dirty without
need costs a step its share of the 16 ms frame (benchmarks/README.md, issue 16)."""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.geometry import Region, Size
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


def scrollbars_stay(view: Widget, old: Size, new: Size) -> bool:
    """Does `view` show the same scrollbars with virtual size `new` as with `old`? Only then
    may its virtual size change without a layout: the reactive re-lays out the whole screen
    (every panel arranged again), after which each scrolling view repaints both its
    scrollbars in a second frame. False before the view is laid out (no room known)."""
    return bool(view.container_size) and _bars(view, old) == _bars(view, new)


def _bars(view: Widget, size: Size) -> tuple[bool, bool]:
    """(horizontal, vertical): the scrollbars Textual shows for a virtual size `size`, as
    `Widget._refresh_scrollbars` decides (a bar on one axis takes room from the other)."""
    styles = view.styles
    width, height = view.container_size
    across, down = styles.overflow_x, styles.overflow_y
    horizontal = across == "scroll" or (across == "auto" and size.width > width)
    vertical = down == "scroll" or (down == "auto" and size.height > height)
    if across == "auto" and vertical and not horizontal:
        horizontal = size.width > width - styles.scrollbar_size_vertical
    if down == "auto" and horizontal and not vertical:
        vertical = size.height > height - styles.scrollbar_size_horizontal
    return horizontal, vertical


def set_thumbs(view: Widget, size: Size) -> None:
    """The scrollbars' thumbs for virtual size `size` (set without a layout), and the scroll
    offset kept inside it. Textual's `_scroll_update` without its unconditional repaint of
    both scrollbars: a bar's own reactives repaint it when its thumb changes."""
    view._refresh_scrollbars()
    width, height = view.container_size
    if view.show_vertical_scrollbar and view.styles.scrollbar_size_vertical:
        bar = view.vertical_scrollbar
        bar.window_virtual_size = size.height
        bar.window_size = height - view.scrollbar_size_horizontal
    if view.show_horizontal_scrollbar and view.styles.scrollbar_size_horizontal:
        bar = view.horizontal_scrollbar
        bar.window_virtual_size = size.width
        bar.window_size = width - view.scrollbar_size_vertical
    view.scroll_x = view.validate_scroll_x(view.scroll_x)
    view.scroll_y = view.validate_scroll_y(view.scroll_y)
