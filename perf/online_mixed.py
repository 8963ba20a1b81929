"""The feedback level on mixed streams, RouterBench validation lines only.

``perf/online_validation.py`` streams one held-out category at a time: every streamed
question is of the new task. Production traffic mixes a new task with the old ones, so here
each stream is a held-out category's validation lines plus half of the other categories'
validation lines (seeded; ``online_validation.stream_split``), and the router is profiled on
the other half; file order and two shuffles, bandit and full feedback, both pools. Each
candidate's accuracy is set against the frozen router's on the same stream. No test line is
read. Writes perf/results/online_mixed.json.

    OMP_NUM_THREADS=1 python perf/online_mixed.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from online_replay import DOMINANT, FILE, bench_for, without
from online_validation import POOLS, runs_of, stream_split

from router_svc.replay.data import load_replay
from router_svc.routing.feedback_level import FeedbackKnobs

OUT = Path("perf/results/online_mixed.json")
CANDIDATES = {
    "default": FeedbackKnobs(),
    "final stage's choice (no neighbour level)": FeedbackKnobs(neighbours=0),
    "levels stage's choice (no pooled level)": FeedbackKnobs(
        pseudo=50.0, temperature=0.01, shared=0.85, pooled=None, neighbours=0
    ),
    "pooled stage's choice (held-out streams only)": FeedbackKnobs(
        pseudo=200.0, temperature=0.005, shared=0.85, pooled=50.0, neighbours=0
    ),
}
"""The default (chosen by the ``neighbours`` stage on held-out and mixed streams) against the
earlier stages' choices; the mixed streams are those stages' own, so this records why the
stages differ rather than checking the default on new data."""


def runs() -> list[dict[str, Any]]:
    val_all = load_replay(FILE).table("validation")
    names = {json.dumps(asdict(k), sort_keys=True): name for name, k in CANDIDATES.items()}
    rows = []
    for pool in POOLS:
        val = without(val_all, () if pool == POOLS[0] else DOMINANT)
        for category in sorted(set(val.categories)):
            router, bench = bench_for(*stream_split(val, category, "mixed"))
            new_task = np.asarray(bench.test.table.categories) == category
            label = {"pool": pool, "holdout": category}
            for row in runs_of(router, bench.test, label, list(CANDIDATES.values())):
                knobs = row.pop("knobs")
                row["candidate"] = names[json.dumps(knobs, sort_keys=True)]
                row["new_task_share"] = round(float(new_task.mean()), 3)
                rows.append(row)
            print(f"{pool} / {category}", flush=True)
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in rows:
        key = f"{r['pool']} / {r['feedback']} / {r['candidate']}"
        entry = out.setdefault(key, {"runs": 0, "below": 0, "gains": []})
        gain = 100 * (r["accuracy"] - r["frozen_accuracy"])
        entry["runs"] += 1
        entry["below"] += int(gain < -1e-9)
        entry["gains"].append(round(gain, 2))
    for entry in out.values():
        entry["mean_gain_points"] = round(float(np.mean(entry["gains"])), 3)
        entry["worst_points"] = min(entry["gains"])
    return out


def main() -> None:
    started = time.perf_counter()
    rows = runs()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    OUT.write_text(
        json.dumps(
            {
                "file": str(FILE),
                "split": "validation only: a held-out category plus half of the others",
                "commit": commit,
                "candidates": {name: asdict(k) for name, k in CANDIDATES.items()},
                "summary": summary(rows),
                "runs": rows,
                "wall_s": round(time.perf_counter() - started, 1),
            },
            indent=1,
        )
        + "\n"
    )
    for key, entry in summary(rows).items():
        print(key, entry["mean_gain_points"], f"{entry['below']} of {entry['runs']} below")


if __name__ == "__main__":
    main()
