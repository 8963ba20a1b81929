"""The built-in engines' options: what each accepts under an expert's ``options``.

Each engine class carries its model as ``Options`` (``config.registry.ENGINES.options``
reads it there); the models live here, in a module with no heavy import.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LlamaCppOptions(BaseModel):
    """Options of the llamacpp engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    n_threads: int | None = Field(
        None, ge=1, description="CPU threads; the process default if unset."
    )
    n_batch: int = Field(512, ge=1, description="Prompt tokens evaluated per batch.")
    n_gpu_layers: int = Field(0, description="Layers offloaded to a GPU build (-1: all).")
    reuse_prompt_cache: bool = Field(
        False,
        description="Reuse the previous prompt's KV cache: faster, but answers then depend on "
        "what ran before (not reproducible at temperature 0).",
    )


class LiteLLMOptions(BaseModel):
    """Options of the litellm engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_concurrency: int = Field(4, ge=1, description="Requests in flight at once.")
    retries: int = Field(2, ge=0, description="Retries after a timeout, 429 or 5xx.")
    backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles each time.")


class VLLMOptions(BaseModel):
    """Options of the vllm engine (passed to ``vllm.LLM``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs the model is split over.")
    gpu_memory_utilization: float = Field(
        0.85, gt=0, le=1, description="Share of GPU memory vLLM may take."
    )
    max_model_len: int | None = Field(
        None, ge=128, description="Context length; the model's if unset."
    )
    dtype: str = Field("auto", description="Weights dtype: auto, bfloat16, float16.")
    max_batch_size: int = Field(256, ge=1, description="Requests handed to vLLM per generate call.")


class ReplayOptions(BaseModel):
    """Options of the replay engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    file: str = Field(description="Path of the replay JSONL file (relative to the working dir).")
    expert: str | None = Field(
        None, description="The recorded expert to answer as; the expert's own name if unset."
    )
    load_delay_s: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="Seconds each load waits, standing in for a real model's load time (benches).",
    )
