"""The live bench on the tiny suite: real generations, every strategy, the report files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router_svc.assembly import Runtime
from router_svc.config.loader import load_pool
from router_svc.config.routers import DEFAULT_ROUTER
from router_svc.config.settings import Settings
from router_svc.evaluation.live_bench import LiveOptions, live_bench
from router_svc.questions.suites import load_suite

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
    for name in ("report.md", "results.json", "questions.jsonl"):
        assert (folder / name).stat().st_size > 0
    assert list(folder.glob("*.png"))
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
    lines = (folder / "questions.jsonl").read_text().splitlines()
    assert len(lines) == 4
