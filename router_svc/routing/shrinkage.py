"""Each expert's chance of answering a question right, from the validation questions nearest it.

The estimate is built from three levels, each shrunk toward the one below it, so a question
with close validation neighbours is judged by them and a question far from everything falls
back to what is known about its region and, failing that, to the expert's overall record:

- global:     g_e = (right_e + 1) / (n + 2), the expert's smoothed validation accuracy;
- cluster:    spherical k-means over the validation vectors gives K centroids (learned,
              label-free "skills"); a question belongs to each softly,
              pi_c(x) = softmax_c(x . mu_c / T);
              theta_ce = (sum_i pi_c(x_i) s_ie + m_c g_e) / (sum_i pi_c(x_i) + m_c),
              and the question's prior is r_e(x) = sum_c pi_c(x) theta_ce;
- neighbours: the n nearest validation questions by cosine, weighted w_j = exp((sim_j - 1) / tau),
              p_e(x) = (sum_j w_j s_je + m_k r_e(x)) / (sum_j w_j + m_k).

Distant neighbours weigh little (the kernel), so the pseudo-count m_k then dominates and the
estimate moves to the cluster prior. Each expert's expected cost on the question is the same
weighted average over the recorded costs. Pure numpy, seeded, arrays in and arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router_svc.routing.clusters import kmeans
from router_svc.routing.neighbours import nearest


@dataclass(frozen=True)
class ShrinkageKnobs:
    """The estimator's knobs (``routing.knob_search`` chooses them by cross-validation)."""

    neighbours: int = 50
    """n: nearest validation questions per query (0: no neighbour level)."""
    kernel_width: float = 0.1
    """tau: how fast a neighbour's weight falls with its distance (1 - cosine)."""
    neighbour_pseudo: float = 1.0
    """m_k: weight of the cluster prior, in neighbours at similarity 1."""
    clusters: int = 8
    """K: k-means clusters of the validation questions (1: the global level only)."""
    cluster_pseudo: float = 20.0
    """m_c: weight of the global accuracy inside each cluster, in questions."""
    membership_temperature: float = 0.05
    """T: softness of a question's cluster membership (small: nearly its nearest centroid)."""
    seed: int = 0


@dataclass(frozen=True, eq=False)
class Neighbours:
    """Each query's nearest validation questions, best first: rows and cosine similarities."""

    rows: np.ndarray
    sims: np.ndarray

    def first(self, n: int) -> Neighbours:
        return Neighbours(self.rows[:, :n], self.sims[:, :n])


