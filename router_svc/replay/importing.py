"""Import recorded outcomes from wide or long tables into a replay file (docs/replay.md).

A **wide** table has one row per question and, per model, a score column named after the model
with ``<model>|model_response`` and ``<model>|total_cost`` beside it (RouterBench's layout, the
default names). A **long** table has one row per question and model (``model``, ``score``,
``cost``, ``response``). Files may be CSV, JSON/JSONL, Parquet or (trusted) pickled pandas
frames, several at once; the split comes from a column, from the file names (``*_train`` /
``*_test``) or from a seeded draw stratified by category. Nothing is written unless every row
is good (or ``skip_bad``), and the written file is loaded back with ``load_replay``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from router_svc.errors import DataError
from router_svc.questions.grading import answer_kind
from router_svc.questions.importers.common import (
    RowError,
    Skipped,
    Split,
    Summary,
    refuse_or_skip,
    seeded_split,
    split_name,
    split_of_file,
    stable_id,
    text_value,
    write_jsonl,
)
from router_svc.questions.importers.tables import Row, read_table
from router_svc.replay.data import NO_CATEGORY, load_replay

Layout = Literal["auto", "wide", "long"]
NO_GOLD = "(no gold)"


class ReplayMapping(BaseModel):
    """Which column holds what; a field left as None is looked up by its usual names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layout: Layout = Field(
        default="auto", description="wide, long, or auto (long if a model column)."
    )
    question: str | None = Field(default=None, description="Question column [prompt, question].")
    id: str | None = Field(default=None, description="Id column [sample_id, id, question_id].")
    category: str | None = Field(default=None, description="Category column [eval_name, category].")
    gold: str | None = Field(default=None, description="Gold column [gold_answer, gold, answer].")
    split: str | None = Field(default=None, description="Split column [split].")
    models: tuple[str, ...] | None = Field(
        default=None,
        description="Wide: the model score columns [those with a response/cost column].",
    )
    response_suffix: str = Field(default="|model_response", description="Wide: response columns.")
    cost_suffix: str = Field(default="|total_cost", description="Wide: cost columns.")
    model_column: str = Field(default="model", description="Long: the model name column.")
    score_column: str = Field(default="score", description="Long: the score column (0..1).")
    cost_column: str = Field(default="cost", description="Long: the cost column (dollars).")
    response_column: str = Field(default="response", description="Long: the response column.")
    id_prefix: str = Field(default="q", description="Prefix of generated ids.")
    test_fraction: float = Field(default=0.5, gt=0, lt=1, description="Seeded share of test rows.")
    seed: int = Field(default=0, description="Seed of the split draw.")


_USUAL: dict[str, tuple[str, ...]] = {
    "question": ("prompt", "question"),
    "id": ("sample_id", "id", "question_id"),
    "category": ("eval_name", "category"),
    "gold": ("gold_answer", "gold", "answer"),
    "split": ("split",),
}


@dataclass
class _Question:
    """One question with the outcomes gathered so far."""

    where: str
    id: str | None
    question: str
    category: str | None
    gold: str | None
    split: Split | None
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)


def _column(values: dict[str, Any], mapping: ReplayMapping, role: str) -> str:
    named: str | None = getattr(mapping, role)
    if named is not None:
        return named
    return next((name for name in _USUAL[role] if name in values), _USUAL[role][0])


def _text(values: dict[str, Any], mapping: ReplayMapping, role: str) -> str | None:
    named = getattr(mapping, role) is not None
    return text_value(values, _column(values, mapping, role), required=named or role == "question")


