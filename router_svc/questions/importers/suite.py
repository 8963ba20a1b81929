"""Import questions from JSON, JSONL, CSV or Parquet into a suite folder (``validation.jsonl``
and ``test.jsonl``, the format ``router_svc.questions.suites`` loads).

Fields are found by name (``SuiteMapping``; by default the first of a few usual names), ids are
generated from the question text when a file has none, an options list is written into the
question as ``The options are: (A) ... (B) ...`` with the gold turned into its letter, and rows
are split by a column, by file name (``*_train.json`` / ``*_test.json``) or by a seeded,
category-stratified draw. With several files, a row with no category takes its file's name
(``gpqa_train.json`` -> ``gpqa``), so each file's task keeps its identity. Nothing is
written unless every row is good (or ``skip_bad``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from router_svc.errors import DataError
from router_svc.questions.grading import answer_kind, parse_options
from router_svc.questions.importers.common import (
    RowError,
    Skipped,
    Split,
    Summary,
    category_of_file,
    refuse_or_skip,
    seeded_split,
    split_name,
    split_of_file,
    stable_id,
    text_value,
    write_jsonl,
)
from router_svc.questions.importers.tables import Row, read_table
from router_svc.questions.suites import SPLITS, load_suite

LETTERS = "ABCDEFGHIJ"
_LETTER = re.compile(r"\(?([A-Ja-j])\)?\.?")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
NO_CATEGORY = "(none)"


class SuiteMapping(BaseModel):
    """Which input field holds what; a field left as None is looked up by its usual names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str | None = Field(
        default=None, description="Question field [question, problem, prompt]."
    )
    answer: str | None = Field(default=None, description="Gold answer field [gold_answer, answer].")
    category: str | None = Field(default=None, description="Category field [category, subject].")
    id: str | None = Field(default=None, description="Id field [id, question_id]; else generated.")
    options: str | None = Field(default=None, description="Options list field [options, choices].")
    split: str | None = Field(
        default=None, description="Split field [split]; else file name or seeded."
    )
    answer_is_index: bool = Field(
        default=False, description="The answer is a 0-based option index."
    )
    default_category: str | None = Field(
        default=None, description="Category of rows that have none."
    )
    category_from_file: bool = Field(
        default=True,
        description="With several files, rows that have no category (and no default_category) "
        "take their file's name less any split word: gpqa_train.json -> gpqa.",
    )
    id_prefix: str | None = Field(
        default=None, description="Prefix of generated ids [the suite name]."
    )
    test_fraction: float = Field(
        default=0.5, gt=0, lt=1, description="Share of test rows when seeded."
    )
    seed: int = Field(default=0, description="Seed of the split draw.")


_USUAL: dict[str, tuple[str, ...]] = {
    "question": ("question", "problem", "prompt"),
    "answer": ("gold_answer", "answer"),
    "category": ("category", "subject"),
    "id": ("id", "question_id"),
    "options": ("options", "choices"),
    "split": ("split",),
}


@dataclass(frozen=True)
class _Item:
    """One good row, before ids and splits are settled."""

    where: str
    id: str | None
    question: str
    gold: str
    category: str | None
    split: Split | None
    category_from_file: bool = False
    """The category is the file's name (the row had none)."""


def _field(values: dict[str, Any], mapping: SuiteMapping, role: str) -> str:
    """The name of the field playing ``role`` in this row (the mapped one, or a usual one)."""
    named: str | None = getattr(mapping, role)
    if named is not None:
        return named
    return next((name for name in _USUAL[role] if name in values), _USUAL[role][0])


def _options(value: Any, name: str) -> list[str]:
    """An options list: a list, or a cell holding a JSON list (CSV)."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowError(name, f"not a JSON list: {exc.msg}") from exc
    if not isinstance(value, list) or not all(isinstance(o, (str, int, float)) for o in value):
        raise RowError(name, "expected a list of strings")
    if not 2 <= len(value) <= len(LETTERS):
        raise RowError(name, f"expected 2 to {len(LETTERS)} options, got {len(value)}")
    return [str(option).strip() for option in value]


def render_options(question: str, options: Sequence[str]) -> str:
    """``question`` followed by ``The options are: (A) x (B) y ...``."""
    listed = " ".join(f"({letter}) {text}" for letter, text in zip(LETTERS, options, strict=False))
    return f"{question.rstrip()} The options are: {listed}"


def _letter_gold(gold: str, options: dict[str, str], name: str, is_index: bool) -> str:
    """The gold as the letter of its option: a letter, an option's text or (is_index) a number."""
    if is_index:
        if not gold.isdigit() or int(gold) >= len(options):
            raise RowError(name, f"option index {gold!r} is not in 0..{len(options) - 1}")
        return LETTERS[int(gold)]
    match = _LETTER.fullmatch(gold)
    if match and match[1].upper() in options:
        return match[1].upper()
    by_text = [letter for letter, text in options.items() if text.casefold() == gold.casefold()]
    if len(by_text) == 1:
        return by_text[0]
    if match:
        raise RowError(name, f"answer {gold!r} is not one of the options A-{max(options)}")
    return gold


def _question_and_gold(values: dict[str, Any], mapping: SuiteMapping) -> tuple[str, str]:
    question_field = _field(values, mapping, "question")
    answer_field = _field(values, mapping, "answer")
    question = text_value(values, question_field, required=True) or ""
    gold = text_value(values, answer_field, required=True) or ""
    options_field = _field(values, mapping, "options")
    if values.get(options_field) not in (None, "", []):
        question = render_options(question, _options(values[options_field], options_field))
    options = parse_options(question)
    if options:
        gold = _letter_gold(gold, options, answer_field, mapping.answer_is_index)
    elif mapping.answer_is_index:
        raise RowError(answer_field, "an option index needs options")
    return question, gold


