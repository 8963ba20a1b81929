"""The live bench: every strategy on a suite's test split, on the real models.

Every (expert, test question) is generated once (grouped by expert, through the generation
cache) and shared by all strategies; the validation outcomes come from the suite's profile.
Strategies with an aggregator (all experts + aggregator, the skill routers) run the suite's
aggregator over their own experts' answers; their extra tokens and cost are charged to them.
The outcomes are also written as a replay file (``replay.jsonl`` in the report folder), so the
run can be benched again offline with every strategy and cost weight (docs/replay.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from router_svc.aggregation.aggregator import expert_answers
from router_svc.assembly import Runtime, build_pipeline
from router_svc.config.pool import ExpertConfig
from router_svc.evaluation.escalated import with_pairs
from router_svc.evaluation.metrics import SweepPoint
from router_svc.evaluation.records import StrategyResult, one_hot
from router_svc.evaluation.replay_bench import LAMBDAS, report_folder
from router_svc.evaluation.report import BenchReport, write_report
from router_svc.evaluation.strategies import baselines, routed_scores
from router_svc.execution.plan import TaskKey
from router_svc.execution.runner import TaskResult
from router_svc.pipeline import Pipeline, RouteOptions, expert_task
from router_svc.profiling.build import profile_suite, stale_reason
from router_svc.questions.grading import answer_kind, canonical, grade, is_equivalent
from router_svc.questions.jsonl import read_records
from router_svc.questions.suites import Suite
from router_svc.replay.outcomes import NO_ANSWER, OutcomeTable
from router_svc.routing.artifacts import OUTPUTS_FILE
from router_svc.routing.neighbours import knn_choice, nearest
from router_svc.routing.recruiter import Assignment
from router_svc.types import Question

REPLAY_FILE = "replay.jsonl"


@dataclass(frozen=True)
class LiveOptions:
    k: int = 3
    seed: int = 0
    limit: int | None = None
    bootstrap: int = 1000


async def live_bench(
    runtime: Runtime, suite: Suite, out: Path, options: LiveOptions, *, progress: bool = True
) -> tuple[Path, dict[str, Any]]:
    """Run the live bench and write the report; returns (folder, results.json)."""
    timings: dict[str, float] = {}
    if stale_reason(runtime, suite) is not None:
        await profile_suite(runtime, suite, progress=progress)
    pipeline = build_pipeline(runtime, suite.name)
    experts = list(pipeline.recruiter.matrix.experts)
    questions = suite.test[: options.limit]
    started = time.perf_counter()
    tasks = [expert_task(q, e) for q in questions for e in experts]
    generated = await runtime.executor().run(tasks, progress=progress)
    timings["generate"] = time.perf_counter() - started
    results = {r.task.key: r for r in generated}
    test_records = [[_record(q, results[TaskKey(q.id, e)]) for e in experts] for q in questions]
    validation_questions, validation_records = _validation_records(runtime, suite, experts)
    test = _table(runtime, questions, experts, test_records)
    validation = _table(runtime, validation_questions, experts, validation_records)
    strategies = baselines(validation, test, k=options.k, seed=options.seed)
    strategies.append(_knn(runtime, validation, test))
    strategies += await _with_aggregator(pipeline, questions, experts, results, test, options)
    default = f"{pipeline.routers.default_name}:embedding"
    sweeps = {default: await _sweep(pipeline, questions, experts, test)}
    report = BenchReport(
        suite=suite.name,
        source=str(suite.path),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        settings={"mode": "live", "k": options.k, "experts": experts,
                  "aggregator": pipeline.aggregator.expert, "test_questions": len(questions),
                  "model_loads": runtime.stats.loads},
        validation=validation,
        test=test,
        results=strategies,
        sweeps=sweeps,
        notes=["Every (expert, question) was generated once and shared by all strategies; "
               "aggregator strategies add the aggregator's own calls.",
               f"{REPLAY_FILE} holds every expert's outcomes: `router-svc bench --replay` "
               "benches this run again offline."],
        timings=timings,
        seed=options.seed,
        bootstrap=options.bootstrap,
        default_strategy=default,
    )  # fmt: skip
    folder = report_folder(out, suite.name)
    folder.mkdir(parents=True, exist_ok=True)
    configs = [runtime.pool.expert(e) for e in experts]
    with (folder / REPLAY_FILE).open("w", encoding="utf-8") as handle:
        _write_lines(handle, "validation", validation_questions, validation_records, configs)
        _write_lines(handle, "test", questions, test_records, configs)
    return folder, write_report(folder, report)


def _record(question: Question, result: TaskResult) -> dict[str, Any]:
    c = result.completion
    graded = grade(c.text, question.gold_answer or "", question.question) if c else None
    return {
        "correct": bool(graded and graded.correct),
        "answer": graded.answer if graded else None,
        "text": c.text if c else None,
        "prompt_tokens": c.prompt_tokens if c else 0,
        "completion_tokens": c.completion_tokens if c else 0,
    }


def _validation_records(
    runtime: Runtime, suite: Suite, experts: list[str]
) -> tuple[list[Question], list[list[dict[str, Any]]]]:
    """The profile's recorded outcomes of the validation questions every expert answered."""
    outputs = {
        (r["question_id"], r["expert"]): r
        for r in read_records(
            runtime.profile_dir(suite.name) / OUTPUTS_FILE, torn_last_line=True, missing_ok=True
        )
    }
    questions = [q for q in suite.validation if all((q.id, e) in outputs for e in experts)]
    return questions, [[outputs[(q.id, e)] for e in experts] for q in questions]


