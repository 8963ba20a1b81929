"""The knn-shrinkage method: its estimator on small arrays, its knob search and its choice."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.config.routers import KnnShrinkageOptions
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter
from router_svc.routing.knob_search import GRID, log_likelihood, select_knobs
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.shrinkage import ShrinkageKnobs, ShrinkageModel, membership
from router_svc.routing.suite import suite_from_table
from router_svc.tagging.hashing import HashingEmbedder
from tests.support import fit_router


def _unit(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


def two_regions(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Questions near axis 0 (expert 0 right, expert 1 wrong) and near axis 1 (the reverse);
    expert 1 costs ten times what expert 0 costs."""
    rng = np.random.default_rng(seed)
    half = n // 2
    vectors = np.zeros((n, 3))
    vectors[:half, 0], vectors[half:, 1] = 1.0, 1.0
    vectors += rng.normal(0, 0.05, vectors.shape)
    scores = np.zeros((n, 2))
    scores[:half, 0], scores[half:, 1] = 1.0, 1.0
    costs = np.tile([0.001, 0.01], (n, 1))
    return _unit(vectors), scores, costs


def test_a_question_is_judged_by_its_neighbours() -> None:
    vectors, scores, costs = two_regions()
    model = ShrinkageModel.fit(vectors, scores, costs, ShrinkageKnobs(neighbours=5, clusters=2))
    p, cost = model.estimate(_unit(np.array([[1.0, 0.02, 0.0], [0.02, 1.0, 0.0]])))
    assert p[0, 0] > 0.9 > 0.1 > p[0, 1]
    assert p[1, 1] > 0.9 > 0.1 > p[1, 0]
    assert cost[0] == pytest.approx([0.001, 0.01])


def test_the_estimate_is_the_formula_on_a_small_case() -> None:
    """One cluster (the global level), two neighbours, hand-computed."""
    vectors = _unit(np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]))
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    knobs = ShrinkageKnobs(neighbours=2, kernel_width=0.5, neighbour_pseudo=2.0, clusters=1)
    model = ShrinkageModel.fit(vectors, scores, np.zeros((3, 2)), knobs)
    query = _unit(np.array([[1.0, 0.0]]))
    overall = (scores.sum(axis=0) + 1) / (3 + 2)  # [0.4, 0.8]
    weights = np.exp((np.array([1.0, 0.8]) - 1.0) / 0.5)  # rows 0 and 1
    expected = (weights @ scores[:2] + 2.0 * overall) / (weights.sum() + 2.0)
    assert model.estimate(query)[0][0] == pytest.approx(expected)


def test_a_question_far_from_every_neighbour_falls_back_to_its_prior() -> None:
    vectors, scores, costs = two_regions()
    knobs = ShrinkageKnobs(neighbours=5, kernel_width=0.05, neighbour_pseudo=1.0, clusters=1)
    model = ShrinkageModel.fit(vectors, scores, costs, knobs)
    far = _unit(np.array([[0.0, 0.0, 1.0]]))
    overall = (scores.sum(axis=0) + 1) / (len(scores) + 2)
    assert model.estimate(far)[0][0] == pytest.approx(overall, abs=1e-6)


def test_soft_membership_rows_sum_to_one_and_favour_the_nearest_centroid() -> None:
    centroids = _unit(np.array([[1.0, 0.0], [0.0, 1.0]]))
    member = membership(_unit(np.array([[1.0, 0.1], [0.5, 0.5]])), centroids, 0.05)
    assert member.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert member[0, 0] > 0.99
    assert member[1] == pytest.approx([0.5, 0.5])


def test_the_knob_search_improves_the_held_out_fit_and_is_deterministic() -> None:
    vectors, scores, costs = two_regions(n=80)
    start = ShrinkageKnobs(neighbours=200, kernel_width=0.5, neighbour_pseudo=100.0, clusters=1)
    first = select_knobs(vectors, scores, costs, start=start, folds=4, seed=1, rounds=1)
    second = select_knobs(vectors, scores, costs, start=start, folds=4, seed=1, rounds=1)
    assert first == second
    assert first.knobs != start
    for name in GRID:
        assert getattr(first.knobs, name) in GRID[name] or getattr(first.knobs, name) == getattr(
            start, name
        )
    assert first.log_likelihood > log_likelihood(np.full(scores.shape, 0.5), scores)


def _table(vectors: np.ndarray, scores: np.ndarray, costs: np.ndarray) -> OutcomeTable:
    n = len(scores)
    return OutcomeTable(
        ids=[f"q{i}" for i in range(n)],
        questions=[f"question {i}" for i in range(n)],
        categories=["(none)"] * n,
        experts=["cheap", "dear"],
        scores=scores,
        costs=costs,
        tokens=np.zeros_like(scores),
    )


def test_the_router_trades_expected_score_against_cost() -> None:
    vectors, scores, costs = two_regions(n=80)
    suite = suite_from_table(
        _table(vectors, scores, costs), [["topic"]] * 80, HashingEmbedder(16), vectors
    )
    router = fit_router(suite, "knn-shrinkage")
    assert isinstance(router, KnnShrinkageRouter)
    queries = _unit(np.array([[0.02, 1.0, 0.0]]))  # where only the dear expert is right

    def chosen(weight: float) -> list[str]:
        options = RecruitOptions(k=1, cost_weight=weight)
        return router.assign(["q"], [[]], [[]], options, vectors=queries)[0].chosen

    assert chosen(0.0) == ["dear"]
    assert chosen(10.0) == ["cheap"]
    decision = router.assign(["q"], [[]], [[]], RecruitOptions(k=2), vectors=queries)[0]
    assert [s.expert for s in decision.scores] == ["cheap", "dear"]
    assert decision.scores[1].relevance > 0.8 > 0.2 > decision.scores[0].relevance


def test_untuned_options_are_the_knobs_it_runs_with() -> None:
    vectors, scores, costs = two_regions(n=40)
    suite = suite_from_table(
        _table(vectors, scores, costs), [["topic"]] * 40, HashingEmbedder(16), vectors
    )
    options = KnnShrinkageOptions(tuned=False, neighbours=7, clusters=3)
    router = fit_router(suite, "knn-shrinkage", options)
    assert isinstance(router, KnnShrinkageRouter)
    assert (router.knobs.neighbours, router.knobs.clusters) == (7, 3)
    assert router.model.centroids.shape == (3, 3)


def test_the_router_needs_question_vectors() -> None:
    vectors, scores, costs = two_regions(n=40)
    suite = suite_from_table(
        _table(vectors, scores, costs), [["topic"]] * 40, HashingEmbedder(16), vectors
    )
    router = fit_router(suite, "knn-shrinkage", KnnShrinkageOptions(tuned=False))
    with pytest.raises(ValueError, match="needs one question vector per query"):
        router.assign(["q"], [[]], [[]], RecruitOptions(k=1))
