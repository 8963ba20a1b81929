"""The wire format: OpenAI-compatible request models, the ``model`` field, response bodies.

Request models accept fields they do not know (``extra="allow"``); the routes log them
(``unknown_fields``) instead of failing, as OpenAI clients send many optional ones. Known fields
are strict: ``"stream": "yes"`` or ``"k": "2"`` is a 400 naming the field, not a guess. Tool
calling is not supported: ``tools``, ``functions`` and their choices, ``tool`` messages and
assistant ``tool_calls`` are a 400 with code ``tools_not_supported`` (``refuse_tools``).
The router's own knobs (``config.knobs.RoutingKnobs``) ride along as extra body fields
(``extra_body`` in the ``openai`` client).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    field_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from router_svc.api.errors import invalid
from router_svc.config.knobs import RoutingKnobs, whole
from router_svc.types import Completion, Message

ROUTER_MODEL = "router-svc"
"""``model`` value of the router (default suite); ``router-svc:<suite>`` picks a suite."""

MAX_TOKENS = 1_000_000

_OPEN = ConfigDict(extra="allow", strict=True)

TOOL_FIELDS = ("tools", "tool_choice", "functions", "function_call", "parallel_tool_calls")
"""Request fields of OpenAI's tool calling, refused while no backend here calls tools."""
TOOLS_NOT_SUPPORTED = "tool calling is not supported by this server (see docs/api.md, Tools)"


@dataclass(frozen=True)
class RouterModel:
    """``model`` named the router; ``suite`` None means the default suite."""

    suite: str | None


@dataclass(frozen=True)
class ExpertModel:
    """``model`` named one expert of the pool."""

    name: str


def parse_model(model: str) -> RouterModel | ExpertModel:
    """``router-svc`` / ``router-svc:<suite>`` (the prefix is checked first), else an expert."""
    if model == ROUTER_MODEL:
        return RouterModel(None)
    if model.startswith(f"{ROUTER_MODEL}:"):
        suite = model.removeprefix(f"{ROUTER_MODEL}:")
        if not suite:
            raise invalid(f"model {model!r} names no suite; use 'router-svc:<suite>'", "model")
        return RouterModel(suite)
    return ExpertModel(model)


TEXT_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
"""Published for ``NonBlank`` text: some character that is not whitespace, no NUL."""
NO_NUL_PATTERN = r"^[^\x00]*$"


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise PydanticCustomError("nul_character", "contains a NUL character (\\u0000)")
    return text


def _non_blank(text: str) -> str:
    if not _no_nul(text).strip():
        raise PydanticCustomError("blank_text", "has no text (it is empty or only whitespace)")
    return text


Text = Annotated[
    str, AfterValidator(_no_nul), WithJsonSchema({"type": "string", "pattern": NO_NUL_PATTERN})
]
"""Text without NUL characters (checked in linear time; the pattern is for the document)."""
NonBlank = Annotated[
    str, AfterValidator(_non_blank), WithJsonSchema({"type": "string", "pattern": TEXT_PATTERN})
]
"""Text with a character that is not whitespace, and without NUL characters."""


class ContentPart(BaseModel):
    """One part of a multi-part message; only text parts are supported."""

    model_config = _OPEN
    type: Literal["text"] = Field(description="Part type; only 'text' is supported.")
    text: Text = Field(description="The text of the part.")


def _joined_text(parts: list[ContentPart]) -> list[ContentPart]:
    _non_blank("".join(part.text for part in parts))
    return parts


_SOME_TEXT: JsonDict = {
    "contains": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "pattern": TEXT_PATTERN}},
    }
}
Parts = Annotated[
    list[ContentPart],
    Field(min_length=1, json_schema_extra=_SOME_TEXT),
    AfterValidator(_joined_text),
]
"""Text parts, one of them with a character that is not whitespace."""

_ROLES: list[JsonValue] = ["system", "developer", "user", "assistant"]


