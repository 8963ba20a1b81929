"""The smoothed skill recruiter: per-skill accuracies shrunk toward each expert's overall one.

The plain ``SkillRecruiter`` sums +1/-1 outcomes per skill, so a skill seen twice can outrank
the expert's record on thousands of questions, and frequent skills drown rare, specific ones.
Here every (skill, expert) cell is an accuracy with ``pseudo_count`` pseudo-questions at the
expert's overall validation accuracy (the competency prior, in accuracy units)::

    correct[s, e] = (values[s, e] + seen[s, e]) / 2          # right answers on skill s
    smoothed[s, e] = (correct[s, e] + m * base[e]) / (seen[s, e] + m)

and a question's estimate combines its matched skills, each weighted by its match similarity:

- ``combine="mean"``: the weighted mean of ``smoothed`` over the skills (each skill one voice);
- ``combine="pooled"``: ``(sum_s w_s correct[s, e] + m base[e]) / (sum_s w_s seen[s, e] + m)``,
  i.e. the accuracy over every validation question sharing a skill (frequent skills weigh more).

A question with no matched skill falls back to ``base``. The score is an accuracy estimate in
[0, 1], so the cost term of ``assign`` trades it against relative cost as usual.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from router_svc.errors import RoutingError
from router_svc.routing.profiles import ProfileMatrix
from router_svc.routing.recruiter import Recruiter, ScoreParts

Combine = Literal["mean", "pooled"]


class SmoothedSkillRecruiter(Recruiter):
    """Scores experts by smoothed per-skill accuracy (see the module docstring)."""

    def __init__(
        self,
        matrix: ProfileMatrix,
        expected_cost: np.ndarray | None = None,
        *,
        pseudo_count: float = 10.0,
        combine: Combine = "mean",
    ) -> None:
        if pseudo_count < 0:
            raise RoutingError(f"pseudo_count must be >= 0, got {pseudo_count}")
        if combine not in ("mean", "pooled"):
            raise RoutingError(f"combine must be 'mean' or 'pooled', got {combine!r}")
        super().__init__(matrix, expected_cost)
        self.pseudo_count = pseudo_count
        self.combine = combine

    def smoothed(self) -> np.ndarray:
        """(skills, experts): each skill's accuracy, shrunk toward the expert's overall one."""
        m = self.pseudo_count
        correct = (self.matrix.values + self.matrix.seen) / 2.0
        seen = self.matrix.seen
        base = self.matrix.accuracy[None, :]
        return np.asarray((correct + m * base) / np.maximum(seen + m, 1e-12))

    def score(self, weights: np.ndarray) -> ScoreParts:
        base = self.matrix.accuracy
        total = weights.sum(axis=1, keepdims=True)
        fallback = total[:, 0] <= 0
        if self.combine == "mean":
            estimate = (weights @ self.smoothed()) / np.where(total > 0, total, 1.0)
        else:
            correct = (self.matrix.values + self.matrix.seen) / 2.0
            m = self.pseudo_count
            numerator = weights @ correct + m * base[None, :]
            estimate = numerator / np.maximum(weights @ self.matrix.seen + m, 1e-12)
        estimate = np.where(fallback[:, None], base[None, :], estimate)
        return ScoreParts(
            relevance=weights @ self.matrix.values,
            prior=base,
            score=np.asarray(estimate),
            fallback=fallback,
        )
