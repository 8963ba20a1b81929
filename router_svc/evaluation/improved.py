"""The registered routing methods on a bench's splits, and the ablation built from their options.

Every router row of a bench is a method of ``router_svc.routing.registry`` fitted on the
validation split (``suite_from_table``) and routed through ``Recruiter.assign``, the code the
service runs. The ablation is ``skill-plus`` with its ideas switched on one at a time (the
ladder) and off one at a time (drop-one); the first ladder row is the ``skill`` method.

**Calibrated k** (a bench strategy, not yet a service option): a question goes to the method's
top three experts and a vote only where the estimated gain of the vote over the top expert
exceeds a margin fitted on the method's own cross-fitted validation estimates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from router_svc.config.routers import (
    DEFAULT_ROUTER,
    KnnShrinkageOptions,
    SkillOptions,
    SkillPlusOptions,
    router_options,
)
from router_svc.evaluation.records import StrategyResult, one_hot
from router_svc.evaluation.strategies import expected_vote, routed_scores, vote
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.inputs import Queries, SuiteData
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter
from router_svc.routing.knob_search import Trial
from router_svc.routing.recruiter import Recruiter, RecruitOptions, ScoreParts
from router_svc.routing.registry import router_class
from router_svc.routing.shrinkage import ShrinkageKnobs
from router_svc.routing.skill_plus import SkillPlusRouter
from router_svc.routing.team_size import question_seeds
from router_svc.tagging.inventory import SkillMatch

CHUNK = 512
"""Questions routed per ``assign`` call (the dense question x skill weights stay small)."""
VOTE_K = 3


@dataclass(frozen=True)
class MethodRun:
    """One router row: a registered method with options, k and how the team is chosen."""

    name: str
    method: str
    options: BaseModel
    k: int = 1
    calibrated_k: bool = False

    @classmethod
    def default(cls, method: str, name: str | None = None, k: int = 1) -> MethodRun:
        return cls(name or method, method, router_options(method), k)


_PLAIN = SkillPlusOptions(smoothing=False, tags="keyword", neighbours=False, tuned=False)
_FULL = SkillPlusOptions()
LADDER: tuple[MethodRun, ...] = (
    MethodRun("skill", "skill", SkillOptions()),
    MethodRun("+accuracy scoring", "skill-plus", _PLAIN),
    MethodRun("+smoothing", "skill-plus", _PLAIN.model_copy(update={"smoothing": True})),
    MethodRun(
        "+cluster tag",
        "skill-plus",
        _PLAIN.model_copy(update={"smoothing": True, "tags": "combined"}),
    ),
    MethodRun("+neighbours", "skill-plus", _FULL.model_copy(update={"tuned": False})),
    MethodRun("+tuning on validation", "skill-plus", _FULL),
    MethodRun("+calibrated k", "skill-plus", _FULL, calibrated_k=True),
)
"""Each idea added to the previous row."""
DROP_ONE: tuple[MethodRun, ...] = tuple(
    MethodRun(f"skill-plus - {idea}", "skill-plus", _FULL.model_copy(update=change))
    for idea, change in (
        ("smoothing", {"smoothing": False}),
        ("cluster tag", {"tags": "keyword"}),
        ("neighbours", {"neighbours": False}),
        ("tuning", {"tuned": False}),
    )
)
"""The full k=1 ``skill-plus`` without one idea each."""


@dataclass(frozen=True, eq=False)
class RoutedSplit:
    """The split being routed: outcomes, the tagger's tags and the question vectors."""

    table: OutcomeTable
    tags: list[list[str]]
    vectors: np.ndarray | None
    skills: list[list[SkillMatch]] | None = None
    """The tags mapped onto the suite's inventory (filled in by ``MethodBench``)."""

    def mapped(self, suite: SuiteData) -> RoutedSplit:
        skills = suite.inventory.map_many(self.tags, suite.embedder)
        return RoutedSplit(self.table, self.tags, self.vectors, skills)


