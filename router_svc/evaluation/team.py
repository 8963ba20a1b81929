"""Does the team earn its cost? The default router with k = 1, with k = 3 and a vote, and with
k: auto (a team of 3 only where its ``TeamRule``, learned on cross-fitted validation estimates,
expects the gain to pay), on the same test questions.

The rule is fitted on the validation split alone (``routing.team_fit``); on replay data the
team's answers are settled by a vote (there is no aggregator to run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router_svc.evaluation.improved import MethodBench, MethodRun, team_scores, teams
from router_svc.evaluation.records import StrategyResult, one_hot
from router_svc.evaluation.strategies import routed_scores
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.registry import router_class
from router_svc.routing.team_fit import fit_team_rule
from router_svc.routing.team_size import AUTO_TEAM, TeamRule

ROLES = ("k1", "k3_vote", "auto")


@dataclass(frozen=True, eq=False)
class TeamBench:
    """The three team rows of one method, and the rule k: auto ran with."""

    results: dict[str, StrategyResult]
    """Per role (``ROLES``): the strategy result."""
    rule: TeamRule | None
    """None: the method has no probabilities (k: auto is its ``auto_k``)."""


def team_bench(bench: MethodBench, method: str, k1: StrategyResult | None = None) -> TeamBench:
    """k = 1, k = 3 + vote and k: auto of ``method`` on the bench's test split (``k1``: the
    method's k = 1 row when the bench already ran it)."""
    single = MethodRun.default(method)
    k1 = k1 if k1 is not None else bench.run(single)
    voted = bench.run(MethodRun.default(method, f"{method} k={AUTO_TEAM}+vote", k=AUTO_TEAM))
    router = bench.fit(method, single.options)
    table = bench.test.table
    if not router.scores_are_probabilities:
        k = router.auto_k
        auto = k1 if k == 1 else bench.run(MethodRun.default(method, k=k))
        return TeamBench(_roles(k1, voted, _renamed(auto, f"{method} k=auto")), None)
    folds = router.fold_options() or single.options
    rule = fit_team_rule(router_class(method), folds, bench.suite)
    parts = bench.parts(single)
    chosen = teams(router.choose(parts, RecruitOptions(k=AUTO_TEAM)), AUTO_TEAM)
    sizes = router.team_sizes(parts, chosen, RecruitOptions(k=AUTO_TEAM, auto=True), rule)
    teamed = sizes > 1
    experts = len(table.experts)
    scores = np.where(teamed, team_scores(table, chosen), routed_scores(table, chosen[:, 0]))
    calls = np.where(teamed[:, None], one_hot(chosen, experts), one_hot(chosen[:, 0], experts))
    share = float(teamed.mean()) if len(teamed) else 0.0
    auto = StrategyResult(
        f"{method} k=auto",
        "router",
        scores,
        calls,
        f"{method}, a team of {AUTO_TEAM} + vote on {share:.1%} of questions (k: auto, rule "
        "learned on cross-fitted validation estimates)",
    )
    return TeamBench(_roles(k1, voted, auto), rule)


def _roles(
    k1: StrategyResult, voted: StrategyResult, auto: StrategyResult
) -> dict[str, StrategyResult]:
    return dict(zip(ROLES, (k1, voted, auto), strict=True))


def _renamed(result: StrategyResult, name: str) -> StrategyResult:
    return StrategyResult(
        name, result.family, result.scores, result.calls, result.description, result.wall_s
    )
