"""The answers' shapes, for the OpenAPI document: what a client generator and schemathesis
check every 200 against (``api.openapi`` puts them in; the routes build the bodies as dicts).

``router`` fields are open objects: they explain the routing (the assignment, each expert's
answer, the aggregation, the usage per stage) and gain fields as the router does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from router_svc.config.knobs import RoutingKnobs

_OUT = ConfigDict(extra="allow")


class Usage(BaseModel):
    model_config = _OUT
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


class AssistantMessage(BaseModel):
    model_config = _OUT
    role: Literal["assistant"]
    content: str


class Choice(BaseModel):
    model_config = _OUT
    index: Literal[0]
    message: AssistantMessage
    finish_reason: str = Field(description="stop, or length when a generation was cut.")
    logprobs: None


class ChatCompletion(BaseModel):
    """A ``chat.completion``; ``router`` explains a routed answer, or names the expert of a
    direct call."""

    model_config = _OUT
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice] = Field(min_length=1, max_length=1)
    usage: Usage
    router: dict[str, Any]


class Delta(BaseModel):
    model_config = _OUT
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    model_config = _OUT
    index: Literal[0]
    delta: Delta
    finish_reason: str | None
    logprobs: None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed answer (``data: {...}``); the first carries
    ``router``, the last ``usage`` and the final ``router``; ``data: [DONE]`` ends the stream.
    An error after the stream started is an event holding the ``Error`` envelope."""

    model_config = _OUT
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice] = Field(min_length=1, max_length=1)
    usage: Usage | None = None
    router: dict[str, Any] | None = None


class RouteDecision(BaseModel):
    """Which experts would answer, and why; nothing was generated."""

    model_config = _OUT
    suite: str
    question: str
    options: RoutingKnobs = Field(description="The knobs used, defaults filled in.")
    tagger: str
    assignment: dict[str, Any]
    timings: dict[str, float]


class Model(BaseModel):
    model_config = _OUT
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    router: dict[str, Any] = Field(description="kind (router or expert) and its details.")


class ModelList(BaseModel):
    model_config = _OUT
    object: Literal["list"]
    data: list[Model]


class RequestCounts(BaseModel):
    model_config = _OUT
    total: int = Field(ge=0)
    completed: int = Field(ge=0)
    failed: int = Field(ge=0)


class Batch(BaseModel):
    """OpenAI's Batch object, as far as it applies."""

    model_config = _OUT
    id: str
    object: Literal["batch"]
    endpoint: Literal["/v1/batches"]
    status: Literal["queued", "in_progress", "completed", "cancelled"]
    created_at: int
    completed_at: int | None
    cancelled_at: int | None
    request_counts: RequestCounts
    metadata: dict[str, str]
    stages: dict[str, Any] | None = Field(None, description="Cluster mode: per-stage counts.")


class BatchDeleted(BaseModel):
    """A deleted batch: its results and queued questions are gone; it is a 404 from now on."""

    model_config = _OUT
    id: str
    object: Literal["batch.deleted"]
    deleted: Literal[True]


class Health(BaseModel):
    model_config = _OUT
    status: Literal["ok"]


class Ready(BaseModel):
    model_config = _OUT
    status: Literal["ready"]
    suites: list[str] | None = Field(None, description="With an API key: the served suites.")
    experts: list[str] | None = Field(None, description="With an API key: the pool's experts.")


class Feedback(BaseModel):
    model_config = _OUT
    object: Literal["feedback"]
    id: str = Field(description="The graded completion's id.")
    suite: str
    question: str
    tags: list[str]
    scores: dict[str, float] = Field(description="Per expert graded, its score in [0, 1].")
    costs: dict[str, float] = Field(description="Per expert graded, its recorded dollars.")
    source: Literal["api", "import"]
    created_at: float = Field(description="Unix seconds.")


class FeedbackList(BaseModel):
    model_config = _OUT
    object: Literal["list"]
    data: list[Feedback]


class FeedbackDropped(BaseModel):
    model_config = _OUT
    object: Literal["feedback.dropped"]
    suite: str
    dropped: int = Field(description="How many graded answers were forgotten.")


RESPONSES: dict[tuple[str, str], type[BaseModel]] = {
    ("post", "/v1/chat/completions"): ChatCompletion,
    ("post", "/v1/route"): RouteDecision,
    ("get", "/v1/models"): ModelList,
    ("get", "/v1/models/{model_id}"): Model,
    ("post", "/v1/batches"): Batch,
    ("get", "/v1/batches/{batch_id}"): Batch,
    ("delete", "/v1/batches/{batch_id}"): BatchDeleted,
    ("post", "/v1/batches/{batch_id}/cancel"): Batch,
    ("get", "/healthz"): Health,
    ("head", "/healthz"): Health,
    ("get", "/readyz"): Ready,
    ("head", "/readyz"): Ready,
    ("post", "/v1/feedback"): Feedback,
    ("get", "/v1/feedback"): FeedbackList,
    ("delete", "/v1/feedback"): FeedbackDropped,
}
"""The 200 body of each JSON operation."""
