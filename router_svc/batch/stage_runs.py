"""The three stages of the cluster mode, each one round over claimed entries.

``route_items``: questions from the job queue are routed (tag -> skills -> recruit) and fanned
out, one task per generation (the pipeline's ``expert_tasks``: one per chosen expert, or one
per draw of a method that samples, so an expert drawn three times answers three times).
``answer_entries``: one expert's claimed tasks run as one executor batch (the model loads once
and stays resident), each with the pipeline's request (a draw's temperature and seed), each
answer kept once. ``aggregate_entries``: questions with every answer in are settled (the
pipeline decides whether the aggregator runs) and recorded exactly once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from router_svc.batch.payload import BatchOptions, BatchPayload
from router_svc.batch.stages import (
    AnswerRecord,
    assignment_of,
    generation_task,
    generations,
    routing_json,
    task_results,
)
from router_svc.batch.worker import error_record
from router_svc.errors import FailureKind, RouterSvcError, StoreError
from router_svc.execution.plan import Task
from router_svc.execution.runner import Executor, TaskResult
from router_svc.pipeline import Pipeline
from router_svc.results import QuestionResult
from router_svc.store import JobQueue, WorkItem
from router_svc.store.redis_stages import QuestionState, RedisStages, StageEntry

logger = logging.getLogger(__name__)

PipelineFor = Callable[[str], Pipeline]
_Routed = list[tuple[WorkItem, BatchPayload]]


async def route_items(
    items: Sequence[WorkItem],
    jobs: JobQueue,
    stages: RedisStages,
    pipelines: PipelineFor,
    default_suite: str,
    max_deliveries: int,
) -> int:
    """Route claimed questions and fan them out; returns how many were fanned out. A broken
    payload, or one claimed more than ``max_deliveries`` times, is recorded as failed."""
    groups: dict[tuple[str, BatchOptions], _Routed] = {}
    for item in items:
        payload = _payload(item, max_deliveries)
        if isinstance(payload, dict):
            await jobs.complete(item, json.dumps(payload), failed=True)
            continue
        key = (payload.suite or default_suite, payload.options)
        groups.setdefault(key, []).append((item, payload))
    fanned = 0
    for (suite, options), group in groups.items():
        fanned += await _route_group(jobs, stages, pipelines, suite, options, group)
    return fanned


def _payload(item: WorkItem, max_deliveries: int) -> BatchPayload | dict[str, Any]:
    """The item's payload, or the error record it is failed with."""
    try:
        payload = BatchPayload.model_validate_json(item.payload)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "(payload)"
        return error_record(
            None, f"invalid batch payload: {where}: {error['msg']}", "invalid_payload"
        )
    if item.deliveries > max_deliveries:
        return error_record(payload.question.id, _gave_up(item.deliveries), "too_many_deliveries")
    return payload


async def _route_group(
    jobs: JobQueue,
    stages: RedisStages,
    pipelines: PipelineFor,
    suite: str,
    options: BatchOptions,
    group: _Routed,
) -> int:
    try:
        pipeline = pipelines(suite)
        questions = [p.question.to_question() for _, p in group]
        route = pipeline.options(options)
        assignments = await pipeline.route(questions, route, {})
    except StoreError:
        raise
    except Exception as exc:  # one bad group fails its questions, not the worker
        message, kind = _why(exc)
        for item, payload in group:
            record = error_record(payload.question.id, message, kind)
            await jobs.complete(item, json.dumps(record), failed=True)
        return 0
    fanned = 0
    for (item, payload), question, assignment in zip(group, questions, assignments, strict=True):
        routed = routing_json(assignment)
        asked = generations(question, assignment)
        fanned += await stages.fan_out(item, payload.to_json(), routed, asked)
    return fanned


async def answer_entries(
    expert: str,
    entries: Sequence[StageEntry],
    stages: RedisStages,
    executor: Executor,
    worker: str,
    max_deliveries: int,
) -> tuple[int, int]:
    """Run one expert's tasks as one batch; returns (answers kept, duplicates dropped)."""
    tasks: list[tuple[StageEntry, Task]] = []
    for entry in entries:
        state = await stages.question(entry.job_id, entry.index)
        task = _entry_task(entry, state, expert, max_deliveries)
        if isinstance(task, str):
            await stages.answer(entry, expert, _failed(expert, task, worker), failed=True)
            continue
        tasks.append((entry, task))
    if not tasks:
        return 0, 0
    results = await executor.run([task for _, task in tasks])
    kept = dropped = 0
    for (entry, _), result in zip(tasks, results, strict=True):
        record = AnswerRecord.of(result, worker).model_dump_json()
        if await stages.answer(entry, expert, record, failed=not result.ok):
            kept += 1
        else:
            dropped += 1
    return kept, dropped


