"""perf/escalation.py's augmentation: a column per pair of experts, escalating to another."""

from __future__ import annotations

import numpy as np

from perf.escalation import with_escalating_pairs
from router_svc.replay.outcomes import NO_ANSWER, OutcomeTable


def test_a_pair_column_keeps_a_shared_answer_and_escalates_a_split_or_a_missing_one() -> None:
    """Question 0: the pair agrees (wrongly); 1: it splits; 2: both state no answer."""
    table = OutcomeTable(
        ids=["q0", "q1", "q2"],
        questions=["?"] * 3,
        categories=["task"] * 3,
        experts=["strong", "cheap-a", "cheap-b"],
        scores=np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        costs=np.tile([10.0, 1.0, 2.0], (3, 1)),
        tokens=np.tile([100, 10, 20], (3, 1)),
        answers=np.array([[0, 1, 1], [0, 0, 1], [0, NO_ANSWER, NO_ANSWER]]),
        voted=np.ones(3, dtype=bool),
    )
    out = with_escalating_pairs(table, strong=0)
    assert out.experts == [*table.experts, "cheap-a + cheap-b > escalate"]
    assert out.scores[:, 3].tolist() == [0.0, 1.0, 1.0]
    assert out.costs[:, 3].tolist() == [3.0, 13.0, 13.0]
    assert out.tokens[:, 3].tolist() == [30, 130, 130]
    assert out.answers is not None
    assert out.answers[:, 3].tolist() == [1, 0, 0]
    assert np.array_equal(out.scores[:, :3], table.scores)
