"""vLLM's offline engine on a GPU: one load per expert per run, memory freed between experts.

vLLM only installs on CUDA machines (``pip install 'router-svc[vllm]'``); it is imported when
an expert of this engine is loaded, never before.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from typing import Any

from router_svc.backends.base import Engine
from router_svc.config.engines import VLLMOptions
from router_svc.errors import BackendUnavailableError
from router_svc.types import Completion, GenerationRequest


class VLLMEngine(Engine):
    """Runs one expert's model with ``vllm.LLM`` and batches its whole group in one call."""

    Options = VLLMOptions
    _llm: Any = None

    @property
    def max_batch_size(self) -> int:  # type: ignore[override]
        return int(self.options.max_batch_size)

    async def _load(self) -> None:
        vllm = _import_vllm()
        options = self.options
        self._llm = await asyncio.to_thread(
            vllm.LLM,
            model=self.expert.model,
            tensor_parallel_size=options.tensor_parallel_size,
            gpu_memory_utilization=options.gpu_memory_utilization,
            max_model_len=options.max_model_len or self.expert.context_length,
            dtype=options.dtype,
            seed=self.expert.seed or 0,
        )
        self._vllm = vllm

    async def _generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        return await asyncio.to_thread(self._generate_sync, requests)

    def _generate_sync(self, requests: list[GenerationRequest]) -> list[Completion]:
        conversations = [self.chat_messages(request) for request in requests]
        params = [self._sampling_params(request) for request in requests]
        started = time.perf_counter()
        outputs = self._llm.chat(conversations, params, use_tqdm=False)
        seconds = (time.perf_counter() - started) / max(len(requests), 1)
        return [self._completion(output, seconds) for output in outputs]

    def _sampling_params(self, request: GenerationRequest) -> Any:
        sampling = self.sampling(request)
        return self._vllm.SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed,
            stop=[*self.expert.stop, *request.stop] or None,
        )

    def _completion(self, output: Any, seconds: float) -> Completion:
        generated = output.outputs[0]
        return Completion(
            text=generated.text,
            prompt_tokens=len(output.prompt_token_ids or []),
            completion_tokens=len(generated.token_ids),
            seconds=seconds,
            finish_reason=generated.finish_reason or "stop",
            expert=self.name,
        )

    async def _unload(self) -> None:
        self._llm = None
        await asyncio.to_thread(_free_gpu_memory)

    def memory_bytes(self) -> int:
        if self._llm is None:
            return 0
        import torch

        return int(torch.cuda.memory_reserved())


def _free_gpu_memory() -> None:
    """Tear down vLLM's distributed state and give the cached CUDA memory back."""
    from vllm.distributed.parallel_state import (
        destroy_distributed_environment,
        destroy_model_parallel,
    )

    destroy_model_parallel()
    destroy_distributed_environment()
    gc.collect()
    import torch

    with contextlib.suppress(RuntimeError):
        torch.cuda.empty_cache()


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise BackendUnavailableError(
            "the vllm engine needs vLLM on a CUDA machine: pip install 'router-svc[vllm]'",
            backend="vllm",
        ) from exc
    return vllm
