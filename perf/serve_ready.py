"""Time from starting ``router-svc serve`` on the starter pool to its first 200 on /readyz.

    flock /tmp/router-cpu.lock nice .venv/bin/python perf/serve_ready.py [--python PYTHON]

For each embedder (the default static model, and MiniLM where ``--python`` has the minilm
extra) the default pool (experts.yaml) and the starter suite are prepared as in
perf/route_latency.py; the server runs under ``--python`` (e.g. a fresh venv with only
``.[server,llamacpp,models]``, to show it needs no torch), /readyz is polled every 20 ms, and
the server is stopped. ``runs`` starts per embedder; the figure is their median. Writes
perf/results/serve_ready.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, write_results
from _servers import free_port
from route_latency import EMBEDDERS, ROOT, prepare

TARGET_S = 3.0


def ready_after(python: str, pool: Path, env: dict[str, str]) -> float:
    port = free_port()
    command = [python, "-m", "router_svc.cli", "serve", "--port", str(port)]
    env = {**os.environ, **env, "ROUTER_SVC_CONFIG_PATH": str(pool)}
    started = time.perf_counter()
    server = subprocess.Popen(
        command, env=env, cwd=pool.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while time.perf_counter() - started < 120:
            if server.poll() is not None:
                raise SystemExit(f"serve exited: {server.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise SystemExit("serve was not ready within 120 s")
    finally:
        server.terminate()
        server.wait(timeout=30)


def has_torch(python: str) -> bool:
    code = "import importlib.util as u; print(u.find_spec('sentence_transformers') is not None)"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip() == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    minilm = has_torch(arguments.python)
    figures: dict[str, Any] = {}
    for name, model in EMBEDDERS.items():
        if name == "minilm" and not minilm:
            figures[name] = "skipped: this python has no sentence-transformers (minilm extra)"
            continue
        with tempfile.TemporaryDirectory() as scratch:
            pool, env = prepare(Path(scratch), model)
            walls = [ready_after(arguments.python, pool, env) for _ in range(arguments.runs)]
        figures[name] = {
            "embedding_model": model,
            "ready_s_median": round(median(walls), 2),
            "ready_s": [round(w, 2) for w in walls],
        }
    static = figures["static"]["ready_s_median"]
    write_results(
        "serve_ready",
        {
            "what": "router-svc serve on experts.yaml + skills/starter until /readyz is 200",
            "python": arguments.python,
            "python_has_minilm_extra": minilm,
            "embedders": figures,
            "load_average_1m": round(os.getloadavg()[0], 2),
            "target": f"static <= {TARGET_S} s",
            "met": static <= TARGET_S,
            "root": str(ROOT),
        },
    )


if __name__ == "__main__":
    main()
