"""The live bench on the tiny suite: real generations, every strategy, the report files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from router_svc.assembly import Runtime
from router_svc.config.loader import load_pool
from router_svc.config.routers import DEFAULT_ROUTER
from router_svc.config.settings import Settings
from router_svc.evaluation.live_bench import REPLAY_FILE, LiveOptions, live_bench
from router_svc.evaluation.replay_bench import BenchOptions, ReplayBench
from router_svc.questions.suites import load_suite
from router_svc.replay.data import load_replay
from router_svc.types import Question

pytestmark = pytest.mark.slow


async def test_live_bench_writes_the_report(
    tiny_profile: dict[str, str], root: Path, tmp_path: Path
) -> None:
    settings = Settings(
        skills_dir=Path(tiny_profile["ROUTER_SVC_SKILLS_DIR"]),
        suites_dir=Path(tiny_profile["ROUTER_SVC_SUITES_DIR"]),
        data_dir=Path(tiny_profile["ROUTER_SVC_DATA_DIR"]),
    )
    runtime = Runtime.create(settings, load_pool(root / "experts.yaml"))
    suite = load_suite("tiny", settings.suites_dir)
    try:
        folder, results = await live_bench(
            runtime, suite, tmp_path, LiveOptions(k=2, limit=4, bootstrap=50), progress=False
        )
    finally:
        await runtime.close()
    saved = json.loads((folder / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    strategies = results["strategies"]
    expected = {"best-single", "per-category-best", "oracle", "all+vote", "knn",
                "all+aggregator", f"{DEFAULT_ROUTER}:embedding"}  # fmt: skip
    assert results["default_strategy"] == f"{DEFAULT_ROUTER}:embedding"
    assert expected <= strategies.keys()
    singles = [s["accuracy"] for name, s in strategies.items() if name.startswith("single:")]
    assert strategies["oracle"]["accuracy"] >= max(singles)
    assert all(0.0 <= s["accuracy"] <= 1.0 for s in strategies.values())
    _check_question_lines(folder, results, suite.test[:4])
    _check_report_and_plots(folder, results)
    _check_replay_file(folder, results)


def _check_question_lines(folder: Path, results: dict[str, Any], asked: list[Question]) -> None:
    """questions.jsonl: one line per question asked, and each strategy's accuracy is the mean
    of its scores there."""
    records = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [q.id for q in asked]
    assert [r["category"] for r in records] == [q.category for q in asked]
    strategies = results["strategies"]
    assert set(records[0]["scores"]) == set(strategies)
    for name, strategy in strategies.items():
        mean = sum(r["scores"][name] for r in records) / len(records)
        assert strategy["accuracy"] == pytest.approx(mean), name


def _check_report_and_plots(folder: Path, results: dict[str, Any]) -> None:
    """report.md names every strategy and links every plot, each a PNG in the folder."""
    report = (folder / "report.md").read_text()
    assert report.startswith("# Bench report: tiny")
    for name in results["strategies"]:
        assert f"| {name} |" in report, name
    assert results["plots"]
    for plot in results["plots"]:
        assert f"]({plot})" in report
        assert (folder / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _check_replay_file(folder: Path, results: dict[str, Any]) -> None:
    """The run's replay file holds both splits, every expert, and benches offline."""
    data = load_replay(folder / REPLAY_FILE)
    assert data.experts == results["experts"]
    assert len(data.rows("test")) == results["questions"]["test"] == 4
    assert len(data.rows("validation")) == results["questions"]["validation"]
    test = data.table("test")
    records = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    rows = [test.ids.index(record["id"]) for record in records]
    for record, row in zip(records, rows, strict=True):  # each question's line is its own
        for column, expert in enumerate(data.experts):
            assert record["scores"][f"single:{expert}"] == test.scores[row, column]
    single = {e: results["strategies"][f"single:{e}"]["accuracy"] for e in data.experts}
    assert dict(zip(data.experts, test.scores.mean(axis=0).tolist(), strict=True)) == single
    assert all(r is not None for row in data.responses for r in row)
    assert (data.tokens > 0).all()
    options = BenchOptions(bootstrap=50, k=2, vectors="hashing", ablation=False)
    run = ReplayBench(options).run(folder / REPLAY_FILE, folder / "offline")
    offline = run.results["strategies"]
    for e in data.experts:
        assert offline[f"single:{e}"]["accuracy"] == pytest.approx(single[e])
    assert run.results["sweep"][run.results["default_strategy"]]
