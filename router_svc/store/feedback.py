"""Feedback on the service's answers: what it keeps of each answered question, and the grades.

An ``AnsweredContext`` is what the service needs to turn a grade into evidence: the question,
its tags, the experts that ran and their answers. It is kept for a bounded time (``ttl_s``) and
number (``max_contexts``, the oldest dropped first). A ``FeedbackRecord`` is one graded
answer: per expert, a score in [0, 1]. Records are appended to a log per suite, never
overwritten and never mixed with the validation records; each answer takes one grade
(``add`` refuses a second). Readers follow the log with a cursor (``since``), so every API
process and worker sees every record.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_CONTEXT_TTL_S = 7 * 24 * 3600
DEFAULT_MAX_CONTEXTS = 100_000
DEFAULT_FEEDBACK_TTL_S = 365 * 24 * 3600
MAX_ANSWER_CHARS = 4000
"""Each kept answer is cut to this many characters (the context's size bound per question)."""


@dataclass(frozen=True)
class AnsweredContext:
    """One answered question, as kept for feedback on it."""

    id: str
    """The completion's id (``chatcmpl-...``)."""
    suite: str
    question: str
    tags: list[str]
    experts: list[str]
    """The experts that ran, in the router's order."""
    answers: dict[str, str] = field(default_factory=dict)
    settled: list[str] = field(default_factory=list)
    """The experts whose answer is the final one (a grade of the answer goes to them)."""
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        answers = {k: v[:MAX_ANSWER_CHARS] for k, v in self.answers.items()}
        return json.dumps({**self.__dict__, "answers": answers})

    @classmethod
    def from_json(cls, text: str) -> AnsweredContext:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class FeedbackRecord:
    """A grade of one answer: ``scores`` per expert in [0, 1] (the experts it reveals)."""

    id: str
    suite: str
    question: str
    tags: list[str]
    scores: dict[str, float]
    costs: dict[str, float] = field(default_factory=dict)
    source: str = "api"
    """``api`` (POST /v1/feedback) or ``import`` (a graded log)."""
    created_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        for expert, score in self.scores.items():
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"score of {expert!r} must be in [0, 1], got {score}")
        if not self.scores:
            raise ValueError("feedback needs the score of at least one expert")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> FeedbackRecord:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class FeedbackPage:
    """Records after a cursor, and the cursor after them."""

    records: list[FeedbackRecord]
    cursor: str
    drops: int = 0
    """How often the suite's feedback was dropped: a reader that saw another count must
    forget what it read and start again from ``START``."""


START = "0"
"""The cursor before every record."""


class FeedbackStore(Protocol):
    """Answered questions kept for feedback, and the log of grades per suite."""

    async def remember(self, context: AnsweredContext) -> None: ...

    async def context(self, completion_id: str) -> AnsweredContext | None:
        """The kept context, None when unknown or expired."""
        ...

    async def add(self, record: FeedbackRecord) -> bool:
        """Append ``record``; False (nothing written) when its id was graded already."""
        ...

    async def since(self, suite: str, cursor: str = START) -> FeedbackPage: ...

    async def drop(self, suite: str) -> int:
        """Forget every record of ``suite``; how many there were."""
        ...
