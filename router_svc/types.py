"""Small records shared by every stage: messages, questions, generation requests and results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat turn."""

    role: Role
    content: str


@dataclass(frozen=True)
class Question:
    """One item of a suite: a question with an optional gold answer and category."""

    id: str
    question: str
    gold_answer: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """A chat request to one expert. ``None`` fields fall back to the expert's own settings."""

    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None
    """A GBNF grammar the output must follow (llama.cpp only)."""
    use_system_prompt: bool = True
    """Prepend the expert's system prompt and few-shot turns (off for tagger/aggregator calls
    that bring their own instructions)."""

    @classmethod
    def user(cls, text: str, **options: object) -> GenerationRequest:
        """A request holding one user message."""
        return cls(messages=(Message("user", text),), **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters after expert defaults and request overrides are merged."""

    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None


@dataclass(frozen=True)
class Completion:
    """What an engine returns for one request."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    """Wall time spent generating this item."""
    finish_reason: str = "stop"
    expert: str = ""
    cached: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class LoadStats:
    """Counters an executor keeps: how many loads and generations, and the time they took."""

    loads: int = 0
    load_seconds: float = 0.0
    generate_calls: int = 0
    generate_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    loads_by_expert: dict[str, int] = field(default_factory=dict)
