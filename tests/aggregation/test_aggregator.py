"""Aggregation rules: unanimity skip, aggregator answer, majority and single fallbacks.

Pure logic over scripted task results (no engine is involved in these decisions).
"""

from __future__ import annotations

import pytest

from router_svc.aggregation.aggregator import (
    Aggregator,
    Sampled,
    expert_answers,
    strip_reasoning,
)
from router_svc.backends.base import EngineContext
from router_svc.backends.llamacpp import LlamaCppEngine
from router_svc.config.pool import PoolConfig
from router_svc.execution.plan import Task
from router_svc.execution.runner import TaskResult
from router_svc.results import QuestionResult
from router_svc.routing.recruiter import Assignment
from router_svc.types import Completion, GenerationRequest, Question

QUESTION = Question("q1", "What is 2 + 2?", "4")


def result(expert: str, text: str | None, error: str | None = None) -> TaskResult:
    task = Task(f"q1:{expert}", expert, GenerationRequest.user(QUESTION.question))
    completion = Completion(text, 10, 5, 0.1, expert=expert) if text is not None else None
    return TaskResult(task, completion, error)


def answers(*texts: str | None) -> list:
    return expert_answers([result(f"e{i}", t) for i, t in enumerate(texts)], "number")


def test_strip_reasoning_blocks() -> None:
    assert strip_reasoning("<think>2+2 is 5?</think>The answer is 4.") == "The answer is 4."
    assert strip_reasoning("The answer is 4. <thinking>unclosed") == "The answer is 4."


def test_unanimous_answers_skip_the_aggregator() -> None:
    aggregator = Aggregator("agg")
    given = answers("The answer is 4.", "2+2 = 4. The answer is 4", "The answer is 4.0")
    assert aggregator.task(QUESTION, given, "number") is None
    final = aggregator.finish(given, "number", None)
    assert (final.answer, final.method) == ("4", "unanimous")


def test_skip_can_be_turned_off() -> None:
    given = answers("The answer is 4.", "The answer is 4.")
    task = Aggregator("agg", skip_unanimous=False).task(QUESTION, given, "number")
    assert task is not None
    assert task.expert == "agg"
    prompt = task.request.messages[0].content
    assert "### Response of model 1\nThe answer is 4." in prompt
    assert QUESTION.question in prompt


def test_the_prompt_has_the_papers_structure() -> None:
    """Instruction to synthesise, each response under its own header, the question, then
    step-by-step reasoning that ends in the answer."""
    given = answers("The answer is 4.", "The answer is 5.")
    task = Aggregator("agg", max_tokens=4096).task(QUESTION, given, "number")
    assert task is not None
    prompt = task.request.messages[0].content
    spots = [
        prompt.index(s)
        for s in ("Combine them", "### Response of model 1", "### Response of model 2",
                  QUESTION.question, "step by step")
    ]  # fmt: skip
    assert spots == sorted(spots)
    assert prompt.rstrip().endswith("where X is the final answer.")
    assert task.request.max_tokens == 4096  # its own limit, not its expert's
    assert task.request.temperature is None  # its expert's temperature, not a fixed 0


def test_a_method_that_always_aggregates_aggregates_agreeing_answers() -> None:
    given = answers("The answer is 4.", "The answer is 4.", "The answer is 4.")
    aggregator = Aggregator("agg")
    assert aggregator.task(QUESTION, given, "number") is None
    task = aggregator.task(QUESTION, given, "number", always=True, sampling=Sampled(0.7, 11))
    assert task is not None
    assert (task.request.temperature, task.request.seed) == (0.7, 11)


def test_aggregator_answer_wins_when_parseable() -> None:
    aggregator = Aggregator("agg")
    given = answers("The answer is 4.", "The answer is 5.", "The answer is 5.")
    task = aggregator.task(QUESTION, given, "number")
    assert task is not None
    verdict = TaskResult(task, Completion("Response 1 is right. The answer is 4.", 50, 9, 0.2))
    final = aggregator.finish(given, "number", verdict)
    assert (final.answer, final.method) == ("4", "aggregator")
    assert final.completion is verdict.completion