def _write_lines(
    handle: TextIO,
    split: str,
    questions: Sequence[Question],
    records: list[list[dict[str, Any]]],
    configs: list[ExpertConfig],
) -> None:
    """One replay line per question (docs/replay.md): every expert's outcome."""
    for question, row in zip(questions, records, strict=True):
        line = {
            "id": question.id,
            "question": question.question,
            "gold_answer": question.gold_answer,
            "category": question.category,
            "split": split,
            "outcomes": {c.name: _outcome(c, r) for c, r in zip(configs, row, strict=True)},
        }
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def _outcome(expert: ExpertConfig, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "score": float(record["correct"]),
        "response": record.get("text"),
        "cost": _cost(expert, record),
        "prompt_tokens": record["prompt_tokens"],
        "completion_tokens": record["completion_tokens"],
    }


def _table(
    runtime: Runtime,
    questions: Sequence[Question],
    experts: list[str],
    records: list[list[dict[str, Any]]],
) -> OutcomeTable:
    configs = [runtime.pool.expert(e) for e in experts]
    width = len(experts)
    scores = np.array([[float(r["correct"]) for r in row] for row in records]).reshape(-1, width)
    tokens = np.array(
        [[r["prompt_tokens"] + r["completion_tokens"] for r in row] for row in records]
    ).reshape(-1, len(experts))
    costs = np.array(
        [[_cost(c, r) for c, r in zip(configs, row, strict=True)] for row in records]
    ).reshape(-1, width)
    answers = np.array([_codes(q, row) for q, row in zip(questions, records, strict=True)])
    return OutcomeTable(
        ids=[q.id for q in questions],
        questions=[q.question for q in questions],
        categories=[q.category or "(none)" for q in questions],
        experts=experts,
        scores=scores,
        costs=costs,
        tokens=tokens.astype(float),
        answers=answers.reshape(-1, len(experts)).astype(int),
        voted=np.ones(len(questions), dtype=bool),
    )


def _cost(expert: ExpertConfig, record: dict[str, Any]) -> float:
    return expert.cost(record["prompt_tokens"], record["completion_tokens"])


def _codes(question: Question, row: list[dict[str, Any]]) -> list[int]:
    """Each expert's canonical answer as a small int (equal answers share a code)."""
    kind = answer_kind(question.gold_answer or "", question.question)
    seen: dict[str, int] = {}
    codes = []
    for record in row:
        answer = record["answer"]
        if answer is None:
            codes.append(NO_ANSWER)
            continue
        codes.append(seen.setdefault(canonical(answer, kind), len(seen)))
    return codes