def _entry_task(
    entry: StageEntry, state: QuestionState | None, expert: str, max_deliveries: int
) -> Task | str:
    """The task of a claimed generation, as the single-process path builds it (the pipeline's
    ``expert_tasks``), or why it has none."""
    if state is None:
        return "the question expired"
    if entry.deliveries > max_deliveries:
        return _gave_up(entry.deliveries)
    question = BatchPayload.model_validate_json(state.payload).question.to_question()
    try:
        task = generation_task(question, assignment_of(state.routing), expert, entry.sample)
    except ValueError as exc:
        return str(exc)
    return replace(task, key=f"{entry.job_id}/{entry.index}#{entry.sample}")  # ids: per job


async def aggregate_entries(
    entries: Sequence[StageEntry],
    stages: RedisStages,
    pipelines: PipelineFor,
    worker: str,
    max_deliveries: int,
) -> tuple[int, int]:
    """Settle each question whose answers are in; returns (recorded, duplicates). A question
    claimed more than ``max_deliveries`` times (its aggregation keeps stopping the workers
    that claim it) is recorded as failed, as an expert task is."""
    ready: dict[str, list[tuple[StageEntry, QuestionState, BatchPayload]]] = {}
    for entry in entries:
        state = await stages.question(entry.job_id, entry.index)
        if state is None:
            record = error_record(None, "the question's state expired", "expired")
            await _finish(stages, entry, record, worker, failed=True)
            continue
        payload = BatchPayload.model_validate_json(state.payload)
        if entry.deliveries > max_deliveries:
            why = _gave_up(entry.deliveries)
            record = error_record(payload.question.id, why, "too_many_deliveries")
            await _finish(stages, entry, record, worker, failed=True)
            continue
        ready.setdefault(payload.suite or "", []).append((entry, state, payload))
    recorded = duplicates = 0
    for suite, group in ready.items():
        for batch in _unique_ids(group):
            done = await _aggregate_batch(suite, batch, stages, pipelines, worker)
            recorded += done
            duplicates += len(batch) - done
    return recorded, duplicates


async def _aggregate_batch(
    suite: str,
    batch: list[tuple[StageEntry, QuestionState, BatchPayload]],
    stages: RedisStages,
    pipelines: PipelineFor,
    worker: str,
) -> int:
    questions = [p.question.to_question() for _, _, p in batch]
    assignments = [assignment_of(s.routing) for _, s, _ in batch]
    try:
        pipeline = pipelines(suite)
        flat: list[TaskResult] = []
        for q, a, (_, state, _) in zip(questions, assignments, batch, strict=True):
            flat += task_results(q, a, state.answers)
        answers = pipeline.expert_answers(questions, flat)
        timings: dict[str, float] = {}
        aggregates = await pipeline.aggregate(questions, answers, timings, assignments=assignments)
    except StoreError:
        raise
    except Exception as exc:  # one bad batch fails its questions, not the worker
        message, kind = _why(exc)
        records = [error_record(q.id, message, kind) for q in questions]
        return await _finish_all(stages, batch, records, worker, failed=True)
    records = [
        QuestionResult(q, a, answers[q.id], aggregates[q.id], timings).to_json()
        for q, a in zip(questions, assignments, strict=True)
    ]
    return await _finish_all(stages, batch, records, worker, failed=False)


async def _finish_all(
    stages: RedisStages,
    batch: list[tuple[StageEntry, QuestionState, BatchPayload]],
    records: list[dict[str, Any]],
    worker: str,
    *,
    failed: bool,
) -> int:
    done = 0
    for (entry, _, _), record in zip(batch, records, strict=True):
        done += await _finish(stages, entry, record, worker, failed=failed)
    return done


async def _finish(
    stages: RedisStages, entry: StageEntry, record: dict[str, Any], worker: str, *, failed: bool
) -> int:
    record["batch"] = {"index": entry.index, "worker": worker, "deliveries": entry.deliveries}
    return int(await stages.finish(entry, json.dumps(record), failed=failed))


def _unique_ids(
    group: list[tuple[StageEntry, QuestionState, BatchPayload]],
) -> list[list[tuple[StageEntry, QuestionState, BatchPayload]]]:
    """Split so no batch holds one question id twice (ids are unique per job only)."""
    batches: list[list[tuple[StageEntry, QuestionState, BatchPayload]]] = []
    for row in group:
        qid = row[2].question.id
        batch = next((b for b in batches if all(r[2].question.id != qid for r in b)), None)
        if batch is None:
            batches.append([row])
        else:
            batch.append(row)
    return batches


def _why(exc: Exception) -> tuple[str, str]:
    """The message and type of an error record; unexpected errors are logged in full."""
    if isinstance(exc, RouterSvcError):
        return str(exc), type(exc).__name__
    logger.exception("unexpected error in a cluster stage")
    return f"internal error: {exc}", "internal_error"


def _failed(expert: str, message: str, worker: str) -> str:
    record = AnswerRecord(expert=expert, error=message, failure=FailureKind.LOST, worker=worker)
    return record.model_dump_json()


def _gave_up(deliveries: int) -> str:
    return f"gave up after {deliveries} deliveries: every worker that claimed it stopped"
