"""POST /v1/route: the routing decision alone, on a real server."""

from __future__ import annotations

import httpx
import pytest

from router_svc.config.routers import DEFAULT_ROUTER

pytestmark = pytest.mark.slow


def test_route_explains_the_decision(api_server: str) -> None:
    response = httpx.post(
        f"{api_server}/v1/route",
        json={"question": "What is 17 + 14?", "k": 2, "tagger": "keyword", "cost_weight": 0.1},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assignment = body["assignment"]
    assert body["suite"] == "tiny"
    assert body["tagger"] == "keyword"
    assert body["options"] == {
        "k": 2,
        "tagger": "keyword",
        "router": DEFAULT_ROUTER,
        "cost_weight": 0.1,
        "mode": "top_k",
        "seed": 0,
    }  # every knob, the defaults filled in
    assert len(assignment["chosen"]) == 2
    assert len(assignment["scores"]) == 4
    assert {s["expert"] for s in assignment["scores"]} >= set(assignment["chosen"])
    assert response.headers["x-router-experts"] == ",".join(assignment["chosen"])
    assert response.headers["x-router-suite"] == "tiny"
    assert "route=" in response.headers["x-router-timings"]
    assert response.headers["x-router-method"] == DEFAULT_ROUTER
    estimates = {s["expert"]: s["probability"] for s in assignment["scores"]}
    assert response.headers["x-router-probabilities"] == ",".join(
        f"{name}={estimates[name]:.3f}" for name in assignment["chosen"]
    )
    by_name = {s["expert"]: s for s in assignment["scores"]}
    evidence = dict(
        entry.split(":", 1) for entry in response.headers["x-router-evidence"].split(",")
    )
    assert list(evidence) == assignment["chosen"]
    for name, levels in evidence.items():
        recorded = by_name[name]["evidence"]
        parsed = dict(level.split("=") for level in levels.split(";"))
        assert list(parsed) == list(recorded)  # every level, in the order the estimate shrinks
        assert "global" in parsed
        for level, pair in parsed.items():
            estimate, questions = pair.split("/")
            assert float(estimate) == pytest.approx(recorded[level]["estimate"], abs=5e-4)
            assert float(questions) == pytest.approx(recorded[level]["questions"], abs=0.05)
    assert response.headers["x-router-cost-penalty"] == ",".join(
        f"{name}={by_name[name]['cost_penalty']:.3f}" for name in assignment["chosen"]
    )


def test_route_takes_messages_and_a_suite_model(api_server: str) -> None:
    response = httpx.post(
        f"{api_server}/v1/route",
        json={
            "model": "router-svc:tiny",
            "messages": [
                {"role": "user", "content": "an earlier turn"},
                {"role": "assistant", "content": "ok"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "How many legs has a spider?"}],
                },
            ],
            "mode": "sampling",
            "seed": 3,
            "k": 3,
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["question"] == "How many legs has a spider?"
    assert len(body["assignment"]["chosen"]) == 3
    assert body["options"]["mode"] == "sampling"


def test_sampling_mode_is_reproducible_with_a_seed(api_server: str) -> None:
    def chosen(seed: int) -> list[str]:
        response = httpx.post(
            f"{api_server}/v1/route",
            json={"question": "What is 4 + 9?", "mode": "sampling", "seed": seed, "k": 2},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        result: list[str] = response.json()["assignment"]["chosen"]
        return result

    assert chosen(5) == chosen(5)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"question": "hi", "k": 0}, "k"),
        ({"question": "hi", "k": 5}, "k"),
        ({"question": "hi", "tagger": "psychic"}, "tagger"),
        ({"question": "hi", "suite": "tiny-typo"}, "suite"),
        ({"question": "hi", "model": "smol-math"}, "model"),
        ({"question": "   "}, "question"),
        ({}, "question"),
        ({"question": "hi", "cost_weight": -1}, "cost_weight"),
        ({"question": "hi", "mode": "best"}, "mode"),
    ],
)
def test_bad_routing_parameters_are_400(
    api_server: str, body: dict[str, object], param: str
) -> None:
    response = httpx.post(f"{api_server}/v1/route", json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert param in error["message"] or param == "question"
