"""Escalating teams in the default router, measured against the same router without them.

The default ``knn-shrinkage`` router prices escalating teams (``routing.escalation``) beside
the experts where the cost weight is above 0: a pair whose shared answer stands, the
validation's best expert answering where the two differ. Its knobs are chosen on the experts'
own validation record either way (so lambda 0 routes exactly as without pairs); this script
sweeps lambda on the test lines with ``escalation`` on and off, as the bench sweeps:

- RouterBench's full pool: the best sweep point at <= $2.50 per 1,000 test questions (issue
  19's target is 87.5 %), and the lambda 0 choice, which must not change;
- with each category held out (profiled on the other categories' validation lines): the best
  sweep point at <= the budget, with and without pairs;
- pools without a dominant expert (no GPT-4 and Claude; open models only), where the pairs
  escalate to Yi-34B: accuracy at each cost of the plain sweep's front, with and without.

    OMP_NUM_THREADS=1 .venv/bin/python perf/escalation.py

Writes perf/results/escalation.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from perf._common import write_results
from perf.online_replay import without
from perf.sweep_budget import BUDGET_PER_1K, DATA, best_at_budget, outcomes, refined
from router_svc.config.routers import DEFAULT_ROUTER, KnnShrinkageOptions
from router_svc.evaluation.escalated import with_pairs
from router_svc.evaluation.improved import MethodBench, MethodRun, RoutedSplit
from router_svc.evaluation.metrics import pareto_front
from router_svc.evaluation.replay_bench import LAMBDAS, BenchOptions, ReplayBench, holdout
from router_svc.replay.data import load_replay
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.suite import suite_from_table


def swept(
    validation: OutcomeTable, test: OutcomeTable, escalation: bool
) -> tuple[list[tuple[float, float, float]], np.ndarray, OutcomeTable]:
    """The default router's refined test sweep ((lambda, accuracy, $ per question) points),
    its lambda 0 choice, and the test table it was scored on."""
    prepared = ReplayBench(BenchOptions(ablation=False)).prepare(validation, test)
    val = prepared.validation
    suite = suite_from_table(val.table, val.keyword_tags, prepared.skill_embedder, val.vectors)
    methods = MethodBench(
        suite, RoutedSplit(test, prepared.test.keyword_tags, prepared.test.vectors)
    )
    run = MethodRun(DEFAULT_ROUTER, DEFAULT_ROUTER, KnnShrinkageOptions(escalation=escalation))
    router, parts = methods.fit(run.method, run.options), methods.parts(run)
    scored = with_pairs(test, router.escalations) if router.escalations is not None else test

    def choose(weight: float) -> np.ndarray:
        utility = router.utility(parts, weight)[1]
        return np.asarray(router.recruit(utility, RecruitOptions(k=1))[:, 0])

    return outcomes(refined(choose, LAMBDAS), scored), choose(0.0), scored


def compared(validation: OutcomeTable, test: OutcomeTable) -> dict[str, Any]:
    """Without and with escalating teams: the best point at <= the budget, the lambda 0
    figures (the same choice either way) and the teams the sweep used at the budget."""
    plain, plain_zero, _ = swept(validation, test, escalation=False)
    paired, paired_zero, scored = swept(validation, test, escalation=True)
    rows = np.arange(len(test))
    at_budget = best_at_budget(paired)
    return {
        "plain": best_at_budget(plain),
        "with_escalating_teams": at_budget,
        "lambda_0": {
            "accuracy": round(float(test.scores[rows, plain_zero].mean()), 4),
            "cost_per_1k": round(1000 * float(test.costs[rows, plain_zero].mean()), 3),
            "same_choice_with_teams": bool((plain_zero == paired_zero).all()),
        },
        "front_gain": front_gain(plain, paired),
        "experts": len(test.experts),
        "options_with_teams": len(scored.experts),
    }


def front_gain(
    plain: list[tuple[float, float, float]], paired: list[tuple[float, float, float]]
) -> dict[str, float]:
    """At each cost of the plain sweep's Pareto front, the best accuracy with teams at no more
    cost minus the plain point's (points: accuracy); the mean, least and largest."""
    costs, accuracy = [p[2] for p in plain], [p[1] for p in plain]
    gains = []
    for index in pareto_front(costs, accuracy):
        best = max((p[1] for p in paired if p[2] <= costs[index] + 1e-12), default=0.0)
        gains.append(100 * (best - accuracy[index]))
    return {
        "mean": round(float(np.mean(gains)), 3),
        "least": round(float(np.min(gains)), 3),
        "largest": round(float(np.max(gains)), 3),
        "front_points": len(gains),
    }


def held_out(validation: OutcomeTable, test: OutcomeTable) -> dict[str, Any]:
    """Each category held out: ``compared`` on the other categories' profiles."""
    out = {}
    for category in sorted(set(test.categories)):
        val, tested = holdout(validation, test, category)
        figures = compared(val, tested)
        out[category] = {
            "plain": figures["plain"],
            "with_escalating_teams": figures["with_escalating_teams"],
            "lambda_0_unchanged": figures["lambda_0"]["same_choice_with_teams"],
            "front_gain": figures["front_gain"],
        }
    return out


PROXIES = {
    "without gpt-4, claude-v1, claude-v2": (
        "gpt-4-1106-preview", "claude-v1", "claude-v2",
    ),
    "open models only": (
        "gpt-4-1106-preview", "claude-v1", "claude-v2", "claude-instant-v1", "gpt-3.5-turbo-1106",
    ),
}  # fmt: skip
"""Pools like the private set's (no dominant model): pairs then escalate to Yi-34B."""


def main() -> None:
    started = time.perf_counter()
    data = load_replay(DATA)
    validation, test = data.table("validation"), data.table("test")
    full = compared(validation, test)
    write_results(
        "escalation",
        {
            "target": "accuracy >= 0.875 at <= $2.50 per 1,000 test questions",
            "budget_per_1k": BUDGET_PER_1K,
            "full_pool": full,
            "met": full["with_escalating_teams"]["accuracy"] >= 0.875,
            "held_out": held_out(validation, test),
            "proxy_pools": {
                name: {
                    "in_distribution": compared(without(validation, drop), without(test, drop)),
                    "held_out": held_out(without(validation, drop), without(test, drop)),
                }
                for name, drop in PROXIES.items()
            },
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


if __name__ == "__main__":
    main()
