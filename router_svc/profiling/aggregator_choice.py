"""The aggregation benchmark: which candidate settles a team's answers best, and by how much.

Every validation question (up to ``max_items``, at least ``MIN_ITEMS`` when capped) with three
answering experts becomes an item: a team of three experts drawn per question with a seed, in
order of their validation accuracy, each response as serving reads it (without its <think>
block). Every aggregator candidate settles every item. Per candidate the benchmark reports its
accuracy, its gain over each team's best single expert (the one with the best validation
accuracy) and over the team's majority vote, that gain where the team disagreed (what k: auto
adds to a vote there), and its cost. The ranking is by accuracy, then cost (dollars, then
tokens), then name; the best candidate becomes the suite's aggregator.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router_svc.aggregation.aggregator import Aggregator, ExpertAnswer, strip_reasoning
from router_svc.assembly import Runtime
from router_svc.execution.runner import TaskResult
from router_svc.profiling.failures import missing_per_expert, record_failure
from router_svc.questions.grading import canonical, grade, majority, question_kind
from router_svc.questions.jsonl import append_jsonl, read_records
from router_svc.routing.artifacts import AGGREGATION_FILE, AggregatorRank
from router_svc.types import Question

TEAM = 3
MIN_ITEMS = 200
"""The smallest cap on the items: fewer cannot tell candidates apart."""


@dataclass(frozen=True)
class AggregationItem:
    question: Question
    responses: list[ExpertAnswer]
    """The team's responses, the expert with the best validation accuracy first."""
    correct: list[bool]
    """Whether each response is right."""

    @property
    def key(self) -> str:
        """Changes when the team or its texts change (a stored verdict is then not reused)."""
        blob = json.dumps([self.question.question, [(r.expert, r.text) for r in self.responses]])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def best_single(self) -> bool:
        return self.correct[0]

    @property
    def vote(self) -> bool:
        """Whether the team's majority vote (a tie to the best single expert) is right."""
        kind = question_kind(self.question.question)
        voted = majority([r.answer for r in self.responses], kind)
        for response, right in zip(self.responses, self.correct, strict=True):
            if voted is not None and response.answer and canonical(response.answer, kind) == voted:
                return right
        return self.correct[0]

    @property
    def contested(self) -> bool:
        """Whether the team's answers differ."""
        kind = question_kind(self.question.question)
        answers = {canonical(r.answer, kind) if r.answer else None for r in self.responses}
        return len(answers) > 1


def build_items(
    questions: Sequence[Question],
    outputs: Sequence[dict[str, Any]],
    *,
    seed: int = 0,
    max_items: int | None = None,
) -> list[AggregationItem]:
    """A seeded team of ``TEAM`` answering experts per question, as serving reads them."""
    by_question: dict[str, list[dict[str, Any]]] = {}
    for record in outputs:
        if record.get("text"):
            by_question.setdefault(record["question_id"], []).append(record)
    accuracy = _accuracy(outputs)
    items = []
    for question in questions:
        records = sorted(by_question.get(question.id, []), key=lambda r: r["expert"])
        if len(records) < TEAM:
            continue
        team = random.Random(f"{seed}:{question.id}").sample(records, TEAM)
        team.sort(key=lambda r: (-accuracy[r["expert"]], r["expert"]))
        items.append(
            AggregationItem(
                question, [_answer(r) for r in team], [bool(r["correct"]) for r in team]
            )
        )
    random.Random(seed).shuffle(items)
    return items if max_items is None else items[: max(max_items, MIN_ITEMS)]


