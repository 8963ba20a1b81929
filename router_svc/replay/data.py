"""Replay files: recorded outcomes of every expert on every question, one question a line.

    {"id": "q1", "question": "...", "gold_answer": "B", "category": "math", "split": "test",
     "outcomes": {"expert-a": {"score": 1.0, "response": "The answer is (B).", "cost": 0.0004}}}

``gold_answer``, ``category``, ``response``, ``cost``, ``prompt_tokens`` and ``completion_tokens``
are optional; unknown fields are ignored. Every line must record the same experts. Problems are
``DataError``s naming the file and line. See docs/replay.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from router_svc.errors import DataError
from router_svc.questions.grading import AnswerKind, answer_kind, canonical, extract_answer
from router_svc.questions.jsonl import read_jsonl
from router_svc.replay.outcomes import NO_ANSWER, OutcomeTable
from router_svc.types import Question

Split = Literal["validation", "test"]
NO_CATEGORY = "(none)"


class OutcomeRecord(BaseModel):
    """One expert's recorded outcome on one question."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    score: float = Field(ge=0.0, le=1.0, description="1 right, 0 wrong, graded in between.")
    response: str | None = Field(None, description="The expert's recorded text, if kept.")
    cost: float | None = Field(None, ge=0.0, description="Dollars this generation cost.")
    prompt_tokens: int = Field(0, ge=0, description="Prompt tokens of the generation.")
    completion_tokens: int = Field(0, ge=0, description="Completion tokens of the generation.")


