"""The aggregation benchmark's items and ranking (pure logic over recorded outputs)."""

from __future__ import annotations

from typing import Any

from router_svc.profiling.aggregator_choice import MIN_ITEMS, build_items, rank
from router_svc.types import Question

EXPERTS = ("a", "b", "c", "d")


def _question(i: int) -> Question:
    return Question(f"q{i}", f"What is {i} + 1?", str(i + 1))


def _outputs(questions: list[Question], right: dict[str, set[int]]) -> list[dict[str, Any]]:
    """``right``: per expert, the question numbers it got right (wrong ones answer 0)."""
    records = []
    for i, q in enumerate(questions):
        for expert in EXPERTS:
            ok = i in right[expert]
            answer = q.gold_answer if ok else "0"
            text = f"<think>hmm, maybe 7</think>The answer is {answer}."
            records.append(
                {"question_id": q.id, "expert": expert, "text": text, "answer": answer,
                 "correct": ok}
            )  # fmt: skip
    return records


QUESTIONS = [_question(i) for i in range(300)]
RIGHT = {
    "a": set(range(0, 300, 2)),
    "b": set(range(0, 300, 3)),
    "c": set(range(0, 300, 5)),
    "d": set(range(150)),
}


def test_every_question_is_an_item_with_the_texts_serving_reads() -> None:
    items = build_items(QUESTIONS, _outputs(QUESTIONS, RIGHT))
    assert len(items) == len(QUESTIONS)  # not only questions with a right and a wrong answer
    for item in items:
        assert len(item.responses) == 3
        assert all("<think>" not in (r.text or "") for r in item.responses)
    # each team's best single expert (by validation accuracy) comes first
    accuracy = {e: len(r) / 300 for e, r in RIGHT.items()}
    for item in items:
        ranks = [accuracy[r.expert] for r in item.responses]
        assert ranks == sorted(ranks, reverse=True)


def test_a_cap_is_at_least_the_minimum() -> None:
    outputs = _outputs(QUESTIONS, RIGHT)
    assert len(build_items(QUESTIONS, outputs, max_items=10)) == MIN_ITEMS
    assert len(build_items(QUESTIONS, outputs, max_items=250)) == 250


def _verdicts(items: list[Any], name: str, right: set[str], cost: float) -> dict[Any, Any]:
    return {
        (item.question.id, name): {"correct": item.question.id in right, "cost": cost, "tokens": 9}
        for item in items
    }


def test_ties_break_by_cost_then_name_and_gains_are_reported() -> None:
    items = build_items(QUESTIONS, _outputs(QUESTIONS, RIGHT))
    same = {item.question.id for item in items[:120]}
    done = {
        **_verdicts(items, "zeta", same, 0.001),
        **_verdicts(items, "alpha", same, 0.002),
        **_verdicts(items, "beta", same, 0.001),
    }
    ranking = rank(["zeta", "alpha", "beta"], items, done)
    assert [r.expert for r in ranking] == ["beta", "zeta", "alpha"]
    best = ranking[0]
    accuracy = 120 / len(items)
    assert best.accuracy == round(accuracy, 4)
    single = sum(i.best_single for i in items) / len(items)
    voted = sum(i.vote for i in items) / len(items)
    assert best.gain_over_best == round(accuracy - single, 4)
    assert best.gain_over_vote == round(accuracy - voted, 4)
    contested = [i for i in items if i.contested]
    expected = sum((i.question.id in same) - i.vote for i in contested) / len(contested)
    assert best.contested_gain == round(expected, 4)
