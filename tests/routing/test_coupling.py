"""Unknown outcomes of a bandit feedback row, filled in from how the experts go together."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.routing.coupling import Coupling
from router_svc.routing.evidence import Evidence, SkillRows


def _unit(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


def test_coupling_fills_unknown_outcomes_from_the_known_ones() -> None:
    # expert 1 is right exactly when expert 0 is; expert 2 exactly when expert 0 is wrong
    right = np.array([[1.0, 1.0, 0.0]] * 30 + [[0.0, 0.0, 1.0]] * 30)
    validation = Evidence(
        _unit(np.random.default_rng(0).normal(size=(60, 4))),
        right,
        np.tile([0.001, 0.002, 0.003], (60, 1)),
        SkillRows.empty(60),
    )
    coupling = Coupling.of(validation)
    row = Evidence(
        validation.vectors[:1],
        np.array([[0.0, np.nan, np.nan]]),
        np.array([[0.001, np.nan, np.nan]]),
        SkillRows.empty(1),
    )
    filled = coupling.completed(row)
    assert filled.scores[0, 0] == 0.0
    assert filled.scores[0, 1] < 0.1 < 0.9 < filled.scores[0, 2]
    assert filled.costs[0] == pytest.approx([0.001, 0.002, 0.003])
    estimate = np.array([[0.5, 0.6, 0.7]])
    assert coupling.completed(row, estimate, strength=0.0).scores[0, 1:] == pytest.approx(
        [0.6, 0.7]
    )
    half = coupling.completed(row, estimate, strength=0.5).scores[0, 1:]
    assert half == pytest.approx((filled.scores[0, 1:] + [0.6, 0.7]) / 2)
