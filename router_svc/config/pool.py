"""The expert pool (``experts.yaml``): pydantic models, the one source of every default."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router_svc.config.registry import ENGINES, ROUTERS, TAGGERS
from router_svc.config.routers import DEFAULT_ROUTER, router_options
from router_svc.errors import UnknownComponentError, unknown_message

_MODEL = ConfigDict(frozen=True, extra="forbid")


class FewShot(BaseModel):
    """One worked example, rendered as a user turn and an assistant turn before the question."""

    model_config = _MODEL
    user: str = Field(description="The example question.")
    assistant: str = Field(description="The example answer.")


class ExpertConfig(BaseModel):
    """One expert: a model, a prompt and a sampling setup."""

    model_config = _MODEL

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", description="Unique name, used in requests."
    )
    engine: str = Field(
        description="Engine that runs it: llamacpp, litellm, vllm, replay, or one a plugin "
        "registers (entry-point group router_svc.engines)."
    )
    model: str = Field(
        description=(
            "llamacpp: a GGUF path (relative to the YAML file) or a packaged model "
            "(pkg:smollm2-135m-instruct, pkg:gemma3-270m); litellm: a LiteLLM model string; "
            "vllm: a model id or path."
        )
    )
    api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible server.")
    api_key_env: str | None = Field(
        None, description="Environment variable that holds the API key (litellm)."
    )
    system_prompt: str = Field("", description="System prompt put before every request.")
    few_shot: list[FewShot] = Field(
        default_factory=list, description="Worked examples put before the question."
    )
    chat_format: str | None = Field(
        None,
        description="llama.cpp chat format (e.g. chatml, gemma); the file's template if unset.",
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling threshold.")
    max_tokens: int = Field(256, ge=1, description="Maximum tokens generated per answer.")
    seed: int | None = Field(0, description="Sampling seed; None for a random one.")
    stop: list[str] = Field(default_factory=list, description="Stop sequences.")
    context_length: int = Field(2048, ge=128, description="Context window in tokens.")
    cost_per_1k_input: float = Field(0.0, ge=0.0, description="Dollars per 1,000 prompt tokens.")
    cost_per_1k_output: float = Field(
        0.0, ge=0.0, description="Dollars per 1,000 completion tokens."
    )
    tags: list[str] = Field(default_factory=list, description="Free-form labels.")
    routable: bool = Field(
        True, description="Whether the recruiter may pick it (false for tagger-only experts)."
    )
    timeout_s: float = Field(300.0, gt=0, description="Seconds before one generation times out.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Engine-specific options (see docs/backends.md)."
    )

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, engine: str) -> str:
        if engine not in ENGINES:
            raise ValueError(ENGINES.unknown(engine))
        return engine

    @model_validator(mode="after")
    def _valid_options(self) -> ExpertConfig:
        self.engine_options()
        return self

    def engine_options(self) -> BaseModel:
        """The validated options for this expert's engine (the engine class's ``Options``)."""
        return ENGINES.options(self.engine).model_validate(self.options)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Dollars for one call of this expert."""
        return (
            prompt_tokens * self.cost_per_1k_input + completion_tokens * self.cost_per_1k_output
        ) / 1000.0


class TaggerConfig(BaseModel):
    """How questions are tagged with skills."""

    model_config = _MODEL
    kind: str = Field(
        "embedding",
        description="Default tagger: llm, embedding, keyword, or one a plugin registers "
        "(entry-point group router_svc.taggers).",
    )
    expert: str | None = Field(None, description="Expert that writes skill keywords (llm tagger).")
    samples: int = Field(5, ge=1, le=20, description="Samples per question (llm tagger).")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature (llm).")
    min_votes: int = Field(2, ge=1, description="A keyword must appear in this many samples.")
    neighbours: int = Field(5, ge=1, description="Nearest validation questions (embedding tagger).")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in TAGGERS:
            raise ValueError(TAGGERS.unknown(kind))
        return kind


