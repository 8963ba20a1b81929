"""Choosing the shrinkage estimator's knobs by cross-validation on the evidence rows.

Two families of folds judge each setting. Ordinary folds hold out seeded random questions
(tasks already seen); where the rows carry categories, leave-one-category-out folds hold out a
whole task, so a knob that only helps on tasks seen in validation loses there. Each held-out
question is estimated by a model fitted on the other folds, and the setting is scored by what
the report measures: the routing decision's realised utility (score of the chosen expert
minus lambda x its relative cost) averaged over a few cost weights, with the held-out
log-likelihood as a tie-breaker. The families count equally. Coordinate ascent over a fixed
grid, a few rounds, from the given knobs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from router_svc.routing.evidence import Evidence, SkillRows
from router_svc.routing.neighbours import nearest
from router_svc.routing.shrinkage import (
    Neighbours,
    NeighbourSums,
    Records,
    ShrinkageKnobs,
    ShrinkageModel,
    membership,
    neighbour_sums,
)

GRID: Mapping[str, Sequence[float]] = {
    "neighbours": (10, 25, 50, 100, 200),
    "kernel_width": (0.05, 0.1, 0.2, 0.5),
    "neighbour_pseudo": (0.3, 1.0, 3.0, 10.0, 30.0, 100.0),
    "skill_pseudo": (3.0, 10.0, 30.0, 100.0, 300.0, math.inf),
    "clusters": (1, 4, 8, 16, 32),
    "cluster_pseudo": (1.0, 5.0, 20.0, 80.0),
    "task_pseudo": (1.0, 5.0, 20.0, 80.0, math.inf),
    "membership_temperature": (0.01, 0.02, 0.05, 0.1),
}
"""The values each knob may take; the search starts from the given knobs."""

DECISION_WEIGHTS = (0.0, 0.05, 0.2)
"""Cost weights (lambda, relative to the most expensive expert) the decisions are scored at."""
SIGNIFICANCE = 2.0
"""A knob moves only when its gain exceeds this many standard errors of the paired gain:
most settings differ by noise, and the given knobs stand until the evidence says otherwise."""
MAX_SEARCH_ROWS = 4000
"""Evidence rows beyond this are sampled down (seeded, every task kept in proportion) for the
search only: a setting's score settles long before, and the search's cost grows with rows.
The model is then fitted on every row with the chosen knobs."""
_TIE_BREAK = 1e-3
"""Weight of the log-likelihood beside the decisions' utility: it orders exact ties only."""
_EPSILON = 1e-4


@dataclass
class FoldedData:
    """Evidence rows, their folds, and what is cached across knob settings."""

    evidence: Evidence
    skill_count: int
    fold: np.ndarray
    models: dict[tuple[int, int, int], ShrinkageModel] = field(default_factory=dict)
    members: dict[tuple[int, int, int, float], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict
    )
    """Per (fold, clusters, seed, temperature): the training and held-out rows' memberships."""
    near: dict[int, Neighbours] = field(default_factory=dict)
    sums: dict[tuple[int, int, float], NeighbourSums] = field(default_factory=dict)
    skills: dict[int, tuple[Records, SkillRows]] = field(default_factory=dict)

    @property
    def folds(self) -> int:
        return int(self.fold.max()) + 1

    def held_out(self, knobs: ShrinkageKnobs) -> tuple[np.ndarray, np.ndarray]:
        """(probability, cost), each (n, e): every row's estimate by the model fitted
        without its fold."""
        shape = self.evidence.scores.shape
        probability, cost = np.zeros(shape), np.zeros(shape)
        for f in range(self.folds):
            rows = self.fold == f
            model, member = self._model(f, knobs)
            sums = self._sums(f, model) if knobs.neighbours >= 1 else None
            estimate = model.estimate(
                self.evidence.vectors[rows], self._skills(f)[1], member=member, sums=sums
            )
            probability[rows], cost[rows] = estimate.probability, estimate.cost
        return probability, cost

    def _sums(self, f: int, model: ShrinkageModel) -> NeighbourSums:
        """Fold f's neighbour sums, once per (neighbours, kernel width)."""
        knobs = model.knobs
        key = (f, knobs.neighbours, knobs.kernel_width)
        if key not in self.sums:
            self.sums[key] = neighbour_sums(self._near(f), model.evidence, knobs)
        return self.sums[key]

    def _skills(self, f: int) -> tuple[Records, SkillRows]:
        """Fold f's training skill records and its held-out rows' skills (those with a
        record in training)."""
        if f not in self.skills:
            train = self.fold != f
            records = Records.of_skills(
                self.evidence.skills.take(train), self.evidence.take(train), self.skill_count
            )
            held = self.evidence.skills.take(self.fold == f)
            has_record = records.known.sum(axis=1) > 0
            kept = has_record[held.columns]
            held = SkillRows(held.rows[kept], held.columns[kept], held.weights[kept], held.count)
            self.skills[f] = (records, held)
        return self.skills[f]

    def _model(self, f: int, knobs: ShrinkageKnobs) -> tuple[ShrinkageModel, np.ndarray | None]:
        """Fold f's model for ``knobs`` and its held-out rows' cluster membership (None: one
        cluster). Clusterings, memberships and skill records are computed once: only the
        pseudo-counts vary between most of the settings tried."""
        key = (f, knobs.clusters, knobs.seed)
        if key not in self.models:
            train = self.fold != f
            self.models[key] = ShrinkageModel.fit(
                self.evidence.take(train), self.skill_count, knobs
            )
        fitted = self.models[key]
        if not len(fitted.centroids):
            return fitted.refit(knobs), None
        member_key = (*key, knobs.membership_temperature)
        if member_key not in self.members:
            width = knobs.membership_temperature
            self.members[member_key] = (
                membership(fitted.evidence.vectors, fitted.centroids, width),
                membership(self.evidence.vectors[self.fold == f], fitted.centroids, width),
            )
        train_member, held_member = self.members[member_key]
        return fitted.refit(knobs, train_member), held_member

    def _near(self, f: int) -> Neighbours:
        """Fold f's nearest training rows, as many as the widest knob asks for."""
        if f not in self.near:
            vectors = self.evidence.vectors
            train, widest = vectors[self.fold != f], int(max(GRID["neighbours"]))
            found = nearest(vectors[self.fold == f], train, min(widest, len(train)))
            self.near[f] = Neighbours(*found)
        return self.near[f]


