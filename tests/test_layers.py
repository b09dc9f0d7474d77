"""The layering of src/pgwarden, enforced: which package may import which, and how long a module may be.

Dependencies point one way, from the command line down to the core records:

    cli, demo, __main__  ->  pipeline  ->  report  ->  (risk, tools, audit, stores, snapshots)
                         ->  (pg, config)  ->  core

Every import counts: at module level, inside functions, under ``TYPE_CHECKING``. A lazy import
is still a dependency (and hiding a cycle in one is how the layering drifted before).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "pgwarden"

#: The core: plain records and helpers every layer shares. Top-level modules of ``pgwarden``.
CORE_MODULES = frozenset({
    "__init__", "errors", "durations", "units", "redact", "records", "names", "manifest", "guards", "children",
    "rehearsal", "pg_messages", "gcpause",
})

#: Layer -> the other layers it may import (a layer may always import itself).
#: A module's layer is its first name under ``pgwarden`` (``pgwarden.pg.dump`` -> ``pg``),
#: or ``core`` for the modules in CORE_MODULES.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core":      frozenset(),
    "config":    frozenset({"core"}),
    "pg":        frozenset({"core"}),
    "risk":      frozenset({"core", "config"}),
    "tools":     frozenset({"core", "config", "pg"}),
    "audit":     frozenset({"core", "pg"}),
    "stores":    frozenset({"core", "config"}),
    "snapshots": frozenset({"core", "config"}),
    "report":    frozenset({"core", "config", "risk"}),
    "pipeline":  frozenset({"core", "config", "pg", "risk", "tools", "audit", "stores",
                            "snapshots", "report"}),
    "cli":       frozenset({"core", "config", "pg", "risk", "tools", "audit", "stores",
                            "snapshots", "report", "pipeline", "demo"}),
    "demo":      frozenset({"core", "config", "pg", "risk", "tools", "audit", "stores",
                            "snapshots", "report", "pipeline", "cli"}),
    "__main__":  frozenset({"core", "config", "pg", "risk", "tools", "audit", "stores",
                            "snapshots", "report", "pipeline", "cli", "demo"}),
}

#: No module in src/ longer than this: past it a module holds more than one job.
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer of ``pgwarden.x.y``, or None for a name outside the table."""
    parts = module.split(".")
    if parts[0] != "pgwarden":
        return None
    first = parts[1] if len(parts) > 1 else "__init__"
    if first in CORE_MODULES:
        return "core"
    return first if first in MAY_IMPORT else None


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every ``pgwarden`` module ``path`` imports, wherever in the file the import stands."""
    return imports_in(path.read_text(), module_name(path), is_package=path.name == "__init__.py")


def imports_in(source: str, module: str, *, is_package: bool) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative: count up from the package this module is in.
                package = module.split(".") if is_package else module.split(".")[:-1]
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            # ``from pgwarden import records`` imports the module pgwarden.records.
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if _is_module(candidate):
                    found.add(candidate)
    return {name for name in found if name == "pgwarden" or name.startswith("pgwarden.")}


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split("."))
    return (SRC / relative).with_suffix(".py").is_file() or (SRC / relative / "__init__.py").is_file()


def test_every_module_has_a_layer() -> None:
    unmapped = [module_name(p) for p in source_files() if layer_of(module_name(p)) is None]
    assert not unmapped, (
        "modules outside the layer table (add them to CORE_MODULES or MAY_IMPORT in "
        "tests/test_layers.py, and to ARCHITECTURE.md):\n  " + "\n  ".join(unmapped)
    )


def test_imports_point_down_the_layers() -> None:
    forbidden: list[str] = []
    for path in source_files():
        importer = module_name(path)
        importer_layer = layer_of(importer)
        if importer_layer is None:
            continue  # reported by test_every_module_has_a_layer
        for imported in sorted(imported_modules(path)):
            imported_layer = layer_of(imported)
            if imported_layer is None or imported_layer == importer_layer:
                continue
            if imported_layer not in MAY_IMPORT[importer_layer]:
                forbidden.append(
                    f"{importer} imports {imported} "
                    f"(layer {importer_layer} may not depend on layer {imported_layer})"
                )
    assert not forbidden, "imports against the layering:\n  " + "\n  ".join(forbidden)


def test_no_module_is_too_long() -> None:
    too_long = []
    for path in source_files():
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            too_long.append(f"{path.relative_to(SRC)}: {lines} lines")
    assert not too_long, f"modules over {MAX_LINES} lines (split by job):\n  " + "\n  ".join(too_long)


def test_the_checker_sees_every_kind_of_import() -> None:
    """The parser itself: function-level, TYPE_CHECKING and relative imports all count."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import pgwarden.pg.dump\n"
        "from .. import records\n"
        "from . import text\n"
        "if TYPE_CHECKING:\n"
        "    from pgwarden.pipeline.plan import plan_migrations\n"
        "def f():\n"
        "    from ..audit import new_run_id\n"
    )
    found = imports_in(source, "pgwarden.report.markdown", is_package=False)
    assert found == {"pgwarden.pg.dump", "pgwarden", "pgwarden.records", "pgwarden.report",
                     "pgwarden.report.text", "pgwarden.pipeline.plan", "pgwarden.audit"}
