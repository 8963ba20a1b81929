"""learn's array-built profiles equal build_profiles' profiles of one Outcome per cell."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.routing.learn import table_profiles
from router_svc.routing.profiles import Outcome, build_profiles


def _table(questions: int, experts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    rng = np.random.default_rng(questions)
    scores = rng.random((questions, experts))
    scores[rng.random(scores.shape) < 0.5] = 1.0  # graded and 0/1 outcomes mixed
    costs = rng.random(scores.shape) / 1000
    tokens = rng.integers(0, 900, scores.shape)
    pool = ["algebra", "geometry", "organic chemistry", "logic", "algebra "]
    tags = [list(rng.choice(pool, size=int(rng.integers(0, 4)))) for _ in range(questions)]
    return scores, costs, tokens, tags


@pytest.mark.parametrize("with_costs", [True, False])
@pytest.mark.parametrize("questions", [0, 1, 400])
def test_table_profiles_equal_the_outcome_profiles(questions: int, with_costs: bool) -> None:
    scores, costs, tokens, tags = _table(questions, 4)
    experts = ["a", "b", "c", "d"]
    ids = [f"q{row}" for row in range(questions)]
    outcomes = [
        Outcome(
            ids[row],
            expert,
            float(scores[row, column]),
            completion_tokens=int(tokens[row, column]) if with_costs else 0,
            cost=float(costs[row, column]) if with_costs else None,
        )
        for row in range(questions)
        for column, expert in enumerate(experts)
    ]
    expected = build_profiles(outcomes, dict(zip(ids, tags, strict=True)), experts)
    built = table_profiles(
        experts,
        scores,
        tags,
        costs=costs if with_costs else None,
        tokens=tokens if with_costs else None,
    )
    assert built == expected
    assert [list(p.skills) for p in built.values()] == [list(p.skills) for p in expected.values()]
