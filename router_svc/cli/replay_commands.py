"""`router-svc replay import`: recorded outcomes (wide or long tables) as a replay file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from router_svc.cli._common import friendly_errors
from router_svc.cli._summary import print_summary
from router_svc.replay.importing import Layout, ReplayMapping, import_replay

replay_app = typer.Typer(help="Replay files: import recorded outcomes.", no_args_is_help=True)


@replay_app.command("import")
@friendly_errors
def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="CSV, JSON, JSONL, Parquet (or, trusted, pickle) files.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The replay JSONL file to write.")],
    layout: Annotated[
        str, typer.Option(help="wide, long, or auto (long when a model column exists).")
    ] = "auto",
    question_field: Annotated[str | None, typer.Option(help="Question [prompt, question].")] = None,
    id_field: Annotated[
        str | None, typer.Option(help="Id [sample_id, id, question_id]; else generated.")
    ] = None,
    category_field: Annotated[
        str | None, typer.Option(help="Category [eval_name, category].")
    ] = None,
    gold_field: Annotated[
        str | None, typer.Option(help="Gold [gold_answer, gold, answer].")
    ] = None,
    split_field: Annotated[str | None, typer.Option(help="Split [split].")] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(help="Wide: a model score column (repeat); default: detected."),
    ] = None,
    response_suffix: Annotated[
        str, typer.Option(help="Wide: response columns.")
    ] = "|model_response",
    cost_suffix: Annotated[str, typer.Option(help="Wide: cost columns.")] = "|total_cost",
    model_column: Annotated[str, typer.Option(help="Long: model name column.")] = "model",
    score_column: Annotated[str, typer.Option(help="Long: score column (0..1).")] = "score",
    cost_column: Annotated[str, typer.Option(help="Long: cost column (dollars).")] = "cost",
    response_column: Annotated[str, typer.Option(help="Long: response column.")] = "response",
    id_prefix: Annotated[str, typer.Option(help="Prefix of generated ids.")] = "q",
    test_fraction: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Share of test rows in a seeded split.")
    ] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    skip_bad: Annotated[
        bool, typer.Option(help="Write the good rows and list the bad ones in OUT.skipped.jsonl.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace an existing OUT.")] = False,
    trust_pickle: Annotated[
        bool, typer.Option(help="Allow pickled pandas frames (a pickle can run code).")
    ] = False,
) -> None:
    """Write one replay file (docs/replay.md) from FILES, ready for `router-svc bench --replay`.

    The split comes from a split column, else from the file names when several are given
    (*_train / *_test), else from a seeded draw stratified by category."""
    mapping = ReplayMapping(
        layout=_layout(layout),
        question=question_field,
        id=id_field,
        category=category_field,
        gold=gold_field,
        split=split_field,
        models=tuple(model) if model else None,
        response_suffix=response_suffix,
        cost_suffix=cost_suffix,
        model_column=model_column,
        score_column=score_column,
        cost_column=cost_column,
        response_column=response_column,
        id_prefix=id_prefix,
        test_fraction=test_fraction,
        seed=seed,
    )
    summary = import_replay(
        files, out, mapping, skip_bad=skip_bad, force=force, trust_pickle=trust_pickle
    )
    print_summary(summary, f"replay {out}")


def _layout(text: str) -> Layout:
    if text not in ("auto", "wide", "long"):
        raise typer.BadParameter(f"{text!r}; use wide, long or auto", param_hint="--layout")
    return text  # type: ignore[return-value]  # checked just above
