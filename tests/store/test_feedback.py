"""The feedback log and the kept contexts, on the real Redis and on a SQLite file."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from router_svc.store import Store
from router_svc.store.feedback import START, AnsweredContext, FeedbackRecord, FeedbackStore


def _feedback(store: Store) -> FeedbackStore:
    assert store.feedback is not None
    return store.feedback


def _record(i: int, suite: str = "starter", score: float = 1.0) -> FeedbackRecord:
    return FeedbackRecord(f"chatcmpl-{i}", suite, f"question {i}", ["math"], {"expert-a": score})


async def test_a_kept_context_comes_back(store: Store) -> None:
    context = AnsweredContext("chatcmpl-1", "starter", "2+2?", ["math"], ["a", "b"], {"a": "4"})
    await _feedback(store).remember(context)
    assert await _feedback(store).context("chatcmpl-1") == context
    assert await _feedback(store).context("chatcmpl-unknown") is None


async def test_contexts_are_bounded_in_number(store: Store) -> None:
    feedback = _feedback(store)
    feedback.max_contexts = 3  # type: ignore[attr-defined]
    for i in range(5):
        await feedback.remember(AnsweredContext(f"c{i}", "s", "q", [], ["a"], created_at=i))
    assert [await feedback.context(f"c{i}") is not None for i in range(5)] == [
        False, False, True, True, True,
    ]  # fmt: skip


async def test_one_grade_per_answer_and_cursors_follow_the_log(
    make_store: Callable[[], Store],
) -> None:
    writer, reader = _feedback(make_store()), _feedback(make_store())
    assert await writer.add(_record(1))
    assert not await writer.add(_record(1, score=0.0))  # a second grade of the same answer
    first = await reader.since("starter")
    assert [r.id for r in first.records] == ["chatcmpl-1"]
    assert first.records[0].scores == {"expert-a": 1.0}
    assert await writer.add(_record(2))
    assert await writer.add(_record(2, suite="other"))
    after = await reader.since("starter", first.cursor)
    assert [r.id for r in after.records] == ["chatcmpl-2"]
    assert (await reader.since("starter", after.cursor)).records == []
    assert len((await reader.since("starter", START)).records) == 2


async def test_drop_forgets_one_suite(store: Store) -> None:
    feedback = _feedback(store)
    for i in range(3):
        await feedback.add(_record(i))
    await feedback.add(_record(9, suite="other"))
    assert await feedback.drop("starter") == 3
    assert (await feedback.since("starter")).records == []
    assert len((await feedback.since("other")).records) == 1
    assert await feedback.add(_record(1))  # graded again after the drop


def test_scores_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match=r"score of 'expert-a' must be in \[0, 1\]"):
        _record(1, score=1.5)


async def test_a_drop_is_counted_for_readers(store: Store) -> None:
    feedback = _feedback(store)
    await feedback.add(_record(1))
    assert (await feedback.since("starter")).drops == 0
    await feedback.drop("starter")
    assert (await feedback.since("starter")).drops == 1
    assert (await feedback.since("other")).drops == 0
