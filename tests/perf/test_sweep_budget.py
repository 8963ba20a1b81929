"""perf/sweep_budget.py's pure parts: the refined sweep, the AUC and the budget pick."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from perf.sweep_budget import auc, best_at_budget, refined


def test_the_refined_sweep_lists_every_choice_between_two_grid_lambdas() -> None:
    """Question i switches from expert 0 to expert 1 once lambda passes its threshold: the
    two-point grid sees none of the 50 switches, the refined sweep each one alone."""
    thresholds = np.geomspace(0.01, 1.0, 50)

    def choose(weight: float) -> np.ndarray:
        return (weight > thresholds).astype(int)

    chosen = refined(choose, [0.001, 10.0])
    ordered = [chosen[w] for w in sorted(chosen)]
    assert all(int((a != b).sum()) <= 1 for a, b in pairwise(ordered))
    assert {int(c.sum()) for c in ordered} == set(range(51))


@pytest.mark.parametrize(
    ("score", "positive", "expected"),
    [
        ([0.9, 0.8, 0.1, 0.2], [True, True, False, False], 1.0),
        ([0.1, 0.2, 0.9, 0.8], [True, True, False, False], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [True, True, False, False], 0.5),
        ([0.5, 0.5], [True, True], None),
    ],
)
def test_auc(score: list[float], positive: list[bool], expected: float | None) -> None:
    assert auc(np.array(score), np.array(positive)) == expected


def test_the_budget_pick_is_the_most_accurate_affordable_point_then_the_cheapest() -> None:
    points = [(0.0, 0.88, 0.005), (0.05, 0.87, 0.0024), (0.06, 0.87, 0.0020), (0.1, 0.8, 0.001)]
    assert best_at_budget(points) == {"lambda": 0.06, "accuracy": 0.87, "cost_per_1k": 2.0}