def log_likelihood(probability: np.ndarray, outcome: np.ndarray) -> float:
    """Mean Bernoulli log-likelihood of the known 0/1 (or graded) outcomes."""
    known = ~np.isnan(outcome)
    p = np.clip(probability[known], _EPSILON, 1.0 - _EPSILON)
    o = outcome[known]
    return float(np.mean(o * np.log(p) + (1.0 - o) * np.log(1.0 - p)))


def decision_utility(
    probability: np.ndarray,
    cost: np.ndarray,
    evidence: Evidence,
    weights: Sequence[float] = DECISION_WEIGHTS,
) -> float:
    """The mean of ``row_utility`` over the rows whose chosen expert's outcome is known."""
    return float(np.nanmean(row_utility(probability, cost, evidence, weights)))


def row_utility(
    probability: np.ndarray,
    cost: np.ndarray,
    evidence: Evidence,
    weights: Sequence[float] = DECISION_WEIGHTS,
) -> np.ndarray:
    """(n,): each row's realised utility of the top-1 choice by probability - lambda x
    relative cost, averaged over cost weights ``weights``: the held-out score of the chosen
    expert minus lambda x its recorded relative cost (NaN where that outcome is unknown)."""
    scale = float(np.nanmax(np.nanmean(evidence.costs, axis=0), initial=0.0)) or 1.0
    rows = np.arange(len(probability))
    total = np.zeros(len(probability))
    for weight in weights:
        chosen = np.argmax(probability - weight * cost / scale, axis=1)
        score, spent = evidence.scores[rows, chosen], evidence.costs[rows, chosen]
        total += score - weight * np.nan_to_num(spent) / scale
    return total / len(weights)


@dataclass(frozen=True)
class Trial:
    """One knob setting and its cross-validated scores."""

    knobs: ShrinkageKnobs
    objective: float
    utility: dict[str, float]
    """Per fold family: the decisions' mean realised utility."""
    accuracy: dict[str, float]
    """Per fold family: held-out accuracy of the lambda = 0 choice."""
    log_likelihood: float
    rows: dict[str, np.ndarray] = field(repr=False, compare=False, default_factory=dict)
    """Per fold family: each row's realised utility (for paired comparisons); dropped once the
    search ends."""
    versus_chosen: tuple[float, float] = (0.0, 0.0)
    """(gain in utility over the chosen setting, its standard error), set when the search
    ends."""

    def gain_over(self, other: Trial) -> tuple[float, float]:
        """(mean gain in utility over ``other``, its standard error), the fold families
        weighing equally; paired by row."""
        means, variances = [], []
        for name, mine in self.rows.items():
            diff = mine - other.rows[name]
            diff = diff[~np.isnan(diff)]
            means.append(float(diff.mean()) if len(diff) else 0.0)
            variances.append(float(diff.var()) / max(len(diff), 1))
        count = max(len(means), 1)
        return sum(means) / count, float(np.sqrt(sum(variances))) / count


