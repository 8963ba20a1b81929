"""API keys: 401 in OpenAI's envelope without a valid key, checked before anything else reads
the request; /healthz and /readyz stay open, /readyz shows its details only with a key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import openai
import pytest

from tests.support import eventually

pytestmark = pytest.mark.slow

ServerStarter = Callable[..., AbstractContextManager[str]]

KEYS = ["first-key", "second-key"]


@pytest.fixture(scope="module")
def keyed_server(tiny_profile_env: dict[str, str], server_factory: ServerStarter) -> Iterator[str]:
    env = {**tiny_profile_env, "ROUTER_SVC_API_KEYS": '["first-key", "second-key"]'}
    with server_factory(env) as base_url:
        yield base_url


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer"}, "missing_api_key"),
        ({"Authorization": "Basic Zmlyc3Qta2V5"}, "missing_api_key"),
        ({"Authorization": "Bearer wrong-key"}, "invalid_api_key"),
        ({"Authorization": "Bearer first-key-and-more"}, "invalid_api_key"),
    ],
)
def test_requests_without_a_valid_key_are_401(
    keyed_server: str, headers: dict[str, str], code: str
) -> None:
    for path in ("/v1/models", "/metrics"):
        response = httpx.get(f"{keyed_server}{path}", headers=headers)
        assert response.status_code == 401, response.text
        error = response.json()["error"]
        assert error["type"] == "authentication_error"
        assert error["code"] == code
        assert response.headers["www-authenticate"] == "Bearer"
    response = httpx.post(
        f"{keyed_server}/v1/chat/completions",
        json={"model": "smol-math", "messages": [{"role": "user", "content": "hi"}]},
        headers=headers,
    )
    assert response.status_code == 401


@pytest.mark.parametrize("key", KEYS)
def test_every_configured_key_is_accepted(keyed_server: str, key: str) -> None:
    response = httpx.get(f"{keyed_server}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


def test_probes_stay_open(keyed_server: str) -> None:
    assert httpx.get(f"{keyed_server}/healthz").status_code == 200
    assert httpx.get(f"{keyed_server}/readyz").status_code in (200, 503)


async def test_readyz_shows_its_details_only_with_a_key(keyed_server: str) -> None:
    async with httpx.AsyncClient(base_url=keyed_server, timeout=30) as http:

        async def ready() -> httpx.Response | None:
            response = await http.get("/readyz", headers={"Authorization": "Bearer first-key"})
            return response if response.status_code == 200 else None

        keyed = await eventually(ready, what="/readyz to be 200", timeout_s=180)
        anonymous = await http.get("/readyz")
    assert "smol-facts" in keyed.json()["experts"]
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "ready"}


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/no/such/path"])
def test_the_spec_and_the_docs_need_a_key(keyed_server: str, path: str) -> None:
    response = httpx.get(f"{keyed_server}{path}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"


def test_the_spec_is_served_with_a_key(keyed_server: str) -> None:
    headers = {"Authorization": "Bearer first-key"}
    response = httpx.get(f"{keyed_server}/openapi.json", headers=headers)
    assert response.status_code == 200
    assert "/v1/chat/completions" in response.json()["paths"]


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"model": 1}', b"x" * 2_000_000])
def test_the_key_is_checked_before_the_body(keyed_server: str, content: bytes) -> None:
    response = httpx.post(
        f"{keyed_server}/v1/chat/completions",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"


def test_openai_client_with_and_without_the_key(keyed_server: str) -> None:
    good = openai.OpenAI(base_url=f"{keyed_server}/v1", api_key="second-key", max_retries=0)
    assert "router-svc" in [model.id for model in good.models.list()]
    bad = openai.OpenAI(base_url=f"{keyed_server}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
