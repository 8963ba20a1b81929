"""A batch through the real REST API, answered by expert-affine workers.

``POST /v1/batches`` keeps its interface: the server queues the questions as before, and the
cluster's workers (here in the test process) route them, answer them per expert and aggregate
them. ``GET /v1/batches/{id}`` shows the per-stage counts and, while only one expert group has
a live host, which experts have none.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from router_svc.batch.payload import BatchPayload
from tests.batch.cluster_support import SUITE, Cluster, make_worker, payloads
from tests.support import start_server

pytestmark = pytest.mark.slow


@pytest.fixture
def api(cluster: Cluster) -> Iterator[str]:
    env = {**cluster.env, "ROUTER_SVC_CONFIG_PATH": str(cluster.config)}
    with start_server(env, args=("--suite", SUITE)) as url:
        yield url


async def test_a_rest_batch_is_answered_by_expert_affine_workers(
    cluster: Cluster, api: str
) -> None:
    lines = [BatchPayload.model_validate_json(p).question.model_dump_json() for p in payloads(10)]
    runtimes = [cluster.runtime(), cluster.runtime()]
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        created = await client.post(
            "/v1/batches",
            params={"suite": SUITE},
            content="\n".join(lines),
            headers={"Content-Type": "application/jsonl"},
        )
        assert created.status_code == 200, created.text
        batch = created.json()["id"]
        assert "stages" not in (await client.get(f"/v1/batches/{batch}")).json()
        try:
            first = make_worker(runtimes[0], "w-api-1", (cluster.experts[0],))
            await first.run_round()
            partial = (await client.get(f"/v1/batches/{batch}")).json()
            rest = tuple(cluster.experts[1:])
            second = make_worker(runtimes[1], "w-api-2", rest, route=False, aggregate=False)
            await asyncio.gather(first.run(), second.run())
        finally:
            for runtime in runtimes:
                await runtime.close()
        done = (await client.get(f"/v1/batches/{batch}")).json()
        results = await client.get(f"/v1/batches/{batch}/results")
    stages = partial["stages"]
    assert stages["routed"] == 8  # one round routes --batch-size questions
    assert stages["unhosted_experts"] == stages["waiting_experts"] != []
    assert cluster.experts[0] not in stages["unhosted_experts"]
    assert done["status"] == "completed"
    assert done["request_counts"] == {"total": 10, "completed": 10, "failed": 0}
    assert done["stages"]["aggregated"] == 10 and done["stages"]["unhosted_experts"] == []
    records = [json.loads(line) for line in results.text.splitlines()]
    assert [r["batch"]["index"] for r in records] == list(range(10))
