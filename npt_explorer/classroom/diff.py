"""What changed between two machine states: page-table entries added, removed or changed
(field by field), permissions per input range, TLB entries added, removed or gone stale,
frames gained or lost. Text for people, JSON for scripts."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from ..engine import hx
from .state import EntryAt, MachineState, Range, TlbLine


@dataclass(frozen=True, slots=True)
class EntryChange:
    """One entry slot: `before`/`after` None when added/removed."""

    before: EntryAt | None
    after: EntryAt | None
    level_name: str
    fields: tuple[tuple[str, int | None, int | None], ...]  # (name, before, after), changed only

    @property
    def where(self) -> EntryAt:
        entry = self.after or self.before
        assert entry is not None
        return entry

    @property
    def change(self) -> str:
        return "added" if self.before is None else "removed" if self.after is None else "changed"

    def to_json(self) -> dict[str, Any]:
        e = self.where
        return {
            "change": self.change,
            "stage": e.stage,
            "depth": e.depth,
            "level_name": self.level_name,
            "input": hx(e.input),
            "table": hx(e.table),
            "index": e.index,
            "before": None if self.before is None else hx(self.before.raw),
            "after": None if self.after is None else hx(self.after.raw),
            "fields": {name: [old, new] for name, old, new in self.fields},
        }


#: (before, after) output addresses of a range's start; None: none there
Outputs = tuple[int | None, int | None]
_NO_OUTPUTS: Outputs = (None, None)


@dataclass(frozen=True, slots=True)
class PermChange:
    stage: int
    start: int
    end: int
    before: str | None  # None: unmapped
    after: str | None
    #: through both stages only: where `start` lands before and after (running on to `end`)
    gpa: Outputs = _NO_OUTPUTS
    hpa: Outputs = _NO_OUTPUTS

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stage": self.stage,
            "start": hx(self.start),
            "end": hx(self.end),
            "before": self.before,
            "after": self.after,
        }
        if self.gpa != _NO_OUTPUTS:
            out["gpa"] = [None if v is None else hx(v) for v in self.gpa]
            out["hpa"] = [None if v is None else hx(v) for v in self.hpa]
        return out


@dataclass(frozen=True, slots=True)
class StateDiff:
    a: MachineState
    b: MachineState
    entries: tuple[EntryChange, ...]
    permissions: tuple[PermChange, ...]  # the leaves' own grants (as the regions panel)
    effective: tuple[PermChange, ...]  # with the table entries' limits folded in, per stage
    nested: tuple[PermChange, ...]  # gVA ranges: "stage 1 / stage 2" effective
    tlb_added: tuple[TlbLine, ...]
    tlb_removed: tuple[TlbLine, ...]
    tlb_stale: tuple[TlbLine, ...]  # in B stale, and not stale (or absent) in A
    host_gained: tuple[int, ...]
    host_lost: tuple[int, ...]
    guest_gained: tuple[int, ...]
    guest_lost: tuple[int, ...]

    @property
    def empty(self) -> bool:
        return not (
            self.entries
            or self.permissions
            or self.effective
            or self.nested
            or self.tlb_added
            or self.tlb_removed
            or self.tlb_stale
            or self.host_gained
            or self.host_lost
            or self.guest_gained
            or self.guest_lost
        )

    def count(self, change: str) -> int:
        return sum(1 for c in self.entries if c.change == change)

    def to_json(self) -> dict[str, Any]:
        return {
            "arch": self.b.arch,
            # the control state the effective labels assume, per side (`state.controls_line`)
            "controls": {"a": list(self.a.controls), "b": list(self.b.controls)},
            "entries": [c.to_json() for c in self.entries],
            "permissions": [p.to_json() for p in self.permissions],
            "effective_permissions": [p.to_json() for p in self.effective],
            "nested_permissions": [p.to_json() for p in self.nested],
            "tlb": {
                "added": [_tlb_json(t) for t in self.tlb_added],
                "removed": [_tlb_json(t) for t in self.tlb_removed],
                "became_stale": [_tlb_json(t) for t in self.tlb_stale],
            },
            "frames": {
                "host": {
                    "gained": [hx(f) for f in self.host_gained],
                    "lost": [hx(f) for f in self.host_lost],
                },
                "guest": {
                    "gained": [hx(f) for f in self.guest_gained],
                    "lost": [hx(f) for f in self.guest_lost],
                },
            },
        }


def _tlb_json(t: TlbLine) -> dict[str, Any]:
    return {
        "kind": t.kind,
        "vmid": t.vmid,
        "asid": t.asid,
        "base": hx(t.base),
        "size": t.size,
        "gpa": hx(t.gpa),
        "hpa": hx(t.hpa),
        "perms": t.perms,
        "stale": t.stale,
    }


# ----------------------------------------------------------------------------- comparing


def _fields(state: MachineState, entry: EntryAt | None) -> dict[str, int]:
    if entry is None:
        return {}
    dec = state.formats[entry.stage].decode(entry.raw, entry.depth)
    return {fv.field.name: fv.value for fv in dec.fields if fv.field.role != "ignored"}


def _entry_changes(a: MachineState, b: MachineState) -> list[EntryChange]:
    out = []
    for key in sorted(a.entries.keys() | b.entries.keys()):
        old, new = a.entries.get(key), b.entries.get(key)
        if old is not None and new is not None and old.raw == new.raw:
            continue
        before, after = _fields(a, old), _fields(b, new)
        names = list(dict.fromkeys([*before, *after]))
        fields = tuple(
            (n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)
        )
        stage, depth = key[0], key[1]
        out.append(EntryChange(old, new, b.formats[stage].levels[depth].name, fields))
    return out


def _range_at(ranges: list[Range], starts: list[int], addr: int) -> Range | None:
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and ranges[i].start <= addr < ranges[i].end:
        return ranges[i]
    return None


def _out(r: Range | None, addr: int, which: str) -> int | None:
    base = None if r is None else getattr(r, which)
    return None if base is None else base + addr - r.start  # type: ignore[union-attr]


def _runs_on(last: PermChange, lo: int, gpa: Outputs, hpa: Outputs) -> bool:
    """Does a piece starting at `lo` continue `last`'s outputs (or have none, like it)?"""
    step = lo - last.start
    return all(
        (old is None) == (new is None) and (old is None or old + step == new)
        for olds, news in ((last.gpa, gpa), (last.hpa, hpa))
        for old, new in zip(olds, news, strict=True)
    )


