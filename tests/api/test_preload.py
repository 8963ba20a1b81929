"""``ROUTER_SVC_PRELOAD_EXPERTS``: /readyz turns ready only once the default suite's experts are
loaded, the most wanted first (a real server of the recorded pool)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from router_svc.api.app import create_app
from router_svc.api.state import preload_order
from router_svc.assembly import build_pipeline
from tests.support import ReplaySuite, eventually, metric_sample, serve_in_thread

RESIDENT = "router_svc_models_resident"


@pytest.mark.parametrize(("preload", "resident"), [(False, 0), (True, 6)])
async def test_ready_means_the_experts_are_loaded(
    replay_suite: ReplaySuite, tmp_path: Path, preload: bool, resident: int
) -> None:
    settings = replay_suite.settings.model_copy(
        update={"preload_experts": preload, "data_dir": tmp_path}
    )
    with serve_in_thread(create_app(settings)) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await eventually(ready, what="/readyz to be 200")
            metrics = (await http.get("/metrics")).text

    assert metric_sample(metrics, RESIDENT) == resident  # five experts and the aggregator


async def test_the_aggregator_comes_first_then_the_most_accurate(replay_suite: ReplaySuite) -> None:
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        order = preload_order(pipeline)
    finally:
        await runtime.close()
    matrix = pipeline.recruiter.matrix
    accuracy = dict(zip(matrix.experts, matrix.accuracy, strict=True))

    assert order[0] == pipeline.aggregator.expert
    assert [accuracy[e] for e in order[1:]] == sorted(accuracy.values(), reverse=True)
