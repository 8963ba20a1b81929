"""Grouped vs naive execution on 60 starter questions with k=3 over the default pool.

Measures, in one run: model loads grouped vs naive; wall time grouped vs naive; grouped wall
time vs the pure generation time (the sum of generate calls); routing time per question with
the embedding tagger vs one 64-token expert generation.

Targets: loads = distinct experts used; grouped wall <= 1.10 x pure generation; routing <=
0.05 x one generation. Writes perf/results/batching.json. Needs skills/starter (make demo).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, write_results

from router_svc.assembly import Runtime, build_pipeline
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.execution.runner import Executor
from router_svc.pipeline import RouteOptions, expert_task
from router_svc.questions.suites import load_suite
from router_svc.types import GenerationRequest, LoadStats

QUESTIONS = 60
K = 3


async def run_mode(runtime: Runtime, tasks: list, mode: str) -> dict[str, float]:
    stats = LoadStats()
    runtime.models.stats = stats
    await runtime.models.release_all()
    started = time.perf_counter()
    results = await Executor(runtime.models, stats).run(tasks, mode=mode)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    await runtime.models.release_all()
    return {
        "loads": stats.loads,
        "wall_s": round(wall, 2),
        "generate_s": round(stats.generate_seconds, 2),
        "load_s": round(stats.load_seconds, 2),
        "failed": sum(not r.ok for r in results),
    }


async def one_generation_s(runtime: Runtime, expert: str) -> float:
    engine = await runtime.models.acquire(expert)
    request = GenerationRequest.user("Write a short story about a robot.", max_tokens=64)
    times = []
    for _ in range(3):
        (completion,) = await engine.generate([request])
        times.append(completion.seconds)
    return median(times)


async def main() -> None:
    settings = Settings()
    runtime = Runtime.create(settings, load_pool(settings.config_path), use_cache=False)
    questions = load_suite("starter", settings.suites_dir).test[:QUESTIONS]
    pipeline = build_pipeline(runtime, "starter")
    options = RouteOptions(k=K, tagger="embedding")
    await pipeline.route(questions[:2], options, {})  # warm-up: load MiniLM
    timings: dict[str, float] = {}
    assignments = await pipeline.route(questions, options, timings)
    routing_per_question = timings["route"] / len(questions)
    tasks = [
        expert_task(q, e) for q, a in zip(questions, assignments, strict=True) for e in a.chosen
    ]
    distinct = sorted({t.expert for t in tasks})
    grouped = await run_mode(runtime, tasks, "grouped")
    naive = await run_mode(runtime, tasks, "naive")
    generation = await one_generation_s(runtime, distinct[0])
    await runtime.close()
    write_results(
        "batching",
        {
            "questions": len(questions),
            "k": K,
            "tasks": len(tasks),
            "distinct_experts": distinct,
            "grouped": grouped,
            "naive": naive,
            "grouped_wall_over_generation": round(grouped["wall_s"] / grouped["generate_s"], 3),
            "routing_s_per_question": round(routing_per_question, 4),
            "one_64_token_generation_s": round(generation, 3),
            "routing_over_generation": round(routing_per_question / generation, 4),
            "targets": {
                "loads_equal_distinct_experts": grouped["loads"] == len(distinct),
                "grouped_wall_le_1.10x_generation": grouped["wall_s"]
                <= 1.10 * grouped["generate_s"],
                "routing_le_0.05x_generation": routing_per_question <= 0.05 * generation,
            },
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
