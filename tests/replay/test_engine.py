"""The replay engine answers from recorded outcomes (tests/fixtures/replay_tiny.jsonl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from router_svc.aggregation.aggregator import Aggregator, ExpertAnswer
from router_svc.backends.registry import create_engine
from router_svc.config.pool import ExpertConfig
from router_svc.errors import BackendError
from router_svc.questions.grading import grade
from router_svc.replay.data import load_replay
from router_svc.replay.engine import WRONG, ReplayEngine
from router_svc.types import GenerationRequest, Message, Question

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "replay_tiny.jsonl"
T1 = "Which letter comes after A? The options are: (A) B (B) C (C) D (D) E"


def _engine(name: str, **options: object) -> ReplayEngine:
    expert = ExpertConfig(
        name=name, engine="replay", model="replay", options={"file": str(TINY), **options}
    )
    engine = create_engine(expert)
    assert isinstance(engine, ReplayEngine)
    return engine


async def test_recorded_response_is_the_answer() -> None:
    (completion,) = await _engine("c").generate([GenerationRequest.user(T1)])
    assert completion.text == "I think (B)."
    assert (completion.prompt_tokens, completion.completion_tokens) == (0, 0)
    assert completion.expert == "c"


async def test_answers_are_synthesised_from_scores() -> None:
    questions = ["What is 2 + 2?", "Explain why the sky is blue in one word."]
    right, graded = await _engine("a").generate([GenerationRequest.user(q) for q in questions])
    assert right.text == "The answer is 4."
    assert graded.text == "The answer is scattering."  # a score of 0.5 counts as right
    (wrong,) = await _engine("c").generate([GenerationRequest.user(questions[0])])
    assert wrong.text == WRONG


async def test_every_synthesised_answer_grades_as_recorded() -> None:
    data = load_replay(TINY)
    for name in data.experts:
        engine = _engine(name)
        requests = [GenerationRequest.user(q.question) for q in data.questions]
        completions = await engine.generate(requests)
        scores = data.scores[:, data.experts.index(name)]
        for question, completion, score in zip(data.questions, completions, scores, strict=True):
            assert question.gold_answer is not None
            assert grade(completion.text, question.gold_answer, question.question).correct == (
                score >= 0.5
            ), (name, question.id, completion.text)


async def test_the_question_is_the_last_user_message() -> None:
    request = GenerationRequest(
        messages=(Message("system", "Be brief."), Message("user", T1), Message("assistant", "ok"))
    )
    (completion,) = await _engine("a").generate([request])
    assert completion.text == "The answer is (A)."


async def test_a_prompt_quoting_a_question_answers_it_so_replay_can_aggregate() -> None:
    answers = [ExpertAnswer("a", "(A)", "A"), ExpertAnswer("b", "(B)", "B")]
    request = Aggregator("c").request(Question("t1", T1), answers)
    assert request.messages[-1].content != T1
    (completion,) = await _engine("c").generate([request])
    assert completion.text == "I think (B)."


async def test_unknown_question_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="no recorded outcome"):
        await _engine("a").generate([GenerationRequest.user("What is the capital of France?")])


async def test_unknown_expert_and_alias() -> None:
    with pytest.raises(BackendError, match="records no expert named 'zeta'"):
        await _engine("zeta").load()
    (completion,) = await _engine("zeta", expert="b").generate([GenerationRequest.user(T1)])
    assert completion.text == "The answer is (B)."
    assert completion.expert == "zeta"


async def test_missing_file_is_a_backend_error(tmp_path: Path) -> None:
    expert = ExpertConfig(
        name="a", engine="replay", model="replay", options={"file": str(tmp_path / "x.jsonl")}
    )
    with pytest.raises(BackendError, match="no such file"):
        await create_engine(expert).load()
