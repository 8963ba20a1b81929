"""Chooses the feedback level's knobs on RouterBench's validation lines only.

The online replay simulated on the validation split: each validation category in turn is
the stream (an unseen task), the router is profiled on the other categories' validation
lines, both pools (all experts; without gpt-4-1106-preview, claude-v1, claude-v2), file
order and two shuffles, bandit and full feedback. Every candidate setting of the feedback
level (``routing.feedback_level.FeedbackKnobs``) is scored; the chosen one has the fewest
runs below the frozen router, then the best mean gain of bandit and full feedback (pooled
over the categories by questions). No test line is read. Four searches ran in turn
(``STAGES``, ``STREAMS``): ``levels``, ``pooled`` and ``final`` write
perf/results/online_validation_{levels,pooled,final}.json, and ``neighbours`` (``final``'s
choice with a neighbour level) writes perf/results/online_validation.json, whose chosen knobs
are FeedbackKnobs' defaults.

The simulation reuses the frozen estimate of each streamed question (the validation levels
do not change with feedback) and feeds ``FeedbackLevel`` as ``KnnShrinkageRouter.with_feedback``
does; the script checks once that it chooses as ``run_online`` does.

    OMP_NUM_THREADS=1 python perf/online_validation.py levels|pooled|final|neighbours
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from online_replay import DOMINANT, FILE, bench_for, without

from router_svc.evaluation.improved import RoutedSplit
from router_svc.evaluation.online import (
    FeedbackKind,
    OnlineOptions,
    _queries,
    feedback_row,
    run_online,
    stream_order,
)
from router_svc.replay.data import load_replay
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.feedback_level import FeedbackKnobs, FeedbackLevel
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter
from router_svc.routing.recruiter import RecruitOptions

ORDERS = (None, 1, 2)
STAGES: dict[str, dict[str, tuple[Any, ...]]] = {
    "levels": {
        "pseudo": (5.0, 10.0, 20.0, 50.0, 100.0, 200.0),
        "temperature": (0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
        "centred": (True, False),
        "pooled": (None,),
        "fill": (
            (0.0, 0.0),
            (0.5, 0.0),
            (1.0, 0.0),
            (0.0, 0.5),
            (0.0, 0.7),
            (0.0, 0.85),
            (0.0, 1.0),
        ),
    },
    "pooled": {
        "pseudo": (20.0, 50.0, 100.0, 200.0),
        "temperature": (0.005, 0.01, 0.02, 0.05),
        "centred": (False,),
        "pooled": (None, 25.0, 50.0, 100.0, 200.0, 400.0),
        "fill": ((0.0, 0.7), (0.0, 0.85), (0.0, 1.0)),
    },
    "final": {
        "pseudo": (20.0, 50.0, 100.0, 200.0),
        "temperature": (0.002, 0.005, 0.01, 0.02),
        "centred": (False,),
        "pooled": (None, 200.0, 400.0, 800.0, 1600.0, 3200.0),
        "fill": ((0.0, 0.7), (0.0, 0.85), (0.0, 1.0)),
    },
    "neighbours": {
        "pseudo": (50.0,),
        "temperature": (0.02,),
        "centred": (False,),
        "pooled": (1600.0,),
        "fill": ((0.0, 0.85),),
        "neighbours": (0, 30, 100, 300),
        "neighbour_pseudo": (125.0, 250.0, 500.0, 1000.0, 2000.0),
    },
}
"""Three searches, in order. ``levels``: the groups' pseudo-count and temperature, the form,
and how a bandit row's unknown outcomes are filled in (``fill``: coupling strength, shared),
with no pooled level. ``pooled``: the pooled level's pseudo-count around what ``levels``
chose (not centred, shared fills only: every other form and fill lost there), on held-out
streams; it chose a strong pooled level that loses on mixed streams (perf/online_mixed.py).
``final``: that neighbourhood (m_p up to 3,200) scored on held-out and mixed streams.
``neighbours``: ``final``'s choice with a neighbour level (k, m_n) on top, the same streams;
the earlier stages had none (k = 0)."""
STREAMS = {
    "levels": ("held-out",),
    "pooled": ("held-out",),
    "final": ("held-out", "mixed"),
    "neighbours": ("held-out", "mixed"),
}
"""``held-out``: a category's validation lines, the router profiled on the other categories'.
``mixed``: the same plus a seeded half of the other categories' lines, the router profiled on
the other half (production traffic: a new task among the old ones)."""
ONE = RecruitOptions(k=1)


TOLERANCE = {"neighbours": 1}
"""Questions a run may lose against the frozen router and still not count as below it
(0 where not named). Every neighbour setting loses one question of one full-feedback
run (full pool, winograde mixed, shuffle 2) that no setting without neighbours loses; the
strict count is reported beside (``strict_below``)."""


def out_path(stage: str) -> Path:
    """``neighbours`` chose the defaults; the earlier stages' figures sit beside it."""
    suffix = "" if stage == "neighbours" else f"_{stage}"
    return Path(f"perf/results/online_validation{suffix}.json")


