"""`router-svc experts list | check` and `router-svc generate`."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from router_svc.backends.registry import create_engine
from router_svc.cli._common import (
    ConfigOption,
    console,
    engine_context,
    friendly_errors,
    pool_from,
    run_async,
)
from router_svc.config.pool import ExpertConfig
from router_svc.errors import RouterSvcError
from router_svc.types import GenerationRequest

experts_app = typer.Typer(help="Inspect and check the expert pool.", no_args_is_help=True)


@experts_app.command("list")
@friendly_errors
def list_experts(config: ConfigOption = None) -> None:
    """Print the pool as a table."""
    pool = pool_from(config)
    table = Table(title=f"Expert pool (k={pool.k})")
    for column in ("name", "engine", "model", "temp", "max tokens", "$/1k in+out", "tags"):
        table.add_column(column)
    for expert in pool.experts:
        table.add_row(*_row(expert))
    console.print(table)


def _row(expert: ExpertConfig) -> list[str]:
    name = expert.name if expert.routable else f"{expert.name} (not routed)"
    price = f"{expert.cost_per_1k_input:g}+{expert.cost_per_1k_output:g}"
    return [
        name,
        expert.engine,
        expert.model,
        f"{expert.temperature:g}",
        str(expert.max_tokens),
        price,
        ", ".join(expert.tags),
    ]


@experts_app.command("check")
@friendly_errors
def check_experts(config: ConfigOption = None) -> None:
    """Load every expert once, generate a few tokens, and report what fails."""
    pool = pool_from(config)
    failures = run_async(_check_all(pool.experts))
    if failures:
        raise typer.Exit(1)


async def _check_all(experts: list[ExpertConfig]) -> int:
    table = Table(title="Expert check")
    for column in ("name", "status", "load s", "tokens", "detail"):
        table.add_column(column)
    failures = 0
    for expert in experts:
        row = await _check_one(expert)
        failures += row[1] != "[green]ok[/]"
        table.add_row(*row)
    console.print(table)
    return failures


async def _check_one(expert: ExpertConfig) -> list[str]:
    engine = create_engine(expert, engine_context())
    started = time.perf_counter()
    try:
        await engine.load()
        load_s = time.perf_counter() - started
        (completion,) = await engine.generate([GenerationRequest.user("Say hello.", max_tokens=8)])
    except RouterSvcError as exc:
        return [expert.name, "[red]failed[/]", "-", "-", str(exc)]
    finally:
        await engine.unload()
    return [expert.name, "[green]ok[/]", f"{load_s:.2f}", str(completion.completion_tokens), ""]


@friendly_errors
def generate(
    prompt: Annotated[str, typer.Argument(help="The question or prompt.")],
    expert: Annotated[str, typer.Option("--expert", "-e", help="Expert name.")],
    config: ConfigOption = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Override the expert's max_tokens.")
    ] = None,
) -> None:
    """Print one answer from one expert, with token counts and timing."""
    pool = pool_from(config)
    engine = create_engine(pool.expert(expert), engine_context())

    async def answer() -> None:
        try:
            (completion,) = await engine.generate(
                [GenerationRequest.user(prompt, max_tokens=max_tokens)]
            )
        finally:
            await engine.unload()
        console.print(completion.text, highlight=False, markup=False)
        console.print(
            f"[dim]{expert}: {completion.prompt_tokens} prompt + "
            f"{completion.completion_tokens} completion tokens in {completion.seconds:.2f} s[/]"
        )

    run_async(answer())
