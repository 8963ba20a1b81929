"""What the suite and replay importers share: bad rows, splits, generated ids, atomic writes.

A bad row raises ``RowError`` naming its field; the importer collects them as ``Skipped``
records and either refuses the whole import (the default) or writes the good rows and lists
the skipped ones (``skip_bad``). Ids, when a file has none, are a hash of the question text,
so they stay the same from run to run. A seeded split is stratified by category.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from router_svc.errors import DataError

Split = Literal["validation", "test"]
SPLIT_NAMES: dict[str, Split] = {
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "train": "validation",
    "test": "test",
}
_SHOWN_PROBLEMS = 5


class RowError(ValueError):
    """One bad field of one row."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"field {field_name!r}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class Skipped:
    """A row left out, and why."""

    where: str
    field: str
    reason: str

    def message(self) -> str:
        return f"{self.where}: field {self.field!r}: {self.reason}"

    def record(self) -> dict[str, str]:
        return {"where": self.where, "field": self.field, "reason": self.reason}


@dataclass
class Summary:
    """What an import read and wrote, for the printed summary and for tests."""

    files: dict[str, int] = field(default_factory=dict)
    written: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    answer_kinds: Counter[str] = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    experts: list[str] = field(default_factory=list)
    file_categories: dict[str, str] = field(default_factory=dict)
    """Input file -> the category its name gave the rows that had none."""
    rows_by_file_category: Counter[str] = field(default_factory=Counter)
    """Input file -> how many of its rows took their category from its name."""

    @property
    def rows_read(self) -> int:
        return sum(self.files.values())

    def skip_reasons(self) -> Counter[str]:
        """How many rows were skipped per field and reason."""
        return Counter(f"{s.field}: {s.reason}" for s in self.skipped)


def text_value(values: dict[str, Any], name: str, *, required: bool) -> str | None:
    """The field as text ('' and null count as absent); RowError when required and absent."""
    value = values.get(name)
    if isinstance(value, (dict, list)):
        raise RowError(name, f"expected a string or a number, got {type(value).__name__}")
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise RowError(name, "missing or empty")
        return None
    return text


def refuse_or_skip(skipped: Sequence[Skipped], skip_bad: bool) -> None:
    """Raise a DataError listing the first bad rows, unless bad rows are to be skipped."""
    if not skipped or skip_bad:
        return
    shown = "\n  ".join(s.message() for s in skipped[:_SHOWN_PROBLEMS])
    more = len(skipped) - _SHOWN_PROBLEMS
    tail = f"\n  ... and {more} more" if more > 0 else ""
    raise DataError(
        f"{len(skipped)} bad row(s); nothing was written (--skip-bad writes the good rows and "
        f"lists the skipped ones):\n  {shown}{tail}"
    )


def split_name(text: str, field_name: str) -> Split:
    """'train'/'val'/'dev'/'validation' -> validation, 'test' -> test; else RowError."""
    split = SPLIT_NAMES.get(text.strip().lower())
    if split is None:
        raise RowError(field_name, f"unknown split {text!r}; known: {', '.join(SPLIT_NAMES)}")
    return split


def split_of_file(path: Path) -> Split | None:
    """The split a file name names (``MMLU_Pro_test.json`` -> test), if exactly one."""
    words = set(re.split(r"[^a-z]+", path.stem.lower()))
    found = {SPLIT_NAMES[word] for word in words & SPLIT_NAMES.keys()}
    return found.pop() if len(found) == 1 else None


_SPLIT_WORD = re.compile(
    rf"(?:^|[^a-z0-9])(?:{'|'.join(sorted(SPLIT_NAMES, key=len, reverse=True))})(?=$|[^a-z0-9])",
    re.IGNORECASE,
)


def category_of_file(path: Path) -> str | None:
    """The task a file's name names: its stem less any split word (``gpqa_train.json`` ->
    ``gpqa``, ``MMLU_Pro-test.jsonl`` -> ``MMLU_Pro``); None when nothing is left."""
    name = _SPLIT_WORD.sub("", path.stem).strip("_-. ")
    return name or None


def stable_id(prefix: str, question: str, taken: set[str]) -> str:
    """``prefix-<12 hex of sha256(question)>``, with ``-2``, ``-3`` ... for repeated texts."""
    digest = hashlib.sha256(question.strip().encode("utf-8")).hexdigest()[:12]
    base = f"{prefix}-{digest}" if prefix else digest
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    taken.add(candidate)
    return candidate


def seeded_split(
    ids: Sequence[str], categories: Sequence[str], test_fraction: float, seed: int
) -> dict[str, Split]:
    """A split stratified by category: within each, a seeded shuffle of the sorted ids.

    A category of two or more rows puts at least one in each split, so both splits see it."""
    by_category: dict[str, list[str]] = {}
    for qid, category in zip(ids, categories, strict=True):
        by_category.setdefault(category, []).append(qid)
    chosen: dict[str, Split] = {}
    for category in sorted(by_category):
        members = sorted(by_category[category])
        random.Random(f"{seed}:{category}").shuffle(members)
        tests = _test_count(len(members), test_fraction)
        for index, qid in enumerate(members):
            chosen[qid] = "test" if index < tests else "validation"
    return chosen


def _test_count(size: int, fraction: float) -> int:
    count = round(size * fraction)
    if size >= 2:
        count = min(max(count, 1), size - 1)
    return count


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write JSONL through a temporary file in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
