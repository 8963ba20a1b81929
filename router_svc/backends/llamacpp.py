"""llama.cpp in-process (llama-cpp-python, GGUF on the CPU): the embedded default engine."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from functools import lru_cache
from typing import Any

from router_svc.backends.base import Engine
from router_svc.config.engines import LlamaCppOptions
from router_svc.config.model_files import resolve_model_path
from router_svc.errors import BackendTimeout, BackendUnavailableError, ConfigError
from router_svc.types import Completion, GenerationRequest

_INSTALL = "pip install 'llama-cpp-python==0.3.36'"


class LlamaCppEngine(Engine):
    """A GGUF model run by llama-cpp-python in this process."""

    supports_streaming = True
    supports_grammar = True
    Options = LlamaCppOptions
    _compute_lock = threading.Lock()
    """llama.cpp models share the CPU cores: one generates at a time in a process."""

    _llama: Any = None

    async def _load(self) -> None:
        await asyncio.to_thread(self._load_sync)

    def _load_sync(self) -> None:
        llama_cpp = _import_llama_cpp()
        path = resolve_model_path(self.expert.model, self.context.model_cache_dir)
        if not path.is_file():
            raise ConfigError(f"expert {self.name!r}: model file {path} does not exist")
        threads = self.options.n_threads or self.context.n_threads
        try:
            self._llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=self.expert.context_length,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=self.options.n_batch,
                n_gpu_layers=self.options.n_gpu_layers,
                seed=self.expert.seed if self.expert.seed is not None else -1,
                chat_format=self.expert.chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise self.error(f"llama.cpp could not load {path}: {exc}") from exc
        self._model_bytes = path.stat().st_size

    async def _unload(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            await asyncio.to_thread(llama.close)

    def memory_bytes(self) -> int:
        if self._llama is None:
            return 0
        return self._model_bytes + _kv_cache_bytes(self._llama)

    async def _generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        return [await asyncio.to_thread(self._complete, request) for request in requests]

    def _complete(self, request: GenerationRequest) -> Completion:
        started = time.perf_counter()
        with self._compute_lock, self._translate_errors():
            self._forget_previous_prompt()
            response = self._llama.create_chat_completion(**self._call_args(request, started))
        seconds = time.perf_counter() - started
        self._raise_if_timed_out(seconds)
        choice = response["choices"][0]
        usage = response["usage"]
        return Completion(
            text=choice["message"]["content"] or "",
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            seconds=seconds,
            finish_reason=choice.get("finish_reason") or "stop",
            expert=self.name,
        )

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        await self.load()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

        def produce() -> None:
            try:
                for piece in self._stream_sync(request):
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except BaseException as exc:  # handed over to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        producer = asyncio.ensure_future(asyncio.to_thread(produce))
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        await producer

    def _stream_sync(self, request: GenerationRequest) -> Iterator[str]:
        started = time.perf_counter()
        with self._compute_lock, self._translate_errors():
            self._forget_previous_prompt()
            args = self._call_args(request, started) | {"stream": True}
            for chunk in self._llama.create_chat_completion(**args):
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece

    def _forget_previous_prompt(self) -> None:
        """Evaluate every prompt from scratch: reusing the previous prompt's KV cache changes
        the logits slightly (batch-size dependent numerics), which breaks greedy determinism."""
        if not self.options.reuse_prompt_cache:
            self._llama.reset()

    def _call_args(self, request: GenerationRequest, started: float) -> dict[str, Any]:
        sampling = self.sampling(request)
        deadline = started + self.expert.timeout_s
        args: dict[str, Any] = {
            "messages": self.chat_messages(request),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "stop": [*self.expert.stop, *request.stop] or None,
            "logits_processor": [_deadline_processor(deadline, self._llama.token_eos())],
        }
        if sampling.seed is not None:
            args["seed"] = sampling.seed
        if request.grammar:
            args["grammar"] = _grammar(request.grammar)
        return args

    def _raise_if_timed_out(self, seconds: float) -> None:
        if seconds > self.expert.timeout_s:
            raise BackendTimeout(
                f"expert {self.name!r}: generation took longer than {self.expert.timeout_s} s",
                backend="llamacpp",
                expert=self.name,
            )

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        if self._llama is None:
            raise self.error("model is not loaded")
        try:
            yield
        except (ValueError, RuntimeError) as exc:
            raise self.error(f"llama.cpp failed: {exc}") from exc


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the llamacpp engine needs llama-cpp-python: {_INSTALL}", backend="llamacpp"
        ) from exc
    return llama_cpp


@lru_cache(maxsize=32)
def _grammar(gbnf: str) -> Any:
    """Compile a GBNF grammar once per distinct text."""
    llama_cpp = _import_llama_cpp()
    try:
        return llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"invalid GBNF grammar: {exc}") from exc


def _deadline_processor(deadline: float, eos: int) -> Any:
    """Past the deadline, only end-of-sequence can be sampled: the generation stops there."""

    def processor(_input_ids: Any, scores: Any) -> Any:
        if time.perf_counter() > deadline:
            scores[:] = -float("inf")
            scores[eos] = 0.0
        return scores

    return processor


def _kv_cache_bytes(llama: Any) -> int:
    """f16 keys and values for every layer over the whole context."""
    metadata: dict[str, str] = getattr(llama, "metadata", {}) or {}
    layers = next((int(v) for k, v in metadata.items() if k.endswith(".block_count")), 32)
    context: int = llama.n_ctx()
    width: int = llama.n_embd()
    return 2 * 2 * context * layers * width
