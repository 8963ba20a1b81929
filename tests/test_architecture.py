"""The package's layers: imports only point down the pipeline, and no two modules import each
other in a circle. The contracts live in pyproject.toml ([tool.importlinter])."""

from __future__ import annotations

import ast
import logging
import re
import tomllib
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

from router_svc.backends.registry import engine_class
from router_svc.config import engines
from router_svc.config.registry import ENGINES

ROOT = Path(__file__).resolve().parents[1]


def test_imports_only_point_down_the_layers(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    loggers = logging.Logger.manager.loggerDict.values()
    enabled = [lg for lg in loggers if isinstance(lg, logging.Logger) and not lg.disabled]
    try:
        assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0
    finally:  # its command line disables every existing logger; later tests read theirs
        for logger in enabled:
            logger.disabled = False


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


def test_the_built_in_engines_carry_their_options_from_the_config_layer() -> None:
    assert ENGINES.names(builtin_only=True) == ["litellm", "llamacpp", "replay", "vllm"]
    for name in ENGINES.names(builtin_only=True):
        options = ENGINES.options(name)
        assert options is engine_class(name).Options
        assert getattr(engines, options.__name__) is options  # cheap to import for validation


def _layers() -> list[set[str]]:
    """pyproject.toml's layers, top first: each a set of sub-package names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = config["tool"]["importlinter"]["contracts"]
    return [{name.strip() for name in layer.split("|")} for layer in contract["layers"]]


def _layer_of(module: str, layers: list[set[str]]) -> int | None:
    """The index of the layer holding ``router_svc.<name>...`` (0: the top), if any."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "router_svc":
        return None
    return next((index for index, layer in enumerate(layers) if parts[1] in layer), None)


def _string_imports(package: Path, layers: list[set[str]]) -> list[str]:
    """Every string naming a module of a higher layer than the module it is written in."""
    named = re.compile(r"router_svc(?:\.\w+)+(?::\w+)?")
    found = []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        source = _layer_of(module, layers)
        if source is None:
            continue  # router_svc/__init__.py: the public surface, above every layer
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if named.fullmatch(node.value):
                target = _layer_of(node.value.split(":")[0], layers)
                if target is not None and target < source:
                    found.append(f"{module}:{node.lineno} names {node.value}")
    return found


def test_no_module_names_a_higher_layer_in_a_string() -> None:
    """A class loaded by its dotted name is an import no contract sees; the pluggable parts
    are entry points in pyproject.toml instead (router_svc/config/registry.py)."""
    assert _string_imports(ROOT / "router_svc", _layers()) == []


def test_the_string_finder_sees_an_upward_name(tmp_path: Path) -> None:
    backends = tmp_path / "router_svc" / "backends"
    backends.mkdir(parents=True)
    (backends / "registry.py").write_text(
        'DOWN = "router_svc.config.pool:ExpertConfig"\n'
        'UP = "router_svc.replay.engine:ReplayEngine"\n'
    )
    assert _string_imports(tmp_path / "router_svc", _layers()) == [
        "router_svc.backends.registry:2 names router_svc.replay.engine:ReplayEngine"
    ]
