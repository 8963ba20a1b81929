"""Nearest validation questions, and what their outcomes say about each expert.

Vectors are unit rows (MiniLM or the hashing embedder of the benches), so the
similarity is a dot product; queries go in chunks so the similarity block stays small.
"""

from __future__ import annotations

import numpy as np

from router_svc.routing.memo import memoised

_CHUNK = 1024


@memoised
def nearest(
    queries: np.ndarray, reference: np.ndarray, n: int, *, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (queries, n) of the ``n`` most similar reference vectors and their similarities,
    best first. ``exclude_self`` (queries are the reference) leaves each question out."""
    n = min(n, len(reference) - (1 if exclude_self else 0))
    if n < 1:
        raise ValueError("not enough reference questions for a neighbour")
    rows = np.zeros((len(queries), n), dtype=int)
    sims = np.zeros((len(queries), n), dtype=np.float32)
    for start in range(0, len(queries), _CHUNK):
        block = queries[start : start + _CHUNK] @ reference.T
        if exclude_self:
            index = np.arange(len(block))
            block[index, start + index] = -np.inf
        top = np.argpartition(-block, n - 1, axis=1)[:, :n]
        order = np.argsort(-np.take_along_axis(block, top, axis=1), axis=1, kind="stable")
        chosen = np.take_along_axis(top, order, axis=1)
        rows[start : start + len(block)] = chosen
        sims[start : start + len(block)] = np.take_along_axis(block, chosen, axis=1)
    return rows, sims


def neighbour_estimates(
    rows: np.ndarray,
    sims: np.ndarray,
    reference_scores: np.ndarray,
    *,
    prior: np.ndarray,
    pseudo: float,
) -> np.ndarray:
    """(queries, experts): each expert's similarity-weighted mean score on the neighbours,
    smoothed toward ``prior`` (its overall accuracy) by ``pseudo`` pseudo-questions."""
    weights = np.clip(sims, 0.0, None).astype(float)
    total = np.einsum("qn,qne->qe", weights, reference_scores[rows])
    return np.asarray(
        (total + pseudo * prior[None, :]) / (weights.sum(axis=1, keepdims=True) + pseudo)
    )


def knn_choice(rows: np.ndarray, reference_scores: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """(queries,): the expert with the best mean score on the neighbours (plain kNN router);
    ties go to the expert with the better overall accuracy."""
    means = reference_scores[rows].mean(axis=1)
    return np.asarray(np.argmax(means + 1e-9 * prior[None, :], axis=1))
