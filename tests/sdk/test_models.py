"""The SDK's records read what the server writes: an escalating team's decision and answer."""

from __future__ import annotations

from router_svc.aggregation.aggregator import ExpertAnswer
from router_svc.aggregation.escalation import settle_escalation
from router_svc.api.service import router_info
from router_svc.results import QuestionResult
from router_svc.routing import recruiter
from router_svc.routing.recruiter import Assignment
from router_svc.sdk.models import Answer, ExpertScore, RouteDecision, RouterInfo
from router_svc.types import Question

QUESTION = Question("q1", "What is 2 + 2?", "4")
TEAM = Assignment(
    "q1", [], [], [], ["a", "b"], False, escalate_to="c",
    option=recruiter.ExpertScore("a + b > c", None, None, 0.01, 0.8, probability=0.81),
)  # fmt: skip
PAIR = [ExpertAnswer("a", "The answer is 4.", "4"), ExpertAnswer("b", "The answer is 5.", "5")]


def test_an_escalating_decision_reads_back_typed() -> None:
    decision = RouteDecision.model_validate(
        {"suite": "tiny", "question": QUESTION.question, "options": {"k": 2}, "tagger": "keyword",
         "assignment": TEAM.to_json()}
    )  # fmt: skip

    assert decision.chosen == ["a", "b"]
    assert decision.assignment.escalate_to == "c"
    assert isinstance(decision.assignment.option, ExpertScore)
    assert decision.assignment.option.expert == "a + b > c"
    assert decision.assignment.option.probability == 0.81


def test_an_escalated_answer_says_who_answered_and_why() -> None:
    final = settle_escalation(PAIR, "number", "c", None)  # the third did not run: the pair's vote
    result = QuestionResult(QUESTION, TEAM, PAIR, final)

    info = RouterInfo.model_validate(router_info("tiny", result))
    answer = Answer.model_validate(result.to_json())

    assert info.aggregation is not None and info.aggregation.method == "majority"
    assert (
        info.aggregation.reason
        == "the pair disagreed (a: 4, b: 5); c did not run; the pair's vote: a's answer"
    )
    assert answer.routing is not None and answer.routing.escalate_to == "c"
    assert answer.final is not None and answer.final.reason == info.aggregation.reason


def test_a_decision_without_escalation_has_none() -> None:
    plain = Assignment("q1", [], [], [], ["a"], False)
    decision = RouteDecision.model_validate(
        {"suite": "tiny", "question": "?", "options": {"k": 1}, "tagger": "keyword",
         "assignment": plain.to_json()}
    )  # fmt: skip
    assert (decision.assignment.escalate_to, decision.assignment.option) == (None, None)
