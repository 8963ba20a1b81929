"""What one expert's graded answer says about the others': bandit feedback made whole.

Production reveals only the outcome of the experts the router ran. Counted alone, that row
moves only the chosen expert's estimate, and a strong expert that fails a hard question loses
ground to experts that would have failed it too (their records, from other questions, stay
untouched): greedy learning then drifts to worse experts. On validation every expert answered
every question, so the pool's outcomes are known jointly: for experts i and j,

    right[i, j] = P(j right | i right),   wrong[i, j] = P(j right | i wrong)

(graded scores weigh in as fractions, smoothed toward j's overall accuracy by one question).
A feedback row's unknown experts get the mean over its known experts i of
``s_i right[i, j] + (1 - s_i) wrong[i, j]``, and their cost the expert's mean validation cost;
the row then counts for every expert, as a validation row does. An expert's estimate rises
against the others' only where it does better than the validation says it should relative to
them, which is the evidence bandit feedback actually holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router_svc.routing.evidence import Evidence


@dataclass(frozen=True, eq=False)
class Coupling:
    """Each expert's chance of being right given another's outcome, from complete rows."""

    right: np.ndarray
    """(e, e): P(j right | i right)."""
    wrong: np.ndarray
    """(e, e): P(j right | i wrong)."""
    cost: np.ndarray
    """(e,): each expert's mean known cost."""

    @classmethod
    def of(cls, evidence: Evidence) -> Coupling:
        """From the rows where every expert's outcome is known (validation rows)."""
        complete = evidence.observed.all(axis=1)
        scores = evidence.known_scores[complete]
        costs = evidence.known_costs[complete]
        mean = (scores.sum(axis=0) + 1.0) / (len(scores) + 2.0)
        right = (scores.T @ scores + mean[None, :]) / (scores.sum(axis=0)[:, None] + 1.0)
        missed = 1.0 - scores
        wrong = (missed.T @ scores + mean[None, :]) / (missed.sum(axis=0)[:, None] + 1.0)
        cost = costs.mean(axis=0) if len(costs) else np.zeros(scores.shape[1])
        return cls(right, wrong, cost)

    def completed(
        self, rows: Evidence, estimate: np.ndarray | None = None, strength: float = 1.0
    ) -> Evidence:
        """``rows`` with every unknown outcome filled in from the known ones (rows knowing
        none stay as they are); with ``estimate`` (rows, e), the router's estimate when it
        chose, the fill is ``strength`` x that guess + (1 - strength) x the estimate."""
        known = rows.observed
        scores = rows.known_scores
        count = known.sum(axis=1, keepdims=True)
        guess = ((known * scores) @ self.right + (known * (1.0 - scores)) @ self.wrong) / (
            np.maximum(count, 1.0)
        )
        if estimate is not None:
            guess = strength * guess + (1.0 - strength) * estimate
        fill = (known == 0) & (count > 0)
        return Evidence(
            rows.vectors,
            np.where(fill, guess, rows.scores),
            np.where(fill, self.cost[None, :], rows.costs),
            rows.skills,
            rows.tasks,
        )
