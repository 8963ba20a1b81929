"""Answer a file of questions through the pipeline, one JSON line each, resumable.

Questions go through the pipeline in chunks; each finished chunk is appended to the output
before the next starts, so an interruption loses at most one chunk, and even that chunk's
expert generations come back from the generation cache on the rerun.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from router_svc.assembly import Runtime, build_pipeline
from router_svc.batch.payload import BatchOptions
from router_svc.questions.jsonl import append_jsonl, read_records
from router_svc.questions.suites import load_questions

CHUNK = 24


@dataclass
class RunSummary:
    """What a run did: counts, accuracy where gold answers exist, tokens, loads, time."""

    out: Path
    questions: int = 0
    resumed: int = 0
    graded: int = 0
    correct: int = 0
    tokens: int = 0
    loads: int = 0
    seconds: float = 0.0
    methods: dict[str, int] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.graded if self.graded else None

    def describe(self) -> str:
        accuracy = f"{self.accuracy:.1%} of {self.graded}" if self.accuracy is not None else "n/a"
        return (
            f"{self.questions} questions ({self.resumed} resumed) -> {self.out}\n"
            f"accuracy {accuracy}; {self.tokens} tokens; {self.loads} model loads; "
            f"{self.seconds:.1f} s; final answers by: {self.methods}"
        )


async def run_file(
    runtime: Runtime,
    suite: str,
    data: Path,
    out: Path,
    knobs: BatchOptions,
    *,
    limit: int | None = None,
    progress: bool = True,
) -> RunSummary:
    """Route and answer every question of ``data`` not already in ``out`` with the routing
    ``knobs`` (the pipeline fills in their defaults); closes ``runtime``."""
    questions = load_questions(data)[:limit]
    finished = {r["id"]: r for r in read_records(out, torn_last_line=True, missing_ok=True)}
    todo = [q for q in questions if q.id not in finished]
    summary = RunSummary(out=out, resumed=len(questions) - len(todo))
    started = time.perf_counter()
    try:
        pipeline = build_pipeline(runtime, suite)
        options = pipeline.options(knobs)
        with tqdm(total=len(todo), desc="questions", unit="q", disable=not progress) as bar:
            for start in range(0, len(todo), CHUNK):
                results = await pipeline.answer(
                    todo[start : start + CHUNK], options, progress=False
                )
                records = [r.to_json() for r in results]
                append_jsonl(out, records)
                finished.update({r["id"]: r for r in records})
                bar.update(len(results))
    finally:
        summary.loads = runtime.stats.loads
        await runtime.close()
    summary.seconds = time.perf_counter() - started
    _tally(summary, [finished[q.id] for q in questions if q.id in finished])
    return summary


def _tally(summary: RunSummary, records: Sequence[dict[str, Any]]) -> None:
    summary.questions = len(records)
    for record in records:
        if record["correct"] is not None:
            summary.graded += 1
            summary.correct += bool(record["correct"])
        summary.tokens += record["tokens"]["total"]
        method = record["final"]["method"]
        summary.methods[method] = summary.methods.get(method, 0) + 1
