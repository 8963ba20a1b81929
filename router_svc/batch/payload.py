"""The batch wire format: one queue entry per question (``BatchPayload``, format version 1).

    {"v": 1, "suite": "starter" | null,
     "question": {"id", "question", "gold_answer"?, "category"?},
     "options": {"k": 3, "tagger": "keyword", "router": "knn-shrinkage", "cost_weight": 0.0,
                 "mode": "top_k", "seed": 0}}

``options`` are the routing knobs (``config.knobs.RoutingKnobs``); an unset one (null or left
out) takes its default when the worker answers (``Pipeline.options``). The API records the
knobs it resolved, so a batch answers as a chat request with the same knobs would.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from router_svc.config.knobs import RoutingKnobs
from router_svc.questions.suites import QuestionRecord

PAYLOAD_VERSION: Literal[1] = 1

BatchOptions = RoutingKnobs
"""The routing knobs of a batch entry (the same type as every other entry point's)."""


class BatchQuestion(QuestionRecord):
    """One line of a batch upload: a suite line whose gold answer is optional."""

    gold_answer: str | None = Field(  # type: ignore[assignment]
        default=None, description="When given, the result says whether the answer is correct."
    )


class BatchPayload(BaseModel):
    """What one queue entry carries: the question, its suite and its routing options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = Field(default=PAYLOAD_VERSION, description="Payload format version.")
    suite: str | None = Field(default=None, description="Profiled suite [the worker's --suite].")
    question: BatchQuestion
    options: RoutingKnobs = Field(
        default_factory=RoutingKnobs, description="Routing knobs; unset: their defaults."
    )

    def to_json(self) -> str:
        return self.model_dump_json()
