"""The model-free hashing embedder and the memo around an embedder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from router_svc.evaluation.embedders import HashingEmbedder, MemoEmbedder, content_words
from router_svc.tagging.embedder import EmbeddingKind


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


class _Counting:
    name = "counting"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32).reshape(-1, 2)


def test_memo_embeds_each_text_once() -> None:
    inner = _Counting()
    memo = MemoEmbedder(inner)
    first = memo.embed(["a", "bb", "a"])
    second = memo.embed(["bb", "ccc"])
    assert inner.calls == [["a", "bb"], ["ccc"]]
    assert first[:, 0].tolist() == [1, 2, 1]
    assert second[:, 0].tolist() == [2, 3]
    assert memo.embed([]).shape == (0, 2)
    assert memo.name == "counting"
