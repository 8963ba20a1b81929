"""`router-svc serve` checks its inputs before uvicorn starts, and serves what --suite names."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from router_svc.cli.main import app

ServerStarter = Callable[..., AbstractContextManager[str]]


def output(args: list[str]) -> str:
    """The command's output with rich's line wrapping undone; asserts it exited 1."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    return " ".join(result.output.split())


def test_unprofiled_suite_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_SVC_SKILLS_DIR", str(tmp_path))
    text = output(["serve", "--suite", "nope", "--port", "1"])
    assert "suite 'nope' has no profile" in text
    assert "router-svc profile --suite nope" in text


def test_bad_pool_file_is_refused(tmp_path: Path) -> None:
    assert "no such file" in output(["serve", "--config", str(tmp_path / "missing.yaml")])


@pytest.mark.slow
def test_suite_option_picks_the_served_suites(
    tiny_profile_env: dict[str, str], server_factory: ServerStarter
) -> None:
    with server_factory(tiny_profile_env, args=("--suite", "tiny")) as base_url:
        models = httpx.get(f"{base_url}/v1/models").json()["data"]
    ids = [model["id"] for model in models]
    assert ids[:2] == ["router-svc", "router-svc:tiny"]
    assert models[0]["router"]["suite"] == "tiny"
