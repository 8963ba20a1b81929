"""The in-memory vector memo: each text embedded once, the least recently used dropped first."""

from __future__ import annotations

import numpy as np

from router_svc.tagging.hashing import HashingEmbedder
from router_svc.tagging.vector_cache import MemoEmbedder
from tests.support import CountingEmbedder


def counting() -> CountingEmbedder:
    return CountingEmbedder(HashingEmbedder(64))


def test_a_text_is_embedded_once_and_rows_keep_the_order() -> None:
    spy = counting()
    memo = MemoEmbedder(spy)
    memo.embed(["circle area", "prime numbers"])
    texts = ["prime numbers", "circle area", "prime numbers", "new text"]
    vectors = memo.embed(texts)
    assert spy.calls == [["circle area", "prime numbers"], ["new text"]]
    np.testing.assert_array_equal(vectors, spy.inner.embed(texts))


def test_kinds_are_remembered_apart() -> None:
    spy = counting()
    memo = MemoEmbedder(spy)
    memo.embed(["algebra"], kind="query")
    memo.embed(["algebra"], kind="document")
    assert spy.calls == [["algebra"], ["algebra"]]


def test_the_limit_drops_the_least_recently_used() -> None:
    spy = counting()
    memo = MemoEmbedder(spy, limit=2)
    memo.embed(["a b"])
    memo.embed(["c d"])
    memo.embed(["a b"])  # a hit: now the most recent
    memo.embed(["e f"])  # evicts "c d"
    memo.embed(["a b", "c d"])
    assert spy.calls == [["a b"], ["c d"], ["e f"], ["c d"]]


def test_no_texts_keep_the_dimension_and_the_name_is_the_models() -> None:
    spy = counting()
    memo = MemoEmbedder(spy)
    assert memo.embed([]).shape == (0, 64)
    assert memo.name == spy.name
