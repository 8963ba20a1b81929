"""A routing decision written to the stage store and read back is the same decision: what the
tagger spent, the method, and how its draws are sampled."""

from __future__ import annotations

import pytest

from router_svc.batch.stages import assignment_of, routing_json
from router_svc.routing.recruiter import Assignment
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
