"""The Engine interface every backend fills in: load, generate a batch, unload, memory held."""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from router_svc.config.pool import ExpertConfig
from router_svc.config.registry import NoOptions
from router_svc.errors import BackendError
from router_svc.types import Completion, GenerationRequest, Sampling

_T = TypeVar("_T")

StreamDone = Callable[[Completion], None]
"""Told a streamed generation's completion (its text and token counts) when it ends."""


@dataclass(frozen=True)
class EngineContext:
    """Process-level facts an engine may need."""

    model_cache_dir: Path = Path(".router-svc/models")
    n_threads: int | None = None
    abandoned: StreamDone | None = None
    """Told the completion of a generation its caller stopped waiting for (a client that left):
    its tokens were spent all the same. Called from the generating thread."""


class Engine(ABC):
    """One expert's model. Subclasses fill in ``_load``, ``_generate`` and ``_unload``."""

    supports_streaming: ClassVar[bool] = False
    supports_grammar: ClassVar[bool] = False
    max_batch_size: ClassVar[int] = 1
    """How many requests one generate call runs together on the hardware."""
    independent_requests: ClassVar[bool] = False
    """Requests are separate calls that run at once (a remote API): batching them only waits."""
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, expert: ExpertConfig, context: EngineContext | None = None) -> None:
        self.expert = expert
        self.context = context or EngineContext()
        self.options: Any = expert.engine_options()
        self.loaded = False

    @property
    def name(self) -> str:
        return self.expert.name

    async def load(self) -> None:
        """Make the model ready; a no-op when it already is."""
        if not self.loaded:
            await self._load()
            self.loaded = True

    async def unload(self) -> None:
        """Free what the model holds; a no-op when it is not loaded."""
        if self.loaded:
            await self._unload()
            self.loaded = False

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """Answer a batch of requests, loading the model first if needed."""
        await self.load()
        return await self._generate(list(requests))

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """Yield the answer's text in pieces; engines without streaming yield it whole."""
        (completion,) = await self.generate([request])
        yield completion.text

    async def stream_completion(
        self, request: GenerationRequest, done: StreamDone
    ) -> AsyncIterator[str]:
        """``stream``, telling ``done`` the generation's completion when it ends, also when
        the consumer stops early (the tokens spent until then); not when it fails.

        Engines that count tokens while streaming fill this in. The default: an engine
        without streaming reports its completion as generated; a streaming one, its pieces
        as completion tokens and about four characters a token of prompt."""
        if type(self).stream is Engine.stream:
            (completion,) = await self.generate([request])
            yield completion.text
            done(completion)
            return
        started = time.perf_counter()
        pieces: list[str] = []
        failed = False
        try:
            async for piece in self.stream(request):
                pieces.append(piece)
                yield piece
        except Exception:
            failed = True
            raise
        finally:
            if not failed:
                done(self._estimated(request, pieces, time.perf_counter() - started))

    @property
    def exact_stream_usage(self) -> bool:
        """Whether ``stream_completion`` tells the model's own token counts (not estimates)."""
        cls = type(self)
        return cls.stream_completion is not Engine.stream_completion or cls.stream is Engine.stream

    def _estimated(
        self, request: GenerationRequest, pieces: list[str], seconds: float
    ) -> Completion:
        characters = sum(len(m["content"]) + 8 for m in self.chat_messages(request))
        cut = len(pieces) >= self.sampling(request).max_tokens
        return Completion(
            text="".join(pieces),
            prompt_tokens=math.ceil(characters / 4),
            completion_tokens=len(pieces),
            seconds=seconds,
            finish_reason="length" if cut else "stop",
            expert=self.name,
        )

    def memory_bytes(self) -> int:
        """An estimate of the memory the loaded model holds (0 when unloaded)."""
        return 0

    @abstractmethod
    async def _load(self) -> None: ...

    @abstractmethod
    async def _generate(self, requests: list[GenerationRequest]) -> list[Completion]: ...

    @abstractmethod
    async def _unload(self) -> None: ...

    def sampling(self, request: GenerationRequest) -> Sampling:
        """The expert's sampling settings with the request's overrides applied."""
        expert = self.expert
        return Sampling(
            temperature=_pick(request.temperature, expert.temperature),
            top_p=_pick(request.top_p, expert.top_p),
            max_tokens=_pick(request.max_tokens, expert.max_tokens),
            seed=request.seed if request.seed is not None else expert.seed,
        )

    def chat_messages(self, request: GenerationRequest) -> list[dict[str, str]]:
        """OpenAI-style messages: the expert's system prompt and examples, then the request."""
        messages: list[dict[str, str]] = []
        if request.use_system_prompt:
            if self.expert.system_prompt:
                messages.append({"role": "system", "content": self.expert.system_prompt})
            for shot in self.expert.few_shot:
                messages.append({"role": "user", "content": shot.user})
                messages.append({"role": "assistant", "content": shot.assistant})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        return messages

    def error(self, message: str) -> BackendError:
        """A BackendError that names this expert and engine."""
        return BackendError(
            f"expert {self.name!r}: {message}", backend=type(self).__name__, expert=self.name
        )


def _pick(override: _T | None, default: _T) -> _T:
    return default if override is None else override
