"""A replay-backed cluster for the cluster-mode tests: the pool, its payloads, its workers.

The suite is profiled from tests/fixtures/replay_small.jsonl (``profile --replay``) with the
model-free ``hashing`` embedder, so nothing is generated and no model loads.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from router_svc.assembly import Runtime, build_pipeline
from router_svc.batch.expert_worker import ClusterOptions, ExpertWorker
from router_svc.batch.payload import BatchOptions, BatchPayload, BatchQuestion
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.replay.data import load_replay
from router_svc.store.redis_stages import stages_of
from tests.support import ROOT

SMALL = ROOT / "tests" / "fixtures" / "replay_small.jsonl"
SUITE = "replay_small"
WORKER = [sys.executable, "-c", "from router_svc.cli.main import app; app()", "worker"]
EXPERT = """\
  - name: {name}
    engine: replay
    model: replay
    options: {{file: {file}, load_delay_s: {delay}}}
"""


@dataclass
class Cluster:
    """A profiled replay pool under a fresh Redis prefix."""

    config: Path
    env: dict[str, str]
    experts: list[str]

    def runtime(self) -> Runtime:
        return Runtime.create(Settings(), load_pool(self.config), use_cache=False)


def pool_yaml(path: Path, experts: list[str], delay: float) -> Path:
    body = "".join(EXPERT.format(name=n, file=SMALL, delay=delay) for n in experts)
    head = f"k: 2\nembedding_model: hashing\naggregator_candidates: [{experts[0]}]\n"
    path.write_text(f"{head}experts:\n{body}", encoding="utf-8")
    return path


def payloads(count: int, knobs: BatchOptions | None = None) -> list[str]:
    """The first ``count`` test questions of the replay file, routed with ``knobs``."""
    data = load_replay(SMALL)
    rows = data.rows("test").tolist()[:count]
    questions = [BatchQuestion.model_validate(vars(data.questions[r])) for r in rows]
    options = knobs or BatchOptions()
    return [BatchPayload(suite=SUITE, question=q, options=options).to_json() for q in questions]


def make_worker(
    runtime: Runtime, name: str, experts: tuple[str, ...], **opts: object
) -> ExpertWorker:
    stages = stages_of(runtime.store.jobs)
    assert stages is not None
    values: dict[str, object] = {"batch_size": 8, "poll_s": 0.05, "max_idle_s": 1.0, **opts}
    options = ClusterOptions(
        consumer=name,
        experts=experts,
        default_suite=SUITE,
        **values,  # type: ignore[arg-type]
    )
    return ExpertWorker(
        runtime.store.jobs,
        stages,
        lambda suite: build_pipeline(runtime, suite),
        runtime.executor(),
        runtime.stats,
        [e.name for e in runtime.pool.routable],
        options,
    )
