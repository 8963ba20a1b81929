"""Graded production answers as their own level, on top of the validation estimate.

Feedback rows are not mixed into the validation levels (where a few rows on a new task would
be outweighed by validation rows from other tasks). Each row is set against the frozen
estimate p0 (the validation levels alone) at its question, and the feedback level corrects
p0 by what the rows that resemble a question say:

    p_e(x) = p0_e(x) + sum_c pi_c(x) (right_ce - base_ce) / (known_ce + m_f)

over groups c: the validation clusters (``ShrinkageModel.centroids``; one group where the
model has none), a row counting for its groups by its soft membership pi_c at temperature
``temperature``. right_ce sums the known scores of expert e, known_ce how many are known, and
base_ce the frozen estimates at those rows (``centred``) or known_ce x p0_e(x) (not centred:
the records are shrunk toward the query's p0 as they stand). With no feedback the correction
is 0; with much more than m_f rows in a group it approaches the group's mean error. With
``pooled`` (m_p), each group's term is shrunk toward the pooled correction instead of toward
none: the same sum over every row, shrunk toward none by m_p, so that a new task spread
over several clusters corrects each of them before any has m_f rows of its own.

A bandit row knows one expert's outcome and counts for that expert only, unless its unknown
outcomes are filled in first: with ``shared`` > 0, each unknown expert's is p0 plus ``shared``
x the known experts' mean error against p0 (a new task that is harder than the validation says
is, in part, harder for every expert); with ``strength`` > 0, from the known outcome through
how the experts' outcomes go together on validation (``routing.coupling``), ``strength`` of
the way from p0 toward the coupling's guess. Expected costs stay the validation's.
Rows that grade every expert also correct a query through its nearest such rows
(``neighbours``, ``routing.feedback_neighbours``), shrunk toward the group correction above.
Updating costs O(rows x groups); a query costs O(groups x experts) plus O(``window`` x d).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from router_svc.errors import ConfigError
from router_svc.routing.coupling import Coupling
from router_svc.routing.evidence import Evidence
from router_svc.routing.feedback_neighbours import NeighbourMemory
from router_svc.routing.shrinkage import membership


@dataclass(frozen=True)
class FeedbackKnobs:
    """The feedback level's knobs; the defaults were chosen on validation lines only
    (``perf/online_validation.py``, figures in ``perf/results/online_validation.json``)."""

    pseudo: float = 50.0
    """m_f: feedback rows a group needs before its record outweighs the frozen estimate."""
    temperature: float = 0.02
    """Softness of a row's (and a query's) membership of the groups."""
    centred: bool = False
    """Each row's error against p0 at its own question (True), or the group's record shrunk
    toward the query's p0 (False)."""
    strength: float = 0.0
    """How far a bandit row's unknown outcomes move from p0 toward the coupling's guess
    (0: no coupling)."""
    shared: float = 0.85
    """The share of a bandit row's error that its unknown experts take on (0: none; with
    neither this nor ``strength``, the row counts for the expert that ran only)."""
    pooled: float | None = 1600.0
    """m_p: feedback rows the pooled record (every group's rows together) needs before it
    outweighs the frozen estimate; each group's correction is shrunk toward the pooled one
    instead of toward none. None: no pooled level."""
    neighbours: int = 100
    """k: how many of the most similar fully graded rows correct a query (0: none)."""
    neighbour_pseudo: float = 500.0
    """m_n: rows the neighbours' record needs before it outweighs the group correction."""
    window: int = 4096
    """How many of the latest fully graded rows the neighbours are searched among."""

    def __post_init__(self) -> None:
        for field, size in (
            ("pseudo", self.pseudo),
            ("temperature", self.temperature),
            ("neighbour_pseudo", self.neighbour_pseudo),
        ):
            if size <= 0:
                raise ConfigError(f"the feedback level's {field} must be > 0, not {size}")
        if not 0 <= self.neighbours <= self.window:
            raise ConfigError(
                f"the feedback level's neighbours ({self.neighbours}) must be >= 0 and at most"
                f" its window ({self.window})"
            )
        if self.pooled is not None and self.pooled <= 0:
            raise ConfigError("the feedback level's pooled pseudo-count must be > 0 (or None)")
        for name, value in (("coupling strength", self.strength), ("shared", self.shared)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], not {value}")
        if self.strength > 0 and self.shared > 0:
            raise ConfigError("fill unknown outcomes by coupling strength or by shared, not both")


