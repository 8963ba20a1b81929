"""Fixtures shared by every test: a clean environment, the default pool, the tiny-suite profile
(built once per session), the recorded pool of the fast tier (``replay_suite``,
``replay_server``: replay engine, no model), Redis, and real servers (router-svc and
llama.cpp's own).

Plain helpers (``start_server``, ``eventually``, ``Server``...) live in tests/support.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from router_svc.backends.base import EngineContext
from router_svc.config.loader import load_pool
from router_svc.config.pool import PoolConfig
from router_svc.config.settings import Settings
from router_svc.replay.data import load_replay
from tests.support import (
    REDIS_URL,
    REPLAY_SMALL,
    ROOT,
    SUITES,
    ReplaySuite,
    Server,
    drop_redis_prefix,
    free_port,
    redis_env,
    serve_in_thread,
    share_models,
    start_server,
    stop,
    wait_until_up,
    write_replay_pool,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROFILE_CACHE = ROOT / ".router-svc" / "test-profiles"
# Fixtures that load real models or start servers on them: a test using one is slow (it still
# runs in `make test` and CI; `make test-fast` leaves it out).
SLOW_FIXTURES = frozenset(
    {"engine_context", "tiny_profile", "tiny_profile_env", "api_server", "sdk_server"}
    | {"server_factory", "llama_server"}
)
SUITE = "tiny"
ServerStarter = Callable[..., AbstractContextManager[str]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow every test that uses a real-model fixture (see SLOW_FIXTURES)."""
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ROUTER_SVC_* setting leaks in from the shell running the tests."""
    for name in list(os.environ):
        if name.startswith("ROUTER_SVC_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def pool() -> PoolConfig:
    """The shipped default pool (experts.yaml)."""
    return load_pool(ROOT / "experts.yaml")


@pytest.fixture(scope="session")
def engine_context() -> Iterator[EngineContext]:
    """Engines share one model cache (the assembled Gemma file) for the whole session."""
    cache = ROOT / ".router-svc" / "models"
    cache.mkdir(parents=True, exist_ok=True)
    yield EngineContext(model_cache_dir=cache, n_threads=2)


# --- the tiny suite's real profile ----------------------------------------------------------


def _profile(skills_dir: Path, data_dir: Path) -> None:
    """Profile the tiny suite (keyword tagger, real models); resumes from kept raw outputs."""
    from router_svc.assembly import Runtime
    from router_svc.config.settings import Settings
    from router_svc.profiling.build import profile_suite
    from router_svc.questions.suites import load_suite

    settings = Settings(
        config_path=ROOT / "experts.yaml",
        skills_dir=skills_dir,
        suites_dir=SUITES,
        data_dir=data_dir,
        redis_url=None,
        n_threads=2,
    )
    runtime = Runtime.create(settings, load_pool(settings.config_path))

    async def go() -> None:
        try:
            await profile_suite(
                runtime, load_suite(SUITE, SUITES), tagger="keyword", progress=False
            )
        finally:
            await runtime.close()

    asyncio.run(go())


@pytest.fixture(scope="session")
def tiny_profile_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """ROUTER_SVC_* variables pointing at a fresh copy of the tiny suite's profile.

    The profile is built in ``.router-svc/test-profiles`` (later sessions redo only the cheap
    steps) and copied into a temporary folder, once per session.
    """
    cache_skills, cache_data = PROFILE_CACHE / "skills", PROFILE_CACHE / "data"
    share_models(cache_data)
    _profile(cache_skills, cache_data)
    base = tmp_path_factory.mktemp("tiny-profile")
    shutil.copytree(cache_skills / SUITE, base / "skills" / SUITE)
    share_models(base / "data")
    return {
        "ROUTER_SVC_SKILLS_DIR": str(base / "skills"),
        "ROUTER_SVC_SUITES_DIR": str(SUITES),
        "ROUTER_SVC_DATA_DIR": str(base / "data"),
        "ROUTER_SVC_CONFIG_PATH": str(ROOT / "experts.yaml"),
    }


@pytest.fixture(scope="session")
def tiny_profile(tiny_profile_env: dict[str, str]) -> dict[str, str]:
    """The same profile under its older name."""
    return tiny_profile_env


# --- the recorded pool (replay engine, no model): the fast tier's suite --------------------


@pytest.fixture(scope="session")
def replay_suite(tmp_path_factory: pytest.TempPathFactory) -> ReplaySuite:
    """tests/fixtures/replay_small.jsonl profiled by ``router-svc profile --replay`` as the
    suite ``replay_small``: its five experts answer from the file, ``judge`` aggregates, the
    hashing embedder maps skills, the store is SQLite. Nothing loads a model (~1 s)."""
    from typer.testing import CliRunner

    from router_svc.cli.main import app

    base = tmp_path_factory.mktemp("replay-suite")
    data = load_replay(REPLAY_SMALL)
    config = write_replay_pool(base / "experts.yaml", REPLAY_SMALL, data.experts)
    settings = Settings(
        config_path=config,
        skills_dir=base / "skills",
        suites_dir=SUITES,
        data_dir=base / "data",
        redis_url=None,
        n_threads=1,
    )
    suite = ReplaySuite(settings, REPLAY_SMALL.stem, data)
    command = ["profile", "--replay", str(REPLAY_SMALL), "--config", str(config)]
    result = CliRunner().invoke(app, command, env=suite.env())
    assert result.exit_code == 0, result.output
    return suite


@pytest.fixture(scope="session")
def replay_server(replay_suite: ReplaySuite) -> Iterator[str]:
    """A real uvicorn server (in a thread of the test process) of the recorded pool; its base
    URL. Every test using it shares its SQLite store and generation cache."""
    from router_svc.api.app import create_app

    with serve_in_thread(create_app(replay_suite.settings)) as base_url:
        yield base_url


# --- Redis ----------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def raw_redis() -> AsyncIterator[Redis]:
    """An async client of the real Redis at 127.0.0.1:6379 (decoded strings)."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def fresh_redis_env() -> Iterator[dict[str, str]]:
    """ROUTER_SVC_REDIS_URL and a fresh ROUTER_SVC_REDIS_PREFIX; the keys are dropped after."""
    env = redis_env("test")
    yield env
    drop_redis_prefix(env["ROUTER_SVC_REDIS_PREFIX"])


