"""The pipeline end to end on real models: route, run grouped by expert, aggregate."""

from __future__ import annotations

from pathlib import Path

import pytest

from router_svc.aggregation.aggregator import Aggregate, ExpertAnswer, strip_reasoning
from router_svc.assembly import Runtime, build_pipeline
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.pipeline import Pipeline, RouteOptions
from router_svc.questions.grading import AnswerKind, extract_answer, question_kind
from router_svc.routing.recruiter import Assignment
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


def escalating_team(pipeline: Pipeline) -> tuple[list[str], str]:
    """A pair and a third expert of the pool, none of them the aggregator (so a load of the
    aggregator would show that it ran)."""
    judge = pipeline.aggregator.expert
    first, second, third = [e for e in pipeline.recruiter.matrix.experts if e != judge][:3]
    return [first, second], third


async def escalate(
    pipeline: Pipeline, questions: list[Question]
) -> tuple[list[str], str, dict[str, list[ExpertAnswer]], dict[str, Aggregate]]:
    pair, third = escalating_team(pipeline)
    teams = [Assignment(q.id, [], [], [], pair, False, escalate_to=third) for q in questions]
    answers = await pipeline.run_experts(questions, teams, {})
    finals = await pipeline.aggregate(questions, answers, assignments=teams)
    return pair, third, answers, finals


def check_escalated(final: Aggregate, third: str, kind: AnswerKind) -> None:
    """The third expert ran alone and its answer is final (or, stating none, the pair's vote
    decided and the reason says so); the aggregator did not run."""
    assert final.completion is not None and final.completion.expert == third
    assert final.completion.completion_tokens > 0  # a real generation, counted in the tokens
    own = extract_answer(strip_reasoning(final.completion.text), kind)
    if own is not None:
        assert (final.method, final.answer) == ("escalated", own)
        assert final.reason.endswith(f"; {third} answered")
    else:
        assert final.method in {"majority", "single", "none"}
        silent = (f"{third}'s output states no answer", f"{third} was cut at its token limit")
        assert any(why in final.reason for why in silent), final.reason


async def test_an_escalating_pair_asks_its_third_expert_only_where_it_disagrees(
    tiny_profile: dict[str, str], root: Path
) -> None:
    runtime = runtime_for(tiny_profile, root)
    try:
        pipeline = build_pipeline(runtime, "tiny")
        judge = pipeline.aggregator.expert
        pair, third, answers, finals = await escalate(pipeline, QUESTIONS)
        loads = dict(runtime.stats.loads_by_expert)
    finally:
        await runtime.close()
    assert judge not in loads
    escalated = 0
    for question in QUESTIONS:
        stated = [a.answer for a in answers[question.id]]
        assert [a.expert for a in answers[question.id]] == pair
        final = finals[question.id]
        if stated[0] is not None and stated[0] == stated[1]:
            assert (final.method, final.answer, final.completion) == ("unanimous", stated[0], None)
        else:
            check_escalated(final, third, question_kind(question.question))
            escalated += 1
    assert loads.get(third, 0) == (1 if escalated else 0)  # one load for all its questions


async def test_a_failed_pair_member_always_escalates(
    tiny_profile: dict[str, str], root: Path
) -> None:
    """A pair member that times out states no answer, so every question goes to the third."""
    runtime = runtime_for(tiny_profile, root)
    try:
        pair, _ = escalating_team(build_pipeline(runtime, "tiny"))
    finally:
        await runtime.close()
    pool = load_pool(root / "experts.yaml")
    slow = [
        e.model_copy(update={"timeout_s": 0.01}) if e.name == pair[1] else e for e in pool.experts
    ]
    runtime = runtime_for(tiny_profile, root, experts=slow)
    try:
        pipeline = build_pipeline(runtime, "tiny")
        _, third, answers, finals = await escalate(pipeline, QUESTIONS[:2])
        loads = dict(runtime.stats.loads_by_expert)
    finally:
        await runtime.close()
    assert pipeline.aggregator.expert not in loads
    for question in QUESTIONS[:2]:
        failed = answers[question.id][1]
        assert failed.error is not None and failed.error.startswith("BackendTimeout")
        final = finals[question.id]
        check_escalated(final, third, question_kind(question.question))
        assert f"{pair[1]}: failed" in final.reason
