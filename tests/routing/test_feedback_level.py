"""The feedback level: graded production answers correcting the validation estimate."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from router_svc.errors import ConfigError
from router_svc.evaluation.online import OnlineOptions
from router_svc.routing.evidence import Evidence, SkillRows
from router_svc.routing.feedback_level import FeedbackKnobs, FeedbackLevel
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter
from router_svc.routing.profiles import ProfileMatrix
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.shrinkage import ShrinkageKnobs, ShrinkageModel


def _unit(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


def _near(axis: int, n: int, seed: int) -> np.ndarray:
    vectors = np.zeros((n, 3))
    vectors[:, axis] = 1.0
    return _unit(vectors + np.random.default_rng(seed).normal(0, 0.05, vectors.shape))


def _validation() -> Evidence:
    """Questions near axes 0 and 1; expert 0 is right on 80 % of them, expert 1 on 40 %
    (correlated: expert 1 is right only where expert 0 is)."""
    n = 100
    vectors = np.concatenate([_near(0, n // 2, 0), _near(1, n // 2, 1)])
    first = np.arange(n) % 5 != 0
    scores = np.stack([first, first & (np.arange(n) % 2 == 0)], axis=1).astype(float)
    return Evidence(vectors, scores, np.tile([0.001, 0.002], (n, 1)), SkillRows.empty(n))


def _model() -> ShrinkageModel:
    return ShrinkageModel.fit(_validation(), 0, ShrinkageKnobs(clusters=2, task_pseudo=np.inf))


def _rows(n: int, scores: list[float], axis: int = 2) -> Evidence:
    """``n`` graded answers on a new task (near ``axis``), each with these scores."""
    table = np.tile(np.asarray(scores, dtype=float), (n, 1))
    costs = np.where(np.isnan(table), np.nan, 0.001)
    return Evidence(_near(axis, n, 7), table, costs, SkillRows.empty(n))


def _router() -> KnnShrinkageRouter:
    none = np.zeros((0, 2))
    matrix = ProfileMatrix(["a", "b"], [], none, none, np.array([0.8, 0.4]), np.zeros(2))
    return KnnShrinkageRouter(matrix, np.array([0.001, 0.002]), _model())


RESULTS = Path(__file__).resolve().parents[2] / "perf" / "results" / "online_validation.json"
QUERY = _near(2, 1, 9)
"""A question of the new task."""


def _level(knobs: FeedbackKnobs, rows: Evidence | None = None) -> FeedbackLevel:
    model = _model()
    level = FeedbackLevel.empty(model.centroids, model.evidence, knobs)
    if rows is None:
        return level
    return level.added(rows, model.estimate(rows.vectors).probability)


@pytest.mark.parametrize("centred", [True, False])
def test_many_rows_take_over_and_none_leave_the_frozen_estimate(centred: bool) -> None:
    model = _model()
    frozen = model.estimate(QUERY).probability
    knobs = FeedbackKnobs(pseudo=10.0, centred=centred, shared=0.0)
    assert _level(knobs).corrected(QUERY, frozen)[0] == pytest.approx(frozen)
    few = _level(knobs, _rows(1, [0.0, 1.0])).corrected(QUERY, frozen)[0]
    many, weight = _level(knobs, _rows(400, [0.0, 1.0])).corrected(QUERY, frozen)
    assert frozen[0, 0] > frozen[0, 1]  # validation: expert a is the better one
    assert abs(few - frozen).max() < 0.1  # one row barely moves it
    assert many[0, 0] < 0.1 < 0.9 < many[0, 1]  # 400 rows say the reverse, and win
    assert weight[0, 0] == pytest.approx(weight[0, 1]) and weight[0, 0] > 100  # soft membership


def test_a_bandit_row_counts_for_the_expert_that_ran_only() -> None:
    frozen = _model().estimate(QUERY).probability
    level = _level(FeedbackKnobs(shared=0.0), _rows(50, [0.0, np.nan]))
    corrected, weight = level.corrected(QUERY, frozen)
    assert corrected[0, 0] < frozen[0, 0]
    assert corrected[0, 1] == pytest.approx(frozen[0, 1])
    assert weight[0, 1] == 0.0


def test_coupling_moves_the_experts_that_did_not_run() -> None:
    # on validation expert b is right only where a is: a failing says b fails too
    frozen = _model().estimate(QUERY).probability
    level = _level(FeedbackKnobs(strength=1.0, shared=0.0), _rows(50, [0.0, np.nan]))
    corrected, weight = level.corrected(QUERY, frozen)
    assert corrected[0, 1] < frozen[0, 1]
    assert weight[0, 1] > 0.0


def test_a_shared_error_moves_every_expert_by_its_share() -> None:
    frozen = _model().estimate(QUERY).probability
    rows = _rows(400, [0.0, np.nan])
    alone = _level(FeedbackKnobs(centred=True, shared=0.0), rows).corrected(QUERY, frozen)[0]
    half = FeedbackKnobs(centred=True, shared=0.5)
    shared = _level(half, rows).corrected(QUERY, frozen)[0]
    drop = frozen - alone
    assert shared[0, 0] == pytest.approx(alone[0, 0])
    assert frozen[0, 1] - shared[0, 1] == pytest.approx(0.5 * drop[0, 0], rel=0.05)


def test_one_fill_of_unknown_outcomes_at_a_time() -> None:
    with pytest.raises(ConfigError, match="not both"):
        FeedbackKnobs(strength=0.5, shared=0.5)


def test_without_a_pooled_level_feedback_on_one_region_leaves_another_alone() -> None:
    model = _model()
    other = _near(0, 1, 11)
    frozen = model.estimate(other).probability
    knobs = FeedbackKnobs(shared=0.0, pooled=None, neighbours=0)
    level = _level(knobs, _rows(200, [0.0, 1.0], axis=1))
    assert level.corrected(other, frozen)[0] == pytest.approx(frozen, abs=0.02)


@pytest.mark.parametrize("centred", [True, False])
def test_a_pooled_level_carries_feedback_to_groups_without_rows(centred: bool) -> None:
    model = _model()
    other = _near(0, 1, 11)
    frozen = model.estimate(other).probability
    rows = _rows(200, [0.0, 1.0], axis=1)
    apart = _level(FeedbackKnobs(shared=0.0, centred=centred, pooled=None, neighbours=0), rows)
    pooled = _level(FeedbackKnobs(shared=0.0, centred=centred, pooled=20.0, neighbours=0), rows)
    assert apart.corrected(other, frozen)[0] == pytest.approx(frozen, abs=0.02)
    moved = pooled.corrected(other, frozen)[0]
    assert moved[0, 0] < frozen[0, 0] - 0.3  # 200 rows elsewhere: a is wrong on this traffic
    assert moved[0, 1] > frozen[0, 1] + 0.3  # and b right
    assert moved[0, 1] > moved[0, 0]
    # the default pooled level is weak: 200 rows elsewhere carry about 200 / (200 + m_p) of
    # their error here, so the validation order stands
    weak = FeedbackKnobs(shared=0.0, centred=centred, neighbours=0)
    default = _level(weak, rows).corrected(other, frozen)[0]
    share = 200 / (200 + (FeedbackKnobs().pooled or 0.0))
    assert frozen[0, 0] - default[0, 0] == pytest.approx(share * frozen[0, 0], rel=0.25)
    assert default[0, 0] > default[0, 1]
    # with no rows the pooled level corrects nothing
    empty = _level(FeedbackKnobs(shared=0.0, centred=centred, pooled=20.0))
    assert empty.corrected(other, frozen)[0] == pytest.approx(frozen)


def test_a_pooled_pseudo_count_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="pooled"):
        FeedbackKnobs(pooled=0.0)


GROUPS_ONLY = FeedbackKnobs(pseudo=1e9, pooled=None, shared=0.0)
"""A group level too weak to move anything: what moves is the neighbour level."""


def test_fully_graded_rows_correct_a_question_through_its_neighbours() -> None:
    model = _model()
    frozen = model.estimate(QUERY).probability
    rows = _rows(10, [0.0, 1.0])
    knobs = replace(GROUPS_ONLY, neighbours=10, neighbour_pseudo=10.0)
    corrected, weight = _level(knobs, rows).corrected(QUERY, frozen)
    residual = rows.scores - model.estimate(rows.vectors).probability
    # ten rows against a pseudo-count of ten: half of their mean residual
    assert corrected[0] == pytest.approx(frozen[0] + residual.mean(axis=0) / 2, abs=1e-3)
    off, groups = _level(replace(knobs, neighbours=0), rows).corrected(QUERY, frozen)
    assert off == pytest.approx(frozen, abs=1e-6)
    assert weight[0] == pytest.approx(groups[0] + 10.0)  # the group rows, and ten neighbours


def test_the_neighbours_are_the_rows_most_like_the_question() -> None:
    model = _model()
    up, down = _rows(50, [0.0, 1.0], axis=1), _rows(50, [1.0, 0.0], axis=0)
    level = _level(replace(GROUPS_ONLY, neighbours=20, neighbour_pseudo=1.0), up)
    level = level.added(down, model.estimate(down.vectors).probability)
    for axis, better in ((1, 1), (0, 0)):
        query = _near(axis, 1, 11)
        frozen = model.estimate(query).probability
        corrected = level.corrected(query, frozen)[0][0]
        assert corrected[better] > frozen[0, better]
        assert corrected[1 - better] < frozen[0, 1 - better]


def test_only_fully_graded_rows_are_kept_and_only_the_latest_window() -> None:
    knobs = replace(GROUPS_ONLY, neighbours=5, window=20)
    assert not len(_level(knobs, _rows(30, [0.0, np.nan])).memory)  # bandit rows stay out
    full = _rows(30, [0.0, 1.0])
    memory = _level(knobs, full).memory
    assert len(memory) == 20
    assert np.array_equal(memory.vectors, full.vectors[-20:])
    with pytest.raises(ConfigError, match="window"):
        FeedbackKnobs(neighbours=30, window=20)
    with pytest.raises(ConfigError, match="neighbours"):
        FeedbackKnobs(neighbours=-1)


def test_the_router_routes_a_new_task_by_its_feedback() -> None:
    from router_svc.routing.inputs import Queries

    router = _router()
    queries = Queries(["q"], [[]], [[]], QUERY)
    one = RecruitOptions(k=1)
    assert int(router.choose(router.score_queries(queries), one)[0, 0]) == 0
    learned = router.with_feedback(_rows(100, [0.0, 1.0]))
    parts = learned.score_queries(queries)
    assert int(learned.choose(parts, one)[0, 0]) == 1
    assert parts.evidence is not None and "feedback" in parts.evidence
    assert learned.model is router.model  # the validation levels stay as they were
    assert learned.feedback is not None and len(learned.feedback.memory) == 100  # fully graded
    again = learned.with_feedback(_rows(1, [1.0, np.nan]))
    assert again.feedback is not None and again.feedback.rows == 101


def test_the_defaults_are_the_knobs_chosen_on_validation() -> None:
    chosen = json.loads(RESULTS.read_text())["chosen"]
    assert asdict(FeedbackKnobs()) == chosen
    assert OnlineOptions().knobs == FeedbackKnobs()  # the online replay's, as the service's
