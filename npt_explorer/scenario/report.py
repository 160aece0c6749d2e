"""Rich renderables for walks, entries, encodings and replays (used by the CLI and the TUI)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..engine.formats import Decoded, Role
from ..engine.walk import Walk
from .replay import Replay
from .runner import StepResult

#: field role → style, so permission/address/reserved bits read the same everywhere
ROLE_STYLE = {
    Role.VALID: "bold green",
    Role.PERMISSION: "bold cyan",
    Role.ADDRESS: "yellow",
    Role.ATTRIBUTE: "magenta",
    Role.STATUS: "blue",
    Role.TYPE: "bold",
    Role.SOFTWARE: "dim",
    Role.IGNORED: "dim",
    Role.RESERVED: "dim",
}
STAGE_STYLE = {1: "cyan", 2: "magenta"}


def hx(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


def flag_string(dec: Decoded) -> Text:
    """The entry's set one-bit fields by name (reserved ones in red), e.g. ``R W X A``."""
    text = Text()
    for fv in dec.fields:
        f = fv.field
        if f.width != 1 or not fv.value or f.role in (Role.IGNORED, Role.SOFTWARE, Role.ADDRESS):
            continue
        if text:
            text.append(" ")
        text.append(f.name, "bold red" if fv.flagged else ROLE_STYLE[f.role])
    return text


def entry_table(dec: Decoded, title: str | None = None) -> Table:
    """The bit ruler: every field with bits, value and meaning; reserved bits set in red."""
    table = Table(
        title=title
        or f"{dec.format} {dec.level_name} (depth {dec.depth}) raw {dec.raw:#018x} — {dec.kind}",
        box=box.SIMPLE_HEAD,
        expand=False,
    )
    table.add_column("bits", justify="right", no_wrap=True)
    table.add_column("field", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("meaning")
    for fv in reversed(dec.fields):
        if fv.field.role is Role.IGNORED and not fv.value:
            continue
        style = "bold red" if fv.flagged else ROLE_STYLE[fv.field.role]
        value = f"{fv.value:#x}" if fv.field.width > 4 else str(fv.value)
        table.add_row(fv.field.bits, Text(fv.field.name, style), value, fv.meaning)
    return table


def decoded_block(dec: Decoded) -> RenderableType:
    parts: list[RenderableType] = [entry_table(dec)]
    flags = (
        "panics (the seed cannot read this entry back)"
        if dec.mapping_flags is None
        else (dec.mapping_flags.short())
    )
    summary = Text.assemble(
        ("seed read-back: ", "bold"), flags, ("   hardware: ", "bold"), dec.hw_flags.short()
    )
    if dec.paddr is not None:
        summary.append(f"   → {dec.paddr:#x}")
    parts.append(summary)
    for problem in dec.problems:
        parts.append(Text(f"  ⚠ {problem}", "yellow"))
    return Group(*parts)


def walk_table(walk: Walk) -> Table:
    """Every memory reference of a walk, stage-2 sub-walks indented under their guest level."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for col, kw in (
        ("#", {"justify": "right"}),
        ("S", {}),
        ("level", {}),
        ("table", {}),
        ("idx", {"justify": "right"}),
        ("raw", {"min_width": 18}),
        ("flags", {}),
        ("outcome", {}),
    ):
        table.add_column(col, no_wrap=True, **kw)
    for n, step in enumerate(walk.steps, 1):
        style = STAGE_STYLE[step.stage]
        level = ("  " if step.stage == 2 and step.for_depth is not None else "") + step.level_name
        out = step.outcome
        if step.written is not None:
            out += f" (wrote {step.written:#x})"
        table.add_row(
            str(n),
            Text(f"S{step.stage}", style),
            Text(level, style),
            hx(step.table),
            str(step.index),
            f"{step.raw:#018x}",
            flag_string(step.decoded),
            Text(out, "bold red" if step.outcome == "fault" else ""),
            end_section=step.stage == 1,
        )
    return table


def walk_summary(walk: Walk) -> Text:
    if walk.fault is None:
        text = Text.assemble(
            ("ok ", "bold green"),
            f"gVA {walk.gva:#x} → gPA {hx(walk.gpa)} → "
            f"hPA {hx(walk.hpa)}  page {hx(walk.page_size)}  refs {walk.refs}  "
            f"writes {walk.writes}  TLB {walk.tlb or 'off'}",
        )
        if walk.stale:
            text.append("  STALE TLB ENTRY", "bold yellow")
        return text
    f = walk.fault
    return Text.assemble(
        ("fault ", "bold red"),
        f"stage {f.stage} {f.reason} at "
        f"{f.level_name or 'input'}"
        f"{' during ' + f.during if f.during else ''}  refs {walk.refs}\n",
        (f.explanation, "italic"),
        "\n",
        "syndrome: " + ", ".join(f"{k}={_num(v)}" for k, v in f.syndrome.items()),
    )


def _num(v: Any) -> str:
    return f"{v:#x}" if isinstance(v, int) and not isinstance(v, bool) and v > 9 else str(v)


def step_block(r: StepResult) -> RenderableType:
    cmd = r.command
    head = Text(f"[{r.index}] ", "bold")
    if cmd.op == "note":
        return Text.assemble(head, (cmd.args["text"], "italic"))
    head.append(cmd.to_line())
    parts: list[RenderableType] = [head]
    if r.error is not None:
        parts.append(Text(f"    error {r.error.kind}: {r.error.message}", "red"))
    if r.walk is not None and r.error is None:
        if r.walk.steps:
            parts.append(walk_table(r.walk))
        parts.append(walk_summary(r.walk))
    elif r.data:
        parts.append(Text("    " + ", ".join(f"{k}={v}" for k, v in r.data.items()), "dim"))
    if r.checked:
        if r.passed:
            parts.append(Text("    ✓ expectations hold", "green"))
        for m in r.mismatches:
            parts.append(
                Text(
                    f"    ✗ {m['key']}: expected {m['expected']!r}, got {m['actual']!r}", "bold red"
                )
            )
    return Group(*parts)


def replay_block(replay: Replay) -> RenderableType:
    s = replay.scenario
    verdict = Text("PASSED", "bold green") if replay.passed else Text("FAILED", "bold red")
    head = Text.assemble(
        (s.title, "bold underline"),
        f"  ({s.path}, {s.arch}, "
        f"{s.config.guest} × {s.config.npt}, encoding {s.config.encoding})  ",
        verdict,
    )
    return Group(
        head, Text(s.summary, "italic"), *(step_block(r) for r in replay.results), Text("")
    )