def _perm_changes(a: tuple[Range, ...], b: tuple[Range, ...]) -> list[PermChange]:
    """Where the permissions differ, as maximal ranges with one (before, after) pair (and,
    for ranges that carry them, outputs that run on)."""
    out: list[PermChange] = []
    for stage in (1, 2):
        ra = [r for r in a if r.stage == stage]
        rb = [r for r in b if r.stage == stage]
        sa, sb = [r.start for r in ra], [r.start for r in rb]
        cuts = sorted({x for r in ra + rb for x in (r.start, r.end)})
        for lo, hi in zip(cuts, cuts[1:], strict=False):
            old, new = _range_at(ra, sa, lo), _range_at(rb, sb, lo)
            before, after = (None if r is None else r.perms for r in (old, new))
            if before == after:
                continue
            gpa = (_out(old, lo, "gpa"), _out(new, lo, "gpa"))
            hpa = (_out(old, lo, "hpa"), _out(new, lo, "hpa"))
            last = out[-1] if out else None
            if (
                last
                and (last.stage, last.end, last.before, last.after) == (stage, lo, before, after)
                and _runs_on(last, lo, gpa, hpa)
            ):
                out[-1] = PermChange(stage, last.start, hi, before, after, last.gpa, last.hpa)
            else:
                out.append(PermChange(stage, lo, hi, before, after, gpa, hpa))
    return out


def diff(a: MachineState, b: MachineState) -> StateDiff:
    """Everything that differs from `a` to `b`."""
    stale = tuple(
        t for k, t in sorted(b.tlb.items()) if t.stale and not (k in a.tlb and a.tlb[k].stale)
    )
    return StateDiff(
        a,
        b,
        tuple(_entry_changes(a, b)),
        tuple(_perm_changes(a.ranges, b.ranges)),
        tuple(_perm_changes(a.effective, b.effective)),
        tuple(_perm_changes(a.nested, b.nested)),
        tuple(t for k, t in sorted(b.tlb.items()) if k not in a.tlb),
        tuple(t for k, t in sorted(a.tlb.items()) if k not in b.tlb),
        stale,
        tuple(sorted(b.host_frames - a.host_frames)),
        tuple(sorted(a.host_frames - b.host_frames)),
        tuple(sorted(b.guest_frames - a.guest_frames)),
        tuple(sorted(a.guest_frames - b.guest_frames)),
    )


