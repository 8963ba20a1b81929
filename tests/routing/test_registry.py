"""The routing-method registry: every registered method carries its options, fits and routes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from router_svc.config import routers
from router_svc.config.registry import ROUTERS
from router_svc.config.routers import DEFAULT_ROUTER, router_options
from router_svc.errors import UnknownComponentError
from router_svc.replay.data import load_replay
from router_svc.routing.recruiter import RecruitOptions
from router_svc.routing.registry import router_class
from router_svc.routing.suite import suite_from_table
from router_svc.tagging.hashing import HashingEmbedder
from router_svc.tagging.tagger import KeywordTagger
from tests.support import fit_router

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "replay_small.jsonl"


def test_the_built_in_methods_carry_their_options_from_the_config_layer() -> None:
    assert ROUTERS.names(builtin_only=True) == [
        "knn-shrinkage",
        "skill",
        "skill-plus",
        "symbolic-moe",
    ]
    assert DEFAULT_ROUTER in ROUTERS
    for name in ROUTERS.names(builtin_only=True):
        options = ROUTERS.options(name)
        assert options is router_class(name).Options  # type: ignore[attr-defined]
        assert getattr(routers, options.__name__) is options  # cheap to import for validation


def test_an_unknown_method_suggests_the_closest() -> None:
    with pytest.raises(UnknownComponentError, match="Did you mean 'skill-plus'"):
        router_class("skill-plu")


def test_bad_options_name_the_field_and_the_closest() -> None:
    with pytest.raises(ValueError, match=r"'neighbour_cont'.*Did you mean 'neighbour_count'"):
        router_options("skill-plus", {"neighbour_cont": 3})


@pytest.mark.parametrize("name", ROUTERS.names())
def test_every_method_fits_on_replay_data_and_routes(name: str) -> None:
    data = load_replay(SMALL)
    validation, test = data.table("validation"), data.table("test")
    tagger = KeywordTagger(validation.questions)
    vectors = HashingEmbedder.fitted(validation.questions)
    skills = HashingEmbedder(256)
    suite = suite_from_table(
        validation,
        tagger.tag_sync(validation.questions),
        skills,
        vectors.embed(validation.questions),
    )
    router = fit_router(suite, name)
    tags = tagger.tag_sync(test.questions)
    assignments = router.assign(
        test.ids,
        tags,
        suite.inventory.map_many(tags, skills),
        RecruitOptions(k=2),
        vectors=vectors.embed(test.questions),
    )
    assert [a.question_id for a in assignments] == test.ids
    for assignment in assignments:
        assert 1 <= len(assignment.chosen) <= 2
        assert len(set(assignment.chosen)) == len(assignment.chosen)
        assert set(assignment.chosen) <= set(test.experts)
    chosen = np.array([test.experts.index(a.chosen[0]) for a in assignments])
    assert test.scores[np.arange(len(chosen)), chosen].mean() > test.scores.mean()
