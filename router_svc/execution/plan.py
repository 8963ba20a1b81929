"""The execution plan: tasks grouped by expert, ordered so each model is loaded as few times as
possible (resident experts first, then the biggest groups)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from router_svc.types import GenerationRequest


class TaskKey(NamedTuple):
    """The key of a question's task: the question, who answers, and in which role."""

    question_id: str
    expert: str
    role: str = "expert"
    """``expert`` (answering the question), ``aggregate`` (settling the experts' answers) or
    ``escalate`` (an escalating team's third expert answering where the pair disagreed)."""
    sample: int = 0
    """Which sample of the expert on the question (a method that draws it more than once)."""


@dataclass(frozen=True)
class Task:
    """One request to one expert; ``key`` is unique within a run: a ``TaskKey`` for a
    question's task, or any string for a task that serves no question."""

    key: TaskKey | str
    expert: str
    request: GenerationRequest

    @property
    def question_id(self) -> str:
        """The question the task serves; a ValueError for a task with a plain string key."""
        if not isinstance(self.key, TaskKey):
            raise ValueError(f"task {self.key!r} serves no question (its key is not a TaskKey)")
        return self.key.question_id


@dataclass(frozen=True)
class ExecutionPlan:
    """Expert name -> its tasks, in the order the experts run."""

    groups: tuple[tuple[str, tuple[Task, ...]], ...]
    resident: tuple[str, ...] = ()
    """The experts that were already loaded when the plan was made."""

    @property
    def experts(self) -> tuple[str, ...]:
        return tuple(expert for expert, _ in self.groups)

    @property
    def tasks(self) -> tuple[Task, ...]:
        """Every task, in run order."""
        return tuple(task for _, group in self.groups for task in group)

    @property
    def loads_needed(self) -> int:
        """Model loads to run the plan, if nothing resident is evicted on the way."""
        return sum(1 for expert in self.experts if expert not in self.resident)


def plan(tasks: Sequence[Task], *, resident: Sequence[str] = ()) -> ExecutionPlan:
    """Group ``tasks`` by expert: resident experts first (most recently used first), then the
    rest by descending group size, ties by name; tasks keep their input order in a group."""
    check_unique_keys(tasks)
    groups: dict[str, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.expert, []).append(task)
    rank = {name: position for position, name in enumerate(dict.fromkeys(resident))}
    order = sorted(groups, key=lambda name: _sort_key(name, len(groups[name]), rank))
    return ExecutionPlan(
        groups=tuple((name, tuple(groups[name])) for name in order),
        resident=tuple(name for name in rank if name in groups),
    )


def check_unique_keys(tasks: Sequence[Task]) -> None:
    """ValueError naming the first task key that appears twice."""
    seen: set[TaskKey | str] = set()
    for task in tasks:
        if task.key in seen:
            raise ValueError(f"duplicate task key {task.key!r}: every task in a run needs its own")
        seen.add(task.key)


def _sort_key(name: str, size: int, rank: dict[str, int]) -> tuple[int, int, int, str]:
    if name in rank:
        return (0, rank[name], 0, name)
    return (1, 0, -size, name)
