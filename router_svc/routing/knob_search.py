"""Choosing the shrinkage estimator's knobs by cross-validation on the validation questions.

The validation questions are split into seeded folds; each fold is estimated by a model fitted
on the others, and the knobs that give the best held-out log-likelihood of every expert's
outcomes win (coordinate ascent over a fixed grid, a few rounds). The log-likelihood scores
the whole probability table, not one routing decision, so it does not depend on the cost
weight a user will pick later and is less noisy than held-out routing accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from router_svc.routing.neighbours import nearest
from router_svc.routing.shrinkage import (
    Neighbours,
    NeighbourSums,
    ShrinkageKnobs,
    ShrinkageModel,
    membership,
    neighbour_sums,
)

GRID: Mapping[str, Sequence[float]] = {
    "neighbours": (10, 25, 50, 100, 200),
    "kernel_width": (0.05, 0.1, 0.2, 0.5),
    "neighbour_pseudo": (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0),
    "clusters": (1, 4, 8, 16, 32),
    "cluster_pseudo": (1.0, 5.0, 20.0, 80.0),
    "membership_temperature": (0.01, 0.02, 0.05, 0.1),
}
"""The values each knob may take; the search starts from the given knobs."""

_EPSILON = 1e-4


@dataclass
class FoldedData:
    """Validation arrays, their folds, and what is cached across knob settings."""

    vectors: np.ndarray
    scores: np.ndarray
    costs: np.ndarray
    fold: np.ndarray
    models: dict[tuple[int, int, int], ShrinkageModel] = field(default_factory=dict)
    members: dict[tuple[int, int, int, float], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict
    )
    """Per (fold, clusters, seed, temperature): the training and held-out rows' memberships."""
    near: dict[int, Neighbours] = field(default_factory=dict)
    sums: dict[tuple[int, int, float], NeighbourSums] = field(default_factory=dict)

    @classmethod
    def of(
        cls, vectors: np.ndarray, scores: np.ndarray, costs: np.ndarray, folds: int, seed: int
    ) -> FoldedData:
        fold = np.random.default_rng(seed).permutation(len(vectors)) % folds
        return cls(vectors, np.asarray(scores, dtype=float), np.asarray(costs, dtype=float), fold)

    @property
    def folds(self) -> int:
        return int(self.fold.max()) + 1

    def held_out(self, knobs: ShrinkageKnobs) -> np.ndarray:
        """(n, e): every question's estimate by the model fitted without its fold."""
        estimate = np.zeros_like(self.scores)
        for f in range(self.folds):
            rows = self.fold == f
            model, member = self._model(f, knobs)
            prior = model.cluster_prior(self.vectors[rows], member)
            if knobs.neighbours < 1:
                estimate[rows] = prior[0]
            else:
                estimate[rows] = model.blend(*prior, self._sums(f, model))[0]
        return estimate

    def _sums(self, f: int, model: ShrinkageModel) -> NeighbourSums:
        """Fold f's neighbour sums, computed once per (neighbours, kernel width): the
        other knobs only move the prior they are shrunk toward."""
        knobs = model.knobs
        key = (f, knobs.neighbours, knobs.kernel_width)
        if key not in self.sums:
            self.sums[key] = neighbour_sums(self._near(f), model.scores, model.costs, knobs)
        return self.sums[key]

    def _model(self, f: int, knobs: ShrinkageKnobs) -> tuple[ShrinkageModel, np.ndarray | None]:
        """Fold f's model for ``knobs`` and its held-out rows' cluster membership (None: one
        cluster). Clusterings and memberships are computed once: only the pseudo-counts vary
        between most of the settings tried."""
        key = (f, knobs.clusters, knobs.seed)
        if key not in self.models:
            train = self.fold != f
            self.models[key] = ShrinkageModel.fit(
                self.vectors[train], self.scores[train], self.costs[train], knobs
            )
        fitted = self.models[key]
        if not len(fitted.centroids):
            return fitted.refit(knobs), None
        member_key = (*key, knobs.membership_temperature)
        if member_key not in self.members:
            width = knobs.membership_temperature
            self.members[member_key] = (
                membership(fitted.vectors, fitted.centroids, width),
                membership(self.vectors[self.fold == f], fitted.centroids, width),
            )
        train_member, held_member = self.members[member_key]
        return fitted.refit(knobs, train_member), held_member

    def _near(self, f: int) -> Neighbours:
        """Fold f's nearest training questions, as many as the widest knob asks for."""
        if f not in self.near:
            train, widest = self.vectors[self.fold != f], int(max(GRID["neighbours"]))
            found = nearest(self.vectors[self.fold == f], train, min(widest, len(train)))
            self.near[f] = Neighbours(*found)
        return self.near[f]


def log_likelihood(probability: np.ndarray, outcome: np.ndarray) -> float:
    """Mean Bernoulli log-likelihood of 0/1 (or graded) outcomes."""
    p = np.clip(probability, _EPSILON, 1.0 - _EPSILON)
    return float(np.mean(outcome * np.log(p) + (1.0 - outcome) * np.log(1.0 - p)))


@dataclass(frozen=True)
class Selection:
    """The chosen knobs and their held-out log-likelihood."""

    knobs: ShrinkageKnobs
    log_likelihood: float


def select_knobs(
    vectors: np.ndarray,
    scores: np.ndarray,
    costs: np.ndarray,
    *,
    start: ShrinkageKnobs | None = None,
    folds: int = 5,
    seed: int = 0,
    rounds: int = 3,
) -> Selection:
    """Coordinate ascent of the held-out log-likelihood over ``GRID`` from ``start``."""
    folds = max(2, min(folds, len(vectors)))
    data = FoldedData.of(vectors, scores, costs, folds, seed)
    best = start or ShrinkageKnobs(seed=seed)
    best_score = log_likelihood(data.held_out(best), data.scores)
    for _ in range(rounds):
        improved = False
        for name, values in GRID.items():
            for value in values:
                knobs = replace(best, **{name: type(getattr(best, name))(value)})
                if knobs == best or not _fits(knobs, data):
                    continue
                score = log_likelihood(data.held_out(knobs), data.scores)
                if score > best_score + 1e-6:
                    best, best_score, improved = knobs, score, True
        if not improved:
            break
    return Selection(best, best_score)


def _fits(knobs: ShrinkageKnobs, data: FoldedData) -> bool:
    """Whether the smallest training part has enough questions for these knobs."""
    smallest = len(data.vectors) - int(np.bincount(data.fold).max())
    return knobs.neighbours <= smallest and knobs.clusters <= smallest
