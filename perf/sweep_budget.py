"""Issue 19's cost-sweep target on RouterBench, and what the validation lines say about each
idea for reaching it.

    OMP_NUM_THREADS=1 .venv/bin/python perf/sweep_budget.py

The target: on the default router's k = 1 sweep over lambda, a point of >= 87.5 % at <= $2.50
per 1,000 test questions, every knob chosen on validation. Each idea is judged on the
validation lines alone, by held-out estimates on the knob search's folds
(``knob_search.fold_families``: 5 random folds, and one fold per task held out) swept over
lambda as the bench sweeps the test lines:

- ``validation.knobs``: the most accurate held-out point at <= the budget with the default's
  knobs, and with the knobs of searches that score their decisions at one cost weight (or a
  few near the budget) instead of 0, 0.05 and 0.2;
- ``validation.calibration``: the same after a Platt scaling per expert, fitted on the other
  folds' held-out estimates;
- ``validation.within_task``: in each task, how well the held-out estimate ranks the
  questions a cheap expert gets right (AUC; 0.5 is a coin), which is what lets a router move
  the right questions to it;
- ``test.refined``: the bench's sweep refined between its grid lambdas until neighbouring
  points differ in at most one question's choice, i.e. every routing the router makes;
- ``test.per_task_hindsight``: a bound, not a router: the most accurate split of each test
  task's questions among the experts at <= the budget, chosen with the test labels (a linear
  programme, solved by sweeping its cost multiplier). A router that cannot tell a task's
  questions apart does no better, so a target above it needs within-task discrimination.

Every router here routes single experts (``escalation`` off); ``perf/escalation.py`` measures
the default with its escalating teams. Test figures of what a search chose are written beside
it once chosen; none chooses anything.
Writes perf/results/sweep_budget.json.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from perf._common import write_results
from router_svc.config.routers import DEFAULT_ROUTER, KnnShrinkageOptions
from router_svc.evaluation.escalated import with_pairs
from router_svc.evaluation.improved import MethodBench, MethodRun, RoutedSplit
from router_svc.evaluation.replay_bench import LAMBDAS, BenchOptions, ReplayBench
from router_svc.replay.data import load_replay
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.evidence import Evidence
from router_svc.routing.knn_shrinkage import suite_evidence
from router_svc.routing.knob_search import DECISION_WEIGHTS, FoldedData, fold_families, select_knobs
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.shrinkage import ShrinkageKnobs
from router_svc.routing.suite import suite_from_table

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "eval" / "replay" / "routerbench_pooled3.jsonl"
BUDGET_PER_1K = 2.50
SINGLE = KnnShrinkageOptions(escalation=False)
"""The default router over single experts (escalating teams: ``perf/escalation.py``)."""
SEARCH_WEIGHTS: dict[str, tuple[float, ...]] = {
    "default (0, 0.05, 0.2)": DECISION_WEIGHTS,
    "0.05": (0.05,),
    "0.08": (0.08,),
    "0.1": (0.1,),
    "0.2": (0.2,),
    "0.05, 0.08, 0.1": (0.05, 0.08, 0.1),
}
"""The cost weights each knob search scores its decisions at (the bench's default sweep reaches
$2.50 at lambda 0.079)."""


def best_at_budget(points: Sequence[tuple[float, float, float]]) -> dict[str, float]:
    """The most accurate of (lambda, accuracy, $ per question) points costing at most the
    budget, the cheapest of equals."""
    affordable = [p for p in points if 1000 * p[2] <= BUDGET_PER_1K + 1e-9]
    weight, accuracy, cost = max(affordable, key=lambda p: (p[1], -p[2]))
    figures = {"accuracy": round(accuracy, 4), "cost_per_1k": round(1000 * cost, 3)}
    return {"lambda": float(f"{weight:.5g}"), **figures}


def held_out_sweep(
    probability: np.ndarray, cost: np.ndarray, evidence: Evidence
) -> list[tuple[float, float, float]]:
    """(lambda, accuracy, $ per question) of the held-out estimates' k = 1 choice at every
    lambda of the bench's grid, cost relative to the dearest mean cost (``row_utility``)."""
    scale = float(np.nanmax(np.nanmean(evidence.costs, axis=0)))
    rows, points = np.arange(len(probability)), []
    for weight in LAMBDAS:
        chosen = np.argmax(probability - weight * cost / scale, axis=1)
        points.append(
            (
                weight,
                float(evidence.scores[rows, chosen].mean()),
                evidence.costs[rows, chosen].mean(),
            )
        )
    return points


