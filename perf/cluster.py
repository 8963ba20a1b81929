"""The cluster mode vs today's whole-pipeline workers, and a chaos run; on the real Redis.

Setup: a synthetic replay file (6 experts), profiled with ``profile --replay`` and the
model-free ``hashing`` embedder, so nothing is generated; each replay load waits
``--load-delay`` seconds to stand in for a GPU load.

1. plan: 4 worker processes x 6 experts, 300 questions, k=3. ``cluster``: expert-affine
   workers (experts placed round-robin, one copy each; worker 0 also aggregates; every worker
   routes). ``today``: 4 ``BatchWorker`` processes running the whole pipeline. Both claim 16
   entries a round (the worker's default --batch-size). Per design:
   total model loads (per expert) and wall time from submit to the last result.
2. chaos: a 500-question batch on the cluster; every ``--kill-every`` seconds (bounded, at
   most ``--kills``) one random worker gets SIGKILL and a replacement with the same experts
   starts. Checks every question has exactly one result; reports duplicate generations.

Writes perf/results/cluster.json. Loopback Redis only (127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results
from synthetic import SyntheticConfig, write_replay

from router_svc.assembly import Runtime, build_pipeline
from router_svc.batch.expert_worker import ClusterOptions, ExpertWorker
from router_svc.batch.payload import BatchPayload, BatchQuestion
from router_svc.batch.worker import BatchWorker, WorkerOptions
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.replay.data import load_replay
from router_svc.store.redis_stages import stages_of

REDIS_URL = "redis://127.0.0.1:6379/0"
SUITE = "cluster"
WORKERS = 4
EXPERTS = 6
EXPERT = (
    "  - {{name: {name}, engine: replay, model: replay,"
    " options: {{file: '{file}', load_delay_s: {delay}}}}}\n"
)


def prepare(folder: Path, delay: float) -> tuple[Path, list[str], dict[str, str]]:
    """The replay file, the pool, the profile; returns (pool, experts, env)."""
    replay = write_replay(
        folder / f"{SUITE}.jsonl", SyntheticConfig(questions=1800, experts=EXPERTS)
    )
    experts = load_replay(replay).experts
    body = "".join(EXPERT.format(name=e, file=replay, delay=delay) for e in experts)
    head = "k: 3\nembedding_model: hashing\nmemory_budget_mb: 65536\n"
    head += f"aggregator_candidates: [{experts[0]}]\n"
    pool = folder / "experts.yaml"
    pool.write_text(f"{head}experts:\n{body}", encoding="utf-8")
    env = {
        "ROUTER_SVC_SKILLS_DIR": str(folder / "skills"),
        "ROUTER_SVC_DATA_DIR": str(folder / "data"),
    }
    cli = [sys.executable, "-c", "from router_svc.cli.main import app; app()"]
    args = [*cli, "profile", "--replay", str(replay), "--config", str(pool), "--suite", SUITE]
    subprocess.run(args, env={**os.environ, **env}, check=True, capture_output=True)
    return pool, experts, env


def placement(experts: list[str]) -> list[list[str]]:
    """Round-robin: each expert on exactly one of the WORKERS workers."""
    plan: list[list[str]] = [[] for _ in range(WORKERS)]
    for i, expert in enumerate(experts):
        plan[i % WORKERS].append(expert)
    return plan


def payloads(pool: Path, count: int, offset: int) -> list[str]:
    data = load_replay(Path(load_pool(pool).experts[0].options["file"]))
    rows = data.rows("test").tolist()[offset : offset + count]
    questions = [BatchQuestion.model_validate(vars(data.questions[r])) for r in rows]
    return [BatchPayload(suite=SUITE, question=q).to_json() for q in questions]


# --- one worker process (this script re-run with --role) -------------------------------------


async def worker_main(role: str, pool: Path, name: str, experts: str, stats_file: Path) -> None:
    runtime = Runtime.create(Settings(), load_pool(pool), use_cache=False)
    loop = asyncio.get_running_loop()
    if role == "today":
        options = WorkerOptions(
            consumer=name,
            default_suite=SUITE,
            batch_size=16,
            block_ms=200,
            min_idle_ms=5000,
            max_idle_s=3.0,
        )
        worker: Any = BatchWorker(runtime.store.jobs, lambda s: build_pipeline(runtime, s), options)
    else:
        stages = stages_of(runtime.store.jobs)
        assert stages is not None
        cluster = ClusterOptions(
            consumer=name,
            experts=tuple(experts.split(",")),
            aggregate=name.endswith("-0"),
            default_suite=SUITE,
            batch_size=16,
            poll_s=0.05,
            min_idle_ms=3000,
            heartbeat_s=0.5,
            max_idle_s=3.0,
        )
        worker = ExpertWorker(
            runtime.store.jobs,
            stages,
            lambda s: build_pipeline(runtime, s),
            runtime.executor(),
            runtime.stats,
            [e.name for e in runtime.pool.routable],
            cluster,
        )
    loop.add_signal_handler(signal.SIGTERM, worker.stop)
    try:
        await worker.run()
    finally:
        stats_file.write_text(json.dumps(runtime.stats.loads_by_expert))
        await runtime.close()


# --- the driver --------------------------------------------------------------------------------


class Fleet:
    """Worker processes of one design under one Redis prefix."""

    def __init__(self, role: str, pool: Path, env: dict[str, str], folder: Path) -> None:
        self.role, self.pool, self.env, self.folder = role, pool, env, folder
        self.procs: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        self.started = 0

    def spawn(self, slot: int, experts: list[str]) -> str:
        name = (
            f"{self.role}-{self.started}-{slot}"
            if self.started >= WORKERS
            else f"{self.role}-{slot}"
        )
        self.started += 1
        args = [
            sys.executable,
            __file__,
            "--role",
            self.role,
            "--pool",
            str(self.pool),
            "--name",
            name,
            "--experts",
            ",".join(experts),
            "--stats-file",
            str(self.folder / f"{name}.json"),
        ]
        proc = subprocess.Popen(
            args,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs[name] = (proc, ",".join(experts))
        return name

    def loads(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for path in self.folder.glob(f"{self.role}-*.json"):
            for expert, n in json.loads(path.read_text()).items():
                total[expert] = total.get(expert, 0) + n
        return dict(sorted(total.items()))

    def wait(self) -> None:
        for proc, _ in self.procs.values():
            proc.wait(timeout=300)


async def wait_done(runtime: Runtime, job: str, timeout_s: float = 600) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (await runtime.store.jobs.info(job)).status == "done":
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{job} did not finish in {timeout_s} s")


async def plan_run(
    role: str, pool: Path, env: dict[str, str], folder: Path, experts: list[str], questions: int
) -> dict[str, Any]:
    prefix = f"router-svc-perf:cluster:{uuid.uuid4().hex[:8]}:v1"
    run_env = {**env, "ROUTER_SVC_REDIS_URL": REDIS_URL, "ROUTER_SVC_REDIS_PREFIX": prefix}
    os.environ.update(run_env)
    runtime = Runtime.create(Settings(), load_pool(pool), use_cache=False)
    fleet = Fleet(role, pool, run_env, folder / role)
    fleet.folder.mkdir()
    try:
        for slot, hosted in enumerate(placement(experts)):
            fleet.spawn(slot, hosted if role == "cluster" else experts)
        started = time.monotonic()
        await runtime.store.jobs.submit(f"{role}-plan", payloads(pool, questions, 0), {})
        wall = await wait_done(runtime, f"{role}-plan") - started
        results = await runtime.store.jobs.results(f"{role}-plan")
        fleet.wait()
        await drop(runtime, prefix)
    finally:
        await runtime.close()
    loads = fleet.loads()
    return {
        "wall_s": round(wall, 2),
        "loads": sum(loads.values()),
        "loads_by_expert": loads,
        "results": len(results),
    }


async def chaos_run(
    pool: Path,
    env: dict[str, str],
    folder: Path,
    experts: list[str],
    questions: int,
    kill_every: float,
    kills: int,
    seed: int,
) -> dict[str, Any]:
    prefix = f"router-svc-perf:chaos:{uuid.uuid4().hex[:8]}:v1"
    run_env = {**env, "ROUTER_SVC_REDIS_URL": REDIS_URL, "ROUTER_SVC_REDIS_PREFIX": prefix}
    os.environ.update(run_env)
    runtime = Runtime.create(Settings(), load_pool(pool), use_cache=False)
    fleet = Fleet("cluster", pool, run_env, folder / "chaos")
    fleet.folder.mkdir()
    rng = random.Random(seed)
    killed: list[str] = []
    try:
        plan = placement(experts)
        for slot, hosted in enumerate(plan):
            fleet.spawn(slot, hosted)
        await runtime.store.jobs.submit("chaos", payloads(pool, questions, 300), {})
        started = time.monotonic()
        while len(killed) < kills and (await runtime.store.jobs.info("chaos")).status != "done":
            await asyncio.sleep(kill_every)
            live = [n for n, (p, _) in fleet.procs.items() if p.poll() is None]
            if not live or (await runtime.store.jobs.info("chaos")).status == "done":
                break
            victim = rng.choice(live)
            proc, hosted = fleet.procs[victim]
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed.append(victim)
            fleet.spawn(int(victim.rsplit("-", 1)[1]), hosted.split(","))
        wall = await wait_done(runtime, "chaos") - started
        info = await runtime.store.jobs.info("chaos")
        results = await runtime.store.jobs.results("chaos")
        stages = stages_of(runtime.store.jobs)
        assert stages is not None
        counts = await stages.stage_counts("chaos")
        fleet.wait()
        await drop(runtime, prefix)
    finally:
        for proc, _ in fleet.procs.values():
            if proc.poll() is None:
                proc.kill()
        await runtime.close()
    indices = [i for i, _ in results]
    return {
        "questions": questions,
        "wall_s": round(wall, 2),
        "killed": killed,
        "results": len(results),
        "exactly_once": sorted(indices) == list(range(questions)),
        "failed": info.failed,
        "duplicate_generations": sum(v for k, v in counts.items() if k.startswith("duplicate:")),
    }


async def drop(runtime: Runtime, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pool, experts, env = prepare(folder, args.load_delay)
        today = await plan_run("today", pool, env, folder, experts, args.questions)
        cluster = await plan_run("cluster", pool, env, folder, experts, args.questions)
        chaos = await chaos_run(
            pool, env, folder, experts, args.chaos_questions, args.kill_every, args.kills, args.seed
        )
    write_results(
        "cluster",
        {
            "setup": {
                "workers": WORKERS,
                "experts": EXPERTS,
                "k": 3,
                "questions": args.questions,
                "load_delay_s": args.load_delay,
                "placement": placement(experts),
            },
            "plan": {"cluster": cluster, "today": today},
            "chaos": chaos,
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["today", "cluster"])
    parser.add_argument("--pool", type=Path)
    parser.add_argument("--name")
    parser.add_argument("--experts", default="")
    parser.add_argument("--stats-file", type=Path)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--chaos-questions", type=int, default=500)
    parser.add_argument("--load-delay", type=float, default=2.0)
    parser.add_argument("--kill-every", type=float, default=10.0)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parsed = parser.parse_args()
    if parsed.role:
        asyncio.run(
            worker_main(parsed.role, parsed.pool, parsed.name, parsed.experts, parsed.stats_file)
        )
    else:
        asyncio.run(main(parsed))
