"""Helpers shared by the CLI commands: settings, the pool, errors shown without a traceback."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from router_svc.backends.base import EngineContext
from router_svc.config.loader import load_pool
from router_svc.config.pool import PoolConfig
from router_svc.config.settings import Settings
from router_svc.errors import RouterSvcError

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Expert pool file [default: ROUTER_SVC_CONFIG_PATH]."),
]


def settings() -> Settings:
    return Settings()


def pool_from(config: Path | None) -> PoolConfig:
    return load_pool(config or settings().config_path)


def engine_context() -> EngineContext:
    current = settings()
    return EngineContext(model_cache_dir=current.model_cache_dir, n_threads=current.n_threads)


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Show RouterSvcError as a one-line message and exit 1, instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        logging.basicConfig(level=settings().log_level.upper(), format="%(levelname)s %(message)s")
        try:
            return command(*args, **kwargs)
        except RouterSvcError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from exc

    return wrapper


def run_async(coroutine: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coroutine)
