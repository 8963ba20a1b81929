"""Graded outcomes that routing estimates from: validation records and, later, feedback.

Every row is one question: its vector, the skills it carries (weights over the suite's skill
inventory) and, per expert, a score in [0, 1] and a cost in dollars, NaN where that expert's
outcome on the question is unknown (feedback reveals only the experts that ran). Validation
rows from a full profile have no NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True, eq=False)
class SkillRows:
    """A sparse (rows, skills) table of weights: row ``rows[i]`` carries skill ``columns[i]``
    with ``weights[i]``. Rows with no entry carry no known skill."""

    rows: np.ndarray
    columns: np.ndarray
    weights: np.ndarray
    count: int
    """How many rows the table has (the last ones may carry nothing)."""

    @classmethod
    def empty(cls, count: int = 0) -> SkillRows:
        none = np.zeros(0, dtype=np.intp)
        return cls(none, none, np.zeros(0), count)

    @classmethod
    def of_tags(cls, tags: Sequence[Sequence[str]], index: Mapping[str, int]) -> SkillRows:
        """Each question's distinct tags that name a skill of ``index``, at weight 1."""
        rows, columns = [], []
        for row, question_tags in enumerate(tags):
            for tag in dict.fromkeys(question_tags):
                column = index.get(tag)
                if column is not None:
                    rows.append(row)
                    columns.append(column)
        return cls(
            np.asarray(rows, dtype=np.intp),
            np.asarray(columns, dtype=np.intp),
            np.ones(len(rows)),
            len(tags),
        )

    @classmethod
    def of_matches(
        cls, matches: Sequence[Sequence[tuple[str, float]]], index: Mapping[str, int]
    ) -> SkillRows:
        """Each question's (skill, similarity) matches onto ``index``; the best similarity
        of a skill matched twice."""
        best: dict[tuple[int, int], float] = {}
        for row, question in enumerate(matches):
            for skill, similarity in question:
                column = index.get(skill)
                if column is not None and similarity > 0:
                    key = (row, column)
                    best[key] = max(best.get(key, 0.0), float(similarity))
        keys = list(best)
        return cls(
            np.asarray([r for r, _ in keys], dtype=np.intp),
            np.asarray([c for _, c in keys], dtype=np.intp),
            np.asarray(list(best.values()), dtype=float),
            len(matches),
        )

    def take(self, keep: np.ndarray) -> SkillRows:
        """The rows where ``keep`` (a boolean mask over rows) holds, renumbered."""
        new_row = np.cumsum(keep) - 1
        kept = keep[self.rows]
        return SkillRows(
            new_row[self.rows[kept]], self.columns[kept], self.weights[kept], int(keep.sum())
        )

    def normalised(self) -> SkillRows:
        """Each row's weights divided by their sum (a row's skills then share one voice)."""
        totals = np.bincount(self.rows, weights=self.weights, minlength=self.count)
        return SkillRows(self.rows, self.columns, self.weights / totals[self.rows], self.count)

    def column_sums(self, values: np.ndarray, skills: int) -> np.ndarray:
        """(skills, e): sum over rows of weight x ``values[row]`` (``values``: (rows, e))."""
        out = np.zeros((skills, values.shape[1]))
        np.add.at(out, self.columns, self.weights[:, None] * values[self.rows])
        return out

    def row_sums(self, table: np.ndarray) -> np.ndarray:
        """(rows, e): sum over each row's skills of weight x ``table[skill]``."""
        out = np.zeros((self.count, table.shape[1]))
        np.add.at(out, self.rows, self.weights[:, None] * table[self.columns])
        return out

    def skills_of(self, row: int) -> list[tuple[int, float]]:
        """(skill column, weight) pairs of one row."""
        where = np.flatnonzero(self.rows == row)
        return [(int(self.columns[i]), float(self.weights[i])) for i in where]


@dataclass(frozen=True, eq=False)
class Evidence:
    """Rows of graded outcomes: vectors (n, d), scores and costs (n, e), NaN where unknown."""

    vectors: np.ndarray
    scores: np.ndarray
    costs: np.ndarray
    skills: SkillRows
    tasks: np.ndarray | None = None
    """(n,) each row's task as an index into the suite's task names, -1 where unknown;
    None: no row's task is known."""

    def __post_init__(self) -> None:
        n = len(self.vectors)
        if self.scores.shape[0] != n or self.costs.shape != self.scores.shape:
            raise ValueError("evidence needs one row of scores and costs per vector")
        if self.skills.count != n:
            raise ValueError("evidence needs one skill row per vector")
        if self.tasks is not None and self.tasks.shape != (n,):
            raise ValueError("evidence needs one task per vector")

    @property
    def task_rows(self) -> np.ndarray:
        """(n,) the tasks, -1 for every row when none is known."""
        return self.tasks if self.tasks is not None else np.full(len(self), -1, dtype=np.intp)

    def __len__(self) -> int:
        return len(self.vectors)

    @cached_property
    def observed(self) -> np.ndarray:
        """(n, e): 1.0 where the expert's outcome on the question is known, else 0.0."""
        return np.asarray(~np.isnan(self.scores), dtype=float)

    @cached_property
    def known_scores(self) -> np.ndarray:
        """(n, e): the scores, 0 where unknown."""
        return np.asarray(np.nan_to_num(np.asarray(self.scores, dtype=float)))

    @cached_property
    def known_costs(self) -> np.ndarray:
        """(n, e): the costs, 0 where unknown (a known outcome with no cost costs 0)."""
        return np.asarray(np.nan_to_num(np.asarray(self.costs, dtype=float)))

    def take(self, keep: np.ndarray) -> Evidence:
        return Evidence(
            self.vectors[keep],
            self.scores[keep],
            self.costs[keep],
            self.skills.take(keep),
            None if self.tasks is None else self.tasks[keep],
        )
