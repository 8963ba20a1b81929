"""``skill-plus``: smoothed per-skill accuracies, a cluster tag and the nearest neighbours.

Each idea is an option (``SkillPlusOptions``), so the benches' ablation is this class with
options switched off:

- **accuracy scoring**: each expert's validation accuracy per skill, averaged over the
  question's skills (``SmoothedSkillRecruiter``), instead of +1/-1 sums times a prior;
- **smoothing**: those accuracies shrunk toward the expert's overall one (``pseudo_count``);
- **cluster tag** (``tags="combined"``): the tagger's tags plus the name of the question's
  nearest cluster of validation-question vectors, a coarse skill with many outcomes behind it;
- **neighbours**: the estimate blended (``blend``) with the experts' smoothed scores on the
  question's nearest validation questions;
- **tuning**: ``pseudo_count`` and ``blend`` chosen by two-fold cross-fitting on the
  validation questions (profiles from one half, scored on the other).

The score is an accuracy estimate in [0, 1] per expert; ``assign`` trades it against cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import Self

import numpy as np
from pydantic import BaseModel

from router_svc.config.routers import SkillPlusOptions
from router_svc.routing.clusters import Clustering, default_clusters, kmeans, name_clusters
from router_svc.routing.inputs import Queries, SuiteData
from router_svc.routing.learn import SkillModel, learn
from router_svc.routing.neighbours import nearest, neighbour_estimates
from router_svc.routing.recruiter import Recruiter, ScoreParts
from router_svc.routing.smoothed import SmoothedSkillRecruiter
from router_svc.tagging.embedder import Embedder

CHUNK = 512
"""Questions per dense (questions x skills) weight block."""


@dataclass(frozen=True, eq=False)
class Split:
    """Validation questions as a learner sees them."""

    ids: list[str]
    tags: list[list[str]]
    scores: np.ndarray
    vectors: np.ndarray | None

    def take(self, rows: np.ndarray) -> Split:
        return Split(
            [self.ids[i] for i in rows],
            [self.tags[i] for i in rows],
            self.scores[rows],
            None if self.vectors is None else self.vectors[rows],
        )


class Estimator:
    """Skill and neighbour estimates of one learned split for a fixed batch of queries."""

    def __init__(
        self,
        model: SkillModel,
        train: Split,
        tags: Sequence[Sequence[str]],
        vectors: np.ndarray | None,
        options: SkillPlusOptions,
    ) -> None:
        self.model = model
        self.options = options
        matches = model.matches(tags)
        probe = SmoothedSkillRecruiter(model.matrix)
        self.weights = [probe.weights(matches[s : s + CHUNK]) for s in range(0, len(tags), CHUNK)]
        usable = options.neighbours and vectors is not None and len(train.ids) > 0
        self.neighbours = _neighbours(vectors, train, options) if usable else None
        self._skill: dict[float, np.ndarray] = {}

    def skill_parts(self, pseudo: float) -> list[ScoreParts]:
        recruiter = SmoothedSkillRecruiter(
            self.model.matrix, pseudo_count=pseudo, combine=self.options.combine
        )
        return [recruiter.score(block) for block in self.weights]

    def skill(self, pseudo: float) -> np.ndarray:
        if pseudo not in self._skill:
            parts = self.skill_parts(pseudo)
            self._skill[pseudo] = np.concatenate([p.score for p in parts]) if parts else _none(self)
        return self._skill[pseudo]

    def estimate(self, pseudo: float, blend: float) -> np.ndarray:
        """(queries, experts): (1 - blend) x skill estimate + blend x neighbours' estimate."""
        skill = self.skill(pseudo)
        if blend == 0 or self.neighbours is None:
            return skill
        return (1.0 - blend) * skill + blend * self.neighbours