def _number(values: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = values.get(name)
    if isinstance(value, str):
        value = value.strip() or None
    if value is None:
        if required:
            raise RowError(name, "missing or empty")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowError(name, f"expected a number, got {value!r}") from None
    if math.isnan(number):
        if required:
            raise RowError(name, "missing (NaN)")
        return None
    return number


def _outcome(values: dict[str, Any], score: str, cost: str, response: str) -> dict[str, Any]:
    """One model's outcome from the named columns; score in [0, 1], cost not negative."""
    value = _number(values, score, required=True)
    if value is None or not 0.0 <= value <= 1.0:
        raise RowError(score, f"score {value} is outside [0, 1]")
    outcome: dict[str, Any] = {"score": value}
    dollars = _number(values, cost, required=False)
    if dollars is not None:
        if dollars < 0:
            raise RowError(cost, f"cost {dollars} is negative")
        outcome["cost"] = dollars
    text = values.get(response)
    if isinstance(text, str):
        outcome["response"] = text
    elif text is not None:
        raise RowError(response, f"expected text, got {type(text).__name__}")
    return outcome


def _question(row: Row, mapping: ReplayMapping, file_split: Split | None) -> _Question:
    values = row.values
    split_text = _text(values, mapping, "split")
    return _Question(
        where=row.where,
        id=_text(values, mapping, "id"),
        question=_text(values, mapping, "question") or "",
        category=_text(values, mapping, "category"),
        gold=_text(values, mapping, "gold"),
        split=split_name(split_text, _column(values, mapping, "split"))
        if split_text
        else file_split,
    )


def wide_models(rows: Sequence[Row], mapping: ReplayMapping) -> list[str]:
    """The model names of a wide table: score columns with a response or cost column beside."""
    if mapping.models:
        return list(mapping.models)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row.values))
    suffixes = (mapping.response_suffix, mapping.cost_suffix)
    models = [name for name in columns if any(f"{name}{suffix}" in columns for suffix in suffixes)]
    if not models:
        raise DataError(
            f"{rows[0].path if rows else 'input'}: no model columns found; a wide table has a "
            f"score column per model with '<model>{mapping.response_suffix}' or "
            f"'<model>{mapping.cost_suffix}' beside it (or name them with --model)"
        )
    return models


def _wide(
    row: Row, mapping: ReplayMapping, models: list[str], file_split: Split | None
) -> _Question:
    question = _question(row, mapping, file_split)
    for model in models:
        if model not in row.values:
            raise RowError(model, "missing model column")
        question.outcomes[model] = _outcome(
            row.values, model, model + mapping.cost_suffix, model + mapping.response_suffix
        )
    return question


@dataclass
class _Gathered:
    """Questions in input order, the experts seen and the rows skipped."""

    questions: dict[str, _Question] = field(default_factory=dict)
    experts: dict[str, None] = field(default_factory=dict)
    summary: Summary = field(default_factory=Summary)

    def skip(self, where: str, error: RowError) -> None:
        self.summary.skipped.append(Skipped(where, error.field, error.reason))


def _long_row(row: Row, mapping: ReplayMapping, file_split: Split | None, into: _Gathered) -> None:
    """Add one (question, model) row of a long table to its question."""
    found = _question(row, mapping, file_split)
    model = text_value(row.values, mapping.model_column, required=True) or ""
    outcome = _outcome(
        row.values, mapping.score_column, mapping.cost_column, mapping.response_column
    )
    key = f"id:{found.id}" if found.id is not None else f"text:{found.question}"
    question = into.questions.setdefault(key, found)
    if question.question != found.question:
        raise RowError(_column(row.values, mapping, "question"), f"differs from {question.where}")
    if model in question.outcomes:
        raise RowError(mapping.model_column, f"model {model!r} again (first at {question.where})")
    question.outcomes[model] = outcome
    into.experts[model] = None


def _gather(files: Sequence[Path], mapping: ReplayMapping, trust_pickle: bool) -> _Gathered:
    gathered = _Gathered()
    for path in files:
        rows = read_table(path, trust_pickle=trust_pickle)
        gathered.summary.files[str(path)] = len(rows)
        file_split = split_of_file(path) if len(files) > 1 else None
        long = mapping.layout == "long" or (
            mapping.layout == "auto" and any(mapping.model_column in r.values for r in rows[:1])
        )
        models = [] if long or not rows else wide_models(rows, mapping)
        for row in rows:
            try:
                if long:
                    _long_row(row, mapping, file_split, gathered)
                else:
                    question = _wide(row, mapping, models, file_split)
                    gathered.questions[f"row:{row.where}"] = question
                    gathered.experts.update(dict.fromkeys(models))
            except RowError as exc:
                gathered.skip(row.where, exc)
    return gathered


