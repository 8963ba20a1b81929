"""The ``model`` field, the question of a conversation, and the request models' limits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from router_svc.api.errors import HTTPError
from router_svc.api.schemas import (
    ChatCompletionRequest,
    ChatMessage,
    ExpertModel,
    RouterModel,
    parse_model,
    question_of,
    unknown_fields,
)


@pytest.mark.parametrize(
    ("model", "parsed"),
    [
        ("router-svc", RouterModel(None)),
        ("router-svc:starter", RouterModel("starter")),
        ("router-svc:a:b", RouterModel("a:b")),
        ("smol-math", ExpertModel("smol-math")),
        ("router-svcx", ExpertModel("router-svcx")),
        ("Router-svc", ExpertModel("Router-svc")),
    ],
)
def test_parse_model_checks_the_prefix_first(model: str, parsed: RouterModel | ExpertModel) -> None:
    assert parse_model(model) == parsed


def test_a_router_model_without_a_suite_is_400() -> None:
    with pytest.raises(HTTPError) as caught:
        parse_model("router-svc:")
    assert (caught.value.status, caught.value.param) == (400, "model")


def messages(*pairs: tuple[str, str]) -> list[ChatMessage]:
    return [ChatMessage.model_validate({"role": r, "content": c}) for r, c in pairs]


def test_the_question_is_the_last_user_message() -> None:
    conversation = messages(
        ("system", "be brief"), ("user", "first"), ("assistant", "ok"), ("user", "  second  ")
    )
    assert question_of(conversation) == "second"


def test_a_conversation_without_a_user_message_has_no_question() -> None:
    with pytest.raises(HTTPError) as caught:
        question_of(messages(("system", "only a system message")))
    assert (caught.value.status, caught.value.param) == (400, "messages")


@pytest.mark.parametrize(
    "content",
    [None, "", "   ", [], [{"type": "text", "text": " "}], "a\u0000b", [{"type": "image"}]],
)
def test_every_turn_must_have_some_text(content: object) -> None:
    with pytest.raises(ValidationError):
        ChatMessage.model_validate({"role": "assistant", "content": content})


def test_text_parts_are_joined_and_developer_is_system() -> None:
    message = ChatMessage.model_validate(
        {
            "role": "developer",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": ""}],
        }
    )
    converted = message.to_message(0)
    assert (converted.role, converted.content) == ("system", "a")


def test_unknown_fields_are_kept_for_the_log() -> None:
    body = ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "logprobs": True, "zz": 1}
    )
    assert unknown_fields(body) == ["logprobs", "zz"]


@pytest.mark.parametrize(
    "extra",
    [
        {"k": 0},
        {"k": 1.5},
        {"n": 2},
        {"temperature": 2.5},
        {"temperature": float("nan")},
        {"top_p": 0},
        {"seed": -1},
        {"mode": "all"},
        {"router": "skil"},
        {"cost_weight": 1.7976931348623155e308},
    ],
)
def test_out_of_range_fields_are_rejected(extra: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], **extra}
        )


def test_a_whole_number_written_with_a_fraction_is_an_integer() -> None:
    body = ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "seed": 471760.0, "k": 2.0}
    )
    assert (body.seed, body.k) == (471760, 2)
