"""LiteLLM: any remote API or OpenAI-compatible server (a vLLM or llama.cpp server)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from router_svc.backends.base import Engine
from router_svc.config.engines import LiteLLMOptions
from router_svc.errors import (
    BackendError,
    BackendHTTPError,
    BackendTimeout,
    BackendUnavailableError,
    ContextLengthError,
)
from router_svc.types import Completion, GenerationRequest

_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


class LiteLLMEngine(Engine):
    """Calls a model through litellm.acompletion."""

    supports_streaming = True
    independent_requests = True
    Options = LiteLLMOptions

    _litellm: Any = None

    @property
    def max_batch_size(self) -> int:  # type: ignore[override]
        return int(self.options.max_concurrency)

    async def _load(self) -> None:
        self._litellm = _import_litellm()
        self._semaphore = asyncio.Semaphore(self.options.max_concurrency)

    async def _unload(self) -> None:
        self._litellm = None

    async def _generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        return list(await asyncio.gather(*(self._complete(r) for r in requests)))

    async def _complete(self, request: GenerationRequest) -> Completion:
        for attempt in range(self.options.retries + 1):
            try:
                return await self._complete_once(request)
            except (BackendTimeout, BackendHTTPError) as exc:
                retryable = getattr(exc, "status_code", 408) in _RETRYABLE_STATUS
                if not retryable or attempt == self.options.retries:
                    raise
                await asyncio.sleep(self.options.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _complete_once(self, request: GenerationRequest) -> Completion:
        async with self._semaphore:
            started = time.perf_counter()
            with self._translate_errors():
                response = await self._litellm.acompletion(**self._call_args(request))
            seconds = time.perf_counter() - started
        choice = response.choices[0]
        return Completion(
            text=choice.message.content or "",
            prompt_tokens=response.usage.prompt_tokens,
            completion_tokens=response.usage.completion_tokens,
            seconds=seconds,
            finish_reason=choice.finish_reason or "stop",
            expert=self.name,
        )

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        await self.load()
        async with self._semaphore:
            with self._translate_errors():
                response = await self._litellm.acompletion(**self._call_args(request), stream=True)
                async for chunk in response:
                    piece = chunk.choices[0].delta.content
                    if piece:
                        yield piece

    def _call_args(self, request: GenerationRequest) -> dict[str, Any]:
        sampling = self.sampling(request)
        args: dict[str, Any] = {
            "model": self.expert.model,
            "messages": self.chat_messages(request),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "timeout": self.expert.timeout_s,
            "num_retries": 0,
        }
        if sampling.seed is not None:
            args["seed"] = sampling.seed
        if self.expert.stop or request.stop:
            args["stop"] = [*self.expert.stop, *request.stop]
        if self.expert.api_base:
            args["api_base"] = self.expert.api_base
        args["api_key"] = self._api_key()
        return args

    def _api_key(self) -> str | None:
        if self.expert.api_key_env:
            key = os.environ.get(self.expert.api_key_env)
            if not key:
                raise self.error(f"set the environment variable {self.expert.api_key_env}")
            return key
        # OpenAI-compatible local servers accept any key; the SDK insists on one.
        return "not-needed" if self.expert.api_base else None

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        exceptions = self._litellm.exceptions
        try:
            yield
        except exceptions.Timeout as exc:
            raise BackendTimeout(
                f"expert {self.name!r}: no answer within {self.expert.timeout_s} s",
                backend="litellm",
                expert=self.name,
            ) from exc
        except exceptions.ContextWindowExceededError as exc:
            raise ContextLengthError(
                f"expert {self.name!r}: the prompt does not fit the context window: {exc}",
                backend="litellm",
                expert=self.name,
            ) from exc
        except Exception as exc:
            if not _is_connection_error(exc):
                raise self._http_error(exc) from exc
            raise BackendHTTPError(
                f"expert {self.name!r}: cannot reach {self.expert.api_base or 'the provider'}",
                backend="litellm",
                expert=self.name,
                status_code=503,
                body=str(exc),
            ) from exc

    def _http_error(self, exc: Exception) -> BackendError:
        if isinstance(exc, BackendError):
            return exc
        status = getattr(exc, "status_code", None)
        if not isinstance(status, int):
            return self.error(f"litellm failed: {exc}")
        return BackendHTTPError(
            f"expert {self.name!r}: backend answered HTTP {status}",
            backend="litellm",
            expert=self.name,
            status_code=status,
            body=str(getattr(exc, "message", exc)),
        )


_CONNECTION_ERRORS = {"APIConnectionError", "ConnectError", "ConnectionError", "ConnectTimeout"}


def _is_connection_error(exc: BaseException | None) -> bool:
    """litellm reports a refused connection as HTTP 500; look through the cause chain."""
    seen = 0
    while exc is not None and seen < 10:
        if type(exc).__name__ in _CONNECTION_ERRORS or "Connection error" in str(exc):
            return True
        exc = getattr(exc, "original_exception", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as exc:
        raise BackendUnavailableError(
            "the litellm engine needs litellm: pip install 'router-svc[litellm]'",
            backend="litellm",
        ) from exc
    litellm.suppress_debug_info = True
    return litellm
