"""`StateLinesTree`: a Tree whose rendered lines stay cached while the cursor moves.

Textual's `Tree._render_line` keys its line cache on every path node's update count, and
the count moves whenever a node's cursor or hover state is set. So putting the cursor on a
node re-renders its line and every line under it, though with the tree unfocused only the
cursor's own line looks different: on a demo step the Page tables cursor lands on an entry
whose table is open below it, and ~4 lines a step were rendered again at 0.3-0.6 ms each,
the costliest widget of the frame (benchmarks/README.md, "Session 8 (tuistep)").

Here a line is keyed on what it shows: the counts without their cursor and hover moves
(labels, expansion and the tree's own invalidations still move them), each path node's
hover state and its selection where it shows (with focus), and whether the line is the
cursor's or the mouse's. Private Textual members (pinned 8.2.8): `Tree._render_line`,
`_tree_lines`, `_updates`, `_pseudo_class_state`, `_invalidate`, `TreeNode._updates`,
`_hover`, `_selected`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self, TypeVar

from rich.style import Style
from textual.strip import Strip
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

T = TypeVar("T")

#: lines kept (a few screens of the tree, as Textual's own line cache)
_LINES = 1024
_WIDE = 1 << 20  # crop end past any line: the whole rendered line


class StateLinesTree(Tree[T]):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._state_moves: dict[TreeNode[T], int] = {}  # update counts moved by cursor/hover
        self._shown: dict[tuple[object, ...], Strip] = {}

    def _invalidate(self) -> None:
        self._forget()
        super()._invalidate()

    def clear(self) -> Self:
        self._forget()
        return super().clear()

    def _forget(self) -> None:
        """Drop the kept lines and moves: the tree's own count moves, every key with it."""
        self._state_moves.clear()
        self._shown.clear()

    def watch_cursor_line(self, previous_line: int, line: int) -> None:
        self._counting_moves(
            lambda: super(StateLinesTree, self).watch_cursor_line(previous_line, line)
        )

    def watch_hover_line(self, previous_hover_line: int, hover_line: int) -> None:
        self._counting_moves(
            lambda: super(StateLinesTree, self).watch_hover_line(previous_hover_line, hover_line)
        )

    def _counting_moves(self, watch: Callable[[], None]) -> None:
        """Run a cursor or hover watcher, noting how far it moved each node's count."""
        nodes = self._tree_lines_cached or []
        before = {line.node: line.node._updates for line in nodes}
        watch()
        moves = self._state_moves
        for node, count in before.items():
            if node._updates != count:
                moves[node] = moves.get(node, 0) + node._updates - count

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        lines = self._tree_lines
        if y >= len(lines):
            return super()._render_line(y, x1, x2, base_style)
        focus = self.has_focus
        moves = self._state_moves
        key = (
            y,
            self.size.width,
            self.virtual_size.width,
            self._updates,
            self._pseudo_class_state,
            base_style,
            focus,
            self.cursor_line == y,
            self.hover_line == y,
            tuple(
                (node, node._updates - moves.get(node, 0), node._hover, node._selected and focus)
                for node in lines[y].path
            ),
        )
        strip = self._shown.get(key)
        if strip is None:
            if len(self._shown) >= _LINES:
                self._shown.clear()
            strip = self._shown[key] = super()._render_line(y, 0, _WIDE, base_style)
        return strip.crop(x1, x2)
