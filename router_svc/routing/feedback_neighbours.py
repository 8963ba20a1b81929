"""The feedback level's nearest graded questions: fully graded rows, searched by similarity.

The feedback level groups its rows by the validation clusters, and a new task's questions
share those clusters with the tasks seen in validation. A row that grades every expert (a
graded log, ``--feedback full``) is also kept here with its residual against the frozen
estimate (score - p0 at its own question), and a query's ``k`` most similar rows correct its
estimate, shrunk toward the group correction by ``pseudo`` rows:

    p_e(x) = p0_e(x) + (sum_{j in N_k(x)} r_je + m_n d_e(x)) / (|N_k(x)| + m_n)

where d_e(x) is the group (and pooled) correction. Rows that grade only some experts (bandit
feedback) stay out: their other outcomes would be guesses. Only the latest ``window`` rows
are kept, which bounds a query's cost at O(window x d).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router_svc.routing.evidence import Evidence


@dataclass(frozen=True, eq=False)
class NeighbourMemory:
    """The latest fully graded rows: unit vectors (n, d) and residuals (n, experts)."""

    vectors: np.ndarray
    residual: np.ndarray
    window: int

    @classmethod
    def empty(cls, dim: int, experts: int, window: int) -> NeighbourMemory:
        return cls(np.zeros((0, dim), dtype=np.float32), np.zeros((0, experts)), window)

    def __len__(self) -> int:
        return len(self.vectors)

    def added(self, rows: Evidence, frozen: np.ndarray) -> NeighbourMemory:
        """These rows plus ``rows`` that grade every expert (``frozen``: p0 at each row)."""
        full = rows.observed.min(axis=1) == 1.0
        if not full.any() or self.window == 0:
            return self
        vectors = np.concatenate([self.vectors, rows.vectors[full].astype(np.float32)])
        residual = np.concatenate([self.residual, rows.scores[full] - frozen[full]])
        return NeighbourMemory(vectors[-self.window :], residual[-self.window :], self.window)

    def shifted(
        self, queries: np.ndarray, shift: np.ndarray, k: int, pseudo: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(shift, rows), each (queries, experts) and (queries,): the group ``shift`` with
        each query's ``k`` most similar rows' residuals, shrunk toward it by ``pseudo``."""
        if not len(self) or k == 0:
            return shift, np.zeros(len(queries))
        similarity = np.asarray(queries, dtype=np.float32) @ self.vectors.T
        count = min(k, len(self))
        if count < len(self):
            nearest = np.argpartition(-similarity, count - 1, axis=1)[:, :count]
        else:
            nearest = np.broadcast_to(np.arange(count), (len(queries), count))
        total = self.residual[nearest].sum(axis=1)
        return (total + pseudo * shift) / (count + pseudo), np.full(len(queries), float(count))
