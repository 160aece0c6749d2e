"""A trace's cost as Rich text: the numbers, memory references per access over time (a
sparkline), the references each walk cache served and a histogram of memory references per
walk. Shared by `npt-explorer trace`, `replay` and the TUI log (the last trace's cost view)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

BARS = " ▁▂▃▄▅▆▇█"
SIZE_NAMES = {0x1000: "4K", 0x20_0000: "2M", 0x4000_0000: "1G"}


def sparkline(values: list[float], width: int = 60) -> str:
    """`values` squeezed into `width` columns (the mean of each), one block character each."""
    if not values:
        return ""
    step = max(1, -(-len(values) // width))
    means = [
        sum(values[i : i + step]) / len(values[i : i + step]) for i in range(0, len(values), step)
    ]
    top = max(means) or 1.0
    return "".join(BARS[min(8, round(8 * v / top))] for v in means)


def trace_block(doc: dict[str, Any], indent: int = 4) -> RenderableType:
    """The `trace` JSON document (`TraceStats.to_json`) as a cost view."""
    pad = " " * indent
    accesses = doc["accesses"] or 1
    sizes = ", ".join(
        f"{SIZE_NAMES.get(int(k, 16), k)} {v / accesses:.1%}" for k, v in doc["page_sizes"].items()
    )
    lines: list[RenderableType] = [
        Text.assemble(
            pad,
            (f"TLB hit rate {doc['hit_rate']:.4%}", "bold"),
            f"  {doc['walks']:,} walks of {doc['accesses']:,} accesses  pages {sizes}",
        ),
        Text.assemble(
            pad,
            "references per walk ",
            (f"{doc['refs_per_walk']:.2f}", "bold"),
            ", to memory ",
            (f"{doc['mem_refs_per_walk']:.2f}", "bold green"),
            f"   per access {doc['refs_per_access']:.4f}, "
            f"to memory {doc['mem_refs_per_access']:.4f}",
        ),
    ]
    series = doc.get("mem_refs_per_access_series") or []
    if len(series) > 1:
        lines.append(
            Text.assemble(
                pad,
                (f"memory refs / access over time (max {max(series):.4f}) ", "dim"),
                (sparkline(series), "cyan"),
            )
        )
    if doc.get("served"):
        served = ", ".join(f"{name} {count:,}" for name, count in doc["served"].items())
        lines.append(Text(f"{pad}served by walk caches: {served}", "grey50"))
    hist = doc.get("mem_refs_per_walk_histogram") or []
    if any(hist):
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right")
        table.add_column(justify="right")
        table.add_column()
        top = max(hist)
        last = len(hist) - 1
        for refs, walks in enumerate(hist):
            if walks:
                label = f"{refs}+" if refs == last else str(refs)
                table.add_row(
                    f"{pad}{label} refs", f"{walks:,}", "█" * max(1, round(30 * walks / top))
                )
        lines.append(Text(f"{pad}walks by memory references:", "dim"))
        lines.append(table)
    return Group(*lines)
