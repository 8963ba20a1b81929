"""In-process routing: the server's pipeline, without a server.

    with router_svc.MoE.from_config("experts.yaml", suite="starter") as moe:
        answer = moe.answer("What is 12 + 8?")
        print(answer.answer, answer.chosen, answer.method)

``MoE`` builds the same ``Runtime`` and ``Pipeline`` as ``router-svc serve`` and the batch
worker (``assembly.build_pipeline``), so a question routes and answers the same way in process
as through the API; ``run_batch`` answers many questions grouped by expert (each expert's model
loads once). The results are the SDK's records: ``RouteDecision`` and ``Answer``, the same
types the remote clients return.

The sync methods (``route``, ``answer``, ``run_batch``, ``close``) run the async ones
(``aroute``, ``aanswer``, ``arun_batch``, ``aclose``) on a private event loop. Use one style per
``MoE`` object: the models and the store bind to the event loop that first uses them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Self, Unpack

from router_svc.assembly import Runtime, build_pipeline
from router_svc.batch.payload import BatchQuestion
from router_svc.config.knobs import KnobArgs
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.errors import ConfigError, DataError
from router_svc.pipeline import Pipeline, RouteOptions
from router_svc.questions.suites import read_jsonl_records
from router_svc.sdk._inputs import QuestionLike, to_question, to_questions
from router_svc.sdk._sync import Portal, blocking
from router_svc.sdk.models import Answer, Assignment, RouteDecision, RouteOptionsInfo
from router_svc.types import Question

DEFAULT_SUITE = "starter"


class MoE:
    """A routed mixture of the pool's experts, in this process."""

    def __init__(self, runtime: Runtime, pipeline: Pipeline, suite: str) -> None:
        self.runtime = runtime
        self.pipeline = pipeline
        self.suite = suite
        self._portal = Portal("router-svc-moe")
        self._aio = self

    @classmethod
    def from_config(
        cls,
        config: str | os.PathLike[str] | None = None,
        *,
        suite: str = DEFAULT_SUITE,
        settings: Settings | None = None,
        use_cache: bool = True,
    ) -> MoE:
        """Load the pool (``config``, else ``settings.config_path``) and the suite's profile.

        ``settings`` defaults to ``Settings()``: the ROUTER_SVC_* environment (skills_dir,
        data_dir, redis_url...). ``use_cache=False`` skips the generation cache.
        """
        settings = settings if settings is not None else Settings()
        path = Path(config) if config is not None else settings.config_path
        runtime = Runtime.create(settings, load_pool(path), use_cache=use_cache)
        try:
            pipeline = build_pipeline(runtime, suite)
        except BaseException:
            _close_now(runtime)
            raise
        return cls(runtime, pipeline, suite)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def options(self, **knobs: Unpack[KnobArgs]) -> RouteOptions:
        """The routing options, with the server's defaults (``Pipeline.options``: k is the
        pool's, capped by the suite's experts; the pool's tagger); ``knobs`` are
        ``config.knobs.RoutingKnobs``. A tagger the pool lacks is an UnknownComponentError, a
        k past the suite's experts a RoutingError."""
        return self.pipeline.options(**knobs)

    async def aroute(
        self,
        question: QuestionLike,
        **knobs: Unpack[KnobArgs],
    ) -> RouteDecision:
        """Which experts would answer ``question``, and why; nothing is generated."""
        options = self.options(**knobs)
        asked = to_question(question)
        timings: dict[str, float] = {}
        (assignment,) = await self.pipeline.route([asked], options, timings)
        return RouteDecision(
            suite=self.suite,
            question=asked.question,
            options=RouteOptionsInfo.model_validate(options.knobs().model_dump()),
            tagger=self.pipeline.tagger(options.tagger).name,
            assignment=Assignment.model_validate(assignment.to_json()),
            timings={stage: round(seconds, 4) for stage, seconds in timings.items()},
        )

    async def aanswer(
        self,
        question: QuestionLike,
        **knobs: Unpack[KnobArgs],
    ) -> Answer:
        """Route ``question``, let the recruited experts answer, aggregate their answers.

        When every expert fails, ``answer.method`` is ``"none"`` and each expert's ``error``
        says why (the server answers 502 instead).
        """
        options = self.options(**knobs)
        (result,) = await self.pipeline.answer([to_question(question)], options)
        return Answer.model_validate(result.to_json())

    async def arun_batch(
        self,
        questions: Iterable[QuestionLike] | os.PathLike[str],
        *,
        progress: bool = False,
        **knobs: Unpack[KnobArgs],
    ) -> list[Answer]:
        """Answer many questions in one pass, grouped by expert; results in input order.

        ``questions`` holds texts, ``Question``s or dicts, or is the path of a JSONL file.
        """
        options = self.options(**knobs)
        asked = _batch_questions(questions)
        results = await self.pipeline.answer(asked, options, progress=progress)
        return [Answer.model_validate(result.to_json()) for result in results]

    async def aclose(self) -> None:
        """Release the loaded models and close the store."""
        await self.runtime.close()

    def close(self) -> None:
        """``aclose`` on the private loop, then stop the loop."""
        self._portal.run(self.aclose())
        self._portal.close()

    route = blocking(aroute)
    answer = blocking(aanswer)
    run_batch = blocking(arun_batch)


def _batch_questions(questions: Iterable[QuestionLike] | os.PathLike[str]) -> list[Question]:
    if isinstance(questions, str):
        message = "run_batch takes a list of questions or a Path; for one question use answer()"
        raise ConfigError(message)
    if isinstance(questions, os.PathLike):
        questions = _read_jsonl(Path(questions))
    asked = to_questions(questions)
    seen: set[str] = set()
    for question in asked:
        if question.id in seen:
            raise DataError(f"two questions have the id {question.id!r}; ids must be unique")
        seen.add(question.id)
    return asked


def _read_jsonl(path: Path) -> list[Question]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{path}: cannot read the questions: {exc}") from exc
    return [record.to_question() for record in read_jsonl_records(text, str(path), BatchQuestion)]


def _close_now(runtime: Runtime) -> None:
    portal = Portal("router-svc-moe-close")
    try:
        portal.run(runtime.close())
    finally:
        portal.close()
