"""``knn-shrinkage``: route each question to the expert most likely to answer it right, for
what it costs.

Fitted on the suite's validation record: the validation question vectors, every expert's
score and cost on each. For a query, :mod:`router_svc.routing.shrinkage` estimates each
expert's success probability and expected cost from the nearest validation questions, shrunk
toward the query's cluster and the expert's overall record; the knobs come from
cross-validation on the validation questions (:mod:`router_svc.routing.knob_search`). The
recruiter then takes the top k of probability minus lambda x cost relative to the most
expensive expert (``Recruiter.utility``). Graded production answers correct the estimate as a
level on top (``with_feedback``, :mod:`router_svc.routing.feedback_level`). Escalating teams
(``PairModel``, :mod:`router_svc.routing.escalation`) are estimated the same way, with the same
knobs, and priced beside the experts where the cost weight is above 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Self

import numpy as np
from pydantic import BaseModel

from router_svc.config.routers import KnnShrinkageOptions
from router_svc.replay.data import NO_CATEGORY
from router_svc.routing.escalation import EscalatingPairs
from router_svc.routing.evidence import Evidence, SkillRows
from router_svc.routing.feedback_level import FeedbackKnobs, FeedbackLevel
from router_svc.routing.inputs import Queries, SuiteData
from router_svc.routing.knob_cache import KnobSearch, select_knobs_kept
from router_svc.routing.knob_search import Selection
from router_svc.routing.profiles import ProfileMatrix
from router_svc.routing.recruiter import Recruiter, ScoreParts
from router_svc.routing.shrinkage import Estimate, ShrinkageKnobs, ShrinkageModel

MIN_TUNED = 20
"""Fewer validation questions than this: the knobs as given (too few to cross-validate)."""


class KnnShrinkageRouter(Recruiter):
    """Expected score minus lambda x expected cost (module docstring)."""

    Options = KnnShrinkageOptions
    needs_vectors = True
    scores_are_probabilities = True

    def __init__(
        self,
        matrix: ProfileMatrix,
        expected_cost: np.ndarray,
        model: ShrinkageModel,
        selection: Selection | None = None,
        feedback: FeedbackLevel | None = None,
        pairs: PairModel | None = None,
    ) -> None:
        super().__init__(matrix, expected_cost)
        self.model = model
        self.pairs = pairs
        """Escalating teams and their estimator (None: single experts only)."""
        self.escalations = pairs.escalations if pairs is not None else None
        self.selection = selection
        """The knob search behind ``model`` (None: the knobs as given)."""
        self.feedback = feedback
        """Graded production answers, a level on top of ``model`` (None: none yet)."""
        self.overall = model.overall.probability[0]

    @classmethod
    def fit(cls, suite: SuiteData, options: BaseModel) -> Self:
        settings = KnnShrinkageOptions.model_validate(options.model_dump())
        evidence = suite_evidence(suite)
        skill_count = len(suite.matrix.skills)
        knobs, selection = knobs_of(settings), None
        if settings.tuned and len(evidence) >= MIN_TUNED:
            search = KnobSearch(
                evidence, skill_count, suite.categories, knobs, settings.folds, settings.seed
            )
            selection = select_knobs_kept(search, suite.search_cache)
            knobs = selection.knobs
        model = ShrinkageModel.fit(evidence, skill_count, knobs)
        pairs = None
        if settings.escalation:
            tuned = settings.tuned and len(evidence) >= MIN_TUNED
            folds = (settings.folds, settings.seed) if tuned else None
            pairs = PairModel.fit(suite, evidence, model, settings.escalation_members, folds)
        return cls(suite.matrix, suite.expected_cost, model, selection, pairs=pairs)

    def with_feedback(
        self, rows: Evidence, knobs: FeedbackKnobs | None = None
    ) -> KnnShrinkageRouter:
        """This router with ``rows`` (graded production answers, NaN where unknown) added to
        its feedback level (``routing.feedback_level``); ``knobs`` apply when the level is
        new (None: the defaults)."""
        level = self.feedback or FeedbackLevel.empty(
            self.model.centroids, self.model.evidence, knobs or FeedbackKnobs()
        )
        frozen = self.model.estimate(rows.vectors, rows.skills).probability
        return KnnShrinkageRouter(
            self.matrix,
            self.expected_cost,
            self.model,
            self.selection,
            level.added(rows, frozen),
            self.pairs,
        )

    @property
    def knobs(self) -> ShrinkageKnobs:
        return self.model.knobs

    def fold_options(self) -> KnnShrinkageOptions:
        """The knobs it chose, untuned: a fold's refit then costs no second knob search. The
        folds' estimates size teams and score single experts (k > 1 or lambda 0, where no
        escalating team is chosen), so the refit prices no teams."""
        return KnnShrinkageOptions.model_validate(
            {**asdict(self.knobs), "tuned": False, "escalation": False}
        )

    @property
    def needs_tags(self) -> bool:  # type: ignore[override]
        """Only the skill level reads tags: with it off, no question is tagged."""
        return not math.isinf(self.model.knobs.skill_pseudo)

    def score_queries(self, queries: Queries) -> ScoreParts:
        skills = SkillRows.of_matches(
            [[(m.skill, m.similarity) for m in q] for q in queries.skills], self._skill_index
        )
        vectors = queries.require_vectors()
        found = self.model.neighbours(vectors) if self.model.knobs.neighbours >= 1 else None
        estimate = self.model.estimate(vectors, skills, found=found)
        evidence = {
            name: (level.probability, level.weight)
            for name, level in estimate.levels.items()
            if name == "global" or level.weight.any()
        }
        probability = estimate.probability
        if self.feedback is not None and self.feedback.rows:
            probability, weight = self.feedback.corrected(vectors, probability)
            evidence["feedback"] = (probability, weight)
        cost = estimate.cost
        if self.pairs is not None:
            paired = self.pairs.model.estimate(vectors, skills, found=found)
            probability = np.hstack([probability, self.pairs.capped(paired, probability)])
            cost = np.hstack([cost, paired.cost])
            evidence = _with_pair_levels(evidence, paired)
        return ScoreParts(
            relevance=probability,
            prior=self.overall,
            score=probability,
            fallback=np.zeros(len(queries), dtype=bool),
            cost=cost,
            evidence=evidence,
        )


@dataclass(frozen=True, eq=False)
class PairModel:
    """Escalating teams (``routing.escalation``) and their levels, fitted on the same
    validation questions as the experts' own, with knobs searched on the teams' columns (on
    RouterBench's validation folds, the experts' knobs lost accuracy on unseen tasks). A
    team's estimate is capped at its strong expert's: the best of many noisy estimates is
    biased upward, so a team is chosen to save cost at the strong expert's accuracy, never
    to beat it."""

    escalations: EscalatingPairs
    model: ShrinkageModel

    @classmethod
    def fit(
        cls,
        suite: SuiteData,
        evidence: Evidence,
        experts: ShrinkageModel,
        members: int | None,
        search: tuple[int, int] | None = None,
    ) -> PairModel | None:
        """The pairs of ``suite`` from its ``members`` best experts after the strongest (None:
        under three experts, or no answers recorded). ``search`` (folds, seed): the teams'
        knobs are searched on their own columns, as the experts' are on theirs (None: the
        experts' knobs and clusters)."""
        escalations = EscalatingPairs.of(suite.experts, suite.scores, members)
        answers = suite.answers if escalations is not None else None
        if escalations is None or answers is None:
            return None
        scores, costs = escalations.columns(suite.scores, suite.costs, answers)
        paired = Evidence(evidence.vectors, scores, costs, evidence.skills, evidence.tasks)
        count, knobs = experts.skill_count, experts.knobs
        if search is not None:
            folds, seed = search
            found = KnobSearch(paired, count, suite.categories, knobs, folds, seed)
            knobs = select_knobs_kept(found, suite.search_cache).knobs
        if (knobs.clusters, knobs.seed) != (experts.knobs.clusters, experts.knobs.seed):
            return cls(escalations, ShrinkageModel.fit(paired, count, knobs))
        return cls(
            escalations, ShrinkageModel.with_centroids(paired, count, experts.centroids, knobs)
        )

    def capped(self, paired: Estimate, experts: np.ndarray) -> np.ndarray:
        """(queries, pairs): each team's estimate, at most its strong expert's (``experts``:
        the experts' final estimates, queries x experts)."""
        return np.asarray(np.minimum(paired.probability, experts[:, [self.escalations.strong]]))