def fold_figures(
    families: dict[str, FoldedData],
    knobs: ShrinkageKnobs,
    transform: Callable[[np.ndarray, FoldedData], np.ndarray] | None = None,
) -> dict[str, dict[str, float]]:
    """Per fold family, the held-out sweep's lambda = 0 point and its best point at <= the
    budget."""
    figures = {}
    for name, data in families.items():
        probability, cost = data.held_out(knobs)
        if transform is not None:
            probability = transform(probability, data)
        points = held_out_sweep(probability, cost, data.evidence)
        lambda_0 = {
            "accuracy": round(points[0][1], 4),
            "cost_per_1k": round(1000 * points[0][2], 3),
        }
        figures[name] = {"lambda_0": lambda_0, "at_budget": best_at_budget(points)}
    return figures


def platt(probability: np.ndarray, outcome: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """(slope, intercept) of a logistic fit of the outcomes on the estimates' log-odds."""
    z = np.log(np.clip(probability, 1e-4, 1 - 1e-4) / np.clip(1 - probability, 1e-4, 1))
    design = np.stack([z, np.ones_like(z)], axis=1)
    theta = np.array([1.0, 0.0])
    for _ in range(steps):
        q = 1.0 / (1.0 + np.exp(-design @ theta))
        hessian = design.T @ (design * (q * (1 - q))[:, None]) + 1e-6 * np.eye(2)
        theta -= np.linalg.solve(hessian, design.T @ (q - outcome))
    return float(theta[0]), float(theta[1])


def cross_fitted_platt(probability: np.ndarray, data: FoldedData) -> np.ndarray:
    """Each fold's estimates rescaled by Platt fits on the other folds' held-out estimates."""
    scaled = np.empty_like(probability)
    z = np.log(np.clip(probability, 1e-4, 1 - 1e-4) / np.clip(1 - probability, 1e-4, 1))
    for f in range(data.folds):
        held, train = data.fold == f, data.fold != f
        for e in range(probability.shape[1]):
            slope, intercept = platt(probability[train, e], data.evidence.scores[train, e])
            scaled[held, e] = 1.0 / (1.0 + np.exp(-(slope * z[held, e] + intercept)))
    return scaled


def auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """The chance that a positive row scores above a negative one (ties count half)."""
    pos, neg = score[positive], score[~positive]
    if not len(pos) or not len(neg):
        return None
    wins = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    return round(float(wins), 3)


def within_task(
    data: FoldedData, knobs: ShrinkageKnobs, categories: Sequence[str], experts: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per task, for its three most accurate experts costing at most half the dearest one:
    accuracy, the AUC of the held-out estimate for being right, and the AUC of (dearest's
    estimate - this one's) for the questions only the dearest gets right, among those where
    the two differ."""
    probability, _ = data.held_out(knobs)
    scores, costs = data.evidence.scores, data.evidence.costs
    dear = int(np.argmax(costs.mean(axis=0)))
    tasks = np.asarray(categories)
    report: dict[str, dict[str, Any]] = {}
    for task in sorted(set(categories)):
        rows = tasks == task
        cheap = np.flatnonzero(costs[rows].mean(axis=0) <= costs[rows, dear].mean() / 2)
        for e in cheap[np.argsort(-scores[rows][:, cheap].mean(axis=0))][:3]:
            differ = rows & (scores[:, dear] != scores[:, e])
            gap = probability[differ, dear] - probability[differ, e]
            report.setdefault(task, {})[experts[e]] = {
                "accuracy": round(float(scores[rows, e].mean()), 4),
                "auc_right": auc(probability[rows, e], scores[rows, e] > 0.5),
                "auc_only_dearest_right": auc(gap, scores[differ, dear] > 0.5),
                "questions_where_they_differ": int(differ.sum()),
            }
    return report


def refined(
    choose: Callable[[float], np.ndarray], lambdas: Sequence[float]
) -> dict[float, np.ndarray]:
    """Each lambda's choices, ``lambdas`` plus geometric midpoints wherever two neighbouring
    lambdas' choices differ in more than one question, until none do (or they are within
    1e-6 of each other, or 1e-9 of 0: escalating teams, never chosen at 0, may be at any
    lambda above it)."""
    chosen = {float(w): choose(float(w)) for w in lambdas}
    while True:
        ordered = sorted(chosen)
        wider = [
            (a, b)
            for a, b in pairwise(ordered)
            if int((chosen[a] != chosen[b]).sum()) > 1 and (b / a > 1 + 1e-6 if a else b > 1e-9)
        ]
        if not wider:
            return chosen
        for a, b in wider:
            middle = float(np.sqrt(a * b)) if a > 0 else b / 2
            chosen[middle] = choose(middle)


def outcomes(
    chosen: dict[float, np.ndarray], test: OutcomeTable
) -> list[tuple[float, float, float]]:
    """(lambda, accuracy, $ per question) of each lambda's choices on the test lines."""
    rows = np.arange(len(test))
    return [
        (w, float(test.scores[rows, c].mean()), float(test.costs[rows, c].mean()))
        for w, c in sorted(chosen.items())
    ]


def test_sweep(
    methods: MethodBench, options: KnnShrinkageOptions, test: OutcomeTable
) -> tuple[dict[str, float], dict[str, float], int]:
    """The test sweep of the default router with ``options``: the bench's grid and refined
    (escalating teams, where the router prices them, scored on their test columns)."""
    run = MethodRun(DEFAULT_ROUTER, DEFAULT_ROUTER, options)
    router, parts = methods.fit(run.method, run.options), methods.parts(run)
    if router.escalations is not None:
        test = with_pairs(test, router.escalations)

    def choose(weight: float) -> np.ndarray:
        utility = router.utility(parts, weight)[1]
        return np.asarray(router.recruit(utility, RecruitOptions(k=1))[:, 0])

    grid = {float(w): choose(float(w)) for w in LAMBDAS}
    fine = refined(choose, LAMBDAS)
    return best_at_budget(outcomes(grid, test)), best_at_budget(outcomes(fine, test)), len(fine)


def per_task_hindsight(test: OutcomeTable) -> dict[str, Any]:
    """The test-label bound described in the module docstring: each task's questions split
    among the experts (a share per expert) to maximise accuracy at <= the budget."""
    names = test.experts
    tasks, right, spend = task_totals(
        test, np.asarray(test.scores, dtype=float), np.asarray(test.costs, dtype=float)
    )
    budget = BUDGET_PER_1K / 1000 * len(test)
    points = multiplier_sweep(right, spend)
    under = max((p for p in points if p[0] <= budget), key=lambda p: (p[1], -p[0]))
    over = [p for p in points if p[0] > budget]
    best = under[1]
    if over:
        above = min(over, key=lambda p: p[0])
        if above[1] > under[1]:
            share = (budget - under[0]) / (above[0] - under[0])
            best = under[1] + share * (above[1] - under[1])
    return {
        "accuracy": round(best / len(test), 4),
        "tasks_at_the_cheaper_vertex": {
            t: names[int(e)] for t, e in zip(tasks, under[2], strict=True)
        },
        "met_by_the_bound": best / len(test) >= 0.875,
    }


def task_totals(
    table: OutcomeTable, right: np.ndarray, spend: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(tasks, right, spend): the per-question columns summed over each task's questions."""
    names = np.asarray(table.categories)
    tasks = sorted(set(table.categories))
    return (
        tasks,
        np.array([right[names == t].sum(axis=0) for t in tasks]),
        np.array([spend[names == t].sum(axis=0) for t in tasks]),
    )


def multiplier_sweep(right: np.ndarray, spend: np.ndarray) -> list[tuple[float, float, np.ndarray]]:
    """(spend, right, option per task) at every multiplier where some task's best option of
    right - multiplier x spend changes: the vertices of the per-task programme's frontier."""
    steps = {0.0, *(abs(r) / abs(c) for r, c in _pair_gaps(right, spend) if c != 0)}
    rows = np.arange(len(right))
    points = []
    for step in sorted(steps):
        for weight in (step * (1 - 1e-9), step * (1 + 1e-9)):
            pick = np.argmax(right - weight * spend, axis=1)
            points.append((float(spend[rows, pick].sum()), float(right[rows, pick].sum()), pick))
    return points


def _pair_gaps(right: np.ndarray, spend: np.ndarray) -> list[tuple[float, float]]:
    """(right difference, cost difference) of every pair of options within each task."""
    gaps = []
    for row_r, row_c in zip(right, spend, strict=True):
        first, second = np.triu_indices(len(row_r), k=1)
        gaps.extend(zip(row_r[first] - row_r[second], row_c[first] - row_c[second], strict=True))
    return gaps


def main() -> None:
    started = time.perf_counter()
    data = load_replay(DATA)
    validation, test = data.table("validation"), data.table("test")
    prepared = ReplayBench(BenchOptions(ablation=False)).prepare(validation, test)
    val = prepared.validation
    suite = suite_from_table(val.table, val.keyword_tags, prepared.skill_embedder, val.vectors)
    split = RoutedSplit(test, prepared.test.keyword_tags, prepared.test.vectors)
    methods = MethodBench(suite, split)
    evidence, skill_count = suite_evidence(suite), len(suite.matrix.skills)
    families = fold_families(evidence, skill_count, suite.categories)
    default = methods.fit(DEFAULT_ROUTER, SINGLE)
    knobs_default: ShrinkageKnobs = default.knobs  # type: ignore[attr-defined]

    searches: dict[str, Any] = {}
    for label, weights in SEARCH_WEIGHTS.items():
        search = select_knobs(evidence, skill_count, categories=suite.categories, weights=weights)
        chosen = search.knobs
        options = KnnShrinkageOptions.model_validate(
            {**asdict(chosen), "tuned": False, "escalation": False}
        )
        grid, fine, _ = test_sweep(methods, options, test)
        searches[label] = {
            "changed_from_default_knobs": {
                k: v for k, v in asdict(chosen).items() if getattr(knobs_default, k) != v
            },
            "validation": fold_figures(families, chosen),
            "test_after_choosing": {"grid": grid, "refined": fine},
        }
    grid, fine, count = test_sweep(methods, SINGLE, test)
    write_results(
        "sweep_budget",
        {
            "target": "accuracy >= 0.875 at <= $2.50 per 1,000 test questions",
            "budget_per_1k": BUDGET_PER_1K,
            "default_knobs": asdict(knobs_default),
            "test": {
                "grid": {**grid, "points": len(LAMBDAS)},
                "refined": {**fine, "points": count},
                "met": fine["accuracy"] >= 0.875,
                "per_task_hindsight": per_task_hindsight(test),
            },
            "validation": {
                "best_single": _best_single(evidence, validation),
                "knobs": searches,
                "calibration": {
                    "default_knobs": fold_figures(families, knobs_default),
                    "platt_per_expert": fold_figures(families, knobs_default, cross_fitted_platt),
                },
                "within_task": within_task(
                    families["random"], knobs_default, suite.categories or [], validation.experts
                ),
            },
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


def _best_single(evidence: Evidence, validation: OutcomeTable) -> dict[str, Any]:
    best = int(np.argmax(np.nanmean(evidence.scores, axis=0)))
    return {
        "expert": validation.experts[best],
        "accuracy": round(float(np.nanmean(evidence.scores[:, best])), 4),
        "cost_per_1k": round(1000 * float(np.nanmean(evidence.costs[:, best])), 3),
    }


if __name__ == "__main__":
    main()
