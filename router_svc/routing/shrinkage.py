"""Each expert's chance of answering a question right, from the graded questions nearest it.

The estimate has five levels, each shrunk toward the one below it by a pseudo-count, so each
weighs by how much evidence it holds: a question with close graded neighbours is judged by
them, one whose skills have a long record by that record, and one far from everything by its
region, its task and, failing those, by the expert's overall record. Every count is over the
outcomes actually known (an evidence row may reveal only some experts: ``routing.evidence``).

- global:     g_e = (right_e + 1) / (known_e + 2), the expert's smoothed accuracy;
- task:       where the evidence names tasks (categories), the expert's record on each task
              shrunk toward g_e by m_t, weighted by the query's soft membership of the tasks
              (softmax of its similarity to each task's mean vector over T): t_e(x);
- cluster:    spherical k-means over the evidence vectors gives K centroids (label-free
              regions), pi_c(x) = softmax_c(x . mu_c / T), and
              r_e(x) = sum_c pi_c(x) (right_ce + m_c t_e(x)) / (known_ce + m_c);
- skills:     the question's skills (its tags mapped onto the inventory, weights w_s summing
              to 1) and the expert's record on each over the rows carrying it:
              q_e(x) = (sum_s w_s right_se + m_s r_e(x)) / (sum_s w_s known_se + m_s);
- neighbours: the n nearest evidence rows by cosine, weighted w_j = exp((sim_j - 1) / tau):
              p_e(x) = (sum_j w_j s_je + m_k q_e(x)) / (sum_j w_j known_je + m_k).

Each expert's expected cost is shrunk the same way over the recorded costs. An infinite
pseudo-count (or no neighbours, one cluster, no named task) switches its level off. Pure
numpy, seeded, arrays in and arrays out.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from router_svc.routing.clusters import kmeans
from router_svc.routing.evidence import Evidence, SkillRows
from router_svc.routing.neighbours import nearest

LEVELS = ("neighbours", "skills", "cluster", "global")


@dataclass(frozen=True)
class ShrinkageKnobs:
    """The estimator's knobs (``routing.knob_search`` chooses them by cross-validation)."""

    neighbours: int = 0
    """n: nearest evidence rows per query (0: no neighbour level)."""
    kernel_width: float = 0.1
    """tau: how fast a neighbour's weight falls with its distance (1 - cosine)."""
    neighbour_pseudo: float = 10.0
    """m_k: weight of the skill level under the neighbours, in neighbours at similarity 1."""
    skill_pseudo: float = 100.0
    """m_s: weight of the cluster level under the skills, in questions (inf: no skill level)."""
    clusters: int = 32
    """K: k-means clusters of the evidence vectors (1: no cluster level)."""
    cluster_pseudo: float = 20.0
    """m_c: weight of the task level inside each cluster, in questions."""
    task_pseudo: float = 5.0
    """m_t: weight of the global level inside each known task, in questions (inf: no task
    level; none either where the evidence names no task)."""
    membership_temperature: float = 0.05
    """T: softness of a question's cluster membership (small: nearly its nearest centroid)."""
    seed: int = 0


@dataclass(frozen=True, eq=False)
class Neighbours:
    """Each query's nearest evidence rows, best first: rows and cosine similarities."""

    rows: np.ndarray
    sims: np.ndarray

    def first(self, n: int) -> Neighbours:
        return Neighbours(self.rows[:, :n], self.sims[:, :n])


@dataclass(frozen=True, eq=False)
class Level:
    """One level's estimate and the evidence behind it, each (queries, experts)."""

    probability: np.ndarray
    cost: np.ndarray
    weight: np.ndarray
    """The evidence the level holds: questions (kernel-weighted for neighbours)."""


@dataclass(frozen=True, eq=False)
class Estimate:
    """Success probability and expected cost (queries, experts), and every level behind them."""

    probability: np.ndarray
    cost: np.ndarray
    levels: dict[str, Level]


@dataclass(frozen=True, eq=False)
class Records:
    """Per-group sums of known outcomes: right (groups, e), known (groups, e), cost (groups, e)."""

    right: np.ndarray
    known: np.ndarray
    cost: np.ndarray

    @classmethod
    def of(cls, weights: np.ndarray, evidence: Evidence) -> Records:
        """Sums over evidence rows weighted by ``weights`` (rows, groups)."""
        known, scores, costs = _known(evidence)
        return cls(weights.T @ scores, weights.T @ known, weights.T @ costs)

    @classmethod
    def of_skills(cls, skills: SkillRows, evidence: Evidence, count: int) -> Records:
        known, scores, costs = _known(evidence)
        return cls(
            skills.column_sums(scores, count),
            skills.column_sums(known, count),
            skills.column_sums(costs, count),
        )

    @classmethod
    def none(cls, evidence: Evidence) -> Records:
        empty = np.zeros((0, evidence.scores.shape[1]))
        return cls(empty, empty, empty)

    def blend(self, member: np.ndarray, below: Level, pseudo: float) -> Level:
        """Each group's record shrunk toward the query's ``below`` level by ``pseudo``
        questions, averaged with the query's ``member`` weights (queries, groups)."""
        total = self.known + pseudo
        own = member @ (pseudo / total)
        return Level(
            member @ (self.right / total) + own * below.probability,
            member @ (self.cost / total) + own * below.cost,
            member @ self.known,
        )


