"""Strategy results: which experts each strategy called on every test question, and its scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from router_svc.replay.outcomes import OutcomeTable


@dataclass(frozen=True, eq=False)
class StrategyResult:
    """What one strategy did on every test question."""

    name: str
    family: str
    """single | baseline | ensemble | router | oracle (groups rows in the report)."""
    scores: np.ndarray
    """(questions,): the strategy's score per question."""
    calls: np.ndarray
    """(questions, experts) bool: the experts each question was sent to."""
    description: str = ""
    wall_s: float = 0.0
    model_loads: int = 0
    extra_cost: np.ndarray | None = None
    """(questions,): dollars beyond the expert calls (an aggregator's), if any."""
    extra_tokens: np.ndarray | None = None

    def cost(self, table: OutcomeTable) -> np.ndarray:
        """(questions,): the dollars this strategy spent per question."""
        spent = np.asarray((self.calls * table.costs).sum(axis=1))
        return spent if self.extra_cost is None else spent + self.extra_cost

    def tokens(self, table: OutcomeTable) -> np.ndarray:
        """(questions,): the tokens this strategy spent per question."""
        spent = np.asarray((self.calls * table.tokens).sum(axis=1))
        return spent if self.extra_tokens is None else spent + self.extra_tokens

    def chosen(self, experts: Sequence[str], row: int) -> list[str]:
        """The names of the experts question ``row`` was sent to."""
        return [experts[i] for i in np.flatnonzero(self.calls[row]).tolist()]


def one_hot(indices: np.ndarray, experts: int) -> np.ndarray:
    """(questions, experts) bool calls from (questions,) or (questions, k) expert indices."""
    indices = indices.reshape(len(indices), -1)
    calls = np.zeros((len(indices), experts), dtype=bool)
    np.put_along_axis(calls, indices, True, axis=1)
    return calls
