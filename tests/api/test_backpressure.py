"""Back-pressure on a real server: a full expert queue is a 429 with Retry-After, a request past
its deadline a 504 (an expert whose load outlasts it), a client that goes away has its work
cancelled (499 in the metrics), and /metrics shows the requests in flight and held per expert."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from router_svc.api.app import create_app
from tests.conftest import ServerStarter
from tests.support import REPLAY_SMALL, ReplaySuite, eventually, redis_env, serve_in_thread
from tests.support import metric_sample as sample

pytestmark = pytest.mark.slow

EXPERT = "smol-facts"
LONG = {
    "model": EXPERT,
    "messages": [{"role": "user", "content": "Write a very long story about a dragon."}],
    "max_tokens": 1500,
    "temperature": 1.0,
}


@pytest.fixture(scope="module")
def busy_server(tiny_profile_env: dict[str, str], server_factory: ServerStarter) -> Iterator[str]:
    """A server whose experts take one request each, with a 3 s deadline per request."""
    env = {**tiny_profile_env, **redis_env("backpressure")}
    env |= {"ROUTER_SVC_MAX_QUEUE": "1", "ROUTER_SVC_REQUEST_TIMEOUT_S": "3"}
    with server_factory(env) as base_url:
        short = {**LONG, "max_tokens": 1}
        httpx.post(f"{base_url}/v1/chat/completions", json=short, timeout=120)  # loads it
        yield base_url


HELD = f'router_svc_expert_requests{{expert="{EXPERT}"}}'


async def held(http: httpx.AsyncClient) -> float:
    return sample((await http.get("/metrics")).text, HELD)


async def test_a_full_expert_queue_is_a_429_with_retry_after(busy_server: str) -> None:
    async with httpx.AsyncClient(base_url=busy_server, timeout=60) as http:
        first = asyncio.create_task(http.post("/v1/chat/completions", json=LONG))
        await eventually(lambda: held(http), what="the expert to hold the first request")
        metrics = (await http.get("/metrics")).text
        second = await http.post("/v1/chat/completions", json=LONG)
        await first

    assert second.status_code == 429, second.text
    assert second.headers["retry-after"] == "1"
    assert second.json()["error"]["code"] == "queue_full"
    assert sample(metrics, "router_svc_requests_in_flight") >= 2  # the first and /metrics


SLOW_LOAD = "slow-load"
_SLOW_EXPERT = """\
  - name: slow-load
    engine: replay
    model: replay
    routable: false
    options: {{file: {file}, expert: {recorded}, load_delay_s: 600}}
"""


@pytest.fixture(scope="module")
def deadline_server(
    replay_suite: ReplaySuite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The recorded pool plus an expert whose load takes 10 minutes, under a 1 s deadline: a
    request to it outlasts the deadline on any machine (no model speed involved)."""
    folder = tmp_path_factory.mktemp("deadline")
    config = folder / "experts.yaml"
    recorded = replay_suite.data.experts[0]
    config.write_text(
        replay_suite.settings.config_path.read_text()
        + _SLOW_EXPERT.format(file=REPLAY_SMALL, recorded=recorded)
    )
    update = {"config_path": config, "data_dir": folder / "data", "request_timeout_s": 1.0}
    with serve_in_thread(create_app(replay_suite.settings.model_copy(update=update))) as url:
        yield url


async def test_a_request_past_its_deadline_is_a_504(deadline_server: str) -> None:
    body = {"model": SLOW_LOAD, "messages": [{"role": "user", "content": "What is 2 + 2?"}]}
    series = f'router_svc_expert_requests{{expert="{SLOW_LOAD}"}}'
    async with httpx.AsyncClient(base_url=deadline_server, timeout=60) as http:
        response = await http.post("/v1/chat/completions", json=body)
        assert response.status_code == 504, response.text
        error = response.json()["error"]
        assert (error["code"], error["message"]) == (
            "deadline_exceeded",
            "no answer within 1 s (ROUTER_SVC_REQUEST_TIMEOUT_S)",
        )

        async def released() -> bool:
            return sample((await http.get("/metrics")).text, series) == 0

        await eventually(released, what="the expert's slot to be given back")


async def test_a_client_that_goes_away_has_its_work_cancelled(busy_server: str) -> None:
    series = 'router_svc_requests_total{endpoint="/v1/chat/completions",method="POST",status="499"}'
    async with httpx.AsyncClient(base_url=busy_server, timeout=60) as http:
        before = sample((await http.get("/metrics")).text, series)
        async with httpx.AsyncClient(base_url=busy_server, timeout=60) as leaving:
            request = asyncio.create_task(leaving.post("/v1/chat/completions", json=LONG))
            await eventually(lambda: held(http), what="the expert to hold the request")
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)

        async def counted() -> bool:
            text = (await http.get("/metrics")).text
            return sample(text, series) == before + 1 and sample(text, HELD) == 0

        await eventually(counted, what="a 499 and the expert's slot given back", timeout_s=5)


async def test_a_stream_holds_its_expert_until_it_ends(busy_server: str) -> None:
    async with httpx.AsyncClient(base_url=busy_server, timeout=60) as http:
        body = {**LONG, "stream": True}
        async with http.stream("POST", "/v1/chat/completions", json=body) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("data: ")
            during = await held(http)
            refused = await http.post("/v1/chat/completions", json=LONG)

        async def released() -> bool:
            return await held(http) == 0

        await eventually(released, what="the stream's slot to be given back")

    assert during == 1
    assert refused.status_code == 429


BATCHES = "router_svc_microbatch_size_count"


async def test_a_client_that_goes_away_stops_its_generation(busy_server: str) -> None:
    """The long generation stops when its client leaves: a short request to the same expert
    right after is answered within the 3 s deadline instead of waiting behind it (a 504)."""
    async with httpx.AsyncClient(base_url=busy_server, timeout=60) as http:
        sent = sample((await http.get("/metrics")).text, BATCHES)
        async with httpx.AsyncClient(base_url=busy_server, timeout=60) as leaving:
            request = asyncio.create_task(leaving.post("/v1/chat/completions", json=LONG))

            async def generating() -> bool:
                return sample((await http.get("/metrics")).text, BATCHES) > sent

            await eventually(generating, what="the long request's batch to be sent")
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)

        async def released() -> bool:
            return await held(http) == 0

        await eventually(released, what="the expert's slot to be given back")
        short = await http.post("/v1/chat/completions", json={**LONG, "max_tokens": 1})

    assert short.status_code == 200, short.text


async def test_a_routed_stream_whose_experts_outlast_the_deadline_is_a_504(
    busy_server: str,
) -> None:
    """The experts of a routed stream run before its first byte, under the deadline."""
    body = {
        "model": "router-svc:tiny",
        "messages": [{"role": "user", "content": "Write a very long story about a dragon."}],
        "max_tokens": 1500,
        "stream": True,
        "k": 2,
        "tagger": "keyword",
    }
    async with httpx.AsyncClient(base_url=busy_server, timeout=60) as http:
        response = await http.post("/v1/chat/completions", json=body)

        async def released() -> bool:
            text = (await http.get("/metrics")).text
            return all(
                value == 0
                for line in text.splitlines()
                if line.startswith("router_svc_expert_requests{")
                for value in [float(line.rsplit(" ", 1)[1])]
            )

        await eventually(released, what="the experts' slots to be given back")

    assert response.status_code == 504, response.text
    assert response.json()["error"]["code"] == "deadline_exceeded"
