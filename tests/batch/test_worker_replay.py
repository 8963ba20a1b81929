"""The batch worker over a recorded pool (replay engine, no model) and the SQLite store: it
answers two groups of a batch (different routing options), each expert loaded once, and
records results that match the pipeline's."""

from __future__ import annotations

import json
import uuid

from router_svc.assembly import build_pipeline
from router_svc.batch.payload import BatchOptions, BatchPayload, BatchQuestion
from router_svc.batch.worker import BatchWorker, WorkerOptions
from tests.support import REPLAY_AGGREGATOR, ReplaySuite


async def test_the_worker_answers_grouped_one_load_per_expert(replay_suite: ReplaySuite) -> None:
    asked = replay_suite.questions()[50:58]
    ks = [1 if i % 2 else 2 for i in range(len(asked))]
    payloads = [
        BatchPayload(
            suite=replay_suite.suite,
            question=BatchQuestion(id=q.id, question=q.question, gold_answer=q.gold_answer),
            options=BatchOptions(k=k),
        ).to_json()
        for q, k in zip(asked, ks, strict=True)
    ]
    batch_id = f"batch_{uuid.uuid4().hex}"
    runtime = replay_suite.runtime()
    try:
        job = await runtime.store.jobs.submit(batch_id, payloads, {"suite": replay_suite.suite})
        assert job.total == len(asked)
        pipeline = build_pipeline(runtime, replay_suite.suite)
        options = WorkerOptions(consumer="grouped", default_suite="unused", block_ms=0, once=True)
        stats = await BatchWorker(runtime.store.jobs, lambda _: pipeline, options).run()
        loads = dict(runtime.stats.loads_by_expert)
        info = await runtime.store.jobs.info(batch_id)
        records = [json.loads(v) for _, v in await runtime.store.jobs.results(batch_id)]
        expected = [
            (await pipeline.answer([q], pipeline.options(k=k)))[0]
            for q, k in zip(asked, ks, strict=True)
        ]
    finally:
        await runtime.close()

    assert (stats.answered, stats.failed) == (len(asked), 0)
    assert (info.done, info.failed) == (len(asked), 0)
    chosen = {e for want in expected for e in want.assignment.chosen}
    aggregated = any(want.aggregate.method == "aggregator" for want in expected)
    assert loads == dict.fromkeys(chosen | ({REPLAY_AGGREGATOR} if aggregated else set()), 1)
    assert [r["id"] for r in records] == [q.id for q in asked]
    for record, want, k in zip(records, expected, ks, strict=True):
        assert len(record["routing"]["chosen"]) == k
        assert record["routing"]["chosen"] == list(want.assignment.chosen)
        assert record["final"]["text"] == want.aggregate.text
        assert record["batch"]["worker"] == "grouped"
