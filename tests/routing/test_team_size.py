"""k: a number, or auto; the team rule learned from cross-fitted validation estimates."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.errors import RoutingError
from router_svc.routing.team_size import (
    TeamRule,
    estimated_gain,
    question_seeds,
    resolve_k,
    team_added_cost,
)


@pytest.mark.parametrize(
    ("requested", "pool_k", "available", "limit", "expected"),
    [
        (None, 3, 5, None, (3, False)),
        (None, 3, 2, None, (2, False)),
        (None, 3, 5, 1, (1, False)),
        (2, 3, 5, None, (2, False)),
        (None, "auto", 5, None, (3, True)),
        (None, "auto", 2, None, (2, True)),
        ("auto", 1, 5, None, (3, True)),
        (1, "auto", 5, None, (1, False)),
        (None, "auto", 5, 1, (1, True)),
    ],
)
def test_resolve_k(
    requested: int | str | None,
    pool_k: int | str,
    available: int,
    limit: int | None,
    expected: tuple[int, bool],
) -> None:
    assert resolve_k(requested, pool_k, available, limit=limit) == expected  # type: ignore[arg-type]


def test_a_requested_k_past_the_experts_names_k() -> None:
    with pytest.raises(RoutingError, match="k must be at most 2"):
        resolve_k(3, "auto", 2)


def test_question_seeds_follow_the_seed_and_the_text() -> None:
    seeds = question_seeds(0, ["a", "b", "a"]).tolist()
    assert seeds[0] == seeds[2] != seeds[1]
    assert question_seeds(1, ["a"])[0] != seeds[0]


def test_the_gain_is_largest_where_the_team_is_close() -> None:
    p = np.array([[0.7, 0.7, 0.7, 0.1], [0.95, 0.3, 0.2, 0.1], [0.7, 0.1, 0.1, 0.9]])
    team = np.array([[0, 1, 2], [0, 1, 2], [0, 1, 2]])
    gain = estimated_gain(p, team)
    assert gain[0] == pytest.approx(0.084)
    assert gain[0] > gain[1] and gain[0] > gain[2]


def _rule() -> TeamRule:
    """100 validation questions by estimated gain: teaming the first 30 paid a point each,
    the other 70 lost or tied; each team adds 0.5 relative cost."""
    gains = np.linspace(0.06, -0.3, 100)
    realised = np.array([1.0] * 30 + [-1.0, 0.0] * 35)
    return TeamRule.learn(gains, realised, np.full(100, 0.5))


def test_the_threshold_keeps_the_questions_where_teaming_paid() -> None:
    rule = _rule()
    gains = np.linspace(0.06, -0.3, 100)
    assert rule.threshold(0.0) == pytest.approx((gains[29] + gains[30]) / 2)
    p = np.array([[0.7, 0.7, 0.7], [0.9, 0.1, 0.1]])  # gains 0.084 and -0.728
    team = np.array([[0, 1, 2], [0, 1, 2]])
    assert rule.sizes(p, team, np.zeros((2, 3)), 0.0).tolist() == [3, 1]


def test_a_gain_within_the_noise_recruits_no_team() -> None:
    """Two lucky questions out of six are no evidence that a team pays."""
    rule = TeamRule.learn(
        np.array([0.06, 0.04, 0.02, 0.0, -0.1, -0.3]),
        np.array([1.0, 1.0, -1.0, 0.0, -1.0, 0.0]),
        np.full(6, 0.5),
    )
    assert rule.threshold(0.0) == float("inf")


def test_a_cost_weight_past_the_gain_recruits_no_team() -> None:
    rule = _rule()  # 30 teamed questions realised 30 points for 15 added cost
    assert rule.threshold(1.0) == rule.threshold(0.0)
    assert rule.threshold(1.5) == float("inf")
    p = np.array([[0.7, 0.7, 0.7]])
    team = np.array([[0, 1, 2]])
    # a mean gain of 1 point per team against lambda 1.0 x 2 added relative cost: alone
    assert rule.sizes(p, team, np.full((1, 3), 1.0), 1.0).tolist() == [1]
    assert rule.sizes(p, team, np.full((1, 3), 0.25), 1.0).tolist() == [3]


def test_no_evidence_never_teams() -> None:
    rule = TeamRule.never()
    team = np.array([[0, 1, 2]])
    assert rule.sizes(np.full((1, 3), 0.5), team, np.zeros((1, 3)), 0.0).tolist() == [1]


def test_added_cost_counts_each_other_member_once() -> None:
    cost = np.array([[0.5, 0.25, 1.0]])
    assert team_added_cost(np.array([[0, 1, 2]]), cost).tolist() == [1.25]
    assert team_added_cost(np.array([[0, 0, 1]]), cost).tolist() == [0.25]
