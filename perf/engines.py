"""Engine speeds: load time, prompt and generation tokens/s and peak RSS per packaged model,
and litellm's added latency per call over httpx against the same llama.cpp server.

Writes perf/results/engines.json. Run: .venv/bin/python perf/engines.py
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile, write_results

from router_svc.backends.base import EngineContext
from router_svc.backends.litellm import LiteLLMEngine
from router_svc.config.model_files import resolve_model_path
from router_svc.config.pool import ExpertConfig

MODELS = {"smollm2-135m-instruct": None, "gemma3-270m": "gemma"}
PROMPT = " ".join(["The quick brown fox jumps over the lazy dog."] * 30)
CALLS = 20


def measure_model(name: str, chat_format: str | None) -> dict[str, float]:
    """One model in a fresh process, so its peak RSS is its own."""
    code = f"""
import json, resource, time, llama_cpp
from pathlib import Path
from router_svc.config.model_files import resolve_model_path
path = resolve_model_path("pkg:{name}", Path(".router-svc/models"))
started = time.perf_counter()
llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=2, verbose=False,
                      chat_format={chat_format!r})
load = time.perf_counter() - started
tokens = llm.tokenize({PROMPT!r}.encode())
llm.reset(); t = time.perf_counter(); llm.eval(tokens); prompt_s = time.perf_counter() - t
llm.reset()
t = time.perf_counter()
out = llm.create_completion("Once upon a time", max_tokens=128, temperature=0.0)
gen_s = time.perf_counter() - t
n = out["usage"]["completion_tokens"]
print(json.dumps({{"load_s": round(load, 3),
  "prompt_tokens_per_s": round(len(tokens) / prompt_s, 1),
  "generation_tokens_per_s": round(n / gen_s, 1), "generated_tokens": n,
  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    import json

    return json.loads(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def litellm_overhead(base: str) -> dict[str, float]:
    """Same tiny request through httpx and through the litellm engine, interleaved."""
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 1,
        "temperature": 0.0,
    }
    expert = ExpertConfig(
        name="s", engine="litellm", model="openai/smollm2", api_base=base, max_tokens=1
    )
    engine = LiteLLMEngine(expert)
    from router_svc.types import GenerationRequest

    request = GenerationRequest.user("Say hi.")
    await engine.generate([request])  # warm-up: import and first connection
    direct, through = [], []
    async with httpx.AsyncClient(timeout=60) as client:
        await client.post(f"{base}/chat/completions", json=body)
        for _ in range(CALLS):
            t = time.perf_counter()
            (await client.post(f"{base}/chat/completions", json=body)).raise_for_status()
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            await engine.generate([request])
            through.append(time.perf_counter() - t)
    return {
        "calls": CALLS,
        "httpx_median_ms": round(median(direct) * 1000, 2),
        "litellm_median_ms": round(median(through) * 1000, 2),
        "litellm_added_median_ms": round((median(through) - median(direct)) * 1000, 2),
        "litellm_added_p90_ms": round((percentile(through, 90) - percentile(direct, 90)) * 1000, 2),
    }


def main() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    models = {name: measure_model(name, fmt) for name, fmt in MODELS.items()}
    model = resolve_model_path("pkg:smollm2-135m-instruct", EngineContext().model_cache_dir)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        overhead = asyncio.run(litellm_overhead(base))
    finally:
        server.terminate()
        server.wait(timeout=30)
    write_results("engines", {"models": models, "litellm_overhead": overhead})


if __name__ == "__main__":
    main()
