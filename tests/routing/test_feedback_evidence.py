"""Feedback rows added to the knn-shrinkage estimator: incrementally, as a full refit would."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.routing.coupling import Coupling
from router_svc.routing.evidence import Evidence, SkillRows
from router_svc.routing.shrinkage import ShrinkageKnobs, ShrinkageModel


def _unit(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


def _evidence(n: int, seed: int, *, tasks: bool, hide: bool) -> Evidence:
    rng = np.random.default_rng(seed)
    scores = (rng.random((n, 3)) < [0.3, 0.6, 0.8]).astype(float)
    costs = np.tile([0.001, 0.002, 0.01], (n, 1))
    if hide:  # bandit feedback: one expert's outcome per row
        shown = rng.integers(0, 3, n)
        mask = np.arange(3)[None, :] != shown[:, None]
        scores[mask], costs[mask] = np.nan, np.nan
    matches = [[(f"s{rng.integers(0, 4)}", float(rng.random()) + 0.1)] for _ in range(n)]
    skills = SkillRows.of_matches(matches, {f"s{i}": i for i in range(4)})
    return Evidence(
        _unit(rng.normal(size=(n, 5))),
        scores,
        costs,
        skills,
        rng.integers(0, 2, n).astype(np.intp) if tasks else None,
    )


KNOBS = ShrinkageKnobs(neighbours=8, clusters=3, skill_pseudo=5.0)


@pytest.mark.parametrize("hide", [False, True])
def test_added_rows_estimate_as_a_refit_does(hide: bool) -> None:
    base = ShrinkageModel.fit(_evidence(80, 0, tasks=True, hide=False), 4, KNOBS)
    extra = _evidence(12, 1, tasks=False, hide=hide)
    queries = _unit(np.random.default_rng(2).normal(size=(6, 5)))
    skills = SkillRows.of_matches([[("s1", 0.5)]] * 6, {f"s{i}": i for i in range(4)})
    quick = base.added(extra).estimate(queries, skills)
    refit = base.with_evidence(extra).estimate(queries, skills)
    before = base.estimate(queries, skills)
    assert quick.probability == pytest.approx(refit.probability)
    assert quick.cost == pytest.approx(refit.cost)
    assert not np.allclose(quick.probability, before.probability)


def test_a_row_revealing_one_expert_counts_for_that_expert_only() -> None:
    base = ShrinkageModel.fit(_evidence(40, 0, tasks=False, hide=False), 4, KNOBS)
    row = _evidence(1, 3, tasks=False, hide=False)
    scores = np.array([[1.0, np.nan, np.nan]])
    one = Evidence(row.vectors, scores, np.array([[0.001, np.nan, np.nan]]), row.skills)
    after = base.added(one)
    assert after.overall.weight[0] == pytest.approx(base.overall.weight[0] + [1, 0, 0])
    assert after.overall.probability[0, 1:] == pytest.approx(base.overall.probability[0, 1:])
    assert after.overall.probability[0, 0] > base.overall.probability[0, 0]


def test_rows_naming_a_task_refit_the_task_level() -> None:
    base = ShrinkageModel.fit(_evidence(60, 0, tasks=True, hide=False), 4, KNOBS)
    extra = _evidence(10, 4, tasks=True, hide=True)
    queries = _unit(np.random.default_rng(5).normal(size=(4, 5)))
    assert base.added(extra).estimate(queries).probability == pytest.approx(
        base.with_evidence(extra).estimate(queries).probability
    )


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