def simulate(
    router: KnnShrinkageRouter,
    split: RoutedSplit,
    kind: FeedbackKind,
    knobs: FeedbackKnobs,
    order: np.ndarray,
) -> np.ndarray:
    """(n,) the expert the online router runs at each position of ``order``."""
    parts = router.score_queries(_queries(split, 0, len(split.table)))
    vectors = np.asarray(split.vectors)
    index = router.matrix.skill_index()
    level = FeedbackLevel.empty(router.model.centroids, router.model.evidence, knobs)
    chosen = []
    for row in order.tolist():
        frozen = parts.score[row : row + 1]
        score = level.corrected(vectors[row : row + 1], frozen)[0] if level.rows else frozen
        cost = None if parts.cost is None else parts.cost[row : row + 1]
        one = replace(parts, relevance=score, score=score, fallback=parts.fallback[:1], cost=cost)
        pick = int(router.choose(one, ONE)[0, 0])
        chosen.append(pick)
        level = level.added(feedback_row(split, row, pick, kind, index), frozen)
    return np.asarray(chosen)


def candidates(grid: dict[str, tuple[Any, ...]]) -> list[FeedbackKnobs]:
    """The grid's settings (without a neighbour level where it names none)."""
    grid = {"neighbours": (0,), "neighbour_pseudo": (500.0,), **grid}
    keys = ("pseudo", "temperature", "centred", "pooled", "fill", "neighbours")
    settings = itertools.product(*(grid[key] for key in (*keys, "neighbour_pseudo")))
    out = [
        FeedbackKnobs(
            pseudo=m, temperature=t, centred=c, pooled=p, strength=fill[0], shared=fill[1],
            neighbours=k, neighbour_pseudo=m_n,
        )
        for m, t, c, p, fill, k, m_n in settings
        if k or m_n == grid["neighbour_pseudo"][0]
    ]  # fmt: skip
    return out


def runs_of(
    router: KnnShrinkageRouter,
    split: RoutedSplit,
    label: dict[str, str],
    settings: list[FeedbackKnobs],
) -> list[dict[str, Any]]:
    """Every setting x feedback kind x order on one held-out category."""
    scores = np.asarray(split.table.scores, dtype=float)
    parts = router.score_queries(_queries(split, 0, len(split.table)))
    frozen = scores[np.arange(len(scores)), router.choose(parts, ONE)[:, 0]]
    rows = []
    for shuffle in ORDERS:
        order = stream_order(len(scores), shuffle)
        for kind in ("bandit", "full"):
            done: dict[tuple[Any, ...], float] = {}
            for knobs in settings:
                fill = (knobs.strength, knobs.shared) if kind == "bandit" else None
                # bandit rows never reach the neighbour level
                near = (knobs.neighbours, knobs.neighbour_pseudo) if kind == "full" else None
                key = (knobs.pseudo, knobs.temperature, knobs.centred, knobs.pooled, fill, near)
                if key not in done:
                    chosen = simulate(router, split, kind, knobs, order)
                    done[key] = float(scores[order, chosen].mean())
                rows.append(
                    {**label, "order": "file" if shuffle is None else f"shuffle {shuffle}",
                     "feedback": kind, "knobs": asdict(knobs), "questions": len(order),
                     "accuracy": done[key], "frozen_accuracy": float(frozen.mean())}
                )  # fmt: skip
    return rows


def check_against_run_online(router: KnnShrinkageRouter, split: RoutedSplit) -> None:
    """The simulation chooses as the online replay does (default knobs, bandit, a shuffle)."""
    options = OnlineOptions(feedback="bandit", shuffle=1)
    run = run_online(router, split, options)
    chosen = simulate(router, split, "bandit", options.knobs, run.order)
    scores = np.asarray(split.table.scores, dtype=float)
    if not np.allclose(scores[run.order, chosen], run.online):
        raise SystemExit("the simulation does not follow run_online")


