"""The serving layer's own cost, against a backend that answers at once (perf/_instant.py).

Fronts, each in front of the same instant backend, measured in one run:

- ``backend``: the instant backend itself (the baseline);
- ``router_svc_direct``: ``router-svc serve``, ``model: instant-a`` (a ``litellm`` expert whose
  ``api_base`` is the backend): the API, the micro-batcher, the litellm SDK;
- ``litellm_proxy``: LiteLLM's proxy (``litellm --config``) with the same model;
- ``router_svc_routed``: the same server, ``model: router-svc``, ``k: 1``, ``tagger:
  embedding`` over three instant experts: tagging (the default static embedder), routing and
  the answer's bookkeeping on top of the direct call;
- ``router_svc_routed_minilm``: the same routed call on a second router-svc whose pool embeds
  with MiniLM (``pkg:all-minilm-l6-v2``, the baseline; latency only, no throughput rounds).

1. Latency: SEQUENTIAL calls per front, one at a time, the fronts' order shuffled in every
   round, each call a new question (no cache can answer it; the experts sample, temperature
   0.7, so the generation cache is not used either).
2. Throughput: 32 clients with a keep-alive connection each, calling one call after another
   for CONCURRENT_SECONDS, in CONCURRENT_ROUNDS rounds (the fronts' order reversed each round).
3. Back-pressure: a second router-svc (ROUTER_SVC_MAX_QUEUE=4, deadline 1 s) in front of an
   expert that answers in 200 ms, 32 clients for a few seconds: the accepted answers' latency
   against the deadline, the refused ones' status and latency (a refused client waits 0.1 s,
   a tenth of the Retry-After it is told, before its next call).

The servers run on CPU 0, the backend and this client on CPU 1 (2-core machines); the load
average is recorded as each phase starts. LiteLLM's proxy runs from a venv of its own, which
the script makes on first use (``ensure_litellm_proxy``). The main server's
ROUTER_SVC_MAX_QUEUE is 64, so 32 clients on one expert are never refused there.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import percentile
from _instant import Connection
from _servers import ROOT, base_env, free_port, process

from router_svc.tagging.embedder import DEFAULT_MODEL, MINILM

WORK = ROOT / ".router-svc" / "bench-instant"
SUITES = ROOT / "tests" / "fixtures" / "suites"
LITELLM_PROXY = os.environ.get("LITELLM_PROXY", "/tmp/venv-litellm-proxy/bin/litellm")
PROXY_REQUIREMENT = "litellm[proxy]==1.106.12"
EXPERTS = ("instant-a", "instant-b", "instant-c")
SLOW_EXPERT, SLOW_DELAY_MS = "instant-slow", 200
QUICK = os.environ.get("BENCH_QUICK") == "1"  # a smoke run of the script, not figures
SEQUENTIAL, WARMUP = (40, 5) if QUICK else (600, 30)
CLIENTS = 32
CONCURRENT_SECONDS, CONCURRENT_ROUNDS = (2.0, 1) if QUICK else (5.0, 3)
BACKPRESSURE = {"max_queue": 4, "deadline_s": 1.0, "seconds": 6.0, "refused_wait_s": 0.1}
MAIN_MAX_QUEUE = 64
# The default static embedder, and MiniLM as the baseline ("hashing" only to try it out).
EMBEDDING_MODELS = {
    "static": os.environ.get("BENCH_EMBEDDING_MODEL", DEFAULT_MODEL),
    "minilm": MINILM,
}
ROUTED = {"static": "router_svc_routed", "minilm": "router_svc_routed_minilm"}
TWO_CPUS = (os.cpu_count() or 1) >= 2
FRONT_CPUS, CLIENT_CPUS = ({0}, {1}) if TWO_CPUS else (None, None)
CHAT = "/v1/chat/completions"


@dataclass(frozen=True)
class Front:
    name: str
    port: int
    body: Callable[[str], dict[str, Any]]


def _chat(model: str, **extra: Any) -> Callable[[str], dict[str, Any]]:
    def body(prompt: str) -> dict[str, Any]:
        return {"model": model, "messages": [{"role": "user", "content": prompt}], **extra}

    return body


RUN = f"{os.getpid()}-{int(time.time())}"  # in every question: no run meets another's cache


def question(index: int, front: str) -> str:
    """A new question for every call (nothing cached answers it), suite-like in wording."""
    a, b = index % 97, (index * 7 + len(front)) % 89
    kinds = (
        f"What is {a} + {b}?",
        f"Solve for x: x + {a} = {a + b}. What is x?",
        f"What does print({a} * {b}) show in Python?",
        f"Which planet is number {a % 8 + 1} from the Sun? ({front} {index})",
    )
    return f"{kinds[index % len(kinds)]} [{front} {index} {RUN}]"


# --- servers -----------------------------------------------------------------------------------


def write_pool(backend_port: int, embedder: str) -> Path:
    """Three routable instant experts, one slow one; the embedding tagger; k 1."""
    api_base = f"http://127.0.0.1:{backend_port}/v1"
    options = {"max_concurrency": MAIN_MAX_QUEUE, "retries": 0}

    def expert(name: str, model: str, tags: list[str], routable: bool = True) -> dict[str, Any]:
        spec = {"name": name, "engine": "litellm", "model": model, "api_base": api_base}
        spec |= {"temperature": 0.7, "max_tokens": 16, "tags": tags, "routable": routable}
        return spec | {"timeout_s": 30.0, "options": options}

    experts = [
        expert("instant-a", "openai/instant", ["math"]),
        expert("instant-b", "openai/instant", ["facts"]),
        expert("instant-c", "openai/instant", ["code"]),
        expert(SLOW_EXPERT, f"openai/instant-delay{SLOW_DELAY_MS}", ["slow"], routable=False),
    ]
    model = EMBEDDING_MODELS[embedder]
    pool = {"k": 1, "embedding_model": model, "tagger": {"kind": "embedding"}}
    pool["experts"] = experts
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"experts.instant.{embedder}.yaml"
    path.write_text(yaml.safe_dump(pool, sort_keys=False))
    return path


def fresh_data_dir(name: str) -> Path:
    """An empty state store (no generation cache carried over from an earlier run)."""
    data = WORK / name
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    return data


def router_env(pool: Path, data: str, **settings: Any) -> dict[str, str]:
    """A server's environment; each pool file (one per embedder) has its own profiles."""
    env = base_env() | {
        "ROUTER_SVC_CONFIG_PATH": str(pool),
        "ROUTER_SVC_SKILLS_DIR": str(WORK / f"skills-{pool.stem}"),
        "ROUTER_SVC_SUITES_DIR": str(SUITES),
        "ROUTER_SVC_DATA_DIR": str(fresh_data_dir(data)),
    }
    return env | {f"ROUTER_SVC_{k.upper()}": str(v) for k, v in settings.items()}


