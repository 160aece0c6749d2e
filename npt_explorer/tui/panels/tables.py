"""The Page tables panel: both stages' tables as a tree that loads one table when it is
expanded (never the whole tree), each entry with its raw value and a compact flag string."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Self

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from ...engine import (
    EntryKind,
    Machine,
    PageTable,
    PagingFormat,
    Role,
    Walk,
    read_table,
    sign_extend,
    stage_table,
    table_entries,
)
from ...scenario.colours import FAULT_STYLE, STAGE_STYLE, colour_legend
from ...scenario.report import flag_string, kib_text
from ..messages import EntrySelected, EntryTarget, step_target
from ..widgets.paint import scrollbars_stay, set_thumbs
from ..widgets.tree_lines import StateLinesTree

HELP = """\
### Page tables

Both stages' tables as they are in memory now: **stage 1** (the guest's tables, in
guest-physical memory) and **stage 2** (the hypervisor's EPT / stage-2 / G-stage tables,
in host memory). Only non-zero entries are listed, as

`[index] raw-value  flags  → next table or output address   (input address covered)`

Flags name the one-bit fields that are set, coloured by role (see the legend).
A table is read only when you expand it, so a guest with 100k pages stays quick.

`enter`/click expands and selects an entry: the Entry panel decodes it. When the
walk cursor moves, the tree opens the path to the entry it read.
"""

_ROLES = (Role.VALID, Role.PERMISSION, Role.STATUS, Role.ATTRIBUTE, Role.TYPE)


@dataclass(slots=True)
class Slot:
    """What a tree node stands for: a stage's root, or one entry (and the table below it)."""

    stage: int
    depth: int  # the entry's depth; -1 for a stage's root node
    index: int
    addr: int  # the input address the entry covers (canonical for stage 1)
    raw: int
    child_table: int | None  # the table this entry points to, in its own address space
    loaded: bool = False
    words: np.ndarray | None = None  # the table as it was when loaded
    children: dict[int, TreeNode[Slot]] = field(default_factory=dict)
    width: int | None = None  # the label's width in cells, once measured

    @property
    def target(self) -> EntryTarget | None:
        return None if self.depth < 0 else EntryTarget(self.stage, self.addr, self.depth)


def legend(s1: PagingFormat, s2: PagingFormat) -> Text:
    """Role colours, then each format's one-bit flags with their meaning."""
    text = colour_legend()
    for stage, fmt in ((1, s1), (2, s2)):
        seen: dict[str, str] = {}
        for depth in range(fmt.depth_count):
            for kind in (EntryKind.LEAF, EntryKind.TABLE):  # a leaf's reading first
                for f in fmt.field_table(depth, kind):
                    if f.width == 1 and f.role in _ROLES and f.name not in seen:
                        seen[f.name] = f.doc.split(" (")[0].split(":")[0]
        text.append(f"\nS{stage} {fmt.name}: ", STAGE_STYLE[stage])
        text.append("  ".join(f"{n} {d}" for n, d in seen.items()), "dim")
    return text


class TableTree(StateLinesTree[Slot]):
    """A Tree that lays its lines out once for a table's entries, not once per entry (a
    table read adds up to 512 nodes, each of which would invalidate the whole tree)."""

    _adding = 0  # nesting depth of `adding()`
    _stale = False
    _sized_from: Size | None = None  # the virtual size before the tree re-sizes itself
    _frame_style: Style | None = None  # rich_style while a frame renders the tree

    @contextmanager
    def adding(self) -> Iterator[None]:
        """Nodes added or expanded inside invalidate the tree once, at the end."""
        self._adding += 1
        try:
            yield
        finally:
            self._adding -= 1
            if not self._adding and self._stale:
                self._stale = False
                self._invalidate()

    def _invalidate(self) -> None:
        if self._adding:
            self._stale = True
            return
        with self._resizing():  # the lines' next build lays the screen out if it must
            super()._invalidate()

    def _build(self) -> None:
        with self._resizing():
            super()._build()

    @contextmanager
    def _resizing(self) -> Iterator[None]:
        self._sized_from = self.virtual_size
        try:
            yield
        finally:
            self._sized_from = None

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        """While the tree re-sizes itself (lines invalidated, or built with a new virtual
        size), a layout only if a scrollbar comes or goes: a first visit to a table adds
        lines, and Textual re-laid out the whole screen for it, then repainted every
        scrolling panel's scrollbars in a second frame (the slow steps of the demo)."""
        before = self._sized_from
        if layout and before is not None and scrollbars_stay(self, before, self.virtual_size):
            set_thumbs(self, self.virtual_size)
            layout = False
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def render_lines(self, crop: Region) -> list[Strip]:
        """The tree's style once a frame: `Tree.render_line` asks for `rich_style`, which
        walks every ancestor's styles, for each line (also when the line is cached), as
        TextGrid.render_lines does."""
        self._frame_style = super().rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    @property
    def rich_style(self) -> Style:
        style = self._frame_style
        return super().rich_style if style is None else style

    def get_label_width(self, node: TreeNode[Slot]) -> int:
        """Each label measured once (Textual's hook for this): the tree measures every line's
        label whenever it lays its lines out, 512 more with each full table opened; a label
        does not change once made, and the open/closed icons are one width."""
        slot = node.data
        if slot is None:
            return super().get_label_width(node)
        if slot.width is None:
            slot.width = super().get_label_width(node)
        return slot.width

    def cursor_to(self, node: TreeNode[Slot]) -> None:
        """The cursor on `node` in this frame: the lines are laid out now, not at the next
        idle (a node opened this frame has no line number before). Kept in view once this
        frame's layout has sized the tree (a panel above it may have grown)."""
        _ = self.last_line  # counting the lines lays them out when they are stale
        self.move_cursor(node)
        self.call_after_refresh(self.scroll_to_node, node, animate=False)


