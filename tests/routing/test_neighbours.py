"""Nearest validation questions and the kNN estimates."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.routing.neighbours import knn_choice, nearest, neighbour_estimates


def _unit(rows: list[list[float]]) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


REFERENCE = _unit([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])


def test_nearest_best_first_and_leave_one_out() -> None:
    rows, sims = nearest(_unit([[1, 0.05]]), REFERENCE, 2)
    assert rows.tolist() == [[0, 1]]
    assert sims[0, 0] >= sims[0, 1]
    rows, _ = nearest(REFERENCE, REFERENCE, 1, exclude_self=True)
    assert rows[:, 0].tolist() == [1, 0, 3, 2]
    with pytest.raises(ValueError, match="not enough"):
        nearest(REFERENCE[:1], REFERENCE[:1], 1, exclude_self=True)


def test_estimates_and_knn_choice() -> None:
    scores = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    rows = np.array([[0, 1], [2, 3]])
    sims = np.array([[1.0, 1.0], [1.0, -1.0]])
    prior = np.array([0.5, 0.5])
    estimate = neighbour_estimates(rows, sims, scores, prior=prior, pseudo=2.0)
    np.testing.assert_allclose(estimate, [[3 / 4, 1 / 4], [1 / 3, 2 / 3]])
    assert knn_choice(rows, scores, prior).tolist() == [0, 1]
    tie = np.array([[0, 2]])
    assert knn_choice(tie, scores, np.array([0.4, 0.6])).tolist() == [1]
