"""skill-plus: each option switches one idea; off, it is the smoothed skill recruiter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from router_svc.config.routers import SkillPlusOptions
from router_svc.replay.data import load_replay
from router_svc.routing.inputs import Queries, SuiteData
from router_svc.routing.skill_plus import SkillPlusRouter
from router_svc.routing.smoothed import SmoothedSkillRecruiter
from router_svc.routing.suite import suite_from_table
from router_svc.tagging.hashing import HashingEmbedder
from router_svc.tagging.tagger import KeywordTagger

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "replay_small.jsonl"
PLAIN = SkillPlusOptions(smoothing=False, tags="keyword", neighbours=False, tuned=False)


@pytest.fixture(scope="module")
def data() -> tuple[SuiteData, Queries]:
    replay = load_replay(SMALL)
    validation, test = replay.table("validation"), replay.table("test")
    tagger = KeywordTagger(validation.questions)
    vectors = HashingEmbedder.fitted(validation.questions)
    suite = suite_from_table(
        validation,
        tagger.tag_sync(validation.questions),
        HashingEmbedder(256),
        vectors.embed(validation.questions),
    )
    tags = tagger.tag_sync(test.questions)
    queries = Queries(test.ids, tags, [], vectors.embed(test.questions))
    return suite, queries


def test_with_every_idea_off_it_is_the_unsmoothed_accuracy_recruiter(data) -> None:
    suite, queries = data
    router = SkillPlusRouter.fit(suite, PLAIN)
    assert (router.pseudo_count, router.blend, router.needs_vectors) == (0.0, 0.0, False)
    plain = SmoothedSkillRecruiter(router.matrix, pseudo_count=0.0)
    expected = plain.score(plain.weights(router.model.matches(queries.tags))).score
    no_vectors = Queries(queries.ids, queries.tags, [])
    np.testing.assert_allclose(router.score_queries(no_vectors).score, expected)


def test_the_cluster_tag_is_a_skill_of_its_own(data) -> None:
    suite, _ = data
    router = SkillPlusRouter.fit(suite, PLAIN.model_copy(update={"tags": "combined"}))
    assert router.clustering is not None
    assert set(router.clustering.names) <= set(router.matrix.skills)
    assert all(name.startswith("topic: ") for name in router.clustering.names)


def test_tuned_knobs_come_from_the_grid_and_cross_fitting_covers_validation(data) -> None:
    suite, _ = data
    options = SkillPlusOptions(pseudo_grid=[0.0, 7.0], blend_grid=[0.0, 0.6])
    router = SkillPlusRouter.fit(suite, options)
    assert router.pseudo_count in (0.0, 7.0)
    assert router.blend in (0.0, 0.6)
    halves = router.cross_fitted()
    rows = np.sort(np.concatenate([r for r, _ in halves]))
    np.testing.assert_array_equal(rows, np.arange(len(suite.ids)))
    assert all(e.shape == (len(r), len(suite.experts)) for r, e in halves)


def test_the_neighbours_need_query_vectors(data) -> None:
    suite, queries = data
    router = SkillPlusRouter.fit(suite, SkillPlusOptions(tuned=False))
    assert router.needs_vectors
    with pytest.raises(ValueError, match="question vector"):
        router.score_queries(Queries(queries.ids, queries.tags, []))
    scores = router.score_queries(queries).score
    assert scores.shape == (len(queries), len(suite.experts))
    assert ((scores >= 0) & (scores <= 1)).all()