class PageTablesPanel(Vertical):
    HELP = HELP

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.machine: Machine | None = None
        self._preloading: object = None  # the walk whose tables are being read ahead
        self._exist = (False, False)  # which stages had a table at the last rebuild
        self._control: object = None  # the registers the labels were decoded under
        self.border_title = "Page tables"

    def compose(self) -> ComposeResult:
        tree = TableTree("tables", id="pt-tree")
        tree.show_root = False
        tree.guide_depth = 2
        yield tree
        yield Static(id="pt-legend")

    @property
    def tree(self) -> TableTree:
        return self.query_one("#pt-tree", TableTree)

    def _table(self, stage: int) -> tuple[PageTable, PagingFormat]:
        assert self.machine is not None
        pt = stage_table(self.machine, stage)
        assert pt is not None  # nodes exist only for tables that exist
        return pt, pt.fmt

    def _tables_exist(self) -> tuple[bool, bool]:
        assert self.machine is not None
        return tuple(stage_table(self.machine, s) is not None for s in (1, 2))  # type: ignore

    # ------------------------------------------------------------------ (re)building

    def show(self, machine: Machine) -> None:
        """Rebuild for `machine`, keeping open what was open and the cursor's entry (nothing
        to do when every table on show still holds what it held)."""
        if (
            machine is self.machine
            and machine.control is self._control  # a register change re-reads every entry
            and self._exist == self._tables_exist()
            and self._unchanged()
        ):
            return
        keep = self._open_paths() if machine is self.machine else []
        cursor = self.tree.cursor_node
        at = self._path_of(cursor) if cursor is not None and machine is self.machine else None
        self.machine, self._control = machine, machine.control
        self.query_one("#pt-legend", Static).update(legend(machine.s1, machine.s2))
        tree = self.tree
        tree.clear()
        self._exist = self._tables_exist()
        for stage in (1, 2):
            head = Text.assemble((f"stage {stage}", STAGE_STYLE[stage] + " bold"))
            if not self._exist[stage - 1]:
                head.append(
                    f" · guest {machine.s1.name}: no table yet (its page-table pool "
                    "is not backed at stage 2)"
                    if stage == 1
                    else " · off (no stage-2 root: gPA = hPA)"  # a memory image's
                )
                tree.root.add_leaf(head)
                continue
            pt, fmt = self._table(stage)
            where = "gPA" if stage == 1 else "hPA"
            who = "guest" if stage == 1 else "hypervisor"
            head.append(
                f" · {who} {fmt.name}, {fmt.depth_count} levels · root {where} {pt.root:#x}"
            )
            tree.root.add(head, Slot(stage, -1, 0, 0, 0, pt.root), allow_expand=True)
        for path in keep:
            self._open(path)
        if at is not None:
            node = self._open(at, expand_last=False)
            if node is not None:
                tree.cursor_to(node)

    def _unchanged(self) -> bool:
        stack = list(self.tree.root.children)
        while stack:
            node = stack.pop()
            slot = node.data
            if slot is not None and slot.loaded and slot.child_table is not None:
                pt, _ = self._table(slot.stage)
                if not np.array_equal(read_table(pt, slot.child_table, slot.depth + 1), slot.words):
                    return False
                stack.extend(node.children)
        return True

    def _path_of(self, node: TreeNode[Slot]) -> tuple[int, ...]:
        """(stage, index at depth 0, index at depth 1, ...) of a node."""
        indices: list[int] = []
        while node.data is not None and node.data.depth >= 0:
            indices.append(node.data.index)
            assert node.parent is not None
            node = node.parent
        stage = node.data.stage if node.data is not None else 1
        return (stage, *reversed(indices))

    def _open_paths(self) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = []
        stack = list(self.tree.root.children)
        while stack:
            node = stack.pop()
            if node.is_expanded and node.data is not None and node.data.loaded:
                out.append(self._path_of(node))
                stack.extend(node.children)
        return sorted(out, key=len)

    def _open(self, path: tuple[int, ...], expand_last: bool = True) -> TreeNode[Slot] | None:
        stage, *indices = path
        node = next((n for n in self.tree.root.children if n.data and n.data.stage == stage), None)
        if node is None:
            return None
        for i, index in enumerate(indices):
            self._expand(node)
            child = node.data.children.get(index) if node.data else None
            if child is None:
                return node
            node = child
            if i == len(indices) - 1 and expand_last and node.allow_expand:
                self._expand(node)
        if not indices and expand_last:
            self._expand(node)
        return node

    def _expand(self, node: TreeNode[Slot]) -> None:
        """Load and open `node` (expanding an open node would rebuild the tree's lines)."""
        with self.tree.adding():
            self._load(node)
            if not node.is_expanded:
                node.expand()

    def _load(self, node: TreeNode[Slot]) -> None:
        """Read the table under `node` (once) and add a child per non-zero entry."""
        slot = node.data
        if slot is None or slot.loaded or slot.child_table is None:
            return
        slot.loaded = True
        pt, fmt = self._table(slot.stage)
        depth = slot.depth + 1
        slot.words = read_table(pt, slot.child_table, depth).copy()  # frames change in place
        shift = fmt.levels[depth].shift
        base = slot.addr & ((1 << fmt.input_bits) - 1)
        space = "gVA" if slot.stage == 1 else "gPA"
        with self.tree.adding():  # one layout of the tree's lines for the whole table
            for entry in table_entries(pt, slot.child_table, depth):
                index, raw, dec, paddr = entry.index, entry.raw, entry.decoded, entry.paddr
                va = base + (index << shift)
                addr = sign_extend(fmt, va) if slot.stage == 1 else va
                label = Text(f"[{index:>3}] ", "dim")
                label.append(f"{raw:#018x} ")
                label.append_text(flag_string(dec))
                if dec.kind == EntryKind.TABLE:
                    label.append(f" → table {paddr:#x}")
                elif dec.kind == EntryKind.LEAF:
                    label.append(f" → {paddr:#x} ({kib_text(dec.page_size or 0)})", "yellow")
                else:
                    label.append(
                        f" {dec.kind}" + (f" ({dec.reason})" if dec.reason else ""), FAULT_STYLE
                    )
                label.append(f"  {space} {addr:#x}", "dim")
                child_table = (
                    paddr if dec.kind == EntryKind.TABLE and depth < fmt.leaf_depth else None
                )
                child = node.add(
                    label,
                    Slot(slot.stage, depth, index, addr, raw, child_table),
                    allow_expand=child_table is not None,
                )
                slot.children[index] = child
                # measured now (a read-ahead runs while the app is idle), not by the step
                # whose cursor first opens the table: 265 labels took 11-17 ms of its key
                self.tree.get_label_width(child)

    # ------------------------------------------------------------------ following

    def _path(self, target: EntryTarget) -> tuple[int, ...] | None:
        """(stage, index at each depth down to the target's) or None for a missing stage."""
        if self.machine is None or stage_table(self.machine, target.stage) is None:
            return None
        _, fmt = self._table(target.stage)
        return (target.stage, *(fmt.index(target.addr, d) for d in range(target.depth + 1)))

    def follow(self, target: EntryTarget) -> None:
        """Open the path to `target`'s entry and put the cursor on it (in the same frame)."""
        path = self._path(target)
        if path is None:
            return
        node = self._open(path, expand_last=False)
        if node is None:
            return
        self.tree.cursor_to(node)

    def read_ahead(self, walk: Walk) -> None:
        """Read the tables `walk` will show into (closed) nodes, one table per frame while
        the app is idle: a step then only opens them. A first visit to a table used to
        build its labels during the key (all 512 of a full table), the slow steps' cause."""
        token = self._preloading = object()
        paths = [self._path(step_target(walk, i)) for i in range(len(walk.steps))]
        todo = [p for p in dict.fromkeys(paths) if p is not None]

        def next_table() -> None:
            while todo and self._preloading is token:
                if self._load_path(todo[0]):
                    self.call_after_refresh(next_table)  # one table a frame
                    return
                todo.pop(0)
            if self._preloading is token:
                self._preloading = None

        self.call_after_refresh(next_table)

    @property
    def reading_ahead(self) -> bool:
        """Tables of the last walk are still being read into the tree (one a frame)."""
        return self._preloading is not None

    def _load_path(self, path: tuple[int, ...]) -> bool:
        """Read the first table on `path` not read yet, without opening it: True if one was."""
        stage, *indices = path
        node = next((n for n in self.tree.root.children if n.data and n.data.stage == stage), None)
        for index in indices:
            if node is None or node.data is None:
                return False
            if not node.data.loaded and node.data.child_table is not None:
                self._load(node)
                return True
            node = node.data.children.get(index)
        return False

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Slot]) -> None:
        event.stop()
        self._load(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Slot]) -> None:
        event.stop()
        slot = event.node.data
        if slot is not None and slot.target is not None:
            self.post_message(EntrySelected(slot.target, "tables"))
