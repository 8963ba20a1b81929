"""The `router-svc` command line.

Each command's module is imported here; when one needs an extra that is not installed, the
command is still listed and running it says which extra to install (the core install has only
the SDK, so `router-svc --help` must work without the server's dependencies).
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from rich.markup import escape

from router_svc.cli._common import fail
from router_svc.config.extras import missing_extra

# (module, attribute, command name, whether the attribute is a sub-app of commands)
COMMANDS: tuple[tuple[str, str, str, bool], ...] = (
    ("router_svc.cli.experts", "experts_app", "experts", True),
    ("router_svc.cli.pipeline_commands", "skills_app", "skills", True),
    ("router_svc.cli.config_commands", "config_app", "config", True),
    ("router_svc.cli.suite_commands", "suite_app", "suite", True),
    ("router_svc.cli.replay_commands", "replay_app", "replay", True),
    ("router_svc.cli.feedback_commands", "feedback_app", "feedback", True),
    ("router_svc.cli.experts", "generate", "generate", False),
    ("router_svc.cli.pipeline_commands", "profile", "profile", False),
    ("router_svc.cli.pipeline_commands", "route", "route", False),
    ("router_svc.cli.pipeline_commands", "run", "run", False),
    ("router_svc.cli.demo", "demo", "demo", False),
    ("router_svc.cli.bench", "bench", "bench", False),
    ("router_svc.cli.serve", "serve", "serve", False),
    ("router_svc.cli.worker", "worker", "worker", False),
)

app = typer.Typer(
    help="router-svc: a training-free, skill-based router over a pool of expert LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _unavailable(error: ModuleNotFoundError) -> Any:
    """A command that only reports the missing extra and exits 1."""

    def command(ctx: typer.Context) -> None:
        fail(error)

    return command


def _register(module: str, attribute: str, name: str, is_group: bool) -> None:
    try:
        target = getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as exc:
        error = missing_extra(exc, f"router-svc {name}")
        if error is None:
            raise
        settings = {"allow_extra_args": True, "ignore_unknown_options": True}
        app.command(name, help=escape(str(error)), context_settings=settings)(_unavailable(error))
        return
    if is_group:
        app.add_typer(target, name=name)
    else:
        app.command(name)(target)


for _entry in COMMANDS:
    _register(*_entry)
