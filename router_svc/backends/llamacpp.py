"""llama.cpp in-process (llama-cpp-python, GGUF on the CPU): the embedded default engine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from functools import lru_cache
from typing import Any

from router_svc.backends.base import Engine, StreamDone
from router_svc.config.engines import LlamaCppOptions
from router_svc.config.model_files import resolve_model_path
from router_svc.errors import (
    BackendTimeout,
    BackendUnavailableError,
    ConfigError,
    ContextLengthError,
)
from router_svc.types import Completion, GenerationRequest

logger = logging.getLogger(__name__)

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
            await asyncio.to_thread(self._close, llama)

    def _close(self, llama: Any) -> None:
        """Free the model once no generation uses it (one stopped early ends a token later)."""
        with self._compute_lock:
            llama.close()

    def memory_bytes(self) -> int:
        if self._llama is None:
            return 0
        return self._model_bytes + _kv_cache_bytes(self._llama)

    async def _generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """One request at a time; a caller that stops waiting stops the generation running,
        and ``context.abandoned`` is told what it spent."""
        completions = []
        for request in requests:
            stop = threading.Event()
            handoff = _Handoff(self.context.abandoned)
            try:
                await asyncio.to_thread(handoff.run, self._complete, request, stop)
            except asyncio.CancelledError:
                stop.set()
                handoff.leave()
                raise
            completions.append(handoff.take())
        return completions

    def _complete(
        self,
        request: GenerationRequest,
        stop: threading.Event | None = None,
        emit: Callable[[str], None] | None = None,
    ) -> Completion:
        """One generation; ``stop`` ends it at the next token, ``emit`` is handed its text in
        pieces as it is generated (streaming: the same generation and counts as unstreamed)."""
        started = time.perf_counter()
        with self._compute_lock, self._translate_errors():
            self._forget_previous_prompt()
            args = self._call_args(request, started, stop)
            pieces = _Pieces(self._llama, args["stop"] or [], emit) if emit else None
            if pieces is not None:
                args["logits_processor"].append(pieces)
            response = self._llama.create_chat_completion(**args)
        seconds = time.perf_counter() - started
        self._raise_if_timed_out(seconds)
        choice = response["choices"][0]
        usage = response["usage"]
        text = choice["message"]["content"] or ""
        if pieces is not None:
            pieces.finish(text)
        return Completion(
            text=text,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            seconds=seconds,
            finish_reason=choice.get("finish_reason") or "stop",
            expert=self.name,
        )

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        async for piece in self.stream_completion(request, _ignore):
            yield piece

    async def stream_completion(
        self, request: GenerationRequest, done: StreamDone
    ) -> AsyncIterator[str]:
        """The generation ``_complete`` runs, its pieces yielded as they come, so a stream
        counts its tokens exactly as an unstreamed call. A consumer that stops early stops
        the generation at its next token; ``done`` is then told what it spent."""
        await self.load()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        stop = threading.Event()

        def put(piece: str | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, piece)

        def produce() -> Completion:
            try:
                return self._complete(request, stop, put)
            finally:
                put(None)

        producer = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while (piece := await queue.get()) is not None:
                yield piece
            completion = await producer
        except BaseException:
            stop.set()  # a consumer that left, or a failed generation: stop (or nothing)
            producer.add_done_callback(lambda finished: _report(finished, done))
            raise
        done(completion)

    def _forget_previous_prompt(self) -> None:
        """Evaluate every prompt from scratch: reusing the previous prompt's KV cache changes
        the logits slightly (batch-size dependent numerics), which breaks greedy determinism."""
        if not self.options.reuse_prompt_cache:
            self._llama.reset()

    def _call_args(
        self, request: GenerationRequest, started: float, stop: threading.Event | None = None
    ) -> dict[str, Any]:
        sampling = self.sampling(request)
        deadline = started + self.expert.timeout_s
        args: dict[str, Any] = {
            "messages": self.chat_messages(request),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "stop": [*self.expert.stop, *request.stop] or None,
            "logits_processor": [_deadline_processor(deadline, self._llama.token_eos(), stop)],
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
            if _CONTEXT_FULL in str(exc):
                raise ContextLengthError(
                    f"expert {self.name!r}: llama.cpp failed: {exc}",
                    backend=type(self).__name__,
                    expert=self.name,
                ) from exc
            raise self.error(f"llama.cpp failed: {exc}") from exc


_CONTEXT_FULL = "exceed context window"
"""What llama-cpp-python's ValueError says when the prompt does not fit ("Requested tokens
(3000) exceed context window of 2048"): the one place its message is read."""


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


