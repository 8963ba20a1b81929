"""A routing decision written to the stage store and read back keeps what the tagger spent."""

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
