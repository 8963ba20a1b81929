"""The skill inventory: build, map keywords by cosine, save and load (real MiniLM)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from router_svc.backends.base import EngineContext
from router_svc.errors import ConfigError, DataError
from router_svc.tagging.embedder import EmbeddingKind, SentenceTransformerEmbedder
from router_svc.tagging.inventory import SkillInventory, SkillMatch

VALIDATION_TAGS = [
    ["algebra", "arithmetic"],
    ["algebra", "geometry"],
    ["chemistry", "stoichiometry"],
    ["biology", "genetics"],
    ["geography", "rivers"],
    ["european history", "algebra"],
    ["python programming", "Algebra "],  # cleaned to "algebra", counted once per question
]


class CountingEmbedder:
    """The real embedder, counting its embed calls (to check batching)."""

    def __init__(self, inner: SentenceTransformerEmbedder, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or inner.name
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed(texts, kind=kind)


@pytest.fixture(scope="module")
def minilm(engine_context: EngineContext) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(cache_dir=engine_context.model_cache_dir)


@pytest.fixture
def embedder(minilm: SentenceTransformerEmbedder) -> CountingEmbedder:
    return CountingEmbedder(minilm)


@pytest.fixture
def inventory(embedder: CountingEmbedder) -> SkillInventory:
    return SkillInventory.build(VALIDATION_TAGS, embedder)


def test_build_counts_and_orders_skills(inventory: SkillInventory) -> None:
    assert inventory.skills[0] == "algebra"
    assert inventory.counts[0] == 4
    assert len(inventory) == 11
    assert set(inventory.skills) == {
        "algebra",
        "arithmetic",
        "geometry",
        "chemistry",
        "stoichiometry",
        "biology",
        "genetics",
        "geography",
        "rivers",
        "european history",
        "python programming",
    }
    assert inventory.skills[1:3] == ["arithmetic", "biology"]  # ties: alphabetical
    assert dict(zip(inventory.skills, inventory.counts, strict=True))["chemistry"] == 1
    assert inventory.vectors.shape == (11, 384)
    np.testing.assert_allclose(np.linalg.norm(inventory.vectors, axis=1), 1.0, atol=1e-5)
    assert inventory.embedder_name == "pkg:all-minilm-l6-v2"


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("algebraic equations", "algebra"),
        ("photosynthesis", "biology"),
        ("chemical reactions", "chemistry"),
        ("the french revolution", "european history"),
        ("writing python code", "python programming"),
    ],
)
def test_map_finds_the_nearest_skill(
    inventory: SkillInventory, embedder: CountingEmbedder, keyword: str, expected: str
) -> None:
    (match,) = inventory.map([keyword], embedder)
    assert match.keyword == keyword
    assert match.skill == expected
    assert 0.0 < match.similarity < 1.0


def test_exact_hits_short_circuit(inventory: SkillInventory, embedder: CountingEmbedder) -> None:
    matches = inventory.map(["chemistry", "Rivers "], embedder)
    assert matches == [
        SkillMatch("chemistry", "chemistry", 1.0),
        SkillMatch("Rivers ", "rivers", 1.0),
    ]
    assert embedder.calls == [inventory.skills]  # only the build call: nothing embedded


def test_map_many_is_map_per_list_in_one_embed_call(
    inventory: SkillInventory, embedder: CountingEmbedder
) -> None:
    lists = [["algebraic equations", "chemistry"], [], ["photosynthesis", "dna replication"]]
    embedder.calls.clear()
    together = inventory.map_many(lists, embedder)
    assert len(embedder.calls) == 1
    assert sorted(embedder.calls[0]) == ["algebraic equations", "dna replication", "photosynthesis"]
    separately = [inventory.map(keywords, embedder) for keywords in lists]
    assert [[m.skill for m in ms] for ms in together] == [
        [m.skill for m in ms] for ms in separately
    ]
    for got, want in zip(together, separately, strict=True):
        for a, b in zip(got, want, strict=True):
            assert a.keyword == b.keyword
            assert a.similarity == pytest.approx(b.similarity, abs=1e-5)
    assert together[1] == []
    assert together[2][1].skill in {"genetics", "biology"}


def test_another_embedder_is_refused(
    inventory: SkillInventory, minilm: SentenceTransformerEmbedder
) -> None:
    with pytest.raises(ConfigError, match="rebuild the inventory"):
        inventory.map(["photosynthesis"], CountingEmbedder(minilm, name="other-model"))


def test_build_without_keywords_fails(embedder: CountingEmbedder) -> None:
    with pytest.raises(DataError, match="no skill keywords"):
        SkillInventory.build([[], ["  "]], embedder)


def test_inconsistent_fields_are_rejected() -> None:
    with pytest.raises(ValueError, match="counts"):
        SkillInventory(["a", "b"], [1], np.zeros((2, 3), np.float32), "m")
    with pytest.raises(ValueError, match="vectors"):
        SkillInventory(["a", "b"], [1, 1], np.zeros((3, 3), np.float32), "m")


def test_save_and_load_round_trip(
    inventory: SkillInventory, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    inventory.save(tmp_path / "inv")
    metadata = json.loads((tmp_path / "inv" / "inventory.json").read_text())
    assert metadata["version"] == 1
    assert metadata["embedder"] == "pkg:all-minilm-l6-v2"
    loaded = SkillInventory.load(tmp_path / "inv")
    assert loaded.skills == inventory.skills
    assert loaded.counts == inventory.counts
    assert loaded.embedder_name == inventory.embedder_name
    np.testing.assert_array_equal(loaded.vectors, inventory.vectors)
    keywords = ["algebraic equations", "photosynthesis"]
    assert loaded.map(keywords, embedder) == inventory.map(keywords, embedder)


def test_load_wrong_version_names_the_file(inventory: SkillInventory, tmp_path: Path) -> None:
    inventory.save(tmp_path)
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"version": 2}))
    with pytest.raises(DataError, match=r"inventory\.json.*version 2"):
        SkillInventory.load(tmp_path)


def test_load_row_count_mismatch_names_the_file(inventory: SkillInventory, tmp_path: Path) -> None:
    inventory.save(tmp_path)
    np.save(tmp_path / "inventory.npy", inventory.vectors[:-1])
    with pytest.raises(DataError, match=r"inventory\.npy"):
        SkillInventory.load(tmp_path)


@pytest.mark.parametrize(
    ("file", "content"),
    [("inventory.json", "{not json"), ("inventory.npy", "garbage"), ("inventory.json", "[]")],
)
def test_load_corrupted_file_names_it(
    inventory: SkillInventory, tmp_path: Path, file: str, content: str
) -> None:
    inventory.save(tmp_path)
    (tmp_path / file).write_text(content)
    with pytest.raises(DataError, match=file.replace(".", r"\.")):
        SkillInventory.load(tmp_path)


def test_load_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"inventory\.json"):
        SkillInventory.load(tmp_path / "nothing")