@dataclass(frozen=True, eq=False)
class ShrinkageModel:
    """The three levels fitted on validation vectors (n, d), scores (n, e) and costs (n, e)."""

    knobs: ShrinkageKnobs
    vectors: np.ndarray
    scores: np.ndarray
    costs: np.ndarray
    centroids: np.ndarray
    """(K, d) unit centroids; (0, d) with one cluster."""
    accuracy: np.ndarray
    """(K, e) shrunk cluster accuracies; (1, e) the global one when K = 1."""
    cost: np.ndarray
    """(K, e) cluster mean costs, shrunk the same way."""

    @classmethod
    def fit(
        cls, vectors: np.ndarray, scores: np.ndarray, costs: np.ndarray, knobs: ShrinkageKnobs
    ) -> ShrinkageModel:
        centroids = (
            kmeans(vectors, knobs.clusters, seed=knobs.seed)[0]
            if knobs.clusters > 1 and len(vectors) > 1
            else np.zeros((0, vectors.shape[1]), dtype=np.float32)
        )
        return cls._levels(vectors, scores, costs, centroids, knobs)

    def refit(self, knobs: ShrinkageKnobs, member: np.ndarray | None = None) -> ShrinkageModel:
        """The model for other knobs, reusing the centroids where the clustering is the same;
        ``member``: the validation vectors' ``membership`` under ``knobs``, when known."""
        if (knobs.clusters, knobs.seed) != (self.knobs.clusters, self.knobs.seed):
            return ShrinkageModel.fit(self.vectors, self.scores, self.costs, knobs)
        return self._levels(self.vectors, self.scores, self.costs, self.centroids, knobs, member)

    @classmethod
    def _levels(
        cls,
        vectors: np.ndarray,
        scores: np.ndarray,
        costs: np.ndarray,
        centroids: np.ndarray,
        knobs: ShrinkageKnobs,
        member: np.ndarray | None = None,
    ) -> ShrinkageModel:
        scores, costs = np.asarray(scores, dtype=float), np.asarray(costs, dtype=float)
        overall = (scores.sum(axis=0) + 1.0) / (len(scores) + 2.0)
        mean_cost = costs.mean(axis=0)
        if not len(centroids):
            return cls(knobs, vectors, scores, costs, centroids, overall[None], mean_cost[None])
        if member is None:
            member = membership(vectors, centroids, knobs.membership_temperature)
        counts, pseudo = member.sum(axis=0)[:, None], knobs.cluster_pseudo
        accuracy = (member.T @ scores + pseudo * overall) / (counts + pseudo)
        cost = (member.T @ costs + pseudo * mean_cost) / (counts + pseudo)
        return cls(knobs, vectors, scores, costs, centroids, accuracy, cost)

    def neighbours(self, queries: np.ndarray, n: int | None = None) -> Neighbours:
        return Neighbours(*nearest(queries, self.vectors, n or self.knobs.neighbours))

    def estimate(
        self, queries: np.ndarray, found: Neighbours | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(success probability, expected cost), each (queries, experts)."""
        prior, prior_cost = self.cluster_prior(queries)
        if self.knobs.neighbours < 1 or not len(self.vectors):
            return prior, prior_cost
        near = found or self.neighbours(queries)
        sums = neighbour_sums(near, self.scores, self.costs, self.knobs)
        return self.blend(prior, prior_cost, sums)

    def cluster_prior(
        self, queries: np.ndarray, member: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(r(x), its expected cost): the cluster level of each query, (queries, experts);
        ``member``: the queries' ``membership`` of this model's clusters, when known."""
        if len(self.centroids):
            if member is None:
                member = self.membership(queries)
            return member @ self.accuracy, member @ self.cost
        return (
            np.repeat(self.accuracy, len(queries), axis=0),
            np.repeat(self.cost, len(queries), axis=0),
        )

    def membership(self, queries: np.ndarray) -> np.ndarray:
        """(queries, K): the queries' soft membership of this model's clusters."""
        return membership(queries, self.centroids, self.knobs.membership_temperature)

    def blend(
        self, prior: np.ndarray, prior_cost: np.ndarray, sums: NeighbourSums
    ) -> tuple[np.ndarray, np.ndarray]:
        """The neighbour level shrunk toward the cluster prior by ``neighbour_pseudo``."""
        pseudo = self.knobs.neighbour_pseudo
        total = sums.weight + pseudo
        return (sums.score + pseudo * prior) / total, (sums.cost + pseudo * prior_cost) / total


@dataclass(frozen=True, eq=False)
class NeighbourSums:
    """Kernel-weighted sums over each query's first n neighbours: weights (queries, 1), scores
    and costs (queries, experts)."""

    weight: np.ndarray
    score: np.ndarray
    cost: np.ndarray


def neighbour_sums(
    near: Neighbours, scores: np.ndarray, costs: np.ndarray, knobs: ShrinkageKnobs
) -> NeighbourSums:
    """The sums of the neighbour level for ``knobs.neighbours`` and ``knobs.kernel_width``."""
    near = near.first(knobs.neighbours)
    weights = np.exp((near.sims.astype(float) - 1.0) / knobs.kernel_width)
    return NeighbourSums(
        weights.sum(axis=1, keepdims=True),
        np.einsum("qn,qne->qe", weights, scores[near.rows]),
        np.einsum("qn,qne->qe", weights, costs[near.rows]),
    )


def membership(vectors: np.ndarray, centroids: np.ndarray, temperature: float) -> np.ndarray:
    """(questions, K): each question's soft membership of each cluster (rows sum to 1)."""
    logits = (vectors @ centroids.T).astype(float) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return np.asarray(weights / weights.sum(axis=1, keepdims=True))
