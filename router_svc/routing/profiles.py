"""Expert profiles: per skill, +1 for every validation question answered right, -1 for wrong.

A score between 0 and 1 (replay data) counts as ``2 * score - 1``, so 1 is +1 and 0 is -1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Outcome:
    """How one expert did on one validation question."""

    question_id: str
    expert: str
    score: float
    """1.0 right, 0.0 wrong; values in between for graded or replayed outcomes."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None


@dataclass(frozen=True)
class ExpertProfile:
    """What one expert is good at, learned from its validation outcomes."""

    expert: str
    skills: dict[str, float]
    """Per skill: the sum of +1 (right) and -1 (wrong) over questions tagged with it."""
    seen: dict[str, int]
    """Per skill: how many validation questions carried it."""
    correct: float
    total: int
    mean_prompt_tokens: float = 0.0
    mean_completion_tokens: float = 0.0
    mean_cost: float | None = None
    """Recorded dollars per question (replay data); None when prices come from experts.yaml."""

    @property
    def competency(self) -> float:
        """The global competency: the sum of the per-skill values."""
        return float(sum(self.skills.values()))

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def strongest(self, n: int = 3) -> list[tuple[str, float]]:
        return sorted(self.skills.items(), key=lambda item: (-item[1], item[0]))[:n]

    def weakest(self, n: int = 3) -> list[tuple[str, float]]:
        return sorted(self.skills.items(), key=lambda item: (item[1], item[0]))[:n]

    def to_json(self) -> dict[str, Any]:
        return {
            "expert": self.expert,
            "skills": self.skills,
            "seen": self.seen,
            "correct": self.correct,
            "total": self.total,
            "mean_prompt_tokens": self.mean_prompt_tokens,
            "mean_completion_tokens": self.mean_completion_tokens,
            "mean_cost": self.mean_cost,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExpertProfile:
        return cls(
            expert=str(data["expert"]),
            skills={str(k): float(v) for k, v in data["skills"].items()},
            seen={str(k): int(v) for k, v in data["seen"].items()},
            correct=float(data["correct"]),
            total=int(data["total"]),
            mean_prompt_tokens=float(data.get("mean_prompt_tokens", 0.0)),
            mean_completion_tokens=float(data.get("mean_completion_tokens", 0.0)),
            mean_cost=data.get("mean_cost"),
        )


def build_profiles(
    outcomes: Iterable[Outcome],
    question_skills: Mapping[str, Sequence[str]],
    experts: Sequence[str],
) -> dict[str, ExpertProfile]:
    """Profile every expert from its outcomes and the skills of each validation question."""
    by_expert: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_expert[outcome.expert].append(outcome)
    return {name: _profile(name, by_expert[name], question_skills) for name in experts}


def _profile(
    expert: str, outcomes: list[Outcome], question_skills: Mapping[str, Sequence[str]]
) -> ExpertProfile:
    skills: dict[str, float] = defaultdict(float)
    seen: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        for skill in dict.fromkeys(question_skills.get(outcome.question_id, ())):
            skills[skill] += 2.0 * outcome.score - 1.0
            seen[skill] += 1
    costs = [o.cost for o in outcomes if o.cost is not None]
    return ExpertProfile(
        expert=expert,
        skills=dict(skills),
        seen=dict(seen),
        correct=float(sum(o.score for o in outcomes)),
        total=len(outcomes),
        mean_prompt_tokens=_mean([o.prompt_tokens for o in outcomes]),
        mean_completion_tokens=_mean([o.completion_tokens for o in outcomes]),
        mean_cost=_mean(costs) if costs else None,
    )


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


@dataclass(frozen=True)
class ProfileMatrix:
    """Profiles as arrays, for scoring many questions at once."""

    experts: list[str]
    skills: list[str]
    values: np.ndarray
    """(skills, experts): the +1/-1 sums."""
    seen: np.ndarray
    """(skills, experts): validation questions per skill."""
    accuracy: np.ndarray
    """(experts,): overall validation accuracy."""
    competency: np.ndarray
    """(experts,): the sum of each expert's skill values."""

    @classmethod
    def from_profiles(
        cls, profiles: Mapping[str, ExpertProfile], experts: Sequence[str]
    ) -> ProfileMatrix:
        skills = sorted({s for name in experts for s in profiles[name].skills})
        index = {skill: i for i, skill in enumerate(skills)}
        values = np.zeros((len(skills), len(experts)))
        seen = np.zeros((len(skills), len(experts)))
        for column, name in enumerate(experts):
            for skill, value in profiles[name].skills.items():
                values[index[skill], column] = value
                seen[index[skill], column] = profiles[name].seen.get(skill, 0)
        return cls(
            experts=list(experts),
            skills=skills,
            values=values,
            seen=seen,
            accuracy=np.array([profiles[name].accuracy for name in experts]),
            competency=values.sum(axis=0),
        )

    def skill_index(self) -> dict[str, int]:
        return {skill: i for i, skill in enumerate(self.skills)}
