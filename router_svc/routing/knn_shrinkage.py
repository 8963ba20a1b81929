"""``knn-shrinkage``: route each question to the expert most likely to answer it right, for
what it costs.

Fitted on the suite's validation record: the validation question vectors, every expert's
score and cost on each. For a query, :mod:`router_svc.routing.shrinkage` estimates each
expert's success probability and expected cost from the nearest validation questions, shrunk
toward the query's cluster and the expert's overall record; the knobs come from
cross-validation on the validation questions (:mod:`router_svc.routing.knob_search`). The
recruiter then takes the top k of probability minus lambda x cost relative to the most
expensive expert (``Recruiter.utility``).
"""

from __future__ import annotations

from typing import Self

import numpy as np
from pydantic import BaseModel

from router_svc.config.routers import KnnShrinkageOptions
from router_svc.routing.inputs import Queries, SuiteData
from router_svc.routing.knob_search import select_knobs
from router_svc.routing.profiles import ProfileMatrix
from router_svc.routing.recruiter import Recruiter, ScoreParts
from router_svc.routing.shrinkage import ShrinkageKnobs, ShrinkageModel

MIN_TUNED = 20
"""Fewer validation questions than this: the knobs as given (too few to cross-validate)."""


class KnnShrinkageRouter(Recruiter):
    """Expected score minus lambda x expected cost (module docstring)."""

    Options = KnnShrinkageOptions
    needs_vectors = True
    scores_are_probabilities = True

    def __init__(
        self, matrix: ProfileMatrix, expected_cost: np.ndarray, model: ShrinkageModel
    ) -> None:
        super().__init__(matrix, expected_cost)
        self.model = model
        self.overall = model.scores.mean(axis=0) if len(model.scores) else expected_cost * 0

    @classmethod
    def fit(cls, suite: SuiteData, options: BaseModel) -> Self:
        settings = KnnShrinkageOptions.model_validate(options.model_dump())
        vectors = np.ascontiguousarray(suite.vectors, dtype=np.float32)
        knobs = knobs_of(settings)
        if settings.tuned and len(vectors) >= MIN_TUNED:
            found = select_knobs(
                vectors, suite.scores, suite.costs, start=knobs, folds=settings.folds,
                seed=settings.seed,
            )  # fmt: skip
            knobs = found.knobs
        model = ShrinkageModel.fit(vectors, suite.scores, suite.costs, knobs)
        return cls(suite.matrix, suite.expected_cost, model)

    @property
    def knobs(self) -> ShrinkageKnobs:
        return self.model.knobs

    def score_queries(self, queries: Queries) -> ScoreParts:
        probability, cost = self.model.estimate(queries.require_vectors())
        return ScoreParts(
            relevance=probability,
            prior=self.overall,
            score=probability,
            fallback=np.zeros(len(queries), dtype=bool),
            cost=cost,
        )


def knobs_of(options: KnnShrinkageOptions) -> ShrinkageKnobs:
    """The estimator's knobs as the options give them."""
    return ShrinkageKnobs(
        neighbours=options.neighbours,
        kernel_width=options.kernel_width,
        neighbour_pseudo=options.neighbour_pseudo,
        clusters=options.clusters,
        cluster_pseudo=options.cluster_pseudo,
        membership_temperature=options.membership_temperature,
        seed=options.seed,
    )
