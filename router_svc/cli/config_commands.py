"""`router-svc config schema`: the configuration reference from the pydantic models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from router_svc.cli._common import console, friendly_errors
from router_svc.config.schema_doc import reference

config_app = typer.Typer(help="Configuration reference.", no_args_is_help=True)


@config_app.command("schema")
@friendly_errors
def schema(
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print every setting and pool field with its type, default and description."""
    text = reference()
    if out is None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    else:
        out.write_text(text, encoding="utf-8")
