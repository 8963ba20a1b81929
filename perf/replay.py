"""Benchmark: a full replay bench on a generated file of 10,000 questions x 10 experts.

    .venv/bin/python perf/replay.py [--questions 10000] [--experts 10]

Writes perf/results/replay.json: the wall seconds of the whole bench process (interpreter
start, imports, load, tagging, every strategy, the sweep, the ablation and the report with its
plots), the seconds inside ``ReplayBench.run``, per-stage seconds, and the peak resident memory
of that process. The generated file and report go to a temporary folder; generating the file is
not timed. The bench runs in a child process so its peak memory is its own.
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
HEADLINE = (
    "best-single",
    "per-category-best",
    "knn",
    "skill",
    "skill-plus",
    "skill-plus calibrated k",
    "all+vote",
    "oracle",
)


def child(path: Path, out: Path) -> None:
    """Run the bench in this process and print its results as JSON on stdout."""
    from router_svc.evaluation.replay_bench import ReplayBench

    started = time.perf_counter()
    run = ReplayBench().run(path, out)
    results = run.results | {"bench_s": time.perf_counter() - started, "folder": str(run.folder)}
    print(json.dumps(results))


def measure(questions: int, experts: int, seed: int) -> dict[str, Any]:
    from synthetic import SyntheticConfig, write_replay

    with tempfile.TemporaryDirectory() as folder:
        config = SyntheticConfig(questions=questions, experts=experts, seed=seed)
        path = write_replay(Path(folder) / "replay.jsonl", config)
        started = time.perf_counter()
        process = subprocess.run(
            [sys.executable, __file__, "--child", str(path), str(Path(folder) / "out")],
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size_mb = path.stat().st_size / 2**20
    results = json.loads(process.stdout.strip().splitlines()[-1])
    return _summary(results, questions, experts, seed, wall, peak_kb / 1024, size_mb)


def _summary(
    results: dict[str, Any],
    questions: int,
    experts: int,
    seed: int,
    wall: float,
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
        "wall_s": round(wall, 2),
        "bench_s": round(results["bench_s"], 2),
        "peak_rss_mb": round(peak_mb, 1),
        "stages_s": {k: round(v, 2) for k, v in results["timings_s"].items()}
        | {"report and rest": round(results["bench_s"] - sum(results["timings_s"].values()), 2)},
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
    parser.add_argument("--questions", type=int, default=10_000)
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