def _knn(runtime: Runtime, validation: OutcomeTable, test: OutcomeTable) -> StrategyResult:
    reference = runtime.embedder.embed(validation.questions)
    rows, _ = nearest(runtime.embedder.embed(test.questions), reference, 10)
    chosen = knn_choice(rows, validation.scores, validation.scores.mean(axis=0))
    return StrategyResult(
        "knn", "router", routed_scores(test, chosen), one_hot(chosen, len(test.experts)),
        "best mean score on the 10 nearest validation questions (MiniLM)",
    )  # fmt: skip


async def _with_aggregator(
    pipeline: Pipeline,
    questions: Sequence[Question],
    experts: list[str],
    results: dict[TaskKey | str, TaskResult],
    test: OutcomeTable,
    options: LiveOptions,
) -> list[StrategyResult]:
    everyone = np.tile(np.arange(len(experts)), (len(questions), 1))
    teams = [("all+aggregator", "ensemble", everyone, "every expert, then the aggregator")]
    for tagger in [t for t in ("embedding", "llm") if t in pipeline.taggers]:
        route = RouteOptions(k=options.k, tagger=tagger, seed=options.seed)
        assignments = await pipeline.route(questions, route, {})
        index = {name: i for i, name in enumerate(experts)}
        chosen = np.array([[index[e] for e in a.chosen] for a in assignments])
        teams.append((f"{pipeline.routers.default_name}:{tagger}", "router", chosen,
                      f"skill router, {tagger} tagger, k={options.k} + aggregator"))  # fmt: skip
    out = []
    for name, family, chosen, description in teams:
        started = time.perf_counter()
        scores, extra_tokens = await _aggregate(pipeline, questions, experts, results, chosen)
        out.append(
            StrategyResult(name, family, scores, one_hot(chosen, len(experts)), description,
                           wall_s=time.perf_counter() - started, extra_tokens=extra_tokens)
        )  # fmt: skip
    return out


async def _aggregate(
    pipeline: Pipeline,
    questions: Sequence[Question],
    experts: list[str],
    results: dict[TaskKey | str, TaskResult],
    chosen: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    answers = {}
    for q, row in zip(questions, chosen, strict=True):
        kind = answer_kind(q.gold_answer or "", q.question)
        team = [results[TaskKey(q.id, experts[i])] for i in row]
        answers[q.id] = expert_answers(team, kind)
    finals = await pipeline.aggregate(questions, answers)
    scores, tokens = [], []
    for q in questions:
        final = finals[q.id]
        kind = answer_kind(q.gold_answer or "", q.question)
        scores.append(float(is_equivalent(final.answer, q.gold_answer or "", kind)))
        tokens.append(final.completion.total_tokens if final.completion else 0)
    return np.array(scores), np.array(tokens, dtype=float)


async def _sweep(
    pipeline: Pipeline, questions: Sequence[Question], experts: list[str], test: OutcomeTable
) -> list[SweepPoint]:
    """The default router's k = 1 choice at each cost weight (no new generation); an
    escalating team is scored on its column of the generations already run."""
    pairs = pipeline.router(None).escalations
    priced = pairs is not None and test.answers is not None and pairs.experts == list(experts)
    scored = with_pairs(test, pairs) if priced and pairs is not None else test
    index = {name: i for i, name in enumerate(scored.experts)}
    points = []
    for weight in LAMBDAS[::40]:  # 16 of them: each point routes the suite again
        route = RouteOptions(k=1, tagger="embedding", cost_weight=weight)
        assignments = await pipeline.route(questions, route, {})
        chosen = np.array([index[_option(a)] for a in assignments])
        calls = one_hot(chosen, len(scored.experts))
        points.append(
            SweepPoint(
                cost_weight=weight,
                accuracy=float(routed_scores(scored, chosen).mean()),
                cost_per_query=float((calls * scored.costs).sum(axis=1).mean()),
                tokens_per_query=float((calls * scored.tokens).sum(axis=1).mean()),
                teams=float((chosen >= len(experts)).mean()) if priced else None,
            )
        )
    return points


def _option(assignment: Assignment) -> str:
    """The column of an assignment's choice: its expert, or its escalating team."""
    if assignment.escalate_to and assignment.option is not None:
        return assignment.option.expert
    return assignment.chosen[0]