@dataclass(frozen=True, eq=False)
class FeedbackLevel:
    """Per-group sums over the feedback rows so far, each (groups, experts)."""

    knobs: FeedbackKnobs
    centroids: np.ndarray
    """(groups, d) unit centroids; (0, d): one group holding every row."""
    coupling: Coupling | None
    right: np.ndarray
    base: np.ndarray
    known: np.ndarray
    memory: NeighbourMemory
    rows: int = 0

    @classmethod
    def empty(
        cls, centroids: np.ndarray, validation: Evidence, knobs: FeedbackKnobs
    ) -> FeedbackLevel:
        """No feedback yet; the coupling (when on) from the ``validation`` rows."""
        shape = (max(len(centroids), 1), validation.scores.shape[1])
        coupling = Coupling.of(validation) if knobs.strength > 0 else None
        zeros = np.zeros(shape)
        memory = NeighbourMemory.empty(centroids.shape[1], shape[1], knobs.window)
        return cls(knobs, centroids, coupling, zeros, zeros, zeros, memory)

    def member(self, vectors: np.ndarray) -> np.ndarray:
        """(n, groups): soft membership of each vector."""
        if not len(self.centroids):
            return np.ones((len(vectors), 1))
        return membership(vectors, self.centroids, self.knobs.temperature)

    def added(self, rows: Evidence, frozen: np.ndarray) -> FeedbackLevel:
        """These sums plus ``rows``' (``frozen``: p0 at each row, (rows, experts))."""
        memory = self.memory.added(rows, frozen) if self.knobs.neighbours else self.memory
        if self.knobs.shared > 0:
            rows = shared_error(rows, frozen, self.knobs.shared)
        elif self.coupling is not None:
            rows = self.coupling.completed(rows, frozen, self.knobs.strength)
        member = self.member(rows.vectors).T
        known = rows.observed
        return replace(
            self,
            right=self.right + member @ rows.known_scores,
            base=self.base + member @ (known * frozen),
            known=self.known + member @ known,
            memory=memory,
            rows=self.rows + len(rows),
        )

    def corrected(self, vectors: np.ndarray, frozen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probability, weight), each (queries, experts): ``frozen`` (p0 at the queries)
        corrected by the feedback, and the feedback rows behind each estimate."""
        member = self.member(vectors)
        total = self.known + self.knobs.pseudo
        if self.knobs.centred:
            shift = member @ ((self.right - self.base) / total)
        else:
            shift = member @ (self.right / total) - frozen * (member @ (self.known / total))
        if self.knobs.pooled is not None:
            shift = shift + self._pooled_shift(frozen) * (member @ (self.knobs.pseudo / total))
        knobs = self.knobs
        shift, nearest = self.memory.shifted(
            vectors, shift, knobs.neighbours, knobs.neighbour_pseudo
        )
        return np.clip(frozen + shift, 0.0, 1.0), member @ self.known + nearest[:, None]

    def _pooled_shift(self, frozen: np.ndarray) -> np.ndarray:
        """(queries, experts): every row's record together, shrunk toward no correction by
        ``pooled`` rows; what each group's correction is shrunk toward."""
        known = self.known.sum(axis=0)
        total = known + float(self.knobs.pooled or 0.0)
        if self.knobs.centred:
            return np.broadcast_to(
                (self.right.sum(axis=0) - self.base.sum(axis=0)) / total, frozen.shape
            )
        shift: np.ndarray = (self.right.sum(axis=0) - frozen * known) / total
        return shift


def shared_error(rows: Evidence, frozen: np.ndarray, share: float) -> Evidence:
    """``rows`` with each unknown score set to ``frozen`` plus ``share`` x the row's mean known
    error against ``frozen`` (rows knowing none stay as they are)."""
    known = rows.observed
    count = known.sum(axis=1, keepdims=True)
    error = (known * (rows.known_scores - frozen)).sum(axis=1, keepdims=True)
    guess = np.clip(frozen + share * error / np.maximum(count, 1.0), 0.0, 1.0)
    fill = (known == 0) & (count > 0)
    return replace(rows, scores=np.where(fill, guess, rows.scores))
