"""How many experts a question recruits (k): the one rule every path uses.

A requested k wins, but it must lie in 1..the experts the suite can recruit (a RoutingError
naming k otherwise). Without one, the pool's k (experts.yaml) is used, capped by the experts
available and by an optional server ``limit``. The recruiter applies the same cap as a last
guard, so a k past the experts picks each of them once.

``k: auto`` sizes the team per question. A method whose scores are success probabilities gets
a ``TeamRule``, learned from cross-fitted validation estimates (``routing.team_fit``): from a
question's estimated probabilities it takes the estimated gain of settling the method's top
``AUTO_TEAM`` experts together over its top expert alone (the expected vote of independent
experts minus the top one's probability: large where the top experts are close and unsure),
and recruits the team only where that gain lies above the threshold that maximised the
realised validation gain minus lambda x the added cost. A method without probabilities gets
its ``auto_k`` (1; the paper's method its 3 draws).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from router_svc.errors import RoutingError

AUTO = "auto"
AUTO_TEAM = 3
"""The team k: auto recruits where a team pays (the paper's k)."""
EVIDENCE = 2.0
"""Standard errors of the realised validation gain a team must clear to be recruited."""
KSetting = int | Literal["auto"]
"""A k as experts.yaml and requests give it: a number of experts, or ``auto``."""


def choose_k(requested: int | None, pool_k: int, available: int, limit: int | None = None) -> int:
    """``requested`` (checked against ``available``), else ``pool_k`` capped."""
    if requested is not None:
        return check_k(requested, available)
    return cap_k(pool_k if limit is None else min(pool_k, limit), available)


def cap_k(k: int, available: int) -> int:
    """``k``, but at least 1 and never more than the ``available`` experts."""
    return max(1, min(k, available))


def check_k(k: int, available: int) -> int:
    """``k`` itself, or a RoutingError when it is below 1 or above the ``available`` experts."""
    if k < 1:
        raise RoutingError(f"k must be at least 1, got {k}")
    if k > available:
        message = f"k must be at most {available}, the experts this suite can recruit; got {k}"
        raise RoutingError(message)
    return k


def resolve_k(
    requested: KSetting | None,
    pool_k: KSetting,
    available: int,
    *,
    limit: int | None = None,
    auto_k: int = AUTO_TEAM,
) -> tuple[int, bool]:
    """(k, auto): a number resolves as ``choose_k`` does; ``auto`` (requested, or the pool's
    when none is) gives ``auto_k`` capped by ``available`` and ``limit``, with auto True."""
    setting = pool_k if requested is None else requested
    if setting == AUTO:
        return cap_k(auto_k if limit is None else min(auto_k, limit), available), True
    if not isinstance(setting, int):
        raise RoutingError(f"k must be a number of experts or 'auto', got {setting!r}")
    if requested is None:
        return choose_k(None, setting, available, limit), False
    return check_k(setting, available), False


def question_seeds(seed: int, questions: Sequence[str]) -> np.ndarray:
    """(questions,) 32-bit seeds, one per question: the request's ``seed`` and the question's
    text hashed, so a repeated request draws the same and two questions draw apart."""
    return np.array(
        [
            int.from_bytes(hashlib.sha256(f"{seed}\0{q}".encode()).digest()[:4], "little")
            for q in questions
        ],
        dtype=np.int64,
    )


def expected_vote(probabilities: np.ndarray) -> np.ndarray:
    """(questions,): P(the right answer wins a vote) of voters right independently with
    ``probabilities`` (questions, k), the wrong ones in one bloc, a tie to the first voter."""
    k = probabilities.shape[1]
    if k == 1:
        return np.asarray(probabilities[:, 0])
    rest = _count_distribution(probabilities[:, 1:])
    first = probabilities[:, 0]
    need_if_right = max(int(np.ceil(k / 2)) - 1, 0)
    need_if_wrong = k // 2 + 1
    return np.asarray(
        first * rest[:, need_if_right:].sum(axis=1)
        + (1.0 - first) * rest[:, need_if_wrong:].sum(axis=1)
    )


def _count_distribution(probabilities: np.ndarray) -> np.ndarray:
    """(questions, k + 1): the distribution of how many of k independent voters are right."""
    distribution = np.zeros((len(probabilities), probabilities.shape[1] + 1))
    distribution[:, 0] = 1.0
    for j in range(probabilities.shape[1]):
        p = probabilities[:, j : j + 1]
        shifted = np.concatenate([np.zeros((len(p), 1)), distribution[:, :-1]], axis=1)
        distribution = distribution * (1.0 - p) + shifted * p
    return distribution


def estimated_gain(probabilities: np.ndarray, team: np.ndarray) -> np.ndarray:
    """(questions,): the expected vote of each row's ``team`` (questions, k) minus the
    probability of its first expert, from estimated success ``probabilities``."""
    p = np.clip(np.take_along_axis(probabilities, team, axis=1), 0.0, 1.0)
    return np.asarray(expected_vote(p) - p[:, 0])


def team_added_cost(chosen: np.ndarray, relative_cost: np.ndarray) -> np.ndarray:
    """(questions,): the summed relative cost of each row's distinct experts after its first."""
    picked = np.take_along_axis(relative_cost, chosen, axis=1)
    first_seen = np.ones(chosen.shape, dtype=bool)
    for j in range(1, chosen.shape[1]):
        first_seen[:, j] = (chosen[:, j : j + 1] != chosen[:, :j]).all(axis=1)
    return np.asarray((picked * first_seen)[:, 1:].sum(axis=1))


@dataclass(frozen=True, eq=False)
class TeamRule:
    """When a team pays: validation questions ordered by estimated gain, best first, with the
    running sums of what teaming them realised (accuracy) and added (relative cost)."""

    settle: str
    """How the team's answers are settled: ``vote``, or ``aggregator`` (its measured gain
    over a vote is in ``realised``)."""
    gains: np.ndarray
    """(n,) the estimated gain of each cross-fitted validation question, descending."""
    realised: np.ndarray
    """(n,) running sum of the realised gain (team minus top expert) in that order."""
    added: np.ndarray
    """(n,) running sum of the added relative cost (the other members, an aggregator)."""
    spread: np.ndarray
    """(n,) running sum of the squared realised gains (the noise of ``realised``)."""
    aggregator_cost: float = 0.0
    """The aggregator's relative cost per teamed question (0 for a vote)."""
    _thresholds: dict[float, float] = field(default_factory=dict, repr=False)

    @classmethod
    def learn(
        cls,
        gains: np.ndarray,
        realised: np.ndarray,
        added: np.ndarray,
        *,
        settle: str = "vote",
        aggregator_cost: float = 0.0,
    ) -> TeamRule:
        """The rule from per-question estimated gains, realised gains and added costs."""
        order = np.argsort(-gains, kind="stable")
        return cls(
            settle=settle,
            gains=np.asarray(gains[order], dtype=float),
            realised=np.cumsum(realised[order]),
            added=np.cumsum(added[order]),
            spread=np.cumsum(np.square(realised[order])),
            aggregator_cost=aggregator_cost,
        )

    @classmethod
    def never(cls, settle: str = "vote") -> TeamRule:
        """A rule that never recruits a team (no validation evidence)."""
        empty = np.zeros(0)
        return cls(settle, empty, empty, empty, empty)

    def threshold(self, cost_weight: float) -> float:
        """The estimated gain above which a team is recruited at ``cost_weight`` (inf:
        never): the cut that maximised realised gain minus lambda x added cost."""
        key = float(cost_weight)
        if key not in self._thresholds:
            self._thresholds[key] = self._fit_threshold(key)
        return self._thresholds[key]

    def _fit_threshold(self, cost_weight: float) -> float:
        """The cut with the best net gain less ``EVIDENCE`` standard errors of the realised
        gain (a team must pay for itself beyond the noise of a validation set), inf if none
        is positive."""
        if not len(self.gains):
            return float("inf")
        net = self.realised - cost_weight * self.added - EVIDENCE * np.sqrt(self.spread)
        best = int(np.argmax(net))
        if net[best] <= 0:
            return float("inf")
        below = self.gains[best + 1] if best + 1 < len(self.gains) else self.gains[best] - 1.0
        return float((self.gains[best] + below) / 2.0)

    def sizes(
        self,
        probabilities: np.ndarray,
        chosen: np.ndarray,
        relative_cost: np.ndarray,
        cost_weight: float,
    ) -> np.ndarray:
        """(questions,): 1 or ``chosen``'s width per question (``chosen`` (questions, k) the
        method's picks, best first)."""
        k = chosen.shape[1]
        if k == 1 or not len(chosen):
            return np.ones(len(chosen), dtype=int)
        cut = self.threshold(cost_weight)
        teamed = estimated_gain(probabilities, chosen) > cut
        if cost_weight > 0 and teamed.any():
            added = self.added_cost(chosen, relative_cost)
            teamed &= self.mean_gain(cut) > cost_weight * added
        return np.where(teamed, k, 1).astype(int)

    def added_cost(self, chosen: np.ndarray, relative_cost: np.ndarray) -> np.ndarray:
        """(questions,): the relative cost a team adds to its first expert's: the other
        distinct members' and the aggregator's."""
        return team_added_cost(chosen, relative_cost) + self.aggregator_cost

    def mean_gain(self, cut: float) -> float:
        """The mean realised gain of the validation questions teamed at threshold ``cut``."""
        teamed = int((self.gains > cut).sum())
        return float(self.realised[teamed - 1]) / teamed if teamed else 0.0

    def describe(self) -> dict[str, float | int | str | None]:
        """The rule's evidence, for reports: questions, teamed share and gain at lambda 0
        (threshold None: no team ever pays)."""
        cut = self.threshold(0.0)
        teamed = int((self.gains > cut).sum()) if len(self.gains) else 0
        gain = float(self.realised[teamed - 1]) / len(self.gains) if teamed else 0.0
        return {
            "settle": self.settle,
            "validation_questions": len(self.gains),
            "threshold": None if math.isinf(cut) else cut,
            "teamed_share": teamed / len(self.gains) if len(self.gains) else 0.0,
            "validation_gain": gain,
        }
