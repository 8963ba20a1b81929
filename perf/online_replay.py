"""The online replay (``router-svc bench --replay FILE --online``) on RouterBench with each
category held out, bandit and full feedback, in one process (the vectors are embedded once).

Also a proxy for an unseen task with a pool without one dominant model: the same lines
without gpt-4-1106-preview, claude-v1 and claude-v2. Writes perf/results/online_replay.json.
With ``--stream mixed`` the stream is every test line (the held-out category's among the seen
ones', as production traffic mixes a new task with the old), the router still profiled without
the held-out category; writes perf/results/online_replay_mixed.json.

    python perf/online_replay.py [--shuffles 0 1 2] [--stream held-out|mixed]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from router_svc.config.routers import DEFAULT_ROUTER, router_options
from router_svc.evaluation.improved import MethodBench
from router_svc.evaluation.online import FeedbackKind, OnlineOptions, run_online
from router_svc.evaluation.replay_bench import BenchOptions, ReplayBench, holdout
from router_svc.replay.data import load_replay
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.feedback_level import FeedbackKnobs
from router_svc.routing.knn_shrinkage import KnnShrinkageRouter

FILE = Path("eval/replay/routerbench_pooled3.jsonl")
DOMINANT = ("gpt-4-1106-preview", "claude-v1", "claude-v2")
VARIANTS: dict[str, tuple[FeedbackKind, FeedbackKnobs]] = {
    "bandit": ("bandit", FeedbackKnobs()),
    "bandit-alone": ("bandit", FeedbackKnobs(shared=0.0)),
    "full": ("full", FeedbackKnobs()),
    "full-groups-only": ("full", FeedbackKnobs(neighbours=0)),
}
"""The service's defaults (chosen on validation: perf/online_validation.py); bandit-alone: each
row counts for the expert that ran only (no shared error); full-groups-only: without the
neighbour level (the defaults before it)."""
OUT = Path("perf/results/online_replay.json")


def without(table: OutcomeTable, experts: tuple[str, ...]) -> OutcomeTable:
    keep = [i for i, name in enumerate(table.experts) if name not in experts]
    return replace(
        table,
        experts=[table.experts[i] for i in keep],
        scores=table.scores[:, keep],
        costs=table.costs[:, keep],
        tokens=table.tokens[:, keep],
        answers=None if table.answers is None else table.answers[:, keep],
    )


def bench_for(
    validation: OutcomeTable, test: OutcomeTable
) -> tuple[KnnShrinkageRouter, MethodBench]:
    runner = ReplayBench(BenchOptions(ablation=False))
    prepared = runner.prepare(validation, test)
    bench = MethodBench(
        runner._suite(prepared, prepared.validation.keyword_tags), runner._test(prepared)
    )
    router = bench.fit(DEFAULT_ROUTER, router_options(DEFAULT_ROUTER))
    if not isinstance(router, KnnShrinkageRouter):
        raise SystemExit("the default router takes no evidence")
    return router, bench


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shuffles", type=int, nargs="*", default=[])
    parser.add_argument("--stream", choices=("held-out", "mixed"), default="held-out")
    args = parser.parse_args()
    out = OUT if args.stream == "held-out" else OUT.with_name("online_replay_mixed.json")
    data = load_replay(FILE)
    val_all, test_all = data.table("validation"), data.table("test")
    rows = []
    for pool in ("full pool", "without " + ", ".join(DOMINANT)):
        drop = () if pool == "full pool" else DOMINANT
        for category in sorted(set(test_all.categories)):
            val, test = holdout(without(val_all, drop), without(test_all, drop), category)
            if args.stream == "mixed":
                test = without(test_all, drop)
            router, bench = bench_for(val, test)
            for kind, (feedback, knobs) in VARIANTS.items():
                for shuffle in [None, *args.shuffles]:
                    started = time.perf_counter()
                    options = OnlineOptions(feedback=feedback, shuffle=shuffle, knobs=knobs)
                    run = run_online(router, bench.test, options)
                    result = run.as_json()
                    del result["curve"]
                    rows.append(
                        {"pool": pool, "holdout": category, "variant": kind, **result,
                         "wall_s": round(time.perf_counter() - started, 2)}
                    )  # fmt: skip
                    print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for pool in {r["pool"] for r in rows}:
        for kind in VARIANTS:
            picked = [r for r in rows if r["pool"] == pool and r["variant"] == kind]
            weights = np.array([r["questions"] for r in picked], dtype=float)
            summary[f"{pool} / {kind}"] = {
                "accuracy": float(np.average([r["accuracy"] for r in picked], weights=weights)),
                "frozen_accuracy": float(
                    np.average([r["frozen_accuracy"] for r in picked], weights=weights)
                ),
                "runs": len(picked),
                "runs_below_frozen": sum(r["accuracy"] < r["frozen_accuracy"] for r in picked),
                "never_below_frozen": all(r["accuracy"] >= r["frozen_accuracy"] for r in picked),
            }
    out.write_text(
        json.dumps(
            {
                "file": str(FILE),
                "stream": args.stream,
                "note": "taken on a loaded shared machine (wall_s is noisy)",
                "knobs": {k: asdict(v[1]) for k, v in VARIANTS.items()},
                "summary": summary,
                "runs": rows,
            },
            indent=1,
        )
        + "\n"
    )
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
