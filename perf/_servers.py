"""Server processes for perf/service.py: a free port, a clean environment, a process that is
up once its URL answers 200 (optionally pinned to some CPUs) and is stopped on exit."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_SVC_")}
    return env | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@contextmanager
def process(
    command: list[str],
    env: Mapping[str, str],
    ready_url: str,
    cpus: set[int] | None = None,
    start_s: float = 120,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running until the block ends, once ``ready_url`` answers 200; on ``cpus``
    only when given. Its output goes to a log that a failed start shows."""
    log_path = Path(tempfile.gettempdir()) / f"bench-service-{os.getpid()}-{free_port()}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
    try:
        deadline = time.monotonic() + start_s
        while not _answers(ready_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[:4]} did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_path.unlink(missing_ok=True)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
