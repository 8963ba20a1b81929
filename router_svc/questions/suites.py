"""Benchmark suites: ``eval/suites/<name>/`` holding ``validation.jsonl`` and ``test.jsonl``.

Each line of a split file is one JSON object ``{"id", "question", "gold_answer", "category"?}``;
a file may instead hold one JSON list of such objects. Both splits are loaded and validated
fully before any model work, and every problem is a ``DataError`` naming the file and line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from router_svc.errors import DataError, closest
from router_svc.questions.jsonl import as_object, at, parse_jsonl
from router_svc.types import Question

SPLITS = ("validation", "test")
_DECODER = json.JSONDecoder()


class QuestionRecord(BaseModel):
    """One line of a suite file; unknown fields are allowed and ignored."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str = Field(min_length=1, description="Unique within the suite; ints are converted.")
    question: str = Field(min_length=1, description="The prompt sent to the experts.")
    gold_answer: str = Field(description="A letter A-J, a number or a short text.")
    category: str | None = Field(default=None, description="The skill area, e.g. 'algebra'.")

    def to_question(self) -> Question:
        return Question(self.id, self.question, self.gold_answer, self.category)


RecordT = TypeVar("RecordT", bound=QuestionRecord)


@dataclass(frozen=True)
class Suite:
    """A named suite with its two splits, fully validated."""

    name: str
    path: Path
    validation: list[Question]
    test: list[Question]


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _list_items(text: str, where: str) -> Iterator[tuple[int, object]]:
    """(line number, decoded value) for each element of a file that is one JSON list."""
    position = _skip_space(text, text.index("[") + 1)
    while position < len(text) and text[position] != "]":
        try:
            value, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            message = f"invalid JSON: {exc.msg} (column {exc.colno})"
            raise DataError(f"{where} line {exc.lineno}: {message}") from exc
        yield _line_of(text, position), value
        position = _skip_space(text, end)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
            if text.startswith("]", position):
                line = _line_of(text, position)
                raise DataError(f"{where} line {line}: invalid JSON: trailing comma before ']'")
        elif position < len(text) and text[position] != "]":
            line = _line_of(text, position)
            raise DataError(f"{where} line {line}: invalid JSON: expected ',' or ']'")
    if position >= len(text) or text[position + 1 :].strip():
        line = _line_of(text, min(position, len(text)))
        raise DataError(f"{where} line {line}: invalid JSON: the list is not closed by one ']'")


def _validation_error(exc: ValidationError, where: str, line: int) -> DataError:
    """'<where> line 3: missing field 'question'' or '... field 'id': Input should be ...'."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or None
    if error["type"] == "missing":
        return DataError(f"{at(where, line)}: missing field {field!r}", field)
    return DataError(f"{at(where, line)}: field {field or '(record)'!r}: {error['msg']}", field)


def _record(value: object, where: str, line: int, model: type[RecordT]) -> RecordT:
    try:
        return model.model_validate(as_object(value, where, line))
    except ValidationError as exc:
        raise _validation_error(exc, where, line) from exc


def parse_records(
    items: Iterable[tuple[int, object]], where: str, model: type[RecordT]
) -> list[RecordT]:
    """The records of (line, value) pairs, with unique ids; DataError names the line."""
    first_line: dict[str, int] = {}
    records: list[RecordT] = []
    for line, value in items:
        record = _record(value, where, line, model)
        if record.id in first_line:
            message = f"duplicate id {record.id!r} (first on line {first_line[record.id]})"
            raise DataError(f"{at(where, line)}: {message}", "id")
        first_line[record.id] = line
        records.append(record)
    return records


def read_jsonl_records(
    text: str,
    where: str = "",
    model: type[RecordT] = QuestionRecord,  # type: ignore[assignment]
) -> list[RecordT]:
    """Every question of a JSONL text (a suite file, a batch upload, an SDK batch file).

    ``where`` (a file name, or "" for an upload) starts each DataError's message."""
    return parse_records(parse_jsonl(text, where), where, model)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc


def load_questions(path: Path) -> list[Question]:
    """All questions of one JSONL (or JSON list) file; DataError names the file and line."""
    text = _read_text(path)
    where = str(path)
    is_list = text.lstrip().startswith("[")
    items = _list_items(text, where) if is_list else parse_jsonl(text, where)
    return [record.to_question() for record in parse_records(items, where, QuestionRecord)]


def _known_suites(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(child.name for child in root.iterdir() if (child / "test.jsonl").is_file())


def _suite_dir(name_or_path: str | Path, root: Path) -> Path:
    """The folder of a suite given by name (looked up under ``root``) or by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or "\\" in text:
        folder = Path(name_or_path)
        if not folder.is_dir():
            raise DataError(f"no suite folder at {folder}")
        return folder
    if (root / text).is_dir():
        return root / text
    known = _known_suites(root)
    message = f"no suite named {text!r} under {root}; known: {', '.join(known) or '(none)'}"
    suggestion = closest(text, known)
    raise DataError(f"{message}. Did you mean {suggestion!r}?" if suggestion else message)


def _check_splits(folder: Path, validation: list[Question], test: list[Question]) -> None:
    for split, questions in zip(SPLITS, (validation, test), strict=True):
        if not questions:
            raise DataError(f"{folder / f'{split}.jsonl'}: no questions")
    shared = sorted({q.id for q in validation} & {q.id for q in test})
    if shared:
        raise DataError(
            f"{folder}: ids in both validation.jsonl and test.jsonl: {', '.join(shared[:5])}"
        )


def load_suite(name_or_path: str | Path, root: Path = Path("eval/suites")) -> Suite:
    """Load and validate both splits of a suite, by name under ``root`` or by folder path."""
    folder = _suite_dir(name_or_path, root)
    validation = load_questions(folder / "validation.jsonl")
    test = load_questions(folder / "test.jsonl")
    _check_splits(folder, validation, test)
    return Suite(name=folder.name, path=folder, validation=validation, test=test)


def dataset_hash(questions: Sequence[Question]) -> str:
    """sha256 hex digest of the questions (in order) as canonical JSON."""
    payload = json.dumps(
        [asdict(question) for question in questions],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
