"""Escalating teams: a pair of experts whose shared answer stands, else one strong expert's.

Where a cost weight makes the strongest expert too dear to ask every time, a pair of cheaper
experts can answer first: where the two state the same answer it stands, and only where they
differ (or either states none) does the strong expert answer (the pipeline runs it in the
aggregation phase). On a validation record every pair is one more column: its score is the
first member's where the pair agrees and the strong expert's elsewhere, its cost the pair's
plus the strong expert's where it escalates. A router estimates these columns from the same
evidence as the experts' own and prices each pair against the single experts.

The strong expert is the validation's best single expert. Pairs are options only where the
cost weight is above 0 (at lambda 0 nothing is cheaper than the best estimate, and on pools
without a dominant expert pairs lost accuracy there) and a question gets one option (k = 1, or
k: auto, whose team rule then sees a pair as a team of one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from router_svc.replay.outcomes import NO_ANSWER


@dataclass(frozen=True)
class EscalatingPairs:
    """Every pair of the experts other than ``strong``, escalating to ``strong``."""

    experts: list[str]
    """The single experts, in the router's column order."""
    strong: int
    pairs: list[tuple[int, int]]

    @classmethod
    def of(
        cls, experts: Sequence[str], scores: np.ndarray, members: int | None = None
    ) -> EscalatingPairs | None:
        """The pairs of a validation record (``scores``: questions x experts), escalating to
        its best expert (the first listed among equals), formed from the ``members`` best of
        the others (None: all of them); None under three experts."""
        if len(experts) < 3 or len(scores) == 0:
            return None
        accuracy = np.nanmean(np.asarray(scores, dtype=float), axis=0)
        strong = int(np.argmax(accuracy))
        ranked = [int(e) for e in np.argsort(-accuracy, kind="stable") if e != strong]
        others = sorted(ranked[: members if members is not None else len(ranked)])
        if len(others) < 2:
            return None
        return cls(list(experts), strong, list(combinations(others, 2)))

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def strong_name(self) -> str:
        return self.experts[self.strong]

    def name(self, pair: int) -> str:
        """How option ``pair`` is named: ``first + second > strong``."""
        first, second = self.pairs[pair]
        return f"{self.experts[first]} + {self.experts[second]} > {self.strong_name}"

    def members(self, pair: int) -> list[str]:
        first, second = self.pairs[pair]
        return [self.experts[first], self.experts[second]]

    def agreement(self, answers: np.ndarray) -> np.ndarray:
        """(questions, pairs): True where both members stated the same answer."""
        first, second = self._columns()
        same = answers[:, first] == answers[:, second]
        return np.asarray(same & (answers[:, first] != NO_ANSWER))

    def columns(
        self, scores: np.ndarray, costs: np.ndarray, answers: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(pair scores, pair costs), each (questions, pairs), from the experts' own."""
        agree = self.agreement(answers)
        first, second = self._columns()
        strong_score, strong_cost = scores[:, [self.strong]], costs[:, [self.strong]]
        paired = np.where(agree, scores[:, first], strong_score)
        spent = costs[:, first] + costs[:, second] + np.where(agree, 0.0, strong_cost)
        return paired, spent

    def _columns(self) -> tuple[list[int], list[int]]:
        return [a for a, _ in self.pairs], [b for _, b in self.pairs]
