"""`TextGrid`: a light table for the views that change on every keypress (the walk grid, the
reference list, the entry's fields). Rows are rendered once into strips (Line API); moving the
cursor repaints two lines, where a DataTable re-renders every visible cell."""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from .paint import scrollbars_stay, set_thumbs

_EMPTY = Text("")
#: rendered cells kept per grid (a 4-level walk's grid and list hold a few hundred)
_CELL_CACHE = 4096


@dataclass(frozen=True, slots=True)
class Column:
    label: Text
    width: int
    justify: str = "left"  # left | right


class TextGrid(ScrollView, can_focus=True):
    """Columns of Rich Text with a fixed header line and a row or cell cursor.

    `move_to` (the program) posts nothing; keys and clicks (the user) post `CursorMoved`;
    `enter`, or a click on the cursor, posts `Selected`."""

    DEFAULT_CSS = """
    TextGrid {
        height: 1fr;
        background: $surface;
    }
    TextGrid > .text-grid--header {
        text-style: bold;
        background: $panel;
    }
    TextGrid > .text-grid--cursor {
        background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground;
        text-style: $block-cursor-blurred-text-style;
    }
    TextGrid:focus > .text-grid--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """
    COMPONENT_CLASSES = {"text-grid--header", "text-grid--cursor"}
    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("pageup", "move(-10, 0)", "Page up", show=False),
        Binding("pagedown", "move(10, 0)", "Page down", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    class CursorMoved(Message):
        def __init__(self, grid: TextGrid, row: int, column: int) -> None:
            super().__init__()
            self.grid, self.row, self.column = grid, row, column

        @property
        def control(self) -> TextGrid:
            return self.grid

    class Selected(CursorMoved):
        pass

    row = var(0, init=False)
    column = var(0, init=False)

    def __init__(self, *, cursor: str = "row", gap: int = 2, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.cursor = cursor  # "row" | "cell" | "none"
        self.gap = gap
        self.columns: list[Column] = []
        self.rows: list[list[Text]] = []
        self._offsets: list[int] = []
        self._cache: dict[int, Strip] = {}
        self._cells: dict[tuple[object, ...], list[Segment]] = {}
        self._styles: tuple[Style, Style, Style] | None = None

    # ------------------------------------------------------------------ content

    def set_columns(self, *labels: Text | str, justify: tuple[str, ...] = ()) -> None:
        self.columns = [
            Column(
                Text(lb) if isinstance(lb, str) else lb,
                0,
                justify[i] if i < len(justify) else "left",
            )
            for i, lb in enumerate(labels)
        ]
        self.set_rows([])

    def set_rows(self, rows: list[list[Text | str]]) -> None:
        """Replace every row; column widths fit the widest cell (or header)."""
        self.rows = [[Text(c) if isinstance(c, str) else c for c in row] for row in rows]
        widths = [c.label.cell_len for c in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row[: len(widths)]):
                widths[i] = max(widths[i], cell.cell_len)
        self.columns = [
            Column(c.label, w, c.justify) for c, w in zip(self.columns, widths, strict=True)
        ]
        self._offsets = []
        x = 0
        for w in widths:
            self._offsets.append(x)
            x += w + self.gap
        self._cache.clear()
        self._resize(Size(max(0, x - self.gap), len(self.rows) + 1))
        self.set_reactive(TextGrid.row, min(self.row, max(0, len(self.rows) - 1)))
        self.refresh()

    def _resize(self, size: Size) -> None:
        """A new virtual size re-lays out the whole screen (tens of ms): only when the
        widget's height follows its rows or a scrollbar comes or goes."""
        if size == self.virtual_size:
            return
        height = self.styles.height
        if (height is None or not height.is_auto) and scrollbars_stay(
            self, self.virtual_size, size
        ):
            self.set_reactive(Widget.virtual_size, size)
            set_thumbs(self, size)  # no layout
        else:
            self.virtual_size = size

    def set_cell(self, row: int, column: int, text: Text) -> None:
        if 0 <= row < len(self.rows) and 0 <= column < len(self.rows[row]):
            self.rows[row][column] = text
            self._cache.pop(row, None)
            self._refresh_row(row)

    @property
    def row_count(self) -> int:
        return len(self.rows)

    # ------------------------------------------------------------------ the cursor

    def move_to(self, row: int, column: int | None = None, *, post: bool = False) -> None:
        """Put the cursor on (row, column), scroll it into view; posts only if `post`."""
        if not self.rows:
            return
        row = max(0, min(row, len(self.rows) - 1))
        column = self.column if column is None else max(0, min(column, len(self.columns) - 1))
        old = self.row
        self.set_reactive(TextGrid.row, row)
        self.set_reactive(TextGrid.column, column)
        self._refresh_row(old)
        self._refresh_row(row)
        self._scroll_to_cursor()
        if post:
            self.post_message(self.CursorMoved(self, row, column))

    def _scroll_to_cursor(self) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        y = self.scroll_offset.y
        if self.row < y:
            y = self.row
        elif self.row > y + height - 1:
            y = self.row - height + 1
        x = self.scroll_offset.x
        if self.cursor == "cell" and self.columns:
            left = self._offsets[self.column]
            right = left + self.columns[self.column].width
            width = self.scrollable_content_region.width
            if left < x:
                x = left
            elif right > x + width:
                x = right - width
        self.scroll_to(x=x, y=y, animate=False, immediate=True)

    def action_move(self, rows: int, columns: int) -> None:
        if self.cursor == "row" and columns:
            self.scroll_relative(x=columns * 4, animate=False)
            return
        self.move_to(self.row + rows, self.column + columns, post=True)

    def action_select(self) -> None:
        if self.rows:
            self.post_message(self.Selected(self, self.row, self.column))

    def _cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        if y < 1:
            return None
        row = self.scroll_offset.y + y - 1
        if not 0 <= row < len(self.rows):
            return None
        vx = x + self.scroll_offset.x
        column = 0
        for i, left in enumerate(self._offsets):
            if vx >= left:
                column = i
        return row, column

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        hit = None if offset is None else self._cell_at(offset.x, offset.y)
        if hit is None:
            return
        same = hit == (self.row, self.column if self.cursor == "cell" else hit[1])
        self.move_to(*hit, post=not same)
        if same:
            self.action_select()

    # ------------------------------------------------------------------ rendering

    def _refresh_row(self, row: int) -> None:
        y = row - self.scroll_offset.y + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _line(
        self,
        cells: list[Text],
        style: Style,
        cursor: int | None = None,
        cursor_style: Style | None = None,
    ) -> Strip:
        segments: list[Segment] = []
        for i in range(len(self.columns)):
            text = cells[i] if i < len(cells) else _EMPTY
            segments.extend(self._cell(i, text, cursor_style if i == cursor else None))
        return Strip(segments).apply_style(style)

    def _cell(self, i: int, text: Text, cursor_style: Style | None) -> list[Segment]:
        """Column `i`'s cell holding `text`, padded to the column and its gap. Remembered:
        a step re-renders rows whose cells (bits, field names, flags) mostly recur."""
        col = self.columns[i]
        last = i == len(self.columns) - 1
        key = (text.plain, text.style, tuple(text.spans), col.width, col.justify, last)
        key += (cursor_style,)
        found = self._cells.get(key)
        if found is not None:
            return found
        pad = col.width - text.cell_len
        cell = Text(" " * pad if col.justify == "right" else "")
        cell.append_text(text)  # its base style becomes a span: Text.render keeps spans
        if col.justify != "right":
            cell.append(" " * pad)
        if not last:
            cell.append(" " * self.gap)
        if cursor_style is not None:
            # beneath the cell's own colours: the cursor marks the cell, and a fault
            # under it is still red
            cell.stylize_before(cursor_style, 0, col.width + (0 if last else 1))
        if len(self._cells) >= _CELL_CACHE:
            self._cells.clear()
        found = self._cells[key] = list(cell.render(self.app.console))
        return found

    def render_lines(self, crop: Region) -> list[Strip]:
        # the styles once a frame, not once a line: `rich_style` walks every ancestor
        self._styles = None
        return super().render_lines(crop)

    def _frame_styles(self) -> tuple[Style, Style, Style]:
        """(base, header, cursor) styles of the frame being rendered."""
        if self._styles is None:
            base = self.rich_style
            self._styles = (
                base,
                base + self.get_component_rich_style("text-grid--header"),
                self.get_component_rich_style("text-grid--cursor"),
            )
        return self._styles

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        x = self.scroll_offset.x
        base, header, cursor = self._frame_styles()
        if y == 0:
            strip = self._line([c.label for c in self.columns], header)
            return strip.crop_extend(x, x + width, header)
        row = self.scroll_offset.y + y - 1
        if not 0 <= row < len(self.rows):
            return Strip.blank(width, base)
        if row == self.row and self.cursor == "row":
            strip = Strip(
                Segment(t, s + cursor if s else cursor, c)
                for t, s, c in self._line(self.rows[row], base)
            )
            return strip.crop_extend(x, x + width, base + cursor)
        if row == self.row and self.cursor == "cell":
            return self._line(self.rows[row], base, self.column, cursor).crop_extend(
                x, x + width, base
            )
        strip = self._cache.get(row)
        if strip is None:
            strip = self._cache[row] = self._line(self.rows[row], base)
        return strip.crop_extend(x, x + width, base)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._cells.clear()