def _refuse_tools(value: object) -> None:
    if value is not None:
        raise PydanticCustomError("tools_not_supported", TOOLS_NOT_SUPPORTED)


RefusedTools = Annotated[None, BeforeValidator(_refuse_tools)]
"""A tool-calling field of a message: null or left out; anything else is refused first (before
the turn's other fields), with the code ``tools_not_supported``."""


def _no_tools(*names: str) -> Callable[[dict[str, Any]], None]:
    """A ``json_schema_extra`` declaring the tool-calling fields ``names``: null or left out."""
    refused = {"type": "null", "description": TOOLS_NOT_SUPPORTED}

    def declare(schema: dict[str, Any]) -> None:
        schema.setdefault("properties", {}).update(dict.fromkeys(names, refused))

    return declare


class ChatMessage(BaseModel):
    """One chat turn; ``developer`` is read as ``system``. Every turn has some text."""

    model_config = _OPEN
    tool_calls: RefusedTools = Field(None, description=TOOLS_NOT_SUPPORTED)
    function_call: RefusedTools = Field(None, description=TOOLS_NOT_SUPPORTED)
    role: Literal["system", "developer", "user", "assistant", "tool"] = Field(
        description="Who speaks ('tool' messages are refused: no tool calling).",
        json_schema_extra={"enum": _ROLES},
    )
    content: NonBlank | Parts = Field(description="Text, or text parts.")
    name: str | None = Field(None, description="Optional speaker name (ignored).")

    def text(self, index: int) -> str:
        param = f"messages.{index}.content"
        if isinstance(self.content, str):
            return checked_text(self.content, param)
        return checked_text("".join(part.text for part in self.content), param)

    def to_message(self, index: int) -> Message:
        if self.role == "tool":
            raise invalid(_tool_message(index), f"messages.{index}.role", "tools_not_supported")
        role = "system" if self.role == "developer" else self.role
        return Message(role, self.text(index))

    def refuse_tools(self, index: int) -> None:
        """400 for a ``tool`` message (an assistant turn that calls tools is refused when the
        body is read: ``RefusedTools``)."""
        if self.role == "tool":
            raise invalid(_tool_message(index), f"messages.{index}.role", "tools_not_supported")


def _tool_message(index: int) -> str:
    return f"messages.{index}.role: 'tool' messages carry tool results; {TOOLS_NOT_SUPPORTED}"


def refuse_tools(body: BaseModel, messages: list[ChatMessage] | None) -> None:
    """400 naming the first tool-calling field of a request (see ``TOOL_FIELDS``)."""
    extra = body.model_extra or {}
    for name in TOOL_FIELDS:
        if extra.get(name) is not None:
            raise invalid(f"{name}: {TOOLS_NOT_SUPPORTED}", name, "tools_not_supported")
    for index, message in enumerate(messages or []):
        message.refuse_tools(index)


class RoutingFields(RoutingKnobs):
    """The router's knobs (``config.knobs``), as extra body fields of a chat completion or a
    route request."""

    model_config = _OPEN


_HAS_USER: JsonDict = {
    "contains": {"type": "object", "required": ["role"], "properties": {"role": {"const": "user"}}}
}
ROUTER_PATTERN = f"^{ROUTER_MODEL}(:.+)?$"


def _chat_schema(schema: dict[str, Any]) -> None:
    """Tool fields are null; a routed call's conversation has a user message (the question)."""
    _no_tools(*TOOL_FIELDS)(schema)
    schema["if"] = {"required": ["model"], "properties": {"model": {"pattern": ROUTER_PATTERN}}}
    schema["then"] = {"properties": {"messages": _HAS_USER}}


