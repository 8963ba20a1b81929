"""``symbolic-moe``: the recruiter of the Symbolic-MoE paper, as its published code runs it.

- Profiles: per skill, +1 per validation question answered right and -1 per wrong one.
- Global competency prior: each expert's profile values summed; when the smallest sum is
  negative all sums are shifted by ``1 - min``; the sums raised to ``1 / temperature`` (0.5:
  squared) and normalised.
- Local relevance: for every keyword of the question (each mapped to its nearest inventory
  skill, a repeated skill counting again), the expert's profile value on that skill, summed.
- Recruiting: where some expert's relevance is positive, only those experts, weighted by
  relevance x prior; otherwise every expert, weighted by (relevance - min + 1) x prior; with
  no matched skill at all, uniformly. k experts are **drawn with replacement** from these
  weights (normalised), and **every draw is its own generation**: a draw of [A, A, B] runs A
  twice and B once, each sampled at temperature 0.7 with its own seed.
- Aggregation: always, over all k samples (even where they agree), by the pool's aggregator
  (``Assignment.always_aggregate``), sampled at the same temperature.

Each question's draws are seeded from the request's seed and the question's text
(``team_size.question_seeds``): a repeated request draws the same team, two questions draw
apart. The request's ``mode`` does not apply (the method always samples). A cost weight lambda
lowers the weights as for every method (scaled score minus lambda x relative cost, clipped at
0); at lambda 0 they are the paper's. k: auto gives the paper's k of 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
from pydantic import BaseModel

from router_svc.config.routers import SymbolicMoEOptions
from router_svc.errors import RoutingError
from router_svc.routing.inputs import Queries, SuiteData
from router_svc.routing.profiles import ProfileMatrix
from router_svc.routing.recruiter import Recruiter, RecruitOptions, ScoreParts, generators
from router_svc.tagging.inventory import SkillMatch


class SymbolicMoERouter(Recruiter):
    """The paper's recruiter (module docstring)."""

    Options = SymbolicMoEOptions
    auto_k = 3
    samples_draws = True
    always_aggregate = True

    def __init__(
        self,
        matrix: ProfileMatrix,
        expected_cost: np.ndarray | None = None,
        *,
        temperature: float = 0.5,
        sample_temperature: float = 0.7,
    ) -> None:
        if temperature <= 0:
            raise RoutingError(f"temperature must be > 0, got {temperature}")
        super().__init__(matrix, expected_cost)
        self.temperature = temperature
        self.sample_temperature = sample_temperature
        self.prior = strength_prior(matrix.values.sum(axis=0), temperature)

    @classmethod
    def fit(cls, suite: SuiteData, options: BaseModel) -> Self:
        settings = SymbolicMoEOptions.model_validate(options.model_dump())
        return cls(
            suite.matrix,
            suite.expected_cost,
            temperature=settings.temperature,
            sample_temperature=settings.sample_temperature,
        )

    def counts(self, skills: Sequence[Sequence[SkillMatch]]) -> np.ndarray:
        """(questions, skills): how many of each question's keywords mapped to each skill."""
        counts = np.zeros((len(skills), len(self.matrix.skills)))
        index = self.matrix.skill_index()
        for row, matches in enumerate(skills):
            for match in matches:
                column = index.get(match.skill)
                if column is not None:
                    counts[row, column] += 1.0
        return counts

    def score_queries(self, queries: Queries) -> ScoreParts:
        return self.score(self.counts(queries.skills))

    def score(self, weights: np.ndarray) -> ScoreParts:
        """``weights``: keyword counts per skill; the score is the sampling distribution."""
        relevance = weights @ self.matrix.values
        return ScoreParts(
            relevance=relevance,
            prior=self.prior,
            score=recruit_weights(relevance, self.prior, weights.sum(axis=1) > 0),
            fallback=~(relevance > 0).any(axis=1),
        )

    def recruit(
        self, scores: np.ndarray, options: RecruitOptions, seeds: np.ndarray | None = None
    ) -> np.ndarray:
        """(questions, k) draws with replacement, in draw order, each question from its own
        seed (``seeds``; without them one stream from ``options.seed`` for the batch)."""
        rngs = generators(len(scores), options.seed, seeds)
        rows = [_draw(row, options.k, rng) for row, rng in zip(scores, rngs, strict=True)]
        return np.array(rows, dtype=int).reshape(len(scores), options.k)


def strength_prior(strength: np.ndarray, temperature: float) -> np.ndarray:
    """Competency sums shifted to be positive (when any is negative), ** (1/T), normalised."""
    low = float(strength.min(initial=0.0))
    shifted = strength - low + 1.0 if low < 0 else strength.astype(float)
    scaled = np.power(np.clip(shifted, 0.0, None), 1.0 / temperature)
    total = float(scaled.sum())
    return np.asarray(scaled / total) if total > 0 else np.full(len(strength), 1 / len(strength))


def recruit_weights(relevance: np.ndarray, prior: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """(questions, experts): the distribution each question's experts are drawn from."""
    positive = relevance > 0
    shifted = relevance - relevance.min(axis=1, keepdims=True) + 1.0
    weights = np.where(
        positive.any(axis=1, keepdims=True), np.where(positive, relevance, 0.0), shifted
    )
    weights = np.where(matched[:, None], weights * prior[None, :], 1.0)
    return np.asarray(weights / weights.sum(axis=1, keepdims=True))


def _draw(scores: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """k draws from the positive part of ``scores``; where the cost term left no expert
    positive, the best of what is left (the cost-aware choice), k times."""
    weights = np.clip(scores, 0.0, None)
    total = float(weights.sum())
    if total <= 0:
        return [int(np.argmax(scores))] * k
    draws: list[int] = rng.choice(len(weights), size=k, replace=True, p=weights / total).tolist()
    return draws
