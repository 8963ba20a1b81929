"""The official ``openai`` client against router-svc: a routed answer, its explanation, a stream.

Start a server first (``router-svc serve``). ROUTER_SVC_URL says where it is (default
http://127.0.0.1:8000); ROUTER_SVC_API_KEY is sent as the API key when the server wants one.

    python examples/chat_openai.py
"""

from __future__ import annotations

import os
from typing import Any

import openai

URL = os.environ.get("ROUTER_SVC_URL", "http://127.0.0.1:8000").rstrip("/")
QUESTION = "What is 12 + 8?"


def router_of(response: Any) -> dict[str, Any]:
    """The ``router`` field: router-svc's explanation, beside OpenAI's own fields."""
    router: dict[str, Any] = (response.model_extra or {}).get("router") or {}
    return router


def first_expert(client: openai.OpenAI) -> str:
    """A model id that names one expert of the pool (``router.kind`` is ``expert``)."""
    for model in client.models.list():
        if router_of(model).get("kind") == "expert":
            return model.id
    raise SystemExit("the server lists no expert")


def main() -> None:
    api_key = os.environ.get("ROUTER_SVC_API_KEY") or "unused"
    client = openai.OpenAI(base_url=f"{URL}/v1", api_key=api_key, max_retries=0)

    # Through the router: the routing knobs ride along as extra body fields.
    completion = client.chat.completions.create(
        model="router-svc",
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"k": 2},
    )
    router = router_of(completion)
    print(f"question: {QUESTION}")
    print(f"answer: {completion.choices[0].message.content}")
    print(f"experts: {', '.join(router['assignment']['chosen'])}")
    print(f"method: {router['aggregation']['method']}")
    print(f"tokens: {completion.usage.total_tokens if completion.usage else 0}")

    # One expert directly, streamed; max_tokens and temperature apply to direct calls.
    expert = first_expert(client)
    stream = client.chat.completions.create(
        model=expert,
        messages=[{"role": "user", "content": "Name a primary colour."}],
        max_tokens=16,
        temperature=0,
        stream=True,
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    print(f"stream from {expert}: {''.join(pieces).strip()}")


if __name__ == "__main__":
    main()
