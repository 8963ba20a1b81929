"""The pipeline end to end over a recorded pool (replay engine, no model): route -> run grouped
by expert -> aggregate, with every answer checked against the file it was recorded in."""

from __future__ import annotations

from router_svc.assembly import build_pipeline
from router_svc.replay.engine import recorded_text
from tests.support import REPLAY_AGGREGATOR, ReplaySuite


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
