"""Clusters: k-means over question vectors, clusters named by their top tags."""

from __future__ import annotations

import numpy as np

from router_svc.routing.clusters import Clustering, default_clusters, kmeans, name_clusters
from router_svc.tagging.hashing import HashingEmbedder

GEOMETRY = [f"Find the radius and angle of circle number {i}." for i in range(6)]
HISTORY = [f"Which dynasty built the temple in year {i}?" for i in range(6)]


def test_kmeans_separates_two_groups() -> None:
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal([5, 0], 0.1, (20, 2)), rng.normal([0, 5], 0.1, (20, 2))])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    _, labels = kmeans(points.astype(np.float32), 2, seed=1)
    assert len(set(labels[:20].tolist())) == 1
    assert len(set(labels[20:].tolist())) == 1
    assert labels[0] != labels[-1]


def test_names_are_typical_tags_and_unique() -> None:
    labels = np.array([0, 0, 1, 1])
    tags = [["radius", "circle"], ["radius"], ["dynasty"], ["dynasty", "temple"]]
    assert name_clusters(labels, tags, 2) == ["topic: radius, circle", "topic: dynasty, temple"]
    assert name_clusters(np.array([0, 1]), [["a"], ["a"]], 2) == ["topic: a", "topic: a (1)"]
    assert default_clusters(10) == 2
    assert default_clusters(100_000) == 64


def test_a_question_joins_its_nearest_cluster() -> None:
    questions = GEOMETRY + HISTORY
    tags = [["radius", "circle"]] * 6 + [["dynasty", "temple"]] * 6
    embedder = HashingEmbedder.fitted(questions)
    centroids, labels = kmeans(embedder.embed(questions, kind="query"), 2, seed=0)
    clustering = Clustering(centroids, name_clusters(labels, tags, 2))
    new = ["What is the radius of this circle?", "Name the dynasty of the temple."]
    geometry, history = clustering.assign(embedder.embed(new, kind="query")).tolist()
    assert clustering.names[geometry] == "topic: circle, radius"  # a tie: alphabetical order
    assert clustering.names[history] == "topic: dynasty, temple"
