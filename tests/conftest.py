"""Fixtures shared by every test: a clean environment and the real default pool."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from router_svc.backends.base import EngineContext
from router_svc.config.loader import load_pool
from router_svc.config.pool import PoolConfig

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


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
def engine_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineContext]:
    """Engines share one model cache (the assembled Gemma file) for the whole session."""
    cache = ROOT / ".router-svc" / "models"
    cache.mkdir(parents=True, exist_ok=True)
    yield EngineContext(model_cache_dir=cache, n_threads=2)


TINY_SUITE_ROOT = ROOT / "tests" / "fixtures" / "suites"


@pytest.fixture(scope="session")
def tiny_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real profile of the tiny fixture suite (16 questions, real models, keyword tagger).

    Yields the ROUTER_SVC_* settings that point a process at it.
    """
    import asyncio

    from router_svc.assembly import Runtime
    from router_svc.config.settings import Settings
    from router_svc.profiling.build import profile_suite
    from router_svc.questions.suites import load_suite

    base = tmp_path_factory.mktemp("tiny-profile")
    env = {
        "ROUTER_SVC_SKILLS_DIR": str(base / "skills"),
        "ROUTER_SVC_SUITES_DIR": str(TINY_SUITE_ROOT),
        "ROUTER_SVC_DATA_DIR": str(base / "data"),
        "ROUTER_SVC_CONFIG_PATH": str(ROOT / "experts.yaml"),
    }
    settings = Settings(
        skills_dir=base / "skills", suites_dir=TINY_SUITE_ROOT, data_dir=base / "data"
    )
    runtime = Runtime.create(settings, load_pool(ROOT / "experts.yaml"))

    async def profile() -> None:
        try:
            await profile_suite(runtime, load_suite("tiny", TINY_SUITE_ROOT), tagger="keyword")
        finally:
            await runtime.close()

    asyncio.run(profile())
    yield env
