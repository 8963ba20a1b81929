"""Helpers shared by the CLI commands: settings, the pool, errors shown without a traceback.

Settings and the pool loader are imported when called: they need the server extra, and this
module must import with the core install (the command line lists every command there).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from router_svc.config.extras import missing_extra
from router_svc.errors import RouterSvcError

if TYPE_CHECKING:
    from router_svc.backends.base import EngineContext
    from router_svc.config.pool import PoolConfig
    from router_svc.config.settings import Settings

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Expert pool file [default: ROUTER_SVC_CONFIG_PATH]."),
]


def settings() -> Settings:
    from router_svc.config.settings import Settings

    return Settings()


def pool_from(config: Path | None) -> PoolConfig:
    from router_svc.config.loader import load_pool

    return load_pool(config or settings().config_path)


def engine_context() -> EngineContext:
    from router_svc.backends.base import EngineContext

    current = settings()
    return EngineContext(model_cache_dir=current.model_cache_dir, n_threads=current.n_threads)


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Show RouterSvcError, or a missing extra, as a one-line message and exit 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            logging.basicConfig(
                level=settings().log_level.upper(), format="%(levelname)s %(message)s"
            )
            return command(*args, **kwargs)
        except RouterSvcError as exc:
            fail(exc)
        except ModuleNotFoundError as exc:
            error = missing_extra(exc, "this command")
            if error is None:
                raise
            fail(error)

    return wrapper


def fail(error: Exception) -> NoReturn:
    """Print ``error`` as one line on stderr and exit 1."""
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(1) from error


def run_async(coroutine: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coroutine)
