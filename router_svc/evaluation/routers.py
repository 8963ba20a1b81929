"""The skill router on outcome tables: learn profiles on one split, route another.

``learn`` is the profiling step without generation: the validation questions' tags become the
skill inventory, and their recorded outcomes the expert profiles (``build_profiles``).
``route`` sends questions through the real ``Recruiter.assign`` (in chunks, so the dense
(questions x skills) weights stay small).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.profiles import ExpertProfile, Outcome, ProfileMatrix, build_profiles
from router_svc.routing.recruiter import Recruiter, RecruitOptions
from router_svc.tagging.embedder import Embedder
from router_svc.tagging.inventory import SkillInventory, SkillMatch


@dataclass(frozen=True, eq=False)
class SkillModel:
    """What routing learns from the tagged validation split."""

    embedder: Embedder
    """Maps a question's keywords onto the inventory."""
    inventory: SkillInventory
    profiles: dict[str, ExpertProfile]
    matrix: ProfileMatrix
    expected_cost: np.ndarray
    """(experts,): mean recorded dollars per question on validation."""

    def matches(self, tags: Sequence[Sequence[str]]) -> list[list[SkillMatch]]:
        """Each question's keywords mapped onto the inventory (one embed call)."""
        return self.inventory.map_many(tags, self.embedder)


def learn(
    validation: OutcomeTable, tags: Sequence[Sequence[str]], embedder: Embedder
) -> SkillModel:
    """Inventory from the validation tags, profiles from the validation outcomes."""
    inventory = SkillInventory.build(tags, embedder)
    question_skills = {qid: list(row) for qid, row in zip(validation.ids, tags, strict=True)}
    profiles = build_profiles(_outcomes(validation), question_skills, validation.experts)
    return SkillModel(
        embedder=embedder,
        inventory=inventory,
        profiles=profiles,
        matrix=ProfileMatrix.from_profiles(profiles, validation.experts),
        expected_cost=validation.costs.mean(axis=0),
    )


def _outcomes(table: OutcomeTable) -> list[Outcome]:
    scores, costs, tokens = table.scores.tolist(), table.costs.tolist(), table.tokens.tolist()
    return [
        Outcome(
            qid,
            expert,
            scores[row][col],
            completion_tokens=int(tokens[row][col]),
            cost=costs[row][col],
        )
        for row, qid in enumerate(table.ids)
        for col, expert in enumerate(table.experts)
    ]


CHUNK = 512
"""Questions per dense (questions x skills) weight block."""


@dataclass(frozen=True, eq=False)
class SkillWeights:
    """A recruiter's (questions, skills) weights kept sparse: an inventory of thousands of
    skills times thousands of questions would not fit densely. ``dense`` rebuilds one block."""

    rows: np.ndarray
    columns: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def of(cls, recruiter: Recruiter, matches: Sequence[Sequence[SkillMatch]]) -> SkillWeights:
        rows, columns, values = [], [], []
        for start in range(0, len(matches), CHUNK):
            block = recruiter.weights(matches[start : start + CHUNK])
            row, column = np.nonzero(block)
            rows.append(row + start)
            columns.append(column)
            values.append(block[row, column])
        return cls(
            rows=np.concatenate(rows) if rows else np.zeros(0, dtype=int),
            columns=np.concatenate(columns) if columns else np.zeros(0, dtype=int),
            values=np.concatenate(values) if values else np.zeros(0),
            shape=(len(matches), len(recruiter.matrix.skills)),
        )

    def dense(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a dense block."""
        low, high = np.searchsorted(self.rows, [start, stop])
        block = np.zeros((stop - start, self.shape[1]))
        block[self.rows[low:high] - start, self.columns[low:high]] = self.values[low:high]
        return block


def recruiter_scores(recruiter: Recruiter, weights: SkillWeights) -> np.ndarray:
    """(questions, experts): the recruiter's scores before the cost term, block by block."""
    questions = weights.shape[0]
    if not questions:
        return np.zeros((0, len(recruiter.matrix.experts)))
    blocks = [
        recruiter.score(weights.dense(start, min(start + CHUNK, questions))).score
        for start in range(0, questions, CHUNK)
    ]
    return np.concatenate(blocks)


def route(
    recruiter: Recruiter,
    table: OutcomeTable,
    tags: Sequence[Sequence[str]],
    matches: Sequence[Sequence[SkillMatch]],
    options: RecruitOptions,
) -> np.ndarray:
    """(questions, k) expert indices, best first, as ``Recruiter.assign`` decides."""
    column = {name: i for i, name in enumerate(table.experts)}
    chosen: list[list[int]] = []
    for start in range(0, len(table), CHUNK):
        stop = start + CHUNK
        assignments = recruiter.assign(
            table.ids[start:stop], tags[start:stop], matches[start:stop], options
        )
        chosen += [[column[name] for name in a.chosen] for a in assignments]
    return np.array(chosen, dtype=int).reshape(len(table), -1)
