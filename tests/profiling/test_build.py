"""Profiling on real models: files written, profiles differ, resume after a real interruption."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from router_svc.assembly import Runtime
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.profiling.build import profile_suite, stale_reason, tagger_identity
from router_svc.questions.suites import load_suite
from router_svc.routing.artifacts import ProfileArtifacts
from router_svc.tagging.inventory import SkillInventory
from tests.support import share_models

pytestmark = pytest.mark.slow


def test_profile_files_and_contents(tiny_profile: dict[str, str]) -> None:
    folder = Path(tiny_profile["ROUTER_SVC_SKILLS_DIR"]) / "tiny"
    artifacts = ProfileArtifacts.load(folder)
    assert set(artifacts.profiles) == {"smol-math", "smol-facts", "smol-code", "gemma-fewshot"}
    assert all(p.total == 16 for p in artifacts.profiles.values())
    # Different prompts and models do differently: the profiles are not all the same.
    assert len({json.dumps(p.skills, sort_keys=True) for p in artifacts.profiles.values()}) > 1
    assert len(artifacts.question_tags) == 16
    assert all(artifacts.question_skills[qid] for qid in artifacts.question_tags)
    meta = artifacts.metadata
    assert meta["dataset_hash"] and meta["created_at"] and meta["embedding_model"]
    assert meta["experts"]["smol-math"]["model_fingerprint"]
    assert len(SkillInventory.load(folder)) > 3
    outputs = [json.loads(line) for line in (folder / "outputs.jsonl").read_text().splitlines()]
    assert len(outputs) == 16 * 4
    assert {o["expert"] for o in outputs} == set(artifacts.profiles)
    ranking = artifacts.aggregator_ranking
    assert [r.expert for r in ranking] and artifacts.aggregator == ranking[0].expert
    assert ranking == sorted(ranking, key=lambda r: -r.accuracy)


def test_profile_arithmetic_matches_the_outputs(tiny_profile: dict[str, str]) -> None:
    folder = Path(tiny_profile["ROUTER_SVC_SKILLS_DIR"]) / "tiny"
    artifacts = ProfileArtifacts.load(folder)
    outputs = [json.loads(line) for line in (folder / "outputs.jsonl").read_text().splitlines()]
    for name, profile in artifacts.profiles.items():
        mine = [o for o in outputs if o["expert"] == name]
        assert profile.correct == sum(o["correct"] for o in mine)
        skill = next(iter(profile.skills))
        expected = sum(
            1 if o["correct"] else -1
            for o in mine
            if skill in artifacts.question_skills[o["question_id"]]
        )
        assert profile.skills[skill] == expected


def test_profile_is_current_until_the_pool_changes(
    tiny_profile: dict[str, str], root: Path
) -> None:
    settings = Settings(
        skills_dir=Path(tiny_profile["ROUTER_SVC_SKILLS_DIR"]),
        data_dir=Path(tiny_profile["ROUTER_SVC_DATA_DIR"]),
    )
    suite = load_suite("tiny", Path(tiny_profile["ROUTER_SVC_SUITES_DIR"]))
    pool = load_pool(root / "experts.yaml")
    assert stale_reason(Runtime.create(settings, pool), suite) is None
    changed = [
        e.model_copy(update={"max_tokens": 7}) if e.name == "smol-code" else e for e in pool.experts
    ]
    reason = stale_reason(
        Runtime.create(settings, pool.model_copy(update={"experts": changed})), suite
    )
    assert reason is not None and "smol-code" in reason


def test_a_changed_tagger_rules_or_format_make_the_profile_stale(
    tiny_profile: dict[str, str], root: Path, tmp_path: Path
) -> None:
    skills = tmp_path / "skills"
    shutil.copytree(Path(tiny_profile["ROUTER_SVC_SKILLS_DIR"]) / "tiny", skills / "tiny")
    settings = Settings(skills_dir=skills, data_dir=Path(tiny_profile["ROUTER_SVC_DATA_DIR"]))
    suite = load_suite("tiny", Path(tiny_profile["ROUTER_SVC_SUITES_DIR"]))
    pool = load_pool(root / "experts.yaml")
    runtime = Runtime.create(settings, pool)
    assert stale_reason(runtime, suite) is None  # keyword tags: the LLM tagger is not asked
    path = skills / "tiny" / "profile.json"
    data = json.loads(path.read_text())

    def saved(**metadata: object) -> None:
        path.write_text(json.dumps({**data, "metadata": {**data["metadata"], **metadata}}))

    saved(tagger_identity=tagger_identity(runtime, "llm"))  # as if tagged by the LLM tagger
    assert stale_reason(runtime, suite) is None
    tagger = pool.tagger.model_copy(update={"samples": 3})
    changed = Runtime.create(settings, pool.model_copy(update={"tagger": tagger}))
    reason = stale_reason(changed, suite)
    assert reason is not None and "llm tagger changed" in reason
    for key, words in (("profile_rules", "rules changed"), ("profile_format", "format version")):
        saved(**{key: 0})
        reason = stale_reason(runtime, suite)
        assert reason is not None and words in reason
        saved()


LIMIT = 4
"""Questions of the interrupted run: 4 x 4 experts = 16 outputs, killed after 5 or more."""
PAIRS = LIMIT * 4


async def test_resume_after_interruption(tmp_path: Path, root: Path) -> None:
    share_models(tmp_path / "data")
    env = {
        **os.environ,
        "ROUTER_SVC_SKILLS_DIR": str(tmp_path / "skills"),
        "ROUTER_SVC_SUITES_DIR": str(root / "tests" / "fixtures" / "suites"),
        "ROUTER_SVC_DATA_DIR": str(tmp_path / "data"),
    }
    outputs = tmp_path / "skills" / "tiny" / "outputs.jsonl"
    command = [
        sys.executable,
        "-m",
        "router_svc.cli",
        "profile",
        "--suite",
        "tiny",
        "--tagger",
        "keyword",
        "--limit",
        str(LIMIT),
    ]
    process = subprocess.Popen(
        command, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and _lines(outputs) < 5:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _lines(outputs)
    assert 5 <= before < PAIRS, "the run should have been interrupted part-way"

    settings = Settings(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data")
    runtime = Runtime.create(settings, load_pool(root / "experts.yaml"), use_cache=False)
    suite = load_suite("tiny", root / "tests" / "fixtures" / "suites")
    try:
        await profile_suite(runtime, suite, tagger="keyword", limit=LIMIT)
    finally:
        await runtime.close()
    records = [json.loads(line) for line in outputs.read_text().splitlines()]
    pairs = [(r["question_id"], r["expert"]) for r in records]
    assert len(pairs) == len(set(pairs)) == PAIRS
    # Only what was missing was generated again (plus the aggregator benchmark's calls).
    expert_calls = runtime.stats.generate_calls - _aggregation_calls(tmp_path)
    assert expert_calls == PAIRS - before


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def _aggregation_calls(tmp_path: Path) -> int:
    return _lines(tmp_path / "skills" / "tiny" / "aggregation.jsonl")
