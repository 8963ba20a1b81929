"""Recruiting maths on small scripted profile matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from router_svc.errors import RoutingError
from router_svc.routing.artifacts import ProfileArtifacts
from router_svc.routing.profiles import ProfileMatrix
from router_svc.routing.recruiter import RecruitOptions, SkillRecruiter, competency_prior
from router_svc.tagging.inventory import SkillMatch

EXPERTS = ["math", "chem", "bio", "general"]
SKILLS = ["algebra", "chemistry", "genetics"]
# (skills, experts): math is strong in algebra, chem in chemistry, bio in genetics.
VALUES = np.array(
    [
        [5.0, -3.0, -4.0, 1.0],
        [-2.0, 6.0, 0.0, 1.0],
        [-4.0, -1.0, 5.0, 1.0],
    ]
)


def matrix(values: np.ndarray = VALUES) -> ProfileMatrix:
    return ProfileMatrix(
        experts=EXPERTS,
        skills=SKILLS,
        values=values,
        seen=np.full(values.shape, 6.0),
        accuracy=np.full(len(EXPERTS), 0.5),
        competency=values.sum(axis=0),
    )


def weights(*pairs: tuple[str, float]) -> list[SkillMatch]:
    return [SkillMatch(keyword=skill, skill=skill, similarity=sim) for skill, sim in pairs]


def chosen(recruiter: SkillRecruiter, skills: list[SkillMatch], **options: object) -> list[str]:
    (assignment,) = recruiter.assign(["q"], [["t"]], [skills], RecruitOptions(**options))  # type: ignore[arg-type]
    return assignment.chosen


@pytest.mark.parametrize(
    ("skills", "k", "expected"),
    [
        (weights(("algebra", 1.0)), 1, ["math"]),
        (weights(("chemistry", 1.0)), 1, ["chem"]),
        (weights(("genetics", 0.9)), 1, ["bio"]),
        (weights(("algebra", 1.0)), 2, ["math", "general"]),
        (weights(("algebra", 0.3), ("chemistry", 1.0)), 2, ["chem", "general"]),
        # Positive relevance for nobody else: the rest are still ordered by relevance.
        (weights(("chemistry", 1.0)), 4, ["chem", "general", "bio", "math"]),
    ],
)
def test_top_k_follows_the_skills(skills: list[SkillMatch], k: int, expected: list[str]) -> None:
    assert chosen(SkillRecruiter(matrix(), center=False), skills, k=k) == expected


def test_relevance_is_similarity_weighted_profile_sum() -> None:
    recruiter = SkillRecruiter(matrix(), center=False)
    parts = recruiter.score(recruiter.weights([weights(("algebra", 0.5), ("chemistry", 1.0))]))
    np.testing.assert_allclose(parts.relevance[0], [0.5, 4.5, -2.0, 1.5])
    assert not parts.fallback[0]


def test_prior_is_a_tempered_softmax_of_competency() -> None:
    prior = competency_prior(np.array([2.0, 0.0, -2.0]), np.array([4.0, 4.0, 2.0]), 0.5)
    logits = np.array([1.0, 0.0, -2.0])
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(prior, expected)
    assert prior.sum() == pytest.approx(1.0)


def test_no_tags_falls_back_to_the_prior() -> None:
    recruiter = SkillRecruiter(matrix())
    (assignment,) = recruiter.assign(["q"], [[]], [[]], RecruitOptions(k=2))
    assert assignment.fallback
    # competencies: math -1, chem 2, bio 1, general 3
    assert assignment.chosen == ["general", "chem"]


def test_unknown_skills_are_ignored_and_fall_back() -> None:
    skills = [SkillMatch("x", "astronomy", 0.9)]
    (assignment,) = SkillRecruiter(matrix()).assign(["q"], [["x"]], [skills], RecruitOptions(k=1))
    assert assignment.fallback
    assert assignment.chosen == ["general"]


def test_without_positive_evidence_the_least_wrong_expert_comes_first() -> None:
    negative = -np.abs(VALUES)  # algebra: math -5, chem -3, bio -4, general -1
    (assignment,) = SkillRecruiter(matrix(negative), center=False).assign(
        ["q"], [["t"]], [weights(("algebra", 1.0))], RecruitOptions(k=3)
    )
    assert assignment.chosen == ["general", "chem", "bio"]
    assert not assignment.fallback  # the evidence decided, not the prior


def test_centering_ranks_experts_relative_to_the_pool() -> None:
    # Every expert is mostly wrong on algebra, but "math" is the least wrong.
    weak = np.array([[-1.0, -5.0, -6.0, -4.0], [-3.0, -1.0, -4.0, -4.0], [0.0, 0.0, 0.0, 0.0]])
    recruiter = SkillRecruiter(matrix(weak))
    (assignment,) = recruiter.assign(
        ["q"], [["t"]], [weights(("algebra", 1.0))], RecruitOptions(k=1)
    )
    assert not assignment.fallback
    assert assignment.chosen == ["math"]
    parts = recruiter.score(recruiter.weights([weights(("algebra", 1.0))]))
    np.testing.assert_allclose(parts.relevance[0], [3.0, -1.0, -2.0, 0.0])


def test_below_average_experts_are_ranked_by_their_evidence() -> None:
    # On skill "s", d (0) has better evidence than b (-1) and b better than c (-3); c is the
    # globally strongest expert (skill "t"), so its prior is the highest. Evidence must win.
    experts = ["a", "b", "c", "d"]
    values = np.array([[4.0, -1.0, -3.0, 0.0], [0.0, 0.0, 10.0, 0.0]])
    profile = ProfileMatrix(
        experts=experts,
        skills=["s", "t"],
        values=values,
        seen=np.full(values.shape, 10.0),
        accuracy=np.full(4, 0.5),
        competency=values.sum(axis=0),
    )
    recruiter = SkillRecruiter(profile)
    skills = [SkillMatch("s", "s", 1.0)]
    (assignment,) = recruiter.assign(["q"], [["s"]], [skills], RecruitOptions(k=3))
    assert assignment.chosen == ["a", "d", "b"]
    assert not assignment.fallback


def test_no_chosen_expert_has_less_evidence_than_one_left_out(root: Path) -> None:
    """On the shipped starter profile, for every validation question and every k."""
    artifacts = ProfileArtifacts.load(root / "skills" / "starter")
    recruiter = SkillRecruiter(ProfileMatrix.from_profiles(artifacts.profiles, artifacts.experts))
    ids = list(artifacts.question_skills)
    skills = [[SkillMatch(s, s, 1.0) for s in artifacts.question_skills[q]] for q in ids]
    for k in range(1, len(artifacts.experts)):
        for assignment in recruiter.assign(ids, [[]] * len(ids), skills, RecruitOptions(k=k)):
            relevance = {score.expert: score.relevance for score in assignment.scores}
            chosen = min(relevance[e] for e in assignment.chosen)
            left_out = max(r for e, r in relevance.items() if e not in assignment.chosen)
            assert chosen >= left_out, (k, assignment.question_id, relevance, assignment.chosen)


def test_k_larger_than_the_pool_returns_every_expert_once() -> None:
    picked = chosen(SkillRecruiter(matrix()), weights(("algebra", 1.0)), k=10)
    assert sorted(picked) == sorted(EXPERTS)


def test_cost_weight_trades_quality_for_price() -> None:
    cost = np.array([10.0, 1.0, 1.0, 0.1])
    recruiter = SkillRecruiter(matrix(), expected_cost=cost, center=False)
    assert chosen(recruiter, weights(("algebra", 1.0)), k=1) == ["math"]
    assert chosen(recruiter, weights(("algebra", 1.0)), k=1, cost_weight=2.0) == ["general"]


def test_sampling_is_seeded_distinct_and_weighted() -> None:
    recruiter = SkillRecruiter(matrix())
    skills = weights(("algebra", 1.0))
    first = chosen(recruiter, skills, k=3, mode="sampling", seed=1)
    assert first == chosen(recruiter, skills, k=3, mode="sampling", seed=1)
    assert len(set(first)) == 3
    draws = [chosen(recruiter, skills, k=1, mode="sampling", seed=s)[0] for s in range(200)]
    assert draws.count("math") > draws.count("bio")


def test_explanation_has_every_part() -> None:
    (assignment,) = SkillRecruiter(matrix(), center=False).assign(
        ["q7"], [["algebra"]], [weights(("algebra", 1.0))], RecruitOptions(k=1)
    )
    data = assignment.to_json()
    assert data["question_id"] == "q7"
    assert data["chosen"] == ["math"]
    math = next(s for s in assignment.scores if s.expert == "math")
    assert math.relevance == 5.0
    assert math.score == 1.0  # scaled to the row's best


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 0}, "k must be at least 1"),
        ({"cost_weight": -1}, "cost_weight"),
        ({"mode": "x"}, "mode"),
    ],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        RecruitOptions(**options)  # type: ignore[arg-type]


def test_bad_temperature() -> None:
    with pytest.raises(RoutingError, match="temperature"):
        SkillRecruiter(matrix(), temperature=0)
