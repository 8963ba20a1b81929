"""`router-svc suite import`: your own questions (JSON, JSONL, CSV, Parquet) as a suite."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from router_svc.cli._common import friendly_errors
from router_svc.cli._summary import print_summary
from router_svc.questions.importers.suite import SuiteMapping, import_suite

suite_app = typer.Typer(help="Benchmark suites: import your own questions.", no_args_is_help=True)


@suite_app.command("import")
@friendly_errors
def import_command(
    files: Annotated[list[Path], typer.Argument(help="JSON, JSONL, CSV or Parquet files.")],
    name: Annotated[str, typer.Option("--name", help="The suite's name (its folder).")],
    root: Annotated[Path, typer.Option(help="Suites folder; writes ROOT/NAME/.")] = Path(
        "eval/suites"
    ),
    question_field: Annotated[
        str | None, typer.Option(help="Question field [question, problem, prompt].")
    ] = None,
    answer_field: Annotated[
        str | None, typer.Option(help="Gold field [gold_answer, answer].")
    ] = None,
    category_field: Annotated[
        str | None, typer.Option(help="Category field [category, subject].")
    ] = None,
    id_field: Annotated[
        str | None, typer.Option(help="Id field [id, question_id]; else ids are generated.")
    ] = None,
    options_field: Annotated[
        str | None, typer.Option(help="Options list field [options, choices].")
    ] = None,
    split_field: Annotated[str | None, typer.Option(help="Split field [split].")] = None,
    answer_is_index: Annotated[
        bool, typer.Option(help="The answer is a 0-based index into the options.")
    ] = False,
    default_category: Annotated[
        str | None, typer.Option(help="Category of rows that have none.")
    ] = None,
    category_from_filename: Annotated[
        bool,
        typer.Option(
            help="With several files, rows with no category (and no --default-category) take "
            "their file's name less any split word: gpqa_train.json -> gpqa."
        ),
    ] = True,
    id_prefix: Annotated[
        str | None, typer.Option(help="Prefix of generated ids [the suite name].")
    ] = None,
    test_fraction: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Share of test rows in a seeded split.")
    ] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    skip_bad: Annotated[
        bool, typer.Option(help="Write the good rows and list the bad ones in skipped.jsonl.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace an existing suite of that name.")] = False,
    trust_pickle: Annotated[
        bool, typer.Option(help="Allow pickled pandas frames (a pickle can run code).")
    ] = False,
) -> None:
    """Write ROOT/NAME/validation.jsonl and test.jsonl from FILES.

    The split comes from a split field, else from the file names when several are given
    (*_train / *_test), else from a seeded draw stratified by category. With several files,
    a row with no category takes its file's name (gpqa_train.json -> gpqa); the summary says
    so, and --no-category-from-filename leaves such rows without one."""
    mapping = SuiteMapping(
        question=question_field,
        answer=answer_field,
        category=category_field,
        id=id_field,
        options=options_field,
        split=split_field,
        answer_is_index=answer_is_index,
        default_category=default_category,
        category_from_file=category_from_filename,
        id_prefix=id_prefix,
        test_fraction=test_fraction,
        seed=seed,
    )
    summary = import_suite(
        files, name, root, mapping, skip_bad=skip_bad, force=force, trust_pickle=trust_pickle
    )
    print_summary(summary, f"suite {name}")
