"""A real router-svc server for the API tests: a tiny profile and a uvicorn subprocess.

``tiny_profile_env`` profiles the tiny suite once per session (keyword tagger, real models) and
returns the ROUTER_SVC_* variables that point a server at it. ``start_server(env)`` (also the
fixture ``server_factory``) runs
``router-svc serve`` in a subprocess on a free loopback port and yields its base URL.

The profile is built in ``.router-svc/test-profiles/tiny`` and copied into a temporary folder:
profiling resumes from the raw outputs kept there, so later sessions only redo the cheap steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
import redis

from router_svc.assembly import Runtime
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.profiling.build import profile_suite
from router_svc.questions.suites import load_suite

ROOT = Path(__file__).resolve().parents[2]
SUITES = ROOT / "tests" / "fixtures" / "suites"
PROFILE_CACHE = ROOT / ".router-svc" / "test-profiles"
REDIS_URL = "redis://127.0.0.1:6379/0"
SUITE = "tiny"
STARTUP_TIMEOUT_S = 90.0

ServerStarter = Callable[..., AbstractContextManager[str]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_env(label: str = "api") -> dict[str, str]:
    """Point a server at the real Redis under a fresh key prefix."""
    prefix = f"router-svc-test:{label}:{uuid.uuid4().hex[:12]}:v1"
    return {"ROUTER_SVC_REDIS_URL": REDIS_URL, "ROUTER_SVC_REDIS_PREFIX": prefix}


def drop_redis_prefix(prefix: str) -> None:
    """Delete every key a test server wrote under ``prefix`` (they have TTLs anyway)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()


def _profile(skills_dir: Path, data_dir: Path) -> None:
    settings = Settings(
        config_path=ROOT / "experts.yaml",
        skills_dir=skills_dir,
        suites_dir=SUITES,
        data_dir=data_dir,
        redis_url=None,
        n_threads=2,
    )
    runtime = Runtime.create(settings, load_pool(settings.config_path))
    suite = load_suite(SUITE, SUITES)

    async def go() -> None:
        try:
            await profile_suite(runtime, suite, tagger="keyword", progress=False)
        finally:
            await runtime.close()

    asyncio.run(go())


def _share_models(data_dir: Path) -> None:
    """Reuse the assembled Gemma file of the checkout instead of assembling it again."""
    shared = ROOT / ".router-svc" / "models"
    shared.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    link = data_dir / "models"
    if not link.exists():
        link.symlink_to(shared, target_is_directory=True)


@pytest.fixture(scope="session")
def tiny_profile_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """ROUTER_SVC_* variables of a server with a fresh tiny-suite profile (built once)."""
    cache_skills = PROFILE_CACHE / "skills"
    cache_data = PROFILE_CACHE / "data"
    _share_models(cache_data)
    _profile(cache_skills, cache_data)
    base = tmp_path_factory.mktemp("router-svc-api")
    skills_dir = base / "skills"
    shutil.copytree(cache_skills / SUITE, skills_dir / SUITE)
    data_dir = base / "data"
    _share_models(data_dir)
    return {
        "ROUTER_SVC_SKILLS_DIR": str(skills_dir),
        "ROUTER_SVC_SUITES_DIR": str(SUITES),
        "ROUTER_SVC_DATA_DIR": str(data_dir),
        "ROUTER_SVC_CONFIG_PATH": str(ROOT / "experts.yaml"),
    }


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
        _wait_until_up(base_url, process, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log_path.unlink(missing_ok=True)


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"router-svc serve exited:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"router-svc serve did not start:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def api_server(tiny_profile_env: dict[str, str]) -> Iterator[str]:
    """One server for the read-mostly tests: Redis store, no API keys, the tiny suite."""
    env = {**tiny_profile_env, **redis_env("shared")}
    with start_server(env) as base_url:
        yield base_url
    drop_redis_prefix(env["ROUTER_SVC_REDIS_PREFIX"])


@pytest.fixture(scope="session")
def server_factory() -> ServerStarter:
    """``start_server`` as a fixture: ``with server_factory(env) as base_url:``."""
    return start_server


@pytest.fixture
def fresh_redis_env() -> Iterator[dict[str, str]]:
    """ROUTER_SVC_REDIS_URL and a fresh ROUTER_SVC_REDIS_PREFIX; the keys are dropped after."""
    env = redis_env("test")
    yield env
    drop_redis_prefix(env["ROUTER_SVC_REDIS_PREFIX"])
