"""The house's own rules (shared/ARCHITECTURE.md, REDESIGN.md §6), read from the source."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from _imports import PACKAGE, absolute, cycles, graph, imports, modules


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_outside_the_engine_imports_an_engine_module_directly():
    # the façade: npt_explorer.engine exports what the layers above use
    offenders = [
        f"{imp.source}:{imp.line} imports {imp.target}"
        for imp in imports()
        if imp.target.startswith("npt_explorer.engine.")
        and not imp.source.startswith("npt_explorer.engine")
    ]
    assert offenders == []


def test_no_module_imports_another_modules_private_names():
    offenders = [
        f"{imp.source}:{imp.line} takes {name} from {imp.target}"
        for imp in imports()
        for name in imp.names
        if _private(name) and imp.target != imp.source
    ]
    assert offenders == []


def _module_aliases(name: str, path: Path, tree: ast.Module) -> set[str]:
    """Local names bound to one of the package's modules (`from . import bulk`, `import x`)."""
    known, out = modules(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.asname or a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = absolute(name, path.name == "__init__.py", node)
            out |= {a.asname or a.name for a in node.names if f"{base}.{a.name}" in known}
    return out


def test_no_module_reads_a_private_name_through_an_imported_module():
    offenders = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        aliases = _module_aliases(name, path, tree)
        offenders += [
            f"{name}:{node.lineno} reads {node.value.id}.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _private(node.attr)
        ]
    assert offenders == []


def test_engine_and_scenario_load_neither_rich_nor_textual():
    code = (
        "import sys, npt_explorer.engine, npt_explorer.scenario.loader, "
        "npt_explorer.scenario.runner, npt_explorer.scenario.expect, "
        "npt_explorer.scenario.session; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'textual'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=PACKAGE.parent,
    )  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_there_are_no_import_cycles_among_the_packages_modules():
    # every import counts: top level, under `if TYPE_CHECKING`, inside a function
    assert cycles(graph()) == []


def test_the_cycle_finder_reports_a_three_module_cycle_and_not_what_merely_points_into_it():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_no_function_in_the_engine_is_over_60_lines():
    # a newcomer reads each engine function on one screen (issue 12, "Must show")
    long = []
    for name, path in modules().items():
        if not name.startswith("npt_explorer.engine"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > 60:
                    long.append(f"{name}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []
