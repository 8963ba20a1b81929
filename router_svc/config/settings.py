"""Process settings: environment variables prefixed ``ROUTER_SVC_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the process listens, where state lives, and how it logs."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_SVC_", frozen=True, extra="forbid")

    config_path: Path = Field(Path("experts.yaml"), description="The expert pool file.")
    skills_dir: Path = Field(Path("skills"), description="Where profiles are read and written.")
    suites_dir: Path = Field(Path("eval/suites"), description="Where benchmark suites live.")
    data_dir: Path = Field(
        Path(".router-svc"),
        description="Local state: assembled model files, the SQLite store, run outputs.",
    )
    redis_url: str | None = Field(
        None, description="Redis URL for the cache and job queue; SQLite under data_dir if unset."
    )
    redis_prefix: str = Field("router-svc:v1", description="Namespace of every Redis key.")
    feedback_context_ttl_s: int = Field(
        7 * 24 * 3600,
        ge=1,
        description="How long an answered question is kept for POST /v1/feedback (seconds).",
    )
    feedback_max_contexts: int = Field(
        100_000, ge=1, description="Answered questions kept for feedback at most (oldest go)."
    )
    host: str = Field("127.0.0.1", description="Address the API server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the API server binds to.")
    log_level: str = Field("warning", description="Logging level: debug, info, warning, error.")
    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Accepted API keys (JSON list in the env var); empty means no auth.",
    )
    n_threads: int | None = Field(
        None, ge=1, description="CPU threads per llama.cpp model; all cores when unset."
    )
    serve_suites: list[str] = Field(
        default_factory=list,
        description="Suites the API serves (JSON list); the first is the default of model "
        "'router-svc'. Empty: every folder under skills_dir with a profile.json.",
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body the API accepts (413 beyond)."
    )
    max_messages: int = Field(
        64, ge=1, description="Most messages one chat completion request may carry."
    )
    max_k: int = Field(8, ge=1, description="Most experts one request may recruit (k).")
    max_tokens: int = Field(
        1_000_000,
        ge=1,
        description="Most tokens a request may ask one generation for (max_tokens; 400 beyond).",
    )
    microbatch_max_size: int = Field(
        8, ge=1, description="Most concurrent direct expert requests sent as one batch."
    )
    microbatch_max_wait_ms: float = Field(
        10.0, ge=0.0, description="How long a direct expert request waits for batch peers."
    )
    max_queue: int = Field(
        16, ge=1, description="Most API requests one expert holds, running or waiting (429 beyond)."
    )
    preload_experts: bool = Field(
        False,
        description="Load the default suite's experts before /readyz turns ready, so the first "
        "answers are as fast as later ones: the aggregator, then the routable experts by "
        "validation accuracy (the ones routing picks most), as many as memory_budget_mb holds.",
    )
    request_timeout_s: float = Field(
        300.0, gt=0, description="Deadline of one API request's generation (504 past it)."
    )

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "state.sqlite3"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"
