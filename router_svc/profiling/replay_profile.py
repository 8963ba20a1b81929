"""Profiling from recorded outcomes: ``router-svc profile --replay FILE``.

The replay file's validation lines stand in for running the experts: they are tagged, the
inventory is built from their tags, and every recorded outcome becomes an ``outputs.jsonl``
record (with its ``score`` and ``cost``), so ``skills/<suite>/`` holds exactly what a live
profile leaves and ``serve`` routes a recorded pool (``engine: replay`` experts) with the same
artifacts and code. Each routable pool expert is matched to the recorded expert it answers as
(its replay ``options.expert``, else its own name). No aggregation benchmark runs (nothing is
generated): the pipeline then uses the pool's first aggregator candidate.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from router_svc.assembly import Runtime
from router_svc.errors import ConfigError
from router_svc.profiling.build import tag_questions
from router_svc.questions.jsonl import append_jsonl
from router_svc.replay.data import ReplayData, load_replay
from router_svc.routing.artifacts import OUTPUTS_FILE, TAGS_FILE, ProfileArtifacts
from router_svc.routing.profiles import Outcome, build_profiles
from router_svc.tagging.inventory import SkillInventory
from router_svc.tagging.tagger import KeywordTagger, SkillTagger
from router_svc.types import Question
from router_svc.version import __version__


async def profile_replay(
    runtime: Runtime,
    path: Path,
    *,
    suite: str | None = None,
    tagger: SkillTagger | None = None,
    progress: bool = False,
) -> ProfileArtifacts:
    """Profile the pool from ``path``'s validation lines into skills/<suite>/ (the file's
    stem unless named); ``tagger`` defaults to keywords over the validation questions."""
    data = load_replay(path)
    columns = recorded_columns(runtime, data)
    rows = data.rows("validation").tolist()
    questions = [data.questions[row] for row in rows]
    folder = runtime.profile_dir(suite or path.stem)
    tag_with = tagger or KeywordTagger([q.question for q in questions])
    tags = await tag_questions(tag_with, questions, folder / TAGS_FILE, progress=progress)
    inventory = SkillInventory.build(tags.values(), runtime.embedder)
    inventory.save(folder)
    matches = inventory.map_many([tags[q.id] for q in questions], runtime.embedder)
    pairs = zip(questions, matches, strict=True)
    skills = {q.id: list(dict.fromkeys(m.skill for m in ms)) for q, ms in pairs}
    records = [_record(data, row, e, c) for row in rows for e, c in columns.items()]
    _write_outputs(folder / OUTPUTS_FILE, records)
    profiles = build_profiles((_outcome(r) for r in records), skills, list(columns))
    artifacts = ProfileArtifacts(
        suite=suite or path.stem,
        metadata=_metadata(runtime, data, columns, questions, tag_with),
        profiles=profiles,
        question_tags=tags,
        question_skills=skills,
        question_text={q.id: q.question for q in questions},
        question_category={q.id: q.category for q in questions if q.category},
    )
    artifacts.save(folder)
    return artifacts


def recorded_columns(runtime: Runtime, data: ReplayData) -> dict[str, int]:
    """Per routable pool expert, the file's column of the expert it answers as."""
    columns = {}
    for expert in runtime.pool.routable:
        recorded = str(expert.options.get("expert") or expert.name)
        if recorded in data.experts:
            columns[expert.name] = data.experts.index(recorded)
    if not columns:
        raise ConfigError(
            f"{data.path}: no routable expert of the pool is recorded there; it records "
            f"{', '.join(data.experts)} (name the experts so, or set their options.expert)"
        )
    return columns


def _record(data: ReplayData, row: int, expert: str, column: int) -> dict[str, Any]:
    score = float(data.scores[row, column])
    return {
        "question_id": data.questions[row].id,
        "expert": expert,
        "input_key": f"replay:{data.experts[column]}",
        "text": data.responses[row][column],
        "answer": None,
        "correct": score >= 0.5,
        "score": score,
        "cost": float(data.costs[row, column]),
        "error": None,
        "prompt_tokens": 0,
        "completion_tokens": int(data.tokens[row, column]),
        "seconds": 0.0,
    }


def _write_outputs(path: Path, records: list[dict[str, Any]]) -> None:
    """A fresh ``outputs.jsonl``: a replay is read whole, so nothing is resumed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    append_jsonl(path, records)


def _outcome(record: dict[str, Any]) -> Outcome:
    return Outcome(
        question_id=record["question_id"],
        expert=record["expert"],
        score=record["score"],
        completion_tokens=record["completion_tokens"],
        cost=record["cost"],
    )


def _metadata(
    runtime: Runtime,
    data: ReplayData,
    columns: dict[str, int],
    questions: list[Question],
    tagger: SkillTagger,
) -> dict[str, Any]:
    return {
        "router_svc_version": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": "replay",
        "replay_file": str(data.path),
        "replay_sha256": hashlib.sha256(data.path.read_bytes()).hexdigest()[:16],
        "validation_questions": len(questions),
        "experts": {name: {"recorded_as": data.experts[col]} for name, col in columns.items()},
        "tagger": {"name": tagger.name, **runtime.pool.tagger.model_dump(mode="json")},
        "embedding_model": runtime.pool.embedding_model,
    }
