"""The batch wire format: one queue entry per question (``BatchPayload``, format version 1).

    {"v": 1, "suite": "starter" | null,
     "question": {"id", "question", "gold_answer"?, "category"?},
     "options": {"k": 3 | null, "tagger": "keyword" | null, "cost_weight": 0.0,
                 "mode": "top_k", "seed": 0}}

``BatchOptions`` are a request's routing knobs before the defaults are filled in
(``Pipeline.options`` does that); the API, the worker and ``router-svc run`` share them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from router_svc.pipeline import RouteOptions
from router_svc.questions.suites import QuestionRecord

PAYLOAD_VERSION: Literal[1] = 1


class BatchQuestion(QuestionRecord):
    """One line of a batch upload: a suite line whose gold answer is optional."""

    gold_answer: str | None = Field(  # type: ignore[assignment]
        default=None, description="When given, the result says whether the answer is correct."
    )


class BatchOptions(BaseModel):
    """The routing knobs of a batch (``RouteOptions`` on the wire); k None: the pool's k."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int | None = Field(default=None, ge=1, description="Experts per question [pool's k].")
    tagger: str | None = Field(default=None, description="llm, embedding or keyword.")
    cost_weight: float = Field(
        default=0.0, ge=0.0, allow_inf_nan=False, description="Lambda: trade quality for cost."
    )
    mode: Literal["top_k", "sampling"] = Field(
        default="top_k", description="How experts are picked."
    )
    seed: int = Field(default=0, description="Seed of 'sampling' mode.")
    router: str | None = Field(default=None, description="Routing method [the pool's].")

    @classmethod
    def of(cls, options: RouteOptions) -> BatchOptions:
        return cls(
            k=options.k,
            tagger=options.tagger,
            cost_weight=options.cost_weight,
            mode=options.mode,
            seed=options.seed,
            router=options.router,
        )


class BatchPayload(BaseModel):
    """What one queue entry carries: the question, its suite and its routing options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = Field(default=PAYLOAD_VERSION, description="Payload format version.")
    suite: str | None = Field(default=None, description="Profiled suite [the worker's --suite].")
    question: BatchQuestion
    options: BatchOptions = Field(default_factory=BatchOptions)

    def to_json(self) -> str:
        return self.model_dump_json()
