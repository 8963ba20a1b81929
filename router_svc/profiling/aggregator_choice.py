"""The aggregation benchmark: which candidate best picks the right answer among wrong ones.

From the profiling outputs, every validation question with at least one right and one wrong
expert response becomes an item: one right reasoning and up to two wrong ones, shuffled with a
seed. Every aggregator candidate answers every item; the ranking is stored with the profile and
the best candidate becomes the suite's aggregator.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router_svc.aggregation.aggregator import Aggregator, ExpertAnswer, strip_reasoning
from router_svc.assembly import Runtime
from router_svc.execution.runner import TaskResult
from router_svc.profiling.failures import missing_per_expert, record_failure
from router_svc.questions.grading import grade
from router_svc.questions.jsonl import append_jsonl, read_records
from router_svc.routing.artifacts import AGGREGATION_FILE, AggregatorRank
from router_svc.types import Question

MAX_ITEMS = 40


@dataclass(frozen=True)
class AggregationItem:
    question: Question
    responses: list[ExpertAnswer]


def build_items(
    questions: Sequence[Question],
    outputs: Sequence[dict[str, Any]],
    *,
    seed: int = 0,
    max_items: int = MAX_ITEMS,
) -> list[AggregationItem]:
    """One right and up to two wrong responses per question, shuffled reproducibly."""
    by_question: dict[str, list[dict[str, Any]]] = {}
    for record in outputs:
        if record.get("text"):
            by_question.setdefault(record["question_id"], []).append(record)
    items = []
    for question in questions:
        records = by_question.get(question.id, [])
        right = [r for r in records if r["correct"]]
        wrong = [r for r in records if not r["correct"]]
        if right and wrong:
            rng = random.Random(f"{seed}:{question.id}")
            chosen = [rng.choice(right), *rng.sample(wrong, min(2, len(wrong)))]
            rng.shuffle(chosen)
            items.append(AggregationItem(question, [_answer(r) for r in chosen]))
    random.Random(seed).shuffle(items)
    return items[:max_items]


def _answer(record: dict[str, Any]) -> ExpertAnswer:
    return ExpertAnswer(expert=record["expert"], text=record["text"], answer=record["answer"])


@dataclass(frozen=True)
class AggregationBenchmark:
    ranking: list[AggregatorRank]
    """Best first; a candidate that answered no item comes last."""
    failures: dict[str, int]
    """Per candidate: the items it failed on (retried on the next run)."""


async def benchmark_aggregators(
    runtime: Runtime,
    questions: Sequence[Question],
    outputs: Sequence[dict[str, Any]],
    folder: Path,
    *,
    progress: bool = False,
) -> AggregationBenchmark:
    """Rank the pool's aggregator candidates, best first (ties: the order in experts.yaml)."""
    candidates = runtime.pool.aggregator_candidates
    items = build_items(questions, outputs)
    if not candidates or not items:
        ranking = [AggregatorRank(name, 0.0, 0) for name in candidates]
        return AggregationBenchmark(ranking, dict.fromkeys(candidates, 0))
    path = folder / AGGREGATION_FILE
    done = {
        (r["question_id"], r["expert"]): r
        for r in read_records(path, torn_last_line=True, missing_ok=True)
        if _answered(r)
    }
    tasks = []
    for name in candidates:
        aggregator = Aggregator(name, skip_unanimous=False)
        for item in items:
            if (item.question.id, name) not in done:
                tasks.append(aggregator.task_for(item.question, item.responses))
    results = await runtime.executor().run(tasks, progress=progress)
    for failed in (r for r in results if r.completion is None):
        record_failure(folder, "aggregation", failed.task.question_id, failed)
    records = [
        verdict_record(item_of(items, r.task.question_id), r.task.expert, r)
        for r in results
        if r.completion is not None
    ]
    append_jsonl(path, records)
    done.update({(r["question_id"], r["expert"]): r for r in records})
    wanted = [(item.question.id, name) for item in items for name in candidates]
    return AggregationBenchmark(
        _rank(candidates, items, done), missing_per_expert(candidates, wanted, done)
    )


def _answered(record: dict[str, Any]) -> bool:
    """A verdict the candidate gave (older versions stored failures as wrong verdicts)."""
    return record.get("error") is None


def item_of(items: Sequence[AggregationItem], question_id: str) -> AggregationItem:
    return next(item for item in items if item.question.id == question_id)


def verdict_record(item: AggregationItem, expert: str, result: TaskResult) -> dict[str, Any]:
    """A candidate's verdict on one item, graded without its reasoning block as serving is."""
    text = result.completion.text if result.completion else ""
    served = strip_reasoning(text)  # what serving reads (Aggregator.finish)
    graded = grade(served, item.question.gold_answer or "", item.question.question)
    return {
        "question_id": item.question.id,
        "expert": expert,
        "responses": [r.expert for r in item.responses],
        "text": text,
        "answer": graded.answer,
        "correct": graded.correct,
        "error": result.error,
    }


def _rank(
    candidates: Sequence[str], items: Sequence[AggregationItem], done: dict[tuple[str, str], Any]
) -> list[AggregatorRank]:
    ranks = []
    for name in candidates:
        scored = [done[(i.question.id, name)] for i in items if (i.question.id, name) in done]
        accuracy = sum(r["correct"] for r in scored) / len(scored) if scored else 0.0
        ranks.append(AggregatorRank(name, round(accuracy, 4), len(scored)))
    order = {name: i for i, name in enumerate(candidates)}
    return sorted(ranks, key=lambda r: (r.items == 0, -r.accuracy, order[r.expert]))
