"""/healthz, /readyz and /metrics on a real server; Redis going away and coming back."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest

from tests.support import metric_sample as sample

pytestmark = pytest.mark.slow

ServerStarter = Callable[..., AbstractContextManager[str]]


def test_healthz(api_server: str) -> None:
    response = httpx.get(f"{api_server}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def wait_ready(base_url: str, timeout_s: float = 180) -> httpx.Response:
    """/readyz once it is 200 (the server warms its default suite up first)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = httpx.get(f"{base_url}/readyz", timeout=30)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        assert "warming up" in response.text, response.text
        time.sleep(0.2)


def test_readyz_when_everything_is_there(api_server: str) -> None:
    response = wait_ready(api_server)
    assert response.status_code == 200, response.text
    assert response.json()["suites"] == ["tiny"]


def test_readyz_names_a_missing_profile(
    tiny_profile_env: dict[str, str], server_factory: ServerStarter
) -> None:
    env = {**tiny_profile_env, "ROUTER_SVC_SKILLS_DIR": "/nonexistent/skills"}
    with server_factory(env) as base_url:
        response = httpx.get(f"{base_url}/readyz", timeout=30)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert "router-svc profile" in error["message"]


def test_metrics_move(api_server: str) -> None:
    series = 'router_svc_requests_total{endpoint="/v1/chat/completions",method="POST",status="200"}'
    before = httpx.get(f"{api_server}/metrics").text
    routed = httpx.post(
        f"{api_server}/v1/chat/completions",
        json={
            "model": "router-svc",
            "messages": [{"role": "user", "content": "What is 17 + 14?"}],
            "k": 2,
            "tagger": "keyword",
        },
        timeout=120,
    )
    assert routed.status_code == 200, routed.text
    chosen = routed.json()["router"]["assignment"]["chosen"]
    direct = httpx.post(
        f"{api_server}/v1/chat/completions",
        json={
            "model": "smol-code",
            "messages": [{"role": "user", "content": "print(1)"}],
            "max_tokens": 5,
            "temperature": 0.8,
        },
        timeout=60,
    )
    assert direct.status_code == 200, direct.text
    after = httpx.get(f"{api_server}/metrics").text

    assert sample(after, series) == sample(before, series) + 2
    for expert in chosen:
        selections = f'router_svc_expert_selections_total{{expert="{expert}"}}'
        assert sample(after, selections) == sample(before, selections) + 1
    tokens = 'router_svc_tokens_total{expert="smol-code",kind="completion"}'
    assert sample(after, tokens) > sample(before, tokens)
    for stage in ("tag", "route", "experts", "aggregate"):
        count = f'router_svc_stage_seconds_count{{stage="{stage}"}}'
        assert sample(after, count) == sample(before, count) + 1
    assert sample(after, 'router_svc_model_loads{expert="smol-code"}') >= 1
    assert "router_svc_queue_depth " in after
    assert 'router_svc_request_seconds_bucket{endpoint="/v1/chat/completions"' in after


class PrivateRedis:
    """A redis-server of this test's own, so it can be stopped and started again."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; apt-get install redis-server")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen([*args, "--appendonly", "no"], stdout=subprocess.DEVNULL)
        self._wait(up=True)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
        self._wait(up=False)

    def _wait(self, *, up: bool) -> None:
        deadline = time.monotonic() + 10
        while self._accepts() != up:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server on port {self.port} did not {'start' if up else 'stop'}"
                )
            time.sleep(0.05)

    def _accepts(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.stop()


def test_redis_going_away_is_a_clean_503_and_recovers(
    tiny_profile_env: dict[str, str], server_factory: ServerStarter, private_redis: PrivateRedis
) -> None:
    env = {**tiny_profile_env, "ROUTER_SVC_REDIS_URL": private_redis.url}
    with server_factory(env) as base_url:
        assert wait_ready(base_url).status_code == 200
        assert httpx.get(f"{base_url}/v1/batches/batch_x", timeout=30).status_code == 404

        private_redis.stop()
        ready = httpx.get(f"{base_url}/readyz", timeout=30)
        job = httpx.get(f"{base_url}/v1/batches/batch_x", timeout=30)
        metrics = httpx.get(f"{base_url}/metrics", timeout=30)

        private_redis.start()
        recovered = httpx.get(f"{base_url}/readyz", timeout=30)
        job_again = httpx.get(f"{base_url}/v1/batches/batch_x", timeout=30)

    assert ready.status_code == 503
    assert "store" in ready.json()["error"]["message"]
    assert job.status_code == 503
    assert job.json()["error"]["code"] == "store_unavailable"
    assert "Redis" in job.json()["error"]["message"]
    assert metrics.status_code == 200
    assert recovered.status_code == 200, recovered.text
    assert job_again.status_code == 404
