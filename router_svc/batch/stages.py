"""What the cluster mode's stages hand each other, and how it becomes a result again.

Routing stores the question's ``BatchPayload`` and its ``Assignment`` (as ``to_json``); each
expert stores an ``AnswerRecord``; aggregation rebuilds the ``Assignment`` and the expert
``TaskResult``s and finishes the question with the same pipeline calls as the single-process
path (``expert_answers``, ``aggregate``), so a cluster result equals a single-process one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from router_svc.errors import FailureKind
from router_svc.execution.runner import TaskResult
from router_svc.pipeline import expert_task
from router_svc.routing.recruiter import Assignment, ExpertScore
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

    def task_result(self, question: Question) -> TaskResult:
        """The answer as the executor would have returned it."""
        task = expert_task(question, self.expert)
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
    """The assignment's JSON record, with what the tagger spent (its tokens count too)."""
    tagging = assignment.tagging
    spent = dataclasses.asdict(tagging) if tagging is not None else None
    return json.dumps({**assignment.to_json(), "tagging": spent})


def assignment_of(text: str) -> Assignment:
    """The ``Assignment`` that ``routing_json`` wrote."""
    data = json.loads(text)
    spent = data.get("tagging")
    return Assignment(
        question_id=str(data["question_id"]),
        tags=list(data["tags"]),
        skills=[SkillMatch(**s) for s in data["skills"]],
        scores=[ExpertScore(**s) for s in data["scores"]],
        chosen=list(data["chosen"]),
        fallback=bool(data["fallback"]),
        tagging=Completion(**spent) if spent else None,
    )


def task_results(
    question: Question, chosen: Sequence[str], answers: Mapping[str, str]
) -> list[TaskResult]:
    """The chosen experts' results in routing order; a missing answer is a failed task."""
    results = []
    for expert in chosen:
        raw = answers.get(expert)
        record = (
            AnswerRecord.model_validate_json(raw)
            if raw
            else AnswerRecord(expert=expert, error="the answer was lost", failure=FailureKind.LOST)
        )
        results.append(record.task_result(question))
    return results