def _complete(gathered: _Gathered) -> list[_Question]:
    """Questions that record every expert; the others are skipped, naming the missing ones."""
    experts = list(gathered.experts)
    kept: list[_Question] = []
    for question in gathered.questions.values():
        missing = [name for name in experts if name not in question.outcomes]
        if missing:
            error = RowError("model", f"no outcome for {', '.join(missing)}")
            gathered.skip(question.where, error)
        else:
            kept.append(question)
    return kept


def _with_ids(questions: list[_Question], gathered: _Gathered, prefix: str) -> list[_Question]:
    first: dict[str, str] = {}
    kept: list[_Question] = []
    for question in questions:
        if question.id is not None and question.id in first:
            reason = f"duplicate id {question.id!r} (first at {first[question.id]})"
            gathered.summary.skipped.append(Skipped(question.where, "id", reason))
            continue
        if question.id is not None:
            first[question.id] = question.where
        kept.append(question)
    taken = set(first)
    for question in kept:
        question.id = question.id or stable_id(prefix, question.question, taken)
    return kept


def _assign_splits(questions: list[_Question], mapping: ReplayMapping) -> None:
    undecided = [q for q in questions if q.split is None]
    chosen = seeded_split(
        [q.id or "" for q in undecided],
        [q.category or NO_CATEGORY for q in undecided],
        mapping.test_fraction,
        mapping.seed,
    )
    for question in undecided:
        question.split = chosen[question.id or ""]
    for split in ("validation", "test"):
        if not any(q.split == split for q in questions):
            raise DataError(
                f"no {split} rows after the split; a replay file needs both (nothing written)"
            )


def _record(question: _Question) -> dict[str, Any]:
    record: dict[str, Any] = {"id": question.id, "question": question.question}
    if question.gold is not None:
        record["gold_answer"] = question.gold
    if question.category is not None:
        record["category"] = question.category
    record["split"] = question.split
    record["outcomes"] = question.outcomes
    return record


def skipped_path(out: Path) -> Path:
    """Where the skipped rows of an import into ``out`` are listed: ``OUT.skipped.jsonl``."""
    return out.with_name(f"{out.stem}.skipped.jsonl")


def import_replay(
    files: Sequence[Path],
    out: Path,
    mapping: ReplayMapping | None = None,
    *,
    skip_bad: bool = False,
    force: bool = False,
    trust_pickle: bool = False,
) -> Summary:
    """Write the replay file ``out`` from wide or long tables; returns what was done."""
    mapping = mapping or ReplayMapping()
    if out.exists() and not force:
        raise DataError(f"{out} already exists; pass --force (force=True) to replace it")
    if not files:
        raise DataError("no input files given")
    gathered = _gather(files, mapping, trust_pickle)
    questions = _with_ids(_complete(gathered), gathered, mapping.id_prefix)
    summary = gathered.summary
    refuse_or_skip(summary.skipped, skip_bad)
    if not questions:
        raise DataError("no good rows to write (nothing written)")
    _assign_splits(questions, mapping)
    _write(out, questions, summary)
    summary.experts = list(gathered.experts)
    load_replay(out)  # the written file loads, or this is a bug worth a loud error
    return summary


def _write(out: Path, questions: list[_Question], summary: Summary) -> None:
    write_jsonl(out, [_record(q) for q in questions])
    summary.outputs.append(out)
    skipped = skipped_path(out)
    skipped.unlink(missing_ok=True)
    if summary.skipped:
        write_jsonl(skipped, [s.record() for s in summary.skipped])
        summary.outputs.append(skipped)
    for question in questions:
        summary.written[question.split or ""] += 1
        summary.categories[question.category or NO_CATEGORY] += 1
        kind = answer_kind(question.gold, question.question) if question.gold else NO_GOLD
        summary.answer_kinds[kind] += 1
