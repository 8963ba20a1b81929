"""The skill inventory: the skills seen when tagging the validation set, and their vectors.

A question's keywords are mapped onto the inventory by cosine similarity, so that "algebraic
equations" at request time lands on the "algebra" skill the expert profiles were scored on.
The inventory stores its embedder's name and refuses vectors from any other model.

On disk an inventory is a folder with ``inventory.json`` (format version, embedder name,
skills and their counts) and ``inventory.npy`` (one float32 row per skill).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from router_svc.errors import ConfigError, DataError
from router_svc.tagging.embedder import Embedder

VERSION = 1
JSON_FILE = "inventory.json"
VECTORS_FILE = "inventory.npy"

_SPACES = re.compile(r"\s+")
_MATCHES_KEPT = 1 << 16
"""Mapped keywords an inventory remembers (a service's requests bring ever new ones)."""


@dataclass(frozen=True)
class SkillMatch:
    """A keyword and the inventory skill nearest to it."""

    keyword: str
    skill: str
    similarity: float


@dataclass(frozen=True, eq=False)
class SkillInventory:
    """Skills (most frequent first), their validation counts and normalised vectors."""

    skills: list[str]
    counts: list[int]
    vectors: np.ndarray
    embedder_name: str
    _index: dict[str, int] = field(init=False, repr=False)
    _matched: dict[str, SkillMatch] = field(init=False, repr=False, default_factory=dict)
    """Keywords already mapped (the same embedder always maps a keyword the same way)."""

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.skills):
            raise ValueError(f"{len(self.skills)} skills but {len(self.counts)} counts")
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.skills):
            raise ValueError(f"{len(self.skills)} skills but vectors of shape {self.vectors.shape}")
        object.__setattr__(self, "_index", {skill: i for i, skill in enumerate(self.skills)})

    def __len__(self) -> int:
        return len(self.skills)

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    @classmethod
    def build(cls, keyword_lists: Iterable[Sequence[str]], embedder: Embedder) -> SkillInventory:
        """Every distinct keyword of the tagged validation questions becomes a skill."""
        counts = Counter(
            keyword for keywords in keyword_lists for keyword in {_clean(k) for k in keywords}
        )
        counts.pop("", None)
        if not counts:
            raise DataError("no skill keywords to build an inventory from: tag the questions first")
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        skills = [skill for skill, _ in ranked]
        vectors = embedder.embed(skills, kind="document")
        return cls(skills, [count for _, count in ranked], vectors, embedder.name)

    def map(self, keywords: Sequence[str], embedder: Embedder) -> list[SkillMatch]:
        """The nearest skill for each keyword, in order."""
        return self.map_many([keywords], embedder)[0]

    def map_many(
        self, keyword_lists: Sequence[Sequence[str]], embedder: Embedder
    ) -> list[list[SkillMatch]]:
        """``map`` for many questions at once, with one embed call for all their keywords."""
        self._check_embedder(embedder)
        matched = self._matched
        new = {k for keywords in keyword_lists for k in keywords if k not in matched}
        nearest = self._nearest({_clean(k) for k in new} - self._index.keys(), embedder)
        for keyword in new:
            if len(matched) < _MATCHES_KEPT:
                matched[keyword] = self._match(keyword, nearest)
        return [
            [matched.get(k) or self._match(k, nearest) for k in keywords]
            for keywords in keyword_lists
        ]

    def _match(self, keyword: str, nearest: dict[str, tuple[int, float]]) -> SkillMatch:
        cleaned = _clean(keyword)
        if cleaned in self._index:
            return SkillMatch(keyword, cleaned, 1.0)
        row, similarity = nearest[cleaned]
        return SkillMatch(keyword, self.skills[row], similarity)

    def _nearest(self, texts: set[str], embedder: Embedder) -> dict[str, tuple[int, float]]:
        """Nearest skill row and cosine similarity for each text: one embed, one product."""
        if not texts:
            return {}
        self._check_embedder(embedder)
        ordered = sorted(texts)
        similarities = embedder.embed(ordered, kind="query") @ self.vectors.T
        rows = similarities.argmax(axis=1)
        best = similarities[np.arange(len(ordered)), rows]
        return {
            text: (int(row), float(score))
            for text, row, score in zip(ordered, rows, best, strict=True)
        }

    def _check_embedder(self, embedder: Embedder) -> None:
        if embedder.name != self.embedder_name:
            raise ConfigError(
                f"the skill inventory was built with the embedder {self.embedder_name!r} but "
                f"is being matched with {embedder.name!r}; rebuild the inventory with "
                "`router-svc profile --suite NAME` (recorded tags and generations are reused) "
                f"or set the pool's embedding_model to {self.embedder_name!r}"
            )

    def save(self, folder: Path) -> None:
        """Write ``inventory.json`` and ``inventory.npy`` into ``folder`` (created if needed)."""
        folder.mkdir(parents=True, exist_ok=True)
        metadata = {
            "version": VERSION,
            "embedder": self.embedder_name,
            "dimension": self.dimension,
            "skills": self.skills,
            "counts": self.counts,
        }
        (folder / JSON_FILE).write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")
        np.save(folder / VECTORS_FILE, self.vectors.astype(np.float32), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> SkillInventory:
        """Read an inventory that ``save`` wrote; DataError naming the file if it is damaged."""
        metadata = _read_metadata(folder / JSON_FILE)
        vectors = _read_vectors(folder / VECTORS_FILE)
        skills: list[str] = metadata["skills"]
        if vectors.ndim != 2 or vectors.shape[0] != len(skills):
            raise DataError(
                f"{folder / VECTORS_FILE}: {vectors.shape} vectors do not match the "
                f"{len(skills)} skills in {JSON_FILE}; rebuild the inventory"
            )
        return cls(skills, metadata["counts"], vectors, metadata["embedder"])


@lru_cache(maxsize=1 << 16)
def _clean(keyword: str) -> str:
    """The keyword as the inventory keys it (memoised: a bench cleans each tag many times)."""
    return _SPACES.sub(" ", keyword).strip().lower()


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no skill inventory here; build one first") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable skill inventory: {exc}") from exc
    if not isinstance(metadata, dict) or metadata.get("version") != VERSION:
        found = metadata.get("version") if isinstance(metadata, dict) else None
        raise DataError(
            f"{path}: skill inventory format version {found!r}, expected {VERSION}; rebuild it"
        )
    if not _valid_metadata(metadata):
        raise DataError(f"{path}: skills, counts and embedder are missing or malformed")
    return metadata


def _valid_metadata(metadata: dict[str, Any]) -> bool:
    skills, counts = metadata.get("skills"), metadata.get("counts")
    return (
        isinstance(metadata.get("embedder"), str)
        and isinstance(skills, list)
        and isinstance(counts, list)
        and len(skills) == len(counts)
        and all(isinstance(skill, str) for skill in skills)
        and all(isinstance(count, int) for count in counts)
    )


def _read_vectors(path: Path) -> np.ndarray:
    try:
        vectors = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: the skill vectors are missing; rebuild the inventory") from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable skill vectors: {exc}") from exc
    return np.ascontiguousarray(vectors, dtype=np.float32)
