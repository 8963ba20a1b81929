"""router_svc.MoE: the server's pipeline in process, on a real profile of the tiny suite."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from router_svc import (
    Answer,
    ConfigError,
    DataError,
    MoE,
    Question,
    RouteDecision,
    RoutingError,
    UnknownComponentError,
)
from router_svc.config.settings import Settings
from router_svc.pipeline import Pipeline

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TINY_TEST = ROOT / "tests" / "fixtures" / "suites" / "tiny" / "test.jsonl"
QUESTION = "What is 12 + 8?"


def tiny_lines(count: int) -> list[dict[str, str]]:
    return [json.loads(line) for line in TINY_TEST.read_text().splitlines()[:count]]


def settings_of(env: dict[str, str]) -> Settings:
    fields = {name.removeprefix("ROUTER_SVC_").lower(): value for name, value in env.items()}
    return Settings.model_validate(fields)


@pytest.fixture(scope="module")
def moe(tiny_profile: dict[str, str]) -> Iterator[MoE]:
    """One MoE for the module, configured the way a user would: from the environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("ROUTER_SVC_")]:
            patch.delenv(name)
        for name, value in tiny_profile.items():
            patch.setenv(name, value)
        moe = MoE.from_config(suite="tiny")
    with moe:
        yield moe


def test_route_explains_the_decision(moe: MoE) -> None:
    decision = moe.route(QUESTION, k=2, tagger="keyword")

    assert isinstance(decision, RouteDecision)
    assert (decision.suite, decision.question, decision.tagger) == ("tiny", QUESTION, "keyword")
    assert decision.options.k == 2
    assert len(decision.chosen) == 2
    assert set(decision.chosen) <= set(decision.scores)
    assert decision.assignment.tags
    assert isinstance(moe.pipeline, Pipeline)


def test_defaults_are_the_servers(moe: MoE) -> None:
    """The pool's k is auto: a team of up to three where the rule says it pays, else one."""
    options = moe.options()
    available = len(moe.pipeline.recruiter.matrix.experts)
    assert moe.runtime.pool.k == "auto"
    assert (options.k, options.auto) == (min(3, available), True)
    assert (options.mode, options.cost_weight) == ("top_k", 0.0)
    assert options.tagger == moe.runtime.pool.tagger.kind
    decision = moe.route(QUESTION)
    assert decision.tagger == moe.pipeline.tagger(None).name
    assert decision.options.k == "auto"
    assert 1 <= len(decision.chosen) <= options.k


def test_answer_routes_generates_and_aggregates(moe: MoE) -> None:
    answer = moe.answer(Question("q", QUESTION, gold_answer="20"), k=2, tagger="keyword")

    assert isinstance(answer, Answer)
    assert (answer.id, answer.question, answer.gold_answer) == ("q", QUESTION, "20")
    assert len(answer.chosen) == 2
    assert [expert.expert for expert in answer.experts] == answer.chosen
    assert all(expert.text or expert.error for expert in answer.experts)
    assert answer.method in {"aggregator", "unanimous", "majority", "single", "none"}
    assert answer.text
    assert isinstance(answer.correct, bool)
    assert answer.tokens.total > 0
    assert {"tag", "route", "experts"} <= answer.timings.batch.keys()


def test_run_batch_answers_in_order_loading_each_expert_once(moe: MoE) -> None:
    lines = tiny_lines(4)
    loads = moe.runtime.stats.loads

    answers = moe.run_batch([*lines[:3], lines[3]["question"]], k=2, tagger="keyword")

    assert [a.id for a in answers][:3] == [line["id"] for line in lines[:3]]
    assert answers[3].question == lines[3]["question"] and answers[3].correct is None
    assert all(isinstance(a.correct, bool) for a in answers[:3])
    assert all(len(a.chosen) == 2 and a.final is not None for a in answers)
    experts = {expert for answer in answers for expert in answer.chosen}
    assert moe.runtime.stats.loads - loads <= len(experts) + 1  # + the aggregator


def test_run_batch_reads_a_jsonl_file(moe: MoE, tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text('{"id": "a", "question": "What is 2 + 3?"}\n\n{"id": 7, "question": "Hi"}\n')

    answers = moe.run_batch(path, k=1, tagger="keyword")

    assert [answer.id for answer in answers] == ["a", "7"]


def test_bad_arguments_are_errors_of_the_tree(moe: MoE, tmp_path: Path) -> None:
    with pytest.raises(UnknownComponentError, match="no tagger named 'nope'"):
        moe.route(QUESTION, tagger="nope")
    with pytest.raises(RoutingError, match="k: Input should be greater than or equal to 1"):
        moe.answer(QUESTION, k=0)
    with pytest.raises(ConfigError, match="for one question use answer"):
        moe.run_batch("What is 2 + 2?")
    with pytest.raises(DataError, match="two questions have the id 'a'"):
        moe.run_batch([{"id": "a", "question": "x"}, Question("a", "y")])
    with pytest.raises(DataError, match="question 1: field 'question'"):
        moe.run_batch([{"id": "a"}])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    with pytest.raises(DataError, match=r"bad\.jsonl line 1: invalid JSON"):
        moe.run_batch(bad)


def test_an_unprofiled_suite_fails_at_load(tiny_profile: dict[str, str]) -> None:
    with pytest.raises(DataError, match=r"no profile at .*router-svc profile --suite nope"):
        MoE.from_config(settings=settings_of(tiny_profile), suite="nope")


async def test_the_async_methods(tiny_profile: dict[str, str]) -> None:
    config = tiny_profile["ROUTER_SVC_CONFIG_PATH"]
    async with MoE.from_config(config, suite="tiny", settings=settings_of(tiny_profile)) as moe:
        decision = await moe.aroute("How many legs does an insect have?", k=1, tagger="keyword")
        answer = await moe.aanswer("How many legs does an insect have?", k=1, tagger="keyword")
        batch = await moe.arun_batch(["What is 1 + 1?"], k=1, tagger="keyword")

    assert answer.chosen == decision.chosen
    assert len(batch) == 1 and batch[0].text
