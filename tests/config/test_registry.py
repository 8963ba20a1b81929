"""The registry of pluggable parts over real entry points: router-svc's own, and a package's
written here as a dist-info folder on sys.path (what pip leaves in site-packages)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from router_svc.config.registry import ENGINES, Registry
from router_svc.errors import ConfigError, UnknownComponentError


def _dist(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_router_svc_registers_its_own_parts() -> None:
    entry = ENGINES.entry("replay")
    assert (entry.target, entry.builtin) == ("router_svc.replay.engine:ReplayEngine", True)
    assert ENGINES.options("replay").__name__ == "ReplayOptions"
    with pytest.raises(UnknownComponentError, match="Did you mean 'vllm'"):
        ENGINES.check("vlm")


def test_a_plugin_cannot_take_a_built_in_name_and_a_broken_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _dist(
        tmp_path,
        "shadow-router",
        "[router_svc.routers]\nskill = shadow:Router\nbroken = no_such_module:Router\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    routers = Registry("router", "router_svc.routers")
    with caplog.at_level(logging.WARNING):
        assert routers.entry("skill").target == "router_svc.routing.skill:SkillRouter"
    assert "'skill' is registered twice" in caplog.text
    assert "shadow:Router from shadow-router is not" in caplog.text
    assert routers.names()[-1] == "broken"
    with pytest.raises(ConfigError, match=r"'broken' \(no_such_module:Router, registered by "):
        routers.load("broken")


def test_a_group_without_router_svc_s_own_parts_says_to_reinstall() -> None:
    """What a checkout whose installed metadata predates its entry points sees."""
    stale = Registry("engine", "router_svc.no_such_group")
    with pytest.raises(ConfigError, match=r"reinstall it \(from a checkout: pip install -e \.\)"):
        stale.check("llamacpp")
    assert "not registered either" in stale.unknown("llamacpp")
