"""Benchmark: a full replay bench on a generated file of 15,000 questions x 10 experts, cold
and cached.

    .venv/bin/python perf/replay.py [--questions 15000] [--experts 10]

The bench runs twice in child processes over the same file: **cold**, with empty vector and
knob-search caches (every question embedded by the default static model, the default router's
knob search run), then **cached**, reading both back (what a second bench of the same file
costs). Writes perf/results/replay.json: per run the wall seconds of the whole bench process
(interpreter start, imports, load, tagging, every strategy, the sweep, the team table, the
ablation and the report with its plots), the seconds inside ``ReplayBench.run``, per-stage
seconds and the process's peak resident memory; the accuracies of the cold run. The generated
file, the caches and the reports go to a temporary folder; generating the file is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "replay.json"
TARGETS_S = {"cold": 30.0, "cached": 15.0}
HEADLINE = (
    "best-single",
    "per-category-best",
    "knn",
    "knn-shrinkage",
    "skill",
    "skill-plus",
    "symbolic-moe",
    "all+vote",
    "oracle",
)


def child(path: Path, out: Path) -> None:
    """Run the bench in this process, its caches under ``out``, and print its results as JSON
    on stdout."""
    from router_svc.evaluation.replay_bench import BenchOptions, ReplayBench

    options = BenchOptions(
        vector_cache_dir=out / "cache" / "vectors", search_cache_dir=out / "cache" / "searches"
    )
    started = time.perf_counter()
    run = ReplayBench(options).run(path, out)
    results = run.results | {"bench_s": time.perf_counter() - started, "folder": str(run.folder)}
    print(json.dumps(results))


def measure(questions: int, experts: int, seed: int) -> dict[str, Any]:
    from synthetic import SyntheticConfig, write_replay

    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        config = SyntheticConfig(questions=questions, experts=experts, seed=seed)
        path = write_replay(Path(folder) / "replay.jsonl", config)
        size_mb = path.stat().st_size / 2**20
        for name in TARGETS_S:  # cold first: the second run reads the caches it wrote
            started = time.perf_counter()
            process = subprocess.run(
                [sys.executable, __file__, "--child", str(path), str(Path(folder) / "out")],
                check=True,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - started
            results = json.loads(process.stdout.strip().splitlines()[-1])
            runs[name] = _run(results, wall) | {"results": results}
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cold = runs["cold"].pop("results")
    runs["cached"].pop("results")
    return _summary(cold, runs, questions, experts, seed, peak_kb / 1024, size_mb)


def _run(results: dict[str, Any], wall: float) -> dict[str, Any]:
    timings = results["timings_s"]
    return {
        "wall_s": round(wall, 2),
        "bench_s": round(results["bench_s"], 2),
        "stages_s": {k: round(v, 2) for k, v in timings.items()}
        | {"report and rest": round(results["bench_s"] - sum(timings.values()), 2)},
    }


def _summary(
    results: dict[str, Any],
    runs: dict[str, dict[str, Any]],
    questions: int,
    experts: int,
    seed: int,
    peak_mb: float,
    size_mb: float,
) -> dict[str, Any]:
    strategies = results["strategies"]
    return {
        "benchmark": "replay bench (router-svc bench --replay), synthetic mixed-task data",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "questions": questions,
        "experts": experts,
        "seed": seed,
        "file_mb": round(size_mb, 2),
        "runs": runs,
        "targets_s": TARGETS_S,
        "met": {name: runs[name]["wall_s"] <= TARGETS_S[name] for name in TARGETS_S},
        "peak_rss_mb": round(peak_mb, 1),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "accuracy": {k: round(strategies[k]["accuracy"], 4) for k in HEADLINE if k in strategies},
        "gap_closed": {
            k: None
            if strategies[k]["gap_closed"] is None
            else round(strategies[k]["gap_closed"], 3)
            for k in HEADLINE
            if k in strategies
        },
        "ablation": {row["name"]: round(row["accuracy"], 4) for row in results["ablation"]},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=15_000)
    parser.add_argument("--experts", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=2, metavar=("FILE", "OUT"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(Path(arguments.child[0]), Path(arguments.child[1]))
        return
    summary = measure(arguments.questions, arguments.experts, arguments.seed)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
