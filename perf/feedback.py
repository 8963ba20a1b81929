"""Routing latency with 50,000 feedback rows in the default router against none.

    flock /tmp/router-cpu.lock nice .venv/bin/python perf/feedback.py [--rows 50000] [--calls 300]

The default router (knn-shrinkage, knobs chosen on validation) is fitted on RouterBench's
validation lines with the bench's vectors (cached under .router-svc/vectors), as
``router-svc bench`` fits it. Feedback rows are bandit rows (one expert's outcome each) on the
test questions' vectors with a little noise (and, in a second measurement, rows that grade
every expert, which the feedback level's neighbour search also keeps), added to it with
``KnnShrinkageRouter.with_feedback`` (the service's default knobs). Each call scores and
chooses for one test question (``score_queries`` + ``choose``, the routing step feedback
changes; tagging and embedding are unchanged by feedback). Also times adding one batch of
100 rows (a refresh) to the 50,000. Writes perf/results/feedback.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile, write_results
from online_replay import FILE, bench_for

from router_svc.evaluation.online import _queries
from router_svc.replay.data import load_replay
from router_svc.routing.evidence import Evidence, SkillRows
from router_svc.routing.feedback_level import FeedbackKnobs
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter
from router_svc.routing.recruiter import RecruitOptions


def feedback_rows(
    router: KnnShrinkageRouter, vectors: np.ndarray, count: int, full: bool = False
) -> Evidence:
    """``count`` bandit rows (or, ``full``, rows grading every expert)."""
    rng = np.random.default_rng(0)
    base = vectors[rng.integers(0, len(vectors), count)]
    noisy = base + rng.normal(0, 0.02, base.shape)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    experts = len(router.matrix.experts)
    scores = np.full((count, experts), np.nan)
    costs = np.full_like(scores, np.nan)
    chosen = rng.integers(0, experts, count)
    scores[np.arange(count), chosen] = (rng.random(count) < 0.7).astype(float)
    costs[np.arange(count), chosen] = router.expected_cost[chosen]
    if full:
        scores = (rng.random(scores.shape) < 0.7).astype(float)
        costs = np.tile(router.expected_cost, (count, 1))
    return Evidence(noisy.astype(np.float32), scores, costs, SkillRows.empty(count))


def timed_calls(router: KnnShrinkageRouter, test: object, calls: int) -> list[float]:
    seconds = []
    for i in range(calls):
        query = _queries(test, i % len(test.table), i % len(test.table) + 1)  # type: ignore[attr-defined]
        started = time.perf_counter()
        router.choose(router.score_queries(query), RecruitOptions(k=1))
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    data = load_replay(FILE)
    router, bench = bench_for(data.table("validation"), data.table("test"))
    figures = {
        "note": "taken on a 2-CPU machine that may have had other work running",
        "validation_rows": len(router.model.evidence),
        "feedback_rows": args.rows,
        "target": "p50 difference <= 1 ms",
        "feedback_knobs": asdict(FeedbackKnobs()),
        "default": measure(router, bench.test, args),
        "default, every expert graded (neighbour search over the latest rows)": measure(
            router, bench.test, args, full=True
        ),
    }
    knobs = replace(router.knobs, neighbours=10)
    near = KnnShrinkageRouter(router.matrix, router.expected_cost, router.model.refit(knobs))
    figures["with a neighbour level (neighbours=10)"] = measure(near, bench.test, args)
    write_results("feedback", figures)


def measure(
    router: KnnShrinkageRouter, test: Any, args: argparse.Namespace, full: bool = False
) -> dict[str, Any]:
    rows = feedback_rows(router, np.asarray(test.vectors), args.rows, full)
    learned = router.with_feedback(rows)
    timed_calls(router, test, 20)
    timed_calls(learned, test, 20)  # warm both
    plain: list[float] = []
    with_rows: list[float] = []
    for _ in range(3):  # interleaved, so the machine's load hits both alike
        plain += timed_calls(router, test, args.calls // 3)
        with_rows += timed_calls(learned, test, args.calls // 3)
    started = time.perf_counter()
    learned.with_feedback(feedback_rows(router, np.asarray(test.vectors), 100, full))
    refresh_s = time.perf_counter() - started
    p50_plain, p50_rows = median(plain) * 1000, median(with_rows) * 1000
    return {
        "knobs": {k: float(v) for k, v in vars(router.knobs).items()},
        "calls": len(plain),
        "route_ms_p50_without_feedback": round(p50_plain, 3),
        "route_ms_p50_with_feedback": round(p50_rows, 3),
        "route_ms_p95_without_feedback": round(percentile(plain, 95) * 1000, 3),
        "route_ms_p95_with_feedback": round(percentile(with_rows, 95) * 1000, 3),
        "p50_difference_ms": round(p50_rows - p50_plain, 3),
        "add_100_rows_to_the_feedback_s": round(refresh_s, 4),
    }


if __name__ == "__main__":
    main()
