"""What happened to one question: ``QuestionResult`` (its routing, each expert's answer, the
final answer, tokens and timings) and its JSON record, as the CLI, the API, the batch stages
and the benches write it. ``Pipeline.answer`` builds it (``router_svc.pipeline``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router_svc.aggregation.aggregator import Aggregate, ExpertAnswer
from router_svc.questions.grading import AnswerKind, is_equivalent, question_kind
from router_svc.routing.recruiter import Assignment
from router_svc.types import Completion, Question


@dataclass
class QuestionResult:
    """Everything that happened to one question."""

    question: Question
    assignment: Assignment
    answers: list[ExpertAnswer]
    aggregate: Aggregate
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds of the stages of the batch the question was answered in (``tag``, ``route``,
    ``experts``, ``aggregate``), shared by every question of it; ``question_timings`` are the
    question's own."""

    @property
    def correct(self) -> bool | None:
        gold = self.question.gold_answer
        if gold is None:
            return None
        return is_equivalent(self.aggregate.answer, gold, _kind(self.question))

    def to_json(self) -> dict[str, Any]:
        """The JSON record of the question: routing, each expert's answer, the final answer,
        whether it is correct, the tokens spent, and the timings: the question's own
        (``experts``, ``aggregate``) and its batch's stages under ``batch``."""
        question, aggregate = self.question, self.aggregate
        agg = aggregate.completion
        return {
            "id": question.id,
            "question": question.question,
            "gold_answer": question.gold_answer,
            "category": question.category,
            "routing": self.assignment.to_json(),
            "experts": [answer_json(a) for a in self.answers],
            "final": {
                "answer": aggregate.answer,
                "text": aggregate.text,
                "method": aggregate.method,
                "reason": aggregate.reason,
                "aggregator": agg.expert if agg else None,
            },
            "correct": self.correct,
            "tokens": self.tokens(),
            "timings": {
                **{k: round(v, 4) for k, v in self.question_timings().items()},
                "batch": {k: round(v, 4) for k, v in self.timings.items()},
            },
        }

    def question_timings(self) -> dict[str, float]:
        """Generation seconds spent on this question alone: its experts' (summed; they may
        have run side by side) and its aggregator's; a cached or failed generation counts 0."""
        return {
            "experts": sum(_generated_s(a.completion) for a in self.answers),
            "aggregate": _generated_s(self.aggregate.completion),
        }

    def tokens(self) -> dict[str, int]:
        """Every token spent on the question: the tagger's, the experts' and the aggregator's."""
        done = [self.assignment.tagging, *(a.completion for a in self.answers)]
        done.append(self.aggregate.completion)
        prompt = sum(c.prompt_tokens for c in done if c is not None)
        completion = sum(c.completion_tokens for c in done if c is not None)
        return {"prompt": prompt, "completion": completion, "total": prompt + completion}


def _generated_s(completion: Completion | None) -> float:
    return completion.seconds if completion is not None and not completion.cached else 0.0


def answer_json(answer: ExpertAnswer) -> dict[str, Any]:
    """One expert's answer as a result record holds it (text, answer, failure, tokens, time)."""
    c = answer.completion
    return {
        "expert": answer.expert,
        "text": answer.text,
        "answer": answer.answer,
        "error": answer.error,
        "failure": answer.failure.value if answer.failure else None,
        "prompt_tokens": c.prompt_tokens if c else 0,
        "completion_tokens": c.completion_tokens if c else 0,
        "seconds": round(c.seconds, 4) if c else 0.0,
        "cached": c.cached if c else False,
    }


def _kind(question: Question) -> AnswerKind:
    return question_kind(question.question)
