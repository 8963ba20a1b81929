"""Beyond the plateau: skill-router variants, each adding one idea, and their ablation.

- **accuracy scoring**: each expert's accuracy per skill, averaged over the question's skills
  (:class:`~router_svc.routing.smoothed.SmoothedSkillRecruiter`), instead of +1/-1 sums times a
  softmax competency prior;
- **smoothing**: those accuracies shrunk toward the expert's overall accuracy by a pseudo-count;
- **combined taggers**: keyword tags plus a cluster tag (validation-question clusters, named by
  their top terms), so every question also carries a coarse skill with many outcomes behind it;
- **neighbours**: the estimate is blended with the experts' smoothed scores on the question's
  nearest validation questions;
- **tuning**: pseudo-count and blend chosen by two-fold cross-fitting on the validation split
  (profiles from one half, outcomes of the other);
- **calibrated k**: a question goes to its top three experts and a vote only where the
  estimated gain of the vote over the top expert exceeds a margin fitted the same way.

The variants are pure arrays plus the real recruiters, so the same code runs on replay data and
on a live bench's outcome tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import product
from typing import Literal

import numpy as np

from router_svc.routing.neighbours import nearest, neighbour_estimates
from router_svc.evaluation.records import StrategyResult, one_hot
from router_svc.evaluation.routers import SkillModel, SkillWeights, learn, recruiter_scores
from router_svc.evaluation.strategies import expected_vote, routed_scores, vote
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.recruiter import SkillRecruiter
from router_svc.routing.smoothed import Combine, SmoothedSkillRecruiter
from router_svc.tagging.embedder import Embedder
from router_svc.tagging.inventory import SkillMatch

TagSet = Literal["keyword", "combined"]


@dataclass(frozen=True)
class Tuning:
    """The knobs of the improved router; ``tuned`` variants pick the first two on validation."""

    pseudo_count: float = 10.0
    blend: float = 0.25
    """Weight of the neighbours' estimate against the skill estimate."""
    combine: Combine = "mean"
    neighbours: int = 30
    neighbour_pseudo: float = 5.0
    vote_k: int = 3
    pseudo_grid: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0, 40.0)
    blend_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)


@dataclass(frozen=True)
class Variant:
    """Which ideas a skill-router variant uses."""

    name: str
    plain: bool = False
    """The shipped SkillRecruiter (only ``tags`` applies)."""
    smoothing: bool = True
    tags: TagSet = "combined"
    neighbours: bool = True
    tuned: bool = True
    calibrated_k: bool = False


FULL = Variant("skill-router+")
CALIBRATED = replace(FULL, name="skill-router+ calibrated k", calibrated_k=True)
_BASE = Variant("", smoothing=False, tags="keyword", neighbours=False, tuned=False)
LADDER: tuple[Variant, ...] = (
    Variant("skill-router", plain=True, tags="keyword"),
    replace(_BASE, name="+accuracy scoring"),
    replace(_BASE, name="+smoothing", smoothing=True),
    replace(_BASE, name="+combined taggers", smoothing=True, tags="combined"),
    replace(FULL, name="+neighbours", tuned=False),
    replace(FULL, name="+tuning on validation"),
    replace(CALIBRATED, name="+calibrated k"),
)
"""Each idea added to the previous row."""
DROP_ONE: tuple[Variant, ...] = (
    replace(FULL, name="full - smoothing", smoothing=False),
    replace(FULL, name="full - combined taggers", tags="keyword"),
    replace(FULL, name="full - neighbours", neighbours=False),
    replace(FULL, name="full - tuning", tuned=False),
)
"""The full k=1 router without one idea each."""


@dataclass(frozen=True, eq=False)
class View:
    """One split as the router sees it: outcomes, tags and question vectors."""

    table: OutcomeTable
    keyword_tags: list[list[str]]
    combined_tags: list[list[str]]
    vectors: np.ndarray

    def tags(self, which: TagSet) -> list[list[str]]:
        return self.keyword_tags if which == "keyword" else self.combined_tags

    def take(self, rows: np.ndarray) -> View:
        return View(
            self.table.take(rows),
            [self.keyword_tags[i] for i in rows],
            [self.combined_tags[i] for i in rows],
            self.vectors[rows],
        )


