"""Remembered vectors: the in-memory memo (each text embedded once, the least recently used
dropped first) and the on-disk store per (embedder, kind, text)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from router_svc.tagging.hashing import HashingEmbedder
from router_svc.tagging.vector_cache import (
    MAX_PARTS,
    DiskCachedEmbedder,
    MemoEmbedder,
    cached_embed,
)
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


# --- the on-disk store, per text --------------------------------------------------------------


def test_a_second_file_embeds_only_its_new_texts(tmp_path: Path) -> None:
    """Two replay files sharing questions: the second run (a new process, a new embedder)
    embeds only the questions the first did not have."""
    first, second = counting(), counting()
    texts_a = ["circle area", "prime numbers", "photosynthesis"]
    texts_b = ["prime numbers", "world war ii", "circle area", "world war ii"]
    DiskCachedEmbedder(first, tmp_path).embed(texts_a)
    vectors = DiskCachedEmbedder(second, tmp_path).embed(texts_b)
    assert first.calls == [texts_a]
    assert second.calls == [["world war ii"]]
    np.testing.assert_allclose(vectors, second.inner.embed(texts_b), atol=1e-7)
    assert vectors.dtype == np.float32


def test_models_and_kinds_are_stored_apart(tmp_path: Path) -> None:
    small, other = counting(), CountingEmbedder(HashingEmbedder(32))
    DiskCachedEmbedder(small, tmp_path).embed(["algebra"], kind="query")
    DiskCachedEmbedder(small, tmp_path).embed(["algebra"], kind="document")
    vectors = DiskCachedEmbedder(other, tmp_path).embed(["algebra"])
    assert small.calls == [["algebra"], ["algebra"]]
    assert other.calls == [["algebra"]] and vectors.shape == (1, 32)
    assert len(list(tmp_path.glob("vectors-*"))) == 3


def test_a_part_left_half_written_is_not_read(tmp_path: Path) -> None:
    spy = counting()
    DiskCachedEmbedder(spy, tmp_path).embed(["circle area"])
    (keys,) = tmp_path.glob("vectors-*/part-*.keys")
    keys.unlink()  # a crash between writing the rows and renaming the keys into place
    again = counting()
    DiskCachedEmbedder(again, tmp_path).embed(["circle area"])
    assert again.calls == [["circle area"]]


def test_many_parts_are_merged_into_one(tmp_path: Path) -> None:
    spy = counting()
    texts = [f"question {i}" for i in range(MAX_PARTS + 3)]
    cached = DiskCachedEmbedder(spy, tmp_path)
    for text in texts:
        cached.embed([text])
    assert len(list(tmp_path.glob("vectors-*/part-*.keys"))) <= MAX_PARTS
    fresh = counting()
    vectors = DiskCachedEmbedder(fresh, tmp_path).embed(texts)
    assert fresh.calls == []
    np.testing.assert_allclose(vectors, spy.inner.embed(texts), atol=1e-7)


def test_cached_embed_reads_what_an_earlier_call_stored(tmp_path: Path) -> None:
    spy = counting()
    cached_embed(tmp_path, ["a b", "c d"], spy)
    cached_embed(tmp_path, ["c d", "a b"], spy)
    assert spy.calls == [["a b", "c d"]]
