"""The knn-shrinkage method: its estimator on small arrays, its knob search and its choice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from router_svc.config.routers import KnnShrinkageOptions
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.evidence import Evidence, SkillRows
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter
from router_svc.routing.knob_search import GRID, fold_families, select_knobs
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.shrinkage import ShrinkageKnobs, ShrinkageModel, membership
from router_svc.routing.suite import suite_from_table
from router_svc.tagging.hashing import HashingEmbedder
from tests.support import fit_router

OFF = math.inf


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


def _evidence(
    vectors: np.ndarray,
    scores: np.ndarray,
    costs: np.ndarray,
    skills: SkillRows | None = None,
    tasks: np.ndarray | None = None,
) -> Evidence:
    return Evidence(vectors, scores, costs, skills or SkillRows.empty(len(vectors)), tasks)


def test_a_question_is_judged_by_its_neighbours() -> None:
    knobs = ShrinkageKnobs(neighbours=5, neighbour_pseudo=1.0, clusters=2)
    model = ShrinkageModel.fit(_evidence(*two_regions()), 0, knobs)
    estimate = model.estimate(_unit(np.array([[1.0, 0.02, 0.0], [0.02, 1.0, 0.0]])))
    p = estimate.probability
    assert p[0, 0] > 0.9 > 0.1 > p[0, 1]
    assert p[1, 1] > 0.9 > 0.1 > p[1, 0]
    assert estimate.cost[0] == pytest.approx([0.001, 0.01])
    assert set(estimate.levels) == {"global", "task", "cluster", "skills", "neighbours"}


def test_the_estimate_is_the_formula_on_a_small_case() -> None:
    """No task, cluster or skill level (the global one under the neighbours), two
    neighbours, hand-computed."""
    vectors = _unit(np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]))
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    knobs = ShrinkageKnobs(neighbours=2, kernel_width=0.5, neighbour_pseudo=2.0, clusters=1)
    model = ShrinkageModel.fit(_evidence(vectors, scores, np.zeros((3, 2))), 0, knobs)
    query = _unit(np.array([[1.0, 0.0]]))
    overall = (scores.sum(axis=0) + 1) / (3 + 2)  # [0.4, 0.8]
    weights = np.exp((np.array([1.0, 0.8]) - 1.0) / 0.5)  # rows 0 and 1
    expected = (weights @ scores[:2] + 2.0 * overall) / (weights.sum() + 2.0)
    assert model.estimate(query).probability[0] == pytest.approx(expected)


def test_a_question_far_from_every_neighbour_falls_back_to_its_prior() -> None:
    vectors, scores, costs = two_regions()
    knobs = ShrinkageKnobs(neighbours=5, kernel_width=0.05, neighbour_pseudo=1.0, clusters=1)
    model = ShrinkageModel.fit(_evidence(vectors, scores, costs), 0, knobs)
    far = _unit(np.array([[0.0, 0.0, 1.0]]))
    overall = (scores.sum(axis=0) + 1) / (len(scores) + 2)
    assert model.estimate(far).probability[0] == pytest.approx(overall, abs=1e-6)


def test_unknown_outcomes_count_for_nothing() -> None:
    """Rows that reveal only expert 0 move expert 0's record, never expert 1's."""
    vectors, scores, costs = two_regions(n=20)
    knobs = ShrinkageKnobs(neighbours=0, clusters=1)
    model = ShrinkageModel.fit(_evidence(vectors, scores, costs), 0, knobs)
    grown = ShrinkageModel.fit(
        _evidence(
            np.concatenate([vectors, vectors[:5]]),
            np.concatenate([scores, np.tile([[1.0, np.nan]], (5, 1))]),
            np.concatenate([costs, np.tile([[0.001, np.nan]], (5, 1))]),
        ),
        0,
        knobs,
    )
    before, after = model.overall.probability[0], grown.overall.probability[0]
    assert after[0] == pytest.approx((10 + 5 + 1) / (20 + 5 + 2))
    assert after[1] == pytest.approx(before[1])
    assert grown.overall.weight[0].tolist() == [25.0, 20.0]


def test_the_skill_level_follows_the_experts_records_on_the_question_skills() -> None:
    """Same vectors everywhere, so only the skills tell the questions apart: expert 0 is
    right on skill 'a' questions, expert 1 on skill 'b' ones."""
    n = 40
    vectors = _unit(np.ones((n, 2)))
    scores = np.zeros((n, 2))
    scores[: n // 2, 0], scores[n // 2 :, 1] = 1.0, 1.0
    index = {"a": 0, "b": 1}
    tags = [["a"]] * (n // 2) + [["b"]] * (n // 2)
    evidence = _evidence(vectors, scores, np.zeros((n, 2)), SkillRows.of_tags(tags, index))
    query = _unit(np.ones((1, 2)))
    on_b = SkillRows.of_matches([[("b", 0.9)]], index)
    with_skills = ShrinkageModel.fit(evidence, 2, ShrinkageKnobs(clusters=1, skill_pseudo=2.0))
    estimate = with_skills.estimate(query, on_b)
    assert estimate.probability[0, 1] > 0.85 > 0.15 > estimate.probability[0, 0]
    assert estimate.levels["skills"].weight[0].tolist() == [20.0, 20.0]
    without = ShrinkageModel.fit(evidence, 2, ShrinkageKnobs(clusters=1, skill_pseudo=OFF))
    assert without.estimate(query, on_b).probability[0] == pytest.approx([21 / 42, 21 / 42])


def test_the_task_level_follows_the_task_a_question_resembles() -> None:
    vectors, scores, costs = two_regions()
    tasks = np.array([0] * 30 + [1] * 30)
    knobs = ShrinkageKnobs(clusters=1, task_pseudo=1.0, membership_temperature=0.05)
    model = ShrinkageModel.fit(_evidence(vectors, scores, costs, tasks=tasks), 0, knobs)
    p = model.estimate(_unit(np.array([[1.0, 0.05, 0.0]]))).probability[0]
    assert p[0] > 0.9 > 0.1 > p[1]
    untasked = ShrinkageModel.fit(_evidence(vectors, scores, costs), 0, knobs)
    assert untasked.estimate(_unit(np.array([[1.0, 0.05, 0.0]]))).probability[0] == (
        pytest.approx([0.5, 0.5])
    )


def test_soft_membership_rows_sum_to_one_and_favour_the_nearest_centroid() -> None:
    centroids = _unit(np.array([[1.0, 0.0], [0.0, 1.0]]))
    member = membership(_unit(np.array([[1.0, 0.1], [0.5, 0.5]])), centroids, 0.05)
    assert member.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert member[0, 0] > 0.99
    assert member[1] == pytest.approx([0.5, 0.5])


def test_tasks_add_a_leave_one_task_out_fold_family() -> None:
    evidence = _evidence(*two_regions(n=40))
    assert list(fold_families(evidence, 0, None)) == ["random"]
    assert list(fold_families(evidence, 0, ["x"] * 40)) == ["random"]
    families = fold_families(evidence, 0, ["x"] * 20 + ["y"] * 20)
    assert list(families) == ["random", "category"]
    assert families["category"].fold.tolist() == [0] * 20 + [1] * 20


def test_the_knob_search_leaves_a_bad_start_and_is_deterministic() -> None:
    """A start that ignores where a question lies (one cluster, no neighbours) routes
    half the questions wrong; the search finds a level that tells the regions apart."""
    evidence = _evidence(*two_regions(n=80))
    start = ShrinkageKnobs(neighbours=0, clusters=1, skill_pseudo=OFF, task_pseudo=OFF)
    first = select_knobs(evidence, 0, start=start, folds=4, seed=1, rounds=2)
    second = select_knobs(evidence, 0, start=start, folds=4, seed=1, rounds=2)
    assert first.knobs == second.knobs
    assert (first.knobs.neighbours, first.knobs.clusters) != (0, 1)
    assert first.best.accuracy["random"] > 0.95
    start_trial = next(t for t in first.trials if t.knobs == start)
    assert start_trial.accuracy["random"] < 0.6
    assert first.best in first.trials
    objectives = [t.objective for t in first.trials]
    assert objectives == sorted(objectives, reverse=True)
    assert first.runners_up(2) and all(t.knobs != first.knobs for t in first.runners_up(2))
    for name in GRID:
        value = getattr(first.knobs, name)
        assert value in GRID[name] or value == getattr(start, name)


def test_the_knob_search_keeps_the_start_when_nothing_is_significant() -> None:
    """Pure noise: no setting can do better than chance, so nothing moves."""
    rng = np.random.default_rng(3)
    vectors = _unit(rng.normal(size=(60, 4)))
    scores = rng.integers(0, 2, size=(60, 2)).astype(float)
    evidence = _evidence(vectors, scores, np.zeros((60, 2)))
    start = ShrinkageKnobs()
    assert select_knobs(evidence, 0, start=start, folds=3, rounds=1).knobs == start


def test_the_knob_search_scores_the_decisions_at_the_cost_weights_it_is_given() -> None:
    """At lambda = 1000 every setting sends every question to the cheap expert (a tenth of
    the dear one's cost): each row's realised utility is its cheap score minus 1000 x 0.1."""
    evidence = _evidence(*two_regions(n=40))
    start = ShrinkageKnobs(clusters=2)
    dear = select_knobs(evidence, 0, start=start, folds=4, rounds=1, weights=(1000.0,))
    assert dear.best.utility["random"] == pytest.approx(0.5 - 100.0)
    assert dear.knobs == start
    free = select_knobs(evidence, 0, start=start, folds=4, rounds=1, weights=(0.0,))
    assert free.best.utility["random"] == pytest.approx(free.best.accuracy["random"])


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
    dear, cheap = decision.scores[1], decision.scores[0]
    assert dear.probability is not None and cheap.probability is not None
    assert dear.probability > 0.7 > 0.3 > cheap.probability
    assert dear.relevance is None and dear.prior is None  # it has neither
    assert dear.evidence is not None and {"global", "cluster"} <= set(dear.evidence)
    assert dear.evidence["global"]["questions"] == 80.0
    assert 0 < dear.evidence["cluster"]["questions"] < 80
    assert set(dear.evidence) <= {"global", "cluster", "neighbours"}  # no task, no skill


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
    assert router.selection is None


def test_the_router_needs_question_vectors() -> None:
    vectors, scores, costs = two_regions(n=40)
    suite = suite_from_table(
        _table(vectors, scores, costs), [["topic"]] * 40, HashingEmbedder(16), vectors
    )
    router = fit_router(suite, "knn-shrinkage", KnnShrinkageOptions(tuned=False))
    with pytest.raises(ValueError, match="needs one question vector per query"):
        router.assign(["q"], [[]], [[]], RecruitOptions(k=1))
