"""Aggregation: an aggregator model reads the experts' answers and writes the final one.

It is skipped when every expert gave the same answer (configurable; a method that always
aggregates, the paper's, asks for it per question). When its output has no parseable answer,
or it fails, the majority vote of the experts decides; a single surviving expert answers
alone. Every ``Aggregate`` names the path that settled it (``method``) and why (``reason``).
An escalating team never runs the aggregator: ``aggregation.escalation`` settles it.

The prompt follows the structure of the Symbolic-MoE paper's aggregator: an instruction to
synthesise the responses into one better answer, each response under its own header, the
question, and a request to reason step by step and end with the answer. The aggregator has a
token limit of its own (``aggregator_max_tokens`` in experts.yaml, large: a reasoning model cut
inside its <think> block states no answer), which a request's max_tokens replaces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from router_svc.errors import ConfigError, FailureKind
from router_svc.execution.plan import Task, TaskKey
from router_svc.execution.runner import TaskResult
from router_svc.questions.grading import AnswerKind, canonical, extract_answer, majority
from router_svc.types import Completion, GenerationRequest, Message, Question

Method = Literal["aggregator", "escalated", "unanimous", "majority", "single", "none"]
"""How the final answer was reached (``escalated``: an escalating team's third expert answered
where the pair disagreed)."""

_THINK = re.compile(r"<(think|thinking|reasoning)>.*?(</\1>|$)", re.DOTALL | re.IGNORECASE)

_INSTRUCTIONS = (
    "Below are the responses of several models to one question. Combine them into a single "
    "answer that is better than any of them: judge each response on its merits, since some "
    "may be mistaken or misleading, and do not simply repeat one of them."
)
_CLOSING = (
    "Reason through the question step by step, using the responses where they are right, "
    'and finish with "The answer is X." where X is the final answer.'
)


@dataclass(frozen=True)
class Sampled:
    """A sampled generation: its temperature and seed."""

    temperature: float
    seed: int


@dataclass(frozen=True)
class ExpertAnswer:
    """One recruited expert's response to a question, with the answer extracted from it."""

    expert: str
    text: str | None
    answer: str | None
    error: str | None = None
    completion: Completion | None = None
    failure: FailureKind | None = None
    """Why the expert gave no answer (with ``error``)."""


@dataclass(frozen=True)
class Aggregate:
    """The final answer to a question and how it was reached."""

    answer: str | None
    text: str
    method: Method
    completion: Completion | None = None
    """The aggregator's own completion (or an escalating team's third expert's), when it ran."""
    finish_reason: str = "stop"
    """Why the generation whose text is ``text`` ended ("length": it was cut at max_tokens)."""
    reason: str = ""
    """Why ``method`` settled it: a majority vote says why the aggregator did not decide."""


def strip_reasoning(text: str) -> str:
    """Drop <think>...</think> style blocks (an unclosed one runs to the end)."""
    return _THINK.sub("", text).strip()


def expert_answers(results: Sequence[TaskResult], kind: AnswerKind) -> list[ExpertAnswer]:
    """Extract each expert's answer; failed tasks keep their error and have no answer."""
    answers = []
    for result in results:
        text = strip_reasoning(result.completion.text) if result.completion else None
        answers.append(
            ExpertAnswer(
                expert=result.task.expert,
                text=text,
                answer=extract_answer(text, kind) if text else None,
                error=result.error,
                completion=result.completion,
                failure=result.failure,
            )
        )
    return answers


