"""The execution plan: grouping by expert, expert order, load counts, duplicate keys."""

from __future__ import annotations

import pytest

from router_svc.execution.plan import ExecutionPlan, Task, plan
from router_svc.types import GenerationRequest


def task(key: str, expert: str) -> Task:
    return Task(key=key, expert=expert, request=GenerationRequest.user(key))


def shape(execution: ExecutionPlan) -> list[tuple[str, list[str]]]:
    return [(expert, [t.key for t in group]) for expert, group in execution.groups]


def test_groups_by_expert_keeping_input_order_within_a_group() -> None:
    tasks = [task("q1:a", "a"), task("q1:b", "b"), task("q2:a", "a"), task("q3:a", "a")]
    assert shape(plan(tasks)) == [("a", ["q1:a", "q2:a", "q3:a"]), ("b", ["q1:b"])]


@pytest.mark.parametrize(
    ("experts", "resident", "order"),
    [
        # biggest group first
        (["x", "y", "y", "z", "z", "z"], [], ["z", "y", "x"]),
        # equal sizes: by name
        (["c", "a", "b"], [], ["a", "b", "c"]),
        # resident first, most recently used first, even when smaller
        (["x", "y", "y", "z", "z", "z"], ["x", "y"], ["x", "y", "z"]),
        (["x", "y", "y", "z", "z", "z"], ["y", "x"], ["y", "x", "z"]),
        # resident experts with no tasks are ignored
        (["a", "b", "b"], ["q", "a"], ["a", "b"]),
    ],
)
def test_expert_order(experts: list[str], resident: list[str], order: list[str]) -> None:
    tasks = [task(f"t{i}", expert) for i, expert in enumerate(experts)]
    assert plan(tasks, resident=resident).experts == tuple(order)


@pytest.mark.parametrize(
    ("resident", "loads"),
    [([], 3), (["a"], 2), (["c", "a"], 1), (["a", "b", "c"], 0), (["zzz"], 3)],
)
def test_loads_needed_counts_groups_not_already_resident(resident: list[str], loads: int) -> None:
    tasks = [task(f"{q}:{e}", e) for q in range(4) for e in "abc"]
    execution = plan(tasks, resident=resident)
    assert execution.loads_needed == loads
    assert len(execution.tasks) == 12


def test_one_load_per_expert_however_the_input_interleaves() -> None:
    experts = ["m", "f", "c", "f", "m", "c", "c", "f", "m"]
    tasks = [task(f"t{i}", expert) for i, expert in enumerate(experts)]
    execution = plan(tasks)
    assert sorted(execution.experts) == ["c", "f", "m"]
    assert execution.loads_needed == 3
    assert sorted(t.key for t in execution.tasks) == sorted(t.key for t in tasks)


def test_duplicate_keys_are_rejected_by_name() -> None:
    tasks = [task("q1:a", "a"), task("q2:a", "a"), task("q1:a", "b")]
    with pytest.raises(ValueError, match="'q1:a'"):
        plan(tasks)


def test_empty_input_gives_an_empty_plan() -> None:
    execution = plan([], resident=["a"])
    assert execution.groups == ()
    assert execution.loads_needed == 0
