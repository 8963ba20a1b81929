"""Feedback across processes: two API processes on one Redis see each other's grades within a
second, and no grade is lost when the API process is killed and Redis restarts (AOF)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support import (
    ROOT,
    ReplaySuite,
    drop_redis_prefix,
    free_port,
    redis_env,
    server_environ,
    stop,
    wait_until_up,
)

SUITE = "replay_small"


@contextmanager
def api_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``router-svc serve`` in a subprocess; yields its URL and the process (to kill it)."""
    port = free_port()
    command = [sys.executable, "-c", "from router_svc.cli.main import app; app()", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=server_environ(env), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/healthz", process, log)
        yield url, process
    finally:
        stop(process)


def _ask(url: str, question: str) -> dict[str, Any]:
    body = {"model": f"router-svc:{SUITE}", "messages": [{"role": "user", "content": question}]}
    response = httpx.post(f"{url}/v1/chat/completions", json={**body, "k": 1}, timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _relevance(url: str, question: str, expert: str) -> float:
    body = {"suite": SUITE, "question": question, "k": 1}
    response = httpx.post(f"{url}/v1/route", json=body, timeout=60)
    assert response.status_code == 200, response.text
    scores = response.json()["assignment"]["scores"]
    return float(next(s["probability"] for s in scores if s["expert"] == expert))


def _grade(url: str, completion_id: str, score: float) -> None:
    response = httpx.post(f"{url}/v1/feedback", json={"id": completion_id, "score": score})
    assert response.status_code == 200, response.text


@pytest.fixture
def redis_prefix_env() -> Iterator[dict[str, str]]:
    env = redis_env("feedback")
    yield env
    drop_redis_prefix(env["ROUTER_SVC_REDIS_PREFIX"])


def test_a_grade_on_one_process_reaches_the_other_within_a_second(
    replay_suite: ReplaySuite, redis_prefix_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**replay_suite.env(), **redis_prefix_env}
    log = tmp_path / "api.log"
    with api_process(env, log) as (first, _), api_process(env, log) as (second, _):
        question = replay_suite.questions()[11].question
        answer = _ask(first, question)
        expert = answer["router"]["assignment"]["chosen"][0]
        before = _relevance(second, question, expert)
        _grade(first, answer["id"], 0.0)
        deadline = time.monotonic() + 1.0
        while (after := _relevance(second, question, expert)) == before:
            assert time.monotonic() < deadline, "the other process did not learn within 1 s"
        assert after < before


class AofRedis:
    """A private redis-server writing every command to its AOF before answering."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; apt-get install redis-server")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def test_no_grade_is_lost_when_the_api_is_killed_and_redis_restarts(
    replay_suite: ReplaySuite, tmp_path: Path
) -> None:
    server = AofRedis(tmp_path)
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    env = {**replay_suite.env(), "ROUTER_SVC_REDIS_URL": url}
    log = tmp_path / "api.log"
    try:
        graded = []
        with api_process(env, log) as (api, process):
            for question in replay_suite.questions()[40:45]:
                answer = _ask(api, question.question)
                _grade(api, answer["id"], 1.0)
                graded.append(answer["id"])
            process.kill()  # no shutdown: the grades must already be stored
            process.wait(timeout=10)
        server.kill()
        server.start()
        with api_process(env, log) as (api, _):
            listed = httpx.get(f"{api}/v1/feedback", params={"suite": SUITE}, timeout=30)
            assert listed.status_code == 200, listed.text
            assert [r["id"] for r in listed.json()["data"]] == graded
    finally:
        server.kill()
