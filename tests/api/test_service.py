"""The routing explanation of an answer: an escalating team's headers and ``router`` field."""

from __future__ import annotations

from router_svc.aggregation.aggregator import Aggregate, ExpertAnswer
from router_svc.api.service import router_headers, router_info
from router_svc.results import QuestionResult
from router_svc.routing.recruiter import Assignment, ExpertScore
from router_svc.types import Completion, Question

QUESTION = Question("q1", "What is 2 + 2?", "4")
TEAM = Assignment(
    "q1", [], [], [ExpertScore("a", None, None, 0.0, 0.6, probability=0.6)], ["a", "b"], False,
    router="knn-shrinkage", escalate_to="c",
    option=ExpertScore("a + b > c", None, None, 0.01, 0.8, probability=0.81),
)  # fmt: skip
PAIR = [
    ExpertAnswer(
        "a", "The answer is 4.", "4", completion=Completion("The answer is 4.", 9, 5, 0.1)
    ),
    ExpertAnswer(
        "b", "The answer is 5.", "5", completion=Completion("The answer is 5.", 9, 5, 0.1)
    ),
]
ESCALATED = Aggregate(
    "4", "Two and two: 4. The answer is 4.", "escalated",
    Completion("Two and two: 4. The answer is 4.", 20, 11, 0.3, expert="c"),
    reason="the pair disagreed (a: 4, b: 5); c answered",
)  # fmt: skip


def test_the_headers_name_the_pair_the_third_and_whether_it_answered() -> None:
    decided = router_headers("tiny", TEAM, {"route": 0.01})
    assert decided["x-router-experts"] == "a,b"
    assert decided["x-router-escalate-to"] == "c"
    assert "x-router-escalated" not in decided  # not answered yet (/v1/route, a stream)

    assert router_headers("tiny", TEAM, {}, ESCALATED)["x-router-escalated"] == "true"
    agreed = Aggregate("4", "The answer is 4.", "unanimous")
    assert router_headers("tiny", TEAM, {}, agreed)["x-router-escalated"] == "false"


def test_a_team_that_does_not_escalate_has_no_escalation_headers() -> None:
    plain = Assignment("q1", [], [], [], ["a", "b"], False)
    headers = router_headers("tiny", plain, {}, ESCALATED)
    assert not {"x-router-escalate-to", "x-router-escalated"} & headers.keys()


def test_the_router_field_explains_the_escalation() -> None:
    info = router_info("tiny", QuestionResult(QUESTION, TEAM, PAIR, ESCALATED))

    assert info["assignment"]["chosen"] == ["a", "b"]
    assert info["assignment"]["escalate_to"] == "c"
    assert info["assignment"]["option"]["expert"] == "a + b > c"
    assert info["aggregation"] == {
        "method": "escalated",
        "aggregator": "c",
        "answer": "4",
        "reason": "the pair disagreed (a: 4, b: 5); c answered",
    }
    assert info["usage"]["aggregator"] == {
        "prompt_tokens": 20, "completion_tokens": 11, "total_tokens": 31,
    }  # fmt: skip
