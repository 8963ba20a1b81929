"""Does exploring pay under bandit feedback? Measured on RouterBench's validation lines only.

With bandit feedback only the chosen expert's outcome is revealed, so a greedy router learns
little about the experts it does not choose. This script tries two ways of choosing others on
purpose, on top of the feedback level with its default knobs:

- ``thompson``: each expert's corrected estimate plus tau x sqrt(m_f / (n + m_f)) x a standard
  normal draw, n being the outcomes of that expert actually revealed in the query's groups
  (soft membership, as the feedback level counts them), m_f the level's pseudo-count;
- ``ucb``: the same bonus without the draw (optimism where an expert has been tried least);
- ``error-ucb``: the ``ucb`` bonus scaled by how wrong the frozen estimates prove in the
  query's groups, |sum of (revealed outcome - p0)| / (revealed outcomes + m_f), so that the
  router explores only where the validation record is being contradicted (tau is then a
  multiple of that error);
- ``shortfall-ucb``: the same, counting only a shortfall (the revealed outcomes below p0), so
  that the router explores only where the experts it chose do worse than estimated.

``greedy`` (tau = 0) is what the service does. The streams are those of
``perf/online_validation.py`` (each category held out in turn, held-out and mixed streams,
both pools, file order and two shuffles). Writes perf/results/online_explore.json; no test
line is read.

    OMP_NUM_THREADS=1 python perf/online_explore.py
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from online_replay import DOMINANT, FILE, bench_for, without
from online_validation import ONE, ORDERS, POOLS, stream_split

from router_svc.evaluation.improved import RoutedSplit
from router_svc.evaluation.online import _queries, feedback_row, stream_order
from router_svc.replay.data import load_replay
from router_svc.routing.feedback_level import FeedbackKnobs, FeedbackLevel
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter

TAUS = (0.02, 0.05, 0.1, 0.2)
ERROR_TAUS = (0.25, 0.5, 1.0, 2.0)
SETTINGS = (
    ("greedy", 0.0),
    *((mode, tau) for mode in ("thompson", "ucb") for tau in TAUS),
    *((mode, tau) for mode in ("error-ucb", "shortfall-ucb") for tau in ERROR_TAUS),
)
OUT = Path("perf/results/online_explore.json")


def simulate(
    router: KnnShrinkageRouter, split: RoutedSplit, order: np.ndarray, mode: str, tau: float
) -> np.ndarray:
    """(n,) the expert chosen at each position of ``order`` under bandit feedback."""
    knobs = FeedbackKnobs()
    parts = router.score_queries(_queries(split, 0, len(split.table)))
    vectors = np.asarray(split.vectors)
    index = router.matrix.skill_index()
    level = FeedbackLevel.empty(router.model.centroids, router.model.evidence, knobs)
    revealed = np.zeros_like(level.known)
    error = np.zeros(len(level.known))
    draws = np.random.default_rng(len(order))
    chosen = []
    for row in order.tolist():
        frozen, vector = parts.score[row : row + 1], vectors[row : row + 1]
        score = level.corrected(vector, frozen)[0] if level.rows else frozen
        member = level.member(vector)
        bonus = tau * np.sqrt(knobs.pseudo / (member @ revealed + knobs.pseudo))
        if mode == "thompson":
            bonus = bonus * draws.standard_normal(score.shape)
        elif mode in ("error-ucb", "shortfall-ucb"):
            wrong = float((member @ (error / (revealed.sum(axis=1) + knobs.pseudo)))[0])
            bonus = bonus * (abs(wrong) if mode == "error-ucb" else max(0.0, -wrong))
        noisy = score + bonus
        cost = None if parts.cost is None else parts.cost[row : row + 1]
        one = replace(parts, relevance=noisy, score=noisy, fallback=parts.fallback[:1], cost=cost)
        pick = int(router.choose(one, ONE)[0, 0])
        chosen.append(pick)
        row_evidence = feedback_row(split, row, pick, "bandit", index)
        revealed = revealed + member.T @ row_evidence.observed
        error = error + member[0] * float(np.nansum(row_evidence.scores - frozen))
        level = level.added(row_evidence, frozen)
    return np.asarray(chosen)


def task_runs(task: tuple[str, str, str]) -> list[dict[str, Any]]:
    """Every setting x order on one (pool, held-out category, stream kind)."""
    pool, category, stream = task
    val = without(load_replay(FILE).table("validation"), () if pool == POOLS[0] else DOMINANT)
    router, bench = bench_for(*stream_split(val, category, stream))
    scores = np.asarray(bench.test.table.scores, dtype=float)
    parts = router.score_queries(_queries(bench.test, 0, len(scores)))
    frozen = scores[np.arange(len(scores)), router.choose(parts, ONE)[:, 0]]
    rows = []
    for shuffle in ORDERS:
        order = stream_order(len(scores), shuffle)
        for mode, tau in SETTINGS:
            chosen = simulate(router, bench.test, order, mode, tau)
            rows.append(
                {"pool": pool, "holdout": category, "stream": stream,
                 "order": "file" if shuffle is None else f"shuffle {shuffle}",
                 "mode": mode, "tau": tau, "questions": len(order),
                 "accuracy": float(scores[order, chosen].mean()),
                 "frozen_accuracy": float(frozen.mean())}
            )  # fmt: skip
    print(f"{pool} / {category} / {stream}", flush=True)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per setting and pool: gain over frozen (points, pooled by questions), runs below it."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        for pool in (r["pool"], "both pools"):
            entry = out.setdefault(f"{r['mode']} {r['tau']} / {pool}", {"runs": 0, "below": 0})
            entry["runs"] += 1
            entry["below"] += int(r["accuracy"] < r["frozen_accuracy"] - 1e-9)
            entry["gain"] = (
                entry.get("gain", 0.0) + (r["accuracy"] - r["frozen_accuracy"]) * r["questions"]
            )
            entry["q"] = entry.get("q", 0) + r["questions"]
    for entry in out.values():
        entry["gain_points"] = round(100 * entry.pop("gain") / entry.pop("q"), 3)
    return out


def main() -> None:
    started = time.perf_counter()
    categories = sorted(set(load_replay(FILE).table("validation").categories))
    tasks = [(p, c, s) for p in POOLS for c in categories for s in ("held-out", "mixed")]
    with multiprocessing.Pool(2) as workers:
        rows = [row for part in workers.map(task_runs, tasks, chunksize=1) for row in part]
    summary = summarise(rows)
    OUT.write_text(
        json.dumps(
            {
                "file": str(FILE),
                "split": "validation only (each category in turn held out)",
                "feedback": "bandit",
                "settings": [list(s) for s in SETTINGS],
                "summary": summary,
                "runs": rows,
                "wall_s": round(time.perf_counter() - started, 1),
            },
            indent=1,
        )
        + "\n"
    )
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
