"""``POST /v1/feedback`` on a real server over the recorded pool: grades join the log and the
default router's estimates."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support import ReplaySuite

SUITE_MODEL = "router-svc:replay_small"


def _ask(base: str, question: str) -> dict[str, Any]:
    body = {"model": SUITE_MODEL, "messages": [{"role": "user", "content": question}], "k": 1}
    response = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _scores(base: str, question: str) -> dict[str, float]:
    body = {"suite": "replay_small", "question": question, "k": 1}
    response = httpx.post(f"{base}/v1/route", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return {s["expert"]: s["probability"] for s in response.json()["assignment"]["scores"]}


def _post(base: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{base}/v1/feedback", json=body, timeout=30)


def test_a_grade_reaches_the_router(replay_server: str, replay_suite: ReplaySuite) -> None:
    question = replay_suite.questions()[3].question
    answer = _ask(replay_server, question)
    expert = answer["router"]["assignment"]["chosen"][0]
    before = _scores(replay_server, question)[expert]
    graded = _post(replay_server, id=answer["id"], thumbs="down")
    assert graded.status_code == 200, graded.text
    assert graded.json()["scores"] == {expert: 0.0}
    deadline = time.monotonic() + 1.0  # the target: visible within 1 s
    while (after := _scores(replay_server, question)[expert]) == before:
        assert time.monotonic() < deadline, "the grade did not reach the router within 1 s"
    assert after < before
    listed = httpx.get(f"{replay_server}/v1/feedback", timeout=30).json()["data"]
    assert answer["id"] in [r["id"] for r in listed]

    dropped = httpx.delete(f"{replay_server}/v1/feedback", timeout=30)
    assert dropped.status_code == 200, dropped.text
    assert dropped.json()["dropped"] >= 1
    assert httpx.get(f"{replay_server}/v1/feedback", timeout=30).json()["data"] == []
    deadline = time.monotonic() + 1.0  # the router forgets what it learned
    while (forgot := _scores(replay_server, question)[expert]) == after:
        assert time.monotonic() < deadline, "the router still holds dropped feedback"
    assert forgot > after


def test_bad_grades_are_4xx_naming_the_field(replay_server: str, replay_suite: ReplaySuite) -> None:
    answer = _ask(replay_server, replay_suite.questions()[5].question)
    cases = [
        ({"id": "chatcmpl-nope", "score": 1.0}, 404, "feedback_target_not_found"),
        ({"id": answer["id"], "score": 1.5}, 400, None),
        ({"id": answer["id"]}, 400, None),
        ({"id": answer["id"], "scores": {"no-such-expert": 1.0}}, 400, None),
    ]
    for body, status, code in cases:
        response = _post(replay_server, **body)
        assert response.status_code == status, (body, response.text)
        if code is not None:
            assert response.json()["error"]["code"] == code
    assert _post(replay_server, id=answer["id"], score=1.0).status_code == 200
    again = _post(replay_server, id=answer["id"], score=0.0)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "feedback_exists"


@pytest.mark.parametrize("field", ["score", "scores"])
def test_out_of_range_names_the_field(
    replay_server: str, replay_suite: ReplaySuite, field: str
) -> None:
    answer = _ask(replay_server, replay_suite.questions()[7].question)
    expert = answer["router"]["assignment"]["chosen"][0]
    value: Any = 2.0 if field == "score" else {expert: -1.0}
    response = _post(replay_server, id=answer["id"], **{field: value})
    assert response.status_code == 400
    assert field in response.text
