"""What the API refuses, and how it says so, on a real uvicorn server of the recorded pool (no
model loads): bodies that are not UTF-8, JSON nested too deeply, turns without text, numbers
that are not numbers; and the methods a path answers (405 Allow, HEAD on the probes)."""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

import httpx
import pytest

EXPERT = "atlas-70b"
QUESTION = {"role": "user", "content": "What is 2 + 2?"}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": EXPERT, "messages": [QUESTION], **fields}


def post_bytes(base_url: str, body: bytes) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return httpx.post(f"{base_url}/v1/chat/completions", content=body, headers=headers)


def error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    return dict(response.json()["error"])


@pytest.mark.parametrize(
    ("encoding", "bom", "says"),
    [
        ("utf-8", codecs.BOM_UTF8, "UTF-8 byte order mark"),
        ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16 byte order mark"),
        ("utf-16-be", b"", "NUL bytes"),
        ("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32 byte order mark"),
        ("utf-32-be", b"", "NUL bytes"),
    ],
)
def test_a_body_in_another_encoding_or_with_a_bom_is_a_400(
    replay_server: str, encoding: str, bom: bytes, says: str
) -> None:
    body = bom + json.dumps(chat()).encode(encoding)

    failure = error(post_bytes(replay_server, body))

    assert failure["code"] == "invalid_json"
    assert says in failure["message"]


def test_the_same_body_in_utf8_is_answered(replay_server: str) -> None:
    response = post_bytes(replay_server, json.dumps(chat()).encode("utf-8"))

    assert response.status_code in (200, 502), response.text  # 502: the file lacks the question


def test_json_nested_too_deeply_says_so(replay_server: str) -> None:
    body = b'{"model": "atlas-70b", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"

    failure = error(post_bytes(replay_server, body))

    assert failure["code"] == "invalid_json"
    assert "nested too deeply" in failure["message"]
    assert "UTF-8" not in failure["message"]


@pytest.mark.parametrize("content", [None, "", "  \n", [], [{"type": "text", "text": ""}]])
@pytest.mark.parametrize("model", [EXPERT, "router-svc"])
def test_a_turn_without_text_is_a_400_direct_or_routed(
    replay_server: str, model: str, content: object
) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}

    failure = error(httpx.post(f"{replay_server}/v1/chat/completions", json=body))

    assert failure["param"] == "messages.0.content"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_temperature_that_is_not_a_number_says_so(replay_server: str, value: float) -> None:
    body = json.dumps(chat(temperature=value)).encode()  # json writes NaN, Infinity

    failure = error(post_bytes(replay_server, body))

    assert failure["param"] == "temperature"
    assert "is not a number" in failure["message"]
    assert "<= 2" not in failure["message"]


def test_a_405_allows_every_method_of_the_path(replay_server: str) -> None:
    response = httpx.put(f"{replay_server}/v1/batches/batch_x")

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET"
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_probes_answer_head(replay_server: str, path: str) -> None:
    response = httpx.head(f"{replay_server}{path}")

    assert response.status_code in (200, 503)
    assert response.content == b""
