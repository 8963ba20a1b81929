"""The API tests' fixtures (``tiny_profile_env``, ``api_server``, ``server_factory``,
``fresh_redis_env``) are shared with the SDK tests, so they live in tests/conftest.py.

The helpers stay importable from here for the test modules that import them; new code imports
them from tests.support.
"""

from __future__ import annotations

from tests.support import (
    REDIS_URL,
    ROOT,
    SUITES,
    drop_redis_prefix,
    free_port,
    redis_env,
    server_environ,
    start_server,
)

__all__ = [
    "REDIS_URL",
    "ROOT",
    "SUITES",
    "drop_redis_prefix",
    "free_port",
    "redis_env",
    "server_environ",
    "start_server",
]
