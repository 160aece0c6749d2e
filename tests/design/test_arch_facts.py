"""Per-architecture facts live on the architecture's spec object (`ArchSpec` in config.py,
per-arch rows in the formats), never as `arch == "x86_64"` branches in the machine, the
walker, the TLB or any other generic engine module (issue 12 Build 4, REDESIGN P4)."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "npt_explorer" / "engine"

#: where an architecture may be named in a comparison: the spec table itself, and the
#: formats (one family per group of files)
ALLOWED = ("config.py", "formats/")


def _names_arch(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "arch") or (
        isinstance(node, ast.Attribute) and node.attr == "arch"
    )


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_literal(e) for e in node.elts)
    return False


def arch_literal_comparisons(source: str) -> list[int]:
    """The lines where an `arch` value is compared against a string literal (==, !=, in)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(map(_names_arch, operands)) and any(map(_is_literal, operands)):
                lines.append(node.lineno)
    return lines


def test_no_generic_engine_module_compares_an_arch_against_a_name():
    offenders = [
        f"{path.relative_to(ENGINE)}:{line}"
        for path in sorted(ENGINE.rglob("*.py"))
        if not str(path.relative_to(ENGINE).as_posix()).startswith(ALLOWED)
        for line in arch_literal_comparisons(path.read_text())
    ]
    assert offenders == [], "put the fact on ArchSpec (config.py) instead: " + ", ".join(offenders)


def test_the_check_finds_each_spelling_and_not_a_comparison_of_two_arches():
    source = """
if cfg.arch == "x86_64": pass
if "riscv64" != self.arch: pass
if arch in ("aarch64", "riscv64"): pass
if control.arch != self.arch: pass
if fmt.name == "npt": pass
"""
    assert arch_literal_comparisons(source) == [2, 3, 4]