class RoutingConfig(BaseModel):
    """Which routing method recruits the experts, and each method's options."""

    model_config = _MODEL
    method: str = Field(
        DEFAULT_ROUTER,
        description="Default routing method: symbolic-moe, skill, skill-plus, knn-shrinkage, "
        "or one a plugin registers (entry-point group router_svc.routers); a request may name "
        "another (its `router` field).",
    )
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per method name, its options (see the tables below); unset ones keep "
        "their defaults.",
    )

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method not in ROUTERS:
            raise ValueError(ROUTERS.unknown(method, "routing method"))
        return method

    @field_validator("options")
    @classmethod
    def _valid_options(cls, options: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for method, values in options.items():
            if method not in ROUTERS:
                raise ValueError(ROUTERS.unknown(method, "routing method"))
            router_options(method, values)
        return options

    def method_options(self, method: str) -> BaseModel:
        """The validated options of ``method`` (UnknownComponentError for an unknown name)."""
        if method not in ROUTERS:
            raise UnknownComponentError("routing method", method, ROUTERS.names())
        return router_options(method, self.options.get(method))


class PoolConfig(BaseModel):
    """The whole pool file."""

    model_config = _MODEL

    k: int | Literal["auto"] = Field(
        "auto",
        description="Experts recruited per question: a number, or auto (the router's top "
        "expert alone, and a team of 3 only where the cross-fitted validation estimates say "
        "its gain exceeds the cost weight times its added cost).",
    )
    aggregator_candidates: list[str] = Field(
        default_factory=list, description="Experts the aggregation benchmark chooses among."
    )
    aggregator_max_tokens: int = Field(
        4096,
        ge=1,
        description="Tokens the aggregator may generate (its own limit, in place of its "
        "expert's max_tokens: a reasoning aggregator needs room to finish). A request's "
        "max_tokens replaces it.",
    )
    embedding_model: str = Field(
        "pkg:minilm-static",
        description=(
            "Embedder for skill matching, the embedding tagger and question vectors: "
            "pkg:minilm-static (a static model distilled from MiniLM, shipped with router-svc; "
            "no torch), a model2vec static model folder, a sentence-transformers model "
            "(pkg:all-minilm-l6-v2 with the 'minilm' extra, or a local folder), or 'hashing' "
            "for the model-free hashed-words embedder (deterministic, nothing loaded)."
        ),
    )
    memory_budget_mb: int = Field(
        2048, ge=64, description="Resident models are unloaded (LRU) beyond this many MB."
    )
    tagger: TaggerConfig = Field(default_factory=TaggerConfig, description="Skill tagging.")
    routing: RoutingConfig = Field(
        default_factory=RoutingConfig, description="The routing method and its options."
    )
    experts: list[ExpertConfig] = Field(min_length=1, description="The experts.")

    @field_validator("k")
    @classmethod
    def _valid_k(cls, k: int | str) -> int | str:
        if isinstance(k, int) and k < 1:
            raise ValueError(f"must be at least 1 or 'auto', got {k}")
        return k

    @field_validator("embedding_model")
    @classmethod
    def _valid_embedder(cls, model: str) -> str:
        if not model.strip():
            raise ValueError("must name a sentence-transformers model or 'hashing'")
        if model != "hashing" and model.lower().startswith("hash"):
            raise ValueError(f"unknown embedder {model!r}; the model-free one is 'hashing'")
        return model

    @model_validator(mode="after")
    def _consistent(self) -> PoolConfig:
        names = [expert.name for expert in self.experts]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate expert name(s): {', '.join(duplicates)}")
        for name in self.aggregator_candidates:
            if name not in names:
                raise ValueError("aggregator_candidates: " + unknown_message("expert", name, names))
        if self.tagger.expert is not None and self.tagger.expert not in names:
            raise ValueError(
                "tagger.expert: " + unknown_message("expert", self.tagger.expert, names)
            )
        return self

    def expert(self, name: str) -> ExpertConfig:
        """The expert called ``name``; UnknownComponentError if there is none."""
        for expert in self.experts:
            if expert.name == name:
                return expert
        raise UnknownComponentError("expert", name, self.names)

    @property
    def names(self) -> list[str]:
        return [expert.name for expert in self.experts]

    @property
    def routable(self) -> list[ExpertConfig]:
        """The experts the recruiter chooses among."""
        return [expert for expert in self.experts if expert.routable]
