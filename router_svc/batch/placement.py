"""Placement: which experts a worker hosts, and which experts no live worker hosts.

The rule: an expert is loaded by the workers that host it, not by every worker. A worker
declares its experts (``--experts a,b``), or with ``--experts auto`` it keeps up to ``slots``
experts resident and picks them from the backlog: experts it already hosts stay while they
have work (no reload), and free slots go to the experts with the most waiting tasks per live
host, unhosted experts first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from router_svc.store.redis_stages import WorkerInfo


def choose_experts(
    backlog: Mapping[str, int],
    hosts: Mapping[str, int],
    current: Sequence[str],
    slots: int,
) -> list[str]:
    """The experts an auto-placed worker hosts next (at most ``slots``)."""
    keep = [e for e in current if backlog.get(e, 0) > 0][:slots]
    waiting = [e for e, n in backlog.items() if n > 0 and e not in keep]
    waiting.sort(key=lambda e: (-backlog[e] / (hosts.get(e, 0) + 1), e))
    return keep + waiting[: slots - len(keep)]


def host_counts(workers: Sequence[WorkerInfo], *, exclude: str = "") -> dict[str, int]:
    """How many live workers host each expert (auto workers count for what they host now)."""
    counts: dict[str, int] = {}
    for worker in workers:
        if worker.consumer == exclude:
            continue
        for expert in worker.experts:
            counts[expert] = counts.get(expert, 0) + 1
    return counts


def unhosted(waiting: Sequence[str], workers: Sequence[WorkerInfo]) -> list[str]:
    """The experts with waiting tasks that no live worker hosts (or could pick up)."""
    if any(worker.auto for worker in workers):
        return []
    hosted = host_counts(workers)
    return sorted(e for e in waiting if e not in hosted)
