"""The smoothed skill recruiter on a 3-skill x 2-expert profile, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.errors import RoutingError
from router_svc.routing.profiles import ProfileMatrix
from router_svc.routing.smoothed import SmoothedSkillRecruiter

# seen 10 / 10 / 2 per skill; e0 right 9, 2, 2 times; e1 right 5, 8, 0 times.
SEEN = np.array([[10.0, 10.0], [10.0, 10.0], [2.0, 2.0]])
RIGHT = np.array([[9.0, 5.0], [2.0, 8.0], [2.0, 0.0]])
MATRIX = ProfileMatrix(
    experts=["e0", "e1"],
    skills=["algebra", "history", "rare"],
    values=2 * RIGHT - SEEN,
    seen=SEEN,
    accuracy=np.array([13 / 22, 13 / 22]),
    competency=(2 * RIGHT - SEEN).sum(axis=0),
)


def test_smoothed_accuracies() -> None:
    recruiter = SmoothedSkillRecruiter(MATRIX, pseudo_count=2.0)
    base = 13 / 22
    expected = (RIGHT + 2 * base) / (SEEN + 2)
    np.testing.assert_allclose(recruiter.smoothed(), expected)
    unsmoothed = SmoothedSkillRecruiter(MATRIX, pseudo_count=0.0).smoothed()
    np.testing.assert_allclose(unsmoothed, RIGHT / SEEN)


def test_mean_pooled_and_fallback() -> None:
    weights = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    mean = SmoothedSkillRecruiter(MATRIX, pseudo_count=0.0).score(weights)
    np.testing.assert_allclose(mean.score[0], [0.9, 0.5])
    np.testing.assert_allclose(mean.score[1], [1.0, 0.0])  # two questions decide, unsmoothed
    np.testing.assert_allclose(mean.score[2], [(0.9 + 0.2) / 2, (0.5 + 0.8) / 2])
    np.testing.assert_allclose(mean.score[3], MATRIX.accuracy)
    assert mean.fallback.tolist() == [False, False, False, True]
    smoothed = SmoothedSkillRecruiter(MATRIX, pseudo_count=10.0).score(weights)
    assert smoothed.score[1, 0] < 0.7  # the rare skill's 2/2 is pulled toward 13/22
    pooled = SmoothedSkillRecruiter(MATRIX, pseudo_count=0.0, combine="pooled").score(weights)
    np.testing.assert_allclose(pooled.score[2], [11 / 20, 13 / 20])


def test_bad_arguments() -> None:
    with pytest.raises(RoutingError, match="pseudo_count"):
        SmoothedSkillRecruiter(MATRIX, pseudo_count=-1.0)
    with pytest.raises(RoutingError, match="combine"):
        SmoothedSkillRecruiter(MATRIX, combine="max")  # type: ignore[arg-type]
