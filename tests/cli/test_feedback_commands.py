"""`router-svc feedback import | export | drop` on the real Redis and on the SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router_svc.cli.main import app
from tests.support import drop_redis_prefix, redis_env

LINES = [
    {"id": "g1", "question": "What is 2+2?", "split": "test", "tags": ["math"],
     "outcomes": {"expert-a": {"score": 1.0, "cost": 0.001}, "expert-b": {"score": 0.0}}},
    {"id": "g2", "question": "Capital of France?", "split": "test",
     "outcomes": {"expert-b": {"score": 1.0}}},
]  # fmt: skip


@pytest.fixture(params=["sqlite", "redis"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    base = {"ROUTER_SVC_DATA_DIR": str(tmp_path / "data")}
    if request.param == "sqlite":
        yield base
        return
    redis = redis_env("feedback-cli")
    yield {**base, **redis}
    drop_redis_prefix(redis["ROUTER_SVC_REDIS_PREFIX"])


def _run(env: dict[str, str], *arguments: str) -> str:
    result = CliRunner().invoke(app, ["feedback", *arguments], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_import_then_export_round_trips(env: dict[str, str], tmp_path: Path) -> None:
    graded = tmp_path / "graded.jsonl"
    graded.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    assert "imported 2 graded answers (0 graded already)" in _run(
        env, "import", str(graded), "--suite", "s"
    )
    assert "imported 0 graded answers (2 graded already)" in _run(
        env, "import", str(graded), "--suite", "s"
    )
    out = tmp_path / "export.jsonl"
    _run(env, "export", "--suite", "s", "--out", str(out))
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in exported] == ["g1", "g2"]
    assert exported[0]["outcomes"] == LINES[0]["outcomes"]
    assert exported[0]["tags"] == ["math"]
    assert "dropped 2 graded answers of s" in _run(env, "drop", "--suite", "s")
    assert _run(env, "export", "--suite", "s") == ""


def test_a_bad_line_is_named(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(LINES[0]) + "\n" + json.dumps({"id": "x", "split": "test"}) + "\n")
    result = CliRunner().invoke(app, ["feedback", "import", str(bad), "--suite", "s"], env=env)
    assert result.exit_code == 1
    assert "bad.jsonl:2" in result.output
