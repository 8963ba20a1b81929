"""The package's layers: imports only point down the pipeline, and no two modules import each
other in a circle. The contracts live in pyproject.toml ([tool.importlinter])."""

from __future__ import annotations

from pathlib import Path

import grimp
from importlinter.cli import lint_imports

from router_svc.backends.registry import ENGINES
from router_svc.config.engines import ENGINE_OPTIONS

ROOT = Path(__file__).resolve().parents[1]


def test_imports_only_point_down_the_layers(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


def _cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """One import circle among the package's modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph.modules):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_module_imports_itself_through_a_circle() -> None:
    graph = grimp.build_graph("router_svc", cache_dir=None)
    assert _cycle(graph) is None


def test_the_cycle_finder_sees_a_circle(tmp_path, monkeypatch) -> None:
    package = tmp_path / "circular_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circular_pkg import b\n")
    (package / "b.py").write_text("from circular_pkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("circular_pkg", cache_dir=None)
    assert _cycle(graph) in (
        ["circular_pkg.a", "circular_pkg.b", "circular_pkg.a"],
        ["circular_pkg.b", "circular_pkg.a", "circular_pkg.b"],
    )


def test_the_registry_and_the_config_name_the_same_engines() -> None:
    assert list(ENGINES) == list(ENGINE_OPTIONS)
