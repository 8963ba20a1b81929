"""An outcome table with one more column per escalating team (``routing.escalation``).

A router that prices escalating teams chooses columns past the experts'; the bench scores
those choices on the test split's recorded outcomes, built the way the router's validation
columns were: the pair's shared answer stands, else the strong expert's (its score, cost and
tokens added).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from router_svc.errors import DataError
from router_svc.replay.outcomes import OutcomeTable
from router_svc.routing.escalation import EscalatingPairs


def with_pairs(table: OutcomeTable, escalations: EscalatingPairs) -> OutcomeTable:
    """``table`` plus the columns of ``escalations`` (its experts must be the table's)."""
    if list(table.experts) != escalations.experts:
        raise DataError("the escalating teams were built over other experts than the table's")
    if table.answers is None or table.voted is None:
        raise DataError("escalating teams need the recorded responses (their answers)")
    answers = np.asarray(table.answers)
    scores, costs = escalations.columns(table.scores, table.costs, answers)
    agree = escalations.agreement(answers)
    first, second = ([pair[i] for pair in escalations.pairs] for i in (0, 1))
    strong = escalations.strong
    tokens = table.tokens[:, first] + table.tokens[:, second]
    tokens = tokens + np.where(agree, 0, table.tokens[:, [strong]])
    codes = np.where(agree, answers[:, first], answers[:, [strong]])
    names = [escalations.name(i) for i in range(len(escalations))]
    return replace(
        table,
        experts=[*table.experts, *names],
        scores=np.hstack([table.scores, scores]),
        costs=np.hstack([table.costs, costs]),
        tokens=np.hstack([table.tokens, tokens]),
        answers=np.hstack([answers, codes]),
    )