@dataclass(frozen=True, eq=False)
class Decision:
    """A variant's choice per question: its top experts and where it votes among them."""

    top: np.ndarray
    """(questions, vote_k) expert indices, best first."""
    votes: np.ndarray
    """(questions,) bool: True where the question goes to all of ``top`` and a vote."""


class VariantRunner:
    """Runs skill-router variants: profiles from ``validation``, decisions on ``test``.

    Learned pieces are cached per (training split, tag set): "test" learns on the whole
    validation split and routes the test split; "fold0"/"fold1" learn on one half of the
    validation split and route the other (for tuning and the vote margin)."""

    def __init__(
        self,
        validation: View,
        test: View,
        embedder: Embedder,
        *,
        tuning: Tuning | None = None,
        seed: int = 0,
    ) -> None:
        self.embedder = embedder
        self.tuning = tuning or Tuning()
        half = np.random.default_rng(seed).random(len(validation.table)) < 0.5
        self.pairs: dict[str, tuple[View, View]] = {"test": (validation, test)}
        for fold, held in enumerate((half, ~half)):
            rows, other = np.flatnonzero(held), np.flatnonzero(~held)
            self.pairs[f"fold{fold}"] = (validation.take(other), validation.take(rows))
        self._models: dict[tuple[str, TagSet], SkillModel] = {}
        self._weights: dict[tuple[str, TagSet], SkillWeights] = {}
        self._near: dict[str, np.ndarray] = {}
        self._tuned: dict[tuple[bool, TagSet, bool], tuple[float, float]] = {}
        self._margins: dict[tuple[bool, TagSet, bool, bool], float] = {}

    def run(self, variant: Variant, family: str = "router") -> StrategyResult:
        """The variant's strategy result on the test split."""
        decision = self.decide(variant, "test")
        table = self.pairs["test"][1].table
        scores = routed_scores(table, decision.top[:, 0])
        calls = one_hot(decision.top[:, 0], len(table.experts))
        if decision.votes.any():
            scores = np.where(decision.votes, vote(table, decision.top), scores)
            calls = np.where(decision.votes[:, None], one_hot(decision.top, calls.shape[1]), calls)
        return StrategyResult(variant.name, family, scores, calls, description=describe(variant))

    def decide(self, variant: Variant, key: str) -> Decision:
        estimate = self.estimate(variant, key)
        top = _top(estimate, self.tuning.vote_k)
        if not variant.calibrated_k or variant.plain or top.shape[1] < 2:
            return Decision(top, np.zeros(len(top), dtype=bool))
        return Decision(top, _gain(estimate, top) > self.margin(variant))

    def estimate(self, variant: Variant, key: str) -> np.ndarray:
        """(questions, experts): the variant's score of every expert on ``key``'s queries."""
        if variant.plain:
            model = self.model(key, variant.tags)
            recruiter = SkillRecruiter(model.matrix, model.expected_cost)
            return recruiter_scores(recruiter, self._weight(key, variant.tags))
        pseudo, blend = self.knobs(variant)
        return self._blend(variant, key, pseudo, blend)

    def knobs(self, variant: Variant) -> tuple[float, float]:
        """(pseudo_count, blend) of a variant: defaults, or chosen on validation if tuned."""
        pseudo = self.tuning.pseudo_count if variant.smoothing else 0.0
        blend = self.tuning.blend if variant.neighbours else 0.0
        if not variant.tuned:
            return pseudo, blend
        key = (variant.smoothing, variant.tags, variant.neighbours)
        if key not in self._tuned:
            self._tuned[key] = self._select(variant)
        return self._tuned[key]

    def _select(self, variant: Variant) -> tuple[float, float]:
        pseudos = self.tuning.pseudo_grid if variant.smoothing else (0.0,)
        blends = self.tuning.blend_grid if variant.neighbours else (0.0,)
        scored = [
            (self._fold_accuracy(variant, pseudo, blend), -i, (pseudo, blend))
            for i, (pseudo, blend) in enumerate(product(pseudos, blends))
        ]
        return max(scored)[2]

    def _fold_accuracy(self, variant: Variant, pseudo: float, blend: float) -> float:
        total = 0.0
        for key in ("fold0", "fold1"):
            table = self.pairs[key][1].table
            top = np.argmax(self._blend(variant, key, pseudo, blend), axis=1)
            total += float(routed_scores(table, top).sum())
        return total

    def _blend(self, variant: Variant, key: str, pseudo: float, blend: float) -> np.ndarray:
        model = self.model(key, variant.tags)
        recruiter = SmoothedSkillRecruiter(
            model.matrix, model.expected_cost, pseudo_count=pseudo, combine=self.tuning.combine
        )
        skill = recruiter_scores(recruiter, self._weight(key, variant.tags))
        return skill if blend == 0 else (1.0 - blend) * skill + blend * self._neighbours(key)

    def margin(self, variant: Variant) -> float:
        """The vote margin that maximised cross-fitted validation accuracy."""
        key = (variant.smoothing, variant.tags, variant.neighbours, variant.tuned)
        if key not in self._margins:
            gains, single, voted = [], [], []
            for fold in ("fold0", "fold1"):
                table = self.pairs[fold][1].table
                estimate = self.estimate(variant, fold)
                top = _top(estimate, self.tuning.vote_k)
                gains.append(_gain(estimate, top))
                single.append(routed_scores(table, top[:, 0]))
                voted.append(vote(table, top))
            self._margins[key] = best_margin(*map(np.concatenate, (gains, single, voted)))
        return self._margins[key]

    def model(self, key: str, tags: TagSet) -> SkillModel:
        """What routing learned from ``key``'s training split with one tag set (cached)."""
        if (key, tags) not in self._models:
            train = self.pairs[key][0]
            self._models[key, tags] = learn(train.table, train.tags(tags), self.embedder)
        return self._models[key, tags]

    def _weight(self, key: str, tags: TagSet) -> SkillWeights:
        """(queries, skills): the recruiter's skill weights (the same for every variant)."""
        if (key, tags) not in self._weights:
            model = self.model(key, tags)
            recruiter = SkillRecruiter(model.matrix, model.expected_cost)
            self._weights[key, tags] = SkillWeights.of(recruiter, self.matches(key, tags))
        return self._weights[key, tags]

    def matches(self, key: str, tags: TagSet) -> list[list[SkillMatch]]:
        """The queries' keywords of ``key`` mapped onto its learned inventory."""
        return self.model(key, tags).matches(self.pairs[key][1].tags(tags))

    def _neighbours(self, key: str) -> np.ndarray:
        if key not in self._near:
            train, query = self.pairs[key]
            rows, sims = nearest(query.vectors, train.vectors, self.tuning.neighbours)
            self._near[key] = neighbour_estimates(
                rows,
                sims,
                train.table.scores,
                prior=train.table.scores.mean(axis=0),
                pseudo=self.tuning.neighbour_pseudo,
            )
        return self._near[key]


