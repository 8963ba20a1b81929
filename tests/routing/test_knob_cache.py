"""Knob searches kept on disk by content, the search's row cap and k-means on a sample."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from router_svc.routing.clusters import kmeans
from router_svc.routing.evidence import Evidence
from router_svc.routing.knob_cache import KnobSearch, select_knobs_kept
from router_svc.routing.knob_search import search_rows, select_knobs
from router_svc.routing.shrinkage import ShrinkageKnobs
from tests.routing.test_knn_shrinkage import _evidence, two_regions

START = ShrinkageKnobs(neighbours=0, clusters=1, skill_pseudo=math.inf, task_pseudo=math.inf)


def search_key(
    evidence: Evidence,
    skill_count: int,
    categories: list[str] | None,
    start: ShrinkageKnobs,
    folds: int,
    seed: int,
) -> str:
    return KnobSearch(evidence, skill_count, categories, start, folds, seed).key()


def test_a_kept_search_is_read_back_equal_and_not_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence = _evidence(*two_regions(n=80))
    first = select_knobs_kept(KnobSearch(evidence, 0, None, START, 4, 1), tmp_path)
    (kept,) = tmp_path.glob("*.json")

    def no_search(*args: object, **kwargs: object) -> None:
        raise AssertionError("the kept search was run again")

    monkeypatch.setattr("router_svc.routing.knob_cache.select_knobs", no_search)
    second = select_knobs_kept(KnobSearch(evidence, 0, None, START, 4, 1), tmp_path)
    assert second.knobs == first.knobs != START
    assert [t.knobs for t in second.trials] == [t.knobs for t in first.trials]
    assert [t.objective for t in second.trials] == [t.objective for t in first.trials]
    assert [t.versus_chosen for t in second.trials] == [t.versus_chosen for t in first.trials]
    assert second.best.versus_chosen == (0.0, 0.0)
    assert kept.stem == search_key(evidence, 0, None, START, 4, 1)


def test_the_key_changes_with_every_input() -> None:
    vectors, scores, costs = two_regions(n=40)
    evidence = _evidence(vectors, scores, costs)
    base = search_key(evidence, 0, None, START, 4, 1)
    flipped = scores.copy()
    flipped[0, 0] = 1.0 - flipped[0, 0]
    others = [
        search_key(_evidence(vectors, flipped, costs), 0, None, START, 4, 1),
        search_key(evidence, 0, ["a"] * 20 + ["b"] * 20, START, 4, 1),
        search_key(evidence, 0, None, ShrinkageKnobs(), 4, 1),
        search_key(evidence, 0, None, START, 5, 1),
        search_key(evidence, 0, None, START, 4, 2),
    ]
    assert len({base, *others}) == 1 + len(others)


def test_a_broken_file_is_searched_again_and_rewritten(tmp_path: Path) -> None:
    evidence = _evidence(*two_regions(n=80))
    path = tmp_path / f"{search_key(evidence, 0, None, START, 4, 1)}.json"
    path.write_text('{"chosen": 3, "trials": [', encoding="utf-8")
    selection = select_knobs_kept(KnobSearch(evidence, 0, None, START, 4, 1), tmp_path)
    assert selection.knobs == select_knobs(evidence, 0, start=START, folds=4, seed=1).knobs
    assert json.loads(path.read_text(encoding="utf-8"))["trials"]


def test_the_search_runs_on_a_sample_that_keeps_each_task_share() -> None:
    categories = ["a"] * 600 + ["b"] * 300 + ["c"] * 100
    keep = search_rows(1000, categories, 100, seed=0)
    assert keep is not None and keep.sum() == 100
    kept = np.asarray(categories)[keep]
    assert [int((kept == c).sum()) for c in "abc"] == [60, 30, 10]
    assert search_rows(1000, categories, 1000, seed=0) is None
    assert (search_rows(1000, None, 100, seed=1) == search_rows(1000, None, 100, seed=1)).all()


def test_a_capped_search_still_finds_the_regions() -> None:
    evidence = _evidence(*two_regions(n=400))
    capped = select_knobs(evidence, 0, start=START, folds=4, seed=1, rounds=1, max_rows=120)
    assert capped.knobs != START
    assert capped.best.accuracy["random"] > 0.95


def test_kmeans_on_a_sample_assigns_every_vector() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4)[:3]
    points = np.vstack([rng.normal(c, 0.05, (300, 4)) for c in centres])
    points = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    centroids, labels = kmeans(points, 3, seed=0, sample=90)
    assert labels.shape == (900,)
    for block in range(3):
        assert len(set(labels[block * 300 : (block + 1) * 300].tolist())) == 1
    assert len(set(labels.tolist())) == 3
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)
