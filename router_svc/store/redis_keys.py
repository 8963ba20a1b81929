"""The Redis key layout of the job queue and the cluster mode's stages, in one place.

``store.redis`` (the job queue) and ``store.redis_stages`` (the cluster mode) both name their
keys here, so deleting a job (``RedisJobQueue.delete``) reaches every key and stream entry that
belongs to it. The layout is drawn in the two modules' docstrings and in docs/deployment.md.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "workers"
"""The consumer group of the job stream."""
EXPERT_GROUP = "experts"
"""The consumer group of every expert's stream."""
AGGREGATE_GROUP = "aggregators"
"""The consumer group of the aggregation stream."""
AGGREGATE = "aggregate"
"""The stage name of the aggregation stream (the other stage names are experts')."""


@dataclass(frozen=True)
class RedisKeys:
    """The keys under one ``prefix`` (for example ``router-svc:v1``)."""

    prefix: str

    @property
    def jobs_stream(self) -> str:
        return f"{self.prefix}:jobs:stream"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def results(self, job_id: str) -> str:
        return f"{self.job(job_id)}:results"

    def stages(self, job_id: str) -> str:
        return f"{self.job(job_id)}:stages"

    def question(self, job_id: str, index: int) -> str:
        return f"{self.job(job_id)}:q:{index}"

    def expert_stream(self, expert: str) -> str:
        return f"{self.prefix}:expert:{expert}"

    @property
    def aggregate_stream(self) -> str:
        return f"{self.prefix}:stage:aggregate"

    def stage(self, name: str) -> tuple[str, str]:
        """The stream and consumer group of a stage: an expert's name, or ``AGGREGATE``."""
        if name == AGGREGATE:
            return self.aggregate_stream, AGGREGATE_GROUP
        return self.expert_stream(name), EXPERT_GROUP
