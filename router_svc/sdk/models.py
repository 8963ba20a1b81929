"""The SDK's typed records: pydantic models mirroring the server's JSON.

Every model accepts fields it does not declare (``extra="allow"``), so a newer server that adds
fields does not break an older client. The same records come back from the remote clients
(``router_svc.Client`` / ``AsyncClient``) and from the in-process ``router_svc.MoE``.

    ChatResult       POST /v1/chat/completions   (router: RouterInfo, usage: Usage)
    RouteDecision    POST /v1/route              (assignment: Assignment)
    ModelInfo        GET  /v1/models
    Batch            POST /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel
    Answer           one answered question (QuestionResult.to_json); BatchResult adds ``batch``
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_OPEN = ConfigDict(extra="allow")

FINISHED = ("completed", "cancelled", "failed", "expired")
"""Batch statuses after which nothing changes any more."""


class Usage(BaseModel):
    """Tokens spent on a request: the tagger's, every expert's and the aggregator's."""

    model_config = _OPEN
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class SkillMatch(BaseModel):
    """A tag of the question and the inventory skill it mapped to."""

    model_config = _OPEN
    keyword: str
    skill: str
    similarity: float


class ExpertScore(BaseModel):
    """How the router scored one expert. A method that estimates success probabilities (the
    default) fills in ``probability`` and ``evidence``; a skill-profile method fills in
    ``relevance`` and ``prior``."""

    model_config = _OPEN
    expert: str
    relevance: float | None = None
    """Profile values summed over the question's skills (skill-profile methods)."""
    prior: float | None = None
    """The global-competency prior (skill-profile methods)."""
    cost_penalty: float
    """lambda x the expert's expected cost relative to the most expensive expert."""
    score: float
    """What the choice is taken over: the score minus the cost penalty."""
    probability: float | None = None
    """The estimated chance that the expert answers right (probability methods)."""
    evidence: dict[str, dict[str, float]] | None = None
    """Per level (neighbours, skills, cluster, task, global): {"estimate", "questions"}."""


class Assignment(BaseModel):
    """The explainable routing decision: tags, skills, every expert's score, the chosen ones."""

    model_config = _OPEN
    question_id: str
    tags: list[str] = Field(default_factory=list)
    skills: list[SkillMatch] = Field(default_factory=list)
    scores: list[ExpertScore] = Field(default_factory=list)
    chosen: list[str] = Field(default_factory=list)
    fallback: bool = False
    """True when no skill decided and the global prior picked the experts."""
    escalate_to: str | None = None
    """An escalating team: ``chosen`` is a pair whose shared answer stands; where the two
    disagree this expert answers alone and its answer is final (method ``escalated``)."""
    option: ExpertScore | None = None
    """How the chosen option was scored where it is not one expert (an escalating team: its
    ``expert`` reads ``first + second > escalate_to``); None: ``scores`` has it."""


class ExpertResult(BaseModel):
    """One recruited expert's response; ``error`` is set when it failed."""

    model_config = _OPEN
    expert: str
    text: str | None = None
    answer: str | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False


class Aggregation(BaseModel):
    """How the final answer was reached: unanimous, majority, single, aggregator, escalated
    (an escalating team's third expert answered where the pair disagreed) or none."""

    model_config = _OPEN
    method: str
    aggregator: str | None = None
    """The model that ran after the experts: the aggregator, or an escalating team's third
    expert (None when none ran, or it failed)."""
    answer: str | None = None
    reason: str = ""
    """Why ``method`` settled it (an escalation names each of the pair's answers)."""


class Timings(BaseModel):
    """Seconds: the question's own generations, and the stages of the batch it was answered in
    (``tag``, ``route``, ``experts``, ``aggregate``; shared by every question of the batch)."""

    model_config = _OPEN
    experts: float = 0.0
    """This question's expert generations, summed (cached ones count 0)."""
    aggregate: float = 0.0
    """This question's aggregator generation (0 when it did not run)."""
    batch: dict[str, float] = Field(default_factory=dict)


class RouterInfo(BaseModel):
    """The ``router`` field of a chat answer.

    Routed answers fill ``suite``, ``assignment``, ``experts``, ``aggregation``, ``usage`` and
    ``timings``;
    a direct call to one expert fills ``expert`` and ``cached``. A stream's first chunk carries
    the decision (and ``streaming``), its last chunk the whole explanation.
    """

    model_config = _OPEN
    suite: str | None = None
    assignment: Assignment | None = None
    experts: list[ExpertResult] = Field(default_factory=list)
    aggregation: Aggregation | None = None
    timings: Timings = Field(default_factory=Timings)
    expert: str | None = None
    cached: bool | None = None
    usage_estimated: bool | None = None
    streaming: dict[str, Any] | None = None
    usage: dict[str, Usage] = Field(default_factory=dict)
    """A routed answer's tokens per stage: ``experts`` (all together) and ``aggregator``."""


class ChatMessage(BaseModel):
    model_config = _OPEN
    role: str
    content: str | None = None


class Choice(BaseModel):
    model_config = _OPEN
    index: int = 0
    message: ChatMessage
    finish_reason: str | None = None


