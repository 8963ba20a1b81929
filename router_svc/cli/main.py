"""The `router-svc` command line."""

from __future__ import annotations

import typer

from router_svc.cli.experts import experts_app, generate

app = typer.Typer(
    help="router-svc: a training-free, skill-based router over a pool of expert LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(experts_app, name="experts")
app.command("generate")(generate)
