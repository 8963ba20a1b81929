"""The pipeline: tag -> map to skills -> recruit -> run grouped by expert -> aggregate.

Read this file first. The CLI, the server, the worker and the SDK all call ``Pipeline``; its
collaborators are built by ``router_svc.assembly`` from experts.yaml and ``skills/<suite>/``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from router_svc.aggregation.aggregator import Aggregate, Aggregator, ExpertAnswer, expert_answers
from router_svc.errors import UnknownComponentError
from router_svc.execution.plan import Task
from router_svc.execution.runner import Executor, Mode, TaskResult
from router_svc.questions.grading import AnswerKind, answer_kind, is_equivalent
from router_svc.routing.recruiter import Assignment, Recruiter, RecruitOptions
from router_svc.tagging.embedder import Embedder
from router_svc.tagging.inventory import SkillInventory
from router_svc.tagging.tagger import SkillTagger
from router_svc.types import GenerationRequest, Question


@dataclass(frozen=True)
class RouteOptions(RecruitOptions):
    """Recruiting knobs plus the tagger to use (None: the pipeline's default)."""

    tagger: str | None = None


@dataclass
class QuestionResult:
    """Everything that happened to one question."""

    question: Question
    assignment: Assignment
    answers: list[ExpertAnswer]
    aggregate: Aggregate
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def correct(self) -> bool | None:
        gold = self.question.gold_answer
        if gold is None:
            return None
        return is_equivalent(self.aggregate.answer, gold, _kind(self.question))


class Pipeline:
    """Routes questions to their experts and aggregates the answers."""

    def __init__(
        self,
        *,
        taggers: Mapping[str, SkillTagger],
        default_tagger: str,
        embedder: Embedder,
        inventory: SkillInventory,
        recruiter: Recruiter,
        executor: Executor,
        aggregator: Aggregator,
    ) -> None:
        self.taggers = dict(taggers)
        self.default_tagger = default_tagger
        self.embedder = embedder
        self.inventory = inventory
        self.recruiter = recruiter
        self.executor = executor
        self.aggregator = aggregator

    async def route(
        self, questions: Sequence[Question], options: RouteOptions, timings: dict[str, float]
    ) -> list[Assignment]:
        """Tag the questions, map the tags to inventory skills, recruit k experts for each."""
        started = time.perf_counter()
        tags = await self.tagger(options.tagger).tag([q.question for q in questions])
        timings["tag"] = time.perf_counter() - started
        skills = self.inventory.map_many(tags, self.embedder)
        assignments = self.recruiter.assign([q.id for q in questions], tags, skills, options)
        timings["route"] = time.perf_counter() - started
        return assignments

    async def answer(
        self,
        questions: Sequence[Question],
        options: RouteOptions,
        *,
        mode: Mode = "grouped",
        progress: bool = False,
    ) -> list[QuestionResult]:
        """Route, run every recruited expert (one load per expert), aggregate."""
        timings: dict[str, float] = {}
        assignments = await self.route(questions, options, timings)
        started = time.perf_counter()
        pairs = zip(questions, assignments, strict=True)
        tasks = [expert_task(q, expert) for q, a in pairs for expert in a.chosen]
        results = await self.executor.run(tasks, mode=mode, progress=progress)
        timings["experts"] = time.perf_counter() - started
        answers = _group_answers(questions, results)
        aggregates = await self.aggregate(questions, answers, progress=progress)
        timings["aggregate"] = time.perf_counter() - started - timings["experts"]
        return [
            QuestionResult(q, a, answers[q.id], aggregates[q.id], timings)
            for q, a in zip(questions, assignments, strict=True)
        ]

    async def aggregate(
        self,
        questions: Sequence[Question],
        answers: Mapping[str, list[ExpertAnswer]],
        *,
        progress: bool = False,
    ) -> dict[str, Aggregate]:
        """Run the aggregator where the experts disagree (one load), then settle every answer."""
        tasks = {q.id: self.aggregator.task(q, answers[q.id], _kind(q)) for q in questions}
        pending = [task for task in tasks.values() if task is not None]
        done = {r.task.key: r for r in await self.executor.run(pending, progress=progress)}
        return {
            q.id: self.aggregator.finish(answers[q.id], _kind(q), _result(tasks[q.id], done))
            for q in questions
        }

    def tagger(self, name: str | None) -> SkillTagger:
        name = name or self.default_tagger
        if name not in self.taggers:
            raise UnknownComponentError("tagger", name, self.taggers)
        return self.taggers[name]


def expert_task(question: Question, expert: str) -> Task:
    """The task of one expert answering one question."""
    return Task(f"{question.id}:{expert}", expert, GenerationRequest.user(question.question))


def _group_answers(
    questions: Sequence[Question], results: Sequence[TaskResult]
) -> dict[str, list[ExpertAnswer]]:
    by_question: dict[str, list[TaskResult]] = {q.id: [] for q in questions}
    for result in results:
        by_question[result.task.key.rsplit(":", 1)[0]].append(result)
    return {q.id: expert_answers(by_question[q.id], _kind(q)) for q in questions}


def _result(task: Task | None, done: Mapping[str, TaskResult]) -> TaskResult | None:
    return done.get(task.key) if task is not None else None


def _kind(question: Question) -> AnswerKind:
    return answer_kind(question.gold_answer or "", question.question)