def _with_pair_levels(
    evidence: dict[str, tuple[np.ndarray, np.ndarray]], paired: Estimate
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The experts' levels with the pairs' columns after them (a level the pairs lack, such
    as feedback, repeats their final estimate with no evidence)."""
    out = {}
    for name, (probability, weight) in evidence.items():
        level = paired.levels.get(name)
        extra = level.probability if level is not None else paired.probability
        extra_weight = level.weight if level is not None else np.zeros_like(paired.probability)
        out[name] = (np.hstack([probability, extra]), np.hstack([weight, extra_weight]))
    return out


def knobs_of(options: KnnShrinkageOptions) -> ShrinkageKnobs:
    """The estimator's knobs as the options give them."""
    return ShrinkageKnobs(
        neighbours=options.neighbours,
        kernel_width=options.kernel_width,
        neighbour_pseudo=options.neighbour_pseudo,
        clusters=options.clusters,
        cluster_pseudo=options.cluster_pseudo,
        membership_temperature=options.membership_temperature,
        skill_pseudo=options.skill_pseudo,
        task_pseudo=options.task_pseudo,
        seed=options.seed,
    )


def suite_evidence(suite: SuiteData) -> Evidence:
    """The suite's validation records as evidence rows (skills: each question's tags)."""
    return Evidence(
        np.ascontiguousarray(suite.vectors, dtype=np.float32),
        np.asarray(suite.scores, dtype=float),
        np.asarray(suite.costs, dtype=float),
        SkillRows.of_tags(suite.tags, suite.matrix.skill_index()),
        task_indices(suite.categories),
    )


def task_indices(categories: Sequence[str] | None) -> np.ndarray | None:
    """Each question's task as an index into the sorted task names (-1: none named); None
    where no question names one."""
    if categories is None:
        return None
    names = sorted({c for c in categories if c != NO_CATEGORY})
    if not names:
        return None
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup.get(c, -1) for c in categories], dtype=np.intp)
