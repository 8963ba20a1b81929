"""What the SDK accepts as questions and messages, turned into records and request bodies.

A question is a text (an id is made up), a ``router_svc.Question``, or a mapping with the fields
of a batch line (``id``, ``question``, optional ``gold_answer`` and ``category``). A batch is
those, a JSONL file (a path), or JSONL text.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from router_svc.errors import DataError
from router_svc.types import Message, Question


class QuestionInput(BaseModel):
    """One question as the SDK accepts it (a batch line); the gold answer is optional."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    gold_answer: str | None = None
    category: str | None = None


QuestionLike = str | Question | Mapping[str, Any]
"""A question text (an id is made up), a ``router_svc.Question`` or a dict with its fields."""

MessageLike = Message | Mapping[str, Any]


def to_question(item: QuestionLike, index: int = 0) -> Question:
    """A ``Question`` from any accepted input; DataError names the item that is wrong."""
    if isinstance(item, Question):
        return item
    if isinstance(item, str):
        return Question(f"q{index + 1}-{uuid.uuid4().hex[:8]}", item)
    try:
        record = QuestionInput.model_validate(dict(item))
    except (ValidationError, TypeError, ValueError) as exc:
        raise DataError(f"question {index + 1}: {_first_error(exc)}") from exc
    return Question(record.id, record.question, record.gold_answer, record.category)


def to_questions(items: Iterable[QuestionLike]) -> list[Question]:
    return [to_question(item, index) for index, item in enumerate(items)]


def question_json(question: Question) -> dict[str, str]:
    """The batch line of a question (unset optional fields left out)."""
    line = {"id": question.id, "question": question.question}
    if question.gold_answer is not None:
        line["gold_answer"] = question.gold_answer
    if question.category is not None:
        line["category"] = question.category
    return line


def batch_jsonl(questions: str | os.PathLike[str] | Iterable[QuestionLike]) -> str:
    """The JSONL upload: a file (a path, or a str without newlines), JSONL text, or questions."""
    if isinstance(questions, os.PathLike):
        return _read(Path(questions))
    if isinstance(questions, str):
        if "\n" in questions.strip() or questions.lstrip().startswith("{"):
            return questions
        return _read(Path(questions))
    lines = [json.dumps(question_json(q), ensure_ascii=False) for q in to_questions(questions)]
    return "".join(line + "\n" for line in lines)


def message_json(message: MessageLike) -> dict[str, Any]:
    if isinstance(message, Message):
        return {"role": message.role, "content": message.content}
    return dict(message)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{path}: cannot read the batch file: {exc}") from exc


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        return f"field {field!r}: {error['msg']}" if field else str(error["msg"])
    return f"expected a question text, a Question or a mapping ({exc})"
