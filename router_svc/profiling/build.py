"""Profiling: run every expert once on a suite's validation split and keep score per skill.

Steps: tag the validation questions -> build the skill inventory -> run every routable expert
on every question (grouped, one load each) -> grade -> +1/-1 per skill -> rank the aggregator
candidates. Every raw output is appended to ``skills/<suite>/`` as it arrives, so an
interrupted run resumes where it stopped, and unchanged inputs are never generated twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from router_svc.aggregation.aggregator import strip_reasoning
from router_svc.assembly import Runtime, llm_tagger
from router_svc.errors import RouterSvcError
from router_svc.execution.runner import TaskResult
from router_svc.pipeline import expert_task
from router_svc.profiling.aggregator_choice import benchmark_aggregators
from router_svc.profiling.failures import missing_per_expert, record_failure
from router_svc.questions.grading import grade
from router_svc.questions.jsonl import append_jsonl, read_records
from router_svc.questions.suites import Suite, dataset_hash
from router_svc.routing.artifacts import OUTPUTS_FILE, TAGS_FILE, VERSION, ProfileArtifacts
from router_svc.routing.profiles import Outcome, build_profiles
from router_svc.tagging.inventory import SkillInventory
from router_svc.tagging.tagger import KeywordTagger, SkillTagger
from router_svc.types import Question
from router_svc.version import __version__

logger = logging.getLogger(__name__)
TAG_CHUNK = 16
PROFILE_RULES = 2
"""The version of the rules a profile is built by: the keyword tagger's, the inventory's
(keywords kept whole, merged by similarity) and the answer grading's. Bump it when one of them
changes, so that ``stale_reason`` asks for a new profile."""


async def profile_suite(
    runtime: Runtime,
    suite: Suite,
    *,
    tagger: str | None = None,
    limit: int | None = None,
    progress: bool = False,
    aggregation_items: int | None = None,
) -> ProfileArtifacts:
    """Profile the pool on ``suite``'s validation split and save it under skills/<suite>/
    (``aggregation_items``: a cap on the aggregation benchmark, at least 200)."""
    folder = runtime.profile_dir(suite.name)
    questions = suite.validation[:limit]
    tag_with = _tagger(runtime, questions, tagger)
    tags = await tag_questions(tag_with, questions, folder / TAGS_FILE, progress=progress)
    inventory = SkillInventory.build(tags.values(), runtime.embedder)
    inventory.save(folder)
    skills = _question_skills(inventory, tags, runtime)
    outputs = await run_experts(runtime, questions, folder / OUTPUTS_FILE, progress=progress)
    experts = [expert.name for expert in runtime.pool.routable]
    profiles = build_profiles((_outcome(o) for o in outputs), skills, experts)
    benchmark = await benchmark_aggregators(
        runtime, questions, outputs, folder, progress=progress, max_items=aggregation_items
    )
    failures = {
        "answers": missing_per_expert(
            experts, ((q.id, e) for q in questions for e in experts), _pairs(outputs)
        ),
        "aggregation": benchmark.failures,
    }
    _warn(failures)
    artifacts = ProfileArtifacts(
        suite=suite.name,
        metadata={**_metadata(runtime, suite, questions, tag_with), "failures": failures},
        profiles=profiles,
        question_tags=tags,
        question_skills=skills,
        question_text={q.id: q.question for q in questions},
        question_category={q.id: q.category for q in questions if q.category},
        aggregator_ranking=benchmark.ranking,
    )
    artifacts.save(folder)
    return artifacts


def _tagger(runtime: Runtime, questions: Sequence[Question], kind: str | None) -> SkillTagger:
    kind = kind or ("llm" if runtime.pool.tagger.expert else "keyword")
    if kind == "llm":
        tagger = llm_tagger(runtime)
        if tagger is not None:
            return tagger
        logger.warning("no tagger.expert in the pool: tagging with keywords instead")
    return KeywordTagger([q.question for q in questions])


async def tag_questions(
    tagger: SkillTagger, questions: Sequence[Question], path: Path, *, progress: bool = False
) -> dict[str, list[str]]:
    """Skill keywords per question; tags already in ``path`` from the same tagger are reused."""
    hashes = {q.id: _text_hash(q.question) for q in questions}
    done = {
        r["question_id"]: r["tags"]
        for r in read_records(path, torn_last_line=True, missing_ok=True)
        if r.get("tagger") == tagger.name and r.get("question_hash") == hashes.get(r["question_id"])
    }
    todo = [q for q in questions if q.id not in done]
    with tqdm(total=len(todo), desc="tag", unit="question", disable=not progress) as bar:
        for start in range(0, len(todo), TAG_CHUNK):
            chunk = todo[start : start + TAG_CHUNK]
            tagged = await tagger.tag([q.question for q in chunk])
            records = [_tag_record(q, t, tagger.name) for q, t in zip(chunk, tagged, strict=True)]
            append_jsonl(path, records)
            done.update({q.id: t for q, t in zip(chunk, tagged, strict=True)})
            bar.update(len(chunk))
    return {q.id: done[q.id] for q in questions}


def _tag_record(question: Question, tags: list[str], tagger: str) -> dict[str, Any]:
    return {
        "question_id": question.id,
        "question_hash": _text_hash(question.question),
        "tagger": tagger,
        "tags": tags,
    }


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _question_skills(
    inventory: SkillInventory, tags: dict[str, list[str]], runtime: Runtime
) -> dict[str, list[str]]:
    ids = list(tags)
    matches = inventory.map_many([tags[qid] for qid in ids], runtime.embedder)
    pairs = zip(ids, matches, strict=True)
    return {qid: list(dict.fromkeys(m.skill for m in ms)) for qid, ms in pairs}


async def run_experts(
    runtime: Runtime, questions: Sequence[Question], path: Path, *, progress: bool = False
) -> list[dict[str, Any]]:
    """Every routable expert on every question; finished outputs in ``path`` are kept.

    A failed task is written to ``failures.jsonl`` instead, and tried again on the next run
    (as is a failure recorded by an older version: an output with an ``error``)."""
    keys = {
        (q.id, e.name): input_key(runtime, e.name, q)
        for q in questions
        for e in runtime.pool.routable
    }
    done = {
        (r["question_id"], r["expert"]): r
        for r in read_records(path, torn_last_line=True, missing_ok=True)
        if _observed(r)
    }
    done = {pair: r for pair, r in done.items() if keys.get(pair) == r.get("input_key")}
    by_id = {q.id: q for q in questions}
    tasks = [expert_task(by_id[qid], expert) for (qid, expert) in keys if (qid, expert) not in done]

    def keep(result: TaskResult) -> None:
        qid = result.task.question_id
        if result.completion is None:
            record_failure(path.parent, "answer", qid, result)
            return
        record = output_record(by_id[qid], result, keys[(qid, result.task.expert)])
        done[(qid, result.task.expert)] = record
        append_jsonl(path, [record])

    await runtime.executor().run(tasks, on_result=keep, progress=progress)
    return [done[pair] for pair in keys if pair in done]


def input_key(runtime: Runtime, expert: str, question: Question) -> str:
    """Changes whenever the expert's config, its weights or the question change."""
    config = runtime.pool.expert(expert).model_dump(mode="json")
    blob = json.dumps([config, runtime.model_identity(expert), question.question], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def output_record(question: Question, result: TaskResult, key: str) -> dict[str, Any]:
    """The record of one finished generation (``result.completion`` is set), graded without
    its reasoning block as serving reads it; ``text`` keeps the raw output."""
    completion = result.completion
    if completion is None:
        raise ValueError(f"{result.task.key}: a failed task is no output ({result.error})")
    served = strip_reasoning(completion.text)  # what serving reads (expert_answers)
    graded = grade(served, question.gold_answer or "", question.question)
    return {
        "question_id": question.id,
        "expert": result.task.expert,
        "input_key": key,
        "text": completion.text,
        "answer": graded.answer,
        "correct": bool(graded.correct),
        "error": None,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "seconds": round(completion.seconds, 4),
    }


def _observed(record: dict[str, Any]) -> bool:
    """An output that observed an answer (older versions stored failures as wrong answers)."""
    return record.get("error") is None and record.get("text") is not None


def _pairs(records: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["question_id"], r["expert"]) for r in records]


