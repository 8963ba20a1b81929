"""Clusters of validation-question vectors, named by their top terms (skill-plus's cluster tags,
knn-shrinkage's cluster level).

Spherical k-means (seeded k-means++ start) groups the validation questions; each cluster is
named after the keyword tags that are most typical of it (frequent inside, rarer outside), e.g.
``"topic: triangle, radius"``. A question's cluster is its nearest centroid, so the cluster acts
as a coarse skill that pools many validation outcomes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from router_svc.routing.memo import memoised


@dataclass(frozen=True, eq=False)
class Clustering:
    """Unit centroids and one name per cluster."""

    centroids: np.ndarray
    names: list[str]

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """(questions,): the nearest centroid of each vector."""
        return np.asarray(np.argmax(vectors @ self.centroids.T, axis=1))


def default_clusters(questions: int) -> int:
    """About sqrt(n / 4) clusters, between 2 and 64."""
    return max(2, min(64, round(math.sqrt(questions / 4))))


KMEANS_SAMPLE = 4000
"""Vectors beyond this: the centroids are found on a seeded sample of this many, then every
vector is assigned and the centroids are updated once over all of them. At a few dozen
clusters a sample this size places them as well as the whole set, at a fraction of the cost."""


@memoised
def kmeans(
    vectors: np.ndarray,
    clusters: int,
    *,
    seed: int = 0,
    iterations: int = 25,
    sample: int = KMEANS_SAMPLE,
) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means: (centroids, labels). Empty clusters are re-seeded from far points."""
    rng = np.random.default_rng(seed)
    clusters = max(1, min(clusters, len(vectors)))
    if len(vectors) > sample:
        rows = np.sort(rng.choice(len(vectors), size=sample, replace=False))
        centroids, _ = _lloyd(vectors[rows], clusters, rng, iterations)
        similarity = vectors @ centroids.T
        labels = np.argmax(similarity, axis=1)
        return _update(vectors, labels, clusters, similarity.max(axis=1)), labels
    return _lloyd(vectors, clusters, rng, iterations)


def _lloyd(
    vectors: np.ndarray, clusters: int, rng: np.random.Generator, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    centroids = _plus_plus(vectors, clusters, rng)
    labels = np.full(len(vectors), -1)
    for _ in range(iterations):
        similarity = vectors @ centroids.T
        new = np.argmax(similarity, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        centroids = _update(vectors, labels, clusters, similarity.max(axis=1))
    return centroids, labels


def _plus_plus(vectors: np.ndarray, clusters: int, rng: np.random.Generator) -> np.ndarray:
    chosen = [int(rng.integers(0, len(vectors)))]
    distance = 1.0 - vectors @ vectors[chosen[0]]
    for _ in range(1, clusters):
        weights = np.clip(distance, 0.0, None) + 1e-12
        chosen.append(int(rng.choice(len(vectors), p=weights / weights.sum())))
        distance = np.minimum(distance, 1.0 - vectors @ vectors[chosen[-1]])
    return np.asarray(vectors[chosen], dtype=np.float32)


def _update(vectors: np.ndarray, labels: np.ndarray, clusters: int, fit: np.ndarray) -> np.ndarray:
    members = np.zeros((clusters, len(vectors)), dtype=np.float32)
    members[labels, np.arange(len(vectors))] = 1.0
    sums = members @ vectors
    empty = np.flatnonzero(np.bincount(labels, minlength=clusters) == 0)
    worst = np.argsort(fit)[: len(empty)]  # the worst-fitting points seed empty clusters
    sums[empty] = vectors[worst]
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.asarray(sums / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def name_clusters(labels: np.ndarray, tags: Sequence[Sequence[str]], clusters: int) -> list[str]:
    """'topic: a, b' per cluster, from the tags most typical of it; unique names."""
    overall = Counter(t for row in tags for t in set(row))
    total = max(len(tags), 1)
    names: list[str] = []
    for cluster in range(clusters):
        members = np.flatnonzero(labels == cluster).tolist()
        inside = Counter(t for i in members for t in set(tags[i]))
        ranked = sorted(inside, key=lambda t: (-inside[t] * math.log(1 + total / overall[t]), t))
        base = "topic: " + (", ".join(ranked[:2]) or f"cluster {cluster}")
        names.append(base if base not in names else f"{base} ({cluster})")
    return names
