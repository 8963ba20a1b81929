"""A failed generation is no observation: recorded as failed, retried on resume, kept out of
profiles and rankings, and counted. The failure is real: an expert whose model file is missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from router_svc.assembly import Runtime
from router_svc.cli.pipeline_commands import show_profile
from router_svc.config.loader import load_pool
from router_svc.config.pool import PoolConfig
from router_svc.config.settings import Settings
from router_svc.profiling.aggregator_choice import benchmark_aggregators
from router_svc.profiling.build import profile_suite
from router_svc.profiling.failures import FAILURES_FILE
from router_svc.questions.suites import load_suite
from router_svc.routing.artifacts import AGGREGATION_FILE, OUTPUTS_FILE

pytestmark = pytest.mark.slow


def pool_with_a_broken_expert(root: Path, tmp_path: Path, candidates: list[str]) -> PoolConfig:
    """smol-math as shipped; smol-code pointing at a model file that does not exist."""
    data = load_pool(root / "experts.yaml").model_dump(mode="json")
    experts = {e["name"]: e for e in data["experts"]}
    broken = {**experts["smol-code"], "model": str(tmp_path / "missing.gguf")}
    data.update(
        experts=[experts["smol-math"], broken],
        aggregator_candidates=candidates,
        tagger={**data["tagger"], "expert": None},
        embedding_model="hashing",
    )
    return PoolConfig.model_validate(data)


def runtime(tmp_path: Path, pool: PoolConfig) -> Runtime:
    settings = Settings(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data")
    return Runtime.create(settings, pool, use_cache=False)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


async def test_failed_answers_are_retried_and_kept_out_of_the_profile(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = pool_with_a_broken_expert(root, tmp_path, [])
    suite = load_suite("tiny", root / "tests" / "fixtures" / "suites")
    folder = tmp_path / "skills" / "tiny"
    for run in (1, 2):
        rt = runtime(tmp_path, pool)
        try:
            artifacts = await profile_suite(rt, suite, tagger="keyword", limit=3)
        finally:
            await rt.close()
        outputs, failures = lines(folder / OUTPUTS_FILE), lines(folder / FAILURES_FILE)
        assert [o["expert"] for o in outputs] == ["smol-math"] * 3  # never regenerated
        assert len(failures) == 3 * run  # retried on every run
        assert {f["expert"] for f in failures} == {"smol-code"}
        assert all("does not exist" in f["error"] for f in failures)
        assert artifacts.profiles["smol-code"].total == 0
        assert artifacts.profiles["smol-code"].skills == {}
        assert artifacts.profiles["smol-math"].total == 3
        assert artifacts.metadata["failures"]["answers"] == {"smol-math": 0, "smol-code": 3}
    assert rt.stats.generate_calls == 0  # the second run had nothing new to generate
    show_profile(artifacts)  # what `router-svc profile` prints
    assert (
        "failed answers (left out, retried on the next run): smol-code 3" in capsys.readouterr().out
    )


def answer_record(qid: str, expert: str, text: str, correct: bool) -> dict[str, Any]:
    return {"question_id": qid, "expert": expert, "text": text, "answer": None, "correct": correct}


async def test_a_failed_aggregator_candidate_is_retried_and_ranked_last(
    root: Path, tmp_path: Path
) -> None:
    pool = pool_with_a_broken_expert(root, tmp_path, ["smol-code", "smol-math"])
    suite = load_suite("tiny", root / "tests" / "fixtures" / "suites")
    questions = [q for q in suite.validation if q.gold_answer and q.gold_answer.isdigit()][:2]
    outputs = [
        record
        for q in questions
        for record in (
            answer_record(q.id, "a", f"The answer is {q.gold_answer}.", True),
            answer_record(q.id, "b", f"The answer is {int(q.gold_answer or 0) + 1}.", False),
            answer_record(q.id, "c", f"The answer is {int(q.gold_answer or 0) + 2}.", False),
        )  # a team of three answers per question, as the benchmark builds its items
    ]
    folder = tmp_path / "skills" / "tiny"
    for run in (1, 2):
        rt = runtime(tmp_path, pool)
        try:
            benchmark = await benchmark_aggregators(rt, questions, outputs, folder)
        finally:
            await rt.close()
        assert [r.expert for r in benchmark.ranking] == ["smol-math", "smol-code"]
        assert [r.items for r in benchmark.ranking] == [2, 0]
        assert benchmark.failures == {"smol-code": 2, "smol-math": 0}
        assert {r["expert"] for r in lines(folder / AGGREGATION_FILE)} == {"smol-math"}
        failed = lines(folder / FAILURES_FILE)
        assert len(failed) == 2 * run
        assert {(f["expert"], f["stage"]) for f in failed} == {("smol-code", "aggregation")}
    assert rt.stats.generate_calls == 0