def _warn(failures: dict[str, dict[str, int]]) -> None:
    for stage, counts in failures.items():
        for expert, count in counts.items():
            if count:
                logger.warning(
                    "%s: %d %s task(s) failed; left out of the profile, retried on the next run",
                    expert,
                    count,
                    stage,
                )


def _outcome(record: dict[str, Any]) -> Outcome:
    return Outcome(
        question_id=record["question_id"],
        expert=record["expert"],
        score=1.0 if record["correct"] else 0.0,
        prompt_tokens=record["prompt_tokens"],
        completion_tokens=record["completion_tokens"],
    )


def _metadata(
    runtime: Runtime, suite: Suite, questions: Sequence[Question], tagger: SkillTagger
) -> dict[str, Any]:
    pool = runtime.pool
    return {
        "router_svc_version": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset_hash": dataset_hash(questions),
        "validation_questions": len(questions),
        "experts": {
            e.name: {
                "engine": e.engine,
                "model": e.model,
                "model_fingerprint": runtime.model_identity(e.name),
                "config_hash": _config_hash(e.model_dump(mode="json")),
            }
            for e in pool.routable
        },
        "tagger": {"name": tagger.name, **pool.tagger.model_dump(mode="json")},
        "tagger_identity": tagger_identity(runtime, tagger.name),
        "embedding_model": pool.embedding_model,
        "profile_rules": PROFILE_RULES,
        "profile_format": VERSION,
        "suite_path": str(suite.path),
    }


