"""The bench's router rows are the registered methods: same classes, same assign, any chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from router_svc.config.registry import ROUTERS
from router_svc.config.routers import SkillPlusOptions
from router_svc.evaluation import improved
from router_svc.evaluation.improved import (
    DROP_ONE,
    LADDER,
    MethodBench,
    MethodRun,
    RoutedSplit,
    best_margin,
)
from router_svc.evaluation.replay_bench import BenchOptions, ReplayBench
from router_svc.replay.data import load_replay
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.suite import suite_from_table
from tests.support import fit_router

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "replay_small.jsonl"


@pytest.fixture(scope="module")
def bench() -> MethodBench:
    data = load_replay(SMALL)
    prepared = ReplayBench(BenchOptions(vectors="hashing")).prepare(
        data.table("validation"), data.table("test")
    )
    val, test = prepared.validation, prepared.test
    suite = suite_from_table(val.table, val.keyword_tags, prepared.skill_embedder, val.vectors)
    return MethodBench(suite, RoutedSplit(test.table, test.keyword_tags, test.vectors))


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("method", ROUTERS.names())
def test_a_row_is_the_registered_method_through_assign(
    bench: MethodBench, method: str, k: int
) -> None:
    router = fit_router(bench.suite, method)
    test = bench.test
    assignments = router.assign(
        test.table.ids,
        test.tags,
        test.skills or [],
        RecruitOptions(k=k),
        vectors=test.vectors,
        texts=test.table.questions,
    )
    experts = test.table.experts
    expected = [[experts.index(name) for name in a.chosen] for a in assignments]
    row = bench.run(MethodRun.default(method, k=k))
    teams = [np.flatnonzero(calls).tolist() for calls in row.calls]
    assert teams == [sorted(team) for team in expected]


def test_chunks_change_nothing(bench: MethodBench, monkeypatch: pytest.MonkeyPatch) -> None:
    router = bench.fit("skill-plus", SkillPlusOptions())
    whole = improved.score_split(router, bench.test)
    monkeypatch.setattr(improved, "CHUNK", 7)
    chunked = improved.score_split(router, bench.test)
    np.testing.assert_allclose(chunked.score, whole.score, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(chunked.relevance, whole.relevance, rtol=1e-6, atol=1e-9)


def test_the_ablation_is_skill_plus_with_its_options(bench: MethodBench) -> None:
    assert LADDER[0].method == "skill"
    assert all(run.method == "skill-plus" for run in (*LADDER[1:], *DROP_ONE))
    assert LADDER[-2].options == SkillPlusOptions()  # the default method, fully on
    assert len({run.options.model_dump_json() for run in DROP_ONE}) == len(DROP_ONE)


def test_calibrated_k_votes_only_among_the_top_three(bench: MethodBench) -> None:
    calibrated = bench.run(LADDER[-1])
    assert set(calibrated.calls.sum(axis=1).tolist()) <= {1, 3}
    single = bench.run(MethodRun.default("skill-plus"))
    np.testing.assert_array_equal(single.calls.sum(axis=1), 1)


def test_symbolic_moe_votes_among_its_distinct_draws(bench: MethodBench) -> None:
    row = bench.run(MethodRun.default("symbolic-moe", k=3))
    assert set(row.calls.sum(axis=1).tolist()) <= {1, 2, 3}


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