def summarise(rows: list[dict[str, Any]], tolerance: int = 0) -> list[dict[str, Any]]:
    """Per candidate: runs below frozen (by more than ``tolerance`` questions) and pooled
    gain, for bandit and full feedback."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(json.dumps(r["knobs"], sort_keys=True), {"knobs": r["knobs"]})
        stream = r.get("stream", "held-out")
        lost = (r["frozen_accuracy"] - r["accuracy"]) * r["questions"]
        for name in (r["feedback"], f"{stream} {r['feedback']}"):
            kind = entry.setdefault(
                name, {"runs": 0, "below": 0, "strict_below": 0, "gain": 0.0, "q": 0}
            )
            kind["runs"] += 1
            kind["below"] += int(lost > tolerance + 1e-6)
            kind["strict_below"] += int(lost > 1e-6)
            kind["gain"] += (r["accuracy"] - r["frozen_accuracy"]) * r["questions"]
            kind["q"] += r["questions"]
    for entry in out.values():
        for figures in entry.values():
            if isinstance(figures, dict) and "q" in figures:
                figures["gain_points"] = round(100 * figures.pop("gain") / figures.pop("q"), 3)
        entry["below"] = entry["bandit"]["below"] + entry["full"]["below"]
        entry["strict_below"] = entry["bandit"]["strict_below"] + entry["full"]["strict_below"]
        entry["gain_points"] = (entry["bandit"]["gain_points"] + entry["full"]["gain_points"]) / 2
    return sorted(out.values(), key=lambda e: (e["below"], -e["gain_points"]))


def stream_split(
    val: OutcomeTable, category: str, stream: str = "held-out", seed: int = 0
) -> tuple[OutcomeTable, OutcomeTable]:
    """(the lines the router is profiled on, the streamed lines): see ``STREAMS``."""
    names = np.asarray(val.categories)
    seen = names != category
    if stream == "held-out":
        return val.take(seen), val.take(~seen)
    half = np.random.default_rng(seed).random(len(names)) < 0.5
    return val.take(seen & half), val.take(~seen | ~half)


POOLS = ("full pool", "without " + ", ".join(DOMINANT))


def task_runs(task: tuple[str, str, str, str]) -> list[dict[str, Any]]:
    """Every candidate's runs on one (stage, pool, held-out category, stream kind)."""
    stage, pool, category, stream = task
    val = without(load_replay(FILE).table("validation"), () if pool == POOLS[0] else DOMINANT)
    router, bench = bench_for(*stream_split(val, category, stream))
    label = {"pool": pool, "holdout": category, "stream": stream}
    rows = runs_of(router, bench.test, label, candidates(STAGES[stage]))
    print(f"{pool} / {category} / {stream}: {len(rows)} runs", flush=True)
    return rows


def main(stage: str) -> None:
    grid = STAGES[stage]
    started = time.perf_counter()
    val_all = load_replay(FILE).table("validation")
    router, bench = bench_for(*stream_split(val_all, sorted(set(val_all.categories))[0]))
    check_against_run_online(router, bench.test)
    tasks = [
        (stage, pool, category, stream)
        for pool in POOLS
        for category in sorted(set(val_all.categories))
        for stream in STREAMS[stage]
    ]
    with multiprocessing.Pool(2) as workers:
        rows = [row for part in workers.map(task_runs, tasks, chunksize=1) for row in part]
    ranked = summarise(rows, TOLERANCE.get(stage, 0))
    out_path(stage).write_text(
        json.dumps(
            {
                "file": str(FILE),
                "stage": stage,
                "grid": grid,
                "split": "validation only (each category in turn held out)",
                "streams": STREAMS[stage],
                "orders": ["file" if s is None else f"shuffle {s}" for s in ORDERS],
                "rule": "fewest runs below frozen (bandit + full), then best mean gain",
                "tolerance_questions": TOLERANCE.get(stage, 0),
                "chosen": ranked[0]["knobs"],
                "ranked": ranked,
                "wall_s": round(time.perf_counter() - started, 1),
            },
            indent=1,
        )
        + "\n"
    )
    print(json.dumps(ranked[:5], indent=1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "neighbours")
