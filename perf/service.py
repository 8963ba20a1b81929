"""The API service's overhead, throughput and robustness in one run -> perf/results/service.json.

1. Latency (p50/p95, sequential calls) of one expert (the bare SmolLM2 GGUF) behind each front:
   llama-cpp-python's own server (``python -m llama_cpp.server`` subprocess: the baseline),
   router-svc's llama.cpp engine in this process (no HTTP), ``router-svc serve`` (a direct
   expert call through the micro-batcher, default window and ROUTER_SVC_MICROBATCH_MAX_WAIT_MS=0),
   the litellm SDK (``litellm.acompletion`` here) and litellm's proxy (``litellm[proxy]``), each
   in front of a llama.cpp server. Same prompts (all new: no cache hits), order and sampling
   (temperature 0, seed 0, MAX_TOKENS), so the generations match. One front at a time (llama.cpp
   processes taking turns on 2 cores slow each other), in round-robin rounds.
2. Throughput and errors with 1, 8 and 32 concurrent clients: router-svc, the llama.cpp server.
3. schemathesis against router-svc's served OpenAPI spec: requests generated and 5xx answers,
   counted by the server's /metrics.
4. The serving layer alone, against a backend that answers at once (perf/_overhead.py, the
   ``instant_backend`` section): router-svc's direct expert call and LiteLLM's proxy in front of
   the same backend, and a routed call (embedding tagger, k=1); latency p50/p99, 32 concurrent
   clients, back-pressure. Generation time does not hide milliseconds there.

``python perf/service.py`` runs all four; ``--only instant`` (a few minutes) or ``--only
models`` runs one part and keeps the other's figures from the file.

schemathesis comes with the dev extra (or set SCHEMATHESIS to its path). LiteLLM's proxy is no
project dependency: it runs from a scratch venv over HTTP only, which part 4 makes on first use
(/tmp/venv-litellm-proxy, ``litellm[proxy]==1.106.12``; part 1 leaves the proxy out until then).
Run the script under ``flock /tmp/router-cpu.lock``; the tiny-suite profile is built on first
use (.router-svc/bench).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _overhead
from _common import RESULTS, percentile, write_results
from _servers import base_env, free_port, process

from router_svc.config.model_files import resolve_model_path

ROOT = Path(__file__).resolve().parent.parent
RESULT = RESULTS / "service.json"
WORK = ROOT / ".router-svc" / "bench"
SUITES = ROOT / "tests" / "fixtures" / "suites"
MODEL = "pkg:smollm2-135m-instruct"
EXPERT = "bench-smol"
MAX_TOKENS = 24
LATENCY_REQUESTS, ROUNDS = 40, 2
WARMUP = 3
FRONTS = ("llama_cpp_server", "engine_in_process", "litellm_sdk", "litellm_proxy", "router_svc")
FRONTS += ("router_svc_no_batch",)
CONCURRENCY = (1, 8, 32)
SCHEMATHESIS = os.environ.get("SCHEMATHESIS", str(Path(sys.executable).parent / "schemathesis"))
SCHEMATHESIS_MAX_TIME_S = 240
LITELLM_PROXY = _overhead.LITELLM_PROXY
TIMEOUT = httpx.Timeout(300.0, connect=10.0)
ANIMALS = ("ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "ibis", "jay", "koala", "owl")


def prompts(count: int, offset: int) -> list[str]:
    """Distinct short prompts; ``offset`` keeps every phase's prompts new to the cache."""
    animals = [ANIMALS[i % len(ANIMALS)] for i in range(offset, offset + count)]
    return [f"Request {offset + i}: one sentence about a {a}." for i, a in enumerate(animals)]


def request_body(model: str, prompt: str) -> dict[str, Any]:
    sampling = {"temperature": 0, "top_p": 1, "seed": 0, "max_tokens": MAX_TOKENS}
    return {"model": model, "messages": [{"role": "user", "content": prompt}], **sampling}


