"""Helpers shared by the tests (fixtures live in tests/conftest.py and use these).

``eventually`` polls a condition with a deadline instead of sleeping a guessed time;
``start_server`` runs ``router-svc serve`` in a subprocess, ``serve_in_thread`` an app in a
thread of the test process; ``wait_until_up`` waits for any HTTP server a test started;
``redis_env``/``drop_redis_prefix`` give a server a fresh Redis prefix; ``ReplaySuite`` is the
fast tier's recorded pool (``write_replay_pool`` writes its experts.yaml).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
from pydantic import BaseModel

from router_svc.assembly import Runtime
from router_svc.batch.worker import WorkerOptions, WorkerStats
from router_svc.config.loader import load_pool
from router_svc.config.routers import router_options
from router_svc.config.settings import Settings
from router_svc.replay.data import ReplayData, Split
from router_svc.routing.inputs import SuiteData
from router_svc.routing.recruiter import Recruiter
from router_svc.routing.registry import router_class
from router_svc.tagging.embedder import Embedder, EmbeddingKind
from router_svc.types import Question

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "tests" / "fixtures" / "suites"
REDIS_URL = "redis://127.0.0.1:6379/0"
STARTUP_TIMEOUT_S = 90.0

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T] | T], *, what: str, timeout_s: float = 10.0
) -> T:
    """The first truthy value of ``check()``, polled every 20 ms; AssertionError at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def share_models(data_dir: Path) -> None:
    """Point ``data_dir/models`` at the checkout's model cache, so the Gemma file is assembled
    once per checkout, not once per data folder."""
    shared = ROOT / ".router-svc" / "models"
    shared.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    link = data_dir / "models"
    if not link.exists():
        link.symlink_to(shared, target_is_directory=True)


def redis_env(label: str = "api") -> dict[str, str]:
    """Point a server at the real Redis under a fresh key prefix."""
    prefix = f"router-svc-test:{label}:{uuid.uuid4().hex[:12]}:v1"
    return {"ROUTER_SVC_REDIS_URL": REDIS_URL, "ROUTER_SVC_REDIS_PREFIX": prefix}


def drop_redis_prefix(prefix: str) -> None:
    """Delete every key a test server wrote under ``prefix`` (they have TTLs anyway)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()


def server_environ(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without ROUTER_SVC_* settings, plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_SVC_")}
    clean.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "ROUTER_SVC_N_THREADS": "2",
            "ROUTER_SVC_LOG_LEVEL": "info",
        }
    )
    clean.update(env)
    return clean


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], log: Path, *, timeout_s: float = STARTUP_TIMEOUT_S
) -> None:
    """Poll ``url`` until it answers 200; RuntimeError with the log if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{process.args!r} did not start:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``; kill it if it has not exited within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def start_server(env: Mapping[str, str], *, args: tuple[str, ...] = ()) -> Iterator[str]:
    """Run ``router-svc serve`` with ``env`` on a free port; yields ``http://127.0.0.1:PORT``.

    The server log goes to a temporary file, shown in the error when the server does not start.
    Extra ``args`` go to ``router-svc serve`` (for example ``("--suite", "tiny")``).
    """
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"router-svc-test-{port}.log"
    command = [
        sys.executable,
        "-c",
        "from router_svc.cli.main import app; app()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *args,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=server_environ(env), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base_url}/healthz", process, log_path)
        yield base_url
    finally:
        stop(process)
        log_path.unlink(missing_ok=True)


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve the ASGI ``app`` with a real uvicorn server on a free port, in a thread of this
    process (no interpreter start-up); yields ``http://127.0.0.1:PORT``."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the in-process server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


WORKER = [sys.executable, "-c", "from router_svc.cli.main import app; app()", "worker"]


