"""profile --replay: a recorded pool is profiled, then routed by the service's own code path."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router_svc.assembly import Runtime, build_pipeline
from router_svc.cli.main import app
from router_svc.config.loader import load_pool
from router_svc.config.routers import DEFAULT_ROUTER
from router_svc.config.settings import Settings
from router_svc.errors import UnknownComponentError
from router_svc.replay.data import load_replay
from router_svc.routing.artifacts import ProfileArtifacts

pytestmark = pytest.mark.slow
SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "replay_small.jsonl"
EXPERT = """\
  - name: {name}
    engine: replay
    model: replay
    options: {{file: {file}}}
"""


@pytest.fixture
def recorded_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    experts = "".join(EXPERT.format(name=n, file=SMALL) for n in load_replay(SMALL).experts)
    path = tmp_path / "experts.yaml"
    path.write_text(f"k: 1\nexperts:\n{experts}", encoding="utf-8")
    monkeypatch.setenv("ROUTER_SVC_SKILLS_DIR", str(tmp_path / "skills"))
    monkeypatch.setenv("ROUTER_SVC_DATA_DIR", str(tmp_path / "data"))
    return path


async def test_profile_from_replay_then_route_like_the_service(recorded_pool: Path) -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["profile", "--replay", str(SMALL), "--config", str(recorded_pool)]
    )
    assert result.exit_code == 0, result.output
    data = load_replay(SMALL)
    validation = data.rows("validation").tolist()
    folder = Path(Settings().skills_dir) / "replay_small"
    artifacts = ProfileArtifacts.load(folder)
    assert set(artifacts.profiles) == set(data.experts)
    assert set(artifacts.question_text) == {data.questions[r].id for r in validation}
    assert artifacts.question_category == {
        data.questions[r].id: data.questions[r].category for r in validation
    }
    outputs = [json.loads(line) for line in (folder / "outputs.jsonl").read_text().splitlines()]
    assert len(outputs) == len(validation) * len(data.experts)
    first = outputs[0]
    row = validation[0]
    assert first["score"] == data.scores[row, data.experts.index(first["expert"])]
    for name, profile in artifacts.profiles.items():
        assert profile.correct == pytest.approx(
            data.scores[validation, data.experts.index(name)].sum()
        )

    question = data.questions[data.rows("test")[0]].question
    for router, code in (("symbolic-moe", 0), ("skil", 1)):
        arguments = ["route", question, "--suite", "replay_small", "--config", str(recorded_pool)]
        cli = await asyncio.to_thread(
            CliRunner().invoke, app, [*arguments, "--router", router, "--json"]
        )
        assert cli.exit_code == code, cli.output
    assert "Did you mean 'skill'" in cli.output
    runtime = Runtime.create(Settings(), load_pool(recorded_pool), use_cache=False)
    try:
        pipeline = build_pipeline(runtime, "replay_small")
        assert pipeline.routers.default_name == DEFAULT_ROUTER
        served = pipeline.routers.suite
        assert served.categories == [artifacts.question_category[q] for q in served.ids]
        assert list((Path(Settings().data_dir) / "knob-searches").glob("*.json"))
        test_rows = data.rows("test").tolist()[:12]
        questions = [data.questions[r] for r in test_rows]
        answered = await pipeline.answer(questions, pipeline.options())
        for row, done in zip(test_rows, answered, strict=True):
            (expert,) = done.assignment.chosen
            column = data.experts.index(expert)
            assert done.answers[0].text == data.responses[row][column]
            assert done.correct == (data.scores[row, column] >= 0.5)
        for name in ("symbolic-moe", "skill"):
            routed = await pipeline.route(questions, pipeline.options(router=name, k=2), {})
            assert all(1 <= len(a.chosen) <= 2 for a in routed)
        with pytest.raises(UnknownComponentError, match="Did you mean 'skill'"):
            pipeline.options(router="skil")
    finally:
        await runtime.close()
