"""A routing decision written to the stage store and read back is the same decision: what the
tagger spent, the method, how its draws are sampled, and an escalating team's third expert."""

from __future__ import annotations

import json

import pytest

from router_svc.batch.stages import assignment_of, routing_json
from router_svc.routing.recruiter import Assignment, ExpertScore
from router_svc.types import Completion

SPENT = Completion("", prompt_tokens=900, completion_tokens=70, seconds=1.5, expert="smol-tagger")


@pytest.mark.parametrize("tagging", [SPENT, None])
def test_the_tagger_spending_survives_the_round_trip(tagging: Completion | None) -> None:
    assignment = Assignment("q1", ["math"], [], [], ["smol-math"], False, tagging=tagging)

    assert assignment_of(routing_json(assignment)).tagging == tagging


def test_a_sampled_draw_survives_the_round_trip() -> None:
    drawn = Assignment(
        "q1", ["math"], [], [], ["a"], False, router="symbolic-moe", draws=("a", "a", "a"),
        temperature=0.7, always_aggregate=True, seed=1234,
    )  # fmt: skip

    assert assignment_of(routing_json(drawn)) == drawn


def test_an_escalating_team_survives_the_round_trip() -> None:
    option = ExpertScore(
        "a + b > c", None, None, cost_penalty=0.02, score=0.81, probability=0.83,
        evidence={"task": {"estimate": 0.8, "questions": 120.0}},
    )  # fmt: skip
    team = Assignment(
        "q1", ["math"], [], [ExpertScore("a", None, None, 0.0, 0.6, probability=0.6)],
        ["a", "b"], False, router="knn-shrinkage", escalate_to="c", option=option,
    )  # fmt: skip

    assert assignment_of(routing_json(team)) == team


def test_a_record_from_before_escalating_teams_reads_as_one_that_aggregates() -> None:
    record = json.loads(routing_json(Assignment("q1", [], [], [], ["a", "b"], False)))
    del record["escalate_to"], record["option"]

    restored = assignment_of(json.dumps(record))

    assert (restored.escalate_to, restored.option) == (None, None)
