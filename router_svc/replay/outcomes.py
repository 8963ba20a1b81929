"""The outcome table: how every expert did on every question (questions x experts).

A replay file fills it from recorded outcomes, a live bench from the generations it ran once per
(expert, question). Strategies and reports only ever see these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_ANSWER = -1
"""The answer code of an expert that stated no answer (or has no recorded response)."""


@dataclass(frozen=True, eq=False)
class OutcomeTable:
    """How every expert did on every question of one split."""

    ids: list[str]
    questions: list[str]
    categories: list[str]
    """One label per question; ``"(none)"`` where the data has none."""
    experts: list[str]
    scores: np.ndarray
    """(questions, experts): 1.0 right, 0.0 wrong, graded values in between."""
    costs: np.ndarray
    """(questions, experts): dollars for that generation."""
    tokens: np.ndarray
    """(questions, experts): prompt + completion tokens of that generation."""
    answers: np.ndarray | None = None
    """(questions, experts): canonical answers as small ints per question (equal code, equal
    answer), ``NO_ANSWER`` where none was stated; None when no responses are known."""
    voted: np.ndarray | None = None
    """(questions,): True where every expert's answer is known, so votes count answers."""

    def __post_init__(self) -> None:
        shape = (len(self.ids), len(self.experts))
        for name in ("scores", "costs", "tokens"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, not {shape}")
        if len(self.questions) != shape[0] or len(self.categories) != shape[0]:
            raise ValueError("questions and categories need one entry per id")
        if (self.answers is None) != (self.voted is None):
            raise ValueError("answers and voted come together")

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: np.ndarray) -> OutcomeTable:
        """The table restricted to ``rows`` (indices or a boolean mask), in that order."""
        index = np.arange(len(self.ids))[rows]
        return OutcomeTable(
            ids=[self.ids[i] for i in index],
            questions=[self.questions[i] for i in index],
            categories=[self.categories[i] for i in index],
            experts=self.experts,
            scores=self.scores[index],
            costs=self.costs[index],
            tokens=self.tokens[index],
            answers=None if self.answers is None else self.answers[index],
            voted=None if self.voted is None else self.voted[index],
        )

    def category_index(self) -> tuple[list[str], np.ndarray]:
        """The distinct categories (sorted) and each question's position among them."""
        names = sorted(set(self.categories))
        lookup = {name: i for i, name in enumerate(names)}
        return names, np.array([lookup[c] for c in self.categories], dtype=int)
