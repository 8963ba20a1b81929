"""An escalating team's settling: the pair's shared answer stands; where the pair disagrees the
third expert's answer is final; where the third states none, the pair's vote decides.

Pure logic over hand-built answers and task results (no engine is involved in these rules).
"""

from __future__ import annotations

import pytest

from router_svc.aggregation.aggregator import ExpertAnswer, expert_answers
from router_svc.aggregation.escalation import escalates, settle_escalation
from router_svc.execution.plan import Task, TaskKey
from router_svc.execution.runner import TaskResult
from router_svc.pipeline import expert_task
from router_svc.results import QuestionResult
from router_svc.routing.recruiter import Assignment
from router_svc.types import Completion, GenerationRequest, Question

QUESTION = Question("q1", "What is 2 + 2?", "4")
THIRD = "gpt-big"


def pair(first: str | None, second: str | None) -> list[ExpertAnswer]:
    """The pair's answers as the pipeline extracts them (None: that expert failed)."""
    results = []
    for name, text in (("a", first), ("b", second)):
        task = Task(TaskKey(QUESTION.id, name), name, GenerationRequest.user(QUESTION.question))
        done = Completion(text, 12, 6, 0.1, expert=name) if text is not None else None
        results.append(TaskResult(task, done, None if done else "BackendTimeout: slow"))
    return expert_answers(results, "number")


def third(text: str | None, finish_reason: str = "stop") -> TaskResult:
    """The third expert's result on its plain-question task (None: it failed)."""
    task = expert_task(QUESTION, THIRD, role="escalate")
    done = Completion(text, 30, 8, 0.4, finish_reason, THIRD) if text is not None else None
    return TaskResult(task, done, None if done else "BackendHTTPError: 502")


def test_an_agreeing_pair_stands_and_the_third_is_not_asked() -> None:
    given = pair("2 + 2 = 4. The answer is 4.", "The answer is 4.0")

    final = settle_escalation(given, "number", THIRD, None)

    assert not escalates(given, "number")
    assert (final.answer, final.method, final.completion) == ("4", "unanimous", None)
    assert final.text == "2 + 2 = 4. The answer is 4."
    assert final.reason == f"the pair gave the same answer; {THIRD} was not needed"


@pytest.mark.parametrize(
    ("first", "second", "stated"),
    [
        ("The answer is 4.", "The answer is 5.", "a: 4, b: 5"),
        ("The answer is 4.", None, "a: 4, b: failed"),
        ("I am not sure.", "The answer is 4.", "a: no answer, b: 4"),
    ],
    ids=["differ", "one failed", "one states none"],
)
def test_a_disagreeing_pair_escalates_and_the_third_answer_is_final(
    first: str | None, second: str | None, stated: str
) -> None:
    given = pair(first, second)
    result = third("<think>4 or 5?</think>Counting: 2 and 2 make 4. The answer is 4.")

    final = settle_escalation(given, "number", THIRD, result)

    assert escalates(given, "number")
    assert (final.answer, final.method) == ("4", "escalated")
    assert final.text == "Counting: 2 and 2 make 4. The answer is 4."
    assert final.completion is result.completion
    assert final.reason == f"the pair disagreed ({stated}); {THIRD} answered"


def test_the_third_experts_task_is_the_plain_question() -> None:
    task = third("The answer is 4.").task
    assert task.key == TaskKey(QUESTION.id, THIRD, "escalate", 0)
    assert task.key != expert_task(QUESTION, THIRD).key  # never one of the experts' own keys
    assert task.request == expert_task(QUESTION, THIRD).request
    assert task.request.messages[-1].content == QUESTION.question


@pytest.mark.parametrize(
    ("result", "why"),
    [
        (third("I cannot tell."), f"{THIRD}'s output states no answer"),
        (third(None), f"{THIRD} failed: BackendHTTPError: 502"),
        (third("<think>Maybe", "length"), f"{THIRD} was cut at its token limit"),
        (None, f"{THIRD} did not run"),
    ],
    ids=["no answer", "failed", "cut", "not run"],
)
def test_without_the_third_answer_the_pairs_vote_decides(
    result: TaskResult | None, why: str
) -> None:
    given = pair("The answer is 5.", "The answer is 4.")

    final = settle_escalation(given, "number", THIRD, result)

    assert (final.answer, final.method) == ("5", "majority")  # a tie goes to the first
    assert final.text == "The answer is 5."
    assert final.reason.startswith(f"the pair disagreed (a: 5, b: 4); {why}")
    assert final.reason.endswith("the pair's vote: a's answer")
    spent = result.completion if result is not None else None
    assert final.completion is spent  # its tokens count even without an answer


def test_a_failed_pair_and_a_silent_third_leave_one_or_no_answer() -> None:
    one = settle_escalation(pair("The answer is 4.", None), "number", THIRD, third("Hmm."))
    assert (one.answer, one.method) == ("4", "single")
    assert one.reason.endswith("only a of the pair answered")
    none = settle_escalation(pair(None, None), "number", THIRD, third(None))
    assert (none.answer, none.method, none.text) == (None, "none", "")
    assert "no expert of the pair answered" in none.reason


def test_the_record_names_the_third_expert_and_counts_its_tokens() -> None:
    given = pair("The answer is 4.", "The answer is 5.")
    final = settle_escalation(given, "number", THIRD, third("The answer is 4."))
    routed = Assignment("q1", [], [], [], ["a", "b"], False, escalate_to=THIRD)

    record = QuestionResult(QUESTION, routed, given, final).to_json()

    assert record["final"]["method"] == "escalated"
    assert record["final"]["aggregator"] == THIRD
    assert record["routing"]["escalate_to"] == THIRD
    assert record["tokens"] == {"prompt": 12 + 12 + 30, "completion": 6 + 6 + 8, "total": 74}
