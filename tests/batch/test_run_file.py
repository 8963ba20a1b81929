"""`router-svc run`: one JSON line per question, and a rerun only answers what is missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from router_svc.assembly import Runtime
from router_svc.batch.payload import BatchOptions
from router_svc.batch.run_file import run_file
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings

pytestmark = pytest.mark.slow


def generations(records: list[dict[str, Any]]) -> int:
    """The generations the records show: one per expert answer and one per aggregator run
    (llama.cpp engines take one request per call, and nothing is cached here)."""
    return sum(len(r["experts"]) + (r["final"]["aggregator"] is not None) for r in records)


async def test_run_writes_lines_and_resumes(
    tiny_profile: dict[str, str], root: Path, tmp_path: Path
) -> None:
    data = Path(tiny_profile["ROUTER_SVC_SUITES_DIR"]) / "tiny" / "test.jsonl"
    out = tmp_path / "results.jsonl"
    settings = Settings(
        skills_dir=Path(tiny_profile["ROUTER_SVC_SKILLS_DIR"]), data_dir=tmp_path / "data"
    )
    options = BatchOptions(k=2, tagger="keyword")

    async def run(limit: int) -> tuple[int, int]:
        runtime = Runtime.create(settings, load_pool(root / "experts.yaml"), use_cache=False)
        try:
            summary = await run_file(
                runtime, "tiny", data, out, options, limit=limit, progress=False
            )
        finally:
            await runtime.close()
        return summary.resumed, runtime.stats.generate_calls

    def records() -> list[dict[str, Any]]:
        return [json.loads(line) for line in out.read_text().splitlines()]

    assert await run(2) == (0, generations(records()))
    assert len(records()) == 2
    resumed, calls = await run(3)
    assert resumed == 2
    assert calls == generations(records()[2:])  # only the third question was answered
    assert len(records()) == 3
    assert len({r["id"] for r in records()}) == 3
    first = records()[0]
    assert set(first) >= {"routing", "experts", "final", "correct", "tokens", "timings"}
    assert len(first["experts"]) == 2
    assert first["routing"]["chosen"] == [e["expert"] for e in first["experts"]]
    assert first["final"]["method"] in {"aggregator", "unanimous", "majority", "single"}
    assert first["tokens"]["total"] > 0
    assert first["timings"]["experts"] > 0  # its own two generations, uncached
    assert {"tag", "route", "experts", "aggregate"} <= first["timings"]["batch"].keys()