class ChatResult(BaseModel):
    """A ``chat.completion`` with the router's explanation; ``text`` is the answer."""

    model_config = _OPEN
    id: str
    object: str = "chat.completion"
    created: int = 0
    model: str
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)
    router: RouterInfo = Field(default_factory=RouterInfo)

    @property
    def text(self) -> str:
        if not self.choices:
            return ""
        return self.choices[0].message.content or ""

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None

    @property
    def experts(self) -> list[str]:
        """The experts that answered: the chosen ones, or the one called directly."""
        return _experts(self.router)

    @property
    def skills(self) -> list[str]:
        """The inventory skills the question mapped to (no duplicates, best match first)."""
        return _skills(self.router.assignment)

    @property
    def scores(self) -> dict[str, float]:
        """Every candidate expert's final score."""
        return _scores(self.router.assignment)

    @property
    def method(self) -> str | None:
        """How the final answer was reached (None for a direct expert call)."""
        return self.router.aggregation.method if self.router.aggregation else None


class RouteOptionsInfo(BaseModel):
    """The routing knobs a decision used, defaults filled in (every knob of
    ``config.knobs.RoutingKnobs`` is here; these three are typed)."""

    model_config = _OPEN
    k: int | Literal["auto"]
    """The experts per question, or ``auto`` (each question's team size is in its
    assignment: ``chosen``)."""
    mode: str = "top_k"
    cost_weight: float = 0.0


class RouteDecision(BaseModel):
    """Which experts would answer a question, and why (nothing is generated)."""

    model_config = _OPEN
    suite: str
    question: str
    options: RouteOptionsInfo
    tagger: str
    assignment: Assignment
    timings: dict[str, float] = Field(default_factory=dict)

    @property
    def chosen(self) -> list[str]:
        return list(self.assignment.chosen)

    @property
    def skills(self) -> list[str]:
        return _skills(self.assignment)

    @property
    def scores(self) -> dict[str, float]:
        return _scores(self.assignment)


class ModelDetails(BaseModel):
    """What a model id is: the router over a suite, or one expert of the pool."""

    model_config = _OPEN
    kind: str = Field(description="'router' or 'expert'.")
    suite: str | None = None
    default: bool | None = None
    engine: str | None = None
    routable: bool | None = None
    tags: list[str] = Field(default_factory=list)


class ModelInfo(BaseModel):
    """One entry of ``GET /v1/models``."""

    model_config = _OPEN
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "router-svc"
    router: ModelDetails

    @property
    def kind(self) -> str:
        return self.router.kind


class RequestCounts(BaseModel):
    model_config = _OPEN
    total: int = 0
    completed: int = 0
    failed: int = 0


class Batch(BaseModel):
    """A batch job (OpenAI's Batch object): status and request counts."""

    model_config = _OPEN
    id: str
    object: str = "batch"
    endpoint: str = "/v1/batches"
    status: str
    created_at: int = 0
    completed_at: int | None = None
    cancelled_at: int | None = None
    request_counts: RequestCounts = Field(default_factory=RequestCounts)
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def done(self) -> int:
        """Questions answered or failed so far."""
        return self.request_counts.completed + self.request_counts.failed

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class FinalAnswer(BaseModel):
    """The settled answer: the extracted ``answer``, the full ``text`` and how it was reached."""

    model_config = _OPEN
    answer: str | None = None
    text: str = ""
    method: str = "none"
    aggregator: str | None = None
    reason: str = ""


class Tokens(BaseModel):
    model_config = _OPEN
    prompt: int = 0
    completion: int = 0
    total: int = 0


class Answer(BaseModel):
    """One answered question: the routing, every expert's answer and the final answer."""

    model_config = _OPEN
    id: str | None = None
    question: str | None = None
    gold_answer: str | None = None
    category: str | None = None
    routing: Assignment | None = None
    experts: list[ExpertResult] = Field(default_factory=list)
    final: FinalAnswer | None = None
    correct: bool | None = None
    """Whether the final answer matches ``gold_answer`` (None without one)."""
    tokens: Tokens = Field(default_factory=Tokens)
    timings: Timings = Field(default_factory=Timings)

    @property
    def answer(self) -> str | None:
        """The extracted final answer (a number, a letter, a short text)."""
        return self.final.answer if self.final else None

    @property
    def text(self) -> str:
        """The final answer's full text."""
        return self.final.text if self.final else ""

    @property
    def chosen(self) -> list[str]:
        return list(self.routing.chosen) if self.routing else []

    @property
    def method(self) -> str | None:
        return self.final.method if self.final else None


class BatchPosition(BaseModel):
    model_config = _OPEN
    index: int
    worker: str | None = None
    deliveries: int | None = None


class BatchError(BaseModel):
    model_config = _OPEN
    message: str
    type: str = ""


class BatchResult(Answer):
    """One line of a batch's results: an ``Answer`` and its place, or the ``error`` it hit."""

    batch: BatchPosition | None = None
    error: BatchError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _experts(router: RouterInfo) -> list[str]:
    if router.assignment is not None:
        return list(router.assignment.chosen)
    return [router.expert] if router.expert else []


def _skills(assignment: Assignment | None) -> list[str]:
    if assignment is None:
        return []
    return list(dict.fromkeys(match.skill for match in assignment.skills))


def _scores(assignment: Assignment | None) -> dict[str, float]:
    if assignment is None:
        return {}
    return {score.expert: score.score for score in assignment.scores}