@pytest.mark.parametrize(
    "verdict_text", ["I cannot tell.", None], ids=["unparseable", "aggregator failed"]
)
def test_falls_back_to_majority(verdict_text: str | None) -> None:
    aggregator = Aggregator("agg")
    given = answers("The answer is 4.", "The answer is 5.", "The answer is 5.")
    task = aggregator.task(QUESTION, given, "number")
    assert task is not None
    completion = Completion(verdict_text, 50, 9, 0.2) if verdict_text else None
    final = aggregator.finish(
        given, "number", TaskResult(task, completion, None if completion else "BackendTimeout: x")
    )
    assert (final.answer, final.method) == ("5", "majority")


def test_a_single_surviving_expert_answers_alone() -> None:
    given = expert_answers(
        [result("e0", None, "BackendTimeout: slow"), result("e1", "The answer is 4.")], "number"
    )
    aggregator = Aggregator("agg")
    assert aggregator.task(QUESTION, given, "number") is None
    final = aggregator.finish(given, "number", None)
    assert (final.answer, final.method) == ("4", "single")
    assert given[0].error == "BackendTimeout: slow"


def test_no_answer_at_all() -> None:
    given = expert_answers([result("e0", None, "BackendError: x")], "number")
    final = Aggregator("agg").finish(given, "number", None)
    assert (final.answer, final.method) == (None, "none")


def test_without_an_aggregator_expert_the_majority_decides() -> None:
    given = answers("The answer is 4.", "The answer is 5.", "The answer is 4.")
    aggregator = Aggregator(None)
    assert aggregator.task(QUESTION, given, "number") is None
    assert aggregator.finish(given, "number", None).answer == "4"


# --- the aggregator's token limit, and which path settled each answer --------------------------


def test_the_aggregator_generates_within_its_own_experts_limit(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    """No fixed cap: a reasoning model is not cut inside <think> by a limit it never chose."""
    given = answers("The answer is 4.", "The answer is 5.")
    for name in ("smol-code", "smol-facts"):
        task = Aggregator(name).task(QUESTION, given, "number")
        assert task is not None
        engine = LlamaCppEngine(pool.expert(name), engine_context)  # not loaded: settings only
        assert engine.sampling(task.request).max_tokens == pool.expert(name).max_tokens
    capped = Aggregator("smol-code", max_tokens=7).task(QUESTION, given, "number")
    assert capped is not None and capped.request.max_tokens == 7


def verdict(text: str | None, finish_reason: str = "stop", error: str | None = None) -> TaskResult:
    task = Task("q1:aggregate:agg", "agg", GenerationRequest.user(QUESTION.question))
    completion = Completion(text, 50, 9, 0.2, finish_reason) if text is not None else None
    return TaskResult(task, completion, error)


DISAGREE = ("The answer is 4.", "The answer is 5.", "The answer is 5.")


@pytest.mark.parametrize(
    ("expert", "given", "result", "method", "reason"),
    [
        (
            "agg",
            DISAGREE,
            verdict("Response 1 is right. The answer is 4."),
            "aggregator",
            "disagreed",
        ),
        ("agg", ("The answer is 4.", "It is 4.0"), None, "unanimous", "same answer"),
        (None, DISAGREE, None, "majority", "no aggregator is configured"),
        (
            "agg",
            DISAGREE,
            verdict(None, error="BackendTimeout: slow"),
            "majority",
            "BackendTimeout",
        ),
        ("agg", DISAGREE, verdict("I cannot tell."), "majority", "states no answer"),
        (
            "agg",
            DISAGREE,
            verdict("<think>Response 1 says 4, response 2", finish_reason="length"),
            "majority",
            "cut at its token limit",
        ),
        ("agg", ("The answer is 4.", None), None, "single", "1 of 2 experts"),
        ("agg", (None, None), None, "none", "no expert answered"),
    ],
)
def test_every_aggregate_says_which_path_settled_it_and_why(
    expert: str | None,
    given: tuple[str | None, ...],
    result: TaskResult | None,
    method: str,
    reason: str,
) -> None:
    final = Aggregator(expert).finish(answers(*given), "number", result)
    assert final.method == method
    assert reason in final.reason


def test_the_reason_reaches_the_result_record() -> None:
    given = answers(*DISAGREE)
    final = Aggregator(None).finish(given, "number", None)
    assignment = Assignment("q1", [], [], [], ["e0", "e1", "e2"], fallback=False)
    record = QuestionResult(QUESTION, assignment, given, final).to_json()
    assert record["final"]["method"] == "majority"
    assert record["final"]["reason"] == "majority vote: no aggregator is configured"