def best_margin(gain: np.ndarray, single: np.ndarray, voted: np.ndarray) -> float:
    """The threshold on ``gain`` above which voting maximises the total score (inf: never)."""
    order = np.argsort(-gain, kind="stable")
    benefit = np.cumsum((voted - single)[order])  # vote the first j questions by gain
    if not len(benefit) or benefit.max() <= 0:
        return float("inf")
    j = int(np.argmax(benefit))
    below = gain[order[j + 1]] if j + 1 < len(order) else gain[order[j]] - 1.0
    return float((gain[order[j]] + below) / 2.0)


def _top(estimate: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-estimate, axis=1, kind="stable")[:, : min(k, estimate.shape[1])]


def _gain(estimate: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The estimated accuracy of the vote of ``top`` minus that of its first expert."""
    p = np.clip(np.take_along_axis(estimate, top, axis=1), 0.0, 1.0)
    return np.asarray(expected_vote(p) - p[:, 0])


def describe(variant: Variant) -> str:
    """A short description for the report."""
    if variant.plain:
        return f"shipped SkillRecruiter, {variant.tags} tags, k=1"
    parts = [
        "accuracy per skill, " + ("smoothed" if variant.smoothing else "unsmoothed"),
        f"{variant.tags} tags",
        "neighbours" if variant.neighbours else "",
        "tuned on validation" if variant.tuned else "",
        "calibrated k" if variant.calibrated_k else "k=1",
    ]
    return ", ".join(p for p in parts if p)


def ablation_variants() -> Sequence[Variant]:
    """The ladder (ideas added one by one), then the drop-one rows."""
    return (*LADDER, *DROP_ONE)
