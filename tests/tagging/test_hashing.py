"""The model-free hashing embedder (``embedding_model: hashing``)."""

from __future__ import annotations

import numpy as np

from router_svc.tagging.hashing import HashingEmbedder, content_words


def test_content_words_drop_stopwords_and_options() -> None:
    text = "What is the radius of the circle? The options are: (A) 3 (B) 4"
    assert content_words(text) == ["radius", "circle"]


def test_vectors_are_unit_deterministic_and_morphology_aware() -> None:
    embedder = HashingEmbedder(256)
    vectors = embedder.embed(["equation", "equations", "medieval castle", ""])
    assert vectors.shape == (4, 256)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, rtol=1e-5)
    assert not vectors[3].any()
    assert vectors[0] @ vectors[1] > 0.5 > abs(vectors[0] @ vectors[2])
    np.testing.assert_array_equal(vectors, HashingEmbedder(256).embed(
        ["equation", "equations", "medieval castle", ""]
    ))  # fmt: skip


def test_idf_weights_rare_words() -> None:
    corpus = ["triangle area student", "circle area student", "triangle angle student"]
    embedder = HashingEmbedder.fitted(corpus, 512)
    assert embedder.name == "hashing-512-c0-idf"
    query, same_topic, same_filler = embedder.embed(
        ["triangle student", "triangle angle", "circle student"]
    )
    assert query @ same_topic > query @ same_filler
