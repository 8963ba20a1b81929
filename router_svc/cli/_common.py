"""Helpers shared by the CLI commands: settings, the pool, errors shown without a traceback.

Settings and the pool loader are imported when called: they need the server extra, and this
module must import with the core install (the command line lists every command there).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import types
import typing
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from router_svc.config.extras import missing_extra
from router_svc.config.knobs import KNOBS, RoutingKnobs, knob_help
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
    typer.Option(
        "--config", "-c", help=escape("Expert pool file [default: ROUTER_SVC_CONFIG_PATH].")
    ),
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


KNOBS_PARAMETER = "knobs"


def with_knobs(command: Callable[..., R]) -> Callable[..., R]:
    """``command``'s parameter ``knobs: RoutingKnobs`` as one option per routing knob
    (``--k``, ``--tagger``, ``--cost-weight`` ...; the help is the knob's description). The
    command gets one ``RoutingKnobs``, checked: a bad value is a RoutingError naming the knob."""
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)
    kept = [
        parameter.replace(annotation=hints[parameter.name])
        for parameter in signature.parameters.values()
        if parameter.name != KNOBS_PARAMETER
    ]
    options = [_knob_option(name) for name in KNOBS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        given = {name: kwargs.pop(name) for name in KNOBS}
        set_ = {name: value for name, value in given.items() if value is not None}
        return command(*args, **kwargs, knobs=RoutingKnobs.of(set_, strict=False))

    parameters = kept + options
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


def _knob_option(name: str) -> inspect.Parameter:
    flag = "--" + name.replace("_", "-")
    option = typer.Option(flag, help=escape(knob_help(name)), show_default=False)
    annotation = Annotated[_option_type(name) | None, option]  # type: ignore[valid-type]
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
    )


def _option_type(name: str) -> type:
    """The knob's type as a command-line type: int or float when it is one, else text (read
    by the knob's own validation)."""
    annotation = RoutingKnobs.model_fields[name].annotation
    args = [a for a in typing.get_args(annotation) if a is not types.NoneType]
    return args[0] if args in ([int], [float]) else str