class SkillPlusRouter(Recruiter):
    """The skill router with every idea of the module docstring."""

    Options = SkillPlusOptions

    def __init__(
        self,
        model: SkillModel,
        train: Split,
        expected_cost: np.ndarray,
        options: SkillPlusOptions,
        *,
        clustering: Clustering | None,
        knobs: tuple[float, float],
    ) -> None:
        super().__init__(model.matrix, expected_cost)
        self.model = model
        self.train = train
        self.options = options
        self.clustering = clustering
        self.pseudo_count, self.blend = knobs
        self.needs_vectors = clustering is not None or (options.neighbours and self.blend > 0)

    @classmethod
    def fit(cls, suite: SuiteData, options: BaseModel) -> Self:
        settings = SkillPlusOptions.model_validate(options.model_dump())
        uses_vectors = settings.tags == "combined" or settings.neighbours
        vectors = suite.vectors if uses_vectors else None
        clustering = fit_clusters(vectors, suite.tags, settings)
        train = Split(
            suite.ids, with_clusters(suite.tags, clustering, vectors), suite.scores, vectors
        )
        knobs = tune(train, suite.experts, suite.embedder, settings)
        model = learn(suite.experts, train.scores, train.tags, suite.embedder)
        return cls(model, train, suite.expected_cost, settings, clustering=clustering, knobs=knobs)

    def estimator(self, tags: Sequence[Sequence[str]], vectors: np.ndarray | None) -> Estimator:
        """Estimates for a batch of queries (their tagger tags and question vectors)."""
        combined = with_clusters(tags, self.clustering, vectors)
        return Estimator(self.model, self.train, combined, vectors, self.options)

    def score_queries(self, queries: Queries) -> ScoreParts:
        vectors = queries.require_vectors() if self.needs_vectors else queries.vectors
        estimator = self.estimator(queries.tags, vectors)
        parts = estimator.skill_parts(self.pseudo_count)
        if not parts:
            empty = np.zeros((0, len(self.matrix.experts)))
            return ScoreParts(empty, self.matrix.accuracy, empty, np.zeros(0, dtype=bool))
        return ScoreParts(
            relevance=np.concatenate([p.relevance for p in parts]),
            prior=self.matrix.accuracy,
            score=estimator.estimate(self.pseudo_count, self.blend),
            fallback=np.concatenate([p.fallback for p in parts]),
        )

    def cross_fitted(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per validation half: (its rows, the estimate for them learned on the other half)."""
        return [
            (rows, estimator.estimate(self.pseudo_count, self.blend))
            for rows, estimator in folds(self.train, self.matrix.experts, self.model.embedder,
                                         self.options)
        ]  # fmt: skip


def fit_clusters(
    vectors: np.ndarray | None, tags: Sequence[Sequence[str]], options: SkillPlusOptions
) -> Clustering | None:
    """Clusters of the validation vectors named by their tags (None: no cluster tag)."""
    if options.tags != "combined" or vectors is None or not len(vectors):
        return None
    count = options.clusters or default_clusters(len(vectors))
    centroids, labels = kmeans(vectors, count, seed=options.seed)
    return Clustering(centroids, name_clusters(labels, tags, count))


def with_clusters(
    tags: Sequence[Sequence[str]], clustering: Clustering | None, vectors: np.ndarray | None
) -> list[list[str]]:
    """Each question's tags, plus its cluster's name when there is a clustering."""
    if clustering is None or vectors is None or not len(tags):
        return [list(row) for row in tags]
    names = clustering.names
    labels = clustering.assign(vectors).tolist()
    return [[*row, names[label]] for row, label in zip(tags, labels, strict=True)]


def folds(
    train: Split, experts: list[str], embedder: Embedder, options: SkillPlusOptions
) -> list[tuple[np.ndarray, Estimator]]:
    """Two-fold cross-fitting: each seeded half's estimator, learned on the other half."""
    half = np.random.default_rng(options.seed).random(len(train.ids)) < 0.5
    result = []
    for held in (half, ~half):
        rows, other = np.flatnonzero(held), np.flatnonzero(~held)
        if not len(rows) or not len(other):
            continue
        learned = train.take(other)
        model = learn(experts, learned.scores, learned.tags, embedder)
        query = train.take(rows)
        result.append((rows, Estimator(model, learned, query.tags, query.vectors, options)))
    return result


def tune(
    train: Split, experts: list[str], embedder: Embedder, options: SkillPlusOptions
) -> tuple[float, float]:
    """(pseudo_count, blend): the options', or the grid point with the best cross-fitted
    accuracy of the top expert (the first in grid order on a tie)."""
    pseudo = options.pseudo_count if options.smoothing else 0.0
    blend = options.blend if options.neighbours else 0.0
    if not options.tuned:
        return pseudo, blend
    halves = folds(train, experts, embedder, options)
    pseudos = options.pseudo_grid if options.smoothing else [0.0]
    blends = options.blend_grid if options.neighbours else [0.0]
    scored = [
        (_accuracy(train, halves, p, b), -i, (p, b))
        for i, (p, b) in enumerate(product(pseudos, blends))
    ]
    return max(scored)[2] if halves else (pseudo, blend)


def _accuracy(
    train: Split, halves: list[tuple[np.ndarray, Estimator]], pseudo: float, blend: float
) -> float:
    total = 0.0
    for rows, estimator in halves:
        top = np.argmax(estimator.estimate(pseudo, blend), axis=1)
        total += float(train.scores[rows, top].sum())
    return total


def _neighbours(vectors: np.ndarray | None, train: Split, options: SkillPlusOptions) -> np.ndarray:
    if vectors is None or train.vectors is None:
        raise ValueError("the neighbours need question vectors")
    rows, sims = nearest(vectors, train.vectors, options.neighbour_count)
    return neighbour_estimates(
        rows,
        sims,
        train.scores,
        prior=train.scores.mean(axis=0),
        pseudo=options.neighbour_pseudo,
    )


def _none(estimator: Estimator) -> np.ndarray:
    return np.zeros((0, len(estimator.model.matrix.experts)))
