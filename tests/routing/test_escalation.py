"""Escalating teams: their columns from the experts' records, and the router that prices them."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.config.routers import KnnShrinkageOptions
from router_svc.replay.outcomes import NO_ANSWER, OutcomeTable
from router_svc.routing.escalation import EscalatingPairs
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.suite import answer_codes, suite_from_table
from router_svc.tagging.hashing import HashingEmbedder
from tests.support import fit_router

EXPERTS = ["a", "b", "strong"]


def test_the_pairs_leave_out_the_best_expert_and_escalate_to_it() -> None:
    scores = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    pairs = EscalatingPairs.of(["x", "y", "z", "w"], np.hstack([scores, np.zeros((3, 1))]))
    assert pairs is not None
    assert pairs.strong_name == "x"  # 2 of 3 right, first among equals
    assert [pairs.name(i) for i in range(len(pairs))] == [
        "y + z > x", "y + w > x", "z + w > x",
    ]  # fmt: skip
    assert EscalatingPairs.of(["x", "y"], scores[:, :2]) is None


def test_a_pair_keeps_a_shared_answer_and_escalates_a_split_or_a_missing_one() -> None:
    pairs = EscalatingPairs.of(EXPERTS, np.array([[0.0, 0.0, 1.0]]))
    assert pairs is not None and pairs.pairs == [(0, 1)]
    scores = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    costs = np.tile([0.001, 0.002, 0.01], (4, 1))
    answers = np.array([[0, 0, 1], [0, 1, 2], [NO_ANSWER, NO_ANSWER, 0], [0, NO_ANSWER, 0]])
    paired, spent = pairs.columns(scores, costs, answers)
    assert paired[:, 0].tolist() == [1.0, 0.0, 1.0, 1.0]  # agreed, split, none, one missing
    assert spent[:, 0] == pytest.approx([0.003, 0.013, 0.013, 0.013])


def test_recorded_answers_become_codes_from_the_answer_or_the_text() -> None:
    question = "What is 2 + 3?"
    records = [{"answer": "5"}, {"answer": None, "text": "So the answer is 5."}, {"text": ""}]
    codes = answer_codes([question], [records])
    assert codes.tolist() == [[0, 0, NO_ANSWER]]


def _cheap_pair_region(n: int = 80) -> OutcomeTable:
    """One region of questions: the strong expert always right at ten times the price; a and
    b each right on three quarters, agreeing (both right) on half and split on the rest."""
    scores = np.ones((n, 3))
    answers = np.zeros((n, 3), dtype=int)
    for row in range(n):
        if row % 4 == 1:
            scores[row, 1], answers[row, 1] = 0.0, 1
        elif row % 4 == 3:
            scores[row, 0], answers[row, 0] = 0.0, 1
    return OutcomeTable(
        ids=[f"q{i}" for i in range(n)],
        questions=[f"question {i}" for i in range(n)],
        categories=["(none)"] * n,
        experts=EXPERTS,
        scores=scores,
        costs=np.tile([0.001, 0.001, 0.01], (n, 1)),
        tokens=np.ones((n, 3)),
        answers=answers,
        voted=np.ones(n, dtype=bool),
    )


def _router(table: OutcomeTable, **options: object) -> KnnShrinkageRouter:
    vectors = np.tile(np.array([[1.0, 0.0, 0.0]], dtype=np.float32), (len(table), 1))
    suite = suite_from_table(table, [["topic"]] * len(table), HashingEmbedder(16), vectors)
    settings = KnnShrinkageOptions(tuned=False, clusters=1, **options)  # type: ignore[arg-type]
    router = fit_router(suite, "knn-shrinkage", settings)
    assert isinstance(router, KnnShrinkageRouter)
    return router


def test_where_cost_counts_the_router_sends_a_question_to_a_cheaper_escalating_team() -> None:
    router = _router(_cheap_pair_region())
    query = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)

    def decide(weight: float, k: int = 1, auto: bool = False):  # type: ignore[no-untyped-def]
        options = RecruitOptions(k=k, cost_weight=weight, auto=auto)
        return router.assign(["q"], [[]], [[]], options, vectors=query)[0]

    assert decide(0.0).chosen == ["strong"] and decide(0.0).escalate_to is None
    team = decide(0.1)
    assert team.chosen == ["a", "b"] and team.escalate_to == "strong"
    assert team.option is not None and team.option.expert == "a + b > strong"
    single = {s.expert: s for s in team.scores}
    assert team.option.probability is not None and single["a"].probability is not None
    assert team.option.probability > single["a"].probability
    assert team.option.cost_penalty < single["strong"].cost_penalty  # escalates half the time
    assert decide(0.1, k=2).escalate_to is None  # a fixed team of two aggregates as before
    assert decide(0.1, k=3, auto=True).chosen == ["a", "b"]  # k: auto takes the team alone
    assert decide(10.0).chosen == ["a"]  # one cheap expert once cost dominates


def test_escalation_off_or_without_answers_prices_single_experts_only() -> None:
    table = _cheap_pair_region()
    assert _router(table, escalation=False).escalations is None
    unanswered = OutcomeTable(**{**vars(table), "answers": None, "voted": None})
    router = _router(unanswered)
    assert router.escalations is None
    query = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    options = RecruitOptions(k=1, cost_weight=0.1)
    assert router.assign(["q"], [[]], [[]], options, vectors=query)[0].escalate_to is None