@dataclass(frozen=True)
class _FromFile:
    """What a file's name says about its rows (when several files are imported)."""

    split: Split | None = None
    category: str | None = None


def _item(row: Row, mapping: SuiteMapping, from_file: _FromFile) -> _Item:
    values = row.values
    question, gold = _question_and_gold(values, mapping)
    split_field = _field(values, mapping, "split")
    split_text = text_value(values, split_field, required=mapping.split is not None)
    category_field = _field(values, mapping, "category")
    category = (
        text_value(values, category_field, required=mapping.category is not None)
        or mapping.default_category
    )
    return _Item(
        where=row.where,
        id=text_value(values, _field(values, mapping, "id"), required=mapping.id is not None),
        question=question,
        gold=gold,
        category=category or from_file.category,
        split=split_name(split_text, split_field) if split_text else from_file.split,
        category_from_file=category is None and from_file.category is not None,
    )


def _from_file(path: Path, mapping: SuiteMapping, several: bool) -> _FromFile:
    if not several:
        return _FromFile()
    category = category_of_file(path) if mapping.category_from_file else None
    return _FromFile(split_of_file(path), category)


@dataclass
class _Collected:
    items: list[_Item]
    summary: Summary


def _collect(files: Sequence[Path], mapping: SuiteMapping, trust_pickle: bool) -> _Collected:
    """Every good row of every file; bad rows become Skipped records in the summary."""
    summary = Summary()
    items: list[_Item] = []
    for path in files:
        rows = read_table(path, trust_pickle=trust_pickle)
        summary.files[str(path)] = len(rows)
        from_file = _from_file(path, mapping, len(files) > 1)
        for row in rows:
            try:
                item = _item(row, mapping, from_file)
            except RowError as exc:
                summary.skipped.append(Skipped(row.where, exc.field, exc.reason))
                continue
            items.append(item)
            if item.category_from_file and item.category is not None:
                summary.file_categories[str(path)] = item.category
                summary.rows_by_file_category[str(path)] += 1
    return _Collected(items, summary)


def _assign_ids(collected: _Collected, prefix: str) -> list[tuple[str, _Item]]:
    """Given ids checked for repeats; the others generated from the question text."""
    first: dict[str, str] = {}
    kept: list[_Item] = []
    for item in collected.items:
        if item.id is not None and item.id in first:
            reason = f"duplicate id {item.id!r} (first at {first[item.id]})"
            collected.summary.skipped.append(Skipped(item.where, "id", reason))
            continue
        if item.id is not None:
            first[item.id] = item.where
        kept.append(item)
    taken = set(first)
    return [(item.id or stable_id(prefix, item.question, taken), item) for item in kept]


def _splits(rows: list[tuple[str, _Item]], mapping: SuiteMapping) -> dict[str, Split]:
    undecided = [(qid, item) for qid, item in rows if item.split is None]
    chosen = seeded_split(
        [qid for qid, _ in undecided],
        [item.category or NO_CATEGORY for _, item in undecided],
        mapping.test_fraction,
        mapping.seed,
    )
    chosen.update({qid: item.split for qid, item in rows if item.split is not None})
    return chosen


def _record(qid: str, item: _Item) -> dict[str, str]:
    record = {"id": qid, "question": item.question, "gold_answer": item.gold}
    if item.category is not None:
        record["category"] = item.category
    return record


def _check_target(folder: Path, name: str, force: bool) -> None:
    if not _NAME.fullmatch(name):
        raise DataError(f"suite name {name!r}: use letters, digits, '_', '-' and '.' only")
    existing = [
        folder / f"{split}.jsonl" for split in SPLITS if (folder / f"{split}.jsonl").exists()
    ]
    if existing and not force:
        raise DataError(f"{folder} already holds a suite; pass --force (force=True) to replace it")


def import_suite(
    files: Sequence[Path],
    name: str,
    root: Path = Path("eval/suites"),
    mapping: SuiteMapping | None = None,
    *,
    skip_bad: bool = False,
    force: bool = False,
    trust_pickle: bool = False,
) -> Summary:
    """Write ``root/name/{validation,test}.jsonl`` from ``files``; returns what was done."""
    mapping = mapping or SuiteMapping()
    folder = root / name
    _check_target(folder, name, force)
    if not files:
        raise DataError("no input files given")
    collected = _collect(files, mapping, trust_pickle)
    rows = _assign_ids(collected, mapping.id_prefix or name)
    summary = collected.summary
    refuse_or_skip(summary.skipped, skip_bad)
    split_of = _splits(rows, mapping)
    _write(folder, rows, split_of, summary)
    load_suite(folder)  # the written suite loads, or this is a bug worth a loud error
    return summary


def _write(
    folder: Path, rows: list[tuple[str, _Item]], split_of: dict[str, Split], summary: Summary
) -> None:
    for split in SPLITS:
        if not any(split_of[qid] == split for qid, _ in rows):
            raise DataError(
                f"no {split} rows after the split; a suite needs both (nothing written)"
            )
    for split in SPLITS:
        records = [_record(qid, item) for qid, item in rows if split_of[qid] == split]
        write_jsonl(folder / f"{split}.jsonl", records)
        summary.outputs.append(folder / f"{split}.jsonl")
        summary.written[split] = len(records)
    skipped_path = folder / "skipped.jsonl"
    skipped_path.unlink(missing_ok=True)
    if summary.skipped:
        write_jsonl(skipped_path, [s.record() for s in summary.skipped])
        summary.outputs.append(skipped_path)
    for _, item in rows:
        summary.categories[item.category or NO_CATEGORY] += 1
        summary.answer_kinds[answer_kind(item.gold, item.question)] += 1
