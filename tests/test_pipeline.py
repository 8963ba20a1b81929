"""The pipeline end to end on real models: route, run grouped by expert, aggregate."""

from __future__ import annotations

from pathlib import Path

import pytest

from router_svc.assembly import Runtime, build_pipeline
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.pipeline import RouteOptions
from router_svc.types import Question

pytestmark = pytest.mark.slow

QUESTIONS = [
    Question("p1", "What is 6 + 7?", "13", "arithmetic"),
    Question(
        "p2",
        "What is the capital of Italy? The options are: (A) Rome (B) Madrid (C) Paris (D) Oslo",
        "A",
        "geography",
    ),
    Question("p3", "What does print(3 * 4) output?", "12", "python_code"),
]


def runtime_for(env: dict[str, str], root: Path, **pool_update: object) -> Runtime:
    pool = load_pool(root / "experts.yaml")
    if pool_update:
        pool = pool.model_copy(update=pool_update)
    settings = Settings(
        skills_dir=Path(env["ROUTER_SVC_SKILLS_DIR"]),
        suites_dir=Path(env["ROUTER_SVC_SUITES_DIR"]),
        data_dir=Path(env["ROUTER_SVC_DATA_DIR"]),
    )
    return Runtime.create(settings, pool, use_cache=False)


async def test_answers_with_one_load_per_expert(tiny_profile: dict[str, str], root: Path) -> None:
    runtime = runtime_for(tiny_profile, root)
    try:
        pipeline = build_pipeline(runtime, "tiny")
        results = await pipeline.answer(QUESTIONS, RouteOptions(k=2, tagger="embedding"))
    finally:
        await runtime.close()
    assert [r.question.id for r in results] == ["p1", "p2", "p3"]
    used = {e for r in results for e in r.assignment.chosen}
    aggregators = {
        r.aggregate.completion.expert for r in results if r.aggregate.method == "aggregator"
    }
    # One load per distinct expert, plus the aggregator when it is not already loaded.
    assert runtime.stats.loads == len(used | aggregators)
    for result in results:
        assert len(result.assignment.chosen) == 2
        assert len(set(result.assignment.chosen)) == 2
        assert result.assignment.tags
        assert all(
            a.completion is not None and a.completion.completion_tokens > 0 for a in result.answers
        )
        assert result.aggregate.method in {"aggregator", "unanimous", "majority"}
        assert result.correct in {True, False}
        assert {"tag", "route", "experts", "aggregate"} <= result.timings.keys()
        own = result.to_json()["timings"]
        assert own["experts"] > 0  # real generations, uncached
        assert own["batch"] == {k: round(v, 4) for k, v in result.timings.items()}


async def test_an_expert_failing_mid_run_leaves_the_rest(
    tiny_profile: dict[str, str], root: Path
) -> None:
    pool = load_pool(root / "experts.yaml")
    broken = [
        e.model_copy(update={"timeout_s": 0.01}) if e.name == "smol-math" else e
        for e in pool.experts
    ]
    runtime = runtime_for(tiny_profile, root, experts=broken)
    try:
        pipeline = build_pipeline(runtime, "tiny")
        (result,) = await pipeline.answer(QUESTIONS[:1], RouteOptions(k=4, tagger="embedding"))
    finally:
        await runtime.close()
    failed = [a for a in result.answers if a.error]
    assert [a.expert for a in failed] == ["smol-math"]
    assert failed[0].error is not None and failed[0].error.startswith("BackendTimeout")
    assert len([a for a in result.answers if a.completion]) == 3
    assert result.aggregate.method in {"aggregator", "unanimous", "majority"}


async def test_route_only_generates_nothing(tiny_profile: dict[str, str], root: Path) -> None:
    runtime = runtime_for(tiny_profile, root)
    try:
        pipeline = build_pipeline(runtime, "tiny")
        timings: dict[str, float] = {}
        (assignment,) = await pipeline.route(
            QUESTIONS[1:2], RouteOptions(k=3, tagger="keyword"), timings
        )
    finally:
        await runtime.close()
    assert runtime.stats.loads == 0
    assert len(assignment.chosen) == 3
    assert {s.expert for s in assignment.scores} == {
        "smol-math",
        "smol-facts",
        "smol-code",
        "gemma-fewshot",
    }
    # the two steps are timed one after the other, so neither bounds the other
    assert set(timings) == {"tag", "route"}
    assert timings["route"] > 0.0 and timings["tag"] >= 0.0
