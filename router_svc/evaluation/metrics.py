"""Metrics: accuracy with a seeded 95% bootstrap interval, the oracle gap closed, Pareto fronts.

``gap_closed = (accuracy - best_single) / (oracle - best_single)``: 0 is the best single expert,
1 the oracle, negative worse than the best single; None when the oracle is no better than the
best single (there is no gap to close).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from router_svc.evaluation.records import StrategyResult
from router_svc.replay.outcomes import OutcomeTable


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class StrategyMetrics:
    """One row of the report."""

    name: str
    family: str
    description: str
    accuracy: float
    interval: Interval
    cost_per_query: float
    tokens_per_query: float
    experts_per_query: float
    gap_closed: float | None
    wall_s: float
    model_loads: int
    per_category: dict[str, float]
    recruited: dict[str, int]


def accuracy(scores: np.ndarray) -> float:
    """The mean score (0 for no questions)."""
    return float(scores.mean()) if len(scores) else 0.0


def bootstrap_samples(questions: int, samples: int = 1000, seed: int = 0) -> np.ndarray:
    """(samples, questions) row indices drawn with replacement, shared by every strategy so
    their intervals are paired."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, max(questions, 1), size=(samples, questions), dtype=np.int32)


def bootstrap_interval(scores: np.ndarray, samples: np.ndarray, level: float = 0.95) -> Interval:
    """The percentile bootstrap interval of the mean score."""
    if not len(scores):
        return Interval(0.0, 0.0)
    means = scores[samples].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return Interval(float(low), float(high))


def gap_closed(value: float, best_single: float, oracle: float) -> float | None:
    """The share of the best-single-to-oracle gap that ``value`` closes (None: no gap)."""
    gap = oracle - best_single
    if gap <= 1e-12:
        return None
    return (value - best_single) / gap


def pareto_front(costs: Sequence[float], accuracies: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats (cheaper or equal and at least as accurate,
    one of them strictly), sorted by cost."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -accuracies[i]))
    front: list[int] = []
    best = -np.inf
    for i in order:
        if accuracies[i] > best + 1e-12:
            front.append(i)
            best = accuracies[i]
    return front


def summarise(
    result: StrategyResult,
    table: OutcomeTable,
    samples: np.ndarray,
    reference: tuple[float, float],
) -> StrategyMetrics:
    """The report row of one strategy; ``reference`` is (best single, oracle) accuracy."""
    value = accuracy(result.scores)
    names, index = table.category_index()
    per_category = {name: accuracy(result.scores[index == i]) for i, name in enumerate(names)}
    recruited = result.calls.sum(axis=0)
    return StrategyMetrics(
        name=result.name,
        family=result.family,
        description=result.description,
        accuracy=value,
        interval=bootstrap_interval(result.scores, samples),
        cost_per_query=float(result.cost(table).mean()) if len(table) else 0.0,
        tokens_per_query=float(result.tokens(table).mean()) if len(table) else 0.0,
        experts_per_query=float(result.calls.sum(axis=1).mean()) if len(table) else 0.0,
        gap_closed=gap_closed(value, *reference),
        wall_s=result.wall_s,
        model_loads=result.model_loads,
        per_category=per_category,
        recruited={name: int(n) for name, n in zip(table.experts, recruited, strict=True)},
    )


@dataclass(frozen=True)
class SweepPoint:
    """The router at one cost weight."""

    cost_weight: float
    accuracy: float
    cost_per_query: float
    tokens_per_query: float
    teams: float | None = None
    """The share of questions given an escalating team (None: the router prices none)."""


def sweep_front(points: Sequence[SweepPoint]) -> list[SweepPoint]:
    """The sweep's Pareto-efficient points, cheapest first, each at its smallest cost weight
    (a fine sweep repeats the same choice for many weights)."""
    front = pareto_front([p.cost_per_query for p in points], [p.accuracy for p in points])
    return [points[i] for i in front]