def tagger_identity(runtime: Runtime, name: str) -> dict[str, Any]:
    """What decides the tags of a profile tagged by ``name`` (a tagger's name or kind): its
    kind and, for an LLM tagger, the pool's tagger settings and its expert's config and
    weights (the keyword tagger's rules are ``PROFILE_RULES``)."""
    pool = runtime.pool
    identity: dict[str, Any] = {"kind": name.split(":", 1)[0]}
    if identity["kind"] == "llm" and pool.tagger.expert is not None:
        expert = pool.expert(pool.tagger.expert)
        identity |= {
            "settings": pool.tagger.model_dump(mode="json", exclude={"kind", "neighbours"}),
            "config_hash": _config_hash(expert.model_dump(mode="json")),
            "model_fingerprint": runtime.model_identity(expert.name),
        }
    return identity


def _config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def stale_reason(runtime: Runtime, suite: Suite) -> str | None:
    """Why the saved profile of ``suite`` no longer matches the pool or the data (None: current)."""
    try:
        artifacts = ProfileArtifacts.load(runtime.profile_dir(suite.name))
    except RouterSvcError as exc:
        return str(exc)
    metadata = artifacts.metadata
    saved = metadata.get("experts", {})
    current = _metadata(runtime, suite, suite.validation, KeywordTagger(["x"]))["experts"]
    changed = sorted(
        name for name in current.keys() | saved.keys() if current.get(name) != saved.get(name)
    )
    if changed:
        return f"experts changed since profiling: {', '.join(changed)}"
    if metadata.get("dataset_hash") != dataset_hash(
        suite.validation[: len(artifacts.question_text)]
    ):
        return "the validation data changed since profiling"
    return _rules_changed(runtime, suite, metadata)


def _rules_changed(runtime: Runtime, suite: Suite, metadata: dict[str, Any]) -> str | None:
    """Why the profile's tags or format no longer match this code and tagger (None: same)."""
    if "profile_format" not in metadata:
        return "the profile was built by an older router-svc (it records no format version)"
    if metadata.get("profile_format") != VERSION:
        return (
            f"the profile was written in format version {metadata.get('profile_format')}; "
            f"this router-svc writes version {VERSION}"
        )
    if metadata.get("profile_rules") != PROFILE_RULES:
        return (
            f"the tagging, inventory and grading rules changed since profiling (rules version "
            f"{metadata.get('profile_rules')}, now {PROFILE_RULES})"
        )
    saved = metadata.get("tagger_identity")
    if not isinstance(saved, dict):
        return "the profile records no tagger identity (built by an older router-svc)"
    if saved != tagger_identity(runtime, str(saved.get("kind"))):
        return f"the {saved.get('kind')} tagger changed since profiling"
    return None
