"""Bad input is a 4xx in OpenAI's envelope, never a 5xx; the message names the field."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from router_svc.api.errors import HTTPError, error_body
from router_svc.errors import (
    BackendError,
    BackendTimeout,
    ContextLengthError,
    DataError,
    JobNotFoundError,
    NoExpertsError,
    RouterSvcError,
    StoreError,
    UnknownComponentError,
)

USER = [{"role": "user", "content": "What is 4 + 9?"}]


def chat(base_url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/chat/completions", timeout=60, **kwargs)


def check_envelope(response: httpx.Response, status: int, code: str, param: str | None) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert error["param"] == param
    assert isinstance(error["message"], str) and error["message"]
    return str(error["message"])


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"model": "smol-mathh", "messages": USER}, 404, "model_not_found", "model"),
        ({"model": "router-svc:tinyy", "messages": USER}, 404, "model_not_found", "model"),
        ({"model": "router-svc:", "messages": USER}, 400, "invalid_value", "model"),
        ({"model": "router-svc", "messages": USER, "k": 0}, 400, "invalid_value", "k"),
        ({"model": "router-svc", "messages": USER, "k": 5}, 400, "invalid_k", "k"),
        ({"model": "router-svc", "messages": USER, "k": 9}, 400, "invalid_k", "k"),
        ({"model": "router-svc", "messages": USER, "tagger": "x"}, 400, "unknown_tagger", "tagger"),
        ({"model": "router-svc"}, 400, "missing_field", "messages"),
        ({"messages": USER}, 400, "missing_field", "model"),
        ({"model": "router-svc", "messages": []}, 400, "invalid_value", "messages"),
        (
            {"model": "router-svc", "messages": [{"role": "robot", "content": "hi"}]},
            400,
            "invalid_value",
            "messages.0.role",
        ),
        (
            {"model": "router-svc", "messages": [{"role": "assistant", "content": "hi"}]},
            400,
            "invalid_value",
            "messages",
        ),
        (
            {"model": "smol-math", "messages": USER, "temperature": 5},
            400,
            "invalid_value",
            "temperature",
        ),
        ({"model": "smol-math", "messages": USER, "n": 2}, 400, "invalid_value", "n"),
        (
            {
                "model": "router-svc",
                "messages": [{"role": "user", "content": [{"type": "image_url"}]}],
            },
            400,
            "invalid_value",
            "messages.0.content",
        ),
    ],
)
@pytest.mark.slow
def test_bad_chat_requests(
    api_server: str, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    check_envelope(chat(api_server, json=body), status, code, param)


@pytest.mark.slow
def test_unknown_model_suggests_the_closest_name(api_server: str) -> None:
    message = check_envelope(
        chat(api_server, json={"model": "smol-mathh", "messages": USER}),
        404,
        "model_not_found",
        "model",
    )
    assert "Did you mean 'smol-math'?" in message
    assert "router-svc:tiny" in message


@pytest.mark.slow
def test_too_many_messages(api_server: str) -> None:
    messages = [{"role": "user", "content": "hi"}] * 65
    message = check_envelope(
        chat(api_server, json={"model": "smol-math", "messages": messages}),
        400,
        "invalid_value",
        "messages",
    )
    assert "65" in message and "64" in message


@pytest.mark.slow
def test_body_too_large(api_server: str) -> None:
    big = {"model": "smol-math", "messages": [{"role": "user", "content": "a" * 1_100_000}]}
    check_envelope(chat(api_server, json=big), 413, "request_too_large", None)


@pytest.mark.slow
def test_chunked_body_too_large(api_server: str) -> None:
    def chunks() -> Any:
        yield b'{"model": "smol-math", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"a" * 65536
        yield b'"}]}'

    response = chat(api_server, content=chunks(), headers={"content-type": "application/json"})
    check_envelope(response, 413, "request_too_large", None)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'{"model": "router-svc", "messages": [', "invalid_json"),
        (b"[1, 2]", "invalid_body"),
        (b"", "missing_field"),
    ],
)
@pytest.mark.slow
def test_malformed_bodies(api_server: str, content: bytes, code: str) -> None:
    response = chat(api_server, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.slow
def test_unknown_paths_and_methods(api_server: str) -> None:
    check_envelope(httpx.get(f"{api_server}/v1/nothing"), 404, "not_found", None)
    check_envelope(httpx.delete(f"{api_server}/v1/models"), 405, "method_not_allowed", None)


@pytest.mark.slow
def test_openai_client_raises_typed_errors(api_server: str) -> None:
    client = openai.OpenAI(base_url=f"{api_server}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="router-svc", messages=USER, extra_body={"k": 0})  # type: ignore[arg-type]
    assert caught.value.param == "k"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=USER)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "content", "param"),
    [
        ("/v1/route", b'{"question": "hi", "cost_weight": Infinity}', "cost_weight"),
        ("/v1/route", b'{"question": "hi", "mode": "sampling", "seed": -1}', "seed"),
        ("/v1/route", b'{"question": "bad \\ud800 text"}', "question"),
        (
            "/v1/chat/completions",
            b'{"model": "smol-math", "messages": [{"role": "user", "content": "\\udfff"}]}',
            "messages.0.content",
        ),
        (
            "/v1/chat/completions",
            b'{"model": "smol-math", "messages": [{"role": "user", "content": "hi"}], '
            b'"max_tokens": 100000000000000000000}',
            "max_tokens",
        ),
    ],
)
@pytest.mark.slow
def test_values_that_would_break_the_backend_are_400(
    api_server: str, path: str, content: bytes, param: str
) -> None:
    response = httpx.post(
        f"{api_server}{path}",
        content=content,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    check_envelope(response, 400, "invalid_value", param)


@pytest.mark.slow
def test_unencodable_text_in_an_error_message_is_still_an_envelope(api_server: str) -> None:
    content = b'{"model": "no\\ud800pe", "messages": [{"role": "user", "content": "hi"}]}'
    response = chat(api_server, content=content, headers={"content-type": "application/json"})
    check_envelope(response, 404, "model_not_found", "model")


@pytest.mark.slow
def test_a_prompt_longer_than_the_context_is_400(api_server: str) -> None:
    long_text = "word " * 6000
    body = {"model": "smol-facts", "messages": [{"role": "user", "content": long_text}]}
    message = check_envelope(
        chat(api_server, json=body), 400, "context_length_exceeded", "messages"
    )
    assert "context window" in message


@pytest.mark.parametrize(
    ("exc", "status", "code", "param"),
    [
        (UnknownComponentError("expert", "x", ["y"]), 404, "model_not_found", "model"),
        (UnknownComponentError("tagger", "x", ["y"]), 400, "unknown_tagger", "tagger"),
        (NoExpertsError("none"), 400, "routing_error", None),
        (JobNotFoundError("no job"), 404, "job_not_found", None),
        (BackendTimeout("slow", expert="a"), 504, "backend_timeout", None),
        (BackendError("broke", expert="a"), 502, "backend_error", None),
        (ContextLengthError("3000 tokens > 2048"), 400, "context_length_exceeded", "messages"),
        (StoreError("cannot reach Redis"), 503, "store_unavailable", None),
        (DataError("no profile"), 503, "not_ready", None),
        (HTTPError(401, "no key", type="authentication_error", code="k"), 401, "k", None),
        (RouterSvcError("odd"), 500, "internal_error", None),
        (RuntimeError("bug"), 500, "internal_error", None),
    ],
)
def test_error_mapping(exc: Exception, status: int, code: str, param: str | None) -> None:
    body = error_body(exc)
    assert (body.status, body.code, body.param) == (status, code, param)
    assert set(body.envelope()["error"]) == {"message", "type", "param", "code"}


def test_internal_errors_do_not_leak_details() -> None:
    message = error_body(RuntimeError("secret path /etc/x")).message
    assert "secret" not in message
    assert "request id" in message
