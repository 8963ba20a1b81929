"""perf/sweep_budget.py's pure parts: the refined sweep, the AUC, the budget pick and the
per-task frontier."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from perf.sweep_budget import auc, best_at_budget, multiplier_sweep, refined


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


def test_the_multiplier_sweep_reaches_every_vertex_of_the_per_task_frontier() -> None:
    """Task 0: 10 right for $10 or 8 for $1; task 1: 5 right for $3 or for $1. The frontier's
    vertices: the accurate option of task 0 with the cheap one of task 1, then both cheap."""
    right = np.array([[10.0, 8.0], [5.0, 5.0]])
    spend = np.array([[10.0, 1.0], [3.0, 1.0]])
    points = {(s, r): tuple(int(o) for o in pick) for s, r, pick in multiplier_sweep(right, spend)}
    assert points[11.0, 15.0] == (0, 1)
    assert points[2.0, 13.0] == (1, 1)
    assert max(r for _, r in points) == 15.0