def _accuracy(outputs: Sequence[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, list[int]] = {}
    for record in outputs:
        counts = totals.setdefault(record["expert"], [0, 0])
        counts[0] += bool(record.get("correct"))
        counts[1] += 1
    return {expert: right / max(n, 1) for expert, (right, n) in totals.items()}


def _answer(record: dict[str, Any]) -> ExpertAnswer:
    """The response as serving reads it: without its reasoning block."""
    return ExpertAnswer(
        expert=record["expert"], text=strip_reasoning(record["text"]), answer=record["answer"]
    )


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
    max_items: int | None = None,
) -> AggregationBenchmark:
    """Rank the pool's aggregator candidates, best first (module docstring)."""
    candidates = runtime.pool.aggregator_candidates
    items = build_items(questions, outputs, max_items=max_items)
    if not candidates or not items:
        ranking = [AggregatorRank(name, 0.0, 0) for name in sorted(candidates)]
        return AggregationBenchmark(ranking, dict.fromkeys(candidates, 0))
    path = folder / AGGREGATION_FILE
    keys = {item.question.id: item.key for item in items}
    done = {
        (r["question_id"], r["expert"]): r
        for r in read_records(path, torn_last_line=True, missing_ok=True)
        if _answered(r) and r.get("item_key") == keys.get(r["question_id"])
    }
    tasks = []
    for name in candidates:
        aggregator = Aggregator(name, max_tokens=runtime.pool.aggregator_max_tokens)
        for item in items:
            if (item.question.id, name) not in done:
                tasks.append(aggregator.task_for(item.question, item.responses))
    results = await runtime.executor().run(tasks, progress=progress)
    for failed in (r for r in results if r.completion is None):
        record_failure(folder, "aggregation", failed.task.question_id, failed)
    by_id = {item.question.id: item for item in items}
    records = [
        verdict_record(by_id[r.task.question_id], r.task.expert, r, _price(runtime, r))
        for r in results
        if r.completion is not None
    ]
    append_jsonl(path, records)
    done.update({(r["question_id"], r["expert"]): r for r in records})
    wanted = [(item.question.id, name) for item in items for name in candidates]
    return AggregationBenchmark(
        rank(candidates, items, done), missing_per_expert(candidates, wanted, done)
    )


def _price(runtime: Runtime, result: TaskResult) -> float:
    c = result.completion
    if c is None:
        return 0.0
    return runtime.pool.expert(result.task.expert).cost(c.prompt_tokens, c.completion_tokens)


def _answered(record: dict[str, Any]) -> bool:
    """A verdict the candidate gave (older versions stored failures as wrong verdicts)."""
    return record.get("error") is None


def verdict_record(
    item: AggregationItem, expert: str, result: TaskResult, cost: float = 0.0
) -> dict[str, Any]:
    """A candidate's verdict on one item, graded without its reasoning block as serving is."""
    completion = result.completion
    text = completion.text if completion else ""
    served = strip_reasoning(text)  # what serving reads (Aggregator.finish)
    graded = grade(served, item.question.gold_answer or "", item.question.question)
    return {
        "question_id": item.question.id,
        "item_key": item.key,
        "expert": expert,
        "responses": [r.expert for r in item.responses],
        "text": text,
        "answer": graded.answer,
        "correct": graded.correct,
        "tokens": completion.total_tokens if completion else 0,
        "cost": cost,
        "error": result.error,
    }


def rank(
    candidates: Sequence[str], items: Sequence[AggregationItem], done: dict[tuple[str, str], Any]
) -> list[AggregatorRank]:
    """Every candidate's result, by accuracy, then dollars, then tokens, then name."""
    ranks, spent = [], {}
    for name in candidates:
        scored = [(i, done[(i.question.id, name)]) for i in items if (i.question.id, name) in done]
        ranks.append(_rank_of(name, scored))
        spent[name] = _mean([float(r.get("tokens", 0)) for _, r in scored])
    return sorted(
        ranks,
        key=lambda r: (r.items == 0, -r.accuracy, r.cost or 0.0, spent[r.expert], r.expert),
    )


def _rank_of(name: str, scored: Sequence[tuple[AggregationItem, dict[str, Any]]]) -> AggregatorRank:
    if not scored:
        return AggregatorRank(name, 0.0, 0)
    right = [float(r["correct"]) for _, r in scored]
    best = [float(i.best_single) for i, _ in scored]
    vote = [float(i.vote) for i, _ in scored]
    contested = [(float(r["correct"]) - float(i.vote)) for i, r in scored if i.contested]
    return AggregatorRank(
        expert=name,
        accuracy=round(_mean(right), 4),
        items=len(scored),
        gain_over_best=round(_mean(right) - _mean(best), 4),
        gain_over_vote=round(_mean(right) - _mean(vote), 4),
        contested_gain=round(_mean(contested), 4),
        cost=_mean([float(r.get("cost", 0.0)) for _, r in scored]),
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