class Aggregator:
    """Builds the aggregator's task for a question and turns its output into the final answer."""

    def __init__(
        self, expert: str | None, *, skip_unanimous: bool = True, max_tokens: int | None = None
    ) -> None:
        self.expert = expert
        self.skip_unanimous = skip_unanimous
        self.max_tokens = max_tokens
        """The aggregator's own token limit (None: its expert's ``max_tokens``)."""

    def task(
        self,
        question: Question,
        answers: Sequence[ExpertAnswer],
        kind: AnswerKind,
        *,
        always: bool = False,
        sampling: Sampled | None = None,
    ) -> Task | None:
        """The aggregator's task, or None when the answer is settled without it (``always``:
        run it even where the answers agree; ``sampling``: its temperature and seed)."""
        usable = [a for a in answers if a.text]
        if self.expert is None or len(usable) < 2:
            return None
        if self.skip_unanimous and not always and unanimous(usable, kind):
            return None
        return self.task_for(question, usable, sampling)

    def task_for(
        self,
        question: Question,
        answers: Sequence[ExpertAnswer],
        sampling: Sampled | None = None,
    ) -> Task:
        """The aggregator's task over exactly these answers."""
        if self.expert is None:
            raise ConfigError("no aggregator expert is configured")
        return Task(
            key=TaskKey(question.id, self.expert, "aggregate"),
            expert=self.expert,
            request=self.request(question, answers, sampling),
        )

    def request(
        self,
        question: Question,
        answers: Sequence[ExpertAnswer],
        sampling: Sampled | None = None,
    ) -> GenerationRequest:
        """The prompt: the instruction, every usable response under its own header, the
        question, and the request to reason step by step to the answer."""
        parts = [_INSTRUCTIONS]
        parts += [f"### Response of model {i}\n{a.text}" for i, a in enumerate(answers, start=1)]
        parts += [f"Question: {question.question}", _CLOSING]
        return GenerationRequest(
            messages=(Message("user", "\n\n".join(parts)),),
            max_tokens=self.max_tokens,
            temperature=sampling.temperature if sampling is not None else None,
            seed=sampling.seed if sampling is not None else None,
            use_system_prompt=False,
        )

    def finish(
        self, answers: Sequence[ExpertAnswer], kind: AnswerKind, result: TaskResult | None
    ) -> Aggregate:
        """The final answer, from the aggregator's result when there is one."""
        usable = [a for a in answers if a.text]
        if not usable:
            return Aggregate(None, "", "none", reason=f"no expert answered ({len(answers)} asked)")
        if len(usable) == 1:
            only, why = usable[0], f"only 1 of {len(answers)} experts answered"
            return Aggregate(only.answer, only.text or "", "single", None, answer_finish(only), why)
        if result is not None and result.completion is not None:
            text = strip_reasoning(result.completion.text)
            answer = extract_answer(text, kind)
            if answer is not None:
                done = result.completion
                why = "the aggregator settled what the experts disagreed on"
                return Aggregate(answer, text, "aggregator", done, done.finish_reason, why)
        return self._vote(usable, kind, result)

    def _vote(
        self, usable: Sequence[ExpertAnswer], kind: AnswerKind, result: TaskResult | None
    ) -> Aggregate:
        voted = majority([a.answer for a in usable], kind)
        chosen = voted_answer(usable, voted, kind)
        agreed = result is None and unanimous(usable, kind)
        return Aggregate(
            answer=voted,
            text=chosen.text or "",
            method="unanimous" if agreed else "majority",
            completion=result.completion if result is not None else None,
            finish_reason=answer_finish(chosen),
            reason=_UNANIMOUS if agreed else self._no_verdict(result),
        )

    def _no_verdict(self, result: TaskResult | None) -> str:
        """Why the aggregator gave no answer, so that the experts' majority decided."""
        if self.expert is None:
            return "majority vote: no aggregator is configured"
        if result is None:
            return "majority vote: the aggregator did not run"
        if result.completion is None:
            return f"majority vote: the aggregator failed: {result.error or 'no output'}"
        if result.completion.finish_reason == "length":
            return "majority vote: the aggregator was cut at its token limit before an answer"
        return "majority vote: the aggregator's output states no answer"


_UNANIMOUS = "every expert gave the same answer; the aggregator was not needed"


def answer_finish(answer: ExpertAnswer) -> str:
    """The finish reason of the generation behind ``answer`` ("stop" without one)."""
    return answer.completion.finish_reason if answer.completion is not None else "stop"


def unanimous(answers: Sequence[ExpertAnswer], kind: AnswerKind) -> bool:
    """Whether every answer states one and the same answer (in canonical form)."""
    values = {canonical(a.answer, kind) if a.answer else None for a in answers}
    return len(values) == 1 and None not in values


def voted_answer(
    answers: Sequence[ExpertAnswer], voted: str | None, kind: AnswerKind
) -> ExpertAnswer:
    """The first answer that gave the voted answer (the first answer when none did)."""
    for answer in answers:
        if voted is not None and answer.answer and canonical(answer.answer, kind) == voted:
            return answer
    return answers[0]
