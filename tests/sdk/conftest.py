"""A real router-svc server for the SDK tests, and batch workers for it.

The server helpers come from tests/api/conftest.py: ``tiny_profile_env`` (a real profile of the
tiny suite, keyword tagger) and ``start_server`` (``router-svc serve`` in a subprocess).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.api.conftest import (
    ROOT,
    drop_redis_prefix,
    redis_env,
    server_environ,
    start_server,
    tiny_profile_env,
)

__all__ = ["Server", "tiny_profile_env"]

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


@pytest.fixture(scope="session")
def sdk_server(tiny_profile_env: dict[str, str]) -> Iterator[Server]:
    """One server of the tiny suite on a Redis prefix of its own, for every SDK test."""
    env = {**tiny_profile_env, **redis_env("sdk")}
    with start_server(env) as base_url:
        yield Server(base_url, env)
    drop_redis_prefix(env["ROUTER_SVC_REDIS_PREFIX"])
