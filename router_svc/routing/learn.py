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

from router_svc.routing.profiles import ExpertProfile, ProfileMatrix
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
    profiles = table_profiles(experts, scores, tags, costs=costs, tokens=tokens)
    return SkillModel(
        embedder=embedder,
        inventory=inventory,
        profiles=profiles,
        matrix=ProfileMatrix.from_profiles(profiles, experts),
    )


def table_profiles(
    experts: Sequence[str],
    scores: np.ndarray,
    tags: Sequence[Sequence[str]],
    *,
    costs: np.ndarray | None = None,
    tokens: np.ndarray | None = None,
) -> dict[str, ExpertProfile]:
    """``build_profiles`` of a full (questions, experts) table, by array sums.

    Gives exactly what ``build_profiles`` gives on one ``Outcome`` per cell (the same sums,
    added in the same order: ``np.bincount`` adds its weights in input order), without making
    an object per cell, which was most of a replay bench's profiling time.
    """
    order: dict[str, int] = {}
    rows: list[int] = []
    columns: list[int] = []
    for row, question_tags in enumerate(tags):
        for skill in dict.fromkeys(question_tags):
            rows.append(row)
            columns.append(order.setdefault(skill, len(order)))
    skills = list(order)
    index = np.asarray(columns, dtype=np.intp)
    seen = np.bincount(index, minlength=len(skills)).tolist()
    signed = 2.0 * np.asarray(scores, dtype=float) - 1.0
    profiles = {}
    for column, expert in enumerate(experts):
        sums = np.bincount(index, weights=signed[rows, column], minlength=len(skills))
        profiles[expert] = ExpertProfile(
            expert=expert,
            skills=dict(zip(skills, sums.tolist(), strict=True)),
            seen=dict(zip(skills, seen, strict=True)),
            correct=float(sum(scores[:, column].tolist())),
            total=len(scores),
            mean_completion_tokens=_mean(tokens, column, int) or 0.0,
            mean_cost=_mean(costs, column, float),
        )
    return profiles


def _mean(table: np.ndarray | None, column: int, kind: type[int] | type[float]) -> float | None:
    """A column's mean as ``build_profiles`` takes it (None for no values)."""
    if table is None or not len(table):
        return None
    return float(np.mean([kind(value) for value in table[:, column].tolist()]))