class ReplayRecord(BaseModel):
    """One line of a replay file."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    id: str = Field(min_length=1, description="Unique within the file; ints are converted.")
    question: str = Field(min_length=1, description="The prompt the experts answered.")
    gold_answer: str | None = Field(None, description="The reference answer, if known.")
    category: str | None = Field(None, description="The task family, e.g. 'math'.")
    split: Split = Field(description="validation (profiles are built on it) or test.")
    outcomes: dict[str, OutcomeRecord] = Field(
        min_length=1, description="Per expert name: its recorded outcome."
    )


@dataclass(frozen=True, eq=False)
class ReplayData:
    """A validated replay file as arrays: one row per line, one column per expert."""

    path: Path
    questions: list[Question]
    splits: list[Split]
    experts: list[str]
    scores: np.ndarray
    costs: np.ndarray
    tokens: np.ndarray
    responses: list[list[str | None]]
    has_cost: bool
    _by_text: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_text = {q.question.strip(): row for row, q in enumerate(self.questions)}
        object.__setattr__(self, "_by_text", by_text)

    def row_of(self, question: str) -> int | None:
        """The line (0-based row) whose question text is ``question``, if any."""
        return self._by_text.get(question.strip())

    def rows(self, split: Split) -> np.ndarray:
        return np.array([i for i, s in enumerate(self.splits) if s == split], dtype=int)

    def table(self, split: Split) -> OutcomeTable:
        """The outcome table of one split (answers extracted where responses are recorded)."""
        rows = self.rows(split)
        answers, voted = _answer_codes([self.questions[i] for i in rows], self._cells(rows))
        return OutcomeTable(
            ids=[self.questions[i].id for i in rows],
            questions=[self.questions[i].question for i in rows],
            categories=[self.questions[i].category or NO_CATEGORY for i in rows],
            experts=self.experts,
            scores=self.scores[rows],
            costs=self.costs[rows],
            tokens=self.tokens[rows],
            answers=answers,
            voted=voted,
        )

    def _cells(self, rows: np.ndarray) -> list[list[str | None]]:
        return [self.responses[i] for i in rows]


def load_replay(path: Path) -> ReplayData:
    """Read and validate a replay file; DataError names the file and line of any problem.

    Lines are read one at a time and reduced to arrays at once, so memory stays near the
    size of the arrays, not of the parsed records."""
    where = str(path)
    rows = _Rows()
    first_line: dict[str, int] = {}
    experts: list[str] | None = None
    for number, value in read_jsonl(path):
        record = _parse(value, where, number)
        _check_unique(record.id, first_line, where, number)
        experts = _check_experts(record, experts, where, number)
        rows.add(record, experts)
    if experts is None:
        raise DataError(f"{where}: no questions")
    data = rows.data(path, experts)
    for split in ("validation", "test"):
        if not len(data.rows(split)):
            raise DataError(f"{where}: no {split} lines; every bench needs both splits")
    return data


def _parse(value: object, where: str, number: int) -> ReplayRecord:
    try:
        return ReplayRecord.model_validate(value)
    except ValidationError as exc:
        raise DataError(f"{where} line {number}: {_message(exc)}") from exc


def _message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "(record)"
    if error["type"] == "missing":
        return f"missing field {location!r}"
    return f"field {location!r}: {error['msg']}"


def _check_unique(qid: str, first_line: dict[str, int], where: str, number: int) -> None:
    if qid in first_line:
        raise DataError(
            f"{where} line {number}: duplicate id {qid!r} (first on line {first_line[qid]})"
        )
    first_line[qid] = number


def _check_experts(
    record: ReplayRecord, experts: list[str] | None, where: str, number: int
) -> list[str]:
    names = list(record.outcomes)
    if experts is None:
        return names
    if set(names) != set(experts):
        missing = sorted(set(experts) - set(names))
        extra = sorted(set(names) - set(experts))
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra)}" if extra else "",
            )
            if part
        )
        raise DataError(
            f"{where} line {number}: every line must record the same experts as the first "
            f"({', '.join(experts)}): {detail}"
        )
    return experts


@dataclass
class _Rows:
    """Accumulates validated lines as plain lists."""

    questions: list[Question] = field(default_factory=list)
    splits: list[Split] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)
    costs: list[list[float]] = field(default_factory=list)
    tokens: list[list[int]] = field(default_factory=list)
    responses: list[list[str | None]] = field(default_factory=list)
    has_cost: bool = False

    def add(self, record: ReplayRecord, experts: list[str]) -> None:
        cells = [record.outcomes[name] for name in experts]
        self.questions.append(
            Question(record.id, record.question, record.gold_answer, record.category)
        )
        self.splits.append(record.split)
        self.scores.append([c.score for c in cells])
        self.costs.append([c.cost or 0.0 for c in cells])
        self.tokens.append([c.prompt_tokens + c.completion_tokens for c in cells])
        self.responses.append([c.response for c in cells])
        self.has_cost = self.has_cost or any(c.cost is not None for c in cells)

    def data(self, path: Path, experts: list[str]) -> ReplayData:
        return ReplayData(
            path=path,
            questions=self.questions,
            splits=self.splits,
            experts=experts,
            scores=np.array(self.scores, dtype=float),
            costs=np.array(self.costs, dtype=float),
            tokens=np.array(self.tokens, dtype=float),
            responses=self.responses,
            has_cost=self.has_cost,
        )


def _answer_codes(
    questions: list[Question], responses: list[list[str | None]]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per question, the experts' canonical answers as ints (same answer, same int)."""
    voted = np.array([all(r is not None for r in row) for row in responses], dtype=bool)
    if not voted.any():
        return None, None
    codes = np.full((len(questions), len(responses[0]) if responses else 0), NO_ANSWER)
    memo: dict[tuple[str, str], str] = {}
    for row in np.flatnonzero(voted):
        codes[row] = _codes(questions[row], responses[row], memo)
    return codes, voted


def _codes(
    question: Question, responses: list[str | None], memo: dict[tuple[str, str], str]
) -> list[int]:
    kind = answer_kind(question.gold_answer or "", question.question)
    seen: dict[str, int] = {}
    codes: list[int] = []
    for response in responses:
        key = _answer_key(response or "", kind, memo)
        codes.append(seen.setdefault(key, len(seen)) if key else NO_ANSWER)
    return codes


def _answer_key(response: str, kind: AnswerKind, memo: dict[tuple[str, str], str]) -> str:
    """The canonical answer of a response ('' for none), memoised: responses repeat a lot."""
    if (kind, response) not in memo:
        answer = extract_answer(response, kind) if response else None
        memo[kind, response] = canonical(answer, kind) if answer is not None else ""
    return memo[kind, response]
