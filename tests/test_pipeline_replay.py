"""The pipeline end to end over a recorded pool (replay engine, no model): route -> run grouped
by expert -> aggregate, with every answer checked against the file it was recorded in."""

from __future__ import annotations

from router_svc.aggregation.aggregator import Aggregate, ExpertAnswer
from router_svc.assembly import build_pipeline
from router_svc.config.routers import DEFAULT_ROUTER
from router_svc.execution.plan import TaskKey
from router_svc.pipeline import expert_task, expert_tasks
from router_svc.replay.engine import recorded_text
from router_svc.results import QuestionResult
from router_svc.routing.recruiter import Assignment
from router_svc.types import Completion, Question
from tests.support import REPLAY_AGGREGATOR, CountingEmbedder, ReplaySuite


async def test_route_run_grouped_aggregate_one_load_per_expert(replay_suite: ReplaySuite) -> None:
    data = replay_suite.data
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        questions = replay_suite.questions()[:30]
        results = await pipeline.answer(questions, pipeline.options(k=2))
        loads = dict(runtime.stats.loads_by_expert)
    finally:
        await runtime.close()

    methods = {r.aggregate.method for r in results}
    assert {"aggregator", "unanimous"} <= methods  # both paths ran
    chosen = {expert for r in results for expert in r.assignment.chosen}
    assert loads == dict.fromkeys(chosen | {REPLAY_AGGREGATOR}, 1)
    judge = 0  # the column the judge answers from: the first recorded expert
    for result in results:
        row = data.row_of(result.question.question)
        assert row is not None
        assert [a.expert for a in result.answers] == list(result.assignment.chosen)
        assert len(result.answers) == 2
        for answer in result.answers:
            assert answer.text == recorded_text(data, row, data.experts.index(answer.expert))
        if result.aggregate.method == "aggregator":
            assert result.aggregate.completion is not None
            assert result.aggregate.completion.expert == REPLAY_AGGREGATOR
            assert result.aggregate.text == recorded_text(data, row, judge)
            assert result.correct == (data.scores[row, judge] >= 0.5)


def _done(expert: str, seconds: float, *, cached: bool = False) -> Completion:
    return Completion("The answer is 4.", 5, 3, seconds, expert=expert, cached=cached)


def test_the_record_times_the_question_and_keeps_the_batch_stages_apart() -> None:
    question = Question("q", "What is 2 + 2?", "4")
    answers = [
        ExpertAnswer("a", "The answer is 4.", "4", completion=_done("a", 0.5)),
        ExpertAnswer("b", "The answer is 4.", "4", completion=_done("b", 0.25)),
        ExpertAnswer("c", "The answer is 4.", "4", completion=_done("c", 3.0, cached=True)),
        ExpertAnswer("d", None, None, error="BackendTimeout: too slow"),
    ]
    aggregate = Aggregate("4", "The answer is 4.", "aggregator", _done("judge", 0.125))
    batch = {"tag": 0.01, "route": 0.02, "experts": 9.0, "aggregate": 2.0}
    result = QuestionResult(
        question,
        Assignment("q", [], [], [], ["a", "b", "c", "d"], False),
        answers,
        aggregate,
        batch,
    )

    timings = result.to_json()["timings"]
    assert timings == {"experts": 0.75, "aggregate": 0.125, "batch": batch}
    unaggregated = QuestionResult(
        question, result.assignment, answers[:1], Aggregate("4", "", "single")
    )
    assert unaggregated.to_json()["timings"] == {"experts": 0.5, "aggregate": 0.0, "batch": {}}


async def test_answered_records_carry_both_timings(replay_suite: ReplaySuite) -> None:
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        results = await pipeline.answer(replay_suite.questions()[:4], pipeline.options(k=2))
    finally:
        await runtime.close()
    records = [result.to_json()["timings"] for result in results]
    assert {key for record in records for key in record} == {"experts", "aggregate", "batch"}
    assert all(r["batch"] == records[0]["batch"] for r in records)  # one batch, shared
    assert set(records[0]["batch"]) == {"tag", "route", "experts", "aggregate"}
    assert all(r["experts"] == 0.0 for r in records)  # the replay engine generates in 0 s


async def test_each_decision_names_the_method_that_made_it(replay_suite: ReplaySuite) -> None:
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        questions = replay_suite.questions()[:3]
        default = await pipeline.route(questions, pipeline.options(k=1), {})
        paper = await pipeline.route(questions, pipeline.options(k=1, router="symbolic-moe"), {})
    finally:
        await runtime.close()
    assert {a.router for a in default} == {DEFAULT_ROUTER}
    assert {a.router for a in paper} == {"symbolic-moe"}
    assert default[0].to_json()["router"] == DEFAULT_ROUTER


async def test_a_routed_question_is_embedded_once(replay_suite: ReplaySuite) -> None:
    """The embedding tagger and the default router both read the question's vector; the
    process's embedder (a memo) computes it once."""
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        counting = CountingEmbedder(runtime.embedder.inner)
        runtime.embedder.inner = counting
        question = replay_suite.questions()[0]
        options = pipeline.options(k=1, tagger="embedding")
        assert pipeline.router(DEFAULT_ROUTER).needs_vectors
        await pipeline.route([question], options, {})
    finally:
        await runtime.close()
    assert [call for call in counting.calls if question.question in call] == [[question.question]]


