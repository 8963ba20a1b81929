"""The SSE framing: pieces, the first and last chunks, an error after the stream started."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from router_svc.api.streaming import DONE, events, text_pieces
from router_svc.errors import BackendError


@pytest.mark.parametrize("text", ["", "one", "The answer is 42.", "  spaced\n\nout  text "])
def test_pieces_rebuild_the_text(text: str) -> None:
    assert "".join(text_pieces(text)) == text


async def collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [event async for event in stream]


def payloads(raw: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for event in raw:
        assert event.startswith(b"data: ") and event.endswith(b"\n\n")
        body = event[len(b"data: ") : -2]
        out.append(body.decode() if body == b"[DONE]" else json.loads(body))
    return out


async def test_a_stream_has_role_pieces_finish_and_done() -> None:
    async def pieces() -> AsyncIterator[str]:
        for piece in ("Hel", "lo"):
            yield piece

    async def finish() -> dict[str, Any]:
        return {"usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}

    raw = await collect(events("m", {"expert": "e"}, pieces(), finish))
    first, *middle, last, done = payloads(raw)

    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert first["router"] == {"expert": "e"}
    assert [m["choices"][0]["delta"]["content"] for m in middle] == ["Hel", "lo"]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"]["total_tokens"] == 3
    assert done == "[DONE]" and raw[-1] == DONE
    assert len({chunk["id"] for chunk in (first, *middle, last)}) == 1


async def test_a_failure_mid_stream_becomes_an_error_event() -> None:
    async def pieces() -> AsyncIterator[str]:
        yield "partial"
        raise BackendError("expert 'e': llama.cpp failed: boom", expert="e")

    async def finish() -> dict[str, Any]:
        raise AssertionError("not reached")

    *_, error, done = payloads(await collect(events("m", {}, pieces(), finish)))
    assert error["error"]["code"] == "backend_error"
    assert "boom" in error["error"]["message"]
    assert done == "[DONE]"
