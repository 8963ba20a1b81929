"""k: auto's ``TeamRule`` from cross-fitted validation estimates, for any routing method whose
scores are success probabilities.

The validation questions are split into ``folds``; the method is fitted (``fit``, its public
interface) on all folds but one and scores the held-out one, so every validation question gets
an estimate from a model that never saw it. Per question the method's top ``AUTO_TEAM``
experts form the team; the realised gain of teaming is the team's settled score minus the top
expert's score, from the recorded outcomes. A vote settles it as ``expected_vote`` of the 0/1
scores (a right-against-wrong majority); an aggregator adds its measured gain over the vote on
the questions where the team disagreed (``aggregator_gain``, from the aggregation benchmark).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from router_svc.routing.inputs import Queries, SuiteData
from router_svc.routing.learn import learn
from router_svc.routing.recruiter import Recruiter, RecruitOptions, ScoreParts
from router_svc.routing.registry import router_class
from router_svc.routing.team_size import (
    AUTO_TEAM,
    TeamRule,
    estimated_gain,
    expected_vote,
    team_added_cost,
)

FOLDS = 5


@dataclass(frozen=True)
class Settling:
    """How a pool settles a team's answers, as k: auto prices it."""

    method: str = "vote"
    """``vote``, or ``aggregator`` (benchmarked)."""
    aggregator_gain: float = 0.0
    """The aggregator's measured accuracy gain over a vote where the team disagrees."""
    aggregator_cost: float = 0.0
    """The aggregator's cost relative to the most expensive expert's expected cost."""


class TeamRules:
    """Each routing method's team rule over one suite, learned on first use and then shared."""

    def __init__(
        self,
        suite: SuiteData,
        options: Callable[[str], BaseModel],
        settling: Settling | None = None,
        fitted: Callable[[str], Recruiter] | None = None,
    ) -> None:
        self.suite = suite
        self.options = options
        self.fitted = fitted
        """The method as fitted on the whole suite, whose ``fold_options`` the folds reuse."""
        self.settling = settling or Settling()
        self._rules: dict[str, TeamRule] = {}
        self._lock = threading.Lock()

    def __call__(self, method: str) -> TeamRule:
        with self._lock:
            if method not in self._rules:
                options = self.options(method)
                if self.fitted is not None:
                    options = self.fitted(method).fold_options() or options
                self._rules[method] = fit_team_rule(
                    router_class(method), options, self.suite, self.settling
                )
            return self._rules[method]


def fit_team_rule(
    method: type[Recruiter],
    options: BaseModel,
    suite: SuiteData,
    settling: Settling | None = None,
    *,
    folds: int = FOLDS,
    seed: int = 0,
) -> TeamRule:
    """The method's team rule, learned on ``suite``'s cross-fitted validation estimates."""
    settling = settling or Settling()
    if len(suite.ids) < 2 * folds or len(suite.experts) < 2:
        return TeamRule.never(settling.method)
    gains, realised, added = [], [], []
    for rows, router, parts in cross_fitted(method, options, suite, folds=folds, seed=seed):
        team = router.choose(parts, RecruitOptions(k=min(AUTO_TEAM, len(suite.experts))))
        gains.append(estimated_gain(parts.score, team))
        realised.append(realised_gain(suite.scores[rows], team, settling.aggregator_gain))
        added.append(team_added_cost(team, router.relative_cost(parts)))
    return TeamRule.learn(
        np.concatenate(gains),
        np.concatenate(realised),
        np.concatenate(added) + settling.aggregator_cost,
        settle=settling.method,
        aggregator_cost=settling.aggregator_cost,
    )


def realised_gain(scores: np.ndarray, team: np.ndarray, aggregator_gain: float = 0.0) -> np.ndarray:
    """(questions,): the vote of ``team`` minus its first expert's score, plus the aggregator's
    gain over a vote on the rows where the team's scores differ."""
    picked = np.take_along_axis(scores, team, axis=1)
    contested = (picked != picked[:, :1]).any(axis=1)
    return np.asarray(expected_vote(picked) - picked[:, 0] + aggregator_gain * contested)


def cross_fitted(
    method: type[Recruiter],
    options: BaseModel,
    suite: SuiteData,
    *,
    folds: int = FOLDS,
    seed: int = 0,
) -> list[tuple[np.ndarray, Recruiter, ScoreParts]]:
    """Per fold: (its rows, the method fitted on the other folds, its scores of the rows)."""
    rng = np.random.default_rng(seed)
    assignment = rng.permutation(len(suite.ids)) % folds
    out = []
    for fold in range(folds):
        held = np.flatnonzero(assignment == fold)
        kept = np.flatnonzero(assignment != fold)
        part = subset(suite, kept)
        router = method.fit(part, options)
        out.append((held, router, router.score_queries(held_out(suite, part, held, router))))
    return out


def subset(suite: SuiteData, rows: np.ndarray) -> SuiteData:
    """``suite`` restricted to ``rows``: profiles and inventory learned on them alone."""
    tags = [suite.tags[i] for i in rows.tolist()]
    model = learn(suite.experts, suite.scores[rows], tags, suite.embedder)
    return SuiteData(
        experts=list(suite.experts),
        matrix=model.matrix,
        inventory=model.inventory,
        embedder=suite.embedder,
        ids=[suite.ids[i] for i in rows.tolist()],
        tags=tags,
        scores=suite.scores[rows],
        costs=suite.costs[rows],
        expected_cost=suite.expected_cost,
        vector_source=lambda: suite.vectors[rows],
        categories=None
        if suite.categories is None
        else [suite.categories[i] for i in rows.tolist()],
    )


def held_out(suite: SuiteData, part: SuiteData, rows: np.ndarray, router: Recruiter) -> Queries:
    """The ``rows`` of ``suite`` as queries to a method fitted on ``part``."""
    tags: Sequence[Sequence[str]] = [suite.tags[i] for i in rows.tolist()]
    return Queries(
        ids=[suite.ids[i] for i in rows.tolist()],
        tags=tags,
        skills=part.inventory.map_many(tags, part.embedder),
        vectors=suite.vectors[rows] if router.needs_vectors else None,
    )
