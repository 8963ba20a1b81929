"""The pipeline: tag -> map to skills -> recruit -> run grouped by expert -> aggregate.

Read this file first. The CLI, the server, the worker and the SDK all call ``Pipeline``; its
collaborators are built by ``router_svc.assembly`` from experts.yaml and ``skills/<suite>/``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Unpack

from router_svc.aggregation.aggregator import (
    Aggregate,
    Aggregator,
    ExpertAnswer,
    Sampled,
    expert_answers,
)
from router_svc.aggregation.escalation import escalates, settle_escalation
from router_svc.config.knobs import KNOBS, KnobArgs, RoutingKnobs
from router_svc.errors import UnknownComponentError
from router_svc.execution.plan import Task, TaskKey
from router_svc.execution.runner import Executor, Mode, TaskResult
from router_svc.questions.grading import AnswerKind, question_kind
from router_svc.results import QuestionResult
from router_svc.routing.catalog import RouterCatalog
from router_svc.routing.feedback import FeedbackFollower
from router_svc.routing.recruiter import Assignment, Recruiter, RecruitOptions
from router_svc.routing.team_size import (
    AUTO_TEAM,
    KSetting,
    TeamRule,
    question_seeds,
    resolve_k,
)
from router_svc.tagging.embedder import Embedder
from router_svc.tagging.inventory import SkillInventory
from router_svc.tagging.tagger import SkillTagger, tag_counted
from router_svc.types import Completion, GenerationRequest, Question


@dataclass(frozen=True)
class RouteOptions(RecruitOptions):
    """Recruiting knobs plus the tagger to use (None: the pipeline's default)."""

    tagger: str | None = None
    router: str | None = None
    """The routing method (``routing.registry``); None: the pool's ``routing.method``."""
    max_tokens: int | None = None
    """The limit of every generation of the request (each expert's and the aggregator's, in
    place of their configured ones), so the final answer is at most this long; None: theirs."""

    def knobs(self) -> RoutingKnobs:
        """These options as the knobs that produce them (a batch entry records them so)."""
        values = {name: getattr(self, name) for name in KNOBS}
        if self.auto:
            values["k"] = "auto"
        return RoutingKnobs.model_validate(values)


class Pipeline:
    """Routes questions to their experts and aggregates the answers."""

    def __init__(
        self,
        *,
        taggers: Mapping[str, SkillTagger],
        default_tagger: str,
        embedder: Embedder,
        inventory: SkillInventory,
        routers: RouterCatalog,
        executor: Executor,
        aggregator: Aggregator,
        default_k: KSetting,
        team_rules: Callable[[str], TeamRule] | None = None,
        feedback: FeedbackFollower | None = None,
    ) -> None:
        self.taggers = dict(taggers)
        self.default_tagger = default_tagger
        self.embedder = embedder
        self.inventory = inventory
        self.routers = routers
        self.executor = executor
        self.aggregator = aggregator
        self.default_k = default_k
        """The pool's k (experts.yaml: a number or ``auto``), used when a request names none."""
        self.team_rules = team_rules
        """Routing method -> its k: auto ``TeamRule`` (None: k: auto never recruits a team
        for a method with probabilities)."""
        self.feedback = feedback
        """Brings graded answers into the default router before routing (None: no store)."""

    def options(
        self,
        knobs: RoutingKnobs | None = None,
        /,
        *,
        limit: int | None = None,
        max_tokens: int | None = None,
        **overrides: Unpack[KnobArgs],
    ) -> RouteOptions:
        """A request's routing knobs (``knobs``, then ``overrides``) with the defaults filled
        in; k follows ``resolve_k`` (the pool's k capped by the suite's experts and ``limit``;
        ``auto``: sized per question by the method's team rule, or the method's ``auto_k``).
        A tagger the pool lacks is an UnknownComponentError, a k past the suite's experts a
        RoutingError."""
        given = (knobs or RoutingKnobs()).overrides()
        if overrides:
            given = RoutingKnobs.of({**given, **overrides}).overrides()
        tagger = given.get("tagger") or self.default_tagger
        self.tagger(tagger)
        router = given.get("router") or self.routers.default_name
        method = self.router(router)
        available = len(method.matrix.experts)
        team = AUTO_TEAM if method.scores_are_probabilities else method.auto_k
        size, auto = resolve_k(given.get("k"), self.default_k, available, limit=limit, auto_k=team)
        resolved = {"k": size, "tagger": tagger, "router": router}
        return RouteOptions(
            **{**given, **resolved},
            auto=auto and method.scores_are_probabilities,
            max_tokens=max_tokens,
        )

    async def route(
        self, questions: Sequence[Question], options: RouteOptions, timings: dict[str, float]
    ) -> list[Assignment]:
        """Tag the questions, map the tags to inventory skills, recruit k experts for each."""
        if self.feedback is not None:
            await self.feedback.refresh()
        started = time.perf_counter()
        texts = [q.question for q in questions]
        name = self.routers.check(options.router)
        router = self.router(name)
        tagger = self.tagger(options.tagger)
        tags: list[list[str]] = [[] for _ in texts]
        spent: list[Completion | None] = [None] * len(texts)
        if router.needs_tags:  # a method that ignores tags never pays for a tagger
            tags, spent = await tag_counted(tagger, texts)
        timings["tag"] = time.perf_counter() - started
        started = time.perf_counter()
        skills = self.inventory.map_many(tags, self.embedder)
        vectors = self.embedder.embed(texts, kind="query") if router.needs_vectors else None
        ids = [q.id for q in questions]
        team = self.team_rule(name) if options.auto else None
        assignments = router.assign(
            ids, tags, skills, options, vectors=vectors, texts=texts, team=team
        )
        timings["route"] = time.perf_counter() - started
        pairs = zip(assignments, spent, strict=True)
        return [replace(a, router=name, tagging=used) for a, used in pairs]

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
        cap = options.max_tokens
        answers = await self.run_experts(
            questions, assignments, timings, mode=mode, progress=progress, max_tokens=cap
        )
        aggregates = await self.aggregate(
            questions, answers, timings, progress=progress, max_tokens=cap, assignments=assignments
        )
        return [
            QuestionResult(q, a, answers[q.id], aggregates[q.id], dict(timings))
            for q, a in zip(questions, assignments, strict=True)
        ]

    async def run_experts(
        self,
        questions: Sequence[Question],
        assignments: Sequence[Assignment],
        timings: dict[str, float],
        *,
        mode: Mode = "grouped",
        progress: bool = False,
        max_tokens: int | None = None,
    ) -> dict[str, list[ExpertAnswer]]:
        """Every chosen expert answers its questions; question id -> the experts' answers."""
        started = time.perf_counter()
        pairs = zip(questions, assignments, strict=True)
        tasks = [task for q, a in pairs for task in expert_tasks(q, a, max_tokens)]
        results = await self.executor.run(tasks, mode=mode, progress=progress)
        timings["experts"] = time.perf_counter() - started
        return self.expert_answers(questions, results)

    def expert_answers(
        self, questions: Sequence[Question], results: Sequence[TaskResult]
    ) -> dict[str, list[ExpertAnswer]]:
        """The experts' task results as answers, grouped by question id."""
        by_question: dict[str, list[TaskResult]] = {q.id: [] for q in questions}
        for result in results:
            by_question[result.task.question_id].append(result)
        return {q.id: expert_answers(by_question[q.id], _kind(q)) for q in questions}

    async def aggregate(
        self,
        questions: Sequence[Question],
        answers: Mapping[str, list[ExpertAnswer]],
        timings: dict[str, float] | None = None,
        *,
        progress: bool = False,
        max_tokens: int | None = None,
        assignments: Sequence[Assignment] | None = None,
    ) -> dict[str, Aggregate]:
        """Run the aggregator where the experts disagree, or always where the question's
        method asks for it (``assignments``), in one load; an escalating team's third expert
        in its place, where the pair disagrees; then settle every answer."""
        started = time.perf_counter()
        routed = dict(zip((q.id for q in questions), assignments or (), strict=False))
        tasks = {
            q.id: self.aggregation_task(q, answers[q.id], max_tokens, routed.get(q.id))
            for q in questions
        }
        pending = [task for task in tasks.values() if task is not None]
        done = {r.task.key: r for r in await self.executor.run(pending, progress=progress)}
        if timings is not None:
            timings["aggregate"] = time.perf_counter() - started
        return {
            q.id: self.settle(q, answers[q.id], _result(tasks[q.id], done), routed.get(q.id))
            for q in questions
        }

    def aggregation_task(
        self,
        question: Question,
        answers: Sequence[ExpertAnswer],
        max_tokens: int | None = None,
        assignment: Assignment | None = None,
    ) -> Task | None:
        """The aggregator's task for one question, or None when the answers settle it alone;
        ``max_tokens`` replaces the aggregator's own limit; ``assignment``: the question's
        routing, whose method may aggregate always and sample the aggregator. An escalating
        team's task is its third expert answering the question alone, where the pair disagrees
        (role ``escalate``; ``max_tokens``: None, the expert's own)."""
        if assignment is not None and assignment.escalate_to is not None:
            if not escalates(answers, _kind(question)):
                return None
            sampling = _sampled(assignment, -1)
            expert = assignment.escalate_to
            return expert_task(question, expert, max_tokens, role="escalate", sampling=sampling)
        always = assignment is not None and assignment.always_aggregate
        sampling = _sampled(assignment, -1) if assignment is not None else None
        task = self.aggregator.task(
            question, list(answers), _kind(question), always=always, sampling=sampling
        )
        if task is None or max_tokens is None:
            return task
        return replace(task, request=replace(task.request, max_tokens=max_tokens))

    def settle(
        self,
        question: Question,
        answers: Sequence[ExpertAnswer],
        done: TaskResult | None,
        assignment: Assignment | None = None,
    ) -> Aggregate:
        """The final answer from the experts' answers and the result of the question's
        ``aggregation_task`` (if it ran): the aggregator's, or an escalating team's third
        expert's (``assignment``: the question's routing; None, the aggregator's rules)."""
        if assignment is not None and assignment.escalate_to is not None:
            return settle_escalation(answers, _kind(question), assignment.escalate_to, done)
        return self.aggregator.finish(list(answers), _kind(question), done)

    @property
    def recruiter(self) -> Recruiter:
        """The default routing method (every method recruits among the same experts)."""
        return self.routers.default

    def router(self, name: str | None) -> Recruiter:
        """The routing method ``name`` (None: the default); UnknownComponentError if unknown."""
        return self.routers.get(name)

    def team_rule(self, name: str) -> TeamRule | None:
        """The k: auto rule of routing method ``name`` (None: no rule, the top expert alone)."""
        return self.team_rules(name) if self.team_rules is not None else None

    def tagger(self, name: str | None) -> SkillTagger:
        name = name or self.default_tagger
        if name not in self.taggers:
            raise UnknownComponentError("tagger", name, self.taggers)
        return self.taggers[name]


def expert_task(
    question: Question,
    expert: str,
    max_tokens: int | None = None,
    *,
    sample: int = 0,
    sampling: Sampled | None = None,
    role: str = "expert",
) -> Task:
    """The task of one expert answering one question (``max_tokens``: None, the expert's;
    ``sample``: which draw of the expert; ``sampling``: its temperature and seed; ``role``:
    ``escalate`` for an escalating team's third expert)."""
    request = GenerationRequest.user(
        question.question,
        max_tokens=max_tokens,
        temperature=sampling.temperature if sampling is not None else None,
        seed=sampling.seed if sampling is not None else None,
    )
    return Task(TaskKey(question.id, expert, role, sample), expert, request)


def expert_tasks(
    question: Question, assignment: Assignment, max_tokens: int | None = None
) -> list[Task]:
    """One task per generation of the question's routing: a method that draws an expert
    three times gets three samples of it, each with its own seed."""
    tasks, drawn = [], Counter[str]()
    for index, expert in enumerate(assignment.generations):
        sampling = _sampled(assignment, index)
        tasks.append(
            expert_task(question, expert, max_tokens, sample=drawn[expert], sampling=sampling)
        )
        drawn[expert] += 1
    return tasks


def _sampled(assignment: Assignment, index: int) -> Sampled | None:
    """Draw ``index``'s sampling (-1: the aggregator's) where the method samples its draws."""
    if assignment.temperature is None:
        return None
    seed = int(question_seeds(assignment.seed, [str(index)])[0])
    return Sampled(assignment.temperature, seed)


def _result(task: Task | None, done: Mapping[TaskKey | str, TaskResult]) -> TaskResult | None:
    return done.get(task.key) if task is not None else None


def _kind(question: Question) -> AnswerKind:
    return question_kind(question.question)
