"""The data flows one way: data -> protocol -> evaluation -> methods -> running -> report ->
api -> cli. Every import (module level or inside a function) is parsed; an import of a
higher stage, or any cycle between modules, fails with the offending chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.running.identity import imported_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "methods")

# Lowest first. A module may import modules of its own stage or of a lower one.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("bench", "bench.errors", "bench.memory", "bench.files")),
    ("data", ("bench.data",)),
    ("protocol", ("bench.protocol",)),
    ("evaluation", ("bench.evaluation",)),
    ("methods", ("methods",)),
    ("running", ("bench.running",)),
    ("report", ("bench.report",)),
    ("api", ("bench.api",)),
    ("cli", ("bench.cli", "bench.__main__")),
]


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (functions included)."""
    return {t for t in imported_names(name, path, modules.__contains__) if t in modules} - {name}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = module_files(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def stage_of(module: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"module {module} belongs to no stage: add it to STAGES")
    return best


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} ({STAGES[stage_of(a)][0]}) imports {b} ({STAGES[stage_of(b)][0]})"
        for a, targets in graph.items()
        for b in targets
        if stage_of(b) > stage_of(a)
    )


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a chain ``a -> b -> ... -> a``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_a_higher_stage():
    assert upward_imports(import_graph()) == []


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_checks_catch_a_planted_upward_import_and_cycle(tmp_path):
    root = _plant(
        tmp_path,
        {
            "bench/__init__.py": "",
            "bench/report/__init__.py": "",
            "bench/report/tables.py": "def f():\n    from bench.cli import main\n",
            "bench/cli/__init__.py": "",
            "bench/cli/main.py": "from bench.report.tables import f\n",
            "methods/__init__.py": "",
            "methods/a.py": "from methods import b\n",
            "methods/b.py": "import methods.a\n",
        },
    )
    graph = import_graph(root)
    assert upward_imports(graph) == [
        "bench.report.tables (report) imports bench.cli.main (cli)",
    ]
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert set(cycle) in ({"methods.a", "methods.b"}, {"bench.report.tables", "bench.cli.main"})


@pytest.mark.parametrize("code", ["import bench", "import bench.cli.main"])
def test_importing_the_harness_loads_neither_torch_nor_matplotlib(code):
    probe = f"{code}; import sys; print(sorted({{'torch', 'matplotlib'}} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_bench_help_loads_neither_torch_nor_matplotlib():
    probe = (
        "import sys, runpy, contextlib, io\n"
        "sys.argv = ['bench', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    runpy.run_module('bench', run_name='__main__')\n"
        "print(sorted({'torch', 'matplotlib'} & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
