"""Routing one question in the service, once warm: ``Pipeline.route`` on a recorded pool.

    flock /tmp/router-cpu.lock nice .venv/bin/python perf/route_latency.py [--calls 300]

Setup: the RouterBench replay file (eval/replay/routerbench_pooled3.jsonl) as a pool of
``engine: replay`` experts with the service's defaults (MiniLM embeddings, the embedding
tagger, the default router), profiled by ``router-svc profile --replay``, then built with the
same ``Runtime`` and ``build_pipeline`` that ``router-svc serve`` uses. Each call routes one
test question (k = 1), the questions all distinct and never seen by the warm-up; the figure is
the wall time of ``Pipeline.route`` (tag, map skills, question vector, ``assign``), with the
pipeline's own per-stage timings beside it. No HTTP: perf/service.py measures the server.
Writes perf/results/route_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile, write_results

from router_svc.assembly import Runtime, build_pipeline
from router_svc.config.loader import load_pool
from router_svc.config.routers import DEFAULT_ROUTER
from router_svc.config.settings import Settings
from router_svc.replay.data import load_replay

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "eval" / "replay" / "routerbench_pooled3.jsonl"
SUITE = "routerbench"
WARM_UP = 20
EXPERT = """\
  - name: {name}
    engine: replay
    model: replay
    options: {{file: {file}, expert: {recorded}}}
"""


def prepare(folder: Path) -> tuple[Path, dict[str, str]]:
    """The pool file and the profile; returns (pool, environment of the profile)."""
    recorded = load_replay(DATA).experts
    names = [e.replace("/", "-") for e in recorded]  # a pool name has no slash
    head = "k: 1\nembedding_model: pkg:all-minilm-l6-v2\n"
    head += f"tagger: {{kind: embedding}}\naggregator_candidates: [{names[0]}]\n"
    pool = folder / "experts.yaml"
    pool.write_text(
        head
        + "experts:\n"
        + "".join(
            EXPERT.format(name=n, file=DATA, recorded=r)
            for n, r in zip(names, recorded, strict=True)
        )
    )
    env = {
        "ROUTER_SVC_SKILLS_DIR": str(folder / "skills"),
        "ROUTER_SVC_DATA_DIR": str(folder / "data"),
    }
    cli = [sys.executable, "-c", "from router_svc.cli.main import app; app()"]
    args = [*cli, "profile", "--replay", str(DATA), "--config", str(pool), "--suite", SUITE]
    done = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"profile --replay failed:\n{done.stdout}{done.stderr}")
    return pool, env


async def measure(pool: Path, env: dict[str, str], calls: int) -> dict[str, Any]:
    os.environ.update(env)
    runtime = Runtime.create(Settings(), load_pool(pool), use_cache=False)
    try:
        pipeline = build_pipeline(runtime, SUITE)
        data = load_replay(DATA)
        questions = [data.questions[row] for row in data.rows("test")]
        if len(questions) < WARM_UP + calls:
            raise SystemExit(f"the file has {len(questions)} test questions; ask for fewer calls")
        options = pipeline.options(k=1)
        walls: list[float] = []
        stages: dict[str, list[float]] = {}
        for index, question in enumerate(questions[: WARM_UP + calls]):
            timings: dict[str, float] = {}
            started = time.perf_counter()
            await pipeline.route([question], options, timings)
            wall = 1000 * (time.perf_counter() - started)
            if index >= WARM_UP:
                walls.append(wall)
                for stage, seconds in timings.items():
                    stages.setdefault(stage, []).append(1000 * seconds)
        return {
            "calls": calls,
            "warm_up_calls_not_counted": WARM_UP,
            "router": DEFAULT_ROUTER,
            "tagger": pipeline.default_tagger,
            "p50_ms": round(median(walls), 2),
            "p90_ms": round(percentile(walls, 90), 2),
            "p99_ms": round(percentile(walls, 99), 2),
            "p50_ms_per_stage": {s: round(median(v), 2) for s, v in stages.items()},
            "load_average_1m": round(os.getloadavg()[0], 2),
            "target": "p50 <= 15 ms",
            "met": median(walls) <= 15,
        }
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        pool, env = prepare(Path(folder))
        figures = asyncio.run(measure(pool, env, arguments.calls))
    write_results("route_latency", {"data": str(DATA.relative_to(ROOT)), **figures})


if __name__ == "__main__":
    main()
