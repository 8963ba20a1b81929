"""The vllm engine needs CUDA and vLLM; on CPU machines its load says which extra to install."""

from __future__ import annotations

import importlib.util

import pytest

from router_svc.backends.vllm import VLLMEngine
from router_svc.config.pool import ExpertConfig
from router_svc.errors import BackendUnavailableError
from router_svc.types import GenerationRequest

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def expert(**options: object) -> ExpertConfig:
    return ExpertConfig(
        name="gpu", engine="vllm", model="Qwen/Qwen2.5-0.5B-Instruct", options=options
    )


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed: the GPU test below runs instead")
async def test_without_vllm_load_names_the_extra() -> None:
    with pytest.raises(BackendUnavailableError, match=r"router-svc\[vllm\]"):
        await VLLMEngine(expert()).load()


def test_options_are_validated() -> None:
    engine = VLLMEngine(expert(tensor_parallel_size=2, gpu_memory_utilization=0.5))
    assert engine.options.tensor_parallel_size == 2
    assert engine.max_batch_size == 256


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_VLLM, reason="vLLM installs only on CUDA machines")
async def test_generates_and_frees_gpu_memory() -> None:  # pragma: no cover - GPU only
    import torch

    engine = VLLMEngine(expert(gpu_memory_utilization=0.3, max_model_len=1024))
    (completion,) = await engine.generate([GenerationRequest.user("What is 2 + 2?")])
    assert completion.completion_tokens > 0
    await engine.unload()
    assert torch.cuda.memory_allocated() < 1 << 30