async def test_a_router_that_ignores_tags_tags_nothing(replay_suite: ReplaySuite) -> None:
    """The default router reads tags through its skill level; with that level off it reads
    none, so no question is tagged (an LLM tagger would never be paid for)."""
    from router_svc.assembly import Runtime
    from router_svc.config.loader import load_pool
    from router_svc.config.pool import RoutingConfig

    questions = replay_suite.questions()[:5]
    settings = replay_suite.settings
    pool = load_pool(settings.config_path)
    tagged: dict[str, list[list[str]]] = {}
    for name, options in (("skills on", {}), ("skills off", {"skill_pseudo": float("inf")})):
        routing = RoutingConfig(method=DEFAULT_ROUTER, options={DEFAULT_ROUTER: options})
        runtime = Runtime.create(settings, pool.model_copy(update={"routing": routing}))
        try:
            pipeline = build_pipeline(runtime, replay_suite.suite)
            found = await pipeline.route(questions, pipeline.options(k=1, tagger="keyword"), {})
            tagged[name] = [a.tags for a in found]
        finally:
            await runtime.close()
    assert any(tagged["skills on"])
    assert tagged["skills off"] == [[]] * 5


async def test_three_draws_of_one_expert_make_three_samples_and_one_aggregation(
    replay_suite: ReplaySuite,
) -> None:
    """The paper runs every draw as its own sample and always aggregates all k of them."""
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        question = replay_suite.questions()[0]
        expert = pipeline.recruiter.matrix.experts[0]
        drawn = Assignment(
            question.id, [], [], [], [expert], False, draws=(expert,) * 3, temperature=0.7,
            always_aggregate=True, seed=5,
        )  # fmt: skip
        tasks = expert_tasks(question, drawn)
        answers = await pipeline.run_experts([question], [drawn], {})
        aggregates = await pipeline.aggregate([question], answers, assignments=[drawn])
    finally:
        await runtime.close()
    assert [a.expert for a in answers[question.id]] == [expert] * 3
    seeds = {t.request.seed for t in tasks}
    assert len(seeds) == 3 and {t.request.temperature for t in tasks} == {0.7}
    final = aggregates[question.id]
    assert final.method == "aggregator"  # the answers agree, and it aggregates anyway
    assert final.completion is not None and final.completion.expert == REPLAY_AGGREGATOR


async def test_k_auto_sizes_each_team_by_the_learned_rule(replay_suite: ReplaySuite) -> None:
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        options = pipeline.options(k="auto")
        questions = replay_suite.questions()[:40]
        results = await pipeline.answer(questions, options)
        rule = pipeline.team_rule(DEFAULT_ROUTER)
    finally:
        await runtime.close()
    assert (options.k, options.auto) == (3, True)
    assert rule is not None and len(rule.gains) == len(pipeline.routers.suite.ids)
    sizes = {len(r.answers) for r in results}
    assert sizes <= {1, 3}
    assert all(len(r.assignment.chosen) == len(r.answers) for r in results)
    fixed = pipeline.options(k=2)
    assert (fixed.k, fixed.auto) == (2, False)
    paper = pipeline.options(k="auto", router="symbolic-moe")
    assert (paper.k, paper.auto) == (3, False)  # the paper's three draws


PAIR, THIRD = ["bolt-8b", "cedar-32b"], "ember-14b"


def escalating(question: Question) -> Assignment:
    """An escalating team by hand: the pair answers, ``THIRD`` where it disagrees."""
    return Assignment(question.id, [], [], [], PAIR, False, escalate_to=THIRD)


async def test_an_escalating_pair_asks_its_third_expert_only_where_it_disagrees(
    replay_suite: ReplaySuite,
) -> None:
    """Recorded answers make both branches certain: where the pair's recorded answers agree,
    theirs is final; elsewhere the third answers alone and the aggregator never runs."""
    data = replay_suite.data
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        questions = replay_suite.questions()[:20]
        teams = [escalating(q) for q in questions]
        answers = await pipeline.run_experts(questions, teams, {})
        tasks = {
            q.id: pipeline.aggregation_task(q, answers[q.id], 9, team)
            for q, team in zip(questions, teams, strict=True)
        }
        finals = await pipeline.aggregate(questions, answers, assignments=teams)
        loads = dict(runtime.stats.loads_by_expert)
    finally:
        await runtime.close()
    assert loads == dict.fromkeys([*PAIR, THIRD], 1)  # never the aggregator (judge)
    stated = {q.id: {a.answer for a in answers[q.id]} for q in questions}
    agreed = {q.id for q in questions if len(stated[q.id]) == 1 and None not in stated[q.id]}
    assert 0 < len(agreed) < len(questions)  # both branches run on these questions
    for question in questions:
        final, task = finals[question.id], tasks[question.id]
        if question.id in agreed:
            assert task is None
            assert (final.method, final.completion) == ("unanimous", None)
            assert final.answer == answers[question.id][0].answer
            continue
        assert task is not None and task.key == TaskKey(question.id, THIRD, "escalate")
        assert task.request == expert_task(question, THIRD, 9).request  # the plain question
        row = data.row_of(question.question)
        assert row is not None
        assert final.method == "escalated"
        assert final.completion is not None and final.completion.expert == THIRD
        assert final.text == recorded_text(data, row, data.experts.index(THIRD))
        assert final.reason.startswith(f"the pair disagreed ({PAIR[0]}: ")
        assert final.reason.endswith(f"; {THIRD} answered")