# ----------------------------------------------------------------------------- text

_SIGN = {"added": "+", "removed": "-", "changed": "~"}


def _value(v: int | None) -> str:
    return "-" if v is None else str(v) if v < 10 else hx(v)


def _frames(label: str, frames: tuple[int, ...], limit: int = 8) -> str:
    shown = ", ".join(hx(f) for f in frames[:limit])
    more = f", … {len(frames) - limit} more" if len(frames) > limit else ""
    return f"  {label} ({len(frames)}): {shown}{more}"


def assuming(d: StateDiff) -> str | None:
    """The control state the effective labels are read under (kernel accesses), per side
    when a step changed it: "(assuming …)"; None where no control bit acts on an access
    (the text's and the TUI diff view's line)."""
    a, b = d.a.controls, d.b.controls
    if a == b:
        return f"(assuming {'; '.join(b)})" if b else None
    return f"(assuming before: {'; '.join(a) or '-'}; after: {'; '.join(b) or '-'})"


def _addr(outputs: Outputs) -> str:
    old, new = (None if v is None else hx(v) for v in outputs)
    if old == new or old is None or new is None:
        return old or new or "-"
    return f"{old}→{new}"


def lands(p: PermChange) -> str:
    """ " → gPA … → hPA …" for a range through both stages (an arrow inside where it moved),
    "" for one stage's range (the text's and the TUI diff view's words)."""
    if p.gpa == _NO_OUTPUTS:
        return ""
    return f" → gPA {_addr(p.gpa)} → hPA {_addr(p.hpa)}"


def diff_lines(d: StateDiff) -> list[str]:
    """The diff as plain lines (the terminal's and the TUI's diff view)."""
    if d.empty:
        return ["no differences"]
    lines: list[str] = []
    if d.entries:
        lines.append(
            f"page-table entries: {d.count('added')} added, {d.count('removed')} removed, "
            f"{d.count('changed')} changed"
        )
        for c in d.entries:
            e = c.where
            space = "gVA" if e.stage == 1 else "gPA"
            raws = " → ".join(hx(x.raw) for x in (c.before, c.after) if x is not None)
            if c.change == "changed":
                fields = " ".join(f"{n} {_value(o)}→{_value(n2)}" for n, o, n2 in c.fields)
            else:  # the values the entry has (or had), zeros left out
                fields = " ".join(
                    f"{n}={_value(o if n2 is None else n2)}"
                    for n, o, n2 in c.fields
                    if (o if n2 is None else n2)
                )
            lines.append(
                f"  {_SIGN[c.change]} stage {e.stage} {c.level_name} (depth {e.depth}) "
                f"for {space} {hx(e.input)}: {raws}" + (f"  [{fields}]" if fields else "")
            )
    for title, group in (
        ("permissions (the leaves' grants)", d.permissions),
        ("effective permissions (with the table entries' limits)", d.effective),
        ("through both stages (gVA → gPA → hPA: stage 1 / stage 2)", d.nested),
    ):
        if group:
            lines.append(f"{title}:")
            if group is not d.permissions and (note := assuming(d)):
                lines.append(f"  {note}")
            for p in group:
                space = "gVA" if p.stage == 1 else "gPA"
                lines.append(
                    f"  stage {p.stage} {space} {hx(p.start)}-{hx(p.end)}{lands(p)}: "
                    f"{p.before or 'unmapped'} → {p.after or 'unmapped'}"
                )
    for label, tlbs in (
        ("TLB entries became stale", d.tlb_stale),
        ("TLB entries added", d.tlb_added),
        ("TLB entries removed", d.tlb_removed),
    ):
        if tlbs:
            lines.append(f"{label}:")
            lines += [
                f"  {t.kind} {hx(t.base)} ({t.size >> 10} KiB) → gPA {hx(t.gpa)} hPA "
                f"{hx(t.hpa)} [{t.perms}]" + (" STALE" if t.stale else "")
                for t in tlbs
            ]
    frames = [
        ("host frames gained", d.host_gained),
        ("host frames lost", d.host_lost),
        ("guest page-table frames gained", d.guest_gained),
        ("guest page-table frames lost", d.guest_lost),
    ]
    if any(f for _, f in frames):
        lines.append("frames:")
        lines += [_frames(label, f) for label, f in frames if f]
    return lines
