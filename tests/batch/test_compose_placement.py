"""compose.yaml places every routable expert of each pool on an expert-affine worker.

The placement rule (docs/deployment.md): each expert is loaded by the workers that host it,
so every routable expert needs at least one host, and some worker of each pool must route and
one must aggregate; otherwise a batch waits on an expert (or a stage) nobody runs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from router_svc.config.loader import load_pool

ROOT = Path(__file__).resolve().parents[2]
POOLS = {"experts.yaml": ROOT / "experts.yaml", "experts.gpu.yaml": ROOT / "experts.gpu.yaml"}


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def placement_problems(compose: dict[str, Any]) -> list[str]:
    """Per pool: unhosted experts, unknown experts, and a missing router or aggregator."""
    hosted: dict[str, set[str]] = {pool: set() for pool in POOLS}
    stages: dict[str, set[str]] = {pool: set() for pool in POOLS}
    problems = []
    for name, service in compose["services"].items():
        args = [str(a) for a in service.get("command") or []]
        if args[:2] != ["router-svc", "worker"]:
            continue
        pool = service.get("environment", {}).get("ROUTER_SVC_CONFIG_PATH", "experts.yaml")
        experts = [a.split("=", 1)[1] for a in args if a.startswith("--experts=")]
        if not experts:
            problems.append(f"worker {name!r} names no --experts")
            continue
        known = {e.name for e in load_pool(POOLS[pool]).routable}
        for expert in experts[0].split(","):
            if expert not in known:
                problems.append(f"worker {name!r} hosts {expert!r}, not a routable expert")
            hosted[pool].add(expert)
        stages[pool] |= {s for s in ("route", "aggregate") if f"--no-{s}" not in args}
    for pool, path in POOLS.items():
        missing = {e.name for e in load_pool(path).routable} - hosted[pool]
        problems += [f"{pool}: no worker hosts {e!r}" for e in sorted(missing)]
        problems += [
            f"{pool}: no worker does {s}" for s in sorted({"route", "aggregate"} - stages[pool])
        ]
    return problems


def test_every_routable_expert_has_a_host_and_every_stage_a_worker() -> None:
    assert placement_problems(_compose()) == []


def test_a_dropped_expert_group_is_reported() -> None:
    compose = copy.deepcopy(_compose())
    del compose["services"]["worker-code"]
    assert placement_problems(compose) == [
        "experts.yaml: no worker hosts 'gemma-fewshot'",
        "experts.yaml: no worker hosts 'smol-code'",
    ]
    compose["services"]["worker-gpu"]["command"].append("--no-aggregate")
    assert "experts.gpu.yaml: no worker does aggregate" in placement_problems(compose)
