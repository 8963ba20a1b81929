"""What the cluster mode's stages hand each other, and how it becomes a result again.

Routing stores the question's ``BatchPayload`` and its whole ``Assignment`` (``routing_json``:
its record plus the draws and how they are sampled) and fans out one task per generation of
the pipeline's ``expert_tasks`` (a method that draws an expert three times asks for three
samples of it); each generation stores an ``AnswerRecord``; aggregation rebuilds the
``Assignment`` and the ``TaskResult`` of each of those tasks and finishes the question with the
same pipeline calls as the single-process path (``expert_answers``, ``aggregate``, which
decides whether the aggregator runs), so a cluster result equals a single-process one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from router_svc.errors import FailureKind
from router_svc.execution.plan import Task, TaskKey
from router_svc.execution.runner import TaskResult
from router_svc.pipeline import expert_tasks
from router_svc.routing.recruiter import Assignment, ExpertScore
from router_svc.store.redis_stages import Generation, answer_slot
from router_svc.tagging.inventory import SkillMatch
from router_svc.types import Completion, Question


class AnswerRecord(BaseModel):
    """One expert's answer to one question (or why it has none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expert: str
    text: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False
    error: str | None = None
    failure: FailureKind | None = None
    worker: str = ""

    @classmethod
    def of(cls, result: TaskResult, worker: str) -> AnswerRecord:
        c = result.completion
        if c is None or result.error is not None:
            return cls(
                expert=result.task.expert,
                error=result.error or "no answer",
                failure=result.failure or FailureKind.INTERNAL,
                worker=worker,
            )
        return cls(
            expert=result.task.expert,
            text=c.text,
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            seconds=c.seconds,
            cached=c.cached,
            worker=worker,
        )

    def task_result(self, task: Task) -> TaskResult:
        """The answer as the executor would have returned it for ``task``."""
        if self.text is None:
            return TaskResult(task, None, self.error or "no answer", self.failure)
        completion = Completion(
            text=self.text,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            seconds=self.seconds,
            expert=self.expert,
            cached=self.cached,
        )
        return TaskResult(task, completion)


def routing_json(assignment: Assignment) -> str:
    """The whole assignment as JSON: its record, what the tagger spent (its tokens count too),
    and how its generations are drawn and sampled (so every stage rebuilds the same tasks)."""
    tagging = assignment.tagging
    spent = dataclasses.asdict(tagging) if tagging is not None else None
    sampling = {
        "draws": list(assignment.draws),
        "temperature": assignment.temperature,
        "always_aggregate": assignment.always_aggregate,
        "seed": assignment.seed,
    }
    return json.dumps({**assignment.to_json(), "tagging": spent, **sampling})


def assignment_of(text: str) -> Assignment:
    """The ``Assignment`` that ``routing_json`` wrote (one written before the sampling fields
    were kept reads as a method that does not sample; one written before escalating teams, as
    a team that aggregates)."""
    data = json.loads(text)
    spent = data.get("tagging")
    sampled = "seed" in data
    option = data.get("option")
    return Assignment(
        question_id=str(data["question_id"]),
        tags=list(data["tags"]),
        skills=[SkillMatch(**s) for s in data["skills"]],
        scores=[ExpertScore(**s) for s in data["scores"]],
        chosen=list(data["chosen"]),
        fallback=bool(data["fallback"]),
        router=str(data.get("router", "")),
        tagging=Completion(**spent) if spent else None,
        draws=tuple(data["draws"]) if sampled else (),
        temperature=data.get("temperature"),
        always_aggregate=bool(data.get("always_aggregate", False)),
        seed=int(data.get("seed", 0)),
        escalate_to=data.get("escalate_to"),
        option=ExpertScore(**option) if option else None,
    )


def generations(question: Question, assignment: Assignment) -> list[Generation]:
    """The (expert, sample) of each of the question's tasks, as routing fans them out."""
    return [_generation(task) for task in expert_tasks(question, assignment)]


def generation_task(question: Question, assignment: Assignment, expert: str, sample: int) -> Task:
    """The task that answers one generation of the question (a ValueError if the routing
    asked for no such generation)."""
    for task in expert_tasks(question, assignment):
        if _generation(task) == (expert, sample):
            return task
    raise ValueError(f"question {question.id!r} was not routed to sample {sample} of {expert}")


def task_results(
    question: Question, assignment: Assignment, answers: Mapping[str, str]
) -> list[TaskResult]:
    """The result of each of the question's tasks, in routing order, from the answers kept
    per ``answer_slot``; a missing answer is a failed task."""
    results = []
    for task in expert_tasks(question, assignment):
        raw = answers.get(answer_slot(*_generation(task)))
        record = (
            AnswerRecord.model_validate_json(raw)
            if raw
            else AnswerRecord(
                expert=task.expert, error="the answer was lost", failure=FailureKind.LOST
            )
        )
        results.append(record.task_result(task))
    return results


def _generation(task: Task) -> Generation:
    key = task.key
    if not isinstance(key, TaskKey):
        raise ValueError(f"task {key!r} serves no question")
    return key.expert, key.sample
