"""The paper's recruiter on a 3-skill x 4-expert profile, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from router_svc.routing.profiles import ProfileMatrix
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.symbolic import SymbolicMoERouter, recruit_weights, strength_prior
from router_svc.tagging.inventory import SkillMatch

EXPERTS = ["math", "chem", "bio", "general"]
SKILLS = ["algebra", "chemistry", "genetics"]
VALUES = np.array(
    [
        [5.0, -3.0, -4.0, 1.0],
        [-2.0, 6.0, 0.0, 1.0],
        [-4.0, -1.0, 5.0, 1.0],
    ]
)  # competency sums: -1, 2, 1, 3
MATRIX = ProfileMatrix(
    experts=EXPERTS,
    skills=SKILLS,
    values=VALUES,
    seen=np.full(VALUES.shape, 6.0),
    accuracy=np.full(4, 0.5),
    competency=VALUES.sum(axis=0),
)


def matches(*skills: str) -> list[SkillMatch]:
    return [SkillMatch(keyword=s, skill=s, similarity=0.7) for s in skills]


def test_prior_shifts_negative_sums_and_squares_at_temperature_half() -> None:
    # -1, 2, 1, 3 -> shifted by 1 - (-1) = 2: 1, 4, 3, 5 -> squared: 1, 16, 9, 25 (sum 51)
    expected = np.array([1, 16, 9, 25]) / 51
    np.testing.assert_allclose(strength_prior(VALUES.sum(axis=0), 0.5), expected)
    # no negative sum: no shift
    np.testing.assert_allclose(strength_prior(np.array([1.0, 3.0]), 1.0), [0.25, 0.75])


def test_only_positive_experts_are_weighted_by_relevance_times_prior() -> None:
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    relevance = np.array([[5.0, -3.0, 0.0, 1.0]])
    weights = recruit_weights(relevance, prior, np.array([True]))
    np.testing.assert_allclose(weights, [[0.5 / 0.9, 0, 0, 0.4 / 0.9]])


def test_no_positive_expert_shifts_every_relevance() -> None:
    prior = np.full(4, 0.25)
    relevance = np.array([[-5.0, -3.0, -1.0, -1.0]])  # shifted: 1, 3, 5, 5
    weights = recruit_weights(relevance, prior, np.array([True]))
    np.testing.assert_allclose(weights, [[1 / 14, 3 / 14, 5 / 14, 5 / 14]])


def test_a_question_with_no_skill_draws_uniformly() -> None:
    weights = recruit_weights(np.zeros((1, 4)), np.array([0.7, 0.1, 0.1, 0.1]), np.array([False]))
    np.testing.assert_allclose(weights, [[0.25] * 4])


def test_repeated_keywords_count_again() -> None:
    router = SymbolicMoERouter(MATRIX)
    counts = router.counts([matches("algebra", "algebra", "genetics"), []])
    np.testing.assert_array_equal(counts, [[2, 0, 1], [0, 0, 0]])
    parts = router.score(counts)
    np.testing.assert_array_equal(parts.relevance[0], [6.0, -7.0, -3.0, 3.0])
    assert parts.fallback.tolist() == [False, True]


def test_k_draws_with_replacement_are_each_a_generation_in_draw_order() -> None:
    router = SymbolicMoERouter(MATRIX)
    # algebra: only math (5) and general (1) are positive.
    n = 5_000
    skills = [matches("algebra")] * n
    assignments = router.assign(
        [str(i) for i in range(n)], [["x"]] * n, skills, RecruitOptions(k=3, seed=1)
    )
    draws = [a.generations for a in assignments]
    assert all(len(d) == 3 and set(d) <= {"math", "general"} for d in draws)
    assert all(a.chosen == list(dict.fromkeys(a.generations)) for a in assignments)
    assert any(len(set(d)) == 1 for d in draws)  # three draws of one expert: three samples
    # math (weight 5 x prior 1/51) against general (1 x 25/51): math drawn with p = 1/6.
    p = 1 / 6
    in_team = 1 - (1 - p) ** 3  # drawn at least once of 3
    for share, expected in (
        (np.mean(["math" in d for d in draws]), in_team),
        (np.mean([d[0] == "math" for d in draws]), p),  # the first draw, in draw order
    ):
        four_sigma = 4 * math.sqrt(expected * (1 - expected) / n)  # binomial spread
        assert share == pytest.approx(expected, abs=four_sigma)
    assert all(a.always_aggregate and a.temperature == 0.7 for a in assignments)


def _draws(
    router: SymbolicMoERouter, questions: list[str], seed: int, *, as_text: bool = True
) -> list[tuple[str, ...]]:
    """Each question routed alone, as a served request is (``as_text``: seeded by the text
    the pipeline passes, under a fresh id each time; else by its id)."""
    draws = []
    for n, q in enumerate(questions):
        options = RecruitOptions(k=3, seed=seed)
        if as_text:
            routed = router.assign(
                [f"request-{n}"], [[]], [matches("chemistry")], options, texts=[q]
            )
        else:
            routed = router.assign([q], [[]], [matches("chemistry")], options)
        draws.append(routed[0].generations)
    return draws


def test_a_repeated_request_draws_the_same() -> None:
    router = SymbolicMoERouter(MATRIX)
    questions = [f"question {i}" for i in range(8)]
    assert _draws(router, questions, 4) == _draws(router, list(reversed(questions)), 4)[::-1]


@pytest.mark.parametrize("as_text", [True, False])
def test_two_questions_with_the_same_seed_draw_differently(as_text: bool) -> None:
    """Each request routes one question: a seed per request alone would give every question
    the same random numbers (a fixed rule, not sampling)."""
    router = SymbolicMoERouter(MATRIX)
    draws = _draws(router, [f"question {i}" for i in range(8)], 0, as_text=as_text)
    assert len(set(draws)) > 1
