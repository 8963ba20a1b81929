"""Routing one question in process, once warm: ``router_svc.MoE.aroute``, static vs MiniLM.

    flock /tmp/router-cpu.lock nice .venv/bin/python perf/route_latency.py [--calls 300]

Setup, for each embedder (the default ``pkg:minilm-static`` and ``pkg:all-minilm-l6-v2``): the
default pool (experts.yaml, its embedding tagger and default router, k = 1) with only
``embedding_model`` changed, and the committed starter suite (skills/starter) copied to a
scratch folder and profiled again with that pool (``router-svc profile --suite starter``: every
tag and generation is reused, only the skill inventory is embedded anew). Each embedder runs in
its own process (so MiniLM's torch is not loaded beside the static model), builds
``MoE.from_config`` as a user does, routes WARM_UP questions, then times ``calls`` more: real
RouterBench prompts (the test lines of eval/replay/routerbench_pooled3.jsonl), all distinct and
never seen by the warm-up. The figure is the wall time of ``aroute`` with the pipeline's
per-stage timings beside it; nothing is generated. No HTTP: perf/service.py measures the
server. Writes perf/results/route_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile, write_results

from router_svc.evaluation.replay_bench import VECTOR_MODELS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "eval" / "replay" / "routerbench_pooled3.jsonl"
POOL = ROOT / "experts.yaml"
SUITE = "starter"
WARM_UP = 20
EMBEDDERS = VECTOR_MODELS
"""static: the default (pkg:minilm-static); minilm: the baseline (pkg:all-minilm-l6-v2)."""
TARGET_MS = 2.0


def prepare(folder: Path, model: str) -> tuple[Path, dict[str, str]]:
    """The pool file for ``model`` and the starter profile embedded with it."""
    lines = POOL.read_text(encoding="utf-8").splitlines(keepends=True)
    pool = folder / "experts.yaml"
    pool.write_text(
        "".join(
            f"embedding_model: {model}\n" if line.startswith("embedding_model:") else line
            for line in lines
        )
    )
    shutil.copytree(ROOT / "skills" / SUITE, folder / "skills" / SUITE)
    env = {
        "ROUTER_SVC_SKILLS_DIR": str(folder / "skills"),
        "ROUTER_SVC_DATA_DIR": str(folder / "data"),
        "ROUTER_SVC_SUITES_DIR": str(ROOT / "eval" / "suites"),
    }
    cli = [sys.executable, "-c", "from router_svc.cli.main import app; app()"]
    args = [*cli, "profile", "--suite", SUITE, "--config", str(pool)]
    done = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"profile --suite {SUITE} failed:\n{done.stdout}{done.stderr}")
    return pool, env


async def measure(pool: Path, calls: int) -> dict[str, Any]:
    """One embedder's figures, in this process (the environment names the scratch folders)."""
    import router_svc
    from router_svc.replay.data import load_replay

    data = load_replay(DATA)
    questions = [data.questions[row].question for row in data.rows("test")]
    if len(questions) < WARM_UP + calls:
        raise SystemExit(f"the file has {len(questions)} test questions; ask for fewer calls")
    started = time.perf_counter()
    moe = router_svc.MoE.from_config(pool, suite=SUITE, use_cache=False)
    built = time.perf_counter() - started
    try:
        walls: list[float] = []
        stages: dict[str, list[float]] = {}
        for index, question in enumerate(questions[: WARM_UP + calls]):
            started = time.perf_counter()
            decision = await moe.aroute(question, k=1)
            wall = 1000 * (time.perf_counter() - started)
            if index >= WARM_UP:
                walls.append(wall)
                for stage, seconds in decision.timings.items():
                    stages.setdefault(stage, []).append(1000 * seconds)
        return {
            "embedding_model": moe.runtime.pool.embedding_model,
            "tagger": decision.tagger,
            "router": decision.assignment.router,
            "moe_from_config_s": round(built, 2),
            "p50_ms": round(median(walls), 3),
            "p90_ms": round(percentile(walls, 90), 3),
            "p99_ms": round(percentile(walls, 99), 3),
            "p50_ms_per_stage": {s: round(median(v), 3) for s, v in stages.items()},
            "torch_imported": "torch" in sys.modules,
        }
    finally:
        await moe.aclose()


def run_arm(name: str, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        pool, env = prepare(Path(scratch), EMBEDDERS[name])
        args = [sys.executable, __file__, "--arm", str(pool), "--calls", str(calls)]
        done = subprocess.run(
            args, env={**os.environ, **env}, capture_output=True, text=True, cwd=ROOT
        )
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stdout}{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--arm", type=Path, help=argparse.SUPPRESS)  # one embedder's process
    arguments = parser.parse_args()
    if arguments.arm is not None:
        print(json.dumps(asyncio.run(measure(arguments.arm, arguments.calls))))
        return
    load_before = os.getloadavg()[0]
    arms = {name: run_arm(name, arguments.calls) for name in EMBEDDERS}
    static, minilm = arms["static"]["p50_ms"], arms["minilm"]["p50_ms"]
    write_results(
        "route_latency",
        {
            "what": "router_svc.MoE.aroute, default pool (experts.yaml), starter suite, k=1",
            "questions": str(DATA.relative_to(ROOT)) + " (test lines)",
            "calls": arguments.calls,
            "warm_up_calls_not_counted": WARM_UP,
            "embedders": arms,
            "speed_up_p50": round(minilm / static, 1) if static else None,
            "load_average_1m": {"before": round(load_before, 2), "after": os.getloadavg()[0]},
            "target": f"static p50 <= {TARGET_MS} ms",
            "met": static <= TARGET_MS,
        },
    )


if __name__ == "__main__":
    main()
