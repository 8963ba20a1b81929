"""Failed generations while profiling: a failure (a model that would not load, a timeout) is
not an observation. It is appended to ``failures.jsonl`` (an audit trail), never stored as a
wrong answer, so it stays out of the profiles and the aggregator ranking and is retried on the
next run; the profile's metadata counts what is still missing, per expert."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from router_svc.execution.runner import TaskResult
from router_svc.questions.jsonl import append_jsonl

FAILURES_FILE = "failures.jsonl"
Stage = Literal["answer", "aggregation"]


def record_failure(folder: Path, stage: Stage, question_id: str, result: TaskResult) -> None:
    """Append one failed task to ``folder/failures.jsonl``."""
    record: dict[str, Any] = {
        "stage": stage,
        "question_id": question_id,
        "expert": result.task.expert,
        "error": result.error or "no completion",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    append_jsonl(folder / FAILURES_FILE, [record])


def missing_per_expert(
    experts: Sequence[str], wanted: Iterable[tuple[str, str]], done: Iterable[tuple[str, str]]
) -> dict[str, int]:
    """Per expert, how many (question, expert) pairs ``wanted`` has and ``done`` lacks."""
    missing = Counter(expert for _, expert in set(wanted) - set(done))
    return {expert: missing[expert] for expert in experts}
