"""What a routing method is fitted on (``SuiteData``) and what it scores (``Queries``).

A method is built once per suite from the suite's validation record: the profile matrix over
the skill inventory, the validation questions' tags, their outcomes per expert (scores and
costs, questions x experts) and, for methods that use them, the validation question vectors.
The service fills it from ``skills/<suite>/`` (:mod:`router_svc.routing.suite`); the benches
fill it from an outcome table. Either way the same class is fitted on the same arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from router_svc.routing.profiles import ProfileMatrix
from router_svc.tagging.embedder import Embedder
from router_svc.tagging.inventory import SkillInventory, SkillMatch


@dataclass(frozen=True, eq=False)
class SuiteData:
    """A suite's validation record, as arrays."""

    experts: list[str]
    matrix: ProfileMatrix
    """Per-skill +1/-1 profiles of ``experts`` over the inventory's skills."""
    inventory: SkillInventory
    embedder: Embedder
    """Maps keywords onto skill inventories (the inventory's own embedder)."""
    ids: list[str]
    tags: list[list[str]]
    """(n,) each validation question's tagger keywords."""
    scores: np.ndarray
    """(n, e): each expert's validation score, 1 right, 0 wrong."""
    costs: np.ndarray
    """(n, e): dollars of each validation generation (0 where unknown)."""
    expected_cost: np.ndarray
    """(e,): dollars per question each expert is expected to cost."""
    vector_source: Callable[[], np.ndarray] = field(repr=False, default=lambda: np.zeros((0, 0)))
    """Computes the (n, d) validation question vectors; called once, when a method needs them."""
    categories: list[str] | None = None
    """(n,) each validation question's task, where known (the knob search then also holds
    out whole tasks)."""
    answer_source: Callable[[], np.ndarray | None] = field(repr=False, default=lambda: None)
    """Computes the (n, e) validation answers as codes (equal code, equal answer per question;
    ``replay.outcomes.NO_ANSWER`` where none was stated); None where none are recorded.
    Escalating teams (``routing.escalation``) are built from them."""
    search_cache: Path | None = None
    """Where knob searches over this record are kept (``routing.knob_cache``), so a restart
    or a second bench of the same data does not search again; None: every fit searches."""

    def __post_init__(self) -> None:
        shape = (len(self.ids), len(self.experts))
        if self.scores.shape != shape or self.costs.shape != shape:
            raise ValueError(f"scores and costs must have shape {shape}")
        if len(self.tags) != len(self.ids) or self.expected_cost.shape != (len(self.experts),):
            raise ValueError("tags need one row per question, expected_cost one per expert")

    @cached_property
    def vectors(self) -> np.ndarray:
        """(n, d): the validation question vectors (same embedder as the query vectors)."""
        vectors = self.vector_source()
        if vectors.shape[0] != len(self.ids):
            raise ValueError(f"{vectors.shape[0]} question vectors for {len(self.ids)} questions")
        return vectors

    @cached_property
    def answers(self) -> np.ndarray | None:
        """(n, e): the validation answers as codes, or None (``answer_source``)."""
        answers = self.answer_source()
        if answers is not None and answers.shape != self.scores.shape:
            raise ValueError(f"answers have shape {answers.shape}, not {self.scores.shape}")
        return answers


@dataclass(frozen=True, eq=False)
class Queries:
    """A batch of questions as the pipeline hands them to a routing method."""

    ids: Sequence[str]
    tags: Sequence[Sequence[str]]
    skills: Sequence[Sequence[SkillMatch]]
    """The tags mapped onto the suite's inventory."""
    vectors: np.ndarray | None = None
    """(q, d) question vectors; given when the method ``needs_vectors``."""

    def __len__(self) -> int:
        return len(self.ids)

    def require_vectors(self) -> np.ndarray:
        if self.vectors is None or self.vectors.shape[0] != len(self.ids):
            raise ValueError("this routing method needs one question vector per query")
        return self.vectors
