"""What profiling leaves under ``skills/<suite>/``, versioned so a reader knows what it holds.

profile.json      metadata, per-expert profiles, question tags and skills, aggregator ranking
inventory.json    the skill inventory (with inventory.npy, its MiniLM vectors)
outputs.jsonl     every raw expert output on the validation set (audit trail, resume)
tags.jsonl        the tagger's keywords per validation question (resume)
aggregation.jsonl the aggregator benchmark's raw outputs
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router_svc.errors import DataError
from router_svc.routing.profiles import ExpertProfile

FORMAT = "router-svc/profile"
VERSION = 1
PROFILE_FILE = "profile.json"
OUTPUTS_FILE = "outputs.jsonl"
TAGS_FILE = "tags.jsonl"
AGGREGATION_FILE = "aggregation.jsonl"


@dataclass(frozen=True)
class AggregatorRank:
    """One candidate's result in the aggregation benchmark (the gains are accuracy points as
    fractions, over the same items)."""

    expert: str
    accuracy: float
    items: int
    gain_over_best: float | None = None
    """Its accuracy minus that of each team's best single expert (by validation accuracy)."""
    gain_over_vote: float | None = None
    """Its accuracy minus the team's majority vote's."""
    contested_gain: float | None = None
    """The gain over the vote on the items where the team disagreed (what k: auto adds to a
    vote's gain there)."""
    cost: float | None = None
    """Its mean dollars per item."""


@dataclass
class ProfileArtifacts:
    """The profile of one suite, as stored in ``skills/<suite>/profile.json``."""

    suite: str
    metadata: dict[str, Any]
    profiles: dict[str, ExpertProfile]
    question_tags: dict[str, list[str]]
    question_skills: dict[str, list[str]]
    question_text: dict[str, str] = field(default_factory=dict)
    question_category: dict[str, str] = field(default_factory=dict)
    """Each validation question's task, where its suite names one: the default router's knob
    search then also holds out whole tasks, and its task level has records (as in the bench)."""
    aggregator_ranking: list[AggregatorRank] = field(default_factory=list)

    @property
    def aggregator(self) -> str | None:
        """The suite's aggregator: the best of the aggregation benchmark."""
        return self.aggregator_ranking[0].expert if self.aggregator_ranking else None

    @property
    def experts(self) -> list[str]:
        return list(self.profiles)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        data = {
            "format": FORMAT,
            "version": VERSION,
            "suite": self.suite,
            "metadata": self.metadata,
            "aggregator_ranking": [vars(rank) for rank in self.aggregator_ranking],
            "profiles": {name: p.to_json() for name, p in self.profiles.items()},
            "question_tags": self.question_tags,
            "question_skills": self.question_skills,
            "question_text": self.question_text,
            "question_category": self.question_category,
        }
        tmp = folder / f"{PROFILE_FILE}.tmp"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        tmp.replace(folder / PROFILE_FILE)

    @classmethod
    def load(cls, folder: Path) -> ProfileArtifacts:
        path = folder / PROFILE_FILE
        if not path.is_file():
            raise DataError(
                f"no profile at {path}; create it with: router-svc profile --suite {folder.name}"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise DataError(
                f"{path}: format {data.get('format')!r} version {data.get('version')!r}; "
                f"this router-svc reads {FORMAT!r} version {VERSION}: run router-svc profile again"
            )
        return cls(
            suite=data["suite"],
            metadata=data["metadata"],
            profiles={k: ExpertProfile.from_json(v) for k, v in data["profiles"].items()},
            question_tags=data["question_tags"],
            question_skills=data["question_skills"],
            question_text=data.get("question_text", {}),
            question_category=data.get("question_category", {}),
            aggregator_ranking=[AggregatorRank(**r) for r in data["aggregator_ranking"]],
        )
