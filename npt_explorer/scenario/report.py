"""Rich renderables for walks, entries, encodings and replays (used by the CLI and the TUI)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..engine import Decoded, Role, Walk, decode_syndrome, hx
from .colours import FAULT_STYLE, OK, RESERVED_SET_STYLE, ROLE_STYLE, STAGE_STYLE, STALE
from .replay import Replay
from .results import StepResult
from .trace_report import trace_block


def flag_string(dec: Decoded) -> Text:
    """The entry's set one-bit fields by name and its non-zero permission/attribute fields as
    NAME=value (reserved bits in red), e.g. ``R W X MEMTYPE=6`` or ``VALID S2AP=3 AF``."""
    text = Text()
    for fv in dec.fields:
        f = fv.field
        if not fv.value or f.role in (Role.IGNORED, Role.SOFTWARE, Role.ADDRESS):
            continue
        if f.width > 1 and f.role not in (Role.PERMISSION, Role.ATTRIBUTE, Role.RESERVED):
            continue
        if text:
            text.append(" ")
        label = f.name if f.width == 1 else f"{f.name}={fv.value:x}"
        text.append(label, RESERVED_SET_STYLE if fv.flagged else ROLE_STYLE[f.role])
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
        style = RESERVED_SET_STYLE if fv.flagged else ROLE_STYLE[fv.field.role]
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


def walk_lines(walk: Walk) -> Text:
    """Every memory reference of a walk, one fixed-width line each (fast for long replays);
    stage-2 sub-walks are indented and a rule follows each guest entry."""
    text = Text()
    level_w = max((len(s.level_name) for s in walk.steps), default=5) + 2
    table_w = max((len(hx(s.table, "-")) for s in walk.steps), default=5)
    text.append(
        f"{'#':>3} S  {'level':<{level_w}} {'table':<{table_w}}  {'idx':>4}  "
        f"{'raw':<18}  flags → outcome\n",
        "bold",
    )
    for n, step in enumerate(walk.steps, 1):
        style = STAGE_STYLE[step.stage]
        level = ("  " if step.stage == 2 and step.for_depth is not None else "") + step.level_name
        text.append(f"{n:>3} ")
        text.append(f"S{step.stage} {level:<{level_w}}", style)
        text.append(f" {hx(step.table, '-'):<{table_w}}  {step.index:>4}  {step.raw:#018x}  ")
        text.append_text(flag_string(step.decoded))
        out = step.outcome + ("" if step.written is None else f" (wrote {step.written:#x})")
        text.append(f" → {out}\n", FAULT_STYLE if step.outcome == "fault" else "")
        if step.stage == 1:
            text.append("    " + "─" * (level_w + table_w + 30) + "\n", "dim")
    text.rstrip()
    return text


def size_words(n: int | None) -> str:
    """A page or block size as people say it: 4 KiB, 2 MiB, 1 GiB (else hex bytes)."""
    if n is None:
        return "-"
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n:#x} bytes"


def kib_text(n: int) -> str:
    """A page size in a narrow column: whole KiB as `4K` / `2048K`, a smaller teaching page in
    bytes (`32B`)."""
    return f"{n >> 10}K" if n >= 1 << 10 else f"{n}B"


def tlb_words(walk: Walk, op: str | None) -> str:
    """What the TLB did for this walk: hit or miss; a `translate` never looks it up; an
    `access` without a lookup ran on a machine with `tlb = false`."""
    if walk.tlb is not None:
        return f"TLB {walk.tlb}"
    if op == "translate":
        return "TLB not looked up (translate)"
    return "TLB off (tlb = false)" if op == "access" else ""


def mem_words(walk: Walk) -> str:
    """` (N to memory)` when walk caches served some references, else nothing."""
    return f" ({walk.mem_refs} to memory)" if walk.mem_refs != walk.refs else ""


def walk_summary(walk: Walk, op: str | None = None) -> Text:
    """One line for a translation (or the fault: its line, its explanation, its syndrome).
    `op` is the command that made the walk (`access` or `translate`), for the TLB's part."""
    if walk.fault is None:
        text = Text.assemble(
            ("ok ", OK.style),
            f"gVA {walk.gva:#x} → gPA {hx(walk.gpa, '-')} → "
            f"hPA {hx(walk.hpa, '-')}  {size_words(walk.page_size)} page  refs {walk.refs}"
            f"{mem_words(walk)}  writes {walk.writes}  {tlb_words(walk, op)}".rstrip(),
        )
        if walk.stale:
            text.append("  STALE TLB ENTRY", STALE.style)
        return text
    return fault_summary(walk)