@contextmanager
def llama_server() -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(resolve_model_path(MODEL, ROOT / ".router-svc" / "models")),
        "--model_alias", EXPERT, "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with process(command, base_env(), f"{base}/v1/models"):
        yield base


@contextmanager
def litellm_proxy(llama_base: str) -> Iterator[str]:
    """litellm's proxy server (from its scratch venv) in front of the llama.cpp server."""
    port = free_port()
    config = WORK / "litellm-proxy.yaml"
    model = {"model": f"openai/{EXPERT}", "api_base": f"{llama_base}/v1", "api_key": "unused"}
    entry = {"model_name": EXPERT, "litellm_params": model}
    config.write_text(yaml.safe_dump({"model_list": [entry]}))
    command = [LITELLM_PROXY, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    env = base_env() | {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    env["LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"] = "true"  # router-svc: no keys
    base = f"http://127.0.0.1:{port}"
    with process(command, env, f"{base}/health/liveliness"):
        yield base


@contextmanager
def router_server(name: str, extra_env: Mapping[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    env = base_env() | {
        "ROUTER_SVC_CONFIG_PATH": str(bench_pool()),
        "ROUTER_SVC_SKILLS_DIR": str(WORK / "skills"),
        "ROUTER_SVC_SUITES_DIR": str(SUITES),
        "ROUTER_SVC_DATA_DIR": str(fresh_data_dir(name)),
        "ROUTER_SVC_N_THREADS": "2",
    }
    env.update(extra_env or {})
    command = [sys.executable, "-m", "router_svc.cli", "serve", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with process(command, env, f"{base}/healthz"):
        yield base


def bench_pool() -> Path:
    """The default pool plus the bench expert: the bare SmolLM2 GGUF, llama.cpp-server-like."""
    pool = yaml.safe_load((ROOT / "experts.yaml").read_text())
    expert = {"name": EXPERT, "engine": "llamacpp", "model": MODEL, "temperature": 0.0}
    expert |= {"max_tokens": MAX_TOKENS, "seed": 0, "routable": False}
    pool["experts"].append(expert | {"options": {"reuse_prompt_cache": True}})
    path = WORK / "experts.bench.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(pool, sort_keys=False))
    return path


def fresh_data_dir(name: str = "data") -> Path:
    """An empty state store for each server (no cache carried over), sharing the model files."""
    data = WORK / name
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    (data / "models").symlink_to(ROOT / ".router-svc" / "models", target_is_directory=True)
    return data


def ensure_profile() -> None:
    """A keyword-tagged profile of the tiny test suite (``router-svc profile``), built once."""
    if (WORK / "skills" / "tiny" / "profile.json").is_file():
        return
    env = base_env() | {"ROUTER_SVC_SKILLS_DIR": str(WORK / "skills"), "ROUTER_SVC_N_THREADS": "2"}
    env |= {"ROUTER_SVC_SUITES_DIR": str(SUITES), "ROUTER_SVC_DATA_DIR": str(fresh_data_dir())}
    profile = ["profile", "--suite", "tiny", "--tagger", "keyword"]
    subprocess.run([sys.executable, "-m", "router_svc.cli", *profile], env=env, check=True)


async def post_chat(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = await client.post(url, json=body)
    response.raise_for_status()
    return time.perf_counter() - started


Call = Callable[[str], Awaitable[float]]


def http_call(client: httpx.AsyncClient, base: str) -> Call:
    async def call(prompt: str) -> float:
        return await post_chat(client, f"{base}/v1/chat/completions", request_body(EXPERT, prompt))

    return call


def litellm_call(base: str) -> Call:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    async def call(prompt: str) -> float:
        body = request_body(f"openai/{EXPERT}", prompt)
        started = time.perf_counter()
        await litellm.acompletion(api_base=f"{base}/v1", api_key="unused", **body)
        return time.perf_counter() - started

    return call


async def timed(base: str, through_sdk: bool, items: list[str]) -> list[float]:
    """Sequential calls to one front after the warm-up calls."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        call = litellm_call(base) if through_sdk else http_call(client, base)
        for prompt in prompts(WARMUP, 10_000):
            await call(prompt)
        return [await call(prompt) for prompt in items]


async def concurrent(base: str, clients: int, total: int, offset: int) -> dict[str, Any]:
    url = f"{base}/v1/chat/completions"
    queue = list(prompts(total, offset))
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            prompt = queue.pop()
            try:
                latencies.append(await post_chat(client, url, request_body(EXPERT, prompt)))
            except (httpx.HTTPError, ValueError) as exc:
                errors.append(type(exc).__name__)

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=TIMEOUT, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": total,
        "errors": len(errors),
        "wall_s": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 2),
        **summary(latencies),
    }


def summary(seconds: list[float]) -> dict[str, Any]:
    ms = [value * 1000 for value in seconds]
    mean = round(sum(ms) / len(ms), 1) if ms else 0.0
    p50, p95 = round(percentile(ms, 50), 1), round(percentile(ms, 95), 1)
    return {"n": len(ms), "p50_ms": p50, "p95_ms": p95, "mean_ms": mean}


def metric_sums(base: str) -> dict[str, float]:
    """Requests answered, by status class, from router-svc's /metrics."""
    sums = {"total": 0.0, "5xx": 0.0, "4xx": 0.0}
    for line in httpx.get(f"{base}/metrics", timeout=30).text.splitlines():
        if line.startswith("router_svc_requests_total{"):
            value = float(line.rsplit(" ", 1)[1])
            status = line.split('status="', 1)[1][:3]
            sums["total"] += value
            sums[status[0] + "xx"] = sums.get(status[0] + "xx", 0.0) + value
    return sums


def schemathesis(base: str) -> dict[str, Any]:
    if not Path(SCHEMATHESIS).is_file():
        return {"skipped": f"{SCHEMATHESIS} not found; see the module docstring"}
    report = WORK / "schemathesis"
    shutil.rmtree(report, ignore_errors=True)
    before = metric_sums(base)
    command = [
        SCHEMATHESIS, "run", f"{base}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", "25", "--workers", "2",
        "--max-time", str(SCHEMATHESIS_MAX_TIME_S), "--seed", "1", "--request-timeout", "120",
        "--exclude-path", "/metrics", "--report", "json", "--report-dir", str(report),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    wall = time.perf_counter() - started
    after = metric_sums(base)
    counts = {f"responses_{k}": int(after[k] - before[k]) for k in ("4xx", "5xx")}
    return {
        "command": " ".join(command[1:]).replace(base, "<server>"),
        "exit_code": done.returncode,
        "wall_s": round(wall, 1),
        "requests_generated": int(after["total"] - before["total"]),
        **counts,
        "summary_tail": (done.stdout + done.stderr).strip().splitlines()[-25:],
    }


async def engine_timed(items: list[str]) -> list[float]:
    """The router's own llama.cpp engine in this process: no HTTP at all."""
    from router_svc.backends.base import EngineContext
    from router_svc.backends.registry import create_engine
    from router_svc.config.loader import load_pool
    from router_svc.types import GenerationRequest

    expert = load_pool(bench_pool()).expert(EXPERT)
    engine = create_engine(expert, EngineContext(ROOT / ".router-svc" / "models", n_threads=2))
    sampling = {"temperature": 0.0, "top_p": 1.0, "seed": 0, "max_tokens": MAX_TOKENS}

    async def call(prompt: str) -> float:
        started = time.perf_counter()
        await engine.generate([GenerationRequest.user(prompt, **sampling)])
        return time.perf_counter() - started

    try:
        for prompt in prompts(WARMUP, 10_000):
            await call(prompt)
        return [await call(prompt) for prompt in items]
    finally:
        await engine.unload()


def open_front(name: str, stack: contextlib.ExitStack) -> tuple[str, bool]:
    """Start one front's servers on ``stack``: (its base URL, called through the litellm SDK?)."""
    if name.startswith("router_svc"):
        no_wait = {"ROUTER_SVC_MICROBATCH_MAX_WAIT_MS": "0"} if "no_batch" in name else {}
        return stack.enter_context(router_server(name, no_wait)), False
    llama = stack.enter_context(llama_server())
    if name == "litellm_proxy":
        return stack.enter_context(litellm_proxy(llama)), False
    return llama, name == "litellm_sdk"


def latencies() -> dict[str, Any]:
    """Each front alone on the machine (its own llama.cpp server where it needs one), in
    ROUNDS rounds of round-robin phases, so slow spells of the machine spread over all."""
    fronts = [f for f in FRONTS if f != "litellm_proxy" or Path(LITELLM_PROXY).is_file()]
    measured: dict[str, list[float]] = {name: [] for name in fronts}
    load: dict[str, float] = {}  # the 1-minute load average as each phase starts: noise shows
    for round_ in range(ROUNDS):
        items = prompts(LATENCY_REQUESTS // ROUNDS, 100 * round_)
        for name in fronts:
            load[f"{name}#{round_}"] = round(os.getloadavg()[0], 2)
            if name == "engine_in_process":
                measured[name] += asyncio.run(engine_timed(items))
                continue
            with contextlib.ExitStack() as stack:
                base, through_sdk = open_front(name, stack)
                measured[name] += asyncio.run(timed(base, through_sdk, items))
    throughput = {}
    for name in ("router_svc", "llama_cpp_server"):
        with contextlib.ExitStack() as stack:
            base, _ = open_front(name, stack)
            loads = [(c, max(16, 3 * c)) for c in CONCURRENCY]
            throughput[name] = [asyncio.run(concurrent(base, c, n, 1000 * c)) for c, n in loads]
    figures = {name: summary(values) for name, values in measured.items()}
    baseline = figures["llama_cpp_server"]
    overhead = {
        f"{name}_{q}_ms": round(figure[f"{q}_ms"] - baseline[f"{q}_ms"], 1)
        for name, figure in figures.items()
        if name != "llama_cpp_server"
        for q in ("p50", "p95")
    }
    return {
        "latency": figures,
        "overhead_vs_llama_cpp_server": overhead,
        "load_average_at_phase_start": load,
        "throughput": throughput,
    }


def real_models() -> dict[str, Any]:
    """Parts 1-3: the SmolLM2 expert behind each front, then schemathesis."""
    ensure_profile()
    measured = latencies()
    with router_server("data-c") as base:
        fuzz = schemathesis(base)
    return {
        "setup": f"{EXPERT} = {MODEL}, 2 threads, max_tokens {MAX_TOKENS}, temperature 0; "
        f"{WARMUP} warm-up calls, {LATENCY_REQUESTS} timed per front over {ROUNDS} rounds, "
        "one front up at a time (see perf/service.py's docstring); router-svc on SQLite",
        **measured,
        "schemathesis": fuzz,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=("instant", "models"),
        help="measure one part; the other part's figures are kept from the last run",
    )
    only = parser.parse_args().only
    previous = (RESULT.is_file() and json.loads(RESULT.read_text())) or {}
    previous.pop("machine", None)
    figures: dict[str, Any] = {}
    if only == "instant":
        figures = previous
        figures.setdefault("real_models_measured_at", figures.pop("measured_at", None))
    else:
        figures = {"real_models_measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        figures |= real_models()
    if only == "models":
        figures["instant_backend"] = previous.get("instant_backend")
    else:
        figures["instant_backend"] = _overhead.measure()
    figures.pop("measured_at", None)
    write_results("service", figures)


if __name__ == "__main__":
    main()
