"""Escalation: how an escalating team (``Assignment.escalate_to``) settles its answer.

The team's pair answers first. Where both state the same answer (the aggregator's unanimity
test), it is final. Where they differ, or either states none, a third expert answers the
question alone (a plain expert task, run where the aggregator would run: the pipeline's
``aggregation_task``) and its answer is final, method ``escalated``. The aggregator never runs
for such a team. When the third expert fails or states no answer, the pair's vote decides (the
first answer on a tie), as after a failed aggregator, and the reason says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from router_svc.aggregation.aggregator import (
    Aggregate,
    ExpertAnswer,
    answer_finish,
    strip_reasoning,
    unanimous,
    voted_answer,
)
from router_svc.execution.runner import TaskResult
from router_svc.questions.grading import AnswerKind, extract_answer, majority
from router_svc.types import Completion


def escalates(pair: Sequence[ExpertAnswer], kind: AnswerKind) -> bool:
    """Whether the third expert must answer: the pair did not both state the same answer."""
    return not unanimous(pair, kind)


def settle_escalation(
    pair: Sequence[ExpertAnswer], kind: AnswerKind, expert: str, result: TaskResult | None
) -> Aggregate:
    """The final answer of an escalating team: the pair's shared answer; else the answer of
    ``expert``, the third (``result``: its task's result, None when it did not run); else the
    pair's vote."""
    if not escalates(pair, kind):
        first, why = pair[0], f"the pair gave the same answer; {expert} was not needed"
        shared = majority([a.answer for a in pair], kind)
        return Aggregate(shared, first.text or "", "unanimous", None, answer_finish(first), why)
    disagreed = f"the pair disagreed ({_stated(pair)})"
    done = result.completion if result is not None else None
    if done is not None:
        text = strip_reasoning(done.text)
        answer = extract_answer(text, kind)
        if answer is not None:
            why = f"{disagreed}; {expert} answered"
            return Aggregate(answer, text, "escalated", done, done.finish_reason, why)
    return _vote(pair, kind, done, f"{disagreed}; {_no_answer(expert, result)}")


def _vote(
    pair: Sequence[ExpertAnswer], kind: AnswerKind, done: Completion | None, why: str
) -> Aggregate:
    """The pair's vote (the first answer on a tie); ``done``, the third expert's generation
    that gave no answer, is kept so that its tokens count."""
    usable = [a for a in pair if a.text]
    if not usable:
        return Aggregate(None, "", "none", done, reason=f"{why}; no expert of the pair answered")
    if len(usable) == 1:
        only, alone = usable[0], f"{why}; only {usable[0].expert} of the pair answered"
        return Aggregate(only.answer, only.text or "", "single", done, answer_finish(only), alone)
    voted = majority([a.answer for a in usable], kind)
    chosen = voted_answer(usable, voted, kind)
    why = f"{why}; the pair's vote: {chosen.expert}'s answer"
    return Aggregate(voted, chosen.text or "", "majority", done, answer_finish(chosen), why)


def _stated(pair: Sequence[ExpertAnswer]) -> str:
    """'a: 4, b: 5' (an expert without an answer: 'failed' or 'no answer')."""
    return ", ".join(f"{a.expert}: {a.answer or _silent(a)}" for a in pair)


def _silent(answer: ExpertAnswer) -> str:
    return "failed" if answer.error else "no answer"


def _no_answer(expert: str, result: TaskResult | None) -> str:
    """Why the third expert gave no answer, so that the pair's vote decided."""
    if result is None:
        return f"{expert} did not run"
    if result.completion is None:
        return f"{expert} failed: {result.error or 'no output'}"
    if result.completion.finish_reason == "length":
        return f"{expert} was cut at its token limit before an answer"
    return f"{expert}'s output states no answer"
