"""How escalating teams are priced, chosen on RouterBench's validation lines only.

``perf/escalation.py`` measures the default router on the test lines; the choices behind it
are made here, before that, on the 2,212 validation lines: each variant is fitted on the
training part of every fold (its own knob search included) and swept over the bench's lambda
grid on the held-out part, the held-out questions of all folds pooled per lambda. Folds:
five random ones, and one per category held out (the unseen-task case).

- ``plain``: single experts only (``escalation: false``);
- ``pairs of m, own knobs``: every pair of the m best experts after the fold's best,
  escalating to it (``escalation_members``; ``all``: every other expert), the teams' knobs
  searched on their own columns, each team's estimate capped at the strong expert's: the
  default with m = 4;
- ``pairs of m, the experts' knobs``: the same teams on the experts' knobs and clusters;
- ``..., uncapped``: a team's own estimate as it is.

Reported per variant and fold family: the best pooled point at <= $2.50 per 1,000 questions,
and the accuracy gained over ``plain`` at each cost of plain's Pareto front.

    OMP_NUM_THREADS=1 .venv/bin/python perf/escalation_validation.py

Writes perf/results/escalation_validation.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from perf._common import write_results
from perf.escalation import front_gain
from perf.sweep_budget import BUDGET_PER_1K, DATA, best_at_budget
from router_svc.config.routers import DEFAULT_ROUTER, KnnShrinkageOptions
from router_svc.evaluation.escalated import with_pairs
from router_svc.evaluation.improved import MethodBench, RoutedSplit, score_split
from router_svc.evaluation.replay_bench import LAMBDAS, BenchOptions, Prepared, ReplayBench
from router_svc.replay.data import load_replay
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter, PairModel, suite_evidence
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.shrinkage import Estimate
from router_svc.routing.suite import suite_from_table

MEMBERS = {"3": 3, "4": 4, "5": 5, "all": None}
VARIANTS = (
    "plain",
    *(f"pairs of {m}, own knobs" for m in MEMBERS),
    *(f"pairs of {m}, the experts' knobs" for m in MEMBERS),
    "pairs of all, the experts' knobs, uncapped",
)
"""``pairs of 4, own knobs`` is the default (``escalation_members: 4``, tuned)."""


class UncappedPairs(PairModel):
    """A team's own estimate, not capped at its strong expert's."""

    def capped(self, paired: Estimate, experts: np.ndarray) -> np.ndarray:
        return paired.probability


def folds(table: OutcomeTable, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Held-out masks: five random folds, and one per category."""
    order = np.random.default_rng(seed).permutation(len(table))
    random = []
    for part in np.array_split(order, 5):
        mask = np.zeros(len(table), dtype=bool)
        mask[part] = True
        random.append(mask)
    categories = np.array(table.categories)
    by_task = [categories == c for c in sorted(set(table.categories))]
    return {"random": random, "category held out": by_task}


def variant_router(bench: MethodBench, variant: str) -> KnnShrinkageRouter:
    """The default router as ``variant`` prices teams."""
    members = MEMBERS.get(variant.removeprefix("pairs of ").split(",")[0])
    options = KnnShrinkageOptions(escalation=variant != "plain", escalation_members=members)
    router = bench.fit(DEFAULT_ROUTER, options)
    assert isinstance(router, KnnShrinkageRouter)
    if "the experts' knobs" in variant:
        evidence = suite_evidence(bench.suite)
        pairs = PairModel.fit(bench.suite, evidence, router.model, members)
        if pairs is not None and variant.endswith("uncapped"):
            pairs = UncappedPairs(pairs.escalations, pairs.model)
        router.pairs = pairs
    return router


def fold_sums(
    prepared: Prepared, held: np.ndarray, variant: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """(right, dollars) per lambda of the grid on the held-out part, and its size."""
    view = prepared.validation
    table, tags, vectors = view.table, view.keyword_tags, view.vectors
    train, test = np.flatnonzero(~held), np.flatnonzero(held)
    suite = suite_from_table(
        table.take(train), [tags[i] for i in train], prepared.skill_embedder, vectors[train]
    )
    split = RoutedSplit(table.take(test), [tags[i] for i in test], vectors[test])
    bench = MethodBench(suite, split)
    router = variant_router(bench, variant)
    parts = score_split(router, bench.test)
    scored = split.table
    if router.escalations is not None:
        scored = with_pairs(scored, router.escalations)
    rows = np.arange(len(test))
    right, spent = [], []
    for weight in LAMBDAS:
        chosen = router.recruit(router.utility(parts, float(weight))[1], RecruitOptions(k=1))
        right.append(float(scored.scores[rows, chosen[:, 0]].sum()))
        spent.append(float(scored.costs[rows, chosen[:, 0]].sum()))
    return np.array(right), np.array(spent), len(test)


def pooled(prepared: Prepared, masks: list[np.ndarray], variant: str) -> list[tuple[float, ...]]:
    """(lambda, accuracy, $ per question) of the folds' held-out questions pooled."""
    right, spent, count = np.zeros(len(LAMBDAS)), np.zeros(len(LAMBDAS)), 0
    for held in masks:
        r, s, n = fold_sums(prepared, held, variant)
        right, spent, count = right + r, spent + s, count + n
    return [(float(w), r / count, s / count) for w, r, s in zip(LAMBDAS, right, spent, strict=True)]


def main() -> None:
    started = time.perf_counter()
    data = load_replay(DATA)
    validation = data.table("validation")
    prepared = ReplayBench(BenchOptions(ablation=False)).prepare(validation, validation)
    out: dict[str, Any] = {}
    for family, masks in folds(validation).items():
        sweeps = {variant: pooled(prepared, masks, variant) for variant in VARIANTS}
        out[family] = {
            variant: {
                "at_budget": best_at_budget(points),  # type: ignore[arg-type]
                "front_gain_over_plain": front_gain(sweeps["plain"], points),  # type: ignore[arg-type]
            }
            for variant, points in sweeps.items()
        }
    write_results(
        "escalation_validation",
        {
            "data": "RouterBench validation lines only (2,212), held-out parts pooled",
            "budget_per_1k": BUDGET_PER_1K,
            "variants": list(VARIANTS),
            "folds": out,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


if __name__ == "__main__":
    main()
