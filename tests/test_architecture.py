"""The shape of the code a newcomer can rely on (docs/architecture.md): the library's packages
stand in layers with no import running up, the library knows nothing of Prefect, flows/
holds flows, and no function or module grows past what a reader can hold."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from radon.complexity import cc_rank, cc_visit

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["lib", "cli", "flows", "tasks", "demo", "local_prefect"]
MAX_LINES = 500


def lint_imports(lib: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the package under ``lib`` with the contracts of ``config``."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())",
            "--config",
            str(config),
            "--no-cache",
        ],
        cwd=config.parent,
        env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_packages_stand_in_layers_and_the_library_knows_nothing_of_prefect() -> None:
    result = lint_imports(ROOT / "lib", ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_import_running_up_the_layers_breaks_the_contract(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "lib" / "market_maker", lib / "market_maker")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    timeutil = lib / "market_maker" / "base" / "timeutil.py"
    timeutil.write_text(timeutil.read_text() + "\nfrom market_maker.pipeline import steps\n")

    result = lint_imports(lib, tmp_path / "pyproject.toml")

    assert result.returncode == 1
    assert "The library's packages stand in layers BROKEN" in result.stdout
    assert "market_maker.base.timeutil -> market_maker.pipeline.steps" in result.stdout


def python_files() -> list[Path]:
    return sorted(p for source in SOURCES for p in (ROOT / source).rglob("*.py"))


def test_no_function_is_above_complexity_grade_c() -> None:
    too_complex = []
    for path in python_files():
        for block in cc_visit(path.read_text()):
            for f in [*getattr(block, "methods", []), block]:
                if not hasattr(f, "methods") and cc_rank(f.complexity) > "C":
                    where = path.relative_to(ROOT)
                    too_complex.append(f"{where}:{f.lineno} {f.name} {cc_rank(f.complexity)}")
    assert too_complex == []


@pytest.mark.parametrize("source", [*SOURCES, "tests", "benchmarks"])
def test_no_module_is_over_500_lines(source: str) -> None:
    long = [
        f"{p.relative_to(ROOT)} {n}"
        for p in sorted((ROOT / source).rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    ]
    assert long == []


def test_every_public_module_under_flows_defines_a_flow() -> None:
    without = []
    for path in sorted((ROOT / "flows").glob("*.py")):
        if path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text())
        decorated = [
            d
            for node in tree.body
            if isinstance(node, ast.FunctionDef)
            for d in node.decorator_list
            if (isinstance(d, ast.Call) and getattr(d.func, "id", "") == "flow")
            or getattr(d, "id", "") == "flow"
        ]
        if not decorated:
            without.append(path.name)
    assert without == []