class MethodBench:
    """Fits registered methods on ``suite`` (cached per method and options) and routes ``test``."""

    def __init__(self, suite: SuiteData, test: RoutedSplit) -> None:
        self.suite = suite
        self.test = test.mapped(suite)
        self._fitted: dict[tuple[str, str], Recruiter] = {}
        self._parts: dict[tuple[str, str], ScoreParts] = {}

    def fit(self, method: str, options: BaseModel) -> Recruiter:
        key = (method, options.model_dump_json())
        if key not in self._fitted:
            self._fitted[key] = router_class(method).fit(self.suite, options)
        return self._fitted[key]

    def run(
        self, run: MethodRun, family: str = "router", test: RoutedSplit | None = None
    ) -> StrategyResult:
        """The method's strategy result on the test split (k > 1: a vote of its team)."""
        view = self.test if test is None else test.mapped(self.suite)
        router = self.fit(run.method, run.options)
        if run.calibrated_k:
            return self._calibrated(run, router, family, view)
        parts = self.parts(run) if view is self.test else score_split(router, view)
        seeds = question_seeds(0, view.table.questions)
        chosen = teams(router.choose(parts, RecruitOptions(k=run.k), seeds), run.k)
        calls = one_hot(chosen, len(view.table.experts))
        return StrategyResult(
            run.name, family, team_scores(view.table, chosen), calls, describe(run)
        )

    def estimate(self, run: MethodRun) -> np.ndarray:
        """(test questions, experts): the method's score of every expert, before the cost term."""
        return self.parts(run).score

    def parts(self, run: MethodRun) -> ScoreParts:
        """The method's scores (and per-question costs, where it estimates them) on the test
        split, computed once per method and options (a sweep reuses them for every weight)."""
        key = (run.method, run.options.model_dump_json())
        if key not in self._parts:
            self._parts[key] = self._score(run)
        return self._parts[key]

    def _score(self, run: MethodRun) -> ScoreParts:
        return score_split(self.fit(run.method, run.options), self.test)

    def _calibrated(
        self, run: MethodRun, router: Recruiter, family: str, view: RoutedSplit
    ) -> StrategyResult:
        if not isinstance(router, SkillPlusRouter):
            raise ValueError("calibrated k needs cross-fitted estimates (skill-plus)")
        margin = fitted_margin(router, self.suite.scores)
        estimate = (
            self.estimate(run)
            if view is self.test
            else router.score_queries(_queries(view, 0, len(view.table))).score
        )
        top = _top(estimate, VOTE_K)
        votes = _gain(estimate, top) > margin
        table = view.table
        scores = np.where(votes, vote(table, top), routed_scores(table, top[:, 0]))
        experts = len(table.experts)
        calls = np.where(votes[:, None], one_hot(top, experts), one_hot(top[:, 0], experts))
        return StrategyResult(run.name, family, scores, calls, describe(run))


def score_split(router: Recruiter, view: RoutedSplit) -> ScoreParts:
    """The router's ``score_queries`` over a whole split, in chunks of ``CHUNK`` questions."""
    chunks = [
        router.score_queries(_queries(view, s, s + CHUNK)) for s in range(0, len(view.table), CHUNK)
    ]
    costs = [c.cost for c in chunks if c.cost is not None]
    return ScoreParts(
        relevance=np.concatenate([c.relevance for c in chunks]),
        prior=chunks[0].prior,
        score=np.concatenate([c.score for c in chunks]),
        fallback=np.concatenate([c.fallback for c in chunks]),
        cost=np.concatenate(costs) if len(costs) == len(chunks) else None,
    )


def teams(chosen: np.ndarray, k: int) -> np.ndarray:
    """(questions, k) from ``Recruiter.choose``: each row's distinct experts in order, the first
    repeated where fewer than k are distinct (as ``Assignment.chosen`` lists them; a vote
    ignores the repeats)."""
    rows = []
    for row in chosen.tolist():
        team = list(dict.fromkeys(row))
        rows.append(team + [team[0]] * (k - len(team)))
    return np.array(rows, dtype=int).reshape(len(chosen), k)


def team_scores(table: OutcomeTable, chosen: np.ndarray) -> np.ndarray:
    """One expert's score, or the vote of each question's distinct experts."""
    if chosen.shape[1] == 1 or (chosen == chosen[:, :1]).all(axis=1).all():
        return routed_scores(table, chosen[:, 0])
    scores = vote(table, chosen)
    single = (chosen == chosen[:, :1]).all(axis=1)
    return np.where(single, routed_scores(table, chosen[:, 0]), scores)


def fitted_margin(router: SkillPlusRouter, scores: np.ndarray) -> float:
    """The vote margin that maximised the cross-fitted validation accuracy."""
    gains, single, voted = [], [], []
    for rows, estimate in router.cross_fitted():
        top = _top(estimate, VOTE_K)
        gains.append(_gain(estimate, top))
        picked = np.take_along_axis(scores[rows], top, axis=1)
        single.append(picked[:, 0])
        voted.append(expected_vote(picked))
    return best_margin(*map(np.concatenate, (gains, single, voted)))


def best_margin(gain: np.ndarray, single: np.ndarray, voted: np.ndarray) -> float:
    """The threshold on ``gain`` above which voting maximises the total score (inf: never)."""
    order = np.argsort(-gain, kind="stable")
    benefit = np.cumsum((voted - single)[order])  # vote the first j questions by gain
    if not len(benefit) or benefit.max() <= 0:
        return float("inf")
    j = int(np.argmax(benefit))
    below = gain[order[j + 1]] if j + 1 < len(order) else gain[order[j]] - 1.0
    return float((gain[order[j]] + below) / 2.0)


def _queries(view: RoutedSplit, start: int, stop: int) -> Queries:
    return Queries(
        view.table.ids[start:stop],
        view.tags[start:stop],
        (view.skills or [])[start:stop],
        None if view.vectors is None else view.vectors[start:stop],
    )


