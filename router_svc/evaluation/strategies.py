"""Strategy maths over an outcome table: pure numpy, arrays in, per-question scores out.

Every strategy is "which experts does each test question go to, and what score results":

- a single expert: its own score; best single: the expert with the best validation accuracy
  (ties: the cheaper); per-category best: the same, per validation category (the best single
  where a test category has no validation questions);
- a vote (random k, all experts, a router with k > 1): see :func:`vote`;
- the oracle: per question the best score any expert got (its cheapest such expert is charged).

Votes. Where every voter's recorded answer is known (``OutcomeTable.voted``) the most common
answer wins (a tie goes to the answer seen first, in voter order) and the vote scores what its
first voter with that answer scored; a voter with no answer abstains. Elsewhere the vote is the
**expected vote of scores**: each voter is right independently with probability equal to its
score, the wrong voters agree on one wrong answer (a pessimistic single bloc), and a tie goes to
the first voter. For scores of 0 and 1 this is exactly a right-against-wrong majority.
"""

from __future__ import annotations

import numpy as np

from router_svc.evaluation.records import StrategyResult, one_hot
from router_svc.replay.outcomes import NO_ANSWER, OutcomeTable
from router_svc.routing.team_size import expected_vote as expected_vote


def best_single_index(validation: OutcomeTable) -> int:
    """The expert with the best mean validation score; ties go to the cheaper one."""
    return _best(validation.scores, validation.costs)


def _best(scores: np.ndarray, costs: np.ndarray) -> int:
    accuracy = scores.mean(axis=0).round(12)
    cost = costs.mean(axis=0)
    return int(np.lexsort((np.arange(len(accuracy)), cost, -accuracy))[0])


def per_category_best(
    validation: OutcomeTable, test: OutcomeTable
) -> tuple[np.ndarray, dict[str, int]]:
    """(test questions,) expert per question, and the expert chosen for each test category."""
    fallback = best_single_index(validation)
    labels = np.array(validation.categories)
    chosen: dict[str, int] = {}
    for category in sorted(set(test.categories)):
        rows = labels == category
        chosen[category] = (
            _best(validation.scores[rows], validation.costs[rows]) if rows.any() else fallback
        )
    return np.array([chosen[c] for c in test.categories], dtype=int), chosen


def oracle_choice(table: OutcomeTable) -> np.ndarray:
    """(questions,): per question the cheapest expert among those with the best score."""
    best = table.scores.max(axis=1, keepdims=True)
    return np.asarray(np.argmin(np.where(table.scores >= best, table.costs, np.inf), axis=1))


def random_voters(questions: int, experts: int, k: int, seed: int) -> np.ndarray:
    """(questions, k): k distinct experts per question, uniformly at random (seeded)."""
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((questions, experts)), axis=1)[:, : min(k, experts)]


def all_voters(questions: int, experts: int) -> np.ndarray:
    """(questions, experts): every expert, in pool order."""
    return np.tile(np.arange(experts), (questions, 1))


def routed_scores(table: OutcomeTable, chosen: np.ndarray) -> np.ndarray:
    """(questions,): the score of each question's experts, ``chosen`` (questions,) or
    (questions, k), best first; k > 1 is a vote."""
    chosen = chosen.reshape(len(chosen), -1)
    if chosen.shape[1] == 1:
        return np.asarray(np.take_along_axis(table.scores, chosen, axis=1)[:, 0])
    return vote(table, chosen)


def vote(table: OutcomeTable, voters: np.ndarray) -> np.ndarray:
    """(questions,): the vote of ``voters`` (questions, k) per question (module docstring)."""
    scores = np.take_along_axis(table.scores, voters, axis=1)
    result = expected_vote(scores)
    if table.answers is not None and table.voted is not None:
        codes = np.take_along_axis(table.answers, voters, axis=1)
        counted = answer_vote(codes, scores)
        result = np.where(table.voted, counted, result)
    return result


def answer_vote(codes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(questions,): the score of the most common answer code per row (first seen on a tie);
    0 where nobody answered."""
    counts = (codes[:, :, None] == codes[:, None, :]).sum(axis=2)
    counts = np.where(codes == NO_ANSWER, 0, counts)
    winner = np.argmax(counts, axis=1)[:, None]
    won = np.take_along_axis(scores, winner, axis=1)[:, 0]
    return np.where(np.take_along_axis(counts, winner, axis=1)[:, 0] > 0, won, 0.0)


def baselines(
    validation: OutcomeTable, test: OutcomeTable, *, k: int, seed: int
) -> list[StrategyResult]:
    """Every strategy that needs no router: single experts, best single, per-category best,
    random k + vote, all experts + vote, and the oracle."""
    questions = len(test)
    best = best_single_index(validation)
    per_category, chosen = per_category_best(validation, test)
    picks = ", ".join(f"{c}: {test.experts[e]}" for c, e in chosen.items())
    singles = [
        _picked(f"single:{name}", "single", test, np.full(questions, e), f"always {name}")
        for e, name in enumerate(test.experts)
    ]
    return [
        *singles,
        _picked("best-single", "baseline", test, np.full(questions, best),
                f"{test.experts[best]}, best on validation"),
        _picked("per-category-best", "baseline", test, per_category,
                f"best on validation per category ({picks})"),
        *_votes(test, k, seed),
        _picked("oracle", "oracle", test, oracle_choice(test),
                "the best expert per question (upper bound)"),
    ]  # fmt: skip


def _votes(test: OutcomeTable, k: int, seed: int) -> list[StrategyResult]:
    """Random k experts + vote, and every expert + vote."""
    questions, experts = len(test), len(test.experts)
    random = random_voters(questions, experts, k, seed)
    everyone = all_voters(questions, experts)
    size = random.shape[1]
    return [
        StrategyResult(f"random-{size}+vote", "ensemble", vote(test, random),
                       one_hot(random, experts), f"{size} random experts, seed {seed}"),
        StrategyResult("all+vote", "ensemble", vote(test, everyone), one_hot(everyone, experts),
                       "every expert, then a vote"),
    ]  # fmt: skip


def _picked(
    name: str, family: str, table: OutcomeTable, chosen: np.ndarray, description: str
) -> StrategyResult:
    return StrategyResult(
        name,
        family,
        routed_scores(table, chosen),
        one_hot(chosen, len(table.experts)),
        description,
    )
