"""The TUI's diff view: what changed from point A to point B of the session, one row per
entry added/removed/changed (with its fields), permission range, TLB entry and frame.
Linked as the panels are: the row under the cursor posts `EntrySelected` for the entry it
is about (a range's or TLB entry's leaf, the entry that maps a frame) and `DiffFollow` for
the regions and TLB panels; the app shows it there (the panels show point B)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from ...classroom.diff import EntryChange, PermChange, StateDiff, assuming, lands
from ...classroom.state import EntryAt, MachineState, TlbLine
from ...engine import STAGE2, EntryKind, hx
from ...scenario.colours import STAGE_STYLE
from ..messages import EntrySelected, EntryTarget

_SIGN = {"added": ("+", "green"), "removed": ("-", "red"), "changed": ("~", "yellow")}
_SPACE = {1: "gVA", 2: "gPA"}


@dataclass(frozen=True, slots=True)
class DiffRow:
    """One row: what it says, and what it is about (for the linked panels)."""

    cells: tuple[Text, ...]
    entry: EntryAt | None = None  # the entry itself (entry rows)
    perm: PermChange | None = None
    tlb: TlbLine | None = None
    frame: tuple[str, int] | None = None  # ("host" | "guest", address)


def _val(v: int | None) -> str:
    return "-" if v is None else str(v) if v < 10 else hx(v)


def _stage(stage: int) -> Text:
    return Text(f"S{stage}", STAGE_STYLE[stage])


def _entry_row(c: EntryChange) -> DiffRow:
    e = c.where
    sign, style = _SIGN[c.change]
    raws = " → ".join(hx(x.raw) for x in (c.before, c.after) if x is not None)
    if c.change == "changed":
        fields = " ".join(f"{n} {_val(o)}→{_val(new)}" for n, o, new in c.fields)
    else:  # the values it has (or had), zeros left out
        fields = " ".join(
            f"{n}={_val(o if new is None else new)}"
            for n, o, new in c.fields
            if (o if new is None else new)
        )
    return DiffRow(
        (
            Text(f"{sign} {c.change}", style),
            _stage(e.stage),
            Text(f"{c.level_name} (depth {e.depth})"),
            Text(f"{_SPACE[e.stage]} {hx(e.input)}"),
            Text(raws),
            Text(fields),
        ),
        entry=e,
    )


def _perm_row(label: str, p: PermChange) -> DiffRow:
    return DiffRow(
        (
            Text(f"± {label}", "magenta"),
            _stage(p.stage),
            Text(f"{(p.end - p.start) >> 10} KiB"),
            Text(f"{_SPACE[p.stage]} {hx(p.start)}–{hx(p.end)}"),
            Text(f"{p.before or 'unmapped'} → {p.after or 'unmapped'}"),
            Text(lands(p).lstrip()),  # through both stages: where the range's start lands
        ),
        perm=p,
    )


def _tlb_row(label: str, style: str, t: TlbLine) -> DiffRow:
    return DiffRow(
        (
            Text(f"{label}", style),
            Text(t.kind),
            Text(f"{t.size >> 10} KiB"),
            Text(f"{'gPA' if t.kind == STAGE2 else 'gVA'} {hx(t.base)}"),
            Text(f"gPA {hx(t.gpa)} hPA {hx(t.hpa)}"),
            Text(f"[{t.perms}]" + (" STALE" if t.stale else ""), "bold yellow" if t.stale else ""),
        ),
        tlb=t,
    )


def _frame_row(space: str, gained: bool, addr: int) -> DiffRow:
    return DiffRow(
        (
            Text(f"{'+' if gained else '-'} frame", "green" if gained else "red"),
            Text(space),
            Text("gained" if gained else "lost"),
            Text(f"{'hPA' if space == 'host' else 'gPA'} {hx(addr)}"),
            Text(""),
            Text(""),
        ),
        frame=(space, addr),
    )


def diff_rows(d: StateDiff) -> list[DiffRow]:
    """The rows of the diff view, in the headless diff's order."""
    rows = [_entry_row(c) for c in d.entries]
    for label, group in (
        ("leaf grants", d.permissions),
        ("effective", d.effective),
        ("gVA S1 / S2", d.nested),
    ):
        rows += [_perm_row(label, p) for p in group]
    for label, style, group in (
        ("! TLB stale", "bold yellow", d.tlb_stale),
        ("+ TLB", "green", d.tlb_added),
        ("- TLB", "red", d.tlb_removed),
    ):
        rows += [_tlb_row(label, style, t) for t in group]
    for space, gained, frames in (
        ("host", True, d.host_gained),
        ("host", False, d.host_lost),
        ("guest", True, d.guest_gained),
        ("guest", False, d.guest_lost),
    ):
        rows += [_frame_row(space, gained, f) for f in frames]
    return rows