@dataclass(frozen=True)
class Selection:
    """The chosen knobs, their trial, and every other setting tried (best first), each
    with its gain over the chosen one."""

    knobs: ShrinkageKnobs
    best: Trial
    trials: tuple[Trial, ...]

    def runners_up(self, n: int = 3) -> list[Trial]:
        return [t for t in self.trials if t.knobs != self.knobs][:n]

    @classmethod
    def of(cls, best: Trial, tried: Sequence[Trial]) -> Selection:
        """The selection of ``best`` among ``tried``, the per-row utilities dropped."""
        ranked = sorted(tried, key=lambda t: -t.objective)
        settled = tuple(replace(t, rows={}, versus_chosen=t.gain_over(best)) for t in ranked)
        chosen = next(t for t in settled if t.knobs == best.knobs)
        return cls(best.knobs, chosen, settled)


def fold_families(
    evidence: Evidence,
    skill_count: int,
    categories: Sequence[str] | None,
    *,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, FoldedData]:
    """Seeded random folds, plus one fold per category where there are at least two."""
    n = len(evidence)
    folds = max(2, min(folds, n))
    families = {
        "random": FoldedData(
            evidence, skill_count, np.random.default_rng(seed).permutation(n) % folds
        )
    }
    names = sorted(set(categories)) if categories is not None else []
    if len(names) >= 2:
        lookup = {name: i for i, name in enumerate(names)}
        fold = np.array([lookup[c] for c in categories or ()], dtype=int)
        families["category"] = FoldedData(evidence, skill_count, fold)
    return families


def select_knobs(
    evidence: Evidence,
    skill_count: int,
    *,
    categories: Sequence[str] | None = None,
    start: ShrinkageKnobs | None = None,
    folds: int = 5,
    seed: int = 0,
    rounds: int = 3,
    max_rows: int = MAX_SEARCH_ROWS,
    weights: Sequence[float] = DECISION_WEIGHTS,
) -> Selection:
    """Coordinate ascent of the cross-validated decision utility over ``GRID`` from
    ``start``, on at most ``max_rows`` rows (``search_rows``), the decisions scored at the
    cost weights ``weights``."""
    keep = search_rows(len(evidence), categories, max_rows, seed)
    if keep is not None:
        evidence = evidence.take(keep)
        categories = (
            None if categories is None else [c for c, k in zip(categories, keep, strict=True) if k]
        )
    families = fold_families(evidence, skill_count, categories, folds=folds, seed=seed)
    tried: dict[ShrinkageKnobs, Trial] = {}
    trial_of = partial(_trial, families=families, tried=tried, weights=weights)
    best = trial_of(start or ShrinkageKnobs(seed=seed))
    for _ in range(rounds):
        improved = False
        for name, values in GRID.items():
            for value in values:
                knobs = replace(best.knobs, **{name: type(getattr(best.knobs, name))(value)})
                if knobs in tried or not all(_fits(knobs, d) for d in families.values()):
                    continue
                trial = trial_of(knobs)
                gain, error = trial.gain_over(best)
                if gain > 0 and gain > SIGNIFICANCE * error:
                    best, improved = trial, True
        if not improved:
            break
    return Selection.of(best, list(tried.values()))


def search_rows(
    rows: int, categories: Sequence[str] | None, max_rows: int, seed: int
) -> np.ndarray | None:
    """A seeded boolean mask of ``max_rows`` rows, each category keeping its share (None:
    every row)."""
    if rows <= max_rows:
        return None
    rng = np.random.default_rng(seed)
    groups = np.asarray(categories) if categories is not None else np.zeros(rows, dtype=int)
    keep = np.zeros(rows, dtype=bool)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        share = max(1, round(len(members) * max_rows / rows))
        keep[rng.choice(members, size=min(share, len(members)), replace=False)] = True
    return keep


def _trial(
    knobs: ShrinkageKnobs,
    families: Mapping[str, FoldedData],
    tried: dict[ShrinkageKnobs, Trial],
    weights: Sequence[float] = DECISION_WEIGHTS,
) -> Trial:
    utility, accuracy, likelihood = {}, {}, []
    rows = {}
    for name, data in families.items():
        probability, cost = data.held_out(knobs)
        rows[name] = row_utility(probability, cost, data.evidence, weights)
        utility[name] = float(np.nanmean(rows[name]))
        accuracy[name] = decision_utility(probability, cost, data.evidence, (0.0,))
        likelihood.append(log_likelihood(probability, data.evidence.scores))
    mean_likelihood = float(np.mean(likelihood))
    objective = float(np.mean(list(utility.values()))) + _TIE_BREAK * mean_likelihood
    trial = Trial(knobs, objective, utility, accuracy, mean_likelihood, rows)
    tried[knobs] = trial
    return trial


def _fits(knobs: ShrinkageKnobs, data: FoldedData) -> bool:
    """Whether the smallest training part has enough rows for these knobs."""
    smallest = len(data.evidence) - int(np.bincount(data.fold).max())
    return knobs.neighbours <= smallest and knobs.clusters <= smallest
