"""Strategy maths, checked by hand on tests/fixtures/replay_tiny.jsonl.

The tiny file has three experts (a: $0.01, b: $0.002, c: $0.005 a question).

validation   x: v1 a=1 b=0 c=1, v2 a=1 b=0 c=0
             y: v3 a=0 b=1 c=1, v4 a=0 b=1 c=0, v5 a=0 b=0 c=1
             accuracy a 2/5, b 2/5, c 3/5 -> best single c
             x: a 1, b 0, c 1/2 -> a;  y: a 0, b 2/3, c 2/3 -> tie, the cheaper b
test         t1 x a=1 b=0 c=0  answers A, B, B (gold A)  -> vote B wins: 0
             t2 x a=1 b=1 c=0                            -> expected vote 1
             t3 y a=0 b=1 c=1                            -> 1
             t4 y a=1 b=0 c=0  answers A, C, D (gold A)  -> three-way tie, first seen A: 1
             t5 y a=0 b=1 c=0                            -> 0
             t6 x a=.5 b=1 c=0                           -> 0.5 x P(rest >= 1) = 0.5
best single c: 0+0+1+0+0+0 = 1/6; per-category (x->a, y->b): 1+1+.5 + 1+0+1 = 4.5/6
oracle: 6/6, each at its cheapest right expert: a, b, b, a, b, b = $0.028 / 6
all + vote: 0+1+1+1+0+.5 = 3.5/6
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from router_svc.evaluation.metrics import (
    bootstrap_interval,
    bootstrap_samples,
    gap_closed,
    pareto_front,
)
from router_svc.evaluation.strategies import (
    answer_vote,
    baselines,
    best_single_index,
    expected_vote,
    oracle_choice,
    per_category_best,
    random_voters,
    routed_scores,
    vote,
)
from router_svc.replay.data import load_replay
from router_svc.replay.outcomes import NO_ANSWER, OutcomeTable
from router_svc.routing.profiles import ProfileMatrix
from router_svc.routing.recruiter import RecruitOptions, SkillRecruiter
from router_svc.tagging.inventory import SkillMatch

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "replay_tiny.jsonl"


@pytest.fixture(scope="module")
def tables() -> tuple[OutcomeTable, OutcomeTable]:
    data = load_replay(TINY)
    return data.table("validation"), data.table("test")


def test_best_single_is_chosen_on_validation(tables: tuple[OutcomeTable, OutcomeTable]) -> None:
    validation, test = tables
    best = best_single_index(validation)
    assert validation.experts[best] == "c"
    assert routed_scores(test, np.full(len(test), best)).mean() == pytest.approx(1 / 6)


def test_per_category_best_breaks_ties_by_cost(tables: tuple[OutcomeTable, OutcomeTable]) -> None:
    validation, test = tables
    chosen, by_category = per_category_best(validation, test)
    assert {c: test.experts[e] for c, e in by_category.items()} == {"x": "a", "y": "b"}
    assert routed_scores(test, chosen).tolist() == [1, 1, 1, 0, 1, 0.5]


def test_oracle_takes_the_cheapest_right_expert(tables: tuple[OutcomeTable, OutcomeTable]) -> None:
    _, test = tables
    chosen = oracle_choice(test)
    assert [test.experts[e] for e in chosen] == ["a", "b", "b", "a", "b", "b"]
    assert routed_scores(test, chosen).mean() == 1.0


def test_vote_counts_answers_where_recorded(tables: tuple[OutcomeTable, OutcomeTable]) -> None:
    _, test = tables
    assert test.voted is not None
    assert test.voted.tolist() == [True, False, False, True, False, False]
    everyone = np.tile(np.arange(3), (len(test), 1))
    assert vote(test, everyone).tolist() == [0, 1, 1, 1, 0, 0.5]
    # t4 by scores alone would lose (one right against a wrong bloc of two):
    assert expected_vote(test.scores[3:4]).tolist() == [0.0]


def test_baselines_by_hand(tables: tuple[OutcomeTable, OutcomeTable]) -> None:
    validation, test = tables
    results = {r.name: r for r in baselines(validation, test, k=2, seed=0)}
    accuracy = {name: float(r.scores.mean()) for name, r in results.items()}
    assert accuracy["single:a"] == pytest.approx(3.5 / 6)
    assert accuracy["single:b"] == pytest.approx(4 / 6)
    assert accuracy["best-single"] == pytest.approx(1 / 6)
    assert accuracy["per-category-best"] == pytest.approx(4.5 / 6)
    assert accuracy["all+vote"] == pytest.approx(3.5 / 6)
    assert accuracy["oracle"] == 1.0
    assert results["oracle"].cost(test).mean() == pytest.approx(0.028 / 6)
    assert results["all+vote"].cost(test).tolist() == pytest.approx([0.017] * 6)
    assert results["random-2+vote"].calls.sum(axis=1).tolist() == [2] * 6


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([[1.0]], 1.0),
        ([[1, 0, 0]], 0.0),
        ([[0, 1, 1]], 1.0),
        ([[1, 0]], 1.0),  # a tie goes to the first voter
        ([[0, 1]], 0.0),
        ([[1, 1, 0, 0]], 1.0),
        ([[0, 0, 1, 1]], 0.0),
        ([[0.5, 1, 0]], 0.5),
        ([[0.5, 0.5, 0.5]], 0.5),  # P(at least 2 of 3)
        ([[0.8, 0.8, 0.8]], 0.896),
    ],
)
def test_expected_vote(scores: list[list[float]], expected: float) -> None:
    assert expected_vote(np.array(scores, dtype=float))[0] == pytest.approx(expected)


def test_answer_vote_abstentions_and_ties() -> None:
    codes = np.array([[0, 1, 1], [NO_ANSWER, 0, 1], [NO_ANSWER, NO_ANSWER, NO_ANSWER]])
    scores = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    assert answer_vote(codes, scores).tolist() == [0.0, 1.0, 0.0]


def test_random_voters_are_distinct_and_seeded() -> None:
    voters = random_voters(50, 5, 3, seed=4)
    assert voters.shape == (50, 3)
    assert all(len(set(row)) == 3 for row in voters.tolist())
    np.testing.assert_array_equal(voters, random_voters(50, 5, 3, seed=4))
    assert not np.array_equal(voters, random_voters(50, 5, 3, seed=5))


def test_gap_closed() -> None:
    assert gap_closed(4.5 / 6, 1 / 6, 1.0) == pytest.approx(0.7)
    assert gap_closed(1 / 6, 1 / 6, 1.0) == 0.0
    assert gap_closed(1.0, 1 / 6, 1.0) == 1.0
    assert gap_closed(0.0, 0.5, 1.0) == -1.0
    assert gap_closed(0.7, 0.8, 0.8) is None


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    scores = np.random.default_rng(0).random(300).round()
    samples = bootstrap_samples(300, 500, seed=1)
    interval = bootstrap_interval(scores, samples)
    assert interval.low < scores.mean() < interval.high
    assert interval == bootstrap_interval(scores, bootstrap_samples(300, 500, seed=1))
    assert bootstrap_interval(np.ones(10), bootstrap_samples(10, 50)).low == 1.0


def test_pareto_front() -> None:
    costs = [1.0, 2.0, 3.0, 0.5, 2.0]
    accuracies = [0.6, 0.7, 0.65, 0.5, 0.8]
    assert pareto_front(costs, accuracies) == [3, 0, 4]


def test_the_sweeps_rule_is_the_recruiters() -> None:
    """The bench's sweep (utility, then recruit) picks what Recruiter.assign picks."""
    rng = np.random.default_rng(3)
    values = rng.normal(0, 3, (4, 3)).round()
    matrix = ProfileMatrix(
        experts=["e0", "e1", "e2"],
        skills=["s0", "s1", "s2", "s3"],
        values=values,
        seen=np.full((4, 3), 5.0),
        accuracy=np.array([0.5, 0.6, 0.4]),
        competency=values.sum(axis=0),
    )
    cost = np.array([0.01, 0.002, 0.005])
    recruiter = SkillRecruiter(matrix, cost)
    skills = [[SkillMatch(f"s{i}", f"s{i}", 1.0)] for i in range(4)] + [[]]
    parts = recruiter.score(recruiter.weights(skills))
    picks = set()
    for weight in (0.0, 0.3, 1.0, 5.0):
        options = RecruitOptions(k=2, cost_weight=weight)
        assignments = recruiter.assign([str(i) for i in range(5)], [[]] * 5, skills, options)
        expected = [[int(name[1]) for name in a.chosen] for a in assignments]
        chosen = recruiter.recruit(recruiter.utility(parts, weight)[1], options)
        assert chosen.tolist() == expected
        picks.add(str(expected))
    assert len(picks) > 1  # the cost weight changed some choice