def _deadline_processor(deadline: float, eos: int, stop: threading.Event | None) -> Any:
    """Past the deadline, or once ``stop`` is set, only end-of-sequence can be sampled: the
    generation stops there."""

    def processor(_input_ids: Any, scores: Any) -> Any:
        if time.perf_counter() > deadline or (stop is not None and stop.is_set()):
            scores[:] = -float("inf")
            scores[eos] = 0.0
        return scores

    return processor


class _Pieces:
    """A logits processor that hands the text generated so far to ``emit``, piece by piece.

    llama.cpp calls it before sampling each token with the tokens evaluated until then: the
    prompt, then every completion token but the one being sampled. Text that may be the start
    of a stop sequence, and an unfinished UTF-8 character, wait for the next token; ``finish``
    sends the rest of the final text (the last token's and whatever waited).
    """

    def __init__(self, llama: Any, stops: list[str], emit: Callable[[str], None]) -> None:
        self.llama = llama
        self.stops = [stop for stop in stops if stop]
        self.emit = emit
        self.prompt: int | None = None
        self.tokens = 0
        self.data = b""
        self.sent = ""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.prompt is None:
            self.prompt = len(input_ids)
        new = input_ids[self.prompt + self.tokens :].tolist()
        if new:
            self.tokens += len(new)
            self.data += self.llama.detokenize(new)
            text = _whole_characters(self.data).decode("utf-8", errors="ignore")
            self._send(text[: len(text) - _held_back(text, self.stops)])
        return scores

    def finish(self, text: str) -> None:
        if text.startswith(self.sent):
            self._send(text)
        else:
            logger.warning("streamed text %r is not a prefix of the answer", self.sent[-40:])

    def _send(self, text: str) -> None:
        if len(text) > len(self.sent):
            self.emit(text[len(self.sent) :])
            self.sent = text


def _whole_characters(data: bytes) -> bytes:
    """``data`` without an unfinished UTF-8 character at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # ASCII or the lead byte of a character
            length = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if length <= back else data[:-back]
    return data


def _held_back(text: str, stops: list[str]) -> int:
    """The length of the longest end of ``text`` that a stop sequence starts with."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop), len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class _Handoff:
    """A generation's completion, handed to its caller, or to ``abandoned`` (once) when the
    caller left before it ended."""

    def __init__(self, abandoned: StreamDone | None) -> None:
        self.abandoned = abandoned
        self._lock = threading.Lock()
        self._left = False
        self._result: Completion | None = None

    def run(
        self,
        complete: Callable[[GenerationRequest, threading.Event], Completion],
        request: GenerationRequest,
        stop: threading.Event,
    ) -> None:
        """In the generating thread: the completion, kept for ``take`` or reported."""
        completion = complete(request, stop)
        with self._lock:
            left = self._left
            if not left:
                self._result = completion
        if left and self.abandoned is not None:
            self.abandoned(completion)

    def leave(self) -> None:
        """The caller stopped waiting: a completion already made is reported now, a later one
        when it is made."""
        with self._lock:
            self._left = True
            done, self._result = self._result, None
        if done is not None and self.abandoned is not None:
            self.abandoned(done)

    def take(self) -> Completion:
        if self._result is None:
            raise RuntimeError("the generation ended without a completion")
        return self._result


def _report(finished: asyncio.Future[Completion], done: StreamDone) -> None:
    """Tell ``done`` the completion of a generation stopped early (nothing if it failed)."""
    if not finished.cancelled() and finished.exception() is None:
        done(finished.result())


def _ignore(_completion: Completion) -> None:
    return None


def _kv_cache_bytes(llama: Any) -> int:
    """f16 keys and values for every layer over the whole context."""
    metadata: dict[str, str] = getattr(llama, "metadata", {}) or {}
    layers = next((int(v) for k, v in metadata.items() if k.endswith(".block_count")), 32)
    context: int = llama.n_ctx()
    width: int = llama.n_embd()
    return 2 * 2 * context * layers * width