def _top(estimate: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-estimate, axis=1, kind="stable")[:, : min(k, estimate.shape[1])]


def _gain(estimate: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The estimated accuracy of the vote of ``top`` minus that of its first expert."""
    p = np.clip(np.take_along_axis(estimate, top, axis=1), 0.0, 1.0)
    return np.asarray(expected_vote(p) - p[:, 0])


def describe(run: MethodRun) -> str:
    """The method, its non-default options and its team rule, for the report."""
    defaults = router_options(run.method).model_dump()
    changed = {k: v for k, v in run.options.model_dump().items() if defaults.get(k) != v}
    options = ", ".join(f"{k}={v}" for k, v in changed.items())
    team = "calibrated k" if run.calibrated_k else f"k={run.k}" + (" + vote" if run.k > 1 else "")
    return f"{run.method}" + (f" ({options})" if options else "") + f", {team}"


def ablation_runs() -> Sequence[MethodRun]:
    """The ladder (ideas added one by one), then the drop-one rows."""
    return (*LADDER, *DROP_ONE)


def fitted_knobs(router: Recruiter) -> dict[str, float | None] | None:
    """The knobs a fitted method ran with, where it has some (chosen on validation if tuned)."""
    if isinstance(router, SkillPlusRouter):
        return {"pseudo_count": router.pseudo_count, "blend": router.blend}
    if isinstance(router, KnnShrinkageRouter):
        return knob_values(router.knobs)
    return None


def knob_values(knobs: ShrinkageKnobs) -> dict[str, float | None]:
    """The estimator's knobs for a report (None: an infinite pseudo-count, a level off)."""
    return {k: None if math.isinf(v) else float(v) for k, v in asdict(knobs).items() if k != "seed"}


def knob_search_summary(router: Recruiter, runners_up: int = 3) -> dict[str, Any] | None:
    """The default method's knob search: the chosen knobs with their cross-validated scores,
    and the best few other settings tried (their scores and how their knobs differ)."""
    if not isinstance(router, KnnShrinkageRouter) or router.selection is None:
        return None
    selection = router.selection
    chosen = knob_values(selection.knobs)

    def scores(trial: Trial) -> dict[str, Any]:
        return {
            "utility": {k: round(v, 5) for k, v in trial.utility.items()},
            "accuracy": {k: round(v, 5) for k, v in trial.accuracy.items()},
            "log_likelihood": round(trial.log_likelihood, 5),
        }

    others = []
    for trial in selection.runners_up(runners_up):
        values = knob_values(trial.knobs)
        gain, error = trial.versus_chosen
        others.append(
            {
                "changed": {k: v for k, v in values.items() if v != chosen[k]},
                **scores(trial),
                "gain_over_chosen": round(gain, 5),
                "standard_error": round(error, 5),
            }
        )
    return {
        "chosen": chosen,
        **scores(selection.best),
        "folds": list(selection.best.utility),
        "settings_tried": len(selection.trials),
        "runners_up": others,
        "escalating_teams": _teams(router),
    }


def _teams(router: KnnShrinkageRouter) -> dict[str, Any] | None:
    """The escalating teams the router prices where lambda > 0, and their knobs."""
    if router.pairs is None:
        return None
    pairs = router.pairs.escalations
    return {
        "escalate_to": pairs.strong_name,
        "pairs": [pairs.name(i) for i in range(len(pairs))],
        "knobs": knob_values(router.pairs.model.knobs),
    }


def default_ablation(router: Recruiter) -> list[MethodRun]:
    """The default method, then without one level each, the other knobs as it chose them."""
    full = MethodRun.default(DEFAULT_ROUTER)
    if not isinstance(router, KnnShrinkageRouter):
        return [full]
    # every row is routed at lambda 0, where no escalating team is ever chosen: none is fitted
    chosen = KnnShrinkageOptions.model_validate(
        {**asdict(router.knobs), "tuned": False, "escalation": False}
    )
    knobs = router.knobs
    changes: list[tuple[str, dict[str, Any]]] = [
        ("- skills", {"skill_pseudo": math.inf}),
        ("- task", {"task_pseudo": math.inf}),
        ("- clusters", {"clusters": 1}),
        ("- every level (overall accuracy)", {
            "neighbours": 0, "skill_pseudo": math.inf, "task_pseudo": math.inf, "clusters": 1,
        }),
    ]  # fmt: skip
    if knobs.neighbours:
        changes.insert(0, ("- neighbours", {"neighbours": 0}))
    else:
        changes.insert(0, ("+ neighbours (50)", {"neighbours": 50}))
    runs = [full]
    for level, change in changes:
        if all(getattr(knobs, k) == v for k, v in change.items()):
            continue  # the chosen knobs already leave this level out
        runs.append(
            MethodRun(f"{full.name} {level}", full.method, chosen.model_copy(update=change))
        )
    untuned = KnnShrinkageOptions(tuned=False, escalation=False)
    runs.append(MethodRun(f"{full.name} - tuning", full.method, untuned))
    return runs
