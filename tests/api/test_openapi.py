"""The OpenAPI document says what the server does: schemathesis sends generated requests to a
live server and checks every answer against the document (status codes, content types, bodies,
headers, methods), not only that nothing is a 5xx. Bounded: a few examples per operation."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from pydantic import SecretStr

from router_svc.api.app import create_app
from tests.support import (
    ReplaySuite,
    capped_pool,
    drop_redis_prefix,
    redis_env,
    schemathesis_command,
    serve_in_thread,
    start_server,
)

KEY = "contract-key"


def ready(base_url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {KEY}"}
    while httpx.get(f"{base_url}/readyz", headers=headers, timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def capped_server(
    tiny_profile_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A server of the tiny llama.cpp pool with a key, generations capped at 8 tokens and k
    at 2, so schemathesis's chat completions stay short on a CPU."""
    pool = capped_pool(tmp_path_factory.mktemp("capped") / "experts.yaml", 8)
    env = {**tiny_profile_env, **redis_env("capped"), "ROUTER_SVC_CONFIG_PATH": str(pool)}
    env |= {"ROUTER_SVC_MAX_TOKENS": "8", "ROUTER_SVC_MAX_K": "2"}
    env |= {"ROUTER_SVC_API_KEYS": json.dumps([KEY])}
    try:
        with start_server(env) as base_url:
            yield base_url
    finally:
        drop_redis_prefix(env["ROUTER_SVC_REDIS_PREFIX"])


def test_every_chat_answer_matches_the_document(capped_server: str) -> None:
    """Every check, with the key, on real generations (streamed and not, routed and direct)."""
    ready(capped_server)  # a 503 while the server warms up is documented, but still a 5xx
    command = schemathesis_command(
        capped_server,
        KEY,
        "--include-path",
        "/v1/chat/completions",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "300",
        "--generation-deterministic",
        max_examples=8,
    )
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_the_document_declares_no_status_the_server_never_sends(api_server: str) -> None:
    spec = httpx.get(f"{api_server}/openapi.json").json()
    statuses = {s for ops in spec["paths"].values() for op in ops.values() for s in op["responses"]}
    batches = spec["paths"]["/v1/batches"]["post"]

    assert "422" not in statuses
    assert {"400", "401", "404", "413", "429"} <= set(
        spec["paths"]["/v1/chat/completions"]["post"]["responses"]
    )
    assert "multipart/form-data" in batches["requestBody"]["content"]
    assert "415" in batches["responses"]


def test_an_unsupported_method_is_a_405_with_allow(api_server: str) -> None:
    response = httpx.request("TRACE", f"{api_server}/v1/models")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["error"]["code"] == "method_not_allowed"


# --- the served document, on the recorded pool (no model loads) ------------------------------


@pytest.fixture(scope="module")
def keyed_server(
    replay_suite: ReplaySuite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real server of the recorded pool that wants an API key."""
    data_dir = tmp_path_factory.mktemp("keyed")
    update = {"api_keys": [SecretStr(KEY)], "data_dir": data_dir}
    with serve_in_thread(create_app(replay_suite.settings.model_copy(update=update))) as url:
        yield url


def served_spec(base_url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {KEY}"}
    return dict(httpx.get(f"{base_url}/openapi.json", headers=headers).json())


def validator(spec: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema.Draft202012Validator(root)


USER = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        (
            "ChatCompletionRequest",
            {"model": "atlas-70b", "messages": [{"role": "tool", "content": "4"}]},
        ),
        ("ChatCompletionRequest", {"model": "", "messages": USER}),
        (
            "ChatCompletionRequest",
            {"model": "atlas-70b", "messages": [{"role": "user", "content": ""}]},
        ),
        (
            "ChatCompletionRequest",
            {"model": "atlas-70b", "messages": [{"role": "user", "content": None}]},
        ),
        (
            "ChatCompletionRequest",
            {"model": "router-svc", "messages": [{"role": "system", "content": "x"}]},
        ),
        ("ChatCompletionRequest", {"model": "atlas-70b", "messages": USER, "tools": []}),
        ("ChatCompletionRequest", {"model": "atlas-70b", "messages": USER, "k": 99}),
        ("ChatCompletionRequest", {"model": "atlas-70b", "messages": USER, "tagger": "llm"}),
        ("RouteRequest", {}),
        ("RouteRequest", {"question": "q", "messages": USER}),
        ("RouteRequest", {"question": "q", "suite": "replay_small", "model": "router-svc"}),
        ("RouteRequest", {"question": "q", "model": "atlas-70b"}),
        ("RouteRequest", {"question": "q", "suite": "nope"}),
    ],
)
def test_the_document_refuses_what_the_server_refuses(
    keyed_server: str, schema: str, body: dict[str, Any]
) -> None:
    assert not validator(served_spec(keyed_server), schema).is_valid(body)


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("ChatCompletionRequest", {"model": "atlas-70b", "messages": USER, "seed": 471760.0}),
        ("ChatCompletionRequest", {"model": "router-svc:replay_small", "messages": USER, "k": 2}),
        ("RouteRequest", {"question": "q", "suite": "replay_small", "router": "skill"}),
    ],
)
def test_the_document_accepts_what_the_server_accepts(
    keyed_server: str, schema: str, body: dict[str, Any]
) -> None:
    assert validator(served_spec(keyed_server), schema).is_valid(body)


def test_json_operations_declare_only_json_bodies(keyed_server: str) -> None:
    """A multipart or form body to a JSON operation is refused (415), so the document
    offers none."""
    paths = served_spec(keyed_server)["paths"]
    headers = {"Authorization": f"Bearer {KEY}"}
    for path in ("/v1/chat/completions", "/v1/route", "/v1/feedback"):
        assert list(paths[path]["post"]["requestBody"]["content"]) == ["application/json"]
        form = httpx.post(f"{keyed_server}{path}", files={"x": b"y"}, headers=headers)
        assert form.status_code in (400, 415), (path, form.status_code, form.text)


def test_every_json_answer_has_a_schema(keyed_server: str) -> None:
    spec = served_spec(keyed_server)
    schemas = spec["components"]["schemas"]
    answers = [
        op["responses"]["200"]["content"]
        for ops in spec["paths"].values()
        for op in ops.values()
        if "application/json" in op["responses"]["200"].get("content", {})
    ]

    assert len(answers) == 15  # feedback: POST, GET and DELETE answer JSON too
    for content in answers:
        ref = content["application/json"]["schema"]["$ref"]
        assert schemas[ref.rsplit("/", 1)[1]]["properties"]
    deleted = spec["paths"]["/v1/batches/{batch_id}"]["delete"]["responses"]["200"]["content"]
    assert deleted["application/json"]["schema"]["$ref"].endswith("/BatchDeleted")
    assert schemas["BatchDeleted"]["properties"]["deleted"]["const"] is True
    events = spec["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    data = events["text/event-stream"]["itemSchema"]["properties"]["data"]["anyOf"][1]
    assert data["contentSchema"]["oneOf"][0]["$ref"].endswith("ChatCompletionChunk")


@pytest.mark.slow
def test_schemathesis_finds_nothing_with_every_check(keyed_server: str) -> None:
    """Every check, with the key, on every operation that generates nothing (the recorded pool
    answers only its own questions; the slow test above covers chat completions)."""
    command = schemathesis_command(
        keyed_server,
        KEY,
        "--exclude-path",
        "/v1/chat/completions",
        "--generation-deterministic",
        max_examples=10,
    )
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