class ChatCompletionRequest(RoutingFields):
    """``POST /v1/chat/completions``."""

    model_config = ConfigDict(json_schema_extra=_chat_schema)
    model: str = Field(
        json_schema_extra={"minLength": 1},  # "" is a 404 like any unknown name
        description="'router-svc', 'router-svc:<suite>' or an expert name.",
    )
    messages: list[ChatMessage] = Field(min_length=1, description="The conversation.")
    stream: bool = Field(False, description="Answer as server-sent events.")
    temperature: float | None = Field(
        None, ge=0, le=2, allow_inf_nan=False, description="Direct expert calls only."
    )
    top_p: float | None = Field(
        None, gt=0, le=1, allow_inf_nan=False, description="Direct expert calls only."
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKENS,
        description="Limit of the answer; routed calls: of every expert's and the aggregator's.",
    )
    max_completion_tokens: int | None = Field(
        None, ge=1, le=MAX_TOKENS, description="Alias of max_tokens."
    )
    stop: str | list[str] | None = Field(None, description="Stop sequences (direct calls).")
    n: int | None = Field(None, ge=1, le=1, description="Only 1 choice is supported.")
    stream_options: dict[str, Any] | None = Field(None, description="Usage is always sent.")
    user: str | None = Field(None, description="End-user id (logged, not used).")

    whole_limits = field_validator("max_tokens", "max_completion_tokens", "n", mode="before")(whole)

    def token_limit(self) -> int | None:
        """``max_tokens``, or its newer name ``max_completion_tokens``."""
        return self.max_tokens or self.max_completion_tokens

    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


def _one_source(schema: dict[str, Any]) -> None:
    """A route request names its question once (question or messages) and its suite at most
    once (suite or model)."""
    _no_tools(*TOOL_FIELDS)(schema)
    schema["oneOf"] = [{"required": ["question"]}, {"required": ["messages"]}]
    schema["not"] = {"required": ["suite", "model"]}


class RouteRequest(RoutingFields):
    """``POST /v1/route``: a question (or messages) and the routing knobs."""

    model_config = ConfigDict(json_schema_extra=_one_source)
    question: NonBlank | SkipJsonSchema[None] = Field(None, description="The question to route.")
    messages: list[ChatMessage] | SkipJsonSchema[None] = Field(
        None,
        min_length=1,
        description="Or a conversation; its last user message is routed.",
        json_schema_extra=_HAS_USER,
    )
    suite: str | SkipJsonSchema[None] = Field(None, description="Profiled suite [the default].")
    model: str | SkipJsonSchema[None] = Field(
        None, json_schema_extra={"pattern": ROUTER_PATTERN}, description="Or 'router-svc:<suite>'."
    )

    @field_validator("question", "messages", "suite", "model", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("null_value", "is null; leave the field out instead")
        return value


def checked_text(text: str, param: str) -> str:
    """``text``, or a 400 if it holds a NUL character or cannot be encoded as UTF-8 (a lone
    surrogate escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise invalid(f"{param}: not valid UTF-8 text ({exc.reason})", param) from exc
    if "\x00" in text:
        raise invalid(f"{param}: contains a NUL character (\\u0000)", param)
    return text


def unknown_fields(body: BaseModel) -> list[str]:
    """Body fields no model declares (sorted), to be logged."""
    extra = body.model_extra or {}
    return sorted(extra)


def question_of(messages: list[ChatMessage]) -> str:
    """The last user message: the question the router answers (earlier turns are ignored)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return messages[index].text(index).strip()
    raise invalid("messages has no user message: the router answers the last one", "messages")


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_body(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_body(
    model: str, text: str, finish_reason: str, usage: dict[str, int], router: dict[str, Any]
) -> dict[str, Any]:
    """A ``chat.completion`` object with the routing explanation in ``router``."""
    return {
        "id": new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage,
        "router": router,
    }


def chunk_body(
    chunk_id: str,
    model: str,
    delta: dict[str, str],
    finish_reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` object; ``extra`` adds top-level fields (router, usage)."""
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        **extra,
    }


def completion_usage(completions: list[Completion | None]) -> dict[str, int]:
    """Usage summed over every completion of a request."""
    done = [c for c in completions if c is not None]
    return usage_body(sum(c.prompt_tokens for c in done), sum(c.completion_tokens for c in done))
