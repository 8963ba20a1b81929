"""A batch's progress through the cluster mode's stages, for ``GET /v1/batches/{id}``."""

from __future__ import annotations

from typing import Any

from router_svc.batch.placement import unhosted
from router_svc.store.redis_stages import stages_of


async def stage_status(jobs: object, job_id: str) -> dict[str, Any] | None:
    """Per-stage counts (routed, per expert queued/answered/failed/duplicate, aggregated) and
    the experts with waiting tasks that no live worker hosts; None when the batch has not
    entered the cluster mode's stages (or the store is not Redis)."""
    stages = stages_of(jobs)
    if stages is None:
        return None
    counts = await stages.stage_counts(job_id)
    if not counts:
        return None
    per: dict[str, dict[str, int]] = {}
    for key, value in counts.items():
        kind, _, expert = key.partition(":")
        if expert:
            per.setdefault(kind, {})[expert] = value
    queued = per.get("queued", {})
    done = {e: per.get("answered", {}).get(e, 0) + per.get("failed", {}).get(e, 0) for e in queued}
    waiting = [e for e, n in queued.items() if n > done[e]]
    return {
        "routed": counts.get("routed", 0),
        "queued": queued,
        "answered": per.get("answered", {}),
        "failed": per.get("failed", {}),
        "duplicates": per.get("duplicate", {}),
        "aggregated": counts.get("aggregated", 0),
        "waiting_experts": sorted(waiting),
        "unhosted_experts": unhosted(waiting, await stages.workers()),
    }
