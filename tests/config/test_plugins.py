"""Plugins: a package that registers a routing method under ``router_svc.routers`` is found,
validated and routes like a built-in one. The plugin is docs/plugins.md's own example, built
and installed by pip into a folder on sys.path (a real dist-info with real entry points)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from router_svc.assembly import build_pipeline
from router_svc.config.registry import ROUTERS
from router_svc.config.routers import router_options
from router_svc.errors import UnknownComponentError
from tests.support import ROOT, ReplaySuite

pytestmark = pytest.mark.slow  # pip builds and installs a wheel (~5 s)

DOC = ROOT / "docs" / "plugins.md"


def _block(language: str) -> str:
    """docs/plugins.md's first ```language block."""
    match = re.search(rf"^```{language}\n(.*?)^```", DOC.read_text(), re.MULTILINE | re.DOTALL)
    assert match is not None, f"docs/plugins.md has no {language} block"
    return match.group(1)


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """docs/plugins.md's package, installed with pip into a folder put on sys.path."""
    source = tmp_path_factory.mktemp("plugin-source")
    (source / "cheapest_router").mkdir()
    (source / "cheapest_router" / "__init__.py").write_text(_block("python"))
    (source / "pyproject.toml").write_text(
        _block("toml").replace('dependencies = ["router-svc"]', "dependencies = []")
    )
    assert "cheapest" not in ROUTERS
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    sys.path.insert(0, str(target))
    ROUTERS.refresh()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m.startswith("cheapest_router")]:
            del sys.modules[name]
        ROUTERS.refresh()


def test_the_installed_method_is_registered_with_its_options(installed_plugin: Path) -> None:
    assert ROUTERS.names()[-1] == "cheapest"  # after router-svc's own
    entry = ROUTERS.entry("cheapest")
    assert (entry.target, entry.distribution, entry.builtin) == (
        "cheapest_router:CheapestRouter",
        "cheapest-router",
        False,
    )
    assert router_options("cheapest", {"dearest": True}).model_dump() == {"dearest": True}
    with pytest.raises(ValueError, match=r"'dearst'.*Did you mean 'dearest'"):
        router_options("cheapest", {"dearst": True})
    with pytest.raises(UnknownComponentError, match="Did you mean 'cheapest'"):
        ROUTERS.check("cheapst")


async def test_the_pipeline_routes_with_the_installed_method(
    installed_plugin: Path, replay_suite: ReplaySuite
) -> None:
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        suite = pipeline.routers.suite
        cheapest = suite.experts[int(suite.expected_cost.argmin())]
        dearest = suite.experts[int(suite.expected_cost.argmax())]
        questions = replay_suite.questions()[:6]
        results = await pipeline.answer(questions, pipeline.options(router="cheapest", k=1))
    finally:
        await runtime.close()
    assert cheapest != dearest
    assert [r.assignment.router for r in results] == ["cheapest"] * len(questions)
    assert [r.assignment.chosen for r in results] == [[cheapest]] * len(questions)
    assert all(r.aggregate.answer is not None for r in results)