def fault_summary(walk: Walk) -> Text:
    """The fault in one line, its explanation, then the syndrome registers bit by bit."""
    f = walk.fault
    assert f is not None
    text = Text.assemble(
        ("fault ", FAULT_STYLE),
        f"stage {f.stage} {f.reason} at "
        f"{f.level_name or 'input'}"
        f"{' during ' + f.during if f.during else ''}  refs {walk.refs}\n",
        (f.explanation, "italic"),
    )
    for line in syndrome_lines(f.arch, f.syndrome):
        text.append("\n")
        text.append_text(line)
    return text


#: registers that hold a code, printed in decimal as the manuals' tables list them
_CODES = frozenset({"exit reason", "vector", "scause"})


def syndrome_lines(arch: str, syndrome: dict[str, int | None]) -> list[Text]:
    """Each syndrome register with its value and meaning, then its fields one per line."""
    lines = []
    for reg in decode_syndrome(arch, syndrome):
        value = str(reg.value) if reg.name in _CODES else f"{reg.value:#x}"
        line = Text.assemble((f"{reg.name} ", "bold"), (value, "bold"))
        if reg.meaning:
            line.append(f": {reg.meaning}")
        lines.append(line)
        labels = [f"{'bits' if ':' in fld.bits else 'bit'} {fld.bits}" for fld in reg.fields]
        width = max(map(len, labels), default=0)
        for label, fld in zip(labels, reg.fields, strict=True):
            shown = f"{fld.value:#x}" if fld.value > 9 else str(fld.value)
            lines.append(Text(f"  {label:<{width}}  {fld.name} = {shown}  {fld.meaning}", "dim"))
    return lines


def data_words(data: dict[str, Any]) -> str:
    """A step's result fields as words: lists joined (`flags=READ|WRITE`), nested tables as
    `key.sub=value`, nothing Python-shaped (no brackets, quotes or None)."""
    words = []
    for key, value in data.items():
        if isinstance(value, dict):
            words.append(data_words({f"{key}.{k}": v for k, v in value.items()}))
        elif isinstance(value, list | tuple):
            words.append(f"{key}={'|'.join(map(str, value)) or '(none)'}")
        elif value is None:
            words.append(f"{key}=-")
        elif isinstance(value, bool):
            words.append(f"{key}={'yes' if value else 'no'}")
        else:
            words.append(f"{key}={value}")
    return ", ".join(words)


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
            parts.append(walk_lines(r.walk))
        parts.append(walk_summary(r.walk, cmd.op))
    elif cmd.op == "trace" and "trace" in r.data:
        parts.append(trace_block(r.data["trace"]))
    elif r.data:
        parts.append(Text("    " + data_words(r.data), "dim"))
    if r.checked:
        parts.extend(verdict_lines(r))
    return Group(*parts)


def verdict_lines(r: StepResult) -> list[Text]:
    """✓ when a step's expectations hold, else one ✗ line per mismatch."""
    lines = [Text("    ✓ expectations hold", "green")] if r.passed else []
    for m in r.mismatches:
        lines.append(
            Text(f"    ✗ {m['key']}: expected {m['expected']!r}, got {m['actual']!r}", "bold red")
        )
    return lines


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
