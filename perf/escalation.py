"""A lead for issue 19's cost-sweep target: the default router given escalating teams to price.

An escalating team is a pair of experts whose shared answer stands; where their stated answers
differ (or either states none), the validation's best single model answers instead. On replay
data each pair becomes one more column of the outcome table, built from the recorded answers:
its score is the first member's where the pair agrees and the strong model's elsewhere, its
cost the pair's plus the strong model's where it escalates. The default router
(``knn-shrinkage``, knobs chosen by its own search on the validation lines) is then fitted on
the augmented validation lines and swept over lambda on the augmented test lines, exactly as
``perf/sweep_budget.py`` sweeps the plain pool. Nothing here is served yet: the service cannot
run an escalating team, so this measures what building it would buy.

    OMP_NUM_THREADS=1 .venv/bin/python perf/escalation.py

Writes perf/results/escalation.json.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from perf._common import write_results
from perf.online_replay import without
from perf.sweep_budget import BUDGET_PER_1K, DATA, test_sweep
from router_svc.config.routers import DEFAULT_ROUTER, KnnShrinkageOptions
from router_svc.evaluation.improved import MethodBench, MethodRun, RoutedSplit
from router_svc.evaluation.replay_bench import BenchOptions, ReplayBench, holdout
from router_svc.replay.data import load_replay
from router_svc.replay.outcomes import NO_ANSWER, OutcomeTable
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.suite import suite_from_table


def with_escalating_pairs(table: OutcomeTable, strong: int) -> OutcomeTable:
    """``table`` plus one column per pair of the other experts, escalating to ``strong``."""
    if table.answers is None or table.voted is None:
        raise SystemExit("escalating teams need the recorded responses (answers)")
    answers = np.asarray(table.answers)
    others = [e for e in range(len(table.experts)) if e != strong]
    names, scores, costs, tokens, codes = [], [], [], [], []
    for first, second in combinations(others, 2):
        agree = (answers[:, first] == answers[:, second]) & (answers[:, first] != NO_ANSWER)
        names.append(f"{table.experts[first]} + {table.experts[second]} > escalate")
        scores.append(np.where(agree, table.scores[:, first], table.scores[:, strong]))
        pair = table.costs[:, first] + table.costs[:, second]
        costs.append(pair + np.where(agree, 0.0, table.costs[:, strong]))
        pair_tokens = table.tokens[:, first] + table.tokens[:, second]
        tokens.append(pair_tokens + np.where(agree, 0, table.tokens[:, strong]))
        codes.append(np.where(agree, answers[:, first], answers[:, strong]))
    return replace(
        table,
        experts=[*table.experts, *names],
        scores=np.column_stack([table.scores, *scores]),
        costs=np.column_stack([table.costs, *costs]),
        tokens=np.column_stack([table.tokens, *tokens]),
        answers=np.column_stack([answers, *codes]),
    )


def sweep_of(validation: OutcomeTable, test: OutcomeTable) -> dict[str, Any]:
    """The default router's lambda = 0 figures and its best sweep point at <= the budget."""
    prepared = ReplayBench(BenchOptions(ablation=False)).prepare(validation, test)
    val = prepared.validation
    suite = suite_from_table(val.table, val.keyword_tags, prepared.skill_embedder, val.vectors)
    methods = MethodBench(
        suite, RoutedSplit(test, prepared.test.keyword_tags, prepared.test.vectors)
    )
    grid, refined, count = test_sweep(methods, KnnShrinkageOptions(), test)
    run = MethodRun(DEFAULT_ROUTER, DEFAULT_ROUTER, KnnShrinkageOptions())
    router, parts = methods.fit(run.method, run.options), methods.parts(run)
    chosen = np.asarray(router.recruit(router.utility(parts, 0.0)[1], RecruitOptions(k=1))[:, 0])
    rows = np.arange(len(test))
    used = [test.experts[i] for i in np.unique(chosen)]
    return {
        "experts": len(test.experts),
        "lambda_0": {
            "accuracy": round(float(test.scores[rows, chosen].mean()), 4),
            "cost_per_1k": round(1000 * float(test.costs[rows, chosen].mean()), 3),
            "experts_chosen": used,
        },
        "at_budget": {"grid": grid, "refined": {**refined, "points": count}},
        "met": refined["accuracy"] >= 0.875,
    }


def held_out(validation: OutcomeTable, test: OutcomeTable, strong: int) -> dict[str, Any]:
    """Per category held out (profiled on the others' validation lines), at lambda 0: the
    router without and with escalating pairs, and the best single model of the same
    validation lines."""
    out = {}
    for category in sorted(set(test.categories)):
        val, tested = holdout(validation, test, category)
        best = int(np.argmax(np.asarray(val.scores, dtype=float).mean(axis=0)))
        pairs = sweep_of(with_escalating_pairs(val, strong), with_escalating_pairs(tested, strong))
        out[category] = {
            "plain": sweep_of(val, tested)["lambda_0"]["accuracy"],
            "with_pairs": pairs["lambda_0"]["accuracy"],
            "best_single_on_validation": val.experts[best],
            "its_accuracy": round(float(np.asarray(tested.scores)[:, best].mean()), 4),
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


def proxy(validation: OutcomeTable, test: OutcomeTable) -> dict[str, Any]:
    """Lambda 0 with and without escalating pairs, in distribution and per category held out."""
    strong = int(np.argmax(np.asarray(validation.scores, dtype=float).mean(axis=0)))
    plain = sweep_of(validation, test)["lambda_0"]
    pairs = sweep_of(with_escalating_pairs(validation, strong), with_escalating_pairs(test, strong))
    return {
        "escalates_to": validation.experts[strong],
        "lambda_0": {"plain": plain, "with_pairs": pairs["lambda_0"]},
        "held_out_at_lambda_0": held_out(validation, test, strong),
    }


def main() -> None:
    started = time.perf_counter()
    data = load_replay(DATA)
    validation, test = data.table("validation"), data.table("test")
    strong = int(np.argmax(np.asarray(validation.scores, dtype=float).mean(axis=0)))
    plain = sweep_of(validation, test)
    escalating = sweep_of(
        with_escalating_pairs(validation, strong), with_escalating_pairs(test, strong)
    )
    write_results(
        "escalation",
        {
            "target": "accuracy >= 0.875 at <= $2.50 per 1,000 test questions",
            "budget_per_1k": BUDGET_PER_1K,
            "escalates_to": validation.experts[strong],
            "note": "replay only: the service cannot run an escalating team yet",
            "plain_pool": plain,
            "with_escalating_pairs": escalating,
            "held_out_at_lambda_0": held_out(validation, test, strong),
            "proxy_pools": {
                name: proxy(without(validation, drop), without(test, drop))
                for name, drop in PROXIES.items()
            },
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


if __name__ == "__main__":
    main()
