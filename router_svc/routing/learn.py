"""Profiling without generation: tags and recorded outcomes in, inventory and profiles out.

``learn`` is what profiling does once the experts have answered: every distinct tag of the
validation questions becomes a skill of the inventory, and each expert's outcomes become its
per-skill +1/-1 profile (``build_profiles``). Methods that learn their own skills (cluster
tags, cross-fitting halves) call it on their tags; the benches call it on a replay split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from router_svc.routing.profiles import ExpertProfile, Outcome, ProfileMatrix, build_profiles
from router_svc.tagging.embedder import Embedder
from router_svc.tagging.inventory import SkillInventory, SkillMatch


@dataclass(frozen=True, eq=False)
class SkillModel:
    """What routing learns from tagged validation outcomes."""

    embedder: Embedder
    """Maps a question's keywords onto the inventory."""
    inventory: SkillInventory
    profiles: dict[str, ExpertProfile]
    matrix: ProfileMatrix

    def matches(self, tags: Sequence[Sequence[str]]) -> list[list[SkillMatch]]:
        """Each question's keywords mapped onto the inventory (one embed call)."""
        return self.inventory.map_many(tags, self.embedder)


def learn(
    ids: Sequence[str],
    experts: Sequence[str],
    scores: np.ndarray,
    tags: Sequence[Sequence[str]],
    embedder: Embedder,
    *,
    costs: np.ndarray | None = None,
    tokens: np.ndarray | None = None,
) -> SkillModel:
    """Inventory from the questions' tags, profiles from their (n, e) ``scores``."""
    inventory = SkillInventory.build(tags, embedder)
    question_skills = {qid: list(row) for qid, row in zip(ids, tags, strict=True)}
    outcomes = _outcomes(ids, experts, scores, costs, tokens)
    profiles = build_profiles(outcomes, question_skills, experts)
    return SkillModel(
        embedder=embedder,
        inventory=inventory,
        profiles=profiles,
        matrix=ProfileMatrix.from_profiles(profiles, experts),
    )


def _outcomes(
    ids: Sequence[str],
    experts: Sequence[str],
    scores: np.ndarray,
    costs: np.ndarray | None,
    tokens: np.ndarray | None,
) -> list[Outcome]:
    score_rows = scores.tolist()
    cost_rows = None if costs is None else costs.tolist()
    token_rows = np.zeros_like(scores, dtype=int).tolist() if tokens is None else tokens.tolist()
    return [
        Outcome(
            qid,
            expert,
            score_rows[row][col],
            completion_tokens=int(token_rows[row][col]),
            cost=None if cost_rows is None else cost_rows[row][col],
        )
        for row, qid in enumerate(ids)
        for col, expert in enumerate(experts)
    ]
