"""GET /v1/models: the router per suite and every expert, through the ``openai`` client."""

from __future__ import annotations

import openai
import pytest

pytestmark = pytest.mark.slow


def test_models_lists_the_router_and_the_experts(api_server: str) -> None:
    client = openai.OpenAI(base_url=f"{api_server}/v1", api_key="unused", max_retries=0)
    ids = [model.id for model in client.models.list()]
    assert ids[:2] == ["router-svc", "router-svc:tiny"]
    assert {"smol-math", "smol-facts", "smol-code", "gemma-fewshot", "smol-tagger"} <= set(ids)


def test_one_model_and_an_unknown_one(api_server: str) -> None:
    client = openai.OpenAI(base_url=f"{api_server}/v1", api_key="unused", max_retries=0)
    assert client.models.retrieve("router-svc:tiny").id == "router-svc:tiny"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("smol-mat")
    assert "Did you mean 'smol-math'?" in caught.value.message