# --- servers --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server_factory() -> ServerStarter:
    """``start_server`` as a fixture: ``with server_factory(env) as base_url:``."""
    return start_server


@pytest.fixture(scope="session")
def api_server(tiny_profile_env: dict[str, str]) -> Iterator[str]:
    """One server for the read-mostly API tests: Redis store, no API keys, the tiny suite."""
    env = {**tiny_profile_env, **redis_env("shared")}
    with start_server(env) as base_url:
        yield base_url
    drop_redis_prefix(env["ROUTER_SVC_REDIS_PREFIX"])


@pytest.fixture(scope="session")
def sdk_server(tiny_profile_env: dict[str, str]) -> Iterator[Server]:
    """One server of the tiny suite on a Redis prefix of its own, for every SDK test."""
    env = {**tiny_profile_env, **redis_env("sdk")}
    with start_server(env) as base_url:
        yield Server(base_url, env)
    drop_redis_prefix(env["ROUTER_SVC_REDIS_PREFIX"])


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (ending in /v1) of llama-cpp-python's own server, SmolLM2 as 'smollm2'."""
    from router_svc.config.model_files import resolve_model_path

    model = resolve_model_path("pkg:smollm2-135m-instruct", Path())
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    options = {"--model": str(model), "--model_alias": "smollm2", "--host": "127.0.0.1"}
    options |= {"--port": str(port), "--n_ctx": "2048", "--n_threads": "2"}
    command = [sys.executable, "-m", "llama_cpp.server", *(x for kv in options.items() for x in kv)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(f"{base}/models", process, log, timeout_s=60)
        yield base
    finally:
        stop(process)