# ----------------------------------------------------------------------------- linking


def covering(state: MachineState, stage: int, addr: int) -> EntryAt | None:
    """The deepest non-zero entry of `stage` whose range holds `addr` (a leaf, in a state)."""
    fmt = state.formats[stage]
    for depth in range(len(fmt.levels) - 1, -1, -1):
        size = 1 << fmt.levels[depth].shift
        found = state.entries.get((stage, depth, addr & ~(size - 1)))
        if found is not None:
            return found
    return None


def frame_owner(state: MachineState, space: str, frame: int) -> EntryAt | None:
    """The entry whose output is `frame`: a table pointer to it or a leaf mapping it (host
    frames are stage-2 outputs, guest table frames stage-1 table pointers)."""
    stage = 2 if space == "host" else 1
    for e in state.entries.values():
        if e.stage != stage:
            continue
        dec = state.formats[stage].decode(e.raw, e.depth)
        if dec.paddr is None:
            continue
        size = 1 << state.formats[stage].levels[e.depth].shift
        if dec.paddr == frame or (
            dec.kind == EntryKind.LEAF and dec.paddr <= frame < dec.paddr + size
        ):
            return e
    return None


def row_target(d: StateDiff, row: DiffRow) -> EntryTarget | None:
    """The entry the panels show for `row`: looked up in B, else in A (a removed thing)."""
    found: EntryAt | None = row.entry
    for state in (d.b, d.a):
        if found is not None:
            break
        if row.perm is not None:
            found = covering(state, row.perm.stage, row.perm.start)
        elif row.tlb is not None:
            found = covering(state, 2 if row.tlb.kind == STAGE2 else 1, row.tlb.base)
        elif row.frame is not None:
            found = frame_owner(state, *row.frame)
    if found is None:
        return None
    return EntryTarget(found.stage, found.input, found.depth)


class DiffFollow(Message):
    """The diff view's cursor is on a permission range or a TLB entry: the regions or TLB
    panel puts its cursor there."""

    def __init__(self, perm: PermChange | None, tlb: TlbLine | None) -> None:
        super().__init__()
        self.perm = perm
        self.tlb = tlb


class DiffPanel(Vertical):
    """The diff between two points, docked under the panels while it is open."""

    DEFAULT_CSS = """
    DiffPanel {
        height: 11;
        max-height: 40%;
        border: round $accent;
        border-title-style: bold;
        padding: 0 1;
    }
    DiffPanel > DataTable {
        height: 1fr;
    }
    """
    BINDINGS = [Binding("escape", "close", "close diff")]

    def __init__(self, d: StateDiff, a: int, b: int, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.diff = d
        self.points = (a, b)
        self.rows = diff_rows(d)

    def compose(self) -> ComposeResult:
        a, b = self.points
        d = self.diff
        self.border_title = f"Diff · point {a} → point {b} · the panels show point {b}"
        self.border_subtitle = "↑↓ linked to the panels · esc closes"
        counts = (
            f"entries {d.count('added')} added, {d.count('removed')} removed, "
            f"{d.count('changed')} changed · {len(d.effective)} effective permission range(s)"
            f" · TLB {len(d.tlb_stale)} stale, {len(d.tlb_added)} added, "
            f"{len(d.tlb_removed)} removed"
            f" · frames +{len(d.host_gained) + len(d.guest_gained)} "
            f"-{len(d.host_lost) + len(d.guest_lost)}"
        )
        yield Static(Text("no differences" if d.empty else counts, "bold"), id="diff-counts")
        # what the effective rows' labels assume, full width (as a row's last cell it ran
        # past a 160-column screen); the text prints it over each effective group
        note = assuming(d)
        if (d.effective or d.nested) and note:
            yield Static(Text(note, "italic"), id="diff-assuming")
        table: DataTable[Text] = DataTable(id="diff-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("change", "S/kind", "level", "where", "before → after", "fields")
        for i, row in enumerate(self.rows):
            table.add_row(*row.cells, key=str(i))
        table.display = bool(self.rows)
        yield table

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#diff-table", DataTable)

    @on(DataTable.RowHighlighted, "#diff-table")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        row = self.rows[int(str(event.row_key.value))]
        target = row_target(self.diff, row)
        if target is not None:
            self.post_message(EntrySelected(target, "diff"))
        if row.perm is not None or row.tlb is not None:
            self.post_message(DiffFollow(row.perm, row.tlb))

    def action_close(self) -> None:
        self.remove()