@dataclass(frozen=True)
class Server:
    """A running server: its base URL and the ROUTER_SVC_* settings it runs with."""

    url: str
    env: dict[str, str]

    def worker(self, *args: str) -> subprocess.Popen[str]:
        """Start ``router-svc worker`` on the server's queue (``--once``: until it is empty)."""
        command = [*WORKER, "--suite", "tiny", "--block-ms", "200", *args]
        return subprocess.Popen(
            command,
            env=server_environ(self.env),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run_worker(self) -> None:
        """Answer everything queued now, then return (``--once``)."""
        worker = self.worker("--once")
        _, log = worker.communicate(timeout=600)
        assert worker.returncode == 0, log


REPLAY_SMALL = ROOT / "tests" / "fixtures" / "replay_small.jsonl"
REPLAY_AGGREGATOR = "judge"
_REPLAY_EXPERT = """\
  - name: {name}
    engine: replay
    model: replay
    routable: {routable}
    options: {{file: {file}, expert: {recorded}}}
"""


def write_replay_pool(path: Path, replay: Path, experts: list[str], *, k: int = 2) -> Path:
    """An experts.yaml of replay experts, one per recorded expert, plus ``judge`` (not
    routable; answers as the first expert) as the aggregator; the hashing embedder."""
    entries = [
        _REPLAY_EXPERT.format(name=e, routable="true", file=replay, recorded=e) for e in experts
    ]
    judge = {"name": REPLAY_AGGREGATOR, "routable": "false", "recorded": experts[0]}
    entries.append(_REPLAY_EXPERT.format(file=replay, **judge))
    header = f"k: {k}\nembedding_model: hashing\naggregator_candidates: [{REPLAY_AGGREGATOR}]\n"
    path.write_text(header + "experts:\n" + "".join(entries), encoding="utf-8")
    return path


@dataclass(frozen=True)
class ReplaySuite:
    """A recorded pool profiled as a suite: its settings (SQLite store, no Redis), the suite's
    name and the replay data it answers from."""

    settings: Settings
    suite: str
    data: ReplayData

    def env(self) -> dict[str, str]:
        """The ROUTER_SVC_* variables of ``settings`` (for the CLI and subprocesses)."""
        s = self.settings
        paths = {"CONFIG_PATH": s.config_path, "SKILLS_DIR": s.skills_dir}
        paths |= {"SUITES_DIR": s.suites_dir, "DATA_DIR": s.data_dir}
        return {f"ROUTER_SVC_{name}": str(path) for name, path in paths.items()}

    def runtime(self, *, use_cache: bool = False) -> Runtime:
        """A fresh runtime over the pool (caller closes it)."""
        return Runtime.create(
            self.settings, load_pool(self.settings.config_path), use_cache=use_cache
        )

    def questions(self, split: Split = "test") -> list[Question]:
        return [self.data.questions[row] for row in self.data.rows(split)]

    async def run_worker(self) -> WorkerStats:
        """A real batch worker (``--once``) on the suite's SQLite queue: it answers everything
        queued now, grouped by expert, then returns."""
        from router_svc.cli.worker import serve_worker

        options = WorkerOptions(
            consumer="fast-worker", default_suite=self.suite, block_ms=0, once=True
        )
        return await serve_worker(self.runtime(use_cache=True), options)


class CountingEmbedder:
    """A real embedder, recording the texts of each call (to check what is embedded)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed(texts, kind=kind)


def metric_sample(text: str, series: str) -> float:
    """The value of one series (name and labels, as written) in Prometheus text; 0 if absent."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def fit_router(suite: SuiteData, name: str, options: BaseModel | None = None) -> Recruiter:
    """The routing method ``name`` fitted on ``suite`` (its default options unless given), as
    the service's ``RouterCatalog`` fits it."""
    chosen = options if options is not None else router_options(name)
    return router_class(name).fit(suite, chosen)


def capped_pool(path: Path, max_tokens: int) -> Path:
    """experts.yaml without the LLM tagger, every expert's ``max_tokens`` at most
    ``max_tokens``, written to ``path``: a pool whose generations stay short on a CPU (the
    tiny suite's profile still fits it: the same routable experts)."""
    text = (ROOT / "experts.yaml").read_text(encoding="utf-8")
    text = text.replace("  expert: smol-tagger\n", "")
    text = text[: text.index("  - name: smol-tagger")]
    path.write_text(re.sub(r"max_tokens: \d+", f"max_tokens: {max_tokens}", text), encoding="utf-8")
    return path


SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SCHEMATHESIS_CONFIG = ROOT / "tests" / "api" / "schemathesis.toml"


def schemathesis_command(
    base_url: str, api_key: str, *options: str, max_examples: int
) -> list[str]:
    """The contract run against the server at ``base_url``: every check (``--checks all``,
    none excluded), with ``api_key``, one worker, tests/api/schemathesis.toml's settings, up to
    ``max_examples`` per operation; ``options`` add the scope, phases, timeouts and reports.
    tests/api/test_openapi.py and perf/schemathesis_run.py both run this."""
    return [
        str(SCHEMATHESIS),
        "--config-file",
        str(SCHEMATHESIS_CONFIG),
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {api_key}",
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        "--workers",
        "1",
        *options,
    ]
