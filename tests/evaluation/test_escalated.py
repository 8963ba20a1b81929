"""The bench's outcome table with escalating teams: a column per pair, escalating to the best."""

from __future__ import annotations

import numpy as np
import pytest

from router_svc.errors import DataError
from router_svc.evaluation.escalated import with_pairs
from router_svc.replay.outcomes import NO_ANSWER, OutcomeTable
from router_svc.routing.escalation import EscalatingPairs


def _table(answers: np.ndarray | None) -> OutcomeTable:
    """Question 0: the pair agrees (wrongly); 1: it splits; 2: both state no answer."""
    return OutcomeTable(
        ids=["q0", "q1", "q2"],
        questions=["?"] * 3,
        categories=["task"] * 3,
        experts=["strong", "cheap-a", "cheap-b"],
        scores=np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        costs=np.tile([10.0, 1.0, 2.0], (3, 1)),
        tokens=np.tile([100, 10, 20], (3, 1)),
        answers=answers,
        voted=None if answers is None else np.ones(3, dtype=bool),
    )


def test_a_pair_column_keeps_a_shared_answer_and_escalates_a_split_or_a_missing_one() -> None:
    table = _table(np.array([[0, 1, 1], [0, 0, 1], [0, NO_ANSWER, NO_ANSWER]]))
    pairs = EscalatingPairs.of(table.experts, table.scores)
    assert pairs is not None
    out = with_pairs(table, pairs)
    assert out.experts == [*table.experts, "cheap-a + cheap-b > strong"]
    assert out.scores[:, 3].tolist() == [0.0, 1.0, 1.0]
    assert out.costs[:, 3].tolist() == [3.0, 13.0, 13.0]
    assert out.tokens[:, 3].tolist() == [30, 130, 130]
    assert out.answers is not None
    assert out.answers[:, 3].tolist() == [1, 0, 0]
    assert np.array_equal(out.scores[:, :3], table.scores)


def test_a_table_without_answers_or_of_other_experts_is_refused() -> None:
    table = _table(np.zeros((3, 3), dtype=int))
    pairs = EscalatingPairs.of(table.experts, table.scores)
    assert pairs is not None
    with pytest.raises(DataError, match="recorded responses"):
        with_pairs(_table(None), pairs)
    other = EscalatingPairs.of(["x", "y", "z"], table.scores)
    assert other is not None
    with pytest.raises(DataError, match="other experts"):
        with_pairs(table, other)
