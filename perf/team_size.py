"""Quality figures of k: auto: the default router with k = 1, k = 3 + vote and k: auto.

    .venv/bin/python perf/team_size.py [--vectors minilm|hashing]

On the RouterBench pool (eval/replay/routerbench_pooled3.jsonl) and two generated sets
(``perf/synthetic.py``): its default settings (experts' mistakes correlate through a shared
difficulty and a tempting distractor) and a complementary one (no shared difficulty, weaker
per-skill differences: independent mistakes, where a vote pays). Every number is on the test
lines; k: auto's rule is learned on the validation lines alone (``evaluation.team``). Writes
perf/results/team_size.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from perf._common import write_results
from router_svc.routing.team_size import TeamRule

ROOT = Path(__file__).resolve().parents[1]
ROUTERBENCH = ROOT / "eval" / "replay" / "routerbench_pooled3.jsonl"
COMPLEMENTARY = {
    "questions": 4000,
    "experts": 5,
    "difficulty_spread": 0.0,
    "skill_spread": 0.3,
    "family_spread": 0.2,
    "offset": 0.8,
}
DEFAULT = {"questions": 4000}


def team_figures(path: Path, vectors: str) -> dict[str, Any]:
    """k = 1, k = 3 + vote and k: auto of the default router on ``path``'s test lines."""
    from threadpoolctl import threadpool_limits

    from router_svc.evaluation.improved import MethodBench, RoutedSplit
    from router_svc.evaluation.replay_bench import BenchOptions, ReplayBench
    from router_svc.evaluation.team import team_bench
    from router_svc.replay.data import load_replay
    from router_svc.routing.memo import remembered
    from router_svc.routing.suite import suite_from_table

    started = time.perf_counter()
    data = load_replay(path)
    bench = ReplayBench(BenchOptions(vectors=vectors))  # type: ignore[arg-type]
    prepared = bench.prepare(data.table("validation"), data.table("test"))
    val, test = prepared.validation, prepared.test
    with threadpool_limits(limits=2, user_api="blas"), remembered():
        suite = suite_from_table(val.table, val.keyword_tags, prepared.skill_embedder, val.vectors)
        methods = MethodBench(suite, RoutedSplit(test.table, test.keyword_tags, test.vectors))
        result = team_bench(methods, bench.options.router)
    figures: dict[str, Any] = {
        role: {
            "strategy": r.name,
            "accuracy": round(float(r.scores.mean()), 4),
            "experts_per_query": round(float(r.calls.sum(axis=1).mean()), 4),
            "cost_per_query": float(r.cost(test.table).mean()),
        }
        for role, r in result.results.items()
    }
    figures["rule"] = result.rule.describe() if result.rule is not None else None
    if result.rule is not None:
        figures["rule"]["decision_us"] = decision_us(result.rule, len(test.table.experts))
    figures["questions"] = {"validation": len(val.table), "test": len(test.table)}
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def decision_us(rule: TeamRule, experts: int, repeats: int = 2000) -> float:
    """Microseconds k: auto adds to routing one question (the rule's ``sizes``)."""
    rng = np.random.default_rng(0)
    p = rng.random((1, experts))
    team = np.argsort(-p, axis=1)[:, :3]
    cost = rng.random((1, experts))
    rule.sizes(p, team, cost, 0.0)
    started = time.perf_counter()
    for _ in range(repeats):
        rule.sizes(p, team, cost, 0.0)
    return round((time.perf_counter() - started) / repeats * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vectors", default="static", choices=("static", "minilm", "hashing"))
    args = parser.parse_args()
    from perf.synthetic import SyntheticConfig, write_replay

    results: dict[str, Any] = {"routerbench": team_figures(ROUTERBENCH, args.vectors)}
    with tempfile.TemporaryDirectory() as folder:
        for name, settings in (("synthetic_default", DEFAULT), ("complementary", COMPLEMENTARY)):
            path = write_replay(Path(folder) / f"{name}.jsonl", SyntheticConfig(**settings))
            results[name] = {"settings": settings, **team_figures(path, "hashing")}
    write_results("team_size", results)


if __name__ == "__main__":
    main()
