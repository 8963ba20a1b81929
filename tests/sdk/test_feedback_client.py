"""``Client.feedback`` / ``AsyncClient.feedback`` against a real server over a recorded pool."""

from __future__ import annotations

import pytest

from router_svc.errors import APIError
from router_svc.sdk import AsyncClient, Client
from tests.support import ReplaySuite


async def test_async_feedback_grades_an_answer(
    replay_server: str, replay_suite: ReplaySuite
) -> None:
    async with AsyncClient(replay_server) as client:
        chat = await client.chat(replay_suite.questions()[30].question, suite="replay_small", k=1)
        graded = await client.feedback(chat.id, score=0.75)
        assert graded.id == chat.id
        assert graded.scores == dict.fromkeys(chat.experts, 0.75)
        with pytest.raises(APIError) as repeated:
            await client.feedback(chat.id, thumbs="up")
    assert repeated.value.status_code == 409


def test_sync_feedback_per_expert(replay_server: str, replay_suite: ReplaySuite) -> None:
    with Client(replay_server) as client:
        chat = client.chat(replay_suite.questions()[31].question, suite="replay_small", k=2)
        graded = client.feedback(chat.id, scores={chat.experts[-1]: 0.0})
        assert graded.scores == {chat.experts[-1]: 0.0}
        with pytest.raises(APIError) as unknown:
            client.feedback("chatcmpl-unknown", thumbs="down")
    assert unknown.value.status_code == 404
