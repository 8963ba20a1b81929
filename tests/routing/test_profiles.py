"""Profile arithmetic: +1 right, -1 wrong per skill; competency is the sum."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.routing.profiles import ExpertProfile, Outcome, ProfileMatrix, build_profiles

SKILLS = {"q1": ["algebra", "arithmetic"], "q2": ["algebra"], "q3": ["chemistry"]}


def outcomes() -> list[Outcome]:
    return [
        Outcome("q1", "a", 1.0, 10, 5),
        Outcome("q2", "a", 0.0, 20, 15),
        Outcome("q3", "a", 1.0, 30, 10),
        Outcome("q1", "b", 0.0),
        Outcome("q2", "b", 0.0),
        Outcome("q3", "b", 1.0),
    ]


def test_plus_one_minus_one_per_skill() -> None:
    profiles = build_profiles(outcomes(), SKILLS, ["a", "b"])
    assert profiles["a"].skills == {"algebra": 0.0, "arithmetic": 1.0, "chemistry": 1.0}
    assert profiles["b"].skills == {"algebra": -2.0, "arithmetic": -1.0, "chemistry": 1.0}
    assert profiles["a"].seen == {"algebra": 2, "arithmetic": 1, "chemistry": 1}
    assert profiles["a"].competency == 2.0
    assert profiles["b"].competency == -2.0
    assert profiles["a"].accuracy == pytest.approx(2 / 3)
    assert profiles["a"].mean_prompt_tokens == 20.0
    assert profiles["a"].mean_completion_tokens == 10.0


def test_partial_scores_count_proportionally() -> None:
    profiles = build_profiles([Outcome("q3", "a", 0.75)], SKILLS, ["a"])
    assert profiles["a"].skills == {"chemistry": 0.5}


def test_duplicate_skills_on_a_question_count_once() -> None:
    profiles = build_profiles([Outcome("q", "a", 1.0)], {"q": ["x", "x"]}, ["a"])
    assert profiles["a"].skills == {"x": 1.0}


def test_expert_without_outcomes_gets_an_empty_profile() -> None:
    profiles = build_profiles(outcomes(), SKILLS, ["a", "c"])
    assert profiles["c"].total == 0
    assert profiles["c"].accuracy == 0.0


def test_json_round_trip() -> None:
    profile = build_profiles(outcomes(), SKILLS, ["a"])["a"]
    assert ExpertProfile.from_json(profile.to_json()) == profile


def test_strongest_and_weakest() -> None:
    profile = build_profiles(outcomes(), SKILLS, ["b"])["b"]
    assert profile.strongest(1) == [("chemistry", 1.0)]
    assert profile.weakest(1) == [("algebra", -2.0)]


def test_matrix_layout() -> None:
    matrix = ProfileMatrix.from_profiles(build_profiles(outcomes(), SKILLS, ["a", "b"]), ["a", "b"])
    assert matrix.skills == ["algebra", "arithmetic", "chemistry"]
    np.testing.assert_array_equal(matrix.values, [[0, -2], [1, -1], [1, 1]])
    np.testing.assert_array_equal(matrix.competency, [2, -2])
