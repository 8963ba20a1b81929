"""Profiling grades what serving uses: the text without its reasoning block (strip_reasoning)."""

from __future__ import annotations

import pytest

from router_svc.aggregation.aggregator import ExpertAnswer
from router_svc.execution.plan import Task, TaskKey
from router_svc.execution.runner import TaskResult
from router_svc.profiling.aggregator_choice import AggregationItem, verdict_record
from router_svc.profiling.build import output_record
from router_svc.types import Completion, GenerationRequest, Question

QUESTION = Question("q1", "What is 2 + 3?", "5")

# (raw text, what serving extracts, correct)
REASONING = [
    ("<think>Maybe \\boxed{4}? No, 2 + 3 is 5.</think>The answer is 5.", "5", True),
    ("<think>The answer is 5, I think. Let me check that again", None, False),  # cut in <think>
]


def result(text: str, role: str) -> TaskResult:
    key = TaskKey(QUESTION.id, "e", role)
    return TaskResult(Task(key, "e", GenerationRequest.user("q")), Completion(text, 10, 10, 0.1))


@pytest.mark.parametrize(("text", "answer", "correct"), REASONING)
def test_expert_outputs_are_graded_without_reasoning(
    text: str, answer: str | None, correct: bool
) -> None:
    record = output_record(QUESTION, result(text, "expert"), "key")
    assert (record["answer"], record["correct"]) == (answer, correct)
    assert record["text"] == text  # the raw output stays in the audit trail


@pytest.mark.parametrize(("text", "answer", "correct"), REASONING)
def test_aggregator_verdicts_are_graded_without_reasoning(
    text: str, answer: str | None, correct: bool
) -> None:
    responses = [ExpertAnswer("a", "The answer is 5.", "5"), ExpertAnswer("b", "It is 4.", "4")]
    item = AggregationItem(QUESTION, responses, [True, False])
    record = verdict_record(item, "agg", result(text, "aggregate"))
    assert (record["answer"], record["correct"]) == (answer, correct)