def _known(evidence: Evidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(known, scores, costs) with unknown cells as 0 and their ``known`` 0."""
    return evidence.observed, evidence.known_scores, evidence.known_costs


@dataclass(frozen=True, eq=False)
class ShrinkageModel:
    """The levels fitted on evidence rows over ``skill_count`` inventory skills."""

    knobs: ShrinkageKnobs
    evidence: Evidence
    skill_count: int
    centroids: np.ndarray
    """(K, d) unit centroids of the clusters; (0, d) with one cluster."""
    task_centroids: np.ndarray
    """(tasks, d) unit mean vectors of the known tasks; (0, d) where none is known."""
    overall: Level
    """(1, e): the global level."""
    tasks: Records
    """(tasks, e) each expert's record on each known task."""
    clusters: Records
    """(K, e) each expert's record in each cluster (soft counts)."""
    skills: Records
    """(skills, e) each expert's record on each skill."""

    @classmethod
    def fit(cls, evidence: Evidence, skill_count: int, knobs: ShrinkageKnobs) -> ShrinkageModel:
        vectors = evidence.vectors
        centroids = (
            kmeans(vectors, knobs.clusters, seed=knobs.seed)[0]
            if knobs.clusters > 1 and len(vectors) > 1
            else np.zeros((0, vectors.shape[1]), dtype=np.float32)
        )
        return cls.with_centroids(evidence, skill_count, centroids, knobs)

    @classmethod
    def with_centroids(
        cls,
        evidence: Evidence,
        skill_count: int,
        centroids: np.ndarray,
        knobs: ShrinkageKnobs,
        member: np.ndarray | None = None,
        skills: Records | None = None,
    ) -> ShrinkageModel:
        """The levels over given cluster centroids; ``member``: the evidence rows' membership
        of them and ``skills``: the skill records, when already known."""
        if len(centroids) and member is None:
            member = membership(evidence.vectors, centroids, knobs.membership_temperature)
        clusters = Records.of(member, evidence) if member is not None else Records.none(evidence)
        if skills is None:
            skills = Records.of_skills(evidence.skills, evidence, skill_count)
        task_records, task_centroids = _tasks(evidence)
        return cls(
            knobs, evidence, skill_count, centroids, task_centroids, _global(evidence),
            task_records, clusters, skills,
        )  # fmt: skip

    def refit(self, knobs: ShrinkageKnobs, member: np.ndarray | None = None) -> ShrinkageModel:
        """The model for other knobs, reusing the centroids where the clustering is the same."""
        if (knobs.clusters, knobs.seed) != (self.knobs.clusters, self.knobs.seed):
            return ShrinkageModel.fit(self.evidence, self.skill_count, knobs)
        return ShrinkageModel.with_centroids(
            self.evidence, self.skill_count, self.centroids, knobs, member, self.skills
        )

    def neighbours(self, queries: np.ndarray, n: int | None = None) -> Neighbours:
        return Neighbours(*nearest(queries, self.evidence.vectors, n or self.knobs.neighbours))

    def estimate(
        self,
        queries: np.ndarray,
        skills: SkillRows | None = None,
        *,
        found: Neighbours | None = None,
        member: np.ndarray | None = None,
        sums: NeighbourSums | None = None,
    ) -> Estimate:
        """Every level for ``queries`` (q, d) carrying ``skills`` (q rows; None: none known).
        What is already known may be passed: their nearest rows, their cluster membership,
        or their neighbour sums."""
        levels = {"global": self._global_rows(len(queries))}
        levels["task"] = self.task_level(queries, levels["global"])
        levels["cluster"] = below = self.cluster_level(queries, levels["task"], member)
        levels["skills"] = below = self.skill_level(skills or SkillRows.empty(len(queries)), below)
        if self.knobs.neighbours >= 1 and len(self.evidence):
            if sums is None:
                sums = neighbour_sums(found or self.neighbours(queries), self.evidence, self.knobs)
            levels["neighbours"] = below = neighbour_level(sums, self.knobs, below)
        return Estimate(below.probability, below.cost, levels)

    def _global_rows(self, count: int) -> Level:
        o = self.overall
        return Level(*(np.repeat(a, count, axis=0) for a in (o.probability, o.cost, o.weight)))

    def task_level(self, queries: np.ndarray, below: Level) -> Level:
        """t(x): the known tasks' records, weighted by the query's similarity to each task,
        shrunk toward the global level."""
        pseudo = self.knobs.task_pseudo
        if not len(self.task_centroids) or math.isinf(pseudo):
            return Level(below.probability, below.cost, np.zeros_like(below.weight))
        member = membership(queries, self.task_centroids, self.knobs.membership_temperature)
        return self.tasks.blend(member, below, pseudo)

    def cluster_level(
        self, queries: np.ndarray, below: Level, member: np.ndarray | None = None
    ) -> Level:
        """r(x): the query's clusters' records, each shrunk toward ``below`` (the task level);
        ``member``: the queries' membership of the clusters, when known."""
        if not len(self.centroids):
            return Level(below.probability, below.cost, np.zeros_like(below.weight))
        if member is None:
            member = self.membership(queries)
        return self.clusters.blend(member, below, self.knobs.cluster_pseudo)

    def skill_level(self, skills: SkillRows, below: Level) -> Level:
        """q(x): the skills' records, shrunk toward ``below`` (the cluster level)."""
        pseudo = self.knobs.skill_pseudo
        if math.isinf(pseudo) or not len(skills.rows):
            return Level(below.probability, below.cost, np.zeros_like(below.weight))
        share = skills.normalised()
        right, known = share.row_sums(self.skills.right), share.row_sums(self.skills.known)
        cost = share.row_sums(self.skills.cost)
        total = known + pseudo
        return Level(
            (right + pseudo * below.probability) / total,
            (cost + pseudo * below.cost) / total,
            known,
        )

    def membership(self, queries: np.ndarray) -> np.ndarray:
        """(queries, K): the queries' soft membership of this model's clusters."""
        return membership(queries, self.centroids, self.knobs.membership_temperature)


_TASKS: weakref.WeakKeyDictionary[Evidence, tuple[Records, np.ndarray]] = (
    weakref.WeakKeyDictionary()
)


def _tasks(evidence: Evidence) -> tuple[Records, np.ndarray]:
    """The experts' records on each known task and the tasks' unit mean vectors, once per
    evidence (they depend on nothing else: the knob search refits many times over it)."""
    if evidence not in _TASKS:
        member, centroids = _task_membership(evidence)
        _TASKS[evidence] = (Records.of(member, evidence), centroids)
    return _TASKS[evidence]


def _task_membership(evidence: Evidence) -> tuple[np.ndarray, np.ndarray]:
    """(rows, tasks) one-hot task membership of the evidence rows (none for an unknown task)
    and the tasks' unit mean vectors."""
    tasks = evidence.task_rows
    count = int(tasks.max(initial=-1)) + 1
    member = np.zeros((len(tasks), count))
    known = tasks >= 0
    member[np.flatnonzero(known), tasks[known]] = 1.0
    member = member[:, member.sum(axis=0) > 0]
    sums = member.T @ evidence.vectors.astype(float)
    centroids = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return member, centroids.astype(np.float32)


def _global(evidence: Evidence) -> Level:
    known, scores, costs = _known(evidence)
    count = known.sum(axis=0)
    mean_cost = costs.sum(axis=0) / np.maximum(count, 1.0)
    return Level(
        ((scores.sum(axis=0) + 1.0) / (count + 2.0))[None],
        mean_cost[None],
        count[None],
    )


def neighbour_level(sums: NeighbourSums, knobs: ShrinkageKnobs, below: Level) -> Level:
    """p(x): kernel-weighted known outcomes of the first n neighbours (``sums``), shrunk
    toward ``below`` (the skill level) by ``knobs.neighbour_pseudo``."""
    pseudo = knobs.neighbour_pseudo
    total = sums.weight + pseudo
    return Level(
        (sums.score + pseudo * below.probability) / total,
        (sums.cost + pseudo * below.cost) / total,
        sums.weight,
    )


@dataclass(frozen=True, eq=False)
class NeighbourSums:
    """Kernel-weighted sums over each query's first n neighbours' known outcomes, each
    (queries, experts)."""

    weight: np.ndarray
    score: np.ndarray
    cost: np.ndarray


def neighbour_sums(near: Neighbours, evidence: Evidence, knobs: ShrinkageKnobs) -> NeighbourSums:
    """The sums of the neighbour level for ``knobs.neighbours`` and ``knobs.kernel_width``."""
    near = near.first(knobs.neighbours)
    weights = np.exp((near.sims.astype(float) - 1.0) / knobs.kernel_width)
    known, scores, costs = _known(evidence)
    return NeighbourSums(
        np.einsum("qn,qne->qe", weights, known[near.rows]),
        np.einsum("qn,qne->qe", weights, scores[near.rows]),
        np.einsum("qn,qne->qe", weights, costs[near.rows]),
    )


def membership(vectors: np.ndarray, centroids: np.ndarray, temperature: float) -> np.ndarray:
    """(questions, K): each question's soft membership of each cluster (rows sum to 1)."""
    logits = (vectors @ centroids.T).astype(float) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return np.asarray(weights / weights.sum(axis=1, keepdims=True))
