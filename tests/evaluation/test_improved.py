"""Router variants: the plain variant is the shipped recruiter, margins, tuning, chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from router_svc.evaluation import routers
from router_svc.evaluation.embedders import HashingEmbedder
from router_svc.evaluation.improved import (
    CALIBRATED,
    FULL,
    LADDER,
    Tuning,
    VariantRunner,
    best_margin,
)
from router_svc.evaluation.replay_bench import BenchOptions, ReplayBench
from router_svc.replay.data import load_replay
from router_svc.routing.recruiter import RecruitOptions, SkillRecruiter

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "replay_small.jsonl"


@pytest.fixture(scope="module")
def runner() -> VariantRunner:
    data = load_replay(SMALL)
    bench = ReplayBench(BenchOptions())
    prepared = bench.prepare(data.table("validation"), data.table("test"))
    return VariantRunner(prepared.validation, prepared.test, prepared.skill_embedder)


def test_plain_variant_is_the_shipped_recruiter_through_assign(runner: VariantRunner) -> None:
    test = runner.pairs["test"][1]
    model = runner.model("test", "keyword")
    recruiter = SkillRecruiter(model.matrix, model.expected_cost)
    tags = test.keyword_tags
    chosen = routers.route(recruiter, test.table, tags, model.matches(tags), RecruitOptions(k=1))
    plain = runner.run(LADDER[0])
    np.testing.assert_array_equal(plain.calls.argmax(axis=1), chosen[:, 0])


def test_chunks_change_nothing(runner: VariantRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    test = runner.pairs["test"][1]
    model = runner.model("test", "combined")
    recruiter = SkillRecruiter(model.matrix, model.expected_cost)
    matches = model.matches(test.combined_tags)
    whole = recruiter.weights(matches)
    options = RecruitOptions(k=2, cost_weight=0.3)
    expected = routers.route(recruiter, test.table, test.combined_tags, matches, options)
    monkeypatch.setattr(routers, "CHUNK", 7)
    weights = routers.SkillWeights.of(recruiter, matches)
    np.testing.assert_array_equal(weights.dense(0, len(matches)), whole)
    np.testing.assert_allclose(
        routers.recruiter_scores(recruiter, weights), recruiter.score(whole).score
    )
    chunked = routers.route(recruiter, test.table, test.combined_tags, matches, options)
    np.testing.assert_array_equal(chunked, expected)


def test_tuned_knobs_come_from_the_grid(runner: VariantRunner) -> None:
    pseudo, blend = runner.knobs(FULL)
    assert pseudo in Tuning().pseudo_grid
    assert blend in Tuning().blend_grid
    assert runner.knobs(LADDER[2]) == (Tuning().pseudo_count, 0.0)


def test_calibrated_k_votes_only_among_the_top_three(runner: VariantRunner) -> None:
    result = runner.run(CALIBRATED)
    calls = result.calls.sum(axis=1)
    assert set(calls.tolist()) <= {1, 3}
    single = runner.run(FULL)
    np.testing.assert_array_equal(single.calls.sum(axis=1), 1)


@pytest.mark.parametrize(
    ("gain", "single", "voted", "expected"),
    [
        ([0.3, 0.2, 0.1], [0, 0, 1], [1, 1, 0], 0.15),  # vote the first two
        ([0.3, 0.2], [1, 1], [0, 1], float("inf")),  # voting never helps
        ([0.3, 0.1], [0, 0], [1, 1], -0.4),  # vote everything
    ],
)
def test_best_margin(
    gain: list[float], single: list[float], voted: list[float], expected: float
) -> None:
    margin = best_margin(np.array(gain), np.array(single, float), np.array(voted, float))
    assert margin == pytest.approx(expected)
    assert ((np.array(gain) > margin) == (np.array(voted) > np.array(single))).all() or (
        margin == float("inf")
    )


def test_hashing_embedder_is_the_default_skill_embedder(runner: VariantRunner) -> None:
    assert isinstance(runner.embedder, HashingEmbedder)
