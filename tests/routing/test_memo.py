"""Content-keyed memo of the routing maths: each distinct call once inside ``remembered()``."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.routing.clusters import kmeans
from router_svc.routing.memo import memoised, remembered
from router_svc.routing.neighbours import nearest

calls: list[int] = []


@memoised
def doubled(values: np.ndarray, *, times: int = 2) -> np.ndarray:
    calls.append(len(values))
    return values * times


def test_each_distinct_call_runs_once_inside_the_block() -> None:
    calls.clear()
    first = np.arange(4.0)
    with remembered():
        a = doubled(first)
        b = doubled(first.copy())  # another array, same contents
        c = doubled(np.arange(5.0))  # other contents
        d = doubled(first, times=3)  # other arguments
    assert calls == [4, 5, 4]
    assert a is b
    np.testing.assert_array_equal(c, np.arange(5.0) * 2)
    np.testing.assert_array_equal(d, first * 3)


def test_outside_a_block_nothing_is_remembered() -> None:
    calls.clear()
    doubled(np.arange(3.0))
    doubled(np.arange(3.0))
    with remembered():
        doubled(np.arange(3.0))
    doubled(np.arange(3.0))
    assert calls == [3, 3, 3, 3]


def test_remembered_arrays_are_read_only() -> None:
    with remembered():
        result = doubled(np.arange(3.0))
    with pytest.raises(ValueError, match="read-only"):
        result[0] = 1.0


def test_nearest_and_kmeans_give_the_same_answers_remembered() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    plain = nearest(vectors[:20], vectors, 5), kmeans(vectors, 4, seed=1)
    with remembered():
        kept = nearest(vectors[:20], vectors, 5), kmeans(vectors, 4, seed=1)
        again = nearest(vectors[:20], vectors, 5)
    for expected, got in zip((*plain[0], *plain[1]), (*kept[0], *kept[1]), strict=True):
        np.testing.assert_array_equal(expected, got)
    assert again[0] is kept[0][0]


def test_a_frozen_array_is_hashed_once_and_a_writeable_one_every_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hashlib

    from router_svc.routing import memo

    hashed: list[int] = []
    blake2b = hashlib.blake2b

    def counting(data: memoryview) -> hashlib.blake2b:
        hashed.append(data.nbytes)
        return blake2b(data)

    monkeypatch.setattr(memo.hashlib, "blake2b", counting)
    frozen = np.arange(6.0)
    frozen.flags.writeable = False
    changing = np.arange(6.0)
    with remembered():
        first = doubled(frozen)
        assert doubled(frozen) is first
        assert len(hashed) == 1
        before = doubled(changing)
        changing[0] = 10.0  # changed in place: the content key must see it
        after = doubled(changing)
        assert len(hashed) == 3
    np.testing.assert_array_equal(before, np.arange(6.0) * 2)
    assert after[0] == 20.0
