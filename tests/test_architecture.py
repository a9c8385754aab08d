"""The dependency rule of ARCHITECTURE.md holds (import-linter contracts in pyproject.toml), and
no package imports itself in a circle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.split("Contracts:")[-1] or " 0 broken" in result.stdout


@pytest.mark.parametrize("package", ["deploykit_http"])
def test_no_import_cycle_within_the_package(package: str) -> None:
    """Counting imports under ``TYPE_CHECKING`` too: a cycle hidden there is still a cycle."""
    graph = grimp.build_graph(package, cache_dir=None)
    cycles = sorted(
        f"{importer} -> {imported}"
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(importer=imported, imported=importer)
    )
    assert cycles == []