def build_profile(pool: Path) -> None:
    """The tiny suite's profile of the instant experts (keyword tags: the embedding tagger's
    reference), rebuilt every run since the backend's port is in the pool."""
    env = router_env(pool, "data-profile")
    command = ["profile", "--suite", "tiny", "--tagger", "keyword", "--config", str(pool)]
    done = subprocess.run(
        [sys.executable, "-m", "router_svc.cli", *command], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"router-svc profile failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")


@contextmanager
def backend_server() -> Iterator[int]:
    port = free_port()
    command = [sys.executable, str(Path(__file__).parent / "_instant.py"), str(port)]
    with process(command, base_env(), f"http://127.0.0.1:{port}/v1/models", CLIENT_CPUS):
        yield port


@contextmanager
def router_server(pool: Path, data: str, **settings: Any) -> Iterator[int]:
    port = free_port()
    command = [sys.executable, "-m", "router_svc.cli", "serve", "--port", str(port)]
    env = router_env(pool, data, **settings)
    with process(command, env, f"http://127.0.0.1:{port}/readyz", FRONT_CPUS, start_s=300):
        yield port


@contextmanager
def litellm_proxy(backend_port: int) -> Iterator[int]:
    port = free_port()
    params = {"model": "openai/instant", "api_base": f"http://127.0.0.1:{backend_port}/v1"}
    entry = {"model_name": "instant-a", "litellm_params": params | {"api_key": "unused"}}
    WORK.mkdir(parents=True, exist_ok=True)
    config = WORK / "litellm-proxy.yaml"
    config.write_text(yaml.safe_dump({"model_list": [entry]}))
    command = [LITELLM_PROXY, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    env = base_env() | {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    env["LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"] = "true"  # no keys, as router-svc
    ready = f"http://127.0.0.1:{port}/health/liveliness"
    with process(command, env, ready, FRONT_CPUS, start_s=300):
        yield port


# --- measurements ------------------------------------------------------------------------------


def summary(seconds: list[float]) -> dict[str, Any]:
    ms = [value * 1000 for value in seconds]
    if not ms:
        return {"n": 0}
    mean = round(sum(ms) / len(ms), 2)
    quantiles = {f"p{q}_ms": round(percentile(ms, q), 2) for q in (50, 90, 99)}
    extremes = {"min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2)}
    return {"n": len(ms), **quantiles, "mean_ms": mean, **extremes}


def stage_times(header: str) -> dict[str, float]:
    """x-router-timings 'tag=0.010;route=0.020' -> {'tag': 0.010, 'route': 0.020}."""
    pairs = (item.split("=", 1) for item in header.split(";") if "=" in item)
    return {stage: float(value) for stage, value in pairs}


async def sequential(fronts: list[Front], calls: int) -> dict[str, Any]:
    """Latency per front: one call at a time, the fronts' order shuffled every round."""
    connections = {f.name: Connection("127.0.0.1", f.port) for f in fronts}
    latencies: dict[str, list[float]] = {f.name: [] for f in fronts}
    stages: dict[str, list[float]] = {}
    errors: dict[str, int] = {f.name: 0 for f in fronts}
    cached: dict[str, int] = {f.name: 0 for f in fronts}  # answers from a cache: should be none
    order, rng = list(fronts), random.Random(0)
    for index in range(-WARMUP, calls):
        rng.shuffle(order)
        for front in order:
            payload = front.body(question(index + WARMUP, front.name))
            started = time.perf_counter()
            try:
                status, headers, body = await connections[front.name].post(CHAT, payload)
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed a keep-alive connection left idle past its timeout while
                # a slow front (MiniLM on a busy machine) answered: call again on a new one.
                started = time.perf_counter()
                status, headers, body = await connections[front.name].post(CHAT, payload)
            seconds = time.perf_counter() - started
            if index < 0:
                continue
            if status != 200:
                errors[front.name] += 1
                continue
            cached[front.name] += b'"cached":true' in body
            latencies[front.name].append(seconds)
            if front.name in ROUTED.values():
                for stage, value in stage_times(headers.get("x-router-timings", "")).items():
                    stages.setdefault(f"{front.name}.{stage}", []).append(value)
    for connection in connections.values():
        await connection.close()
    return {
        "latency": {name: summary(values) for name, values in latencies.items()},
        "errors": errors,
        "cached_answers": cached,
        "routed_stages_ms": {
            stage: {
                "p50": round(percentile(v, 50) * 1000, 2),
                "p99": round(percentile(v, 99) * 1000, 2),
            }
            for stage, v in stages.items()
        },
    }


async def concurrent(front: Front, clients: int, seconds: float, offset: int) -> dict[str, Any]:
    """``clients`` keep-alive connections calling at once, one call after another, for
    ``seconds``; requests/s counts the answered calls."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    counter = iter(range(offset, offset + 10_000_000))
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        connection = Connection("127.0.0.1", front.port)
        while time.perf_counter() < stop_at:
            body = front.body(question(next(counter), front.name))
            started = time.perf_counter()
            try:
                status, _, _ = await connection.post(CHAT, body)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                continue
            if status == 200:
                latencies.append(time.perf_counter() - started)
            else:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
        await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(latencies) / wall, 1),
        "errors": sum(statuses.values()),
        "error_kinds": statuses,
        **summary(latencies),
    }


async def backpressure(port: int) -> dict[str, Any]:
    """32 clients on a slow expert behind a small queue, for a few seconds."""
    front = Front("router_svc_backpressure", port, _chat(SLOW_EXPERT))
    warm = Connection("127.0.0.1", port)
    for index in range(5):  # the expert's engine loads on its first call
        await warm.post(CHAT, front.body(question(index, "warm-up")))
    await warm.close()
    accepted: list[float] = []
    refused: list[float] = []
    statuses: dict[str, int] = {}
    stop_at = time.perf_counter() + BACKPRESSURE["seconds"]

    async def worker(number: int) -> None:
        connection = Connection("127.0.0.1", port)
        index = number * 100_000
        while time.perf_counter() < stop_at:
            index += 1
            started = time.perf_counter()
            status, _, _ = await connection.post(CHAT, front.body(question(index, front.name)))
            seconds = time.perf_counter() - started
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 200:
                accepted.append(seconds)
            elif status in (429, 503):
                refused.append(seconds)
                await asyncio.sleep(BACKPRESSURE["refused_wait_s"])
        await connection.close()

    await asyncio.gather(*(worker(n) for n in range(CLIENTS)))
    deadline = BACKPRESSURE["deadline_s"]
    within = all(seconds <= deadline for seconds in accepted)
    return {
        **BACKPRESSURE,
        "clients": CLIENTS,
        "expert_delay_ms": SLOW_DELAY_MS,
        "statuses": statuses,
        "accepted": summary(accepted),
        "refused": summary(refused),
        "accepted_all_within_deadline": within,
    }


# --- the run -----------------------------------------------------------------------------------


def fronts_of(backend: int, routers: dict[str, int], proxy: int | None) -> list[Front]:
    routed = _chat("router-svc", k=1, tagger="embedding")
    fronts = [
        Front("backend", backend, _chat("instant")),
        Front("router_svc_direct", routers["static"], _chat("instant-a")),
        *(Front(ROUTED[name], port, routed) for name, port in routers.items()),
    ]
    if proxy is not None:
        fronts.append(Front("litellm_proxy", proxy, _chat("instant-a")))
    return fronts


def throughput(fronts: list[Front], loads: dict[str, float]) -> dict[str, Any]:
    rounds: dict[str, list[dict[str, Any]]] = {f.name: [] for f in fronts}
    for front in fronts:  # connection pools grow to 32 (not measured)
        asyncio.run(concurrent(front, CLIENTS, 1.0, 0))
    for round_ in range(CONCURRENT_ROUNDS):
        for front in fronts if round_ % 2 == 0 else reversed(fronts):
            loads[f"concurrent {front.name} #{round_}"] = round(os.getloadavg()[0], 2)
            offset = 1_000_000 * (round_ + 1)
            result = asyncio.run(concurrent(front, CLIENTS, CONCURRENT_SECONDS, offset))
            rounds[front.name].append(result)
    return {
        name: {
            "clients": CLIENTS,
            "requests": sum(r["n"] + r["errors"] for r in results),
            "errors": sum(r["errors"] for r in results),
            "requests_per_s_median": sorted(r["requests_per_s"] for r in results)[
                len(results) // 2
            ],
            "rounds": results,
        }
        for name, results in rounds.items()
    }


def overhead(latency: dict[str, Any]) -> dict[str, Any]:
    base = latency["backend"]
    return {
        name: {q: round(figure[f"{q}_ms"] - base[f"{q}_ms"], 2) for q in ("p50", "p99")}
        for name, figure in latency.items()
        if name != "backend"
    }


def targets(result: dict[str, Any]) -> dict[str, Any]:
    over, conc = result["overhead_vs_backend_ms"], result["concurrent"]
    checks: dict[str, Any] = {}
    if "litellm_proxy" in over:
        proxy = conc["litellm_proxy"]["requests_per_s_median"]
        router = conc["router_svc_direct"]
        checks["direct_p50_overhead_le_litellm_proxy"] = (
            over["router_svc_direct"]["p50"] <= over["litellm_proxy"]["p50"]
        )
        checks["direct_rps_ge_litellm_proxy_with_0_errors"] = (
            router["requests_per_s_median"] >= proxy and router["errors"] == 0
        )
    routed = result["routed_minus_direct_ms"]["p50"]
    checks["routed_minus_direct_p50_le_5ms"] = routed <= 5
    bp = result["backpressure"]
    # "At once": refused without waiting for a slot, within a tenth of the deadline (p99).
    refused_fast = bp["refused"].get("p99_ms", 0) <= 100 * bp["deadline_s"]
    checks["backpressure_accepted_within_deadline_refused_at_once"] = (
        bp["accepted_all_within_deadline"] and refused_fast
    )
    return checks


def ensure_litellm_proxy() -> bool:
    """LiteLLM's proxy in a venv of its own, installed on first use. It stays out of the
    project's extras: ``litellm[proxy]`` brings uvloop (which uvicorn would then pick for
    router-svc too), an older rich and some 40 other packages. BENCH_NO_PROXY=1 leaves the
    proxy out (a quick run of the router's figures alone)."""
    if os.environ.get("BENCH_NO_PROXY") == "1":
        return False
    if Path(LITELLM_PROXY).is_file():
        return True
    venv = Path(LITELLM_PROXY).parent.parent
    print(f"installing {PROXY_REQUIREMENT} into {venv} (bench only, once)", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", PROXY_REQUIREMENT]
        subprocess.run(pip, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"could not install {PROXY_REQUIREMENT} ({exc}): litellm_proxy is left out")
        return False
    return Path(LITELLM_PROXY).is_file()


def setup(have_proxy: bool) -> dict[str, str]:
    cpus = "servers on CPU 0, backend and client on CPU 1" if TWO_CPUS else "one CPU for all"
    return {
        "backend": "perf/_instant.py: raw asyncio, a fixed chat.completion with usage",
        "client": "perf/_instant.py's keep-alive HTTP/1.1 client, one connection per client",
        "cpus": cpus,
        "sequential": f"{SEQUENTIAL} calls per front after {WARMUP} warm-up rounds, the fronts' "
        "order shuffled every round, a new question every call",
        "concurrent": f"{CLIENTS} clients, {CONCURRENT_ROUNDS} rounds of {CONCURRENT_SECONDS} s "
        "per front after a 1 s warm-up, the order reversed every round",
        "router_svc": f"router-svc serve, SQLite store, ROUTER_SVC_MAX_QUEUE {MAIN_MAX_QUEUE}; "
        "experts on the litellm engine with the default seed 0, so a direct call looks the "
        "generation cache up (a miss) and writes it after answering; routed: embedding tagger "
        f"({EMBEDDING_MODELS['static']}; the baseline server {EMBEDDING_MODELS['minilm']}), "
        "the pool's routing method, k 1, three experts",
        "litellm_proxy": f"{PROXY_REQUIREMENT}, its defaults (1 worker, uvloop, no database)"
        if have_proxy
        else "not installed",
    }


def measure() -> dict[str, Any]:
    """The whole instant-backend section of perf/results/service.json."""
    loads: dict[str, float] = {}
    have_proxy = ensure_litellm_proxy()
    with backend_server() as backend:
        pools = {name: write_pool(backend, name) for name in EMBEDDING_MODELS}
        for pool in pools.values():
            build_profile(pool)
        pool = pools["static"]
        with ExitStack() as stack:
            routers = {
                name: stack.enter_context(
                    router_server(path, f"data-main-{name}", max_queue=MAIN_MAX_QUEUE)
                )
                for name, path in pools.items()
            }
            proxy = stack.enter_context(litellm_proxy(backend)) if have_proxy else None
            if CLIENT_CPUS:
                os.sched_setaffinity(0, CLIENT_CPUS)
            fronts = fronts_of(backend, routers, proxy)
            loads["sequential"] = round(os.getloadavg()[0], 2)
            result = asyncio.run(sequential(fronts, SEQUENTIAL))
            baseline = ROUTED["minilm"]
            loaded = [front for front in fronts if front.name != baseline]
            result["concurrent"] = throughput(loaded, loads)
        settings = {"max_queue": BACKPRESSURE["max_queue"]}
        settings["request_timeout_s"] = BACKPRESSURE["deadline_s"]
        with router_server(pool, "data-backpressure", **settings) as port:
            loads["backpressure"] = round(os.getloadavg()[0], 2)
            result["backpressure"] = asyncio.run(backpressure(port))
    latency = result["latency"]
    result["overhead_vs_backend_ms"] = overhead(latency)
    direct = latency["router_svc_direct"]
    for name, front in ROUTED.items():
        key = "routed_minus_direct_ms" if name == "static" else f"routed_{name}_minus_direct_ms"
        routed = latency[front]
        result[key] = {q: round(routed[f"{q}_ms"] - direct[f"{q}_ms"], 2) for q in ("p50", "p99")}
    result["load_average_at_phase_start"] = loads
    result["setup"] = setup(have_proxy)
    result["targets"] = targets(result)
    return {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **result}


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
